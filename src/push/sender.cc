#include "push/sender.h"

#include <algorithm>
#include <charconv>

#include "client/outbound.h"
#include "common/logging.h"
#include "push/payload.h"
#include "push/web_push_crypto.h"

namespace parley::push {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("push");
  return log;
}

// Pending pushes one subscription may hold (one per conversation); beyond,
// new ones are dropped.
constexpr size_t kMaxPendingPerEndpoint = 64;
// A push that met 429 is tried again at most this many times.
constexpr int kMaxAttempts = 3;
// When a 429 names no usable Retry-After, and the longest wait honoured.
constexpr std::chrono::seconds kDefaultRetryAfter{30};
constexpr std::chrono::seconds kMaxRetryAfter{3600};
// The VAPID token's lifetime (RFC 8292 allows at most 24 hours).
constexpr std::chrono::hours kVapidLifetime{12};

// Retry-After as delta-seconds; an HTTP date (or nothing) waits the default.
std::chrono::seconds RetryAfter(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("retry-after");
  if (it == headers.end()) return kDefaultRetryAfter;
  int64_t s = 0;
  const std::string& v = it->second;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (ec != std::errc() || end != v.data() + v.size() || s < 0) return kDefaultRetryAfter;
  return std::min(std::chrono::seconds(s), kMaxRetryAfter);
}

bool Lets(NotifyLevel level, const Message& entry, UserId user) {
  switch (level) {
    case NotifyLevel::kAll:
      return true;
    case NotifyLevel::kMentions:
      return std::find(entry.mentions.begin(), entry.mentions.end(), user) != entry.mentions.end();
    case NotifyLevel::kNone:
      return false;
  }
  return false;
}

}  // namespace

Sender::Sender(store::Store& store, presence::PresenceRegistry& presence, const Vapid& vapid, Options options,
               Observer observer, const Clock& clock)
    : store_(store),
      presence_(presence),
      vapid_(vapid),
      options_(std::move(options)),
      observer_(std::move(observer)),
      clock_(clock) {}

Sender::~Sender() { Stop(); }

void Sender::Start() {
  int n = std::max(1, options_.threads);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Run(); });
}

void Sender::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Sender::Committed(const Message& entry) {
  if (entry.kind != EntryKind::kText || entry.deleted) return;
  if (!anyone_subscribed_.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (entries_.size() >= static_cast<size_t>(options_.queue_max)) {
      if (observer_.on_dropped) observer_.on_dropped();
      return;
    }
    entries_.push_back(Entry{entry, SteadyClock::now()});
  }
  cv_.notify_one();
}

void Sender::Subscribed() {
  std::lock_guard lock(mu_);
  ++subscribed_count_;
  anyone_subscribed_.store(true, std::memory_order_relaxed);
}

void Sender::Recheck() {
  uint64_t seen;
  {
    std::lock_guard lock(mu_);
    seen = subscribed_count_;
  }
  Result<bool> any = store_.AnyPushSubscriptions();
  if (!any) {
    // Not knowing, keep planning: a wasted read beats a missed push.
    Log()->warn("push: whether anyone has a subscription: {}", any.error().message);
    anyone_subscribed_.store(true, std::memory_order_relaxed);
    return;
  }
  std::lock_guard lock(mu_);
  if (*any || subscribed_count_ == seen) anyone_subscribed_.store(*any, std::memory_order_relaxed);
}

void Sender::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = SteadyClock::now();
    if (next_recheck_ <= now) {
      next_recheck_ = now + kRecheck;
      lock.unlock();
      Recheck();
      lock.lock();
      continue;
    }
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      ready_.push_back(delayed_.begin()->second);
      delayed_.erase(delayed_.begin());
    }
    // New entries first: planning is a store read, and a push planned late
    // is a push late for everyone.
    if (!entries_.empty()) {
      Entry entry = std::move(entries_.front());
      entries_.pop_front();
      lock.unlock();
      std::vector<Delivery> planned = Plan(entry);
      lock.lock();
      for (auto& d : planned) Schedule(std::move(d));
      continue;
    }
    if (!ready_.empty()) {
      std::string endpoint = std::move(ready_.front());
      ready_.pop_front();
      auto it = endpoints_.find(endpoint);
      if (it == endpoints_.end()) continue;
      EndpointState& state = it->second;
      state.scheduled = false;
      if (state.busy) continue;
      if (state.pending.empty()) {
        if (state.not_before <= now) endpoints_.erase(it);
        continue;
      }
      if (state.not_before > now) {
        Wake(endpoint, state);
        continue;
      }
      Delivery d = std::move(state.pending.begin()->second);
      state.pending.erase(state.pending.begin());
      state.busy = true;
      lock.unlock();
      Attempt attempt = Deliver(d);
      lock.lock();
      Finish(endpoint, std::move(d), attempt);
      continue;
    }
    auto until = next_recheck_;
    if (!delayed_.empty()) until = std::min(until, delayed_.begin()->first);
    cv_.wait_until(lock, until);
  }
}

