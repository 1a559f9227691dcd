// The presence contract run against the Redis backend, plus what only a
// cluster backend promises: a dead node's users go offline within two
// heartbeats and are reported once; a Redis restart rebuilds subscriptions
// and sessions. The suite starts its own redis-server on a free loopback
// port (no persistence) and skips when redis-server is not installed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "presence/redis/recent_entries.h"
#include "presence/redis/redis_presence.h"
#include "store/recent_entries.h"
#include "presence_contract.h"

namespace parley::presence::contract {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kHeartbeatMs = 200;

std::string FindRedisServer() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/usr/local/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(begin, end - begin) + "/redis-server";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return {};
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// A throwaway redis-server child process on a loopback port, no persistence.
// Used from the gtest thread only.
class RedisServer {
 public:
  ~RedisServer() { Kill(); }

  // Empty, or why no server could start.
  std::string EnsureRunning() {
    if (pid_ > 0) return {};
    if (binary_.empty()) binary_ = FindRedisServer();
    if (binary_.empty())
      return "redis-server is not installed (apt-get install redis-server): Redis suite skipped";
    if (port_ == 0) port_ = FreePort();
    std::string port = std::to_string(port_);
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      std::filesystem::path dir = std::filesystem::temp_directory_path();
      execl(binary_.c_str(), "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", dir.c_str(), "--protected-mode", "no",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (auto deadline = Clock::now() + 5s; Clock::now() < deadline; std::this_thread::sleep_for(10ms)) {
      if (Command("PING")) return {};
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return "redis-server exited at start (port " + port + ")";
      }
    }
    return "redis-server did not answer on port " + port;
  }

  // Hard stop: no shutdown save, connections reset.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

  bool Command(const char* cmd) {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return false;
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, cmd));
    bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r != nullptr) freeReplyObject(r);
    redisFree(c);
    return ok;
  }

  int port() const { return port_; }

 private:
  std::string binary_;
  int port_ = 0;
  pid_t pid_ = 0;
};

RedisServer& Server() {
  static RedisServer server;
  return server;
}

std::string PrepareRedis() {
  std::string why = Server().EnsureRunning();
  if (!why.empty()) return why;
  if (!Server().Command("FLUSHALL")) return "FLUSHALL failed";
  return {};
}

Result<redis::Backend> MakeBackend(int64_t node_id, int port = 0) {
  return redis::Create(redis::Options{.host = "127.0.0.1",
                                      .port = port ? port : Server().port(),
                                      .node_id = node_id,
                                      .heartbeat_ms = kHeartbeatMs});
}

PresenceNode MakeRedisNode(int64_t node_id) {
  auto backend = MakeBackend(node_id);
  if (!backend) {
    ADD_FAILURE() << "redis::Create: " << backend.error().message;
    return {};
  }
  return PresenceNode{std::move(backend->registry), std::move(backend->fanout)};
}

PresenceBackend RedisBackend() {
  return PresenceBackend{
      .name = "redis", .multi_node = true, .prepare = PrepareRedis, .make_node = MakeRedisNode};
}

// Records the offline listener's reports. Thread-safe.
struct OfflineRecorder {
  std::mutex mu;
  std::vector<UserId> users;
  int calls = 0;
  std::function<void(std::vector<UserId>)> Listener() {
    return [this](std::vector<UserId> u) {
      std::lock_guard lock(mu);
      ++calls;
      users.insert(users.end(), u.begin(), u.end());
    };
  }
  std::vector<UserId> Users() {
    std::lock_guard lock(mu);
    auto out = users;
    std::sort(out.begin(), out.end());
    return out;
  }
};

template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  for (auto deadline = Clock::now() + timeout; Clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
    if (pred()) return true;
  }
  return pred();
}

bool IsOnline(PresenceRegistry& r, int64_t user) {
  UserId u(user);
  return r.Online(std::span<const UserId>(&u, 1))[0];
}

// Tests of what only the Redis backend promises. Owned by the gtest thread.
class RedisPresence : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = PrepareRedis();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(RedisPresence, CreateFailsWhenRedisIsAway) {
  auto start = Clock::now();
  auto backend = MakeBackend(1, FreePort());
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.error().code, Errc::kUnavailable);
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_FALSE(redis::Create(redis::Options{.node_id = 0}).ok());
}

