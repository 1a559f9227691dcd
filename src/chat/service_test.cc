// chat::Service and the sequencer together, without sockets: real SQLite
// store in a temp dir, embedded log and presence, and a sink that records
// what fan-out would deliver. The sequencer is driven by hand (RunOnce).
#include "chat/service.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "chat/service_fixture.h"
#include "common/mentions.h"
#include "store/recent_entries.h"

namespace parley::chat {
namespace {
namespace json = boost::json;
using fanout::Event;

class ServiceTest : public ServiceFixture {
 protected:
  void SetUp() override {
    Options o;
    o.send_burst = 5;
    o.send_rate_per_s = 10;
    o.resume_limit = 3;
    StartService(sink_, o);
  }

  log::Origin Origin(int64_t re) { return log::Origin{1, 0, 77, re}; }
  Result<void> Send(UserId u, ConversationId c, std::string cmid, std::string body = "hi", int64_t re = 1) {
    return service_->Send(u, protocol::SendReq{c, std::move(cmid), std::move(body)}, Origin(re));
  }

  // The §5 requests, answered like a send (re defaults to 1).
  Result<void> Edit(UserId u, ConversationId c, int64_t seq, std::string cmid, std::string body,
                    int64_t re = 1) {
    return service_->Edit(u, protocol::EditReq{c, seq, std::move(body), std::move(cmid)}, Origin(re));
  }
  Result<void> Delete(UserId u, ConversationId c, int64_t seq, std::string cmid, int64_t re = 1) {
    return service_->Delete(u, protocol::DeleteReq{c, seq, std::move(cmid)}, Origin(re));
  }
  Result<void> React(UserId u, ConversationId c, int64_t seq, std::string cmid, std::string emoji,
                     ReactionOp op = ReactionOp::kAdd, int64_t re = 1) {
    return service_->React(u, protocol::ReactReq{c, seq, std::move(emoji), op, std::move(cmid)}, Origin(re));
  }
  // The one entry at `seq` as `viewer` reads it.
  Message At(UserId viewer, ConversationId c, int64_t seq) {
    auto page = service_->History(viewer, c, seq + 1, seq - 1, 1);
    EXPECT_TRUE(page && page->size() == 1);
    return page && page->size() == 1 ? page->front() : Message();
  }
  // A refused request: after the commit, `origin` alone hears `code` (with
  // its re), no `message` event goes out and no seq is used.
  void ExpectRefusedAtCommit(ConversationId conv, UserId viewer, int64_t re, std::string_view code) {
    auto last_seq = [&] {
      // Held by name: a range-for over `*Result` would iterate a temporary
      // that is gone before the loop runs (C++20).
      auto convs = service_->Conversations(viewer);
      if (!convs) return int64_t{-2};
      for (const Conversation& c : *convs) {
        if (c.id == conv) return c.last_seq;
      }
      return int64_t{-1};
    };
    const int64_t last_before = last_seq();
    sink_.events.clear();
    Drain();
    auto errors = sink_.Frames("error");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0]["re"], re);
    EXPECT_EQ(errors[0]["code"], json::value(code));
    EXPECT_TRUE(sink_.Frames("message").empty()) << "nobody else notices";
    EXPECT_TRUE(sink_.Frames("sent").empty());
    EXPECT_EQ(last_seq(), last_before);
  }

  RecordingSink sink_;
};

TEST_F(ServiceTest, SendIsAcknowledgedOnlyAfterCommitWithGaplessSeqs) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(dm);
  sink_.events.clear();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Send(a.user.id, dm->id, "c" + std::to_string(i), "m", 10 + i));
  EXPECT_TRUE(sink_.Frames("sent").empty()) << "no ack before the sequencer commits";
  Drain();
  auto sent = sink_.Frames("sent");
  auto msgs = sink_.Frames("message");
  ASSERT_EQ(sent.size(), 3u);
  ASSERT_EQ(msgs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sent[i]["seq"], i + 1);
    EXPECT_EQ(sent[i]["re"], 10 + i);
    EXPECT_EQ(sent[i]["ts"], msgs[i]["ts"]);
    EXPECT_EQ(sent[i]["id"], msgs[i]["id"]);
  }
  auto history = service_->History(b.user.id, dm->id, std::nullopt, std::nullopt, 50);
  ASSERT_TRUE(history);
  EXPECT_EQ(history->size(), 3u);
}

TEST_F(ServiceTest, RepeatedClientMsgIdStoresOnceAndAnswersTheSame) {
  auto a = Register("alice");
  Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "same", "one"));
  Drain();
  ASSERT_TRUE(Send(a.user.id, dm->id, "same", "one again"));
  Drain();
  auto sent = sink_.Frames("sent");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0]["seq"], sent[1]["seq"]);
  EXPECT_EQ(sent[0]["id"], sent[1]["id"]);
  EXPECT_EQ(sent[0]["ts"], sent[1]["ts"]);
  EXPECT_EQ(sink_.Frames("message").size(), 1u) << "a duplicate publishes no second message event";
}

