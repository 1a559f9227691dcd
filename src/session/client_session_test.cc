// ClientSession without a socket: a real chat::Service over SQLite, the
// embedded log and presence, the sequencer driven by hand, a Link that
// records frames and drains only when told, a Worker that runs jobs only
// when told, and fan-out batches dispatched to the Hub only when the test
// says so. That makes the races of a live server deterministic: an io thread's
// delivery that lags behind the commit a resume read, a contact who comes
// online while the resume runs, a reader that stops reading.
#include "session/client_session.h"

#include <deque>
#include <filesystem>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "chat/service_fixture.h"
#include "common/close_code.h"
#include "metrics/metrics.h"
#include "session/hub.h"

namespace parley::session {
namespace {
namespace json = boost::json;

// Holds every published batch until the test dispatches it.
class HeldSink : public fanout::DeliverySink {
 public:
  void Deliver(std::shared_ptr<const fanout::EventBatch> batch) override { batches.push_back(batch); }
  std::deque<std::shared_ptr<const fanout::EventBatch>> batches;
};

// Runs blocking jobs one at a time, on the test's thread, when asked.
class ManualWorker : public Worker {
 public:
  void Run(std::function<Continuation()> work) override { jobs.push_back(std::move(work)); }
  void Detach(std::function<void()> work) override {
    jobs.push_back([work = std::move(work)]() -> Continuation {
      work();
      return [] {};
    });
  }
  // Runs the oldest job and its continuation; false when there is none.
  bool RunOne() {
    if (jobs.empty()) return false;
    auto job = std::move(jobs.front());
    jobs.pop_front();
    job()();
    return true;
  }
  void RunAll() {
    while (RunOne()) {
    }
  }
  std::deque<std::function<Continuation()>> jobs;
};

// A connection that queues frames until Drain() "writes" them.
class FakeLink : public Link {
 public:
  void Send(Frame frame, bool counted) override {
    if (Closing()) return;
    if (counted && counted_bytes + static_cast<int64_t>(frame->size()) > max_counted) {
      return Close(kCloseSlowReader, "too slow a reader", false);
    }
    queued.push_back({frame, counted});
    queued_bytes += static_cast<int64_t>(frame->size());
    if (counted) counted_bytes += static_cast<int64_t>(frame->size());
    max_queued = std::max(max_queued, queued_bytes);
    if (!counted) uncounted_frames++;
  }
  void Close(uint16_t code, std::string_view reason, bool keep_queued) override {
    if (close_code) return;
    close_code = code;
    close_reason = reason;
    if (!keep_queued) {
      queued.clear();
      queued_bytes = counted_bytes = 0;
    }
  }
  int64_t QueuedBytes() const override { return queued_bytes; }
  bool Closing() const override { return close_code != 0; }
  void ContinueReading() override { ++continued; }
  std::shared_ptr<void> KeepAlive() override { return alive; }

  // Writes everything queued: it becomes `written`.
  void Drain(ClientSession& s) {
    for (auto& [f, counted] : queued) written.push_back(json::parse(*f).as_object());
    queued.clear();
    queued_bytes = counted_bytes = 0;
    s.OnWritten();
  }
  // Everything written and still queued, parsed.
  std::vector<json::object> All() const {
    std::vector<json::object> out = written;
    for (auto& [f, counted] : queued) out.push_back(json::parse(*f).as_object());
    return out;
  }
  std::vector<json::object> OfType(std::string_view type) const {
    std::vector<json::object> out;
    for (auto& o : All()) {
      if (o.at("type").as_string() == type) out.push_back(o);
    }
    return out;
  }

  std::vector<std::pair<Frame, bool>> queued;
  std::vector<json::object> written;
  int64_t queued_bytes = 0, counted_bytes = 0, max_queued = 0;
  int64_t max_counted = 4 * 1024 * 1024;
  int uncounted_frames = 0;
  int continued = 0;
  uint16_t close_code = 0;
  std::string close_reason;
  std::shared_ptr<void> alive = std::make_shared<int>(0);
};

class ClientSessionTest : public chat::ServiceFixture {
 protected:
  void SetUp() override {
    chat::Options o;
    o.resume_limit = 8;
    o.send_burst = 20;
    o.send_rate_per_s = 10;
    StartService(sink_, o);
    hub_ = std::make_unique<Hub>(*fanout_);
    options_.heartbeat_ms = 25000;
    options_.now_ms = [this] { return now_ms_; };
    env_ = std::make_unique<SessionEnv>(SessionEnv{*service_, *hub_, worker_, metrics_, options_});
  }
  void TearDown() override {
    // Continuations need their session (a real connection keeps it alive
    // with KeepAlive); what runs after the sessions are gone is Detach work.
    worker_.RunAll();
    sessions_.clear();
    worker_.RunAll();
    ServiceFixture::TearDown();
  }

