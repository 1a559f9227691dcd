// chat::Service and the sequencer together, without sockets: real SQLite
// store in a temp dir, embedded log and presence, and a sink that records
// what fan-out would deliver. The sequencer is driven by hand (RunOnce).
#include "chat/service.h"

#include <filesystem>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "chat/service_fixture.h"

namespace parley::chat {
namespace {
namespace json = boost::json;
using fanout::Event;

class RecordingSink : public fanout::DeliverySink {
 public:
  void Deliver(std::shared_ptr<const fanout::EventBatch> batch) override {
    for (const auto& e : *batch) events.push_back(e);
  }
  // The frames of `type` delivered to a target, parsed.
  std::vector<json::object> Frames(std::string_view type) const {
    std::vector<json::object> out;
    for (const auto& e : events) {
      if (!e.frame) continue;
      auto v = json::parse(*e.frame).as_object();
      if (v["type"].is_string() && v["type"].get_string() == type) out.push_back(v);
    }
    return out;
  }
  std::vector<Event> events;
};

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
  auto plan = service_->Resume(b.user.id, hello);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->conversations.size(), 1u);
  const auto& c = plan->conversations[0];
  ASSERT_TRUE(c.gap);
  EXPECT_EQ(c.gap->first, 3);
  EXPECT_EQ(c.gap->second, 5);
  EXPECT_EQ(c.after, 5);
  EXPECT_EQ(c.upto, 8);
  auto page = service_->ResumePage(c.conv, c.after, c.upto, 2);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ(page->front().seq, 6);
  EXPECT_EQ(page->back().seq, 7);
  page = service_->ResumePage(c.conv, 7, c.upto, 500);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front().seq, 8);

  auto unnamed = service_->Resume(b.user.id, protocol::HelloReq{});
  EXPECT_TRUE(unnamed->conversations.empty()) << "unnamed conversations only get the summary";
  auto all = service_->Resume(b.user.id, protocol::HelloReq{"", {}, true});
  ASSERT_EQ(all->conversations.size(), 1u);
  EXPECT_EQ(all->conversations[0].after, 5);
  EXPECT_EQ(all->conversations[0].upto, 8);
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
  auto seen = service_->GetUser("alice");
  EXPECT_FALSE(seen->online);
  EXPECT_EQ(seen->last_seen, clock_.NowMs());
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
  EXPECT_EQ(service_->GetUser("alice").error().code, Errc::kNotFound);
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

TEST(IdGenerator, UniqueAndIncreasingEvenWithinOneMillisecond) {
  sequencer::IdGenerator ids(5);
  MessageId last;
  for (int i = 0; i < 10000; ++i) {
    MessageId id = ids.Next(1'800'000'000'000);
    EXPECT_GT(id, last);
    last = id;
  }
}

}  // namespace
}  // namespace parley::chat
