#include "presence_contract.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

namespace parley::presence::contract {

using namespace std::chrono_literals;

// ---- RecordingSink --------------------------------------------------------------

void RecordingSink::Deliver(std::shared_ptr<const fanout::EventBatch> batch) {
  {
    std::lock_guard lock(mu_);
    events_ += batch->size();
    batches_.push_back(std::move(batch));
  }
  cv_.notify_all();
}

std::vector<fanout::Event> RecordingSink::Events() const {
  std::lock_guard lock(mu_);
  std::vector<fanout::Event> out;
  for (const auto& b : batches_) out.insert(out.end(), b->begin(), b->end());
  return out;
}

size_t RecordingSink::Batches() const {
  std::lock_guard lock(mu_);
  return batches_.size();
}

bool RecordingSink::WaitFor(const std::function<bool(const std::vector<fanout::Event>&)>& pred,
                            std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    std::vector<fanout::Event> events;
    for (const auto& b : batches_) events.insert(events.end(), b->begin(), b->end());
    if (pred(events)) return true;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      events.clear();
      for (const auto& b : batches_) events.insert(events.end(), b->begin(), b->end());
      return pred(events);
    }
  }
}

bool RecordingSink::WaitForFrame(const std::string& text, std::chrono::milliseconds timeout) const {
  return WaitFor(
      [&](const std::vector<fanout::Event>& events) {
        return std::any_of(events.begin(), events.end(),
                           [&](const fanout::Event& e) { return e.frame && *e.frame == text; });
      },
      timeout);
}

bool RecordingSink::WaitForCount(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return events_ >= n; });
}

void RecordingSink::Clear() {
  std::lock_guard lock(mu_);
  batches_.clear();
  events_ = 0;
}

// ---- fixture ----------------------------------------------------------------------

void PresenceContract::SetUp() {
  if (GetParam().prepare) {
    std::string why = GetParam().prepare();
    if (!why.empty()) GTEST_SKIP() << why;
  }
}

TestNode& PresenceContract::AddNode() {
  auto node = std::make_unique<TestNode>();
  node->id = static_cast<int64_t>(nodes_.size()) + 1;
  node->parts = GetParam().make_node(node->id);
  if (!node->parts.registry || !node->parts.fanout) {
    ADD_FAILURE() << "make_node(" << node->id << ") failed";
    throw std::runtime_error("no node");
  }
  node->parts.fanout->SetSink(&node->sink);
  nodes_.push_back(std::move(node));
  return *nodes_.back();
}

TestNode& PresenceContract::Receiver() {
  if (nodes_.empty()) AddNode();
  if (multi_node() && nodes_.size() < 2) AddNode();
  return multi_node() ? *nodes_[1] : *nodes_[0];
}

void PresenceContract::Fence(TestNode& from, bool clear) {
  std::string marker = "fence-" + std::to_string(++fence_);
  fanout::EventBatch batch;
  for (auto& n : nodes_)
    batch.push_back(
        fanout::Event::ToSession(log::Origin{.node = n->id, .session = 1}, protocol::MakeFrame(marker)));
  from.fanout().Publish(std::move(batch));
  for (auto& n : nodes_) {
    EXPECT_TRUE(n->sink.WaitForFrame(marker)) << "node " << n->id << " missed " << marker;
    if (clear) n->sink.Clear();
  }
}

void PresenceContract::AwaitFollowing(TestNode& from, TestNode& to, fanout::Interest interest) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    std::string probe = "probe-" + std::to_string(i);
    fanout::Event e =
        interest.kind == fanout::Interest::Kind::kConversation
            ? fanout::Event::ToConversation(ConversationId(interest.id), protocol::MakeFrame(probe))
            : fanout::Event::ToUsers({UserId(interest.id)}, protocol::MakeFrame(probe));
    from.fanout().Publish({e});
    if (to.sink.WaitForFrame(probe, 100ms)) {
      Fence(from, /*clear=*/true);
      return;
    }
  }
  ADD_FAILURE() << "node " << to.id << " never received events of interest " << interest.id;
}

namespace {

SessionKey Key(const TestNode& n, uint64_t session) { return SessionKey{.node = n.id, .session = session}; }

std::vector<bool> OnlineOf(PresenceRegistry& r, std::initializer_list<int64_t> ids) {
  std::vector<UserId> users;
  for (int64_t id : ids) users.emplace_back(id);
  return r.Online(users);
}

std::vector<std::string> Frames(const std::vector<fanout::Event>& events) {
  std::vector<std::string> out;
  for (const fanout::Event& e : events) out.push_back(e.frame ? *e.frame : std::string("<null>"));
  return out;
}

}  // namespace