  // Sends `n` messages from `from` and commits them; their live events
  // wait in the sink until Dispatch().
  void SendMany(const chat::AuthSession& from, ConversationId conv, int n, const std::string& body = "hi") {
    for (int i = 0; i < n; ++i) {
      auto ok =
          service_->Send(from.user.id, protocol::SendReq{conv, "m" + std::to_string(next_cmid_++), body},
                         log::Origin{1, 0, 999, i + 1});
      ASSERT_TRUE(ok) << ok.error().message;
      clock_.Advance(100);  // within the sender's rate
    }
    Drain();
  }
  // Delivers every held batch to the hub, in order.
  void Dispatch() {
    while (!sink_.batches.empty()) {
      auto b = sink_.batches.front();
      sink_.batches.pop_front();
      hub_->Dispatch(*b);
    }
  }
  void DropHeldBatches() { sink_.batches.clear(); }

  struct Client {
    FakeLink link;
    std::unique_ptr<ClientSession> session;
  };
  Client& Open(uint64_t id) {
    auto c = std::make_unique<Client>();
    c->session = std::make_unique<ClientSession>(*env_, c->link, id);
    sessions_.push_back(std::move(c));
    return *sessions_.back();
  }
  // A session of `who` that said hello and opened a DM with `peer` over the
  // WebSocket; returns the DM's id.
  std::string HelloAndDm(Client& c, const chat::AuthSession& who, const std::string& peer) {
    c.session->OnMessage(Hello(who), false);
    worker_.RunAll();
    c.session->OnMessage(R"({"id":2,"type":"dm","username":")" + peer + R"("})", false);
    worker_.RunAll();
    return std::string(c.link.OfType("conversation").at(0).at("conversation").at("id").as_string());
  }
  static std::string Hello(const chat::AuthSession& who, const std::string& last_seq = "{}") {
    return R"({"id":1,"type":"hello","token":")" + who.access_token + R"(","last_seq":)" + last_seq + "}";
  }
  // The seqs of the message events `c` got for `conv`, in order.
  static std::vector<int64_t> Seqs(const Client& c, ConversationId conv) {
    std::vector<int64_t> out;
    for (auto& m : c.link.OfType("message")) {
      if (m.at("conv").as_string() == std::to_string(conv.value)) out.push_back(m.at("seq").as_int64());
    }
    return out;
  }
  static std::vector<int64_t> Range(int64_t from, int64_t to) {
    std::vector<int64_t> out;
    for (int64_t s = from; s <= to; ++s) out.push_back(s);
    return out;
  }

  HeldSink sink_;
  std::unique_ptr<Hub> hub_;
  metrics::Metrics metrics_;
  ManualWorker worker_;
  SessionOptions options_;
  std::unique_ptr<SessionEnv> env_;
  std::vector<std::unique_ptr<Client>> sessions_;
  int64_t now_ms_ = 1'000'000;
  int next_cmid_ = 0;
};

TEST_F(ClientSessionTest, HelloGetsWelcomeThenTheResume) {
  auto alice = Register("alice"), bob = Register("bob");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  ASSERT_TRUE(dm);
  SendMany(bob, dm->id, 3);
  DropHeldBatches();
  Client& c = Open(1);
  EXPECT_TRUE(c.session->WantsInput());
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":1})"), false);
  EXPECT_FALSE(c.session->WantsInput()) << "nothing is read until the resume is out";
  worker_.RunAll();
  auto all = c.link.All();
  ASSERT_GE(all.size(), 3u) << c.link.close_code << " " << c.link.close_reason;
  EXPECT_EQ(all[0].at("type").as_string(), "welcome");
  EXPECT_EQ(all[0].at("re").as_int64(), 1);
  EXPECT_EQ(all[0].at("session").as_string(), "1-1");
  EXPECT_EQ(Seqs(c, dm->id), Range(2, 3));
  EXPECT_TRUE(c.session->WantsInput());
  EXPECT_GT(c.link.continued, 0) << "reading goes on after the resume";
  EXPECT_EQ(c.link.close_code, 0);
}

