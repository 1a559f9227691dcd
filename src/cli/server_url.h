#pragma once
// The server URL given to `parley register|login --server`.
#include <cstdint>
#include <optional>
#include <string>

namespace parley::cli {

struct ServerUrl {
  std::string host;  // without brackets for IPv6
  uint16_t port = 8080;
  bool tls = false;       // https:// (the WebSocket is then wss://)
  std::string canonical;  // "http://host:port" or "https://host:port"
};

// Parses "http://host[:port][/]" or "https://host[:port][/]" (ws:// and
// wss:// are taken as their HTTP twins; "host[:port]" alone is http). The
// port defaults to 80 for http, 443 for https and 8080 without a scheme.
// nullopt with `error` set when the URL is not one the client can use
// (another scheme, a path, no host, a bad port).
std::optional<ServerUrl> ParseServerUrl(const std::string& text, std::string* error);

}  // namespace parley::cli