// ---- registry ----------------------------------------------------------------------

TEST_P(PresenceContract, FirstAndLastSession) {
  TestNode& a = AddNode();
  UserId u(10);
  EXPECT_TRUE(a.registry().AddSession(u, Key(a, 1)));
  EXPECT_FALSE(a.registry().AddSession(u, Key(a, 2)));
  EXPECT_EQ(OnlineOf(a.registry(), {10}), std::vector<bool>{true});
  EXPECT_FALSE(a.registry().RemoveSession(u, Key(a, 1)));
  EXPECT_EQ(OnlineOf(a.registry(), {10}), std::vector<bool>{true});
  EXPECT_TRUE(a.registry().RemoveSession(u, Key(a, 2)));
  EXPECT_EQ(OnlineOf(a.registry(), {10}), std::vector<bool>{false});
  // Back again: a first session once more.
  EXPECT_TRUE(a.registry().AddSession(u, Key(a, 3)));
  EXPECT_TRUE(a.registry().RemoveSession(u, Key(a, 3)));
}

TEST_P(PresenceContract, RemovingAnUnknownSessionIsNotTheLast) {
  TestNode& a = AddNode();
  EXPECT_FALSE(a.registry().RemoveSession(UserId(11), Key(a, 1)));
  EXPECT_EQ(OnlineOf(a.registry(), {11}), std::vector<bool>{false});
}

TEST_P(PresenceContract, OnlineAnswersInOrder) {
  TestNode& a = AddNode();
  EXPECT_TRUE(a.registry().Online({}).empty());
  a.registry().AddSession(UserId(21), Key(a, 1));
  a.registry().AddSession(UserId(23), Key(a, 2));
  EXPECT_EQ(OnlineOf(a.registry(), {20, 21, 22, 23, 21}),
            (std::vector<bool>{false, true, false, true, true}));
  // Many users at once.
  std::vector<UserId> many;
  for (int64_t i = 1000; i < 3500; ++i) many.emplace_back(i);
  a.registry().AddSession(UserId(3499), Key(a, 3));
  auto online = a.registry().Online(many);
  ASSERT_EQ(online.size(), many.size());
  EXPECT_EQ(std::count(online.begin(), online.end(), true), 1);
  EXPECT_TRUE(online.back());
}

TEST_P(PresenceContract, PingSucceeds) {
  TestNode& a = AddNode();
  auto ok = a.registry().Ping();
  EXPECT_TRUE(ok.ok()) << (ok.ok() ? "" : ok.error().message);
}

TEST_P(PresenceContract, OnlineAcrossNodes) {
  if (!multi_node()) GTEST_SKIP() << "single-node backend";
  TestNode& a = AddNode();
  TestNode& b = AddNode();
  UserId u(30);
  EXPECT_TRUE(a.registry().AddSession(u, Key(a, 1)));
  EXPECT_EQ(OnlineOf(b.registry(), {30}), std::vector<bool>{true});
  EXPECT_FALSE(b.registry().AddSession(u, Key(b, 1)));  // same session number, other node
  EXPECT_FALSE(a.registry().RemoveSession(u, Key(a, 1)));
  EXPECT_EQ(OnlineOf(a.registry(), {30}), std::vector<bool>{true});
  EXPECT_TRUE(b.registry().RemoveSession(u, Key(b, 1)));
  EXPECT_EQ(OnlineOf(a.registry(), {30}), std::vector<bool>{false});
  EXPECT_EQ(OnlineOf(b.registry(), {30}), std::vector<bool>{false});
}

TEST_P(PresenceContract, ConcurrentSessionsOfOneUserCountOnce) {
  TestNode& a = AddNode();
  if (multi_node()) AddNode();
  UserId u(40);
  std::atomic<int> firsts{0}, lasts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      TestNode& n = *nodes_[static_cast<size_t>(t) % nodes_.size()];
      for (int i = 0; i < 25; ++i) {
        SessionKey k = Key(n, static_cast<uint64_t>(t * 1000 + i));
        if (n.registry().AddSession(u, k)) ++firsts;
        if (n.registry().RemoveSession(u, k)) ++lasts;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(firsts.load(), 1);
  EXPECT_EQ(firsts.load(), lasts.load()) << "every coming online is matched by one going offline";
  EXPECT_EQ(OnlineOf(a.registry(), {40}), std::vector<bool>{false});
}

// ---- fan-out -------------------------------------------------------------------------

TEST_P(PresenceContract, ConversationEventsReachFollowersWithEveryField) {
  TestNode& a = AddNode();
  TestNode& b = Receiver();
  b.fanout().Follow({fanout::Interest::Kind::kConversation, 7});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kConversation, 7});

  fanout::Event e = fanout::Event::ToConversation(
      ConversationId(7), protocol::MakeFrame("{\"type\":\"typing\"}"), 42, UserId(9));
  a.fanout().Publish({e});
  ASSERT_TRUE(b.sink.WaitFor([](auto& ev) { return !ev.empty(); }));
  Fence(a, false);
  auto got = b.sink.Events();
  ASSERT_GE(got.size(), 1u);
  const fanout::Event& g = got[0];
  EXPECT_EQ(g.target, fanout::Event::Target::kConversation);
  EXPECT_EQ(g.conv, ConversationId(7));
  EXPECT_EQ(g.seq, 42);
  EXPECT_EQ(g.exclude, UserId(9)) << "exclude travels with the event; the gateway honours it";
  ASSERT_TRUE(g.frame);
  EXPECT_EQ(*g.frame, "{\"type\":\"typing\"}");
}