// The live events of a commit can reach this io thread after the resume
// has read that commit from the store (the sequencer posts to each io thread
// in turn). Exactly once per (conv, seq) holds anyway.
TEST_F(ClientSessionTest, LiveEventsTheResumeAlreadySentAreDropped) {
  auto alice = Register("alice"), bob = Register("bob");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  ASSERT_TRUE(dm);
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":0})"), false);
  worker_.RunAll();  // welcome, and an empty resume
  ASSERT_EQ(c.link.OfType("welcome").size(), 1u);
  // Bob's messages are committed; their delivery here is delayed.
  SendMany(bob, dm->id, 4);
  // A second connection of alice resumes from 0 while the events lag.
  Client& c2 = Open(2);
  c2.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":0})"), false);
  worker_.RunAll();
  EXPECT_EQ(Seqs(c2, dm->id), Range(1, 4)) << "the resume read them from the store";
  Dispatch();  // the lagging live events arrive at last
  EXPECT_EQ(Seqs(c2, dm->id), Range(1, 4)) << "and are not delivered twice";
  EXPECT_EQ(Seqs(c, dm->id), Range(1, 4)) << "the first connection got them live";
  SendMany(bob, dm->id, 1);
  Dispatch();
  EXPECT_EQ(Seqs(c2, dm->id), Range(1, 5)) << "newer events pass";
}

// The same race while the resume is still being sent: the live events are
// held, and the resume's floor drops the overlap when it ends.
TEST_F(ClientSessionTest, EventsHeldDuringTheResumeAreNotRepeated) {
  auto alice = Register("alice"), bob = Register("bob");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  ASSERT_TRUE(dm);
  SendMany(bob, dm->id, 3);
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":0})"), false);
  ASSERT_TRUE(worker_.RunOne());  // Connect: welcome, subscribed, events held from now on
  ASSERT_TRUE(worker_.RunOne());  // the resume plan: seqs 1..3
  SendMany(bob, dm->id, 2);       // 4 and 5 committed while the pages are read
  Dispatch();                     // held, not sent
  EXPECT_EQ(Seqs(c, dm->id), std::vector<int64_t>{});
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), Range(1, 5)) << "the resume's 1..3, then the held 4 and 5, once each";
}

// Fan-out lost events on their way to this node (a cluster's Redis went
// away): CatchUp sends what the store has after what each connection saw,
// once, and the lost events, should they arrive late after all, are not
// repeated.
TEST_F(ClientSessionTest, CatchUpSendsWhatFanOutLostOnce) {
  auto alice = Register("alice"), bob = Register("bob"), carol = Register("carol");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  auto other = service_->OpenDm(carol.user.id, "alice");
  ASSERT_TRUE(dm && other);
  SendMany(bob, dm->id, 2);
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":2})"), false);
  worker_.RunAll();
  SendMany(bob, dm->id, 1);
  Dispatch();  // seq 3 arrives live
  ASSERT_EQ(Seqs(c, dm->id), Range(3, 3));
  SendMany(bob, dm->id, 3);  // 4..6 committed...
  SendMany(carol, other->id, 2);
  auto lost = std::move(sink_.batches);  // ...and their events lost on the way
  sink_.batches.clear();
  hub_->CatchUpAll();
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), Range(3, 6)) << "the lost ones, from the store";
  EXPECT_EQ(Seqs(c, other->id), Range(1, 2)) << "in a conversation the client had only the summary of";
  for (auto& b : lost) hub_->Dispatch(*b);  // late after all
  EXPECT_EQ(Seqs(c, dm->id), Range(3, 6)) << "not twice";
  SendMany(bob, dm->id, 1);
  Dispatch();
  EXPECT_EQ(Seqs(c, dm->id), Range(3, 7)) << "newer events pass";
  EXPECT_TRUE(c.session->WantsInput());
  EXPECT_EQ(c.link.close_code, 0);
}

