#include "webhooks/dispatcher.h"

#include <algorithm>
#include <chrono>

#include "client/outbound.h"
#include "common/logging.h"
#include "webhooks/signature.h"

namespace parley::webhooks {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("webhooks");
  return log;
}

// Least time between two scans a nudge asks for: under a busy chat every
// commit nudges, and one scan covers them all.
constexpr auto kNudgeSpacing = std::chrono::milliseconds(20);
// Webhooks one scan queues at most.
constexpr int kScanLimit = 256;

}  // namespace

TimeMs RetryDelayMs(int64_t attempts, const Options& options, uint64_t random) {
  const int64_t cap = std::max(1, options.retry_max_ms);
  int64_t base = std::max(1, options.retry_initial_ms);
  for (int64_t i = 1; i < attempts && base < cap; ++i) base *= 2;
  base = std::min(base, cap);
  const int64_t half = base / 2;
  return half + static_cast<int64_t>(random % static_cast<uint64_t>(base - half + 1));
}

Dispatcher::Dispatcher(store::Store& store, const Clock& clock, Options options, std::string owner,
                       Observer observer, std::function<void(std::vector<Message>&)> serve)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      owner_(std::move(owner)),
      observer_(std::move(observer)),
      serve_(std::move(serve)) {}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  scanner_ = std::thread([this] { ScanLoop(); });
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { WorkLoop(); });
}

void Dispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  scan_cv_.notify_all();
  work_cv_.notify_all();
  if (scanner_.joinable()) scanner_.join();
  for (std::thread& t : workers_) t.join();
}

void Dispatcher::Nudge() {
  {
    std::lock_guard lock(mu_);
    if (nudged_) return;
    nudged_ = true;
  }
  scan_cv_.notify_one();
}

// Every scan_interval_ms a full pass: whether any webhook exists, then the
// due ones. Between full passes a nudge (a commit) scans only while some
// webhook exists, so a server without webhooks does not read the store after
// every commit; a webhook made on any node is seen by the next full pass.
void Dispatcher::ScanLoop() {
  using SteadyClock = std::chrono::steady_clock;
  const auto interval = std::chrono::milliseconds(std::max(1, options_.scan_interval_ms));
  auto next_full = SteadyClock::now();
  bool any = true;  // until a full pass says otherwise
  std::unique_lock lock(mu_);
  while (!stopping_) {
    scan_cv_.wait_until(lock, next_full, [&] { return stopping_ || nudged_; });
    if (stopping_) break;
    nudged_ = false;
    const bool full = SteadyClock::now() >= next_full;
    if (full) next_full = SteadyClock::now() + interval;
    lock.unlock();
    if (full) {
      Result<bool> exists = store_.AnyWebhooks();
      if (!exists) Log()->warn("looking for webhooks failed: {}", exists.error().message);
      any = !exists || *exists;  // unknown: scan, as before
    }
    Result<std::vector<int64_t>> due = std::vector<int64_t>();
    if (any) due = store_.DueWebhooks(owner_, clock_.NowMs(), kScanLimit);
    if (!due) Log()->warn("scan for due webhooks failed: {}", due.error().message);
    lock.lock();
    if (due) {
      for (int64_t id : *due) {
        if (taken_.insert(id).second) queue_.push_back(id);
      }
      if (!queue_.empty()) work_cv_.notify_all();
    }
    // Spaces nudged scans out; a stop still ends the wait at once.
    scan_cv_.wait_for(lock, kNudgeSpacing, [&] { return stopping_; });
  }
}

void Dispatcher::WorkLoop() {
  std::mt19937_64 random(std::random_device{}());
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const int64_t id = queue_.front();
    queue_.pop_front();
    lock.unlock();
    const bool more = DeliverTurn(id, random);
    lock.lock();
    taken_.erase(id);
    if (more) {
      nudged_ = true;
      scan_cv_.notify_one();
    }
  }
}

