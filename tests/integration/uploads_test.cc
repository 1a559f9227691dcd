// Uploads against the real parleyd (PROTOCOL.md §6): the body streamed to
// storage, the limit checked while reading, the rules of serving (types,
// nosniff, Content-Disposition, Range, HEAD), who may read, signed urls and
// the collector. Requests are written by hand on a raw socket, so each test
// controls every header and how the body arrives (whole, in chunks, after
// `100 Continue`).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include <boost/json/parse.hpp>

#include "server_fixture.h"
#include "uploads/sha256.h"
#include "uploads/url_signer.h"

namespace parley::testing {
namespace {

namespace fs = std::filesystem;

const std::string kSecret(48, 'q');

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  json::object Json() const {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    return !ec && v.is_object() ? v.as_object() : json::object();
  }
};

// One HTTP/1.1 connection on a plain socket. Owned by the test thread.
class RawHttp {
 public:
  explicit RawHttp(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawHttp() { ::close(fd_); }
  RawHttp(const RawHttp&) = delete;
  RawHttp& operator=(const RawHttp&) = delete;

  bool connected() const { return connected_; }

  // Writes all of `data`; false when the peer is gone.
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one answer (a HEAD answer has no body whatever its length says).
  std::optional<RawResponse> Read(bool head = false) {
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    RawResponse r;
    std::string header = in_.substr(0, end);
    in_.erase(0, end + 4);
    size_t line_end = header.find("\r\n");
    std::string status_line = header.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? header.size() : line_end + 2;
    while (pos < header.size()) {
      size_t next = header.find("\r\n", pos);
      if (next == std::string::npos) next = header.size();
      std::string line = header.substr(pos, next - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        r.headers[name] = value;
      }
      pos = next + 2;
    }
    if (head || r.status == 100 || r.status == 204) return r;
    const size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (in_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = in_.substr(0, length);
    in_.erase(0, length);
    return r;
  }

 private:
  bool Fill() {
    char buf[64 * 1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string in_;
};

std::string Sha256Hex(const std::string& bytes) {
  uploads::Sha256 sha;
  sha.Update(bytes);
  return sha.HexDigest();
}

// Bytes that differ at every position.
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 13 + i / 509) & 0xff);
  return s;
}

class UploadsTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--auth.jwt_secret", kSecret, "--limits.max_upload_bytes", "1000000"};
  }

  std::string UploadHeader(const std::string& token, const std::string& query, const std::string& type,
                           std::optional<size_t> length, const std::string& extra = "") {
    std::string h = "POST /v1/uploads" + query + " HTTP/1.1\r\nHost: t\r\n";
    if (!token.empty()) h += "Authorization: Bearer " + token + "\r\n";
    if (!type.empty()) h += "Content-Type: " + type + "\r\n";
    h += length ? "Content-Length: " + std::to_string(*length) + "\r\n" : "Transfer-Encoding: chunked\r\n";
    return h + extra + "\r\n";
  }

  // POST /v1/uploads with the whole body and a Content-Length.
  RawResponse Upload(const std::string& token, const std::string& bytes,
                     const std::string& query = "?name=f.png", const std::string& type = "image/png") {
    RawHttp c(server().port());
    EXPECT_TRUE(c.connected());
    c.Send(UploadHeader(token, query, type, bytes.size()) + bytes);
    return c.Read().value_or(RawResponse{});
  }

  RawResponse Fetch(const std::string& target, const std::string& token, const std::string& extra = "",
                    const std::string& method = "GET") {
    RawHttp c(server().port());
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: t\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    c.Send(req + extra + "\r\n");
    return c.Read(method == "HEAD").value_or(RawResponse{});
  }