// A revocation made elsewhere whose event was lost (another node changed
// the password while this node's Redis link was down): the catch-up finds
// it in the store and closes the old token's session, and only that one.
TEST_F(ClientSessionTest, CatchUpClosesASessionWhoseRevocationWasLost) {
  auto alice = Register("alice"), bob = Register("bob");
  Client& revoked = Open(1);
  Client& other_user = Open(2);
  revoked.session->OnMessage(Hello(alice), false);
  other_user.session->OnMessage(Hello(bob), false);
  worker_.RunAll();
  Dispatch();
  ASSERT_TRUE(store_->RevokeAllTokens(alice.user.id));  // no event: as if published while unreachable
  hub_->CatchUpAll();
  worker_.RunAll();
  EXPECT_EQ(revoked.link.close_code, kCloseBadToken);
  EXPECT_EQ(revoked.link.close_reason, "token revoked");
  EXPECT_EQ(other_user.link.close_code, 0);
  EXPECT_TRUE(other_user.session->WantsInput());
}

// A CatchUp during the resume after hello waits for it, then runs.
TEST_F(ClientSessionTest, CatchUpDuringTheResumeRunsAfterIt) {
  auto alice = Register("alice"), bob = Register("bob");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  ASSERT_TRUE(dm);
  SendMany(bob, dm->id, 2);
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":0})"), false);
  ASSERT_TRUE(worker_.RunOne());  // Connect
  ASSERT_TRUE(worker_.RunOne());  // the resume plan: seqs 1..2
  SendMany(bob, dm->id, 2);       // 3 and 4, their events lost
  DropHeldBatches();
  hub_->CatchUpAll();
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), Range(1, 4));
  EXPECT_TRUE(c.session->WantsInput());
}

TEST_F(ClientSessionTest, AContactWhoComesOnlineDuringTheResumeIsReportedOnce) {
  auto alice = Register("alice"), carol = Register("carol");
  ASSERT_TRUE(service_->OpenDm(alice.user.id, "carol"));
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice), false);
  ASSERT_TRUE(worker_.RunOne());  // Connect: alice is in the hub, resuming
  // Carol connects now: her presence event reaches alice while resuming...
  ASSERT_TRUE(service_->Connect(carol.user.id, presence::SessionKey{1, 77}));
  Dispatch();
  // ...and the resume plan, read after, finds her online too.
  worker_.RunAll();
  auto presence = c.link.OfType("presence");
  ASSERT_EQ(presence.size(), 1u) << json::serialize(json::value_from(presence));
  EXPECT_EQ(presence[0].at("user").as_string(), std::to_string(carol.user.id.value));
  EXPECT_TRUE(presence[0].at("online").as_bool());
}

TEST_F(ClientSessionTest, AContactAlreadyOnlineIsReportedByTheResume) {
  auto alice = Register("alice"), carol = Register("carol");
  ASSERT_TRUE(service_->OpenDm(alice.user.id, "carol"));
  ASSERT_TRUE(service_->Connect(carol.user.id, presence::SessionKey{1, 77}));
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice), false);
  worker_.RunAll();
  ASSERT_EQ(c.link.OfType("presence").size(), 1u);
}

// A prompt reader gets a resume of any size: each page is read only once
// the queue is below the low-water mark, and none of it counts against the
// slow-reader bound.
TEST_F(ClientSessionTest, TheResumeIsPacedByTheReader) {
  options_.resume_page = 3;
  options_.resume_low_water_bytes = 1;  // one page queued at a time
  auto alice = Register("alice"), bob = Register("bob");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  ASSERT_TRUE(dm);
  SendMany(bob, dm->id, 8, std::string(400, 'x'));
  DropHeldBatches();
  Client& c = Open(1);
  c.link.max_counted = 2000;  // the welcome fits; the resume (8 x 400 bytes) would not
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":0})"), false);
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), std::vector<int64_t>{}) << "the welcome is not read yet";
  c.link.Drain(*c.session);
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), Range(1, 3)) << "one page, then wait for the reader";
  c.link.Drain(*c.session);
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), Range(1, 6));
  EXPECT_FALSE(c.session->WantsInput());
  c.link.Drain(*c.session);
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), Range(1, 8));
  EXPECT_TRUE(c.session->WantsInput()) << "the resume is over";
  EXPECT_EQ(c.link.close_code, 0);
  EXPECT_EQ(c.link.uncounted_frames, 8);
  // A message frame here: its 400-byte body and ~230 bytes of fields (1.1's
  // folded state included).
  EXPECT_LE(c.link.max_queued, 3 * 700) << "never more than a page queued";
}

