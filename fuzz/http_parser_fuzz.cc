// Fuzzes Beast's HTTP request parser with the limits the gateway's listener
// sets (src/gateway/listener.cc: header_limit 16 KiB, body_limit
// max_http_body_bytes, 64 KiB by default), fed the way a socket read does:
// in pieces whose sizes come from the first input byte. Then takes the
// fields the listener takes from a parsed request.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace beast = boost::beast;
namespace http = beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + (data[0] % 64) * 16;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  http::request_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  parser.header_limit(16 * 1024);
  parser.eager(true);
  beast::error_code ec;
  std::string buffer;  // what the stream has read and the parser not yet taken
  while (!parser.is_done()) {
    size_t n = std::min(piece, rest.size());
    buffer.append(rest.substr(0, n));
    rest.remove_prefix(n);
    if (buffer.empty()) {  // the peer closed: what a read at end of stream does
      parser.put_eof(ec);
      break;
    }
    size_t used = parser.put(boost::asio::buffer(buffer), ec);
    buffer.erase(0, used);
    if (ec == http::error::need_more) {
      ec = {};
      if (rest.empty()) {
        parser.put_eof(ec);
        break;
      }
      continue;
    }
    if (ec) break;
    if (used == 0 && rest.empty()) break;
  }
  if (!ec && parser.is_done()) {
    http::request<http::string_body> req = parser.release();
    std::string method(req.method_string());
    std::string target(req.target());
    std::string auth(req[http::field::authorization]);
    bool upgrade = beast::websocket::is_upgrade(req);
    bool keep_alive = req.keep_alive();
    if (req.body().size() > 64 * 1024) __builtin_trap();
    (void)method, (void)target, (void)auth, (void)upgrade, (void)keep_alive;
  }
  return 0;
}