TEST_F(ServiceTest, RejectedSendUsesUpNoSeq) {
  auto a = Register("alice"), c = Register("carol");
  Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(c.user.id, dm->id, "intruder"));
  ASSERT_TRUE(Send(a.user.id, ConversationId(999), "nowhere"));
  Drain();
  auto errors = sink_.Frames("error");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0]["code"], "forbidden");
  EXPECT_EQ(errors[1]["code"], "not_found");
  ASSERT_TRUE(Send(a.user.id, dm->id, "first"));
  Drain();
  EXPECT_EQ(sink_.Frames("sent").at(0)["seq"], 1);
}

// A token bucket as Redis keeps it (presence/redis/scripts.h kTakeTokens),
// in memory: what several nodes' services share. `down` fails every call.
class FakeSharedBuckets final : public SharedLimits {
 public:
  Result<Tokens> TakeTokens(std::string_view key, double rate_per_s, int64_t burst, int64_t want,
                            TimeMs now) override {
    ++calls;
    if (down) return MakeError(Errc::kUnavailable, "down");
    auto [it, fresh] = buckets.try_emplace(std::string(key), Bucket{double(burst), now});
    Bucket& b = it->second;
    if (now > b.ts) {
      b.tokens = std::min<double>(burst, b.tokens + (now - b.ts) * rate_per_s / 1000);
      b.ts = now;
    }
    const int64_t granted = std::clamp<int64_t>(static_cast<int64_t>(b.tokens), 0, want);
    b.tokens -= granted;
    return Tokens{granted, granted ? 0 : static_cast<int64_t>(std::ceil((1 - b.tokens) * 1000 / rate_per_s))};
  }
  Result<int64_t> Failures(std::span<const Window>, int64_t, TimeMs, bool) override { return int64_t{0}; }
  Result<void> ClearFailures(std::string_view) override { return Ok(); }

  struct Bucket {
    double tokens = 0;
    TimeMs ts = 0;
  };
  std::map<std::string, Bucket> buckets;
  bool down = false;
  int calls = 0;
};

// In a cluster, two nodes' services draw on one bucket per user: together
// they allow the burst once, not twice; leases cut the round trips of a
// fast sender; an unanswered bucket fails open to the node's own.
TEST_F(ServiceTest, SharedSendBucketHoldsAcrossNodes) {
  auto a = Register("alice");
  Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(dm);
  FakeSharedBuckets shared;
  Options o;
  o.send_burst = 40;
  o.send_rate_per_s = 10;
  Deps deps = FixtureDeps();
  deps.limits = &shared;  // both nodes count in the same buckets
  Service node1(deps, o);
  Service node2(deps, o);
  auto send = [&](Service& node, int i) {
    return node.Send(a.user.id, protocol::SendReq{dm->id, "s" + std::to_string(i), "hi"}, Origin(i));
  };
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += send(i % 2 == 0 ? node1 : node2, i) ? 1 : 0;
  EXPECT_LE(accepted, 40) << "two nodes allowed more than one burst";
  EXPECT_GE(accepted, 40 - 2 * 16) << "at most a lease per node is left unspent";
  EXPECT_LT(shared.calls, 100) << "leases: fewer round trips than sends";
  auto limited = send(node1, 100);
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().code, Errc::kRateLimited);
  EXPECT_GT(limited.error().retry_after_ms, 0);

  // Redis away: each node's own bucket decides (full here: 40 more each).
  clock_.Advance(2000);
  shared.down = true;
  int open = 0;
  for (int i = 0; i < 50; ++i) open += send(node1, 200 + i) ? 1 : 0;
  EXPECT_EQ(open, 40);
  Drain();
}

TEST_F(ServiceTest, BodyRulesAndRateLimit) {
  auto a = Register("alice");
  Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  EXPECT_EQ(Send(a.user.id, dm->id, "e", "").error().code, Errc::kBadRequest);
  EXPECT_EQ(Send(a.user.id, dm->id, "big", std::string(4097, 'x')).error().code, Errc::kTooLarge);
  EXPECT_EQ(Send(a.user.id, dm->id, "utf", "\xC3\x28").error().code, Errc::kBadRequest);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Send(a.user.id, dm->id, "r" + std::to_string(i)));
  auto limited = Send(a.user.id, dm->id, "r5");
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().code, Errc::kRateLimited);
  EXPECT_GT(limited.error().retry_after_ms, 0);
  clock_.Advance(limited.error().retry_after_ms);
  EXPECT_TRUE(Send(a.user.id, dm->id, "r6"));
}

TEST_F(ServiceTest, TypingGoesToOthersAtMostEveryThreeSeconds) {
  auto a = Register("alice");
  Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  sink_.events.clear();
  service_->Typing(a.user.id, dm->id);
  service_->Typing(a.user.id, dm->id);
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].exclude, a.user.id);
  clock_.Advance(3000);
  service_->Typing(a.user.id, dm->id);
  EXPECT_EQ(sink_.events.size(), 2u);
}

