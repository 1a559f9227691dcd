#include "presence/redis/recent_entries.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/logging.h"
#include "presence/redis/codec.h"
#include "presence/redis/scripts.h"
#include "presence/redis/sync_pool.h"

namespace parley::presence::redis {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("redis");
  return log;
}

// A resume waits for a read: past this it reads the store.
constexpr int kTimeoutMs = 250;
// After a failed call, neither reads nor writes try Redis for this long.
constexpr int64_t kPauseMs = 1000;
// Entries queued for the writer; beyond, new ones are dropped (the windows
// they belong to start again at their next entry).
constexpr size_t kMaxQueued = 100'000;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string WindowKey(ConversationId conv) { return "parley:recent:" + std::to_string(conv.value); }

class RedisRecentEntries final : public store::RecentEntries {
 public:
  explicit RedisRecentEntries(const Options& o)
      : reads_(o.host, o.port, kTimeoutMs), writes_(o.host, o.port, kTimeoutMs), max_(o.recent_entries) {}

  ~RedisRecentEntries() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_one();
    if (writer_.joinable()) writer_.join();
  }

  Result<void> Start() {
    if (std::string err = reads_.Load({&append_, &read_}); !err.empty()) {
      return MakeError(Errc::kUnavailable, "presence.redis: SCRIPT LOAD (recent entries): " + err);
    }
    writer_ = std::thread([this] { Write(); });
    return Ok();
  }

  void Committed(std::span<const Message> entries) override {
    if (entries.empty()) return;
    {
      std::lock_guard lock(mu_);
      if (queue_.size() + entries.size() > kMaxQueued) return;
      for (const Message& m : entries) {
        queue_.push_back(m);
        for (Attachment& a : queue_.back().attachments) a.url.clear();  // signed for the event; never kept
      }
    }
    wake_.notify_one();
  }

  std::optional<std::vector<Message>> Range(ConversationId conv, int64_t after, int64_t upto,
                                            int64_t last_seq, int limit, UserId viewer) override {
    if (upto > last_seq) return std::nullopt;
    if (after >= upto) return std::vector<Message>();
    if (Paused()) return std::nullopt;
    std::string err;
    Reply r = reads_.Eval(read_, {WindowKey(conv), std::to_string(after + 1)}, &err);
    if (!r) {
      Pause("read", err);
      return std::nullopt;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return std::nullopt;
    std::vector<Message> window;
    window.reserve(r->elements);
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      if (e->type != REDIS_REPLY_STRING) return std::nullopt;
      std::optional<Message> m = DecodeEntry(Str(e));
      // Anything else in the key is not ours: serve nothing from it.
      if (!m || m->conv != conv) return std::nullopt;
      window.push_back(std::move(*m));
    }
    return store::FoldWindow(window, after, upto, last_seq, limit, viewer);
  }

 private:
  bool Paused() const { return SteadyMs() < paused_until_.load(std::memory_order_relaxed); }

  void Pause(const char* what, const std::string& err) {
    paused_until_.store(SteadyMs() + kPauseMs, std::memory_order_relaxed);
    Log()->warn("recent entries: {} failed ({}); Redis is not used for them for {} ms", what, err, kPauseMs);
  }

  // The writer thread: drains the queue, one pipelined script per
  // conversation of what it took.
  void Write() {
    std::vector<Message> batch;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left
        batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
        queue_.clear();
      }
      if (Paused()) continue;  // dropped: the windows start again later
      std::vector<std::vector<std::string>> calls;
      std::unordered_map<int64_t, size_t> call_of;
      for (const Message& m : batch) {
        auto [it, fresh] = call_of.try_emplace(m.conv.value, calls.size());
        if (fresh) calls.push_back({WindowKey(m.conv), std::to_string(max_), std::to_string(kRecentTtlMs)});
        std::vector<std::string>& call = calls[it->second];
        call.push_back(std::to_string(m.seq));
        call.push_back(m.kind == EntryKind::kDelete ? "1" : "0");
        call.push_back(EncodeEntry(m));
      }
      std::string err;
      std::vector<Reply> replies = writes_.EvalMany(append_, calls, &err);
      if (replies.size() != calls.size()) {
        Pause("write", err);
      } else {
        for (const Reply& r : replies) {
          if (!r || r->type == REDIS_REPLY_ERROR) {
            Pause("write", r ? std::string(Str(r.get())) : err);
            break;
          }
        }
      }
      batch.clear();
    }
  }

  SyncPool reads_;
  SyncPool writes_;
  const int max_;
  Script append_{std::string(scripts::kAppendRecent)};
  Script read_{std::string(scripts::kReadRecent)};
  std::atomic<int64_t> paused_until_{0};

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Message> queue_;
  bool stop_ = false;
  std::thread writer_;
};

}  // namespace

Result<std::unique_ptr<store::RecentEntries>> CreateRecentEntries(const Options& options) {
  if (options.recent_entries <= 0) return MakeError(Errc::kBadRequest, "recent_entries must be positive");
  auto recent = std::make_unique<RedisRecentEntries>(options);
  if (auto started = recent->Start(); !started) return started.error();
  return std::unique_ptr<store::RecentEntries>(std::move(recent));
}

}  // namespace parley::presence::redis