  // The blob files in the data directory (not counting unfinished ones).
  size_t BlobFiles() {
    size_t n = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(fs::path(server().data_dir()) / "uploads", ec), end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && it->path().parent_path().filename() != "tmp") ++n;
    }
    return n;
  }
  size_t UnfinishedFiles() {
    std::error_code ec;
    size_t n = 0;
    for (fs::directory_iterator it(fs::path(server().data_dir()) / "uploads" / "tmp", ec), end;
         !ec && it != end; it.increment(ec)) {
      ++n;
    }
    return n;
  }
};

TEST_F(UploadsTest, UploadIsStoredAndServedWithItsType) {
  Session alice = NewUser("alice");
  const std::string bytes = Pattern(300 * 1024 + 17);  // more than one piece of the stream
  RawResponse r = Upload(alice.access_token, bytes, "?name=cat.png", "image/png");
  ASSERT_EQ(r.status, 201) << r.body;
  json::object up = r.Json()["upload"].as_object();
  EXPECT_EQ(GetString(up, "name"), "cat.png");
  EXPECT_EQ(GetString(up, "content_type"), "image/png");
  EXPECT_EQ(GetInt(up, "size"), static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(GetString(up, "sha256"), Sha256Hex(bytes));
  const std::string id = GetString(up, "id");
  ASSERT_FALSE(id.empty());

  RawResponse got = Fetch("/v1/uploads/" + id, alice.access_token);
  ASSERT_EQ(got.status, 200);
  EXPECT_TRUE(got.body == bytes);
  EXPECT_EQ(got.Header("content-type"), "image/png");
  EXPECT_EQ(got.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(got.Header("content-disposition"), "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png");
  EXPECT_EQ(got.Header("content-length"), std::to_string(bytes.size()));
  EXPECT_EQ(BlobFiles(), 1u);
}

TEST_F(UploadsTest, HeadAndRanges) {
  Session alice = NewUser("alice");
  const std::string bytes = Pattern(1000);
  RawResponse r = Upload(alice.access_token, bytes);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string target = "/v1/uploads/" + GetString(r.Json()["upload"].as_object(), "id");

  RawResponse head = Fetch(target, alice.access_token, "", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), "1000");
  EXPECT_EQ(head.Header("accept-ranges"), "bytes");
  EXPECT_EQ(head.Header("x-content-type-options"), "nosniff");

  RawResponse part = Fetch(target, alice.access_token, "Range: bytes=10-19\r\n");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, bytes.substr(10, 10));
  EXPECT_EQ(part.Header("content-range"), "bytes 10-19/1000");
  RawResponse tail = Fetch(target, alice.access_token, "Range: bytes=-5\r\n");
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, bytes.substr(995));
  RawResponse past = Fetch(target, alice.access_token, "Range: bytes=1000-\r\n");
  EXPECT_EQ(past.status, 416);
  EXPECT_EQ(past.Header("content-range"), "bytes */1000");
  EXPECT_EQ(past.Header("x-content-type-options"), "nosniff");
}

TEST_F(UploadsTest, HtmlAndSvgAreServedAsDownloads) {
  Session alice = NewUser("alice");
  for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
           {"page.html", "text/html"}, {"logo.svg", "image/svg+xml"}, {"x.js", "text/javascript"}}) {
    RawResponse r = Upload(alice.access_token, "<script>alert(1)</script>", "?name=" + name, type);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(GetString(r.Json()["upload"].as_object(), "content_type"), type);
    RawResponse got =
        Fetch("/v1/uploads/" + GetString(r.Json()["upload"].as_object(), "id"), alice.access_token);
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(got.Header("content-type"), "application/octet-stream") << name;
    EXPECT_EQ(got.Header("content-disposition").rfind("attachment;", 0), 0u)
        << got.Header("content-disposition");
    EXPECT_EQ(got.Header("x-content-type-options"), "nosniff");
  }
}

