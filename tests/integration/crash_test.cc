// PROTOCOL.md section 3, guarantees 2 and 3: an acknowledged message survives
// a SIGKILL of the server; retries with the same client_msg_id store at most
// once; a graceful stop closes clients with 1001 and keeps the data.
#include <sys/wait.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

class CrashTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000"};
  }
};

struct Ack {
  int64_t seq;
  std::string id;
  int64_t ts;
};

TEST_F(CrashTest, AcknowledgedMessagesSurviveSigkillExactlyOnce) {
  std::random_device rd;
  unsigned seed = rd();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  constexpr int kMessages = 400;
  Session a = NewUser("cr");
  Session b = NewUser("cr");
  std::string g = CreateGroup(a, "crash", {b.username});
  ASSERT_FALSE(g.empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);

  // A sender thread pipelines sends while the test thread collects acks and
  // kills the server after a random number of them.
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    for (int i = 0; i < kMessages && !stop; ++i) {
      if (!ws->SendJson({{"id", i + 1},
                         {"type", "send"},
                         {"conv", g},
                         {"client_msg_id", "crash-" + std::to_string(i)},
                         {"body", "crash body " + std::to_string(i)}})) {
        break;
      }
      if (i % 8 == 7) std::this_thread::sleep_for(1ms);
    }
  });
  int kill_after = std::uniform_int_distribution<int>(20, kMessages * 3 / 4)(rng);
  std::map<std::string, Ack> acked;  // client_msg_id -> ack
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (static_cast<int>(acked.size()) < kill_after && std::chrono::steady_clock::now() < deadline) {
    auto f = ws->WaitFor([](const json::object& o) { return o.contains("re"); }, 5s);
    if (!f) break;
    if (!FieldIs(*f, "type", "sent")) {
      ADD_FAILURE() << "unexpected answer " << Dump(f);
      continue;
    }
    auto re = GetInt(*f, "re").value_or(0);
    acked["crash-" + std::to_string(re - 1)] =
        Ack{GetInt(*f, "seq").value_or(0), GetString(*f, "id"), GetInt(*f, "ts").value_or(0)};
  }
  server().Kill();
  // Acks already on the wire before the kill count too.
  while (auto f = ws->WaitFor([](const json::object& o) { return o.contains("re"); }, 500ms)) {
    if (FieldIs(*f, "type", "sent")) {
      auto re = GetInt(*f, "re").value_or(0);
      acked["crash-" + std::to_string(re - 1)] =
          Ack{GetInt(*f, "seq").value_or(0), GetString(*f, "id"), GetInt(*f, "ts").value_or(0)};
    }
  }
  stop = true;
  sender.join();
  ws.reset();
  ASSERT_GE(static_cast<int>(acked.size()), std::min(kill_after, 20)) << "too few acks before the kill";
  std::cerr << "killed after " << acked.size() << " acks (target " << kill_after << ")\n";

  ASSERT_TRUE(server().Restart()) << server().error() << server().LogTail();
  Reconnect();
  auto relog = client::Login(http(), a.username, kPassword);
  ASSERT_TRUE(relog.ok()) << relog.error().message;
  Session a2 = *relog;

  // Every acknowledged message is there exactly once, with its seq, id, ts;
  // seqs are gapless and ascending.
  auto all = AllMessages(a2, g);
  std::map<std::string, int> count;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(GetInt(all[i], "seq"), static_cast<int64_t>(i + 1)) << "gap or disorder at " << i;
    ++count[GetString(all[i], "client_msg_id")];
  }
  for (const auto& [cmid, n] : count) EXPECT_EQ(n, 1) << cmid << " stored " << n << " times";
  std::map<std::string, json::object> by_cmid;
  for (const auto& m : all) by_cmid[GetString(m, "client_msg_id")] = m.as_object();
  for (const auto& [cmid, ack] : acked) {
    auto it = by_cmid.find(cmid);
    ASSERT_NE(it, by_cmid.end()) << "acknowledged " << cmid << " (seq " << ack.seq << ") was lost";
    EXPECT_EQ(GetInt(it->second, "seq"), ack.seq) << cmid;
    EXPECT_EQ(GetString(it->second, "id"), ack.id) << cmid;
    EXPECT_EQ(GetInt(it->second, "ts"), ack.ts) << cmid;
  }

  // Retrying every message (acknowledged or not) with the same
  // client_msg_id: acknowledged ones answer as before; each is stored at
  // most once; retrying twice gives the same answer.
  auto ws2 = Open(a2);
  ASSERT_TRUE(ws2);
  std::map<std::string, json::object> first_retry;
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<json::object> answers(kMessages);
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(ws2->SendJson({{"id", 100000 * (pass + 1) + i},
                                 {"type", "send"},
                                 {"conv", g},
                                 {"client_msg_id", "crash-" + std::to_string(i)},
                                 {"body", "crash body " + std::to_string(i)}}));
    }
    for (int got = 0; got < kMessages; ++got) {
      auto f = ws2->WaitFor(
          [&](const json::object& o) {
            auto re = GetInt(o, "re");
            return re && *re >= 100000 * (pass + 1) && *re < 100000 * (pass + 1) + kMessages;
          },
          10s);
      ASSERT_TRUE(f) << "retry answers missing after " << got;
      ASSERT_TRUE(FieldIs(*f, "type", "sent")) << Dump(f);
      answers[*GetInt(*f, "re") - 100000 * (pass + 1)] = std::move(*f);
    }
    for (int i = 0; i < kMessages; ++i) {
      std::string cmid = "crash-" + std::to_string(i);
      if (auto it = acked.find(cmid); it != acked.end()) {
        EXPECT_EQ(GetInt(answers[i], "seq"), it->second.seq) << cmid;
        EXPECT_EQ(GetString(answers[i], "id"), it->second.id) << cmid;
        EXPECT_EQ(GetInt(answers[i], "ts"), it->second.ts) << cmid;
      }
      if (auto it = by_cmid.find(cmid); it != by_cmid.end()) {
        EXPECT_EQ(GetInt(answers[i], "seq"), GetInt(it->second, "seq"))
            << cmid << " was stored before the kill";
      }
      if (pass == 0) {
        first_retry[cmid] = answers[i];
      } else {
        EXPECT_EQ(GetInt(answers[i], "seq"), GetInt(first_retry[cmid], "seq")) << cmid;
        EXPECT_EQ(GetString(answers[i], "id"), GetString(first_retry[cmid], "id")) << cmid;
        EXPECT_EQ(GetInt(answers[i], "ts"), GetInt(first_retry[cmid], "ts")) << cmid;
      }
    }
  }
  auto final_all = AllMessages(a2, g);
  ASSERT_EQ(final_all.size(), static_cast<size_t>(kMessages)) << "each message stored exactly once";
  std::set<std::string> cmids;
  for (size_t i = 0; i < final_all.size(); ++i) {
    EXPECT_EQ(GetInt(final_all[i], "seq"), static_cast<int64_t>(i + 1));
    EXPECT_TRUE(cmids.insert(GetString(final_all[i], "client_msg_id")).second);
  }
}

