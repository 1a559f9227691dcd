// The send rate of PROTOCOL.md §2 in a cluster: every node draws from one
// token bucket per user kept in Redis (SharedLimits), so N nodes together
// allow the configured rate and burst, not N times them.
//
// Sends are the hot path and are checked on the io thread, so a node does
// not ask Redis for every entry: it takes a lease of tokens and spends it
// locally. The lease starts at one token and doubles (up to kMaxLease)
// while the user spends each one whole within kLeaseMs, so a slow sender
// costs one round trip a message and a fast one one per kMaxLease; what is
// left of a lease when it expires is dropped, never given back, so the
// cluster never allows more than the bucket holds.
//
// When Redis does not answer, sends fail open to the node's own bucket (the
// per-node limit) and Redis is not asked again for kRetrySharedMs: a chat
// must not stop because Redis blipped, and the node's bucket still bounds
// any one connection.
#include <algorithm>

#include "chat/service.h"
#include "common/logging.h"

namespace parley::chat {
namespace {

constexpr int64_t kMaxLease = 16;        // tokens taken in one round trip, at most
constexpr TimeMs kLeaseMs = 1000;        // a lease not spent within this is dropped
constexpr TimeMs kRetrySharedMs = 1000;  // after the shared bucket failed to answer

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("limits");
  return log;
}

}  // namespace

std::optional<Result<void>> Service::TakeSharedToken(UserId sender) {
  if (d_.limits == nullptr) return std::nullopt;
  const TimeMs now = d_.clock.NowMs();
  if (now < shared_down_until_.load(std::memory_order_relaxed)) return std::nullopt;
  RateStripe& stripe = RateStripeOf(sender);
  int64_t want = 1;
  {
    std::lock_guard lock(stripe.mu);
    Lease& lease = stripe.leases[sender];
    if (lease.tokens > 0 && now < lease.expires) {
      --lease.tokens;
      return Result<void>(Ok());
    }
    // Spent whole before it expired: the user sends fast, take more at once.
    lease.want = lease.tokens == 0 && now < lease.expires ? std::min(lease.want * 2, kMaxLease) : 1;
    lease.tokens = 0;
    want = lease.want;
  }
  auto taken = d_.limits->TakeTokens("send:" + sender.ToString(), options_.send_rate_per_s,
                                     options_.send_burst, want, now);
  if (!taken) {
    if (shared_down_until_.exchange(now + kRetrySharedMs) <= now) {
      Log()->warn("shared send limits unavailable, counting on this node for {} ms: {}", kRetrySharedMs,
                  taken.error().message);
    }
    return std::nullopt;
  }
  if (taken->granted < 1) {
    Error e = MakeError(Errc::kRateLimited, "sending too fast");
    e.retry_after_ms = std::max<int64_t>(taken->retry_after_ms, 1);
    return Result<void>(e);
  }
  std::lock_guard lock(stripe.mu);
  Lease& lease = stripe.leases[sender];
  lease.tokens += taken->granted - 1;  // one is this entry's
  lease.expires = now + kLeaseMs;
  return Result<void>(Ok());
}

}  // namespace parley::chat
