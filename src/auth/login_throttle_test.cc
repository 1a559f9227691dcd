#include "auth/login_throttle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

namespace parley::auth {
namespace {

// SharedLimits as Redis keeps the throttle's counts (scripts.h kFailures),
// in memory: what several nodes' throttles share. `down` makes every call
// fail, as when Redis does not answer.
class FakeShared final : public SharedLimits {
 public:
  Result<Tokens> TakeTokens(std::string_view, double, int64_t, int64_t, TimeMs) override {
    return MakeError(Errc::kUnavailable, "not used here");
  }
  Result<int64_t> Failures(std::span<const Window> keys, int64_t window_ms, TimeMs now, bool add) override {
    if (down) return MakeError(Errc::kUnavailable, "down");
    int64_t wait = 0;
    for (const Window& w : keys) {
      std::vector<TimeMs>& times = failures[w.key];
      if (add) times.push_back(now);
      std::erase_if(times, [&](TimeMs t) { return t <= now - window_ms; });
      if (times.size() > static_cast<size_t>(w.max)) times.erase(times.begin(), times.end() - w.max);
      if (times.size() >= static_cast<size_t>(w.max)) wait = std::max(wait, times.front() + window_ms - now);
    }
    return wait;
  }
  Result<void> ClearFailures(std::string_view key) override {
    if (down) return MakeError(Errc::kUnavailable, "down");
    failures.erase(std::string(key));
    return Ok();
  }