// The shared limits (scripts.h kTakeTokens, kFailures): what two nodes take
// from one bucket together is the bucket, not twice it.
TEST_F(RedisPresence, SharedTokenBucketIsOneBucketForEveryNode) {
  auto a = MakeBackend(1);
  auto b = MakeBackend(2);
  ASSERT_TRUE(a.ok() && b.ok());
  const TimeMs t0 = 1'700'000'000'000;
  int64_t granted = 0;
  for (int i = 0; i < 6; ++i) {
    auto& node = i % 2 == 0 ? a : b;
    auto got = node->limits->TakeTokens("send:7", 10, 20, 4, t0);
    ASSERT_TRUE(got.ok()) << got.error().message;
    granted += got->granted;
  }
  EXPECT_EQ(granted, 20) << "a burst of 20, shared";
  auto none = b->limits->TakeTokens("send:7", 10, 20, 1, t0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->granted, 0);
  EXPECT_EQ(none->retry_after_ms, 100) << "one token at 10/s";
  auto later = a->limits->TakeTokens("send:7", 10, 20, 5, t0 + 250);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->granted, 2) << "250 ms refilled 2.5";
  auto other = a->limits->TakeTokens("send:8", 10, 20, 5, t0);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->granted, 5) << "another user's bucket";
}