TEST_F(CrashTest, GracefulStopCloses1001AndKeepsData) {
  Session a = NewUser("gs");
  std::string g = CreateGroup(a, "t", {});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  auto answers = SendMany(*ws, g, 20, "g");
  ASSERT_FALSE(HasFailure());
  int status = server().Stop(10s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exit status " << status;
  ASSERT_TRUE(ws->WaitClosed(3s));
  EXPECT_EQ(ws->close_code(), kCloseGoingAway) << ws->last_error();
  ASSERT_TRUE(server().Restart()) << server().error();
  Reconnect();
  auto relog = client::Login(http(), a.username, kPassword);
  ASSERT_TRUE(relog.ok()) << relog.error().message;
  auto all = AllMessages(*relog, g);
  ASSERT_EQ(all.size(), 20u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(GetInt(all[i], "seq"), static_cast<int64_t>(i + 1));
    EXPECT_EQ(GetString(all[i], "id"), GetString(answers[i], "id"));
  }
  // The old refresh token and conversations survive too.
  EXPECT_EQ(Get("/v1/conversations", relog->access_token).Object().at("conversations").as_array().size(), 1u);
}

// A graceful stop says goodbye for everyone: the users whose connections it
// closed, and a user whose cut connection was still in its grace
// (limits.offline_grace_ms), each get a stored last_seen, at the cut for
// the latter; after the restart their contact reads them offline with it.
TEST_F(CrashTest, GracefulStopStoresLastSeenOfClosedAndLingeringUsers) {
  Session a = NewUser("ls");
  Session b = NewUser("ls");
  Session c = NewUser("ls");
  Dm(c, a.username);  // c may see a's and b's last_seen (1.1 §7)
  Dm(c, b.username);
  auto wa = Open(a);
  auto wb = Open(b);
  ASSERT_TRUE(wa && wb);
  const int64_t before_cut = NowMs();
  wa->Abort();  // a's session lingers for the grace (5 s by default)
  std::this_thread::sleep_for(300ms);
  const int64_t after_cut = NowMs();
  int status = server().Stop(10s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exit status " << status;
  const int64_t stopped = NowMs();
  ASSERT_TRUE(server().Restart()) << server().error();
  Reconnect();
  auto relog = client::Login(http(), c.username, kPassword);
  ASSERT_TRUE(relog.ok()) << relog.error().message;
  for (const Session* who : {&a, &b}) {
    auto user = Get("/v1/users/" + who->username, relog->access_token);
    ASSERT_EQ(user.status, 200) << user.body;
    EXPECT_FALSE(user.Object().at("online").as_bool()) << user.body;
    auto last_seen = GetInt(user.json, "last_seen");
    ASSERT_TRUE(last_seen) << who->username << ": no last_seen after a graceful stop: " << user.body;
    EXPECT_GE(*last_seen, before_cut - 1000) << who->username;
    EXPECT_LE(*last_seen, stopped + 1000) << who->username;
    if (who == &a) {
      EXPECT_LE(*last_seen, after_cut + 1000) << "a's last_seen is the cut, not the stop";
    }
  }
}

TEST_F(CrashTest, SigkillWhileIdleLosesNothing) {
  Session a = NewUser("ki");
  Session b = NewUser("ki");
  std::string g = CreateGroup(a, "t", {b.username});
  std::string d = Dm(a, b.username);
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMany(*ws, g, 5, "i");
  SendMany(*ws, d, 3, "j");
  ASSERT_TRUE(FieldIs(*ws->Request({{"type", "read"}, {"conv", g}, {"seq", 5}}), "type", "ok"));
  server().Kill();
  ws.reset();
  ASSERT_TRUE(server().Restart()) << server().error();
  Reconnect();
  auto relog = client::Login(http(), b.username, kPassword);
  ASSERT_TRUE(relog.ok()) << relog.error().message;
  EXPECT_EQ(AllMessages(*relog, g).size(), 5u);
  EXPECT_EQ(AllMessages(*relog, d).size(), 3u);
  EXPECT_EQ(Dm(*relog, a.username), d) << "the DM is the same after restart";
  auto convs = Get("/v1/conversations", relog->access_token).Object().at("conversations").as_array();
  EXPECT_EQ(convs.size(), 2u);
  // a's read marker survived.
  auto alog = client::Login(http(), a.username, kPassword);
  ASSERT_TRUE(alog.ok());
  auto mine = Get("/v1/conversations", alog->access_token);
  ASSERT_EQ(mine.status, 200) << mine.Describe();
  for (const auto& c : mine.Object().at("conversations").as_array()) {
    EXPECT_EQ(GetInt(c, "unread"), 0) << Dump(c);
  }
  // New sends continue the sequence.
  auto ws2 = Open(*alog);
  ASSERT_TRUE(ws2);
  auto sent = SendMessage(*ws2, g, "after restart");
  EXPECT_EQ(GetInt(sent, "seq"), 6);
}

}  // namespace
}  // namespace parley::testing
