#include "auth/login_throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace parley::auth {

// ---------------------------------------------------------------- one table

int64_t LoginThrottle::Table::RetryAfterMs(const std::string& key, TimeMs now) {
  if (max_ <= 0 || key.empty()) return 0;
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  const Entry& e = it->second;
  if (e.ring.size() < static_cast<size_t>(max_)) return 0;
  const TimeMs oldest = e.ring[e.next];
  const int64_t wait = oldest + window_ms_ - now;
  return wait > 0 ? wait : 0;
}

void LoginThrottle::Table::Failed(const std::string& key, TimeMs now) {
  if (max_ <= 0 || key.empty()) return;
  std::lock_guard lock(mu_);
  Expire(now);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= cap_ && !lru_.empty()) {
      // Full of live keys: forget the one that failed least recently.
      entries_.erase(lru_.front());
      lru_.pop_front();
    }
    lru_.push_back(key);
    it = entries_.emplace(key, Entry{}).first;
    it->second.ring.reserve(static_cast<size_t>(std::min(max_, 64)));
    it->second.lru = std::prev(lru_.end());
  } else {
    lru_.splice(lru_.end(), lru_, it->second.lru);
  }
  Entry& e = it->second;
  if (e.ring.size() < static_cast<size_t>(max_)) {
    e.ring.push_back(now);
  } else {
    e.ring[e.next] = now;
    e.next = (e.next + 1) % e.ring.size();
  }
  e.newest = now;
}

void LoginThrottle::Table::Forget(const std::string& key) {
  if (key.empty()) return;
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

size_t LoginThrottle::Table::size() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void LoginThrottle::Table::Expire(TimeMs now) {
  // The recency list is ordered by newest failure, so expired keys are at
  // its front.
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.front());
    if (it != entries_.end() && it->second.newest + window_ms_ > now) break;
    if (it != entries_.end()) entries_.erase(it);
    lru_.pop_front();
  }
}

// ---------------------------------------------------------------- throttle

LoginThrottle::LoginThrottle(ThrottleOptions options, const Clock& clock, SharedLimits* shared)
    : clock_(clock),
      options_(options),
      shared_(shared),
      accounts_(options.max_per_account, options.window_ms, options.max_entries),
      addresses_(options.max_per_address, options.window_ms, options.max_entries) {}

std::vector<SharedLimits::Window> LoginThrottle::SharedKeys(std::string_view account,
                                                            std::string_view address) const {
  std::vector<SharedLimits::Window> keys;
  if (options_.max_per_account > 0 && !account.empty()) {
    keys.push_back({"login:account:" + std::string(account), options_.max_per_account});
  }
  if (options_.max_per_address > 0 && !address.empty()) {
    keys.push_back({"login:address:" + AddressKey(address), options_.max_per_address});
  }
  return keys;
}

int64_t LoginThrottle::RetryAfterMs(std::string_view account, std::string_view address) {
  const TimeMs now = clock_.NowMs();
  const int64_t local = std::max(accounts_.RetryAfterMs(std::string(account), now),
                                 addresses_.RetryAfterMs(AddressKey(address), now));
  if (shared_ == nullptr) return local;
  auto keys = SharedKeys(account, address);
  if (keys.empty()) return local;
  auto shared = shared_->Failures(keys, options_.window_ms, now, /*add=*/false);
  return shared ? std::max(local, *shared) : local;  // unanswered: this node's count decides
}

void LoginThrottle::Failed(std::string_view account, std::string_view address) {
  const TimeMs now = clock_.NowMs();
  accounts_.Failed(std::string(account), now);
  addresses_.Failed(AddressKey(address), now);
  if (shared_ == nullptr) return;
  if (auto keys = SharedKeys(account, address); !keys.empty()) {
    (void)shared_->Failures(keys, options_.window_ms, now, /*add=*/true);  // lost: counted here at least
  }
}

void LoginThrottle::Succeeded(std::string_view account) {
  accounts_.Forget(std::string(account));
  if (shared_ != nullptr && options_.max_per_account > 0 && !account.empty()) {
    (void)shared_->ClearFailures("login:account:" + std::string(account));
  }
}

size_t LoginThrottle::size() { return accounts_.size() + addresses_.size(); }

// ---------------------------------------------------------------- addresses

std::string AddressKey(std::string_view address) {
  std::string text(address);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return text;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, v6.s6_addr)) {
    char buf[INET_ADDRSTRLEN];
    std::memcpy(&v4, v6.s6_addr + 12, 4);
    if (inet_ntop(AF_INET, &v4, buf, sizeof buf) != nullptr) return buf;
    return text;
  }
  std::fill(v6.s6_addr + 8, v6.s6_addr + 16, 0);
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &v6, buf, sizeof buf) == nullptr) return text;
  return std::string(buf) + "/64";
}

namespace {

bool IsIp(const std::string& s) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, s.c_str(), &v4) == 1 || inet_pton(AF_INET6, s.c_str(), &v6) == 1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Trusted(const std::string& address, const std::vector<std::string>& trusted) {
  return std::find(trusted.begin(), trusted.end(), address) != trusted.end();
}

}  // namespace

std::string ResolveClientAddress(std::string_view peer, std::string_view forwarded_for,
                                 const std::vector<std::string>& trusted_proxies) {
  std::string client(peer);
  if (forwarded_for.empty() || !Trusted(client, trusted_proxies)) return client;
  // Right to left: the rightmost entries were appended by our own proxies;
  // the first entry not one of them is the client as our edge saw it.
  // Entries further left were written by the client and prove nothing.
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    size_t comma = rest.rfind(',');
    std::string entry(Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1)));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (!IsIp(entry)) return client;  // garbage: believe only the peer
    if (!Trusted(entry, trusted_proxies)) return entry;
    client = entry;
  }
  return client;
}

}  // namespace parley::auth
