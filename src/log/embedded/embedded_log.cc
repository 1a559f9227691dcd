#include "log/embedded/embedded_log.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace parley::log::embedded {
namespace {

// Each partition has its own lock, so appends to different conversations do
// not contend; the consumer sleeps on one condition variable that appends
// signal only when it is waiting.
class EmbeddedLog final : public MessageLog {
 public:
  explicit EmbeddedLog(const Options& o)
      : parts_(o.partitions > 0 ? o.partitions : 1), max_pending_(o.max_pending) {}

  int partitions() const override { return static_cast<int>(parts_.size()); }

  Result<void> Append(SendRequest request) override {
    if (closed_.load(std::memory_order_acquire))
      return MakeError(Errc::kUnavailable, "message log is closed");
    if (pending_.fetch_add(1, std::memory_order_acq_rel) >= max_pending_) {
      pending_.fetch_sub(1, std::memory_order_acq_rel);
      return MakeError(Errc::kUnavailable, "message log is full; retry");
    }
    int p = PartitionOf(request.conv);
    {
      Partition& part = parts_[p];
      std::lock_guard lock(part.mu);
      part.queue.push_back(Record{p, part.next_offset++, std::move(request)});
    }
    if (waiting_.load(std::memory_order_acquire)) {
      std::lock_guard lock(wake_mu_);
      wake_.notify_one();
    }
    return Ok();
  }

  std::vector<Record> Poll(size_t max, std::chrono::milliseconds wait) override {
    std::vector<Record> out = Drain(max);
    if (!out.empty() || closed_) return out;
    {
      std::unique_lock lock(wake_mu_);
      waiting_.store(true, std::memory_order_release);
      wake_.wait_for(lock, wait, [&] { return pending_.load() > 0 || closed_.load(); });
      waiting_.store(false, std::memory_order_release);
    }
    return Drain(max);
  }

  void Commit(int partition, int64_t offset) override {
    Partition& part = parts_[partition];
    std::lock_guard lock(part.mu);
    if (offset + 1 > part.committed) part.committed = offset + 1;
  }

  void Close() override {
    closed_ = true;
    std::lock_guard lock(wake_mu_);
    wake_.notify_all();
  }

  Result<void> Ping() override {
    if (closed_) return MakeError(Errc::kUnavailable, "message log is closed");
    return Ok();
  }

 private:
  struct Partition {
    std::mutex mu;
    std::deque<Record> queue;
    int64_t next_offset = 0;
    int64_t committed = 0;
  };

  std::vector<Record> Drain(size_t max) {
    std::vector<Record> out;
    if (pending_.load(std::memory_order_acquire) == 0) return out;
    for (auto& part : parts_) {
      std::lock_guard lock(part.mu);
      while (!part.queue.empty() && out.size() < max) {
        out.push_back(std::move(part.queue.front()));
        part.queue.pop_front();
      }
    }
    pending_.fetch_sub(out.size(), std::memory_order_acq_rel);
    return out;
  }

  std::deque<Partition> parts_;
  const size_t max_pending_;
  std::atomic<size_t> pending_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> waiting_{false};
  std::mutex wake_mu_;
  std::condition_variable wake_;
};

}  // namespace

std::unique_ptr<MessageLog> Create(const Options& options) { return std::make_unique<EmbeddedLog>(options); }

}  // namespace parley::log::embedded
