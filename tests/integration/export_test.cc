// GET /v1/me/export (issue 16): the user's account, conversations (titles,
// members' usernames), the messages they sent (folded) and read markers, as
// one JSON document streamed in chunks; one running export per user (a
// second one is 429); nothing of another user's beyond names and titles of
// what they share.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

class ExportTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000"};
  }

  // `n` messages from `s` into `conv`, in batches, every one acknowledged.
  void SendBatches(WsClient& ws, const std::string& conv, int n, const std::string& prefix,
                   const std::string& body = "") {
    for (int done = 0; done < n;) {
      const int batch = std::min(500, n - done);
      auto answers = SendMany(ws, conv, batch, prefix + "-" + std::to_string(done), 60s, body);
      for (const auto& a : answers) ASSERT_TRUE(FieldIs(a, "type", "sent")) << Dump(a);
      done += batch;
    }
  }

  client::Response Export(const Session& s) {
    client::HttpClient h(server().host(), server().port(), 120s);
    return h.Get("/v1/me/export", s.access_token);
  }
};

const json::object* FindConv(const json::array& convs, const std::string& id) {
  for (const auto& c : convs) {
    if (c.is_object() && GetString(c, "id") == id) return &c.as_object();
  }
  return nullptr;
}

TEST_F(ExportTest, EveryOwnMessageInOrderAsValidJsonAndNothingOfOthers) {
  Session me = NewUser("ex"), peer = NewUser("ep"), third = NewUser("et");
  const std::string group = CreateGroup(me, "export club", {peer.username});
  const std::string dm = Dm(me, peer.username);
  // What `me` must never see: a group they are not in, and its messages.
  const std::string secret_title = "peer-and-third-secret-" + std::to_string(getpid());
  const std::string hidden = CreateGroup(peer, secret_title, {third.username});
  ASSERT_FALSE(group.empty() || dm.empty() || hidden.empty());
  auto ws = Open(me);
  auto peer_ws = Open(peer);
  ASSERT_TRUE(ws && peer_ws);

  constexpr int kMine = 1234;  // over two pages of the store (500)
  SendBatches(*ws, group, kMine, "mine");
  SendBatches(*peer_ws, group, 5, "peer-body-in-group");
  SendBatches(*peer_ws, hidden, 5, "peer-body-hidden");
  SendBatches(*ws, dm, 3, "mine-dm");
  // A change is folded into the message it changes.
  auto edit = ws->Request({{"type", "edit"},
                           {"conv", group},
                           {"seq", 1},
                           {"client_msg_id", "ex-edit"},
                           {"body", "edited first"}});
  ASSERT_TRUE(edit && FieldIs(*edit, "type", "sent")) << Dump(edit);
  // The peer's DM message, read by me: a read marker, but not my message.
  SendBatches(*peer_ws, dm, 1, "peer-body-in-dm");
  auto read = ws->Request({{"type", "read"}, {"conv", dm}, {"seq", 4}});
  ASSERT_TRUE(read && FieldIs(*read, "type", "ok")) << Dump(read);

  auto r = Export(me);
  ASSERT_EQ(r.status, 200) << r.Describe().substr(0, 300);
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked") << "streamed, not buffered";
  EXPECT_NE(r.Header("content-type").find("application/json"), std::string::npos);
  ASSERT_TRUE(r.json.is_object()) << "not one JSON document: " << r.body.substr(0, 200) << " ... "
                                  << r.body.substr(r.body.size() > 200 ? r.body.size() - 200 : 0);
  const json::object& doc = r.json.as_object();
  EXPECT_EQ(GetString(doc, "format"), "parley-export");
  EXPECT_EQ(GetString(doc.at("account"), "id"), me.user_id);
  EXPECT_EQ(GetString(doc.at("account"), "username"), me.username);

  const json::array& convs = doc.at("conversations").as_array();
  EXPECT_EQ(convs.size(), 2u);
  const json::object* g = FindConv(convs, group);
  ASSERT_TRUE(g);
  EXPECT_EQ(GetString(*g, "title"), "export club");
  std::set<std::string> names;
  for (const auto& m : g->at("members").as_array()) names.insert(std::string(m.as_string()));
  EXPECT_EQ(names, (std::set<std::string>{me.username, peer.username}));
  const json::object* d = FindConv(convs, dm);
  ASSERT_TRUE(d);
  EXPECT_EQ(GetString(*d, "kind"), "dm");
  EXPECT_TRUE(d->at("title").is_null());

  // Mine only: every message, once, ascending per conversation, folded.
  const json::array& msgs = doc.at("messages").as_array();
  std::map<std::string, std::vector<int64_t>> seqs;
  for (const auto& m : msgs) {
    EXPECT_EQ(GetString(m, "sender"), me.user_id) << Dump(m);
    EXPECT_EQ(GetString(m, "kind"), "text") << Dump(m);
    seqs[GetString(m, "conv")].push_back(GetInt(m, "seq").value_or(-1));
  }
  EXPECT_EQ(msgs.size(), static_cast<size_t>(kMine + 3));
  ASSERT_EQ(seqs[group].size(), static_cast<size_t>(kMine));
  for (size_t i = 0; i < seqs[group].size(); ++i) ASSERT_EQ(seqs[group][i], static_cast<int64_t>(i + 1));
  EXPECT_EQ(seqs[dm], (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(seqs.count(hidden), 0u);
  const json::object* first = nullptr;
  for (const auto& m : msgs) {
    if (GetString(m, "conv") == group && GetInt(m, "seq") == 1) first = &m.as_object();
  }
  ASSERT_TRUE(first);
  EXPECT_EQ(GetString(*first, "body"), "edited first");
  EXPECT_FALSE(first->at("edited_ts").is_null());

  // Read markers: the DM's where I read it.
  bool dm_marker = false;
  for (const auto& m : doc.at("read_markers").as_array()) {
    if (GetString(m, "conv") == dm) dm_marker = GetInt(m, "read_seq") == 4;
  }
  EXPECT_TRUE(dm_marker) << Dump(doc.at("read_markers"));

  // Nothing of another user's: not their messages, not a group I am not in.
  for (const char* leak : {"peer-body", "peer-and-third-secret"}) {
    EXPECT_EQ(r.body.find(leak), std::string::npos) << leak;
  }
  EXPECT_EQ(r.body.find(third.username), std::string::npos);
  EXPECT_EQ(r.body.find(peer.access_token), std::string::npos);
  EXPECT_EQ(r.body.find(me.refresh_token), std::string::npos);

  // The peer's export holds the peer's messages, none of mine.
  auto theirs = Export(peer);
  ASSERT_EQ(theirs.status, 200) << theirs.Describe().substr(0, 300);
  EXPECT_EQ(theirs.Object().at("messages").as_array().size(), 11u);
  EXPECT_EQ(theirs.body.find("mine-"), std::string::npos);
}

// A connection that asks for the export and then reads only a little of
// it, so that the server's export stays running (blocked on the socket).
class StalledReader {
 public:
  StalledReader(const std::string& host, uint16_t port, const std::string& token) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;  // keep the kernel from soaking up the document
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    const std::string req =
        "GET /v1/me/export HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token + "\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return;
    char buf[2048];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) head_.assign(buf, static_cast<size_t>(n));
  }
  ~StalledReader() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  const std::string& head() const { return head_; }

 private:
  int fd_ = -1;
  std::string head_;
};

