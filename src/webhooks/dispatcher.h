#pragma once
// webhooks::Dispatcher: delivers every entry of the conversations that have
// webhooks (PROTOCOL.md §8), at least once and in seq order per webhook,
// from the durable cursor each webhook keeps in the store.
//
// Owns a scanner thread and a fixed pool of worker threads, none of them the
// chat's: a receiver that hangs, is slow or fails costs one worker for at
// most the outbound timeout per turn, never a commit or a fan-out. The
// scanner finds webhooks with entries past their cursor (every
// scan_interval_ms, and soon after Nudge while any webhook exists) and
// queues each at most once; a
// worker takes the webhook's lease in the store (so exactly one node
// delivers it), then POSTs up to `batch` entries one after the other,
// moving the cursor after each 2xx. A failure schedules the next attempt
// with a growing, jittered backoff; a 410 deletes the webhook.
//
// Start() once, Stop() joins (waiting at most for the POSTs in flight).
// Nudge() is cheap and may be called from any thread.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/model.h"
#include "store/store.h"
#include "webhooks/options.h"

namespace parley::webhooks {

// Observations for metrics, called on the worker threads.
struct Observer {
  std::function<void()> on_attempt;                  // a POST was made
  std::function<void()> on_failure;                  // ... and not answered 2xx
  std::function<void(double seconds)> on_delivered;  // an entry's commit to its 2xx
};

// How long the `attempts`-th retry (1, 2, ...) waits: a random time
// (`random`, any value) between half and all of retry_initial_ms *
// 2^(attempts-1), capped at retry_max_ms.
TimeMs RetryDelayMs(int64_t attempts, const Options& options, uint64_t random);

class Dispatcher {
 public:
  // `owner` names this node in the store's leases (unique in a cluster,
  // stable across restarts). `serve` puts on entries what they carry only
  // when served (the signed urls of attachments), as history does.
  Dispatcher(store::Store& store, const Clock& clock, Options options, std::string owner,
             Observer observer = {}, std::function<void(std::vector<Message>&)> serve = {});
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Start();
  void Stop();
  // Something was committed: scan soon rather than at the next interval.
  void Nudge();

 private:
  void ScanLoop();
  void WorkLoop();
  // One turn of one webhook: lease, deliver up to options_.batch entries,
  // and record how it went. True when it may have more to deliver now.
  bool DeliverTurn(int64_t id, std::mt19937_64& random);

  store::Store& store_;
  const Clock& clock_;
  const Options options_;
  const std::string owner_;
  Observer observer_;
  std::function<void(std::vector<Message>&)> serve_;

  std::mutex mu_;
  std::condition_variable scan_cv_;
  std::condition_variable work_cv_;
  bool nudged_ = false;
  bool stopping_ = false;
  bool started_ = false;
  std::deque<int64_t> queue_;          // webhooks waiting for a worker
  std::unordered_set<int64_t> taken_;  // queued or being delivered: never twice at once
  std::thread scanner_;
  std::vector<std::thread> workers_;
};

}  // namespace parley::webhooks
