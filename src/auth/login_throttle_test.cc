#include "auth/login_throttle.h"

#include <gtest/gtest.h>

namespace parley::auth {
namespace {

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

}  // namespace
}  // namespace parley::auth
