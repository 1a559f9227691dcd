// PROTOCOL.md section 2, "Opening": resuming with last_seq, gaps, "all",
// and the heartbeat.
#include <map>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

class ResumeTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000",
            "--limits.resume_limit",    "5"};
  }
};

// Every limit at its default (resume_limit 1000, a 4 MiB outbound queue,
// 4 KiB bodies, 50 sends/s with a burst of 500 per user).
class ResumeDefaultsTest : public ServerTest {};

class HeartbeatTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override { return {"--limits.heartbeat_ms", "1000"}; }
};

// Every frame that arrives within `period` after the welcome.
std::vector<json::object> After(WsClient& ws, std::chrono::milliseconds period = 1500ms) {
  return ws.Drain(period);
}

std::vector<int64_t> MessageSeqs(const std::vector<json::object>& frames, const std::string& conv) {
  std::vector<int64_t> seqs;
  for (const auto& f : frames) {
    if (FieldIs(f, "type", "message") && FieldIs(f, "conv", conv))
      seqs.push_back(GetInt(f, "seq").value_or(-1));
  }
  return seqs;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t i = from; i <= to; ++i) out.push_back(i);
  return out;
}

TEST_F(ResumeTest, HelloWithLastSeqGetsMissedMessagesInOrder) {
  Session a = NewUser("rs");
  Session b = NewUser("rs");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  SendMany(*a1, g, 7, "m");
  auto b1 = Open(b, nullptr, json::object{{g, 3}});
  ASSERT_TRUE(b1);
  auto frames = After(*b1);
  EXPECT_EQ(MessageSeqs(frames, g), Range(4, 7));
  for (const auto& f : frames) EXPECT_FALSE(FieldIs(f, "type", "gap")) << Dump(f);
  // The events carry the Message fields.
  for (const auto& f : frames) {
    if (!FieldIs(f, "type", "message")) continue;
    EXPECT_EQ(GetString(f, "sender"), a.user_id);
    EXPECT_FALSE(GetString(f, "id").empty());
    EXPECT_TRUE(GetInt(f, "ts"));
    EXPECT_EQ(GetString(f, "body"), "m " + std::to_string(*GetInt(f, "seq") - 1));
    EXPECT_EQ(GetString(f, "client_msg_id"), "m-" + std::to_string(*GetInt(f, "seq") - 1));
  }
}

TEST_F(ResumeTest, UpToDateConversationSendsNothing) {
  Session a = NewUser("ru");
  std::string g = CreateGroup(a, "t", {});
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  SendMany(*a1, g, 4, "m");
  auto a2 = Open(a, nullptr, json::object{{g, 4}});
  ASSERT_TRUE(a2);
  EXPECT_TRUE(MessageSeqs(After(*a2, 800ms), g).empty());
}

TEST_F(ResumeTest, MoreThanResumeLimitMissedSendsGapThenNewest) {
  Session a = NewUser("rg");
  Session b = NewUser("rg");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  SendMany(*a1, g, 15, "m");
  auto b1 = Open(b, nullptr, json::object{{g, 3}});
  ASSERT_TRUE(b1);
  auto frames = After(*b1);
  // gap {conv, from_seq 4, to_seq 10}, then messages 11..15.
  int gap_at = -1, first_message_at = -1;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (FieldIs(frames[i], "type", "gap") && gap_at < 0) gap_at = static_cast<int>(i);
    if (FieldIs(frames[i], "type", "message") && first_message_at < 0) first_message_at = static_cast<int>(i);
  }
  ASSERT_GE(gap_at, 0) << "no gap event";
  EXPECT_EQ(GetString(frames[gap_at], "conv"), g);
  EXPECT_EQ(GetInt(frames[gap_at], "from_seq"), 4);
  EXPECT_EQ(GetInt(frames[gap_at], "to_seq"), 10);
  EXPECT_LT(gap_at, first_message_at) << "the gap comes first";
  EXPECT_EQ(MessageSeqs(frames, g), Range(11, 15));
  // The client fetches the gap with history.
  auto h = b1->Request({{"type", "history"}, {"conv", g}, {"after", 3}, {"before", 11}});
  ASSERT_TRUE(h && h->contains("messages")) << Dump(h);
  std::vector<int64_t> seqs;
  for (const auto& m : h->at("messages").as_array()) seqs.push_back(GetInt(m, "seq").value_or(-1));
  EXPECT_EQ(seqs, Range(4, 10));
}

TEST_F(ResumeTest, LastSeqAllCountsUnnamedConversationsAsZero) {
  Session a = NewUser("ra");
  Session b = NewUser("ra");
  std::string g1 = CreateGroup(a, "one", {b.username});
  std::string g2 = CreateGroup(a, "two", {b.username});
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  SendMany(*a1, g1, 3, "x");
  SendMany(*a1, g2, 8, "y");
  auto b1 = Open(b, nullptr, json::value("all"));
  ASSERT_TRUE(b1);
  auto frames = After(*b1);
  EXPECT_EQ(MessageSeqs(frames, g1), Range(1, 3));
  EXPECT_EQ(MessageSeqs(frames, g2), Range(4, 8));
  bool gap = false;
  for (const auto& f : frames) {
    if (FieldIs(f, "type", "gap") && FieldIs(f, "conv", g2)) {
      gap = true;
      EXPECT_EQ(GetInt(f, "from_seq"), 1);
      EXPECT_EQ(GetInt(f, "to_seq"), 3);
    }
    EXPECT_FALSE(FieldIs(f, "type", "gap") && FieldIs(f, "conv", g1)) << Dump(f);
  }
  EXPECT_TRUE(gap) << "8 missed with resume_limit 5 needs a gap";
}

