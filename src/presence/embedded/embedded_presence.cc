#include "presence/embedded/embedded_presence.h"

#include <array>
#include <mutex>
#include <unordered_map>

namespace parley::presence::embedded {
namespace {

// Session counts per user, in shards so that connects and disconnects of
// different users rarely share a lock.
class Registry final : public PresenceRegistry {
 public:
  bool AddSession(UserId user, SessionKey) override {
    Shard& s = ShardOf(user);
    std::lock_guard lock(s.mu);
    return ++s.sessions[user] == 1;
  }

  bool RemoveSession(UserId user, SessionKey) override {
    Shard& s = ShardOf(user);
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
      Shard& s = ShardOf(u);
      std::lock_guard lock(s.mu);
      out.push_back(s.sessions.contains(u));
    }
    return out;
  }

  Result<void> Ping() override { return Ok(); }

 private:
  struct Shard {
    std::mutex mu;
    std::unordered_map<UserId, int> sessions;
  };
  Shard& ShardOf(UserId u) { return shards_[static_cast<uint64_t>(u.value) % shards_.size()]; }
  std::array<Shard, 64> shards_;
};

class LocalFanOut final : public FanOut {
 public:
  void SetSink(DeliverySink* sink) override { sink_ = sink; }
  void Publish(EventBatch batch) override {
    if (sink_ && !batch.empty()) sink_->Deliver(std::make_shared<const EventBatch>(std::move(batch)));
  }

 private:
  DeliverySink* sink_ = nullptr;
};

}  // namespace

std::unique_ptr<PresenceRegistry> CreateRegistry() { return std::make_unique<Registry>(); }
std::unique_ptr<FanOut> CreateFanOut() { return std::make_unique<LocalFanOut>(); }

}  // namespace parley::presence::embedded