TEST_F(ServiceTest, ResumeSendsAGapPastTheLimitThenTheNewest) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(Send(a.user.id, dm->id, "m" + std::to_string(i)));
    clock_.Advance(1000);
  }
  Drain();
  protocol::HelloReq hello{"", {{dm->id, 2}}, false};
  auto plan = service_->Resume(b.user.id, hello, {});
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->conversations.size(), 1u);
  const auto& c = plan->conversations[0];
  ASSERT_TRUE(c.gap);
  EXPECT_EQ(c.gap->first, 3);
  EXPECT_EQ(c.gap->second, 5);
  EXPECT_EQ(c.after, 5);
  EXPECT_EQ(c.upto, 8);
  auto page = service_->ResumePage(b.user.id, c.conv, c.after, c.upto, 2);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ(page->front().seq, 6);
  EXPECT_EQ(page->back().seq, 7);
  page = service_->ResumePage(b.user.id, c.conv, 7, c.upto, 500);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front().seq, 8);

  auto unnamed = service_->Resume(b.user.id, protocol::HelloReq{}, {});
  EXPECT_TRUE(unnamed->conversations.empty()) << "unnamed conversations only get the summary";
  auto all = service_->Resume(b.user.id, protocol::HelloReq{"", {}, true}, {});
  ASSERT_EQ(all->conversations.size(), 1u);
  EXPECT_EQ(all->conversations[0].after, 5);
  EXPECT_EQ(all->conversations[0].upto, 8);
}

TEST_F(ServiceTest, ConnectNamesTheContactsAndResumeWhoOfThemIsOnline) {
  auto a = Register("alice"), b = Register("bob"), c = Register("carol");
  ASSERT_TRUE(service_->OpenDm(a.user.id, "bob"));
  ASSERT_TRUE(service_->OpenDm(a.user.id, "carol"));
  ASSERT_TRUE(service_->Connect(b.user.id, {1, 1}));
  auto alice = service_->Connect(a.user.id, {1, 2});
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->user.id, a.user.id);
  EXPECT_TRUE(alice->user.online);
  EXPECT_EQ(alice->conversations.size(), 2u);
  std::vector<UserId> contacts = alice->contacts;
  std::sort(contacts.begin(), contacts.end());
  EXPECT_EQ(contacts, (std::vector<UserId>{b.user.id, c.user.id}));
  auto plan = service_->Resume(a.user.id, protocol::HelloReq{}, alice->contacts);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->online.size(), 1u) << "bob is online, carol is not";
  EXPECT_EQ(plan->online[0].user, b.user.id);
}

TEST_F(ServiceTest, PresenceOnlineOnceOfflineWithLastSeenOnLastClose) {
  auto a = Register("alice"), b = Register("bob");
  ASSERT_TRUE(service_->OpenDm(a.user.id, "bob"));
  sink_.events.clear();
  ASSERT_TRUE(service_->Connect(a.user.id, {1, 1}));
  ASSERT_TRUE(service_->Connect(a.user.id, {1, 2}));
  auto online = sink_.Frames("presence");
  ASSERT_EQ(online.size(), 1u) << "a second connection sends no second online";
  EXPECT_EQ(online[0]["online"], true);
  EXPECT_EQ(sink_.events.back().users, std::vector<UserId>{b.user.id});
  service_->Disconnect(a.user.id, {1, 1});
  EXPECT_EQ(sink_.Frames("presence").size(), 1u);
  clock_.Advance(5000);
  service_->Disconnect(a.user.id, {1, 2});
  auto all = sink_.Frames("presence");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["online"], false);
  EXPECT_EQ(all[1]["last_seen"], clock_.NowMs());
  auto seen = service_->GetUser(b.user.id, "alice");
  EXPECT_FALSE(seen->online);
  EXPECT_EQ(seen->last_seen, clock_.NowMs());
}

// An abrupt end (no closing handshake) leaves the user online for the
// grace: back within it, their contact hears nothing at all; gone for good,
// the offline comes when the grace is over, with last_seen at the end.
TEST_F(ServiceTest, AbruptCloseLingersForTheGraceThenGoesOffline) {
  auto a = Register("alice"), b = Register("bob");
  ASSERT_TRUE(service_->OpenDm(a.user.id, "bob"));
  ASSERT_TRUE(service_->Connect(a.user.id, {1, 1}));
  sink_.events.clear();

  // Back within the grace: no offline, no second online.
  service_->Disconnect(a.user.id, {1, 1}, /*abrupt=*/true);
  clock_.Advance(Options{}.offline_grace_ms - 1);
  service_->FlushLingering();
  EXPECT_TRUE(sink_.Frames("presence").empty()) << "offline before the grace was over";
  EXPECT_TRUE(service_->GetUser(b.user.id, "alice")->online) << "a lingering session counts as online";
  ASSERT_TRUE(service_->Connect(a.user.id, {1, 2}));
  clock_.Advance(Options{}.offline_grace_ms * 2);
  service_->FlushLingering();
  EXPECT_TRUE(sink_.Frames("presence").empty()) << "a reconnect within the grace flapped presence";
  EXPECT_TRUE(service_->GetUser(b.user.id, "alice")->online);

  // Gone for good: offline once the grace is over, last_seen at the end.
  const TimeMs ended = clock_.NowMs();
  service_->Disconnect(a.user.id, {1, 2}, /*abrupt=*/true);
  clock_.Advance(Options{}.offline_grace_ms);
  service_->FlushLingering();
  auto offline = sink_.Frames("presence");
  ASSERT_EQ(offline.size(), 1u);
  EXPECT_EQ(offline[0]["online"], false);
  EXPECT_EQ(offline[0]["last_seen"], ended);
  auto seen = service_->GetUser(b.user.id, "alice");
  EXPECT_FALSE(seen->online);
  EXPECT_EQ(seen->last_seen, ended);
  service_->FlushLingering(/*all=*/true);
  EXPECT_EQ(sink_.Frames("presence").size(), 1u) << "offline said twice";
}

