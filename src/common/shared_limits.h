#pragma once
// SharedLimits: the counters behind the limits that must hold across a
// cluster (the send rate of PROTOCOL.md §2, the login throttle), kept where
// every node sees them: Redis in a cluster (presence/redis/). One node has
// none, and its callers count in memory.
//
// Each call is one round trip at most and blocks for a short, bounded time;
// kUnavailable when the backend does not answer, and the caller then falls
// back to its own per-node count (see chat::Service::Append and
// auth::LoginThrottle for which way each fails, and why). Thread-safe.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/result.h"

namespace parley {

class SharedLimits {
 public:
  virtual ~SharedLimits() = default;

  struct Tokens {
    int64_t granted = 0;         // 0..want
    int64_t retry_after_ms = 0;  // when granted is 0: until one token is there
  };
  // Token bucket `key`: `burst` deep, refilled at `rate_per_s`, full when
  // first seen; takes up to `want` tokens at `now` (the caller's clock; a
  // `now` behind the bucket's last refill refills nothing).
  virtual Result<Tokens> TakeTokens(std::string_view key, double rate_per_s, int64_t burst, int64_t want,
                                    TimeMs now) = 0;

  // One count of the login throttle: failures under `key`, of which `max`
  // within the window refuse.
  struct Window {
    std::string key;
    int max = 0;
  };
  // Sliding-window failure counts. With `add`, first records one failure at
  // `now` under each key. Returns the ms until every key holds fewer than
  // its `max` failures within the last `window_ms` (0: they do now).
  virtual Result<int64_t> Failures(std::span<const Window> keys, int64_t window_ms, TimeMs now, bool add) = 0;
  // Forgets the failures of `key` (a successful login).
  virtual Result<void> ClearFailures(std::string_view key) = 0;
};

}  // namespace parley