TEST_F(RedisPresence, SharedFailureCountsSlideAndClear) {
  auto a = MakeBackend(1);
  auto b = MakeBackend(2);
  ASSERT_TRUE(a.ok() && b.ok());
  const TimeMs t0 = 1'700'000'000'000;
  const std::vector<SharedLimits::Window> keys{{"login:account:alice", 3}, {"login:address:10.0.0.1", 100}};
  for (int i = 0; i < 3; ++i) {
    auto& node = i % 2 == 0 ? a : b;
    auto wait = node->limits->Failures(keys, 10'000, t0 + i * 1000, /*add=*/true);
    ASSERT_TRUE(wait.ok()) << wait.error().message;
    EXPECT_EQ(*wait, i < 2 ? 0 : 8000) << i;
  }
  EXPECT_EQ(*b->limits->Failures(keys, 10'000, t0 + 3000, false), 7000) << "the oldest leaves at 10 s";
  EXPECT_EQ(*b->limits->Failures(keys, 10'000, t0 + 10'000, false), 0) << "sliding";
  ASSERT_TRUE(a->limits->ClearFailures("login:account:alice").ok());
  EXPECT_EQ(*a->limits->Failures(keys, 10'000, t0 + 3000, false), 0);
}

TEST_F(RedisPresence, DeadNodeUsersGoOfflineWithinTwoHeartbeatsAndAreReportedOnce) {
  auto a = MakeBackend(1);
  auto b = MakeBackend(2);
  ASSERT_TRUE(a.ok() && b.ok());
  OfflineRecorder recorder;
  a->registry->SetOfflineListener(recorder.Listener());
  // 101: only on node 2. 102: on both. 103: two sessions on node 2.
  EXPECT_TRUE(b->registry->AddSession(UserId(101), {2, 1}));
  EXPECT_TRUE(b->registry->AddSession(UserId(102), {2, 2}));
  EXPECT_FALSE(a->registry->AddSession(UserId(102), {1, 3}));
  EXPECT_TRUE(b->registry->AddSession(UserId(103), {2, 4}));
  EXPECT_FALSE(b->registry->AddSession(UserId(103), {2, 5}));
  ASSERT_TRUE(IsOnline(*a->registry, 101));

  auto died = Clock::now();
  b = MakeError(Errc::kInternal,
                "node 2 crashed");  // destroys node 2's backend: no cleanup, no more heartbeats
  ASSERT_TRUE(Eventually([&] { return !IsOnline(*a->registry, 101); }, 2s));
  auto offline_after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - died);
  std::cout << "[          ] node died -> users offline in " << offline_after.count() << " ms (heartbeat "
            << kHeartbeatMs << " ms)\n";
  // Within 2 heartbeats of the last renewal, so of the death; a little slack
  // for the polling Online calls on a loaded machine.
  EXPECT_LE(offline_after.count(), 2 * kHeartbeatMs + 100);
  EXPECT_FALSE(IsOnline(*a->registry, 103));
  EXPECT_TRUE(IsOnline(*a->registry, 102)) << "a session on a live node keeps the user online";

  ASSERT_TRUE(Eventually([&] { return recorder.Users().size() >= 2; }, 2s));
  std::this_thread::sleep_for(std::chrono::milliseconds(4 * kHeartbeatMs));  // more sweeps: no repeats
  EXPECT_EQ(recorder.Users(), (std::vector<UserId>{UserId(101), UserId(103)}));
  // The survivor's session is untouched: removing it is the last one.
  EXPECT_TRUE(a->registry->RemoveSession(UserId(102), {1, 3}));
}

TEST_F(RedisPresence, OnlyOneOfManySweepersReportsADeadNode) {
  std::vector<redis::Backend> survivors;
  OfflineRecorder recorder;
  for (int64_t id = 1; id <= 3; ++id) {
    auto n = MakeBackend(id);
    ASSERT_TRUE(n.ok());
    n->registry->SetOfflineListener(recorder.Listener());
    survivors.push_back(std::move(n).value());
  }
  {
    auto dying = MakeBackend(9);
    ASSERT_TRUE(dying.ok());
    for (int64_t u = 200; u < 250; ++u) dying->registry->AddSession(UserId(u), {9, static_cast<uint64_t>(u)});
  }
  ASSERT_TRUE(Eventually([&] { return recorder.Users().size() >= 50; }, 3s));
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kHeartbeatMs));
  auto users = recorder.Users();
  EXPECT_EQ(users.size(), 50u);
  EXPECT_EQ(std::adjacent_find(users.begin(), users.end()), users.end()) << "a user reported twice";
}

TEST_F(RedisPresence, RestartedNodeDropsWhatItsPreviousRunLeft) {
  {
    auto old = MakeBackend(4);
    ASSERT_TRUE(old.ok());
    old->registry->AddSession(UserId(300), {4, 1});
  }
  auto again = MakeBackend(4);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(IsOnline(*again->registry, 300));
  OfflineRecorder recorder;
  again->registry->SetOfflineListener(recorder.Listener());
  ASSERT_TRUE(Eventually([&] { return !recorder.Users().empty(); }, 2s));
  EXPECT_EQ(recorder.Users(), std::vector<UserId>{UserId(300)});
}

TEST_F(RedisPresence, RedisRestartRebuildsSubscriptionsAndSessions) {
  auto a = MakeBackend(1);
  auto b = MakeBackend(2);
  ASSERT_TRUE(a.ok() && b.ok());
  RecordingSink sink_b;
  b->fanout->SetSink(&sink_b);
  b->fanout->Follow({fanout::Interest::Kind::kConversation, 500});
  b->fanout->Follow({fanout::Interest::Kind::kUser, 501});
  a->registry->AddSession(UserId(502), {1, 1});
  b->registry->AddSession(UserId(503), {2, 1});
  auto delivered = [&](const std::string& tag) {
    for (int i = 0; i < 200; ++i) {
      std::string c = tag + "-conv-" + std::to_string(i), u = tag + "-user-" + std::to_string(i);
      a->fanout->Publish({fanout::Event::ToConversation(ConversationId(500), protocol::MakeFrame(c)),
                          fanout::Event::ToUsers({UserId(501)}, protocol::MakeFrame(u))});
      if (sink_b.WaitForFrame(c, 25ms) && sink_b.WaitForFrame(u, 200ms)) return true;
    }
    return false;
  };
  ASSERT_TRUE(delivered("before"));

  Server().Kill();
  // Publishing while Redis is away is dropped, not queued forever, and does not block.
  auto t0 = Clock::now();
  a->fanout->Publish({fanout::Event::ToConversation(ConversationId(500), protocol::MakeFrame("lost"))});
  EXPECT_LT(Clock::now() - t0, 100ms);
  EXPECT_FALSE(a->registry->Online(std::vector<UserId>{UserId(502)})[0]);  // unknown counts as offline
  ASSERT_EQ(Server().EnsureRunning(), "");                                 // same port, empty
  auto restarted = Clock::now();

  ASSERT_TRUE(Eventually([&] { return IsOnline(*a->registry, 502) && IsOnline(*a->registry, 503); }, 5s))
      << "sessions were not registered again";
  auto sessions_back = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted);
  ASSERT_TRUE(delivered("after")) << "subscriptions were not rebuilt";
  auto delivery_back = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted);
  std::cout << "[          ] after a Redis restart: sessions back in " << sessions_back.count()
            << " ms, deliveries in " << delivery_back.count() << " ms\n";
  // And the registry works as before.
  EXPECT_FALSE(b->registry->AddSession(UserId(502), {2, 2}));
  EXPECT_FALSE(a->registry->RemoveSession(UserId(502), {1, 1}));
  EXPECT_TRUE(b->registry->RemoveSession(UserId(502), {2, 2}));
  b->fanout->SetSink(nullptr);
}