  bool down = false;
  std::map<std::string, std::vector<TimeMs>> failures;
};

class LoginThrottleTest : public ::testing::Test {
 protected:
  ManualClock clock_{1'000'000};
};

TEST_F(LoginThrottleTest, AnAddressIsRefusedAfterItsLimitUntilTheOldestFailureLeavesTheWindow) {
  LoginThrottle t({.window_ms = 10'000, .max_per_account = 100, .max_per_address = 3, .max_entries = 100},
                  clock_);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.RetryAfterMs("alice", "10.0.0.1"), 0) << i;
    t.Failed("alice", "10.0.0.1");
    clock_.Advance(1000);
  }
  // Failures at 0, 1 s and 2 s; now 3 s: the first leaves the window at 10 s.
  EXPECT_EQ(t.RetryAfterMs("alice", "10.0.0.1"), 7000);
  EXPECT_EQ(t.RetryAfterMs("bob", "10.0.0.1"), 7000) << "per address, whatever the account";
  EXPECT_EQ(t.RetryAfterMs("alice", "10.0.0.2"), 0) << "the account is under its own limit";
  clock_.Advance(7000);
  EXPECT_EQ(t.RetryAfterMs("alice", "10.0.0.1"), 0) << "sliding: one failure left the window";
  t.Failed("alice", "10.0.0.1");
  EXPECT_EQ(t.RetryAfterMs("alice", "10.0.0.1"), 1000) << "the next oldest (at 1 s) leaves at 11 s";
}

TEST_F(LoginThrottleTest, AnAccountIsRefusedFromEveryAddressAndASuccessClearsIt) {
  LoginThrottle t({.window_ms = 60'000, .max_per_account = 4, .max_per_address = 100, .max_entries = 100},
                  clock_);
  for (int i = 0; i < 4; ++i) t.Failed("alice", "10.0.0." + std::to_string(i));
  EXPECT_EQ(t.RetryAfterMs("alice", "192.168.1.1"), 60'000);
  EXPECT_EQ(t.RetryAfterMs("bob", "10.0.0.1"), 0);
  t.Succeeded("alice");
  EXPECT_EQ(t.RetryAfterMs("alice", "192.168.1.1"), 0);
}

TEST_F(LoginThrottleTest, ASuccessDoesNotClearTheAddress) {
  LoginThrottle t({.window_ms = 60'000, .max_per_account = 100, .max_per_address = 2, .max_entries = 100},
                  clock_);
  t.Failed("victim", "10.9.9.9");
  t.Failed("victim", "10.9.9.9");
  t.Succeeded("attacker");
  EXPECT_GT(t.RetryAfterMs("victim", "10.9.9.9"), 0);
}

TEST_F(LoginThrottleTest, ZeroDisablesACountAndEmptyKeysAreNotCounted) {
  LoginThrottle t({.window_ms = 60'000, .max_per_account = 0, .max_per_address = 1, .max_entries = 100},
                  clock_);
  t.Failed("alice", "");
  t.Failed("alice", "");
  EXPECT_EQ(t.RetryAfterMs("alice", ""), 0);
  EXPECT_EQ(t.size(), 0u);
}

TEST_F(LoginThrottleTest, MemoryIsBoundedByTheCapAndExpiry) {
  LoginThrottle t({.window_ms = 1000, .max_per_account = 5, .max_per_address = 5, .max_entries = 50}, clock_);
  for (int i = 0; i < 10'000; ++i)
    t.Failed("user" + std::to_string(i), "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  EXPECT_EQ(t.size(), 100u) << "at most max_entries per table";
  // The most recent keys are the ones kept.
  t.Failed("user9999", "x");
  clock_.Advance(1000);
  t.Failed("fresh", "10.2.0.1");
  EXPECT_EQ(t.size(), 2u) << "keys whose newest failure left the window are dropped";
}

TEST(AddressKeyTest, Ipv6CountsPerSlash64AndMappedIpv4AsIpv4) {
  EXPECT_EQ(AddressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(AddressKey("2001:db8:1:2::1"), AddressKey("2001:db8:1:2:ffff::9"));
  EXPECT_NE(AddressKey("2001:db8:1:2::1"), AddressKey("2001:db8:1:3::1"));
  EXPECT_EQ(AddressKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(AddressKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(AddressKey("not-an-ip"), "not-an-ip");
}

TEST(ResolveClientAddressTest, ForwardedForIsBelievedOnlyFromATrustedProxy) {
  const std::vector<std::string> proxies = {"127.0.0.1", "10.0.0.5"};
  EXPECT_EQ(ResolveClientAddress("127.0.0.1", "", proxies), "127.0.0.1");
  EXPECT_EQ(ResolveClientAddress("127.0.0.1", "203.0.113.9", proxies), "203.0.113.9");
  EXPECT_EQ(ResolveClientAddress("198.51.100.1", "203.0.113.9", proxies), "198.51.100.1")
      << "an untrusted peer's header is ignored";
  EXPECT_EQ(ResolveClientAddress("127.0.0.1", "203.0.113.9", {}), "127.0.0.1") << "nothing trusted";
  // The client wrote a fake entry first; our proxies appended the real one
  // and themselves.
  EXPECT_EQ(ResolveClientAddress("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.5", proxies), "203.0.113.9");
  EXPECT_EQ(ResolveClientAddress("127.0.0.1", "203.0.113.9, garbage", proxies), "127.0.0.1");
  EXPECT_EQ(ResolveClientAddress("127.0.0.1", " 2001:db8::1 ", proxies), "2001:db8::1");
}

// In a cluster the nodes' throttles share their counts: two nodes together
// allow the limit, not twice it; a success on either clears the account.
TEST_F(LoginThrottleTest, NodesSharingCountsAllowTheLimitOnceBetweenThem) {
  FakeShared shared;
  const ThrottleOptions options{
      .window_ms = 10'000, .max_per_account = 4, .max_per_address = 100, .max_entries = 100};
  LoginThrottle node1(options, clock_, &shared);
  LoginThrottle node2(options, clock_, &shared);
  node1.Failed("alice", "10.0.0.1");
  node2.Failed("alice", "10.0.0.2");
  node1.Failed("alice", "10.0.0.3");
  EXPECT_EQ(node2.RetryAfterMs("alice", "10.0.0.4"), 0);
  node2.Failed("alice", "10.0.0.4");
  EXPECT_EQ(node1.RetryAfterMs("alice", "10.0.0.5"), 10'000) << "4 failures in all, 2 on each node";
  EXPECT_EQ(node2.RetryAfterMs("alice", "10.0.0.5"), 10'000);
  node1.Succeeded("alice");
  EXPECT_EQ(node2.RetryAfterMs("alice", "10.0.0.5"), 0);
}

// When the shared counts do not answer, each node decides by its own count:
// neither open (no limit) nor closed (no login).
TEST_F(LoginThrottleTest, UnansweredSharedCountsFallBackToTheNodesOwn) {
  FakeShared shared;
  LoginThrottle t({.window_ms = 10'000, .max_per_account = 2, .max_per_address = 100, .max_entries = 100},
                  clock_, &shared);
  shared.down = true;
  EXPECT_EQ(t.RetryAfterMs("alice", "10.0.0.1"), 0) << "not closed";
  t.Failed("alice", "10.0.0.1");
  t.Failed("alice", "10.0.0.1");
  EXPECT_EQ(t.RetryAfterMs("alice", "10.0.0.1"), 10'000) << "not open: this node counted";
  shared.down = false;
  EXPECT_EQ(t.RetryAfterMs("bob", "10.0.0.1"), 0);
}

}  // namespace
}  // namespace parley::auth