// The plan's job also reads the first pages (Service::ReadAhead, at most
// resume_page entries in all): a resume that fits needs no read of its own,
// and one that does not goes on with the usual reads, in order.
TEST_F(ClientSessionTest, TheResumeReadsAheadWithThePlan) {
  options_.resume_page = 4;
  auto alice = Register("alice"), bob = Register("bob"), carol = Register("carol");
  auto dm1 = service_->OpenDm(bob.user.id, "alice");
  auto dm2 = service_->OpenDm(carol.user.id, "alice");
  ASSERT_TRUE(dm1 && dm2);
  SendMany(bob, dm1->id, 2);
  SendMany(carol, dm2->id, 2);
  DropHeldBatches();
  const std::string both =
      R"({")" + std::to_string(dm1->id.value) + R"(":0,")" + std::to_string(dm2->id.value) + R"(":0})";
  // The jobs after the welcome: the plan's, then each read.
  auto jobs_after_welcome = [&](Client& c) {
    while (c.link.OfType("welcome").empty() && worker_.RunOne()) {
    }
    int jobs = 0;
    while (worker_.RunOne()) ++jobs;
    return jobs;
  };
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice, both), false);
  EXPECT_EQ(jobs_after_welcome(c), 1) << "the plan read both pages";
  EXPECT_EQ(Seqs(c, dm1->id), Range(1, 2));
  EXPECT_EQ(Seqs(c, dm2->id), Range(1, 2));
  EXPECT_TRUE(c.session->WantsInput()) << "the resume is over";

  SendMany(bob, dm1->id, 5);  // dm1 holds 1..7: more than a page
  DropHeldBatches();
  Client& c2 = Open(2);
  c2.session->OnMessage(Hello(alice, both), false);
  EXPECT_EQ(jobs_after_welcome(c2), 3) << "the plan (dm1 1..4), then dm1 5..7, then dm2";
  EXPECT_EQ(Seqs(c2, dm1->id), Range(1, 7));
  EXPECT_EQ(Seqs(c2, dm2->id), Range(1, 2));
  // dm1's entries all went out before any of dm2's.
  std::vector<std::string> order;
  for (const auto& f : c2.link.All()) {
    if (f.at("type").as_string() == "message") order.push_back(std::string(f.at("conv").as_string()));
  }
  ASSERT_EQ(order.size(), 9u);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(order[i], std::to_string(dm1->id.value)) << i;
  EXPECT_TRUE(c2.session->WantsInput());
}

TEST_F(ClientSessionTest, OverTheResumeLimitAGapComesFirst) {
  auto alice = Register("alice"), bob = Register("bob");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  ASSERT_TRUE(dm);
  SendMany(bob, dm->id, 11);  // resume_limit is 8
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":1})"), false);
  worker_.RunAll();
  auto all = c.link.All();
  auto gaps = c.link.OfType("gap");
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].at("from_seq").as_int64(), 2);
  EXPECT_EQ(gaps[0].at("to_seq").as_int64(), 3);
  EXPECT_EQ(all[1].at("type").as_string(), "gap") << "right after welcome";
  EXPECT_EQ(Seqs(c, dm->id), Range(4, 11));
}

// A client that stops reading during its resume stops the resume; the live
// events held meanwhile reach the slow-reader bound, and it is closed 4009.
TEST_F(ClientSessionTest, AReaderThatStopsDuringTheResumeIsClosed) {
  options_.resume_page = 2;
  options_.resume_low_water_bytes = 1;
  options_.max_queue_bytes = 2000;
  auto alice = Register("alice"), bob = Register("bob");
  auto dm = service_->OpenDm(bob.user.id, "alice");
  ASSERT_TRUE(dm);
  SendMany(bob, dm->id, 5);
  DropHeldBatches();
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice, R"({")" + std::to_string(dm->id.value) + R"(":0})"), false);
  worker_.RunAll();
  c.link.Drain(*c.session);  // the welcome is read
  worker_.RunAll();
  EXPECT_EQ(Seqs(c, dm->id), Range(1, 2));
  // Alice's client never reads again; bob goes on talking.
  for (int i = 0; i < 20 && c.link.close_code == 0; ++i) {
    SendMany(bob, dm->id, 2, std::string(100, 'x'));
    Dispatch();
    worker_.RunAll();
  }
  EXPECT_EQ(c.link.close_code, kCloseSlowReader);
}

