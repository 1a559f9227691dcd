#pragma once
// The WebSocket close codes of PROTOCOL.md section 2, written once: the
// server closes with them, clients and tests read them. An unscoped enum so
// a code compares with the plain integer a socket reports.
#include <cstdint>
#include <string_view>

namespace parley {

enum CloseCode : uint16_t {
  kCloseNormal = 1000,       // either side is done (RFC 6455)
  kCloseGoingAway = 1001,    // server draining: reconnect, maybe elsewhere
  kCloseNotJson = 1008,      // three frames in a row were not JSON (a policy violation)
  kCloseTooBig = 1009,       // a frame over the size limit
  kCloseInternal = 1011,     // the server could not go on (a backend failed)
  kCloseNoHello = 4001,      // no hello in time, or a first frame that is not hello
  kCloseBadToken = 4003,     // bad, expired or revoked token; reconnecting needs a new one
  kCloseRateLimited = 4008,  // kept sending far beyond the rate limit
  kCloseSlowReader = 4009,   // read too slowly: the outbound queue passed its bound
};

// What a code means, for people: "server going away", ...; "" for a code
// not in the table.
std::string_view CloseCodeMeaning(int code) noexcept;

}  // namespace parley