TEST_F(ResumeTest, UnnamedConversationOnlyGetsTheSummary) {
  Session a = NewUser("rn");
  Session b = NewUser("rn");
  std::string g1 = CreateGroup(a, "one", {b.username});
  std::string g2 = CreateGroup(a, "two", {b.username});
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  SendMany(*a1, g1, 3, "x");
  SendMany(*a1, g2, 2, "y");
  json::object welcome;
  auto b1 = Open(b, &welcome, json::object{{g1, 1}});
  ASSERT_TRUE(b1);
  auto frames = After(*b1);
  EXPECT_EQ(MessageSeqs(frames, g1), Range(2, 3));
  EXPECT_TRUE(MessageSeqs(frames, g2).empty()) << "a conversation not named gets no message events";
  bool found = false;
  for (const auto& c : welcome.at("conversations").as_array()) {
    if (GetString(c, "id") == g2) {
      found = true;
      EXPECT_EQ(GetInt(c, "last_seq"), 2);
      EXPECT_EQ(GetInt(c, "unread"), 2);
    }
  }
  EXPECT_TRUE(found);
  // Without last_seq at all: summaries only.
  auto b2 = Open(b);
  ASSERT_TRUE(b2);
  auto none = After(*b2, 800ms);
  EXPECT_TRUE(MessageSeqs(none, g1).empty());
  EXPECT_TRUE(MessageSeqs(none, g2).empty());
}

TEST_F(ResumeTest, ResumeAfterReconnectThenLiveMessagesContinue) {
  Session a = NewUser("rl");
  Session b = NewUser("rl");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a), b1 = Open(b);
  ASSERT_TRUE(a1 && b1);
  SendMany(*a1, g, 2, "p");
  ASSERT_TRUE(b1->WaitFor(
      [&](const json::object& o) { return FieldIs(o, "type", "message") && GetInt(o, "seq") == 2; }, 3s));
  b1->Abort();
  SendMany(*a1, g, 3, "q");
  auto b2 = Open(b, nullptr, json::object{{g, 2}});
  ASSERT_TRUE(b2);
  auto frames = After(*b2, 1000ms);
  EXPECT_EQ(MessageSeqs(frames, g), Range(3, 5));
  SendMany(*a1, g, 1, "r");
  auto live = b2->WaitForType("message", 3s, g);
  ASSERT_TRUE(live);
  EXPECT_EQ(GetInt(*live, "seq"), 6);
}

TEST_F(HeartbeatTest, WelcomeAnnouncesHeartbeatAndPingsKeepIdleClientAlive) {
  Session a = NewUser("hb");
  json::object welcome;
  auto ws = Open(a, &welcome);
  ASSERT_TRUE(ws);
  EXPECT_EQ(GetInt(welcome, "heartbeat_ms"), 1000);
  std::this_thread::sleep_for(3500ms);  // more than 3 heartbeats, idle
  EXPECT_TRUE(ws->is_open()) << "closed " << ws->close_code().value_or(-1) << " " << ws->last_error();
  EXPECT_GT(ws->pings_received(), 0) << "the server sent no WebSocket ping";
  auto pong = ws->Request({{"type", "ping"}});
  ASSERT_TRUE(pong);
  EXPECT_TRUE(FieldIs(*pong, "type", "pong"));
}

// Far more missed than one outbound queue holds: 3 x 1,000 messages of
// 4 KiB is 12 MB against a 4 MiB bound. The resume is paced by the reader,
// so a prompt reader gets all of it, is not closed with 4009, and can use
// the connection afterwards.
TEST_F(ResumeDefaultsTest, APromptReaderGetsAResumeLargerThanItsQueueBound) {
  constexpr int kPerConv = 1000;
  const std::string body(4096, 'x');
  Session reader = NewUser("rd");
  std::vector<std::string> convs;
  for (int c = 0; c < 3; ++c) {
    // Two senders per conversation keep each within its burst of 500.
    Session s1 = NewUser("rd"), s2 = NewUser("rd");
    std::string g = CreateGroup(s1, "big " + std::to_string(c), {s2.username, reader.username});
    convs.push_back(g);
    for (const Session* s : {&s1, &s2}) {
      auto ws = Open(*s);
      ASSERT_TRUE(ws);
      auto answers = SendMany(*ws, g, kPerConv / 2, "b" + std::to_string(c), 60s, body);
      for (const auto& a : answers) ASSERT_TRUE(FieldIs(a, "type", "sent")) << Dump(a);
    }
  }
  json::object last_seq;
  for (const auto& g : convs) last_seq[g] = 0;
  auto ws = Open(reader, nullptr, last_seq);
  ASSERT_TRUE(ws);
  std::map<std::string, std::vector<int64_t>> seqs;
  size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (got < 3 * kPerConv && std::chrono::steady_clock::now() < deadline) {
    auto f = ws->WaitFor(IsType("message"), 5s);
    if (!f) break;
    EXPECT_EQ(GetString(*f, "body").size(), body.size());
    seqs[GetString(*f, "conv")].push_back(GetInt(*f, "seq").value_or(-1));
    ++got;
  }
  ASSERT_TRUE(ws->is_open()) << "closed " << ws->close_code().value_or(-1) << " after " << got << " messages";
  for (const auto& g : convs) EXPECT_EQ(seqs[g], Range(1, kPerConv)) << "conversation " << g;
  for (const auto& f : ws->Drain(300ms)) EXPECT_FALSE(FieldIs(f, "type", "gap")) << Dump(f);
  // The connection is usable afterwards.
  auto sent = SendMessage(*ws, convs[0], "after the resume");
  EXPECT_TRUE(FieldIs(sent, "type", "sent")) << Dump(sent);
  EXPECT_EQ(GetInt(sent, "seq"), kPerConv + 1);
}

}  // namespace
}  // namespace parley::testing
