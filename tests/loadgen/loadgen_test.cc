// Unit tests of parley-bench's pure parts: histogram accuracy, the rate
// search of --find-max, loss/duplicate/reorder accounting, the payload and
// the Parley and Engine.IO framing codecs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "loadgen/codec.h"
#include "loadgen/histogram.h"
#include "loadgen/options.h"
#include "loadgen/rate_search.h"
#include "loadgen/results.h"
#include "loadgen/tracker.h"
#include "protocol/client_frames.h"

namespace parley::loadgen {
namespace {

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (int v = 0; v < 256; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 256);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 255);
  EXPECT_EQ(h.Percentile(50), 127);
  EXPECT_EQ(h.Percentile(100), 255);
}

TEST(HistogramTest, BucketsAreContiguousAndTight) {
  int64_t prev_high = -1;
  for (int i = 0; i < (Histogram::kMaxBits - Histogram::kSubBits + 1) * Histogram::kSub; ++i) {
    EXPECT_EQ(Histogram::LowestOf(i), prev_high + 1) << i;
    EXPECT_EQ(Histogram::IndexOf(Histogram::LowestOf(i)), i);
    EXPECT_EQ(Histogram::IndexOf(Histogram::HighestOf(i)), i);
    // Every value of a bucket is within 1/128 of its lowest (exact below 256).
    double spread = static_cast<double>(Histogram::HighestOf(i) - Histogram::LowestOf(i));
    EXPECT_LE(spread / static_cast<double>(std::max<int64_t>(1, Histogram::LowestOf(i))), 1.0 / 128) << i;
    prev_high = Histogram::HighestOf(i);
  }
}

TEST(HistogramTest, PercentilesWithinRelativeErrorOfExact) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(8.0, 1.5);  // ~3 ms median, long tail
  std::vector<int64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    int64_t v = static_cast<int64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    int64_t exact = values[rank - 1];
    int64_t got = h.Percentile(p);
    EXPECT_LE(std::abs(static_cast<double>(got - exact)), std::max(1.0, exact / 128.0)) << "p" << p;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.Percentile(100), values.back());
}

TEST(HistogramTest, MergeAddsAndResetClears) {
  Histogram a, b;
  for (int i = 1; i <= 1000; ++i) a.Record(i * 10);
  for (int i = 1; i <= 1000; ++i) b.Record(i * 1000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 2000);
  EXPECT_EQ(a.min(), 10);
  EXPECT_EQ(a.max(), 1000000);
  // The 1000th smallest of {10..10000 step 10} + {1000..1e6 step 1000} is 9,910.
  EXPECT_NEAR(static_cast<double>(a.Percentile(50)), 9910, 9910 / 128.0);
  EXPECT_EQ(a.Percentile(100), 1000000);
  a.Reset();
  EXPECT_EQ(a.count(), 0);
  EXPECT_EQ(a.Percentile(99), 0);
}

TEST(HistogramTest, ClampsNegativeAndHuge) {
  Histogram h;
  h.Record(-5);
  h.Record(int64_t{1} << 60);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), Histogram::kMaxValue);
}

TEST(GeneratorCostTest, CpuShareIsOfTheCoresItMayUse) {
  EXPECT_DOUBLE_EQ(CpuSharePct(9.5, 10.0, 1), 95.0);
  EXPECT_DOUBLE_EQ(CpuSharePct(9.5, 10.0, 2), 47.5);
  EXPECT_DOUBLE_EQ(CpuSharePct(1.0, 0.0, 1), 0.0);
  EXPECT_GE(SelfCpusAllowed(), 1);
  // This process has run, so its threads' schedstat (when the kernel keeps
  // one) says a non-negative wait.
  if (auto wait = SelfRunqueueWaitSeconds()) {
    EXPECT_GE(*wait, 0.0);
  }
}