TEST_F(UploadsTest, NamesWithSeparatorsAndControlsAreKeptButServedSafely) {
  Session alice = NewUser("alice");
  RawResponse r = Upload(alice.access_token, "hello",
                         "?name=..%2F..%2Fetc%2Fpasswd%0D%0ASet-Cookie%3A%20x%3D1", "text/plain");
  ASSERT_EQ(r.status, 201) << r.body;
  json::object up = r.Json()["upload"].as_object();
  EXPECT_EQ(GetString(up, "name"), "../../etc/passwd\r\nSet-Cookie: x=1");
  RawResponse got = Fetch("/v1/uploads/" + GetString(up, "id"), alice.access_token);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.Header("set-cookie"), "");
  const std::string disposition = got.Header("content-disposition");
  EXPECT_EQ(disposition.find('/'), std::string::npos) << disposition;
  EXPECT_EQ(disposition.rfind("attachment;", 0), 0u) << disposition;
}

TEST_F(UploadsTest, BadRequestsAreRefusedAndKeepNothing) {
  Session alice = NewUser("alice");
  EXPECT_EQ(Upload("", "bytes").status, 401);
  EXPECT_EQ(Upload("not-a-token", "bytes").status, 401);
  RawResponse no_name = Upload(alice.access_token, "bytes", "");
  EXPECT_EQ(no_name.status, 400) << no_name.body;
  EXPECT_EQ(Upload(alice.access_token, "bytes", "?name=").status, 400);
  EXPECT_EQ(Upload(alice.access_token, "bytes", "?name=%FF").status, 400);
  RawResponse empty = Upload(alice.access_token, "");
  EXPECT_EQ(empty.status, 400) << empty.body;
  EXPECT_EQ(GetString(empty.Json()["error"].as_object(), "code"), "bad_request");
  // No body at all (no length, no chunks).
  RawHttp c(server().port());
  c.Send("POST /v1/uploads?name=a HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + alice.access_token +
         "\r\n\r\n");
  EXPECT_EQ(c.Read().value_or(RawResponse{}).status, 400);
  EXPECT_EQ(BlobFiles(), 0u);
  EXPECT_EQ(UnfinishedFiles(), 0u);
}

