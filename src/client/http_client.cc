// The only translation unit of parley_client that compiles Beast's HTTP code.
#include "client/http_client.h"

#include <algorithm>
#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/serialize.hpp>

#include "client/ascii.h"
#include "client/tls_context.h"
#include "protocol/http_bodies.h"
#include "protocol/json.h"

namespace parley::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

std::string Response::Header(std::string_view name) const {
  auto it = headers.find(detail::AsciiLower(name));
  return it == headers.end() ? std::string() : it->second;
}

const json::object& Response::Object() const {
  static const json::object kEmpty;
  return json.is_object() ? json.as_object() : kEmpty;
}

std::string Response::Describe() const {
  if (!error.empty()) return "transport error: " + error;
  return std::to_string(status) + " " + body;
}

Errc Response::ErrorCode() const {
  if (status == 0) return Errc::kUnavailable;
  if (auto e = protocol::ParseErrorBody(json)) return e->code;
  return ErrcFromHttpStatus(status).value_or(Errc::kInternal);
}

struct HttpClient::Impl {
  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  std::optional<TlsOptions> tls;
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};  // plain HTTP
  // HTTPS: the context (made on the first connection) and a stream made
  // anew for each connection, since a TLS session cannot be reused after
  // its socket closed.
  std::shared_ptr<asio::ssl::context> ssl_context;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_stream;
  beast::flat_buffer buffer;
  bool connected = false;

  Impl(std::string h, uint16_t p, std::chrono::milliseconds t, std::optional<TlsOptions> o)
      : host(std::move(h)), port(p), timeout(t), tls(std::move(o)) {}

  beast::tcp_stream& Lowest() { return tls_stream ? beast::get_lowest_layer(*tls_stream) : stream; }

  // Calls `f` with the stream requests travel on.
  template <class F>
  auto WithStream(F&& f) {
    if (tls_stream) return f(*tls_stream);
    return f(stream);
  }

  // Runs one asynchronous operation to completion on this thread; the
  // tcp_stream deadline bounds it.
  template <class Start>
  beast::error_code Run(Start start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  // Drops the connection. Over TLS no close_notify is sent: the client
  // never reads after this, so a truncation the server sees costs nothing.
  void Close() {
    beast::error_code ignored;
    beast::tcp_stream& lowest = Lowest();
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.close();
    tls_stream.reset();
    buffer.clear();
    connected = false;
  }

  // Opens the connection (and, over TLS, completes the verified handshake).
  // The error's text, for messages, names the step that failed.
  std::string Connect() {
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return ec.message();
    if (tls) {
      if (!ssl_context) {
        auto context = detail::MakeClientContext(*tls);
        if (!context) return context.error().message;
        ssl_context = std::move(*context);
      }
      tls_stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, *ssl_context);
      if (auto prepared = detail::PrepareSsl(tls_stream->native_handle(), host); !prepared) {
        tls_stream.reset();
        return prepared.error().message;
      }
    }
    beast::tcp_stream& lowest = Lowest();
    lowest.expires_after(timeout);
    ec = Run([&](auto handler) { lowest.async_connect(results, std::move(handler)); });
    if (ec) {
      Close();
      return ec.message();
    }
    lowest.socket().set_option(tcp::no_delay(true), ec);
    if (tls_stream) {
      ec = Run([&](auto handler) {
        tls_stream->async_handshake(asio::ssl::stream_base::client, std::move(handler));
      });
      if (ec) {
        std::string why = detail::DescribeHandshakeError(ec, tls_stream->native_handle());
        Close();
        return why;
      }
    }
    connected = true;
    buffer.clear();
    return {};
  }

  Response Once(http::verb verb, std::string_view target, const std::optional<std::string>& body,
                const std::optional<std::string>& bearer, std::string_view content_type, bool* retryable) {
    Response out;
    *retryable = false;
    bool reused = connected;
    if (!connected) {
      if (std::string why = Connect(); !why.empty()) {
        out.error = "connect " + host + ":" + std::to_string(port) + ": " + why;
        return out;
      }
    }
    http::request<http::string_body> req{verb, std::string(target), 11};
    req.set(http::field::host, host + ":" + std::to_string(port));
    req.set(http::field::user_agent, "parley-client");
    req.set(http::field::accept, "application/json");
    if (bearer) req.set(http::field::authorization, "Bearer " + *bearer);
    if (body) {
      req.set(http::field::content_type, content_type);
      req.body() = *body;
    }
    req.keep_alive(true);
    req.prepare_payload();

    Lowest().expires_after(timeout);
    auto ec = WithStream(
        [&](auto& s) { return Run([&](auto handler) { http::async_write(s, req, std::move(handler)); }); });
    if (ec) {
      Close();
      *retryable = reused;
      out.error = "write: " + ec.message();
      return out;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.header_limit(64 * 1024);
    Lowest().expires_after(timeout);
    ec = WithStream([&](auto& s) {
      return Run([&](auto handler) { http::async_read(s, buffer, parser, std::move(handler)); });
    });
    if (ec) {
      Close();
      // A kept-alive connection the server closed meanwhile: nothing was
      // answered, so one retry on a fresh connection is safe.
      *retryable = reused && (ec == http::error::end_of_stream || ec == asio::error::eof ||
                              ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                              ec == asio::ssl::error::stream_truncated);
      out.error = "read: " + ec.message();
      return out;
    }
    Lowest().expires_never();
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers[detail::AsciiLower(std::string(field.name_string()))] = std::string(field.value());
    }
    out.body = std::move(res.body());
    out.json = protocol::ParseJson(out.body);
    if (!res.keep_alive()) Close();
    return out;
  }
};

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout,
                       std::optional<TlsOptions> tls)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout, std::move(tls))) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Response HttpClient::Request(std::string_view method, std::string_view target,
                             std::optional<std::string> body, std::optional<std::string> bearer,
                             std::string_view content_type) {
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    Response out;
    out.error = "unknown method " + std::string(method);
    return out;
  }
  bool retryable = false;
  Response out = impl_->Once(verb, target, body, bearer, content_type, &retryable);
  if (retryable) out = impl_->Once(verb, target, body, bearer, content_type, &retryable);
  return out;
}

Response HttpClient::Get(std::string_view target, std::optional<std::string> bearer) {
  return Request("GET", target, std::nullopt, std::move(bearer));
}

Response HttpClient::Post(std::string_view target, const json::object& body,
                          std::optional<std::string> bearer) {
  return Request("POST", target, json::serialize(body), std::move(bearer));
}

Response HttpClient::Delete(std::string_view target, std::optional<std::string> bearer) {
  return Request("DELETE", target, std::nullopt, std::move(bearer));
}

void HttpClient::Disconnect() {
  if (impl_->connected) impl_->Close();
}

const std::string& HttpClient::host() const { return impl_->host; }
uint16_t HttpClient::port() const { return impl_->port; }

}  // namespace parley::client