TEST(RateSearchTest, DoublesThenBisects) {
  // Capacity 1000: everything at or below holds.
  RateSearch s(100, 0.1, 20);
  std::vector<double> tried;
  while (!s.Done()) {
    tried.push_back(s.Current());
    s.Report(s.Current() <= 1000);
  }
  ASSERT_GE(tried.size(), 5u);
  EXPECT_EQ(tried[0], 100);
  EXPECT_EQ(tried[1], 200);
  EXPECT_EQ(tried[2], 400);
  EXPECT_EQ(tried[3], 800);
  EXPECT_EQ(tried[4], 1600);
  EXPECT_EQ(tried[5], 1200);  // bisect 800..1600
  ASSERT_TRUE(s.Best());
  EXPECT_LE(*s.Best(), 1000);
  EXPECT_GE(*s.Best(), 1000 / 1.1);
  EXPECT_LE(*s.LowestFail(), *s.Best() * 1.1);
}

TEST(RateSearchTest, HalvesWhenTheFirstStepFails) {
  RateSearch s(1000, 0.1, 20);
  std::vector<double> tried;
  while (!s.Done()) {
    tried.push_back(s.Current());
    s.Report(s.Current() <= 300);
  }
  EXPECT_EQ(tried[1], 500);
  EXPECT_EQ(tried[2], 250);
  ASSERT_TRUE(s.Best());
  EXPECT_GE(*s.Best(), 300 / 1.1);
  EXPECT_LE(*s.Best(), 300);
}

TEST(RateSearchTest, StopsAtMaxStepsAndWhenNothingHolds) {
  RateSearch a(1, 0.1, 3);
  int steps = 0;
  while (!a.Done()) {
    a.Report(true);
    ++steps;
  }
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(*a.Best(), 4);

  RateSearch b(1, 0.1, 100, 0.1);
  while (!b.Done()) b.Report(false);
  EXPECT_FALSE(b.Best());
}

TEST(RunHeldTest, Rules) {
  RunVerdictInput ok{.p99_ms = 12, .offered_per_s = 1000, .achieved_send_per_s = 1000, .delivered = 10000};
  EXPECT_TRUE(RunHeld(ok));
  auto lost = ok;
  lost.lost = 1;
  EXPECT_FALSE(RunHeld(lost));
  auto slow = ok;
  slow.p99_ms = 50;
  EXPECT_FALSE(RunHeld(slow));
  auto lagging = ok;
  lagging.achieved_send_per_s = 900;
  EXPECT_FALSE(RunHeld(lagging));
  auto nothing = ok;
  nothing.delivered = 0;
  EXPECT_FALSE(RunHeld(nothing));
}

TEST(TrackerTest, InOrderStream) {
  StreamTracker t;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(t.Receive(i), StreamTracker::Outcome::kInOrder);
  auto c = t.Finish(100);
  EXPECT_EQ(c.received, 100);
  EXPECT_EQ(c.lost, 0);
  EXPECT_EQ(c.duplicated, 0);
  EXPECT_EQ(c.reordered, 0);
}

TEST(TrackerTest, LossAtTheEndAndInTheMiddle) {
  StreamTracker t;
  for (int i : {0, 1, 2, 5, 6}) t.Receive(i);
  auto c = t.Finish(10);  // 3, 4 in the middle, 7..9 at the end
  EXPECT_EQ(c.received, 5);
  EXPECT_EQ(c.lost, 5);
  EXPECT_EQ(c.reordered, 0);
}

TEST(TrackerTest, LateArrivalIsReorderNotLoss) {
  StreamTracker t;
  for (int i : {0, 3, 1, 2, 4}) t.Receive(i);
  auto c = t.Finish(5);
  EXPECT_EQ(c.received, 5);
  EXPECT_EQ(c.lost, 0);
  EXPECT_EQ(c.reordered, 2);
  EXPECT_EQ(c.duplicated, 0);
}

