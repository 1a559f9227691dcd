// OutboundPost (see outbound.h): Beast over a checked address.
#include "client/outbound.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include "client/ascii.h"
#include "client/tls_context.h"

namespace parley::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// True when the top `bits` bits of `a` equal those of `prefix`.
bool InV4(uint32_t a, uint32_t prefix, int bits) {
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (a & mask) == (prefix & mask);
}

constexpr uint32_t V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

bool IsPrivateV4(uint32_t a) {
  struct Range {
    uint32_t prefix;
    int bits;
  };
  // IANA's special-purpose registry, less the ranges that are globally
  // reachable (none of the rest is a place a webhook or push service is).
  static constexpr std::array<Range, 15> kRanges{{
      {V4(0, 0, 0, 0), 8},        // "this network"
      {V4(10, 0, 0, 0), 8},       // private
      {V4(100, 64, 0, 0), 10},    // shared address space (carrier NAT)
      {V4(127, 0, 0, 0), 8},      // loopback
      {V4(169, 254, 0, 0), 16},   // link-local (cloud metadata lives here)
      {V4(172, 16, 0, 0), 12},    // private
      {V4(192, 0, 0, 0), 24},     // IETF protocol assignments
      {V4(192, 0, 2, 0), 24},     // documentation
      {V4(192, 88, 99, 0), 24},   // deprecated 6to4 relay
      {V4(192, 168, 0, 0), 16},   // private
      {V4(198, 18, 0, 0), 15},    // benchmarking
      {V4(198, 51, 100, 0), 24},  // documentation
      {V4(203, 0, 113, 0), 24},   // documentation
      {V4(224, 0, 0, 0), 4},      // multicast
      {V4(240, 0, 0, 0), 4},      // reserved, and the broadcast address
  }};
  return std::any_of(kRanges.begin(), kRanges.end(),
                     [a](const Range& r) { return InV4(a, r.prefix, r.bits); });
}

uint32_t V4At(const asio::ip::address_v6::bytes_type& b, std::size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

bool IsPrivateV6(const asio::ip::address_v6& a) {
  auto b = a.to_bytes();
  if (a.is_unspecified() || a.is_loopback() || a.is_multicast()) return true;
  if (a.is_v4_mapped()) return IsPrivateV4(V4At(b, 12));
  // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::a.b.c.d (NAT64)
  // reach the IPv4 address they carry.
  bool zeros96 = std::all_of(b.begin(), b.begin() + 12, [](uint8_t x) { return x == 0; });
  if (zeros96) return IsPrivateV4(V4At(b, 12));
  static constexpr std::array<uint8_t, 12> kNat64{0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::equal(kNat64.begin(), kNat64.end(), b.begin())) return IsPrivateV4(V4At(b, 12));
  if ((b[0] & 0xfe) == 0xfc) return true;                  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;  // fec0::/10 site-local (deprecated)
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return true;  // documentation
  if (b[0] == 0x20 && b[1] == 0x02) return IsPrivateV4(V4At(b, 2));               // 6to4
  return false;
}

bool IsPrivate(const asio::ip::address& a) {
  return a.is_v4() ? IsPrivateV4(a.to_v4().to_uint()) : IsPrivateV6(a.to_v6());
}

// One exchange on one io_context, each step bounded by the same deadline.
class Exchange {
 public:
  Exchange(const OutboundUrl& url, const OutboundOptions& options)
      : url_(url), options_(options), deadline_(std::chrono::steady_clock::now() + options.timeout) {}

  OutboundAnswer Post(const OutboundRequest& request) {
    OutboundAnswer out;
    auto endpoints = Resolve(out);
    if (!endpoints) return out;
    if (std::string why = Connect(*endpoints); !why.empty()) {
      out.error = why;
      return out;
    }
    http::request<http::string_body> req{http::verb::post, url_.target, 11};
    bool default_port = url_.port == (url_.tls ? 443 : 80);
    std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    req.set(http::field::host, default_port ? host : host + ":" + std::to_string(url_.port));
    req.set(http::field::user_agent, "Parley");
    req.set(http::field::content_type, request.content_type);
    for (const auto& [name, value] : request.headers) req.set(name, value);
    req.keep_alive(false);
    req.body() = request.body;
    req.prepare_payload();

    auto ec = WithStream(
        [&](auto& s) { return Run([&](auto handler) { http::async_write(s, req, std::move(handler)); }); });
    if (ec) {
      out.error = Describe("sending the request", ec);
      return out;
    }
    Read(out);
    Close();
    return out;
  }

 private:
  std::optional<tcp::resolver::results_type> Resolve(OutboundAnswer& out) {
    tcp::resolver resolver(ioc_);
    beast::error_code ec;
    auto results = resolver.resolve(url_.host, std::to_string(url_.port), ec);
    if (ec) {
      out.error = "cannot resolve " + url_.host + ": " + ec.message();
      return std::nullopt;
    }
    if (options_.allow_private_addresses) return results;
    std::vector<tcp::endpoint> allowed;
    std::string refused;
    for (const auto& entry : results) {
      if (IsPrivate(entry.endpoint().address())) {
        refused = entry.endpoint().address().to_string();
      } else {
        allowed.push_back(entry.endpoint());
      }
    }
    if (allowed.empty()) {
      out.refused = true;
      out.error = "private address refused: " + url_.host + " is " + refused;
      return std::nullopt;
    }
    return tcp::resolver::results_type::create(allowed.begin(), allowed.end(), url_.host,
                                               std::to_string(url_.port));
  }

  std::string Connect(const tcp::resolver::results_type& endpoints) {
    if (url_.tls) {
      auto context = detail::MakeClientContext(TlsOptions{options_.ca_file});
      if (!context) return context.error().message;
      ssl_context_ = std::move(*context);
      tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *ssl_context_);
      if (auto prepared = detail::PrepareSsl(tls_->native_handle(), url_.host); !prepared) {
        return prepared.error().message;
      }
    }
    auto ec = Run([&](auto handler) { Lowest().async_connect(endpoints, std::move(handler)); });
    if (ec) return Describe("connecting to " + url_.host + ":" + std::to_string(url_.port), ec);
    if (tls_) {
      ec = Run(
          [&](auto handler) { tls_->async_handshake(asio::ssl::stream_base::client, std::move(handler)); });
      if (ec) {
        if (ec == beast::error::timeout) return Describe("the TLS handshake", ec);
        return detail::DescribeHandshakeError(ec, tls_->native_handle());
      }
    }
    return {};
  }

  // Reads the answer's header, then at most max_response_bytes of its body
  // (a receiver that sends a huge body costs one chunk buffer, not its size).
  void Read(OutboundAnswer& out) {
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(boost::none);
    beast::flat_buffer buffer;
    auto ec = WithStream([&](auto& s) {
      return Run([&](auto handler) { http::async_read_header(s, buffer, parser, std::move(handler)); });
    });
    if (ec) {
      out.error = Describe("reading the answer", ec);
      return;
    }
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res)
      out.headers[detail::AsciiLower(field.name_string())] = std::string(field.value());
    std::array<char, 8192> chunk;
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      ec = WithStream([&](auto& s) {
        return Run([&](auto handler) { http::async_read(s, buffer, parser, std::move(handler)); });
      });
      if (ec == http::error::need_buffer) ec = {};
      std::size_t got = chunk.size() - parser.get().body().size;
      std::size_t room = options_.max_response_bytes - out.body.size();
      out.body.append(chunk.data(), std::min(got, room));
      if (got > room) {
        out.truncated = true;
        return;
      }
      if (ec) {
        // The status and headers arrived: the answer stands, its body is
        // what came before the failure.
        out.truncated = true;
        return;
      }
    }
  }

  void Close() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  beast::tcp_stream& Lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : plain_; }

  template <class F>
  beast::error_code WithStream(F&& f) {
    if (tls_) return f(*tls_);
    return f(plain_);
  }

  // Runs one asynchronous step to completion on this thread, bounded by what
  // is left of the deadline.
  template <class Start>
  beast::error_code Run(Start start) {
    Lowest().expires_at(deadline_);
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  std::string Describe(const std::string& step, const beast::error_code& ec) const {
    if (ec == beast::error::timeout) {
      return step + ": timed out (the whole exchange may take " + std::to_string(options_.timeout.count()) +
             " ms)";
    }
    return step + ": " + ec.message();
  }

  const OutboundUrl& url_;
  const OutboundOptions& options_;
  std::chrono::steady_clock::time_point deadline_;
  asio::io_context ioc_{1};
  beast::tcp_stream plain_{ioc_};
  std::shared_ptr<asio::ssl::context> ssl_context_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
};

}  // namespace