// --- the recent entries of conversations (redis/recent_entries.h) ---------------

Message Entry(int64_t conv, int64_t seq, EntryKind kind = EntryKind::kText, int64_t target = 0) {
  Message m;
  m.conv = ConversationId(conv);
  m.seq = seq;
  m.id = MessageId(1000 + seq);
  m.sender = UserId(7);
  m.ts = 1'700'000'000'000 + seq;
  m.client_msg_id = "c" + std::to_string(seq);
  m.kind = kind;
  m.target = target;
  if (kind == EntryKind::kText) {
    m.body = "text " + std::to_string(seq);
    m.state_seq = seq;
    m.mentions = {UserId(8)};
    m.attachments = {Attachment{UploadId(55), "a.png", "image/png", 10, "https://signed/for/the/event"}};
  }
  if (kind == EntryKind::kEdit) m.body = "edit " + std::to_string(seq);
  if (kind == EntryKind::kReaction) m.emoji = "👍";
  return m;
}

// The elements of a Redis list, as stored.
std::vector<std::string> ListOf(const char* key) {
  std::vector<std::string> out;
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", Server().port(), tv);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    ADD_FAILURE() << "cannot connect to Redis";
    return out;
  }
  auto* r = static_cast<redisReply*>(redisCommand(c, "LRANGE %s 0 -1", key));
  if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) out.emplace_back(r->element[i]->str, r->element[i]->len);
  }
  if (r != nullptr) freeReplyObject(r);
  redisFree(c);
  return out;
}

// An integer answer of Redis (-3 when there is none).
long long IntegerOf(const char* command) {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", Server().port(), tv);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return -3;
  }
  auto* r = static_cast<redisReply*>(redisCommand(c, command));
  const long long v = r != nullptr && r->type == REDIS_REPLY_INTEGER ? r->integer : -3;
  if (r != nullptr) freeReplyObject(r);
  redisFree(c);
  return v;
}

std::vector<Message> Texts(int64_t conv, int64_t from, int64_t to) {
  std::vector<Message> out;
  for (int64_t seq = from; seq <= to; ++seq) out.push_back(Entry(conv, seq));
  return out;
}

std::unique_ptr<store::RecentEntries> MakeRecent(int entries, int port = 0) {
  auto recent = redis::CreateRecentEntries(redis::Options{
      .host = "127.0.0.1", .port = port ? port : Server().port(), .node_id = 1, .recent_entries = entries});
  if (!recent) {
    ADD_FAILURE() << "CreateRecentEntries: " << recent.error().message;
    return nullptr;
  }
  return std::move(recent).value();
}

