// OutboundPost: the POST the server makes to URLs users give it (webhooks,
// push endpoints), against a real receiver on loopback: what it refuses,
// what it sends, and that a receiver that hangs, redirects or answers with a
// huge body costs only the deadline and a bounded buffer.
#include "client/outbound.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"
#include "test_certs.h"

namespace parley::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using client::OutboundAnswer;
using client::OutboundOptions;
using client::OutboundPost;
using client::OutboundRequest;

// A plain HTTP receiver on 127.0.0.1: each connection's request is kept and
// answered by `respond`, which may also hang (sleep) before answering.
class Receiver {
 public:
  using Respond = std::function<void(const http::request<http::string_body>&, tcp::socket&)>;

  explicit Receiver(Respond respond) : respond_(std::move(respond)), acceptor_(ioc_, {tcp::v4(), 0}) {
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    thread_ = std::thread([this] { Serve(); });
  }
  ~Receiver() {
    // A blocking accept is not woken by closing the acceptor from another
    // thread, so wake it with a connection it will see after `stop_`.
    stop_ = true;
    beast::error_code ignored;
    asio::io_context waker;
    tcp::socket poke(waker);
    poke.connect({asio::ip::make_address("127.0.0.1"), port()}, ignored);
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string Url(const std::string& path = "/hook?x=1") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  std::vector<http::request<http::string_body>> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static void Answer(tcp::socket& socket, http::status status, std::string body,
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::response<http::string_body> res{status, 11};
    for (const auto& [name, value] : headers) res.set(name, value);
    res.body() = std::move(body);
    res.prepare_payload();
    beast::error_code ignored;
    http::write(socket, res, ignored);
  }

 private:
  void Serve() {
    while (!stop_) {
      beast::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) continue;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      respond_(req, socket);
    }
  }

  Respond respond_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<http::request<http::string_body>> requests_;
  std::thread thread_;
};

OutboundRequest Json(std::string url, std::string body = "{}") {
  OutboundRequest request;
  request.url = std::move(url);
  request.body = std::move(body);
  return request;
}

OutboundOptions Allowing(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  OutboundOptions options;
  options.allow_private_addresses = true;
  options.timeout = timeout;
  return options;
}

TEST(OutboundUrlTest, AcceptsHttpAndHttpsOnlyWithAHostAndNoCredentials) {
  auto u = client::ParseOutboundUrl("HTTPS://Example.COM/a/b?c=d");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/a/b?c=d");
  u = client::ParseOutboundUrl("http://[::1]:8080");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/");

  for (const char* bad :
       {"ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "https://user:pw@example.com/",
        "https://example.com/#frag", "/relative", "https://example.com:0/", "https:///nohost", "not a url"}) {
    EXPECT_FALSE(client::ParseOutboundUrl(bad)) << bad;
  }
  std::string long_url = "https://example.com/" + std::string(client::kMaxOutboundUrlLength, 'a');
  auto too_long = client::ParseOutboundUrl(long_url);
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message.find("longer"), std::string::npos);
}