bool Dispatcher::DeliverTurn(int64_t id, std::mt19937_64& random) {
  // Held for a lease plus one POST's longest time, so a slow POST cannot
  // outlive the lease and let another node deliver the same entry meanwhile.
  const TimeMs hold = static_cast<TimeMs>(options_.lease_ms) + options_.timeout_ms;
  Result<std::optional<store::WebhookRecord>> leased =
      store_.LeaseWebhook(id, owner_, clock_.NowMs(), clock_.NowMs() + hold);
  if (!leased) {
    Log()->warn("webhook {}: lease failed: {}", id, leased.error().message);
    return false;
  }
  if (!leased->has_value()) return false;  // another node delivers it, or it is gone
  const store::WebhookRecord hook = std::move(**leased);

  Result<std::vector<Message>> entries =
      store_.History(hook.conv, std::nullopt, hook.cursor, std::max(1, options_.batch), UserId());
  if (!entries) {
    Log()->warn("webhook {}: reading conversation {} failed: {}", id, hook.conv.value,
                entries.error().message);
    (void)store_.ReleaseWebhook(id, owner_);
    return false;
  }
  if (serve_) serve_(*entries);

  client::OutboundOptions outbound;
  outbound.allow_private_addresses = options_.allow_private_addresses;
  outbound.timeout = std::chrono::milliseconds(options_.timeout_ms);
  outbound.max_response_bytes = static_cast<size_t>(options_.max_response_bytes);
  outbound.ca_file = options_.ca_file;

  bool delivered = false;  // this turn: a later failure is then the first since a success
  for (const Message& entry : *entries) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    client::OutboundRequest request;
    request.url = hook.url;
    request.body = DeliveryBody(hook.id, entry);
    const std::string timestamp = std::to_string(clock_.NowMs());
    request.headers = {{"X-Parley-Delivery", DeliveryId(hook.id, entry.seq)},
                       {"X-Parley-Timestamp", timestamp},
                       {"X-Parley-Signature", Signature(hook.secret, timestamp, request.body)}};
    if (observer_.on_attempt) observer_.on_attempt();
    const client::OutboundAnswer answer = client::OutboundPost(request, outbound);
    const TimeMs now = clock_.NowMs();
    if (answer.ok()) {
      Result<bool> moved = store_.AdvanceWebhook(id, owner_, entry.seq, now + hold);
      if (!moved || !*moved) {
        // Not ours any more (deleted, or the lease ran out and another node
        // took it): it goes on from the stored cursor, so stop here.
        if (!moved) Log()->warn("webhook {}: moving the cursor failed: {}", id, moved.error().message);
        return false;
      }
      delivered = true;
      if (observer_.on_delivered)
        observer_.on_delivered(static_cast<double>(std::max<TimeMs>(0, now - entry.ts)) / 1000.0);
      continue;
    }
    if (observer_.on_failure) observer_.on_failure();
    if (answer.status == 410) {
      Log()->info("webhook {} of conversation {}: the receiver answered 410; deleted", id, hook.conv.value);
      if (auto r = store_.DeleteWebhook(hook.conv, id); !r) {
        Log()->warn("webhook {}: delete after 410 failed: {}", id, r.error().message);
      }
      return false;
    }
    const int64_t attempts = delivered ? 1 : hook.attempts + 1;
    const TimeMs delay = RetryDelayMs(attempts, options_, random());
    Log()->info("webhook {}: delivery of seq {} failed ({}); attempt {} again in {} ms", id, entry.seq,
                answer.error.empty() ? "status " + std::to_string(answer.status) : answer.error, attempts,
                delay);
    if (auto r = store_.FailWebhook(id, owner_, now, now + delay); !r) {
      Log()->warn("webhook {}: recording the failure failed: {}", id, r.error().message);
    }
    return false;
  }
  (void)store_.ReleaseWebhook(id, owner_);
  return !entries->empty();
}

}  // namespace parley::webhooks