TEST_P(PresenceContract, NodesThatDoNotFollowReceiveNothing) {
  if (!multi_node()) GTEST_SKIP() << "single-node backend delivers everything to its one node";
  TestNode& a = AddNode();
  TestNode& b = AddNode();
  TestNode& c = AddNode();
  b.fanout().Follow({fanout::Interest::Kind::kConversation, 8});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kConversation, 8});
  a.fanout().Publish({fanout::Event::ToConversation(ConversationId(8), protocol::MakeFrame("for-8")),
                      fanout::Event::ToConversation(ConversationId(9), protocol::MakeFrame("for-9")),
                      fanout::Event::ToUsers({UserId(50)}, protocol::MakeFrame("for-user-50"))});
  Fence(a, false);
  EXPECT_EQ(Frames(b.sink.Events()), (std::vector<std::string>{"for-8", "fence-" + std::to_string(fence_)}));
  EXPECT_EQ(Frames(c.sink.Events()), (std::vector<std::string>{"fence-" + std::to_string(fence_)}));
  // The publisher's own share is its whole batch, handed over directly
  // (its gateway filters by what its connections follow).
  EXPECT_EQ(Frames(a.sink.Events()),
            (std::vector<std::string>{"for-8", "for-9", "for-user-50", "fence-" + std::to_string(fence_)}));
}

// A node's own events reach its connections once, straight from Publish:
// not again through Redis when the node also follows them, and never an
// answer addressed to another node's session.
TEST_P(PresenceContract, OwnEventsArriveOnceAndAnswersOnlyWhereAddressed) {
  if (!multi_node()) GTEST_SKIP() << "single-node backend delivers everything to its one node";
  TestNode& a = AddNode();
  TestNode& b = AddNode();
  a.fanout().Follow({fanout::Interest::Kind::kConversation, 7});
  b.fanout().Follow({fanout::Interest::Kind::kConversation, 7});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kConversation, 7});
  AwaitFollowing(b, a, {fanout::Interest::Kind::kConversation, 7});
  a.fanout().Publish(
      {fanout::Event::ToConversation(ConversationId(7), protocol::MakeFrame("own")),
       fanout::Event::ToSession(log::Origin{.node = b.id, .session = 5}, protocol::MakeFrame("for-b")),
       fanout::Event::ToSession(log::Origin{.node = a.id, .session = 6}, protocol::MakeFrame("for-a"))});
  Fence(a, false);
  Fence(b, false);  // a's copies from Redis, if any were delivered, came before this
  std::string f1 = "fence-" + std::to_string(fence_ - 1), f2 = "fence-" + std::to_string(fence_);
  EXPECT_EQ(Frames(a.sink.Events()), (std::vector<std::string>{"own", "for-a", f1, f2}));
  EXPECT_EQ(Frames(b.sink.Events()), (std::vector<std::string>{"own", "for-b", f1, f2}));
}

// Once AwaitFollowing says a node follows something, the very next event
// published for it anywhere arrives there: no probing, no sleeping.
TEST_P(PresenceContract, AwaitFollowingMeansTheNextPublishArrives) {
  TestNode& a = AddNode();
  TestNode& b = Receiver();
  fanout::Interest conv{fanout::Interest::Kind::kConversation, 31};
  fanout::Interest user{fanout::Interest::Kind::kUser, 131};
  b.fanout().Follow(conv);
  b.fanout().Follow(user);
  std::vector<fanout::Interest> both{conv, user};
  ASSERT_TRUE(b.fanout().AwaitFollowing(both, 5s));
  a.fanout().Publish({fanout::Event::ToConversation(ConversationId(31), protocol::MakeFrame("right-after")),
                      fanout::Event::ToUsers({UserId(131)}, protocol::MakeFrame("to-user-131"))});
  EXPECT_TRUE(b.sink.WaitForFrame("right-after"));
  EXPECT_TRUE(b.sink.WaitForFrame("to-user-131"));
  if (multi_node()) {
    // What the node does not follow is never ready.
    std::vector<fanout::Interest> other{{fanout::Interest::Kind::kConversation, 32}};
    EXPECT_FALSE(b.fanout().AwaitFollowing(other, 200ms));
  }
}