TEST(TrackerTest, DuplicatesBothBeforeAndAfterAGap) {
  StreamTracker t;
  EXPECT_EQ(t.Receive(0), StreamTracker::Outcome::kInOrder);
  EXPECT_EQ(t.Receive(0), StreamTracker::Outcome::kDuplicate);
  EXPECT_EQ(t.Receive(10), StreamTracker::Outcome::kAhead);
  EXPECT_EQ(t.Receive(5), StreamTracker::Outcome::kLate);  // splits the gap 1..9
  EXPECT_EQ(t.Receive(5), StreamTracker::Outcome::kDuplicate);
  EXPECT_EQ(t.Receive(1), StreamTracker::Outcome::kLate);
  EXPECT_EQ(t.Receive(9), StreamTracker::Outcome::kLate);
  EXPECT_EQ(t.Receive(10), StreamTracker::Outcome::kDuplicate);
  auto c = t.Finish(11);
  EXPECT_EQ(c.received, 5);
  EXPECT_EQ(c.duplicated, 3);
  EXPECT_EQ(c.reordered, 3);
  EXPECT_EQ(c.lost, 6);  // 2,3,4,6,7,8
  t.Reset();
  EXPECT_EQ(t.Finish(0).received, 0);
}

TEST(PayloadTest, RoundTripAndPadding) {
  std::string s;
  AppendPayload(Payload{3, 7, 123456, 987654321012}, 100, &s);
  EXPECT_EQ(s.size(), 100u);
  auto p = DecodePayload(s);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->epoch, 3);
  EXPECT_EQ(p->slot, 7);
  EXPECT_EQ(p->counter, 123456);
  EXPECT_EQ(p->sched_us, 987654321012);
  EXPECT_FALSE(DecodePayload("1:2:3"));
  EXPECT_FALSE(DecodePayload("hello"));
}

TEST(ParleyCodecTest, ScansServerFrames) {
  auto m = ScanParleyFrame(
      R"({"conv":"42","seq":17,"id":"99","sender":"5","body":"1:0:3:100:xx","ts":1700,"client_msg_id":"e1-3","type":"message"})");
  EXPECT_EQ(m.kind, ParleyFrame::Kind::kMessage);
  EXPECT_EQ(m.conv, "42");
  EXPECT_EQ(m.seq, 17);
  EXPECT_EQ(m.body, "1:0:3:100:xx");
  auto sent = ScanParleyFrame(R"({"re":12,"type":"sent","conv":"42","seq":18,"id":"100","ts":1701})");
  EXPECT_EQ(sent.kind, ParleyFrame::Kind::kSent);
  EXPECT_EQ(sent.re, 12);
  EXPECT_EQ(sent.seq, 18);
  auto err = ScanParleyFrame(R"({"re":13,"type":"error","code":"rate_limited","message":"slow down"})");
  EXPECT_EQ(err.kind, ParleyFrame::Kind::kError);
  EXPECT_EQ(err.code, "rate_limited");
  EXPECT_EQ(ScanParleyFrame(R"({"re":1,"type":"welcome","user":{}})").kind, ParleyFrame::Kind::kWelcome);
  EXPECT_EQ(ScanParleyFrame(R"({"re":2,"type":"history","conv":"1","messages":[]})").kind,
            ParleyFrame::Kind::kHistory);
  EXPECT_EQ(ScanParleyFrame(R"({"type":"presence","user":"1"})").kind, ParleyFrame::Kind::kOtherEvent);
  EXPECT_EQ(ScanParleyFrame("nope").kind, ParleyFrame::Kind::kInvalid);
}