// A shutdown says offline for whoever still lingers, and a user who is
// online again by then (another node, or a race with the flush) stays so.
TEST_F(ServiceTest, FlushingAllSendsOfflineOnlyForThoseStillGone) {
  auto a = Register("alice"), b = Register("bob"), c = Register("carol");
  ASSERT_TRUE(service_->OpenDm(a.user.id, "carol"));
  ASSERT_TRUE(service_->OpenDm(b.user.id, "carol"));
  ASSERT_TRUE(service_->Connect(a.user.id, {1, 1}));
  ASSERT_TRUE(service_->Connect(b.user.id, {1, 2}));
  service_->Disconnect(a.user.id, {1, 1}, /*abrupt=*/true);
  service_->Disconnect(b.user.id, {1, 2}, /*abrupt=*/true);
  // b comes back on another node: the registry has a session, this node's
  // service saw no Connect (and it is not b's first: the lingering one
  // still counts).
  EXPECT_FALSE(registry_->AddSession(b.user.id, {2, 1}));
  sink_.events.clear();
  service_->FlushLingering(/*all=*/true);
  auto offline = sink_.Frames("presence");
  ASSERT_EQ(offline.size(), 1u);
  EXPECT_EQ(offline[0]["user"], boost::json::value(std::to_string(a.user.id.value)));
  EXPECT_EQ(offline[0]["online"], false);
}

// A clean close with a grace configured: offline at once (PROTOCOL.md §3).
TEST_F(ServiceTest, CleanCloseGoesOfflineAtOnceDespiteTheGrace) {
  auto a = Register("alice"), b = Register("bob");
  ASSERT_TRUE(service_->OpenDm(a.user.id, "bob"));
  ASSERT_TRUE(service_->Connect(a.user.id, {1, 1}));
  sink_.events.clear();
  service_->Disconnect(a.user.id, {1, 1});
  auto offline = sink_.Frames("presence");
  ASSERT_EQ(offline.size(), 1u);
  EXPECT_EQ(offline[0]["online"], false);
}

// Closes that race each other: whoever writes takes the users the others
// left behind, and none is lost between two writes.
TEST_F(ServiceTest, LastSeenOfClosesThatRaceIsStoredForEveryone) {
  constexpr int kUsers = 8;
  std::vector<UserId> users;
  for (int i = 0; i < kUsers; ++i) {
    users.push_back(Register("user" + std::to_string(i)).user.id);
    ASSERT_TRUE(service_->Connect(users.back(), {1, static_cast<uint64_t>(i + 1)}));
  }
  clock_.Advance(5000);
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> ready{0};
    std::vector<std::thread> closes;
    for (int i = 0; i < kUsers; ++i) {
      closes.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < kUsers) std::this_thread::yield();
        service_->Disconnect(users[i], {1, static_cast<uint64_t>(i + 1)});
      });
    }
    for (auto& t : closes) t.join();
    auto stored = store_->FindUsersByIds(users);
    ASSERT_TRUE(stored);
    ASSERT_EQ(stored->size(), users.size());
    for (const User& u : *stored) EXPECT_EQ(u.last_seen, std::optional<TimeMs>(clock_.NowMs())) << u.username;
    clock_.Advance(1000);
    for (int i = 0; i < kUsers; ++i)
      ASSERT_TRUE(service_->Connect(users[i], {1, static_cast<uint64_t>(i + 1)}));
  }
}

TEST_F(ServiceTest, LoginFailuresLookTheSame) {
  Register("alice");
  auto unknown = service_->Login("nobody", "password1");
  auto wrong = service_->Login("alice", "password2");
  ASSERT_FALSE(unknown);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(unknown.error().code, Errc::kUnauthorized);
  EXPECT_EQ(unknown.error().message, wrong.error().message);
  EXPECT_TRUE(service_->Login("ALICE", "password1"));
}

TEST_F(ServiceTest, RefreshTokensRotateAndAreSingleUse) {
  auto a = Register("alice");
  auto next = service_->Refresh(a.refresh_token);
  ASSERT_TRUE(next);
  EXPECT_NE(next->refresh_token, a.refresh_token);
  auto newest = service_->Refresh(next->refresh_token);
  ASSERT_TRUE(newest);
  // Presenting a rotated token again is a replay: the whole family dies,
  // the newest token with it.
  EXPECT_EQ(service_->Refresh(a.refresh_token).error().code, Errc::kUnauthorized);
  EXPECT_EQ(service_->Refresh(newest->refresh_token).error().code, Errc::kUnauthorized);
}

TEST_F(ServiceTest, LogoutRevokesOneFamily) {
  auto a = Register("alice");
  auto other = service_->Login("alice", "password1");
  ASSERT_TRUE(other);
  ASSERT_TRUE(service_->Logout(a.refresh_token));
  EXPECT_EQ(service_->Refresh(a.refresh_token).error().code, Errc::kUnauthorized);
  EXPECT_TRUE(service_->Refresh(other->refresh_token));
  EXPECT_TRUE(service_->Logout("never-issued"));
}