TEST_F(ClientSessionTest, TheFirstFrameMustBeHello) {
  Client& c = Open(1);
  c.session->OnMessage(R"({"id":1,"type":"ping"})", false);
  EXPECT_EQ(c.link.close_code, kCloseNoHello);
  Client& late = Open(2);
  late.session->OnHelloDeadline();
  EXPECT_EQ(late.link.close_code, kCloseNoHello);
  auto alice = Register("alice");
  Client& prompt = Open(3);
  prompt.session->OnMessage(Hello(alice), false);
  prompt.session->OnHelloDeadline();
  EXPECT_EQ(prompt.link.close_code, 0) << "hello came in time";
}

TEST_F(ClientSessionTest, ABadTokenClosesWith4003) {
  Client& c = Open(1);
  c.session->OnMessage(R"({"id":1,"type":"hello","token":"nonsense"})", false);
  worker_.RunAll();
  EXPECT_EQ(c.link.close_code, kCloseBadToken);
  EXPECT_EQ(hub_->size(), 0u);
}

TEST_F(ClientSessionTest, BadFramesGetErrorsAndThreeNonJsonInARowClose) {
  auto alice = Register("alice");
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice), false);
  worker_.RunAll();
  c.session->OnMessage(R"({"id":7,"type":"nope"})", false);
  c.session->OnMessage(R"({"type":"history"})", false);
  auto errors = c.link.OfType("error");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].at("re").as_int64(), 7);
  EXPECT_EQ(errors[0].at("code").as_string(), "bad_request");
  c.session->OnMessage("not json", false);
  c.session->OnMessage("abc", true);  // binary is never JSON
  EXPECT_EQ(c.link.close_code, 0);
  c.session->OnMessage(R"({"id":8,"type":"ping"})", false);  // resets the count
  c.session->OnMessage("x", false);
  c.session->OnMessage("y", false);
  EXPECT_EQ(c.link.close_code, 0);
  c.session->OnMessage("z", false);
  EXPECT_EQ(c.link.close_code, kCloseNotJson);
}

TEST_F(ClientSessionTest, RequestsAreAnsweredWithTheirId) {
  auto alice = Register("alice");
  Register("bob");
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice), false);
  worker_.RunAll();
  c.session->OnMessage(R"({"id":5,"type":"ping"})", false);
  c.session->OnMessage(R"({"id":6,"type":"dm","username":"bob"})", false);
  c.session->OnMessage(R"({"id":7,"type":"dm","username":"nobody"})", false);
  worker_.RunAll();
  auto pong = c.link.OfType("pong");
  ASSERT_EQ(pong.size(), 1u);
  EXPECT_EQ(pong[0].at("re").as_int64(), 5);
  auto conv = c.link.OfType("conversation");
  ASSERT_EQ(conv.size(), 1u);
  EXPECT_EQ(conv[0].at("re").as_int64(), 6);
  auto errors = c.link.OfType("error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].at("re").as_int64(), 7);
  EXPECT_EQ(errors[0].at("code").as_string(), "not_found");
}

TEST_F(ClientSessionTest, SendsAreAnsweredAfterTheCommit) {
  auto alice = Register("alice");
  Register("bob");
  Client& c = Open(1);
  std::string conv = HelloAndDm(c, alice, "bob");
  c.session->OnMessage(R"({"id":3,"type":"send","conv":")" + conv + R"(","client_msg_id":"a","body":"hi"})",
                       false);
  EXPECT_TRUE(c.link.OfType("sent").empty());
  Drain();
  Dispatch();
  auto sent = c.link.OfType("sent");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].at("re").as_int64(), 3);
  EXPECT_EQ(sent[0].at("seq").as_int64(), 1);
  EXPECT_EQ(Seqs(c, ConversationId(std::stoll(conv))), Range(1, 1)) << "and its event reaches the sender";
}