// The scanner reads only what the load generator counts, without a DOM; on
// every frame the server half writes it must agree with the client half's
// full parser.
TEST(ParleyCodecTest, ScannerAgreesWithTheProtocolParser) {
  std::string body;
  AppendPayload(Payload{2, 1, 40, 123456}, 64, &body);
  const Message m{ConversationId(42), 17, MessageId(99), UserId(5), body, 1700, "e2-40"};
  const std::string event = protocol::MessageEvent(m);  // the scan's views point into it
  auto scanned = ScanParleyFrame(event);
  auto parsed = protocol::ParseServerFrame(event);
  ASSERT_TRUE(parsed);
  const auto& message = std::get<Message>(*parsed);
  EXPECT_EQ(scanned.kind, ParleyFrame::Kind::kMessage);
  EXPECT_EQ(scanned.conv, message.conv.ToString());
  EXPECT_EQ(scanned.seq, message.seq);
  EXPECT_EQ(scanned.body, message.body);

  auto sent = ScanParleyFrame(protocol::SentFrame(12, m));
  EXPECT_EQ(sent.kind, ParleyFrame::Kind::kSent);
  EXPECT_EQ(sent.re, std::get<protocol::Sent>(*protocol::ParseServerFrame(protocol::SentFrame(12, m))).re);
  EXPECT_EQ(sent.seq, 17);

  Error limited{Errc::kRateLimited, "slow down", 100};
  for (std::optional<int64_t> re : {std::optional<int64_t>(13), std::optional<int64_t>()}) {
    const std::string frame = protocol::ErrorFrame(re, limited);
    auto err = ScanParleyFrame(frame);
    EXPECT_EQ(err.kind, ParleyFrame::Kind::kError);
    EXPECT_EQ(err.code, "rate_limited");
    EXPECT_EQ(err.re, re.value_or(-1));
  }
  EXPECT_EQ(ScanParleyFrame(protocol::HistoryFrame(3, ConversationId(42), {m})).kind,
            ParleyFrame::Kind::kHistory);
  EXPECT_EQ(ScanParleyFrame(
                protocol::WelcomeFrame(1, User{UserId(5), "u", "U", true, std::nullopt}, "s", 25000, {}))
                .kind,
            ParleyFrame::Kind::kWelcome);
  EXPECT_EQ(ScanParleyFrame(protocol::OkFrame(4)).kind, ParleyFrame::Kind::kOtherAnswer);
  EXPECT_EQ(ScanParleyFrame(protocol::TypingEvent(ConversationId(42), UserId(5))).kind,
            ParleyFrame::Kind::kOtherEvent);
}

// The requests the generator sends are protocol's, byte for byte what it
// wrote by hand before (so runs stay comparable).
TEST(ParleyCodecTest, RequestsAreTheProtocolsFrames) {
  EXPECT_EQ(protocol::BuildRequest(protocol::SendReq{ConversationId(42), "c-1", "a\"b"}, 7),
            R"({"id":7,"type":"send","conv":"42","client_msg_id":"c-1","body":"a\"b"})");
  EXPECT_EQ(protocol::BuildRequest(protocol::HelloReq{"tok", {{ConversationId(42), 17}}, false}, 1),
            R"({"id":1,"type":"hello","token":"tok","last_seq":{"42":17}})");
  EXPECT_EQ(protocol::BuildRequest(protocol::HelloReq{"tok", {}, false}, 1),
            R"({"id":1,"type":"hello","token":"tok"})");
  EXPECT_EQ(
      protocol::BuildRequest(protocol::HistoryReq{ConversationId(42), std::nullopt, std::nullopt, 50}, 3),
      R"({"id":3,"type":"history","conv":"42","limit":50})");
}

TEST(EngineIoTest, ParsesTheHandshake) {
  auto open = ParseEioPacket(R"(0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000})");
  EXPECT_EQ(open.kind, EioPacket::Kind::kOpen);
  EXPECT_EQ(open.data.substr(0, 6), R"({"sid")");
  EXPECT_EQ(ParseEioPacket("2").kind, EioPacket::Kind::kPing);
  EXPECT_EQ(ParseEioPacket("3").kind, EioPacket::Kind::kPong);
  auto connect = ParseEioPacket(R"(40{"sid":"xyz"})");
  EXPECT_EQ(connect.kind, EioPacket::Kind::kConnect);
  auto ack = ParseEioPacket(R"(431[{"ok":true}])");
  EXPECT_EQ(ack.kind, EioPacket::Kind::kAck);
  EXPECT_EQ(ack.ack_id, 1);
  EXPECT_EQ(ack.data, R"([{"ok":true}])");
  EXPECT_EQ(ParseEioPacket(R"(44{"message":"no"})").kind, EioPacket::Kind::kConnectError);
  EXPECT_EQ(ParseEioPacket("").kind, EioPacket::Kind::kInvalid);
}