TEST_F(UploadsTest, OverTheLimitIsRefusedAndNothingIsKept) {
  Session alice = NewUser("alice");
  // Declared too big: refused before a byte of the body is read.
  RawHttp declared(server().port());
  declared.Send(UploadHeader(alice.access_token, "?name=big", "", 1'000'001));
  RawResponse r = declared.Read().value_or(RawResponse{});
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(GetString(r.Json()["error"].as_object(), "code"), "too_large");

  // Chunked, so only the bytes tell: refused once they pass the limit.
  RawHttp chunked(server().port());
  chunked.Send(UploadHeader(alice.access_token, "?name=big", "", std::nullopt));
  const std::string piece = Pattern(64 * 1024);
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
  for (int i = 0; i < 20; ++i) {
    if (!chunked.Send(size_line + piece + "\r\n")) break;  // the server may stop reading
  }
  RawResponse refused = chunked.Read().value_or(RawResponse{});
  EXPECT_EQ(refused.status, 413);
  EXPECT_EQ(GetString(refused.Json()["error"].as_object(), "code"), "too_large");
  // Exactly the limit, chunked, is fine.
  RawHttp fits(server().port());
  const std::string bytes = Pattern(1'000'000);
  std::string body;
  for (size_t i = 0; i < bytes.size(); i += 300'000) {
    std::string part = bytes.substr(i, 300'000);
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", part.size());
    body += size_line + part + "\r\n";
  }
  fits.Send(UploadHeader(alice.access_token, "?name=fits", "", std::nullopt) + body + "0\r\n\r\n");
  RawResponse ok = fits.Read().value_or(RawResponse{});
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(GetString(ok.Json()["upload"].as_object(), "sha256"), Sha256Hex(bytes));
  EXPECT_EQ(BlobFiles(), 1u);  // only the one that fit
  EXPECT_EQ(UnfinishedFiles(), 0u);
}

TEST_F(UploadsTest, ExpectContinueAndKeepAlive) {
  Session alice = NewUser("alice");
  RawHttp c(server().port());
  c.Send(UploadHeader(alice.access_token, "?name=a.txt", "text/plain", 5, "Expect: 100-continue\r\n"));
  RawResponse go_on = c.Read().value_or(RawResponse{});
  EXPECT_EQ(go_on.status, 100);
  c.Send("hello");
  RawResponse r = c.Read().value_or(RawResponse{});
  ASSERT_EQ(r.status, 201) << r.body;
  // The same connection serves the next request.
  c.Send("GET /v1/uploads/" + GetString(r.Json()["upload"].as_object(), "id") +
         " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + alice.access_token + "\r\n\r\n");
  RawResponse got = c.Read().value_or(RawResponse{});
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "hello");
}

TEST_F(UploadsTest, OnlyTheUploaderReadsAnUploadNothingAttaches) {
  Session alice = NewUser("alice");
  Session bob = NewUser("bob");
  RawResponse r = Upload(alice.access_token, "private");
  ASSERT_EQ(r.status, 201);
  const std::string target = "/v1/uploads/" + GetString(r.Json()["upload"].as_object(), "id");
  EXPECT_EQ(Fetch(target, alice.access_token).status, 200);
  RawResponse other = Fetch(target, bob.access_token);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(Fetch(target, "").status, 401);
  EXPECT_EQ(Fetch("/v1/uploads/123456789", alice.access_token).status, 404);
  EXPECT_EQ(Fetch("/v1/uploads/not-an-id", alice.access_token).status, 404);
}

TEST_F(UploadsTest, SignedUrlNeedsNoHeaderAndRefusesTamperingAndExpiry) {
  Session alice = NewUser("alice");
  RawResponse r = Upload(alice.access_token, "for an img tag");
  ASSERT_EQ(r.status, 201);
  const UploadId id = *UploadId::Parse(GetString(r.Json()["upload"].as_object(), "id"));
  // The server's own signer (the test knows its secret).
  uploads::UrlSigner signer(kSecret);
  const TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const std::string url = signer.Url(id, uploads::UrlSigner::ExpiryFor(now));
  RawResponse got = Fetch(url, "");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, "for an img tag");
  std::string tampered = url;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(Fetch(tampered, "").status, 403);
  // Another upload's id under this url's signature.
  EXPECT_EQ(Fetch("/v1/uploads/" + std::to_string(id.value ^ 1) + url.substr(url.find('?')), "").status, 403);
  EXPECT_EQ(Fetch(signer.Url(id, now - 1000), "").status, 403);
  EXPECT_EQ(
      Fetch(uploads::UrlSigner(std::string(48, 'z')).Url(id, uploads::UrlSigner::ExpiryFor(now)), "").status,
      403);
}