// edit, delete and react (PROTOCOL.md §5) take the path of a send: `sent`
// after the commit, the entry as a `message` event to every member; one the
// commit refuses is an `error` to its sender's connection alone.
TEST_F(ClientSessionTest, ChangesAreAnsweredAfterTheCommitAndRefusalsStayWithTheSender) {
  auto alice = Register("alice");
  auto bob = Register("bob");
  Client& a = Open(1);
  std::string conv = HelloAndDm(a, alice, "bob");
  Client& b = Open(2);
  b.session->OnMessage(Hello(bob), false);
  worker_.RunAll();
  auto frame = [&](int id, const std::string& rest) {
    return R"({"id":)" + std::to_string(id) + R"(,"conv":")" + conv + R"(",)" + rest + "}";
  };
  a.session->OnMessage(frame(3, R"("type":"send","client_msg_id":"t","body":"helo")"), false);
  a.session->OnMessage(frame(4, R"("type":"edit","seq":1,"client_msg_id":"e","body":"hello")"), false);
  b.session->OnMessage(frame(5, R"("type":"react","seq":1,"emoji":"👍","op":"add","client_msg_id":"r")"),
                       false);
  b.session->OnMessage(frame(6, R"("type":"edit","seq":1,"client_msg_id":"x","body":"bob's now")"), false);
  a.session->OnMessage(frame(7, R"("type":"delete","seq":2,"client_msg_id":"d")"), false);  // an edit entry
  Drain();
  Dispatch();
  auto a_sent = a.link.OfType("sent");
  ASSERT_EQ(a_sent.size(), 2u);
  EXPECT_EQ(a_sent[1].at("re").as_int64(), 4);
  EXPECT_EQ(a_sent[1].at("seq").as_int64(), 2);
  auto b_sent = b.link.OfType("sent");
  ASSERT_EQ(b_sent.size(), 1u);
  EXPECT_EQ(b_sent[0].at("seq").as_int64(), 3);
  const ConversationId id(std::stoll(conv));
  EXPECT_EQ(Seqs(a, id), Range(1, 3));
  EXPECT_EQ(Seqs(b, id), Range(1, 3)) << "both see every entry, no refused one";
  auto b_errors = b.link.OfType("error");
  ASSERT_EQ(b_errors.size(), 1u);
  EXPECT_EQ(b_errors[0].at("re").as_int64(), 6);
  EXPECT_EQ(b_errors[0].at("code").as_string(), "forbidden");
  auto a_errors = a.link.OfType("error");
  ASSERT_EQ(a_errors.size(), 1u) << "only a's own refusal";
  EXPECT_EQ(a_errors[0].at("re").as_int64(), 7);
  EXPECT_EQ(a_errors[0].at("code").as_string(), "not_found");
  auto events = b.link.OfType("message");
  EXPECT_EQ(events[1].at("kind").as_string(), "edit");
  EXPECT_EQ(events[2].at("kind").as_string(), "reaction");
}

TEST_F(ClientSessionTest, FloodingPastToleranceCloses4008) {
  options_.send_rate_per_s = 2;
  options_.abuse_factor = 2;  // tolerance: 4 sends a second
  auto alice = Register("alice");
  Register("bob");
  Client& c = Open(1);
  std::string conv = HelloAndDm(c, alice, "bob");
  int id = 10;
  auto send = [&] {
    ++id;
    c.session->OnMessage(R"({"id":)" + std::to_string(id) + R"(,"type":"send","conv":")" + conv +
                             R"(","client_msg_id":"c)" + std::to_string(id) + R"(","body":"x"})",
                         false);
  };
  // The service's bucket (burst 20) refuses the rest; the answers say so.
  for (int i = 0; i < 30; ++i) send();
  EXPECT_EQ(c.link.close_code, 0) << "one window over the tolerance is not yet abuse";
  EXPECT_FALSE(c.link.OfType("error").empty());
  EXPECT_EQ(c.link.OfType("error").at(0).at("code").as_string(), "rate_limited");
  now_ms_ += 1000;
  for (int i = 0; i < 30 && c.link.close_code == 0; ++i) send();
  EXPECT_EQ(c.link.close_code, kCloseRateLimited);
}

