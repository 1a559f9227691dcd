#pragma once
// The server URL given to `parley register|login --server`.
#include <cstdint>
#include <optional>
#include <string>

namespace parley::cli {

struct ServerUrl {
  std::string host;  // without brackets for IPv6
  uint16_t port = 8080;
  std::string canonical;  // "http://host:port"
};

// Parses "http://host[:port][/]" (also "host[:port]"; the port defaults to
// 80 with a scheme and 8080 without). nullopt with `error` set when the URL
// is not one the client can use (https, a path, no host, a bad port).
std::optional<ServerUrl> ParseServerUrl(const std::string& text, std::string* error);

}  // namespace parley::cli