TEST_F(ServiceTest, LoginIsThrottledPerAddressThenPerAccount) {
  Register("alice");
  // Default: 20 failures per address, 50 per account, in 15 minutes.
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(service_->Login("alice", "wrong-pass", "10.0.0.1").error().code, Errc::kUnauthorized) << i;
  auto limited = service_->Login("alice", "password1", "10.0.0.1");
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().code, Errc::kRateLimited);
  EXPECT_EQ(limited.error().retry_after_ms, 15 * 60 * 1000);
  EXPECT_TRUE(service_->Login("ALICE", "password1", "10.0.0.2")) << "another address gets in";
  clock_.Advance(15 * 60 * 1000);
  EXPECT_TRUE(service_->Login("alice", "password1", "10.0.0.1")) << "the window slid past";
}

TEST_F(ServiceTest, PasswordChangeRevokesOlderAccessTokens) {
  auto a = Register("alice");
  ASSERT_TRUE(service_->Authenticate(a.access_token));
  EXPECT_EQ(service_->ChangePassword(a.user.id, "not-it-at-all", "password2").error().code, Errc::kForbidden);
  EXPECT_EQ(service_->ChangePassword(a.user.id, "password1", "short").error().code, Errc::kBadRequest);
  auto fresh = service_->ChangePassword(a.user.id, "password1", "password2");
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(service_->Authenticate(a.access_token).error().code, Errc::kUnauthorized);
  auto fast = service_->TryAuthenticate(a.access_token);
  ASSERT_TRUE(fast.has_value()) << "the state is cached: answered on the io thread";
  EXPECT_FALSE(*fast);
  EXPECT_TRUE(service_->Authenticate(fresh->access_token));
  EXPECT_EQ(service_->Refresh(a.refresh_token).error().code, Errc::kUnauthorized);
  EXPECT_EQ(service_->Login("alice", "password1").error().code, Errc::kUnauthorized);
  EXPECT_TRUE(service_->Login("alice", "password2"));
}

TEST_F(ServiceTest, DeletedAccountIsRefusedEverywhere) {
  auto a = Register("alice"), b = Register("bob");
  auto g = service_->CreateGroup(b.user.id, "team", {"alice"});
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(g && dm);
  EXPECT_EQ(service_->DeleteAccount(a.user.id, "wrong-pass").error().code, Errc::kForbidden);
  ASSERT_TRUE(service_->DeleteAccount(a.user.id, "password1"));
  EXPECT_EQ(service_->Authenticate(a.access_token).error().code, Errc::kUnauthorized);
  EXPECT_EQ(service_->History(a.user.id, dm->id, std::nullopt, std::nullopt, 10).error().code,
            Errc::kUnauthorized);
  EXPECT_EQ(Send(a.user.id, dm->id, "late").error().code, Errc::kUnauthorized);
  EXPECT_EQ(service_->Register("alice", "password1", "").error().code, Errc::kConflict);
  EXPECT_EQ(service_->GetUser(b.user.id, "alice").error().code, Errc::kNotFound);
  EXPECT_EQ(service_->OpenDm(b.user.id, "alice").error().code, Errc::kNotFound);
  auto members = service_->Members(b.user.id, g->id, UserId(0), 10);
  ASSERT_TRUE(members);
  EXPECT_EQ(members->members.size(), 1u) << "she left the group";
}

TEST_F(ServiceTest, MarkReadNeedsMembership) {
  auto a = Register("alice"), c = Register("carol");
  Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(dm);
  EXPECT_EQ(service_->MarkRead(c.user.id, dm->id, 1).error().code, Errc::kForbidden);
  EXPECT_EQ(service_->MarkRead(a.user.id, ConversationId(999), 1).error().code, Errc::kNotFound);
  EXPECT_TRUE(service_->MarkRead(a.user.id, dm->id, 0));
}

TEST_F(ServiceTest, RolesGuardMembershipChanges) {
  auto a = Register("alice"), b = Register("bob");
  Register("carol");
  auto g = service_->CreateGroup(a.user.id, "team", {"bob"});
  ASSERT_TRUE(g);
  EXPECT_EQ(service_->AddMember(b.user.id, g->id, "carol").error().code, Errc::kForbidden);
  EXPECT_TRUE(service_->AddMember(a.user.id, g->id, "carol"));
  EXPECT_EQ(service_->RemoveMember(b.user.id, g->id, "carol").error().code, Errc::kForbidden);
  EXPECT_EQ(service_->RemoveMember(b.user.id, g->id, "alice").error().code, Errc::kForbidden);
  EXPECT_TRUE(service_->RemoveMember(a.user.id, g->id, "carol"));
  EXPECT_TRUE(service_->Leave(b.user.id, g->id));
  EXPECT_EQ(service_->History(b.user.id, g->id, std::nullopt, std::nullopt, 10).error().code,
            Errc::kForbidden);
  auto dm = service_->OpenDm(a.user.id, "bob");
  EXPECT_EQ(service_->AddMember(a.user.id, dm->id, "carol").error().code, Errc::kBadRequest);
  EXPECT_EQ(service_->Leave(a.user.id, dm->id).error().code, Errc::kBadRequest);
  EXPECT_EQ(service_->CreateGroup(a.user.id, "x", {"ghost"}).error().code, Errc::kNotFound);
}