TEST_P(PresenceContract, UserEventsReachTheUsersNodesOnce) {
  TestNode& a = AddNode();
  TestNode& b = Receiver();
  b.fanout().Follow({fanout::Interest::Kind::kUser, 60});
  b.fanout().Follow({fanout::Interest::Kind::kUser, 61});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kUser, 60});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kUser, 61});

  fanout::Event e =
      fanout::Event::ToUsers({UserId(60), UserId(61), UserId(62)}, protocol::MakeFrame("added"));
  e.conv = ConversationId(5);
  e.subscription = fanout::Event::Subscription::kSubscribe;
  a.fanout().Publish({e});
  Fence(a, false);
  std::multiset<int64_t> users;
  for (const fanout::Event& g : b.sink.Events()) {
    if (!g.frame || *g.frame != "added") continue;
    EXPECT_EQ(g.target, fanout::Event::Target::kUsers);
    EXPECT_EQ(g.conv, ConversationId(5));
    EXPECT_EQ(g.subscription, fanout::Event::Subscription::kSubscribe);
    for (UserId u : g.users) users.insert(u.value);
  }
  // Every followed user is named exactly once across what the node got.
  EXPECT_EQ(users.count(60), 1u);
  EXPECT_EQ(users.count(61), 1u);
}

TEST_P(PresenceContract, PureSubscriptionChangesTravelWithoutFrame) {
  TestNode& a = AddNode();
  TestNode& b = Receiver();
  b.fanout().Follow({fanout::Interest::Kind::kUser, 63});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kUser, 63});
  fanout::Event e = fanout::Event::ToUsers({UserId(63)}, nullptr);
  e.conv = ConversationId(6);
  e.subscription = fanout::Event::Subscription::kUnsubscribe;
  a.fanout().Publish({e});
  Fence(a, false);
  auto got = b.sink.Events();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].frame, nullptr);
  EXPECT_EQ(got[0].subscription, fanout::Event::Subscription::kUnsubscribe);
  EXPECT_EQ(got[0].conv, ConversationId(6));
}

TEST_P(PresenceContract, SessionEventsReachTheOriginNodeUnfollowed) {
  TestNode& a = AddNode();
  TestNode& b = Receiver();
  log::Origin origin{.node = b.id, .io_thread = 3, .session = 77, .request_id = 12};
  a.fanout().Publish({fanout::Event::ToSession(origin, protocol::MakeFrame("sent"))});
  ASSERT_TRUE(b.sink.WaitForFrame("sent"));
  auto got = b.sink.Events();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, fanout::Event::Target::kSession);
  EXPECT_EQ(got[0].origin.node, b.id);
  EXPECT_EQ(got[0].origin.io_thread, 3u);
  EXPECT_EQ(got[0].origin.session, 77u);
  EXPECT_EQ(got[0].origin.request_id, 12);
  if (multi_node()) {
    Fence(a, false);
    EXPECT_EQ(Frames(a.sink.Events()), (std::vector<std::string>{"fence-" + std::to_string(fence_)}));
  }
}

TEST_P(PresenceContract, FollowIsReferenceCounted) {
  if (!multi_node()) GTEST_SKIP() << "single-node backend ignores Follow";
  TestNode& a = AddNode();
  TestNode& b = AddNode();
  fanout::Interest conv{fanout::Interest::Kind::kConversation, 70};
  b.fanout().Follow(conv);
  b.fanout().Follow(conv);
  AwaitFollowing(a, b, conv);
  b.fanout().Unfollow(conv);                                         // one follower left
  b.fanout().Unfollow({fanout::Interest::Kind::kConversation, 71});  // never followed: ignored
  a.fanout().Publish({fanout::Event::ToConversation(ConversationId(70), protocol::MakeFrame("still"))});
  EXPECT_TRUE(b.sink.WaitForFrame("still"));
  b.fanout().Unfollow(conv);  // none left
  // Unsubscribing is asynchronous too: wait until events stop arriving.
  bool stopped = false;
  for (int i = 0; i < 50 && !stopped; ++i) {
    b.sink.Clear();
    a.fanout().Publish({fanout::Event::ToConversation(ConversationId(70), protocol::MakeFrame("gone"))});
    Fence(a, false);
    stopped = !b.sink.WaitForFrame("gone", 0ms);
  }
  EXPECT_TRUE(stopped) << "node still receives a conversation it stopped following";
  b.fanout().Follow(conv);  // and back
  AwaitFollowing(a, b, conv);
}