// `send` with `attachments` (PROTOCOL.md §6): served on the entry in
// history, resume and live events with a signed url; the members may read
// the upload; a delete takes it out of every answer and away from everyone
// but its uploader.
TEST_F(UploadsTest, AttachmentsRideOnTextEntriesUntilDeleted) {
  Session alice = NewUser("alice");
  Session bob = NewUser("bob");
  Session carol = NewUser("carol");
  const std::string conv = CreateGroup(alice, "files", {bob.user.username});
  ASSERT_FALSE(conv.empty());
  RawResponse up = Upload(alice.access_token, "\x89PNG picture bytes", "?name=cat.png", "image/png");
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string id = GetString(up.Json()["upload"].as_object(), "id");

  auto bob_ws = Open(bob);
  ASSERT_NE(bob_ws, nullptr);
  auto ws = Open(alice);
  ASSERT_NE(ws, nullptr);
  auto sent = ws->Request({{"type", "send"},
                           {"conv", conv},
                           {"client_msg_id", "att-1"},
                           {"body", ""},
                           {"attachments", json::array{id}}});
  ASSERT_TRUE(sent && FieldIs(*sent, "type", "sent")) << Dump(sent);
  const int64_t seq = GetInt(*sent, "seq").value_or(0);

  // The live event carries it, with a url.
  auto event = bob_ws->WaitFor(IsEvent("message", conv), 5s);
  ASSERT_TRUE(event) << Dump(event);
  const json::array& live = (*event)["attachments"].as_array();
  ASSERT_EQ(live.size(), 1u) << Dump(event);
  EXPECT_EQ(GetString(live[0], "id"), id);
  EXPECT_EQ(GetString(live[0], "name"), "cat.png");
  EXPECT_EQ(GetString(live[0], "content_type"), "image/png");
  const std::string url = GetString(live[0], "url");
  EXPECT_EQ(url.rfind("/v1/uploads/" + id + "?", 0), 0u) << url;

  // History too; the url works without any header; a member reads it with a token.
  json::array history = History(bob, conv);
  ASSERT_FALSE(history.empty());
  const json::object& entry = history.back().as_object();
  ASSERT_EQ(GetInt(entry, "seq"), seq);
  EXPECT_EQ(GetString(entry.at("attachments").as_array()[0], "id"), id);
  RawResponse by_url = Fetch(url, "");
  EXPECT_EQ(by_url.status, 200);
  EXPECT_EQ(by_url.body, "\x89PNG picture bytes");
  EXPECT_EQ(Fetch("/v1/uploads/" + id, bob.access_token).status, 200);
  EXPECT_EQ(Fetch("/v1/uploads/" + id, carol.access_token).status, 404);  // not a member

  // The sender's export lists the message's attachments with their names and urls.
  client::Response exported = Get("/v1/me/export", alice.access_token);
  ASSERT_EQ(exported.status, 200) << exported.Describe();
  bool listed = false;
  for (const json::value& m : exported.Object().at("messages").as_array()) {
    if (GetInt(m, "seq") != seq || GetString(m, "conv") != conv) continue;
    const json::array& files = m.as_object().at("attachments").as_array();
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(GetString(files[0], "name"), "cat.png");
    EXPECT_EQ(GetString(files[0], "url").rfind("/v1/uploads/" + id + "?", 0), 0u);
    listed = true;
  }
  EXPECT_TRUE(listed);

  // Deleted: out of every answer, gone for all but the uploader.
  auto del = ws->Request({{"type", "delete"}, {"conv", conv}, {"seq", seq}, {"client_msg_id", "att-del"}});
  ASSERT_TRUE(del && FieldIs(*del, "type", "sent")) << Dump(del);
  history = History(bob, conv);
  for (const json::value& m : history) {
    if (GetInt(m, "seq") == seq) {
      EXPECT_TRUE(m.as_object().at("attachments").as_array().empty()) << Dump(m);
    }
  }
  EXPECT_EQ(Fetch(url, "").status, 404);
  EXPECT_EQ(Fetch("/v1/uploads/" + id, bob.access_token).status, 404);
  EXPECT_EQ(Fetch("/v1/uploads/" + id, alice.access_token).status, 200);
}