TEST_F(ServiceTest, ReadMarkersMoveForwardAndNotify) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Send(a.user.id, dm->id, "m" + std::to_string(i)));
  Drain();
  ASSERT_TRUE(service_->MarkRead(b.user.id, dm->id, 2));
  auto convs = service_->Conversations(b.user.id);
  EXPECT_EQ(convs->at(0).read_seq, 2);
  EXPECT_EQ(convs->at(0).unread(), 2);
  EXPECT_EQ(service_->Conversations(a.user.id)->at(0).unread(), 0) << "sending moves the sender's marker";
  auto reads = sink_.Frames("read");
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0]["seq"], 2);
}

// --- PROTOCOL.md §5: edits, deletes, reactions, replies, mentions ---------------

TEST_F(ServiceTest, ChangesAreEntriesAnsweredWithSentAfterTheCommit) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "t1", "helo", 1));
  ASSERT_TRUE(Edit(a.user.id, dm->id, 1, "e1", "hello", 2));
  ASSERT_TRUE(React(b.user.id, dm->id, 1, "r1", "👍", ReactionOp::kAdd, 3));
  sink_.events.clear();
  Drain();
  auto sent = sink_.Frames("sent");
  ASSERT_EQ(sent.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sent[i]["re"], i + 1);
    EXPECT_EQ(sent[i]["seq"], i + 1);
  }
  auto events = sink_.Frames("message");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["kind"], "text");
  EXPECT_EQ(events[1]["kind"], "edit");
  EXPECT_EQ(events[1]["target"], 1);
  EXPECT_EQ(events[1]["body"], "hello");
  EXPECT_EQ(events[2]["kind"], "reaction");
  EXPECT_EQ(events[2]["emoji"], "👍");
  EXPECT_EQ(events[2]["op"], "add");

  Message folded = At(a.user.id, dm->id, 1);
  EXPECT_EQ(folded.body, "hello");
  EXPECT_TRUE(folded.edited_ts.has_value());
  EXPECT_EQ(folded.state_seq, 3);
  EXPECT_EQ(folded.reactions, (std::vector<Reaction>{{"👍", 1, false}}));
  EXPECT_EQ(At(b.user.id, dm->id, 1).reactions, (std::vector<Reaction>{{"👍", 1, true}}));

  ASSERT_TRUE(Delete(a.user.id, dm->id, 1, "d1", 4));
  Drain();
  folded = At(b.user.id, dm->id, 1);
  EXPECT_TRUE(folded.deleted);
  EXPECT_EQ(folded.body, "");
  EXPECT_TRUE(folded.reactions.empty());
  EXPECT_EQ(service_->Conversations(b.user.id)->at(0).unread(), 0) << "b's reaction moved b's marker";
}

TEST_F(ServiceTest, EditOfSomeoneElsesMessageIsForbidden) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "t1", "mine"));
  Drain();
  ASSERT_TRUE(Edit(b.user.id, dm->id, 1, "e1", "yours", 9));
  ExpectRefusedAtCommit(dm->id, a.user.id, 9, "forbidden");
  ASSERT_TRUE(Delete(b.user.id, dm->id, 1, "d1", 10));
  ExpectRefusedAtCommit(dm->id, a.user.id, 10, "forbidden");
  EXPECT_EQ(At(a.user.id, dm->id, 1).body, "mine");
}

TEST_F(ServiceTest, ChangesToADeletedMessageAreBadRequests) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "t1"));
  ASSERT_TRUE(Delete(a.user.id, dm->id, 1, "d1"));
  Drain();
  ASSERT_TRUE(Edit(a.user.id, dm->id, 1, "e1", "back", 5));
  ExpectRefusedAtCommit(dm->id, a.user.id, 5, "bad_request");
  ASSERT_TRUE(React(b.user.id, dm->id, 1, "r1", "👍", ReactionOp::kAdd, 6));
  ExpectRefusedAtCommit(dm->id, a.user.id, 6, "bad_request");
}

TEST_F(ServiceTest, TargetsMustBeTextEntriesOfTheConversation) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  auto g = service_->CreateGroup(a.user.id, "g", {"bob"});
  ASSERT_TRUE(g);
  ASSERT_TRUE(Send(a.user.id, dm->id, "t1"));
  ASSERT_TRUE(Edit(a.user.id, dm->id, 1, "e1", "x"));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Send(a.user.id, g->id, "g" + std::to_string(i)));
  Drain();
  clock_.Advance(1000);  // the burst is spent: let the rate refill
  ASSERT_TRUE(Edit(a.user.id, dm->id, 2, "e2", "an edit of an edit", 7));  // a change entry
  ExpectRefusedAtCommit(dm->id, a.user.id, 7, "not_found");
  ASSERT_TRUE(Delete(a.user.id, dm->id, 3, "d1", 8));  // seq 3 is only in the group
  ExpectRefusedAtCommit(dm->id, a.user.id, 8, "not_found");
  protocol::SendReq reply{dm->id, "t2", "re", 3};
  ASSERT_TRUE(service_->Send(a.user.id, reply, Origin(9)));
  ExpectRefusedAtCommit(dm->id, a.user.id, 9, "not_found");
}

TEST_F(ServiceTest, ReplyToIsKept) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "t1", "question"));
  Drain();
  protocol::SendReq reply{dm->id, "t2", "answer", 1};
  ASSERT_TRUE(service_->Send(b.user.id, reply, Origin(2)));
  sink_.events.clear();
  Drain();
  auto events = sink_.Frames("message");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["reply_to"], 1);
  EXPECT_EQ(At(a.user.id, dm->id, 2).reply_to, std::optional<int64_t>(1));
}

