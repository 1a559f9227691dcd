#include "cli/server_url.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace parley::cli {

std::optional<ServerUrl> ParseServerUrl(const std::string& text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<ServerUrl> {
    if (error) *error = "bad server URL '" + text + "': " + why;
    return std::nullopt;
  };
  if (text.empty()) return fail("empty");
  std::string input = text;
  uint16_t default_port = 80;
  if (input.find("://") == std::string::npos) {
    input = "http://" + input;
    default_port = 8080;
  }
  auto parsed = boost::urls::parse_uri(input);
  if (!parsed) return fail("not a URL (" + parsed.error().message() + ")");
  boost::urls::url_view url = *parsed;
  std::string scheme(url.scheme());
  bool tls = scheme == "https" || scheme == "wss";
  if (!tls && scheme != "http" && scheme != "ws") return fail("the scheme must be http:// or https://");
  if (tls && default_port == 80) default_port = 443;
  if (url.has_userinfo()) return fail("user info is not supported");
  std::string path(url.encoded_path());
  if (!path.empty() && path != "/") return fail("a path is not supported");
  if (url.has_query() || url.has_fragment()) return fail("a query or fragment is not supported");
  ServerUrl out;
  out.tls = tls;
  out.host = std::string(url.encoded_host());
  if (out.host.empty()) return fail("no host");
  if (url.host_type() == boost::urls::host_type::ipv6) {
    out.host = std::string(url.encoded_host_address());
  }
  for (char c : out.host) {
    if (c == '%' || c == ' ') return fail("bad host");
  }
  if (url.has_port()) {
    std::string port(url.port());
    if (port.empty() || port.size() > 5) return fail("bad port");
    unsigned long value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return fail("bad port");
      value = value * 10 + static_cast<unsigned long>(c - '0');
    }
    if (value == 0 || value > 65535) return fail("port out of range");
    out.port = static_cast<uint16_t>(value);
  } else {
    out.port = default_port;
  }
  bool v6 = url.host_type() == boost::urls::host_type::ipv6;
  out.canonical = std::string(tls ? "https://" : "http://") + (v6 ? "[" + out.host + "]" : out.host) + ":" +
                  std::to_string(out.port);
  return out;
}

}  // namespace parley::cli
