#include "presence/embedded/embedded_presence.h"

#include <array>
#include <mutex>
#include <unordered_map>

namespace parley::presence::embedded {
namespace {

// Session counts per user, in stripes so that connects and disconnects of
// different users rarely share a lock.
class Registry final : public PresenceRegistry {
 public:
  bool AddSession(UserId user, SessionKey) override {
    Stripe& s = StripeOf(user);
    std::lock_guard lock(s.mu);
    return ++s.sessions[user] == 1;
  }

  bool RemoveSession(UserId user, SessionKey) override {
    Stripe& s = StripeOf(user);
    std::lock_guard lock(s.mu);
    auto it = s.sessions.find(user);
    if (it == s.sessions.end()) return false;
    if (--it->second > 0) return false;
    s.sessions.erase(it);
    return true;
  }

  std::vector<bool> Online(std::span<const UserId> users) override {
    std::vector<bool> out;
    out.reserve(users.size());
    for (UserId u : users) {
      Stripe& s = StripeOf(u);
      std::lock_guard lock(s.mu);
      out.push_back(s.sessions.contains(u));
    }
    return out;
  }

  Result<void> Ping() override { return Ok(); }

 private:
  struct Stripe {
    std::mutex mu;
    std::unordered_map<UserId, int> sessions;
  };
  Stripe& StripeOf(UserId u) { return stripes_[static_cast<uint64_t>(u.value) % stripes_.size()]; }
  std::array<Stripe, 64> stripes_;
};

}  // namespace

std::unique_ptr<PresenceRegistry> CreateRegistry() { return std::make_unique<Registry>(); }

}  // namespace parley::presence::embedded