TEST(EngineIoTest, ParsesEventsWithAndWithoutAckOrNamespace) {
  auto e = ParseEioPacket(R"(42["chat","room-1","1:2:3:4:xxx"])");
  EXPECT_EQ(e.kind, EioPacket::Kind::kEvent);
  EXPECT_EQ(e.ack_id, -1);
  EXPECT_EQ(e.event, "chat");
  EXPECT_EQ(e.room, "room-1");
  EXPECT_EQ(e.payload, "1:2:3:4:xxx");
  auto a = ParseEioPacket(R"(4212["join","r"])");
  EXPECT_EQ(a.kind, EioPacket::Kind::kEvent);
  EXPECT_EQ(a.ack_id, 12);
  EXPECT_EQ(a.event, "join");
  EXPECT_EQ(a.room, "r");
  auto ns = ParseEioPacket(R"(42/admin,3["chat","r","p\"q"])");
  EXPECT_EQ(ns.kind, EioPacket::Kind::kEvent);
  EXPECT_EQ(ns.ack_id, 3);
  EXPECT_EQ(ns.payload, R"(p\"q)");
  EXPECT_EQ(ParseEioPacket(R"(42[1,2])").kind, EioPacket::Kind::kInvalid);
}

TEST(EngineIoTest, BuildsClientPackets) {
  std::string s;
  AppendEioJoin(1, "room-7", &s);
  EXPECT_EQ(s, R"(421["join","room-7"])");
  s.clear();
  AppendEioChat("room-7", "1:0:0:5:x\"y", &s);
  EXPECT_EQ(s, R"(42["chat","room-7","1:0:0:5:x\"y"])");
  auto back = ParseEioPacket(s);
  EXPECT_EQ(back.kind, EioPacket::Kind::kEvent);
  EXPECT_EQ(back.room, "room-7");
}

TEST(OptionsTest, IpRangesAndTargets) {
  auto ips = ParseIpRange("127.0.0.2-127.0.0.4,10.0.0.1");
  ASSERT_TRUE(ips);
  EXPECT_EQ(*ips, (std::vector<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.4", "10.0.0.1"}));
  EXPECT_FALSE(ParseIpRange("127.0.0.9-127.0.0.2"));
  EXPECT_FALSE(ParseIpRange("nope"));
  std::string host;
  uint16_t port = 0;
  EXPECT_TRUE(ParseTarget("ws://127.0.0.1:8080", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  EXPECT_TRUE(ParseTarget("http://localhost:3000/x", &host, &port));
  EXPECT_EQ(port, 3000);
  EXPECT_FALSE(ParseTarget("127.0.0.1:80", &host, &port));
}

TEST(OptionsTest, WorkloadShapes) {
  Options o;
  o.workload = Workload::kFanout;
  EXPECT_EQ(ShapeOf(o).members, 5000);
  EXPECT_EQ(ShapeOf(o).senders, 1);
  o.workload = Workload::kDm;
  o.groups = 10;
  EXPECT_EQ(ShapeOf(o).connections(), 20);
  o.workload = Workload::kRooms;
  o.groups = 200;
  o.members = 10;
  EXPECT_EQ(ShapeOf(o).senders, 10);
  o.workload = Workload::kConnect;
  o.connections = 15000;
  EXPECT_EQ(ShapeOf(o).connections(), 15000);
  EXPECT_EQ(ShapeOf(o).senders, 0);
}

}  // namespace
}  // namespace parley::loadgen