// What the cache must answer for after+1 .. upto once `window` is written:
// the fold of exactly that window (the writer is asynchronous: waits for it).
::testing::AssertionResult Serves(store::RecentEntries& recent, std::span<const Message> window,
                                  int64_t after, int64_t upto, UserId viewer = UserId(7)) {
  const auto want = store::FoldWindow(window, after, upto, upto, 500, viewer);
  if (!want) return ::testing::AssertionFailure() << "the expected window does not hold the range";
  std::optional<std::vector<Message>> got;
  Eventually(
      [&] { return (got = recent.Range(window.front().conv, after, upto, upto, 500, viewer)) == want; }, 3s);
  if (got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "after " << after << " upto " << upto << ": "
                                       << (got ? std::to_string(got->size()) + " entries" : "nothing");
}

TEST_F(RedisPresence, RecentEntriesServeTheLastEntriesOfAConversation) {
  auto recent = MakeRecent(8);
  ASSERT_TRUE(recent);
  std::vector<Message> all = Texts(40, 1, 5);
  all.push_back(Entry(40, 6, EntryKind::kEdit, 2));
  all.push_back(Entry(40, 7, EntryKind::kReaction, 3));
  recent->Committed(all);
  recent->Committed(Texts(41, 1, 2));  // another conversation, its own window
  EXPECT_TRUE(Serves(*recent, all, 0, 7));
  EXPECT_TRUE(Serves(*recent, all, 1, 4));
  EXPECT_TRUE(Serves(*recent, all, 3, 7, UserId()));
  auto page = recent->Range(ConversationId(40), 1, 7, 7, 500, UserId(7));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->front().body, "edit 6") << "text 2 as edited by seq 6";
  EXPECT_EQ(page->front().attachments.at(0).url, "") << "an event's signed url is never kept";
  ASSERT_EQ(page->at(1).reactions.size(), 1u);
  EXPECT_TRUE(Serves(*recent, Texts(41, 1, 2), 0, 2));
  // An idle conversation's window goes away: each write renews a 24 h TTL.
  const long long ttl = IntegerOf("PTTL parley:recent:40");
  EXPECT_GT(ttl, redis::kRecentTtlMs - 60'000);
  EXPECT_LE(ttl, redis::kRecentTtlMs);
  // Past the window's end: the store has entries the window does not (yet).
  EXPECT_EQ(recent->Range(ConversationId(40), 0, 8, 8, 500, UserId(7)), std::nullopt);
  EXPECT_EQ(recent->Range(ConversationId(40), 0, 3, 8, 500, UserId(7)), std::nullopt)
      << "seq 8 may change an entry of the range";
  EXPECT_EQ(recent->Range(ConversationId(42), 0, 1, 1, 500, UserId(7)), std::nullopt) << "no window";
  EXPECT_EQ(recent->Range(ConversationId(40), 7, 7, 7, 500, UserId(7)), std::vector<Message>())
      << "nothing missed";

  // Only the last 8 are kept: 13 entries leave 6..13.
  for (int64_t seq = 8; seq <= 13; ++seq) recent->Committed(Texts(40, seq, seq));
  all.insert(all.end(),
             {Entry(40, 8), Entry(40, 9), Entry(40, 10), Entry(40, 11), Entry(40, 12), Entry(40, 13)});
  const std::span<const Message> kept(all.end() - 8, all.end());
  EXPECT_TRUE(Serves(*recent, kept, 5, 13));
  EXPECT_EQ(recent->Range(ConversationId(40), 4, 13, 13, 500, UserId(7)), std::nullopt)
      << "seq 5 was trimmed";
}

// The window's promises (store/recent_entries.h) against what a cluster does
// to it: a write lost (a gap), a second writer (entries again), a delete.
TEST_F(RedisPresence, RecentWindowsHaveNoHoleAndNoErasedBody) {
  auto recent = MakeRecent(64);
  ASSERT_TRUE(recent);
  recent->Committed(Texts(50, 1, 3));
  ASSERT_TRUE(Serves(*recent, Texts(50, 1, 3), 0, 3));
  // Seq 4 never reached Redis: 5 starts a new window.
  recent->Committed(Texts(50, 5, 6));
  ASSERT_TRUE(Serves(*recent, Texts(50, 5, 6), 4, 6));
  EXPECT_EQ(recent->Range(ConversationId(50), 2, 6, 6, 500, UserId(7)), std::nullopt);
  // Another node writes 5..7 again (a rebalance): 7 is new, 5 and 6 are there.
  recent->Committed(Texts(50, 5, 7));
  ASSERT_TRUE(Serves(*recent, Texts(50, 5, 7), 4, 7));
  // A delete starts a new window: the body it erased is gone from Redis.
  std::vector<Message> after_delete{Entry(50, 8, EntryKind::kDelete, 6), Entry(50, 9)};
  recent->Committed(after_delete);
  ASSERT_TRUE(Serves(*recent, after_delete, 7, 9));
  EXPECT_EQ(ListOf("parley:recent:50").size(), 2u);
  EXPECT_EQ(recent->Range(ConversationId(50), 5, 9, 9, 500, UserId(7)), std::nullopt);
  for (const std::string& kept : ListOf("parley:recent:50")) {
    EXPECT_EQ(kept.find("text 6"), std::string::npos) << "the deleted body is still in Redis";
  }
  // Garbage under the key (Redis is shared) is never served.
  ASSERT_TRUE(Server().Command("RPUSH parley:recent:50 10:garbage"));
  EXPECT_EQ(recent->Range(ConversationId(50), 7, 10, 10, 500, UserId(7)), std::nullopt);
}

// Redis away: a commit never waits for it and a resume reads the store; when
// it is back (empty), windows start again with the next entries.
TEST_F(RedisPresence, RecentEntriesSurviveARedisRestart) {
  auto recent = MakeRecent(64);
  ASSERT_TRUE(recent);
  recent->Committed(Texts(60, 1, 3));
  ASSERT_TRUE(Serves(*recent, Texts(60, 1, 3), 0, 3));

  Server().Kill();
  auto t0 = Clock::now();
  for (int64_t seq = 4; seq <= 1000; ++seq) recent->Committed(Texts(60, seq, seq));
  EXPECT_LT(Clock::now() - t0, 100ms) << "Committed waited for Redis";
  t0 = Clock::now();
  EXPECT_EQ(recent->Range(ConversationId(60), 0, 3, 3, 500, UserId(7)), std::nullopt);
  EXPECT_EQ(recent->Range(ConversationId(60), 0, 3, 3, 500, UserId(7)), std::nullopt);
  EXPECT_LT(Clock::now() - t0, 500ms) << "each read waited for Redis";
  ASSERT_EQ(Server().EnsureRunning(), "");  // same port, empty

  EXPECT_EQ(recent->Range(ConversationId(60), 0, 3, 3, 500, UserId(7)), std::nullopt)
      << "Redis lost the window";
  // Entries committed from now on are served again (after the pause of
  // a second that followed the failure).
  std::vector<Message> later;
  for (int64_t seq = 1001; seq <= 1003; ++seq) later.push_back(Entry(60, seq));
  ASSERT_TRUE(Eventually(
      [&] {
        recent->Committed(std::span<const Message>(&later.front(), 1));
        return recent->Range(ConversationId(60), 1000, 1001, 1001, 500, UserId(7)).has_value();
      },
      5s));
  recent->Committed(std::span<const Message>(later).subspan(1));
  EXPECT_TRUE(Serves(*recent, later, 1000, 1003));
}

TEST_F(RedisPresence, PublishToDeliverLatency) {
  auto a = MakeBackend(1);
  auto b = MakeBackend(2);
  ASSERT_TRUE(a.ok() && b.ok());
  RecordingSink sink;
  b->fanout->SetSink(&sink);
  b->fanout->Follow({fanout::Interest::Kind::kConversation, 600});
  ASSERT_TRUE(Eventually(
      [&] {
        a->fanout->Publish({fanout::Event::ToConversation(ConversationId(600), protocol::MakeFrame("warm"))});
        return sink.WaitForFrame("warm", 20ms);
      },
      5s));
  std::this_thread::sleep_for(50ms);
  sink.Clear();
  constexpr int kRounds = 1000;
  std::vector<double> us;
  std::string body(200, 'x');
  for (int i = 0; i < kRounds; ++i) {
    auto t0 = Clock::now();
    a->fanout->Publish({fanout::Event::ToConversation(ConversationId(600), protocol::MakeFrame(body), i)});
    ASSERT_TRUE(sink.WaitForCount(static_cast<size_t>(i) + 1, 2s));
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  // Throughput: one batch of many events.
  sink.Clear();
  constexpr int kBurst = 20000;
  fanout::EventBatch burst;
  for (int i = 0; i < kBurst; ++i)
    burst.push_back(fanout::Event::ToConversation(ConversationId(600), protocol::MakeFrame(body), i));
  auto t0 = Clock::now();
  a->fanout->Publish(std::move(burst));
  ASSERT_TRUE(sink.WaitForCount(kBurst, 20s));
  double burst_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << "[          ] publish->deliver over Redis, 200-byte frame, one at a time: p50 "
            << us[us.size() / 2] << " us, p99 " << us[us.size() * 99 / 100] << " us, max " << us.back()
            << " us; burst of " << kBurst << ": " << static_cast<int>(kBurst / burst_s) << " events/s in "
            << sink.Batches() << " Deliver calls\n";
  b->fanout->SetSink(nullptr);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Redis, PresenceContract, ::testing::Values(RedisBackend()), PresenceBackendName);

}  // namespace parley::presence::contract