TEST_F(UploadsTest, BadAttachmentsAreRefused) {
  Session alice = NewUser("alice");
  Session bob = NewUser("bob");
  const std::string conv = CreateGroup(alice, "files", {bob.user.username});
  ASSERT_FALSE(conv.empty());
  RawResponse bobs = Upload(bob.access_token, "bob's bytes");
  ASSERT_EQ(bobs.status, 201);
  RawResponse mine = Upload(alice.access_token, "alice's bytes");
  ASSERT_EQ(mine.status, 201);
  const std::string my_id = GetString(mine.Json()["upload"].as_object(), "id");
  auto ws = Open(alice);
  ASSERT_NE(ws, nullptr);
  auto send = [&](json::array attachments, const std::string& cmid, json::value body = "") {
    json::object frame{
        {"type", "send"}, {"conv", conv}, {"client_msg_id", cmid}, {"attachments", attachments}};
    if (!body.is_null()) frame["body"] = body;
    return ws->Request(frame);
  };
  EXPECT_TRUE(IsWsError(send({GetString(bobs.Json()["upload"].as_object(), "id")}, "b1"), "forbidden"));
  EXPECT_TRUE(IsWsError(send({"123456789"}, "b2"), "not_found"));
  json::array eleven;
  for (int i = 0; i < 11; ++i) eleven.push_back(json::value(std::to_string(1000 + i)));
  EXPECT_TRUE(IsWsError(send(eleven, "b3"), "bad_request"));
  EXPECT_TRUE(IsWsError(send({"not-an-id"}, "b4"), "bad_request"));
  EXPECT_TRUE(IsWsError(send({my_id, my_id}, "b5"), "bad_request"));
  // Without attachments the body must not be empty; with them it may be left out.
  EXPECT_TRUE(IsWsError(send({}, "b6"), "bad_request"));
  auto ok = send({my_id}, "b7", nullptr);
  EXPECT_TRUE(ok && FieldIs(*ok, "type", "sent")) << Dump(ok);
}

class UploadsCollectTest : public UploadsTest {
 protected:
  std::vector<std::string> ExtraFlags() const override { return {"--uploads.collect_after_s", "1"}; }
};

TEST_F(UploadsCollectTest, UnattachedUploadsAreCollected) {
  Session alice = NewUser("alice");
  RawResponse r = Upload(alice.access_token, "short-lived");
  ASSERT_EQ(r.status, 201);
  const std::string target = "/v1/uploads/" + GetString(r.Json()["upload"].as_object(), "id");
  EXPECT_EQ(BlobFiles(), 1u);
  // Collected a second after its upload, by a sweep at least every second.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 200;
  while (status != 404 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    status = Fetch(target, alice.access_token).status;
  }
  EXPECT_EQ(status, 404);
  EXPECT_EQ(BlobFiles(), 0u);
}

// Throughput and memory of a 25 MiB upload (the default limit), streamed
// in 64 KiB writes: the server's resident memory must not grow by anything
// near the upload's size. The figures are printed for the record.
class UploadsThroughputTest : public ServerTest {};

TEST_F(UploadsThroughputTest, A25MiBUploadCostsABoundedBuffer) {
  Session alice = NewUser("alice");
  const size_t size = 25 * 1024 * 1024;
  const std::string bytes = Pattern(size);
  const int64_t rss_before = ReadProcStats(server().pid()).rss_kb;
  std::atomic<bool> done{false};
  std::atomic<int64_t> peak{rss_before};
  std::thread sampler([&] {
    while (!done.load()) {
      int64_t rss = ReadProcStats(server().pid()).rss_kb;
      if (rss > peak.load()) peak = rss;
      std::this_thread::sleep_for(5ms);
    }
  });
  RawHttp c(server().port());
  const auto start = std::chrono::steady_clock::now();
  std::string header = "POST /v1/uploads?name=big.bin HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                       alice.access_token + "\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
  c.Send(header);
  for (size_t i = 0; i < size; i += 64 * 1024) c.Send(std::string_view(bytes).substr(i, 64 * 1024));
  RawResponse r = c.Read().value_or(RawResponse{});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  sampler.join();
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(GetString(r.Json()["upload"].as_object(), "sha256"), Sha256Hex(bytes));
  const double mb_s = static_cast<double>(size) / (1024 * 1024) / seconds;
  std::printf(
      "[ uploads ] 25 MiB in %.3f s: %.1f MiB/s; server RSS %lld KiB before, peak %lld KiB (+%lld KiB)\n",
      seconds, mb_s, static_cast<long long>(rss_before), static_cast<long long>(peak.load()),
      static_cast<long long>(peak.load() - rss_before));
  EXPECT_LT(peak.load() - rss_before, 12 * 1024) << "the upload was held in memory";
}

}  // namespace
}  // namespace parley::testing