TEST_F(ExportTest, ASecondConcurrentExportIsRateLimited) {
  Session me = NewUser("ec"), other = NewUser("eo");
  const std::string group = CreateGroup(me, "big export", {});
  ASSERT_FALSE(group.empty());
  auto ws = Open(me);
  ASSERT_TRUE(ws);
  // About 8 MB of document: far more than the socket buffers hold.
  SendBatches(*ws, group, 2000, "big", std::string(4000, 'x'));

  StalledReader first(server().host(), server().port(), me.access_token);
  ASSERT_EQ(first.head().rfind("HTTP/1.1 200", 0), 0u) << first.head().substr(0, 200);
  std::this_thread::sleep_for(300ms);
  auto second = Export(me);
  EXPECT_TRUE(IsHttpError(second, 429, "rate_limited")) << second.Describe().substr(0, 300);
  EXPECT_FALSE(second.Header("retry-after").empty());
  // Another user's export is not held up by it.
  auto others = Export(other);
  EXPECT_EQ(others.status, 200) << others.Describe().substr(0, 300);
  EXPECT_TRUE(others.json.is_object());

  // The stalled client goes away: its export ends, and the next one runs.
  first.Close();
  client::Response again;
  for (int i = 0; i < 100; ++i) {
    again = Export(me);
    if (again.status != 429) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(again.status, 200) << again.Describe().substr(0, 300);
  ASSERT_TRUE(again.json.is_object());
  EXPECT_EQ(again.Object().at("messages").as_array().size(), 2000u);
}

}  // namespace
}  // namespace parley::testing