Result<OutboundUrl> ParseOutboundUrl(std::string_view text) {
  if (text.size() > kMaxOutboundUrlLength) {
    return MakeError(Errc::kBadRequest,
                     "the URL is longer than " + std::to_string(kMaxOutboundUrlLength) + " characters");
  }
  if (text.find('#') != std::string_view::npos)
    return MakeError(Errc::kBadRequest, "the URL must not have a fragment");
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) return MakeError(Errc::kBadRequest, "not an absolute URL: " + parsed.error().message());
  const auto& u = *parsed;
  OutboundUrl out;
  std::string scheme = detail::AsciiLower(u.scheme());
  if (scheme == "https") {
    out.tls = true;
  } else if (scheme != "http") {
    return MakeError(Errc::kBadRequest, "the URL must be http or https, not " + std::string(u.scheme()));
  }
  if (u.has_userinfo()) return MakeError(Errc::kBadRequest, "the URL must not hold a user name or password");
  switch (u.host_type()) {
    case boost::urls::host_type::name:
      out.host = detail::AsciiLower(u.encoded_host());
      break;
    case boost::urls::host_type::ipv4:
      out.host = u.host_ipv4_address().to_string();
      break;
    case boost::urls::host_type::ipv6:
      out.host = u.host_ipv6_address().to_string();
      break;
    default:
      return MakeError(Errc::kBadRequest, "the URL has no host it can be sent to");
  }
  if (out.host.empty()) return MakeError(Errc::kBadRequest, "the URL has no host");
  if (out.host.find('%') != std::string::npos) {
    return MakeError(Errc::kBadRequest, "the URL's host must not be percent-encoded");
  }
  out.port = out.tls ? 443 : 80;
  if (u.has_port()) {
    if (u.port_number() == 0) return MakeError(Errc::kBadRequest, "the URL's port is not a port (1-65535)");
    out.port = u.port_number();
  }
  out.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) out.target += "?" + std::string(u.encoded_query());
  return out;
}

bool IsPrivateAddress(std::string_view ip_literal) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(std::string(ip_literal), ec);
  return ec || IsPrivate(address);
}

OutboundAnswer OutboundPost(const OutboundRequest& request, const OutboundOptions& options) {
  auto url = ParseOutboundUrl(request.url);
  if (!url) {
    OutboundAnswer out;
    out.error = url.error().message;
    return out;
  }
  return Exchange(*url, options).Post(request);
}

}  // namespace parley::client