TEST(OutboundUrlTest, PrivateAddressesAreKnown) {
  for (const char* ip : {"127.0.0.1",
                         "127.9.9.9",
                         "10.1.2.3",
                         "172.16.0.1",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.169.254",
                         "100.64.0.1",
                         "0.0.0.0",
                         "224.0.0.1",
                         "255.255.255.255",
                         "::1",
                         "::",
                         "fc00::1",
                         "fd12::1",
                         "fe80::1",
                         "ff02::1",
                         "::ffff:127.0.0.1",
                         "::ffff:10.0.0.1",
                         "64:ff9b::a00:1",
                         "2002:7f00:1::",
                         "garbage"}) {
    EXPECT_TRUE(client::IsPrivateAddress(ip)) << ip;
  }
  for (const char* ip : {"1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
                         "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_FALSE(client::IsPrivateAddress(ip)) << ip;
  }
}

TEST(OutboundPostTest, RefusesLoopbackUnlessAllowed) {
  Receiver receiver([](const auto&, tcp::socket& s) { Receiver::Answer(s, http::status::ok, "{}"); });
  OutboundOptions strict;
  strict.timeout = std::chrono::seconds(5);
  for (const std::string& url :
       {receiver.Url(), "http://localhost:" + std::to_string(receiver.port()) + "/hook"}) {
    OutboundAnswer answer = OutboundPost(Json(url, "{}"), strict);
    EXPECT_TRUE(answer.refused) << url << ": " << answer.error;
    EXPECT_EQ(answer.status, 0);
    EXPECT_NE(answer.error.find("private address refused"), std::string::npos) << answer.error;
  }
  EXPECT_TRUE(receiver.Requests().empty());
}

TEST(OutboundPostTest, SendsTheBodyAndHeadersAndReadsTheAnswer) {
  Receiver receiver([](const auto&, tcp::socket& s) {
    Receiver::Answer(s, http::status::created, "{\"ok\":true}", {{"Retry-After", "7"}});
  });
  OutboundAnswer answer = OutboundPost({.url = receiver.Url(),
                                        .content_type = "application/octet-stream",
                                        .headers = {{"X-Parley-Delivery", "d-1"}, {"TTL", "60"}},
                                        .body = std::string("\x00\x01payload", 9)},
                                       Allowing());
  ASSERT_TRUE(answer.ok()) << answer.error;
  EXPECT_EQ(answer.status, 201);
  EXPECT_EQ(answer.body, "{\"ok\":true}");
  EXPECT_EQ(answer.headers["retry-after"], "7");
  EXPECT_FALSE(answer.truncated);
  auto requests = receiver.Requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& req = requests[0];
  EXPECT_EQ(req.method(), http::verb::post);
  EXPECT_EQ(req.target(), "/hook?x=1");
  EXPECT_EQ(req[http::field::host], "127.0.0.1:" + std::to_string(receiver.port()));
  EXPECT_EQ(req[http::field::content_type], "application/octet-stream");
  EXPECT_EQ(req["X-Parley-Delivery"], "d-1");
  EXPECT_EQ(req["TTL"], "60");
  EXPECT_EQ(req.body(), std::string("\x00\x01payload", 9));
}

TEST(OutboundPostTest, AHugeAnswerIsCutNotRead) {
  Receiver receiver([](const auto&, tcp::socket& s) {
    Receiver::Answer(s, http::status::internal_server_error, std::string(4 * 1024 * 1024, 'x'));
  });
  OutboundOptions options = Allowing();
  options.max_response_bytes = 1000;
  OutboundAnswer answer = OutboundPost(Json(receiver.Url(), "{}"), options);
  EXPECT_EQ(answer.status, 500);
  EXPECT_TRUE(answer.truncated);
  EXPECT_EQ(answer.body, std::string(1000, 'x'));
}

TEST(OutboundPostTest, ARedirectIsAnAnswerNeverFollowed) {
  Receiver receiver([](const http::request<http::string_body>& req, tcp::socket& s) {
    if (req.target() == "/hook?x=1") {
      Receiver::Answer(s, http::status::temporary_redirect, "", {{"Location", "/elsewhere"}});
    } else {
      Receiver::Answer(s, http::status::ok, "followed");
    }
  });
  OutboundAnswer answer = OutboundPost(Json(receiver.Url(), "{}"), Allowing());
  EXPECT_EQ(answer.status, 307);
  EXPECT_FALSE(answer.ok());
  EXPECT_EQ(answer.headers["location"], "/elsewhere");
  EXPECT_EQ(receiver.Requests().size(), 1u);
}

TEST(OutboundPostTest, AReceiverThatHangsCostsOnlyTheDeadline) {
  std::atomic<bool> release{false};
  Receiver receiver([&](const auto&, tcp::socket&) {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  auto start = std::chrono::steady_clock::now();
  OutboundAnswer answer = OutboundPost(Json(receiver.Url(), "{}"), Allowing(std::chrono::milliseconds(300)));
  auto took = std::chrono::steady_clock::now() - start;
  release = true;
  EXPECT_EQ(answer.status, 0);
  EXPECT_NE(answer.error.find("timed out"), std::string::npos) << answer.error;
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(OutboundPostTest, NobodyListeningIsAnErrorNotAHang) {
  uint16_t port;
  {
    asio::io_context ioc;
    tcp::acceptor probe(ioc, {tcp::v4(), 0});
    port = probe.local_endpoint().port();
  }
  OutboundAnswer answer =
      OutboundPost(Json("http://127.0.0.1:" + std::to_string(port) + "/", "{}"), Allowing());
  EXPECT_EQ(answer.status, 0);
  EXPECT_FALSE(answer.refused);
  EXPECT_NE(answer.error.find("connecting to 127.0.0.1"), std::string::npos) << answer.error;
}

// https: the certificate is verified against the given anchors; without the
// anchor that signed the receiver's certificate, nothing is sent.
TEST(OutboundPostTest, HttpsVerifiesTheReceiversCertificate) {
  auto dir = std::filesystem::temp_directory_path() / ("parley-outbound-" + UniqueName("t"));
  std::filesystem::create_directories(dir);
  CertFiles files = MakeSelfSigned(dir, "receiver");
  ParleydProcess server({"--tls-cert-file", files.cert, "--tls-key-file", files.key});
  ASSERT_TRUE(server.Start()) << server.error() << server.LogTail();
  // parleyd's own API is the TLS receiver: a login with no body is a 400.
  std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/v1/auth/login";

  OutboundOptions trusting = Allowing();
  trusting.ca_file = files.cert;
  OutboundAnswer answer = OutboundPost(Json(url, "not json"), trusting);
  EXPECT_EQ(answer.status, 400) << answer.error;
  EXPECT_NE(answer.body.find("bad_request"), std::string::npos) << answer.body;

  OutboundAnswer untrusted = OutboundPost(Json(url, "not json"), Allowing());
  EXPECT_EQ(untrusted.status, 0);
  EXPECT_NE(untrusted.error.find(client::kUntrustedCertificate), std::string::npos) << untrusted.error;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace parley::testing