TEST_F(ClientSessionTest, FloodPolicyClosesOnlyARefusedFloodTwoWindowsLong) {
  FloodPolicy p;
  int64_t t = 10'000;
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(p.PastTolerance(t, true, 5)) << "first window: not yet";
  t += 1000;
  bool closed = false;
  for (int i = 0; i < 6 && !closed; ++i) closed = p.PastTolerance(t, true, 5);
  EXPECT_TRUE(closed) << "a second window over, with refusals";
  FloodPolicy q;
  for (int i = 0; i < 6; ++i) q.PastTolerance(t, false, 5);
  t += 1000;
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(q.PastTolerance(t, false, 5)) << "no refusal: no close";
  FloodPolicy r;
  for (int i = 0; i < 6; ++i) r.PastTolerance(t, true, 5);
  t += 2500;  // a quiet window between
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(r.PastTolerance(t, true, 5));
}

TEST_F(ClientSessionTest, ClosingLeavesTheHubAndGoesOffline) {
  auto alice = Register("alice");
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice), false);
  worker_.RunAll();
  EXPECT_EQ(hub_->size(), 1u);
  std::vector<UserId> ids{alice.user.id};
  EXPECT_TRUE(registry_->Online(ids)[0]);
  c.session->OnClosed();
  EXPECT_EQ(hub_->size(), 0u);
  worker_.RunAll();  // the Disconnect
  EXPECT_FALSE(registry_->Online(ids)[0]);
}

TEST_F(ClientSessionTest, AConnectionThatEndsDuringItsHelloStillGoesOffline) {
  auto alice = Register("alice");
  Client& c = Open(1);
  c.session->OnMessage(Hello(alice), false);
  c.session->OnClosed();  // before Connect's answer
  worker_.RunAll();
  EXPECT_EQ(hub_->size(), 0u);
  std::vector<UserId> ids{alice.user.id};
  EXPECT_FALSE(registry_->Online(ids)[0]);
}

TEST_F(ClientSessionTest, ARevocationClosesTheSessionsOfOlderTokensOnly) {
  auto alice = Register("alice"), bob = Register("bob");
  Client& old_token = Open(1);
  Client& other_user = Open(2);
  old_token.session->OnMessage(Hello(alice), false);
  other_user.session->OnMessage(Hello(bob), false);
  worker_.RunAll();
  Dispatch();
  auto fresh = service_->ChangePassword(alice.user.id, "password1", "password2");
  ASSERT_TRUE(fresh) << fresh.error().message;
  // A session opened with the new token before the revocation is dispatched.
  Client& new_token = Open(3);
  new_token.session->OnMessage(Hello(*fresh), false);
  worker_.RunAll();
  EXPECT_EQ(old_token.link.close_code, 0) << "nothing closes before the event is delivered";
  Dispatch();
  EXPECT_EQ(old_token.link.close_code, kCloseBadToken);
  EXPECT_EQ(old_token.link.close_reason, "token revoked");
  EXPECT_EQ(new_token.link.close_code, 0) << "a token issued after the change stays";
  EXPECT_EQ(other_user.link.close_code, 0);
  // Logout everywhere closes the new one too.
  ASSERT_TRUE(service_->LogoutAll(alice.user.id));
  Dispatch();
  EXPECT_EQ(new_token.link.close_code, kCloseBadToken);
  EXPECT_EQ(other_user.link.close_code, 0);
  auto verdict = service_->TryAuthenticate(fresh->access_token);
  ASSERT_TRUE(verdict.has_value()) << "answered from the cache";
  EXPECT_FALSE(static_cast<bool>(*verdict));
}

TEST(SeqFloors, DropAtOrBelowUntilANewerSeq) {
  SeqFloors f;
  EXPECT_FALSE(f.Stale(ConversationId(1), 1));
  f.Raise(ConversationId(1), 5);
  f.Raise(ConversationId(1), 3);  // never lowers
  EXPECT_TRUE(f.Stale(ConversationId(1), 5));
  EXPECT_TRUE(f.Stale(ConversationId(1), 4));
  EXPECT_FALSE(f.Stale(ConversationId(2), 4)) << "per conversation";
  EXPECT_FALSE(f.Stale(ConversationId(1), 0)) << "not a message event";
  EXPECT_FALSE(f.Stale(ConversationId(1), 6));
  EXPECT_TRUE(f.empty()) << "a newer event retires the floor";
}

}  // namespace
}  // namespace parley::session
