#pragma once
// Login brute-force throttling: failed password checks counted per account
// (the folded username) and per client address in a sliding window. An
// account or an address with `max` failures within the last `window_ms` is
// refused until the oldest of them leaves the window. A successful login
// clears its account's count (not its address's: an attacker holding one
// good account must not wash an address clean with it).
//
// Why two counts with different thresholds: one address guessing at many
// accounts (or one) is stopped by the lower per-address limit without
// touching the accounts, so the real user, from another address, still gets
// in; a guesser spread over many addresses is stopped by the per-account
// limit, which then refuses the account for at most one window, never for
// good. IPv6 addresses count per /64 (one host usually owns the whole
// prefix); IPv4-mapped IPv6 addresses count as the IPv4 address.
//
// Memory is bounded: each table holds at most `max_entries` keys of at most
// `max` timestamps; keys whose newest failure left the window are dropped as
// calls go by, and a full table forgets its least recently failed key.
// In a cluster (a SharedLimits given), the counts live in Redis, so N nodes
// together allow the configured limits, not N times them: one round trip
// per call. The node keeps counting in memory too, and when Redis does not
// answer it decides by its own count alone: the throttle degrades to the
// per-node limits rather than failing open (no limit at all: passwords
// unprotected while Redis is away) or closed (nobody can log in while Redis
// blips).
//
// Thread-safe. Without SharedLimits every call is O(1) amortised and never
// blocks on I/O; with it, each blocks for one bounded round trip.
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/shared_limits.h"

namespace parley::auth {

struct ThrottleOptions {
  int64_t window_ms = 15 * 60 * 1000;
  int max_per_account = 50;     // 0 disables the per-account count
  int max_per_address = 20;     // 0 disables the per-address count
  size_t max_entries = 100000;  // per table
};

class LoginThrottle {
 public:
  // `shared`, when given, must outlive the throttle.
  LoginThrottle(ThrottleOptions options, const Clock& clock, SharedLimits* shared = nullptr);

  // 0 when a login attempt for `account` from `address` may go ahead, else
  // the milliseconds until it may. An empty account or address is not
  // counted.
  int64_t RetryAfterMs(std::string_view account, std::string_view address);
  // A failed password check.
  void Failed(std::string_view account, std::string_view address);
  // A successful login: forgets the account's failures.
  void Succeeded(std::string_view account);

  // Keys held (accounts + addresses), for tests and metrics.
  size_t size();

 private:
  // One table of keys -> recent failure times, with a recency list for
  // expiry and eviction.
  class Table {
   public:
    Table(int max, int64_t window_ms, size_t max_entries)
        : max_(max), window_ms_(window_ms), cap_(max_entries) {}
    int64_t RetryAfterMs(const std::string& key, TimeMs now);
    void Failed(const std::string& key, TimeMs now);
    void Forget(const std::string& key);
    size_t size();

   private:
    struct Entry {
      std::vector<TimeMs> ring;  // at most max_ failure times
      size_t next = 0;           // when full: the oldest, overwritten next
      TimeMs newest = 0;
      std::list<std::string>::iterator lru;
    };
    void Expire(TimeMs now);  // drops keys whose newest failure left the window

    const int max_;
    const int64_t window_ms_;
    const size_t cap_;
    std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> lru_;  // least recently failed first
  };

  // The shared counts' keys of one attempt (those that count).
  std::vector<SharedLimits::Window> SharedKeys(std::string_view account, std::string_view address) const;

  const Clock& clock_;
  const ThrottleOptions options_;
  SharedLimits* shared_;
  Table accounts_;
  Table addresses_;
};

// The key an address is counted under: IPv4 as is, IPv6 by its /64 prefix
// ("2001:db8:1:2::/64"), IPv4-mapped IPv6 as IPv4. Anything that is not an
// IP address comes back unchanged.
std::string AddressKey(std::string_view address);

// The client's address for a request that reached us from `peer`. When
// `peer` is one of `trusted_proxies` and `forwarded_for` (the
// X-Forwarded-For header) is set, its entries are read from the right,
// skipping trusted proxies; the first other valid IP address is the client.
// Otherwise (no header, untrusted peer, garbage in the header) the peer.
std::string ResolveClientAddress(std::string_view peer, std::string_view forwarded_for,
                                 const std::vector<std::string>& trusted_proxies);

}  // namespace parley::auth