std::vector<Sender::Delivery> Sender::Plan(const Entry& entry) {
  const Message& m = entry.message;
  if (observer_.on_planned) observer_.on_planned();
  auto audience = store_.GetPushAudience(m.conv, m.sender);
  if (!audience) {
    Log()->warn("push: who to push for conv {} seq {}: {}", m.conv.ToString(), m.seq,
                audience.error().message);
    return {};
  }
  std::vector<const store::PushRecipient*> wanted;
  std::vector<UserId> users;
  for (const auto& r : audience->recipients) {
    if (!Lets(r.level, m, r.user)) continue;
    wanted.push_back(&r);
    users.push_back(r.user);
  }
  if (users.empty()) return {};
  // Only members with no open WebSocket anywhere (every node's sessions:
  // the registry is the cluster's).
  std::vector<bool> online = presence_.Online(users);
  std::string payload = PayloadJson(m, *audience);
  std::vector<Delivery> out;
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (i < online.size() && online[i]) continue;
    for (const auto& s : wanted[i]->subscriptions)
      out.push_back(Delivery{s, m.conv, payload, entry.committed});
  }
  return out;
}

void Sender::Schedule(Delivery delivery) {
  std::string endpoint = delivery.subscription.endpoint;
  EndpointState& state = endpoints_[endpoint];
  const int64_t conv = delivery.conv.value;
  if (auto it = state.pending.find(conv); it != state.pending.end()) {
    it->second = std::move(delivery);
    if (observer_.on_coalesced) observer_.on_coalesced();
  } else if (state.pending.size() >= kMaxPendingPerEndpoint) {
    if (observer_.on_dropped) observer_.on_dropped();
    return;
  } else {
    state.pending.emplace(conv, std::move(delivery));
  }
  if (!state.busy && !state.scheduled) Wake(endpoint, state);
}

void Sender::Wake(const std::string& endpoint, EndpointState& state) {
  state.scheduled = true;
  if (state.not_before <= SteadyClock::now()) {
    ready_.push_back(endpoint);
    cv_.notify_one();
  } else {
    delayed_.emplace(state.not_before, endpoint);
    cv_.notify_one();  // a waiting worker may need an earlier wake-up
  }
}

void Sender::Finish(const std::string& endpoint, Delivery delivery, Attempt attempt) {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) return;
  EndpointState& state = it->second;
  state.busy = false;
  switch (attempt.outcome) {
    case Outcome::kDelivered:
    case Outcome::kFailed:
      break;
    case Outcome::kGone:
      endpoints_.erase(it);
      return;
    case Outcome::kRetryLater:
      state.not_before = SteadyClock::now() + attempt.retry_after;
      // The push waits its turn again unless a newer one of its
      // conversation has replaced it meanwhile.
      if (delivery.attempts < kMaxAttempts)
        state.pending.try_emplace(delivery.conv.value, std::move(delivery));
      break;
  }
  if (!state.pending.empty()) {
    if (!state.scheduled) Wake(endpoint, state);
  } else if (state.not_before <= SteadyClock::now() && !state.scheduled) {
    endpoints_.erase(it);
  }
}

Sender::Attempt Sender::Deliver(Delivery& d) {
  ++d.attempts;
  if (observer_.on_attempt) observer_.on_attempt();
  auto fail = [&](const std::string& why) {
    if (observer_.on_failure) observer_.on_failure();
    Log()->info("push to {}: {}", d.subscription.endpoint, why);
    return Attempt{Outcome::kFailed, {}};
  };
  auto remove = [&](const std::string& why) {
    if (observer_.on_failure) observer_.on_failure();
    auto removed = store_.DeletePushSubscription(d.subscription.user, d.subscription.endpoint);
    if (!removed) {
      Log()->warn("push: removing subscription {}: {}", d.subscription.endpoint, removed.error().message);
    } else if (*removed && observer_.on_removed) {
      observer_.on_removed();
    }
    Log()->info("push subscription {} removed: {}", d.subscription.endpoint, why);
    return Attempt{Outcome::kGone, {}};
  };

  auto receiver = ParseReceiverKeys(d.subscription.p256dh, d.subscription.auth);
  if (!receiver) return remove(receiver.error().message);
  auto body = Encrypt(d.payload, *receiver);
  if (!body) return fail(body.error().message);
  auto origin = EndpointOrigin(d.subscription.endpoint);
  if (!origin) return remove(origin.error().message);
  auto authorization =
      VapidAuthorization(*vapid_.key, *origin, vapid_.subject, clock_.NowMs(), kVapidLifetime);
  if (!authorization) return fail(authorization.error().message);

  client::OutboundRequest request;
  request.url = d.subscription.endpoint;
  request.content_type = "application/octet-stream";
  request.headers = {{"Content-Encoding", "aes128gcm"},
                     {"TTL", std::to_string(options_.ttl_s)},
                     {"Urgency", "high"},
                     {"Authorization", std::move(authorization).value()}};
  request.body = std::move(body).value();
  client::OutboundOptions options;
  options.allow_private_addresses = options_.allow_private_addresses;
  options.timeout = std::chrono::milliseconds(options_.timeout_ms);
  options.max_response_bytes = 4096;
  options.ca_file = options_.ca_file;
  client::OutboundAnswer answer = client::OutboundPost(request, options);

  if (answer.status >= 200 && answer.status < 300) {
    if (observer_.on_delivered)
      observer_.on_delivered(std::chrono::duration<double>(SteadyClock::now() - d.committed).count());
    return Attempt{Outcome::kDelivered, {}};
  }
  if (answer.status == 404 || answer.status == 410)
    return remove("the push service answered " + std::to_string(answer.status));
  if (answer.refused) return remove("its address is not allowed: " + answer.error);
  if (answer.status == 429) {
    if (observer_.on_failure) observer_.on_failure();
    return Attempt{Outcome::kRetryLater, RetryAfter(answer.headers)};
  }
  if (answer.status == 0) return fail(answer.error);
  return fail("the push service answered " + std::to_string(answer.status));
}

}  // namespace parley::push
