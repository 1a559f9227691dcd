#pragma once
// OutboundPost: the server's one way to POST to a URL a user gave it
// (webhooks, Web Push endpoints).
//
// A URL from a user may name anything the server can reach, including its
// own loopback and the private network behind it, so the call resolves the
// host itself, drops the addresses the policy refuses, and connects only to
// an address it checked (a name that resolves differently a moment later
// cannot slip past). It never follows a redirect: a 3xx is an answer like any
// other, so a redirect to a private address is never followed either.
//
// Blocking, with one deadline over the whole exchange; meant for a worker
// thread of its own, never an io thread of the chat. Thread-safe: each call
// owns its connection. Beast and OpenSSL stay in outbound.cc.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace parley::client {

// The longest URL accepted from a user.
inline constexpr std::size_t kMaxOutboundUrlLength = 2048;

struct OutboundUrl {
  bool tls = false;    // https
  std::string host;    // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 0;   // the scheme's default when the URL names none
  std::string target;  // path and query, "/" at least
};

// http(s) only, a host, no user name or password, no fragment, at most
// kMaxOutboundUrlLength characters; an Error (kBadRequest) saying what is
// wrong.
Result<OutboundUrl> ParseOutboundUrl(std::string_view url);

// True for an address no outbound request reaches unless allowed: loopback,
// private (RFC 1918, fc00::/7), link-local, shared (100.64/10), unspecified,
// multicast, broadcast, reserved and documentation ranges, and IPv6 forms
// that embed one of those (IPv4-mapped, IPv4-compatible, NAT64). Anything
// that is not an address literal counts as private.
bool IsPrivateAddress(std::string_view ip_literal);

struct OutboundOptions {
  bool allow_private_addresses = false;
  // The whole exchange: connect, TLS, write and read. (Resolving a name is
  // bounded by the system resolver's own timeout.)
  std::chrono::milliseconds timeout{10000};
  // A longer answer body is cut (OutboundAnswer::truncated), not an error.
  std::size_t max_response_bytes = 64 * 1024;
  // Extra trust anchors (PEM) for https, e.g. a private CA; the system store
  // is always trusted and certificates are always verified.
  std::string ca_file;
};

struct OutboundRequest {
  std::string url;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given
  std::string body;
};

struct OutboundAnswer {
  int status = 0;        // 0: no answer; `error` says why
  std::string error;     // empty when answered
  bool refused = false;  // every address of the host is refused by the policy: permanent
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // at most max_response_bytes
  bool truncated = false;

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

// One POST of `request` under `options` (see the top of this file).
OutboundAnswer OutboundPost(const OutboundRequest& request, const OutboundOptions& options);

}  // namespace parley::client
