// TLS: parleyd given a certificate and key serves https:// and wss:// only.
// The certificate is made here (self-signed, P-256, for 127.0.0.1), and the
// clients verify it as their only trust anchor, so a pass means the server
// really presented the configured certificate.
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"
#include "test_certs.h"

namespace parley::testing {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("parley-tls-" + UniqueName("t"));
    std::filesystem::create_directories(dir_);
    files_ = MakeSelfSigned(dir_, "server");
    server_ = std::make_unique<ParleydProcess>(
        std::vector<std::string>{"--tls-cert-file", files_.cert, "--tls-key-file", files_.key});
    ASSERT_TRUE(server_->Start()) << server_->error() << server_->LogTail();
    ctx_.set_verify_mode(ssl::verify_peer);
    ctx_.load_verify_file(files_.cert);  // the only trust anchor
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // One HTTPS request on a fresh connection, hostname (IP) verified.
  http::response<http::string_body> Https(http::verb verb, const std::string& target, const std::string& body,
                                          const std::string& token = "") {
    ssl::stream<beast::tcp_stream> stream(ioc_, ctx_);
    stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream).connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    stream.handshake(ssl::stream_base::client);
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res;
  }

  // Registers a user over HTTPS; returns (access token, user id).
  std::pair<std::string, std::string> Register(const std::string& name) {
    auto res = Https(http::verb::post, "/v1/auth/register",
                     R"({"username":")" + name + R"(","password":")" + kPassword + R"("})");
    EXPECT_EQ(res.result_int(), 201) << res.body();
    auto v = boost::json::parse(res.body()).as_object();
    return {std::string(v["access_token"].as_string()), std::string(v["user"].as_object()["id"].as_string())};
  }

  using Wss = websocket::stream<ssl::stream<beast::tcp_stream>>;

  std::unique_ptr<Wss> OpenWss(const std::string& token) {
    auto ws = std::make_unique<Wss>(ioc_, ctx_);
    ws->next_layer().set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(*ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(10));
    ws->next_layer().handshake(ssl::stream_base::client);
    ws->handshake("127.0.0.1", "/v1/ws");
    ws->text(true);
    ws->write(asio::buffer(R"({"type":"hello","id":1,"token":")" + token + R"("})"));
    EXPECT_EQ(Type(Read(*ws)), "welcome");
    return ws;
  }

  static boost::json::object Read(Wss& ws) {
    beast::flat_buffer b;
    ws.read(b);
    return boost::json::parse(beast::buffers_to_string(b.data())).as_object();
  }
  static std::string Type(const boost::json::object& o) { return protocol::GetString(o, "type"); }

  std::filesystem::path dir_;
  CertFiles files_;
  std::unique_ptr<ParleydProcess> server_;
  asio::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_client};
};

TEST_F(TlsTest, HttpsAndWssCarryAMessageEndToEnd) {
  auto health = Https(http::verb::get, "/healthz", "");
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_NE(health[http::field::strict_transport_security], "");

  std::string alice = UniqueName("alice"), bob = UniqueName("bob");
  auto [alice_token, alice_id] = Register(alice);
  auto [bob_token, bob_id] = Register(bob);
  auto dm = Https(http::verb::post, "/v1/conversations/dm", R"({"username":")" + bob + R"("})", alice_token);
  ASSERT_EQ(dm.result_int(), 200) << dm.body();
  std::string conv(boost::json::parse(dm.body()).as_object()["id"].as_string());

  auto a = OpenWss(alice_token);
  auto b = OpenWss(bob_token);
  a->write(asio::buffer(R"({"type":"send","id":2,"conv":")" + conv +
                        R"(","client_msg_id":"tls-1","body":"over TLS, héllo"})"));
  // Alice gets `sent` (and maybe presence); Bob gets the message.
  boost::json::object sent;
  for (int i = 0; i < 10 && Type(sent) != "sent"; ++i) sent = Read(*a);
  EXPECT_EQ(Type(sent), "sent");
  boost::json::object msg;
  for (int i = 0; i < 10 && Type(msg) != "message"; ++i) msg = Read(*b);
  ASSERT_EQ(Type(msg), "message");
  EXPECT_EQ(msg["body"].as_string(), "over TLS, héllo");
  EXPECT_EQ(msg["sender"].as_string(), alice_id);

  // The session ends with a clean WebSocket close, then TLS close_notify
  // (Beast's close waits for the server's close frame and shuts TLS down).
  beast::error_code ec;
  a->close(websocket::close_code::normal, ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortGetsNoAnswerAndHarmsNothing) {
  tcp::socket plain(ioc_);
  plain.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  std::string req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  asio::write(plain, asio::buffer(req));
  std::string got;
  beast::error_code ec;
  char buf[512];
  for (;;) {
    size_t n = plain.read_some(asio::buffer(buf), ec);
    if (ec) break;
    got.append(buf, n);
  }
  EXPECT_EQ(got.find("HTTP/1.1 200"), std::string::npos) << got;  // never a plaintext answer
  EXPECT_EQ(Https(http::verb::get, "/healthz", "").result_int(), 200);
}

TEST_F(TlsTest, AClientThatDoesNotTrustTheCertificateRefusesIt) {
  ssl::context untrusting(ssl::context::tls_client);
  untrusting.set_verify_mode(ssl::verify_peer);  // no anchors: the self-signed certificate fails
  ssl::stream<tcp::socket> stream(ioc_, untrusting);
  stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  beast::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec);
  EXPECT_EQ(Https(http::verb::get, "/healthz", "").result_int(), 200);
}

TEST(TlsConfigTest, ParleydRefusesHalfOrMismatchedTlsSettings) {
  auto dir = std::filesystem::temp_directory_path() / ("parley-tls-" + UniqueName("c"));
  std::filesystem::create_directories(dir);
  CertFiles one = MakeSelfSigned(dir, "one");
  CertFiles two = MakeSelfSigned(dir, "two");
  {
    ParleydProcess only_cert({"--tls-cert-file", one.cert});
    EXPECT_FALSE(only_cert.Start());
  }
  {
    ParleydProcess mismatched({"--tls-cert-file", one.cert, "--tls-key-file", two.key});
    EXPECT_FALSE(mismatched.Start());
    EXPECT_NE(mismatched.LogTail().find("TLS key"), std::string::npos) << mismatched.LogTail();
  }
  {
    ParleydProcess missing({"--tls-cert-file", (dir / "nope.crt").string(), "--tls-key-file", one.key});
    EXPECT_FALSE(missing.Start());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace parley::testing