TEST_P(PresenceContract, ConcurrentFollowUnfollowConverges) {
  if (!multi_node()) GTEST_SKIP() << "single-node backend ignores Follow";
  TestNode& a = AddNode();
  TestNode& b = AddNode();
  constexpr int kConvs = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&b, t] {
      for (int round = 0; round < 50; ++round) {
        for (int c = 100; c < 100 + kConvs; ++c)
          b.fanout().Follow({fanout::Interest::Kind::kConversation, c});
        for (int c = 100; c < 100 + kConvs; ++c) {
          // Thread 0 keeps the even conversations in its last round.
          if (t == 0 && round == 49 && c % 2 == 0) continue;
          b.fanout().Unfollow({fanout::Interest::Kind::kConversation, c});
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  AwaitFollowing(a, b, {fanout::Interest::Kind::kConversation, 100});
  // Let the unsubscriptions settle, then: evens delivered, odds not.
  bool settled = false;
  for (int i = 0; i < 50 && !settled; ++i) {
    b.sink.Clear();
    fanout::EventBatch batch;
    for (int c = 100; c < 100 + kConvs; ++c)
      batch.push_back(
          fanout::Event::ToConversation(ConversationId(c), protocol::MakeFrame(std::to_string(c))));
    a.fanout().Publish(std::move(batch));
    Fence(a, false);
    std::vector<std::string> want;
    for (int c = 100; c < 100 + kConvs; c += 2) want.push_back(std::to_string(c));
    want.push_back("fence-" + std::to_string(fence_));
    settled = Frames(b.sink.Events()) == want;
  }
  EXPECT_TRUE(settled) << "got " << ::testing::PrintToString(Frames(b.sink.Events()));
}

TEST_P(PresenceContract, BatchesArriveInOrder) {
  TestNode& a = AddNode();
  TestNode& b = Receiver();
  b.fanout().Follow({fanout::Interest::Kind::kConversation, 80});
  b.fanout().Follow({fanout::Interest::Kind::kUser, 81});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kConversation, 80});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kUser, 81});
  constexpr int kEvents = 600;
  for (int start = 0; start < kEvents; start += 100) {
    fanout::EventBatch batch;
    for (int i = start; i < start + 100; ++i) {
      protocol::Frame f = protocol::MakeFrame(std::to_string(i));
      if (i % 3 == 0) {
        batch.push_back(fanout::Event::ToUsers({UserId(81)}, f));
      } else if (i % 3 == 1) {
        batch.push_back(fanout::Event::ToSession(log::Origin{.node = b.id, .session = 1}, f));
      } else {
        batch.push_back(fanout::Event::ToConversation(ConversationId(80), f, i));
      }
    }
    a.fanout().Publish(std::move(batch));
  }
  ASSERT_TRUE(b.sink.WaitFor([](auto& ev) { return ev.size() >= kEvents; }));
  auto got = Frames(b.sink.Events());
  ASSERT_EQ(got.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], std::to_string(i)) << "at " << i;
  EXPECT_LE(b.sink.Batches(), static_cast<size_t>(kEvents)) << "deliveries are batched";
}

TEST_P(PresenceContract, FramesArriveByteExact) {
  TestNode& a = AddNode();
  TestNode& b = Receiver();
  b.fanout().Follow({fanout::Interest::Kind::kConversation, 90});
  AwaitFollowing(a, b, {fanout::Interest::Kind::kConversation, 90});
  std::string binary;
  for (int i = 0; i < 256 * 1024; ++i) binary.push_back(static_cast<char>(i * 7919 % 256));
  a.fanout().Publish({fanout::Event::ToConversation(ConversationId(90), protocol::MakeFrame(binary)),
                      fanout::Event::ToConversation(ConversationId(90), protocol::MakeFrame(""))});
  ASSERT_TRUE(b.sink.WaitFor([](auto& ev) { return ev.size() >= 2; }));
  auto got = b.sink.Events();
  ASSERT_TRUE(got[0].frame);
  EXPECT_TRUE(*got[0].frame == binary);
  ASSERT_TRUE(got[1].frame);
  EXPECT_EQ(*got[1].frame, "");
}

}  // namespace parley::presence::contract