TEST_F(ServiceTest, TwentyFirstEmojiIsABadRequest) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "t1"));
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(1000);  // stay within the send rate
    ASSERT_TRUE(React(b.user.id, dm->id, 1, "r" + std::to_string(i), "e" + std::to_string(i)));
  }
  Drain();
  ASSERT_TRUE(React(b.user.id, dm->id, 1, "r20", "e20", ReactionOp::kAdd, 21));
  ExpectRefusedAtCommit(dm->id, a.user.id, 21, "bad_request");
  EXPECT_EQ(At(b.user.id, dm->id, 1).reactions.size(), 20u);
}

TEST_F(ServiceTest, BadEmojiAndOversizedEditsAreRefusedBeforeTheLog) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "t1"));
  Drain();
  sink_.events.clear();
  EXPECT_EQ(React(a.user.id, dm->id, 1, "r1", std::string(33, 'x')).error().code, Errc::kBadRequest);
  EXPECT_EQ(React(a.user.id, dm->id, 1, "r2", "").error().code, Errc::kBadRequest);
  EXPECT_EQ(React(a.user.id, dm->id, 1, "r3", "\xFF").error().code, Errc::kBadRequest);
  EXPECT_TRUE(React(a.user.id, dm->id, 1, "r4", "👨‍👩‍👧‍👦"));  // 25 bytes, one emoji
  EXPECT_EQ(Edit(a.user.id, dm->id, 1, "e1", std::string(4097, 'x')).error().code, Errc::kTooLarge);
  EXPECT_EQ(Edit(a.user.id, dm->id, 1, "e2", "").error().code, Errc::kBadRequest);
  EXPECT_EQ(Edit(a.user.id, dm->id, 1, "e3", "\xC3").error().code, Errc::kBadRequest);
  Drain();
  EXPECT_EQ(sink_.Frames("sent").size(), 1u) << "only the good reaction reached the log";
  EXPECT_EQ(At(a.user.id, dm->id, 1).body, "hi");
}

TEST_F(ServiceTest, ClientMsgIdIsExactlyOnceAcrossKinds) {
  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(Send(a.user.id, dm->id, "same", "original", 1));
  Drain();
  sink_.events.clear();
  ASSERT_TRUE(Edit(a.user.id, dm->id, 1, "same", "changed", 2));
  ASSERT_TRUE(React(a.user.id, dm->id, 1, "same", "👍", ReactionOp::kAdd, 3));
  Drain();
  auto sent = sink_.Frames("sent");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0]["seq"], 1) << "the first entry's answer again";
  EXPECT_EQ(sent[1]["seq"], 1);
  EXPECT_TRUE(sink_.Frames("message").empty());
  Message m = At(a.user.id, dm->id, 1);
  EXPECT_EQ(m.body, "original");
  EXPECT_TRUE(m.reactions.empty());
}

TEST_F(ServiceTest, MentionsAreMembersNamedInTheBody) {
  auto a = Register("alice"), b = Register("bob"), c = Register("carol");
  Register("dave");
  auto g = service_->CreateGroup(a.user.id, "g", {"bob", "carol"});
  ASSERT_TRUE(g);
  ASSERT_TRUE(Send(a.user.id, g->id, "t1", "hi @BOB, @dave and @carol. (mail bob@example.com)"));
  sink_.events.clear();
  Drain();
  auto events = sink_.Frames("message");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["mentions"],
            (json::array{json::value(b.user.id.ToString()), json::value(c.user.id.ToString())}));
  EXPECT_EQ(At(a.user.id, g->id, 1).mentions, (std::vector<UserId>{b.user.id, c.user.id}));
  auto convs = service_->Conversations(b.user.id);
  EXPECT_EQ(convs->at(0).mentions_unread, 1);
  EXPECT_EQ(service_->Conversations(a.user.id)->at(0).mentions_unread, 0);

  ASSERT_TRUE(Edit(a.user.id, g->id, 1, "e1", "never mind"));
  Drain();
  EXPECT_TRUE(At(a.user.id, g->id, 1).mentions.empty());
  EXPECT_EQ(service_->Conversations(b.user.id)->at(0).mentions_unread, 0);
  EXPECT_EQ(service_->Conversations(b.user.id)->at(0).unread(), 1);
}

TEST(MentionedNames, FollowTheUsernameRules) {
  EXPECT_EQ(MentionedNames("@Bob @bob @BOB"), (std::vector<std::string>{"bob"}));
  EXPECT_EQ(MentionedNames("hi @carol. and @dave-, @e.v.e!"),
            (std::vector<std::string>{"carol", "dave", "e.v.e"}));
  EXPECT_EQ(MentionedNames("@al @ab_c @x @"), (std::vector<std::string>{"ab_c"})) << "3 to 32 characters";
  EXPECT_EQ(MentionedNames("mail bob@example.com"), (std::vector<std::string>{"example.com"}))
      << "an @ inside a word still starts a name; the store keeps only members";
  EXPECT_EQ(MentionedNames("@" + std::string(33, 'a')), std::vector<std::string>{}) << "too long";
  EXPECT_EQ(MentionedNames("@bob…@carol"), (std::vector<std::string>{"bob", "carol"}));
  std::string many;
  for (int i = 0; i < 300; ++i) many += "@user" + std::to_string(i) + " ";
  EXPECT_EQ(MentionedNames(many).size(), 200u);
}

TEST(IdGenerator, UniqueAndIncreasingEvenWithinOneMillisecond) {
  sequencer::IdGenerator ids(5);
  MessageId last;
  for (int i = 0; i < 10000; ++i) {
    MessageId id = ids.Next(1'800'000'000'000);
    EXPECT_GT(id, last);
    last = id;
  }
}

// The newest entries beside the store, in memory (what Redis is in a
// cluster): every entry the sequencer committed, raw, folded by FoldWindow.
class MemoryRecent final : public store::RecentEntries {
 public:
  void Committed(std::span<const Message> entries) override {
    for (const Message& e : entries) window[e.conv.value].push_back(e);
  }
  std::optional<std::vector<Message>> Range(ConversationId conv, int64_t after, int64_t upto,
                                            int64_t last_seq, int limit, UserId viewer) override {
    return store::FoldWindow(window[conv.value], after, upto, last_seq, limit, viewer);
  }
  std::map<int64_t, std::vector<Message>> window;
};

// A history page served from the newest entries is the page the store
// serves, for every way of asking (newest, before, after, between, limits
// past either end), and every one of them is served from the window.
TEST_F(ServiceTest, HistoryFromTheNewestEntriesIsTheStoresPage) {
  MemoryRecent recent;
  sequencer_ = std::make_unique<sequencer::Sequencer>(
      *log_, *store_, *fanout_, clock_, sequencer::Options{},
      sequencer::Observer{
          .on_commit = nullptr, .on_commit_error = nullptr, .on_entry = [&](const Message& m) {
            recent.Committed(std::span<const Message>(&m, 1));
          }});
  Deps deps = FixtureDeps();
  int from_window = 0, from_store = 0;
  deps.recent = &recent;
  deps.on_page = [&](bool resume, bool from_recent) {
    EXPECT_FALSE(resume);
    ++(from_recent ? from_window : from_store);
  };
  Service windowed(deps, Options{});

  auto a = Register("alice"), b = Register("bob");
  auto dm = service_->OpenDm(a.user.id, "bob");
  ASSERT_TRUE(dm);
  int n = 0;
  auto next = [&] { return "c" + std::to_string(++n); };
  for (int i = 1; i <= 12; ++i) {
    clock_.Advance(1000);  // under the send rate
    ASSERT_TRUE(Send(i % 3 ? a.user.id : b.user.id, dm->id, next(), "text " + std::to_string(i)));
  }
  ASSERT_TRUE(Edit(a.user.id, dm->id, 1, next(), "text 1, edited"));
  ASSERT_TRUE(React(b.user.id, dm->id, 2, next(), "👍"));
  ASSERT_TRUE(Delete(a.user.id, dm->id, 4, next()));
  ASSERT_TRUE(React(a.user.id, dm->id, 5, next(), "🎉"));
  Drain();
  const int64_t last = 16;

  using Opt = std::optional<int64_t>;
  struct Ask {
    Opt before, after;
    int limit;
  };
  const std::vector<Ask> asks = {
      {{}, {}, 50},      {{}, {}, 3},          {Opt(6), {}, 50},    {Opt(6), {}, 2},     {{}, Opt(2), 50},
      {{}, Opt(2), 3},   {Opt(9), Opt(2), 50}, {Opt(9), Opt(2), 3}, {Opt(1), {}, 50},    {{}, Opt(last), 50},
      {Opt(100), {}, 5}, {{}, Opt(-5), 4},     {Opt(0), {}, 50},    {Opt(3), Opt(7), 50}};
  for (const Ask& ask : asks) {
    for (UserId viewer : {a.user.id, b.user.id}) {
      auto want = service_->History(viewer, dm->id, ask.before, ask.after, ask.limit);
      auto got = windowed.History(viewer, dm->id, ask.before, ask.after, ask.limit);
      ASSERT_TRUE(want && got);
      EXPECT_EQ(*got, *want) << "before " << ask.before.value_or(-1) << " after " << ask.after.value_or(-1)
                             << " limit " << ask.limit;
    }
  }
  EXPECT_EQ(from_window, static_cast<int>(asks.size()) * 2);
  EXPECT_EQ(from_store, 0);
  // A window short of the store's last_seq is not used: the page comes
  // from the store.
  recent.window[dm->id.value].pop_back();
  auto page = windowed.History(a.user.id, dm->id, std::nullopt, std::nullopt, 50);
  ASSERT_TRUE(page);
  EXPECT_EQ(*page, *service_->History(a.user.id, dm->id, std::nullopt, std::nullopt, 50));
  EXPECT_EQ(from_store, 1);
  // Nor does it answer someone who is not a member.
  auto carol = Register("carol");
  auto refused = windowed.History(carol.user.id, dm->id, std::nullopt, std::nullopt, 50);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code,
            service_->History(carol.user.id, dm->id, std::nullopt, std::nullopt, 50).error().code);
  EXPECT_EQ(from_window + from_store, static_cast<int>(asks.size()) * 2 + 1) << "no page was served";
}

}  // namespace
}  // namespace parley::chat
