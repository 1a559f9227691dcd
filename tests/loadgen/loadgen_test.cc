// Unit tests of parley-bench's pure parts: histogram accuracy, the rate
// search of --find-max, loss/duplicate/reorder accounting, the payload and
// the Parley and Engine.IO framing codecs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "loadgen/codec.h"
#include "loadgen/histogram.h"
#include "loadgen/options.h"
#include "loadgen/rate_search.h"
#include "loadgen/results.h"
#include "loadgen/tracker.h"
#include "loadgen/ws.h"
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
  EXPECT_FALSE(m.change) << "a 1.0 message is a text entry";
  auto text =
      ScanParleyFrame(R"({"type":"message","conv":"42","seq":18,"kind":"text","body":"1:0:4:100:xx"})");
  EXPECT_FALSE(text.change);
  // A change entry (PROTOCOL 5) takes a seq but carries no workload payload.
  auto change = ScanParleyFrame(
      R"({"type":"message","conv":"42","seq":19,"kind":"reaction","target":17,"emoji":"x","op":"add","body":""})");
  EXPECT_EQ(change.kind, ParleyFrame::Kind::kMessage);
  EXPECT_EQ(change.seq, 19);
  EXPECT_TRUE(change.change);
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

// Top-level keys only, in any order; nested values (a history page's
// messages, a welcome's conversations) are skipped whole.
TEST(ParleyCodecTest, ScansTopLevelKeysInAnyOrder) {
  auto m = ScanParleyFrame(
      R"({"type":"message","body":"b\"}{","mentions":[{"seq":1,"body":"x"}],"seq":5,"meta":{"a":[1,{"b":"]"}]},)"
      R"("ok":true,"none":null,"n":-1.5e3,"conv":"7"})");
  EXPECT_EQ(m.kind, ParleyFrame::Kind::kMessage);
  EXPECT_EQ(m.seq, 5);
  EXPECT_EQ(m.conv, "7");
  EXPECT_EQ(m.body, R"(b\"}{)");
  auto h = ScanParleyFrame(R"({"re":4,"type":"history","conv":"1","messages":[{"seq":9,"type":"message"}]})");
  EXPECT_EQ(h.kind, ParleyFrame::Kind::kHistory);
  EXPECT_EQ(h.re, 4);
  EXPECT_EQ(h.seq, -1);
  // A message event missing what a receiver checks, or cut short, is refused.
  EXPECT_EQ(ScanParleyFrame(R"({"type":"message","conv":"7","body":"b"})").kind, ParleyFrame::Kind::kInvalid);
  EXPECT_EQ(ScanParleyFrame(R"({"type":"message","conv":"7","seq":5,"body":"b")").kind,
            ParleyFrame::Kind::kInvalid);
  EXPECT_EQ(ScanParleyFrame(R"({"re":1,"type":"welcome","user":{"id":"1")").kind,
            ParleyFrame::Kind::kInvalid);
  EXPECT_EQ(ScanParleyFrame(R"({"re":1})").kind, ParleyFrame::Kind::kInvalid);
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

// Strings end at the first quote not escaped: after an even run of
// backslashes (escaped backslashes) it ends, after an odd run it does not.
TEST(EngineIoTest, StringsEndAtTheFirstUnescapedQuote) {
  auto even = ParseEioPacket(R"(42["chat","r\\","a\\\"b\\"])");
  EXPECT_EQ(even.kind, EioPacket::Kind::kEvent);
  EXPECT_EQ(even.room, R"(r\\)");
  EXPECT_EQ(even.payload, R"(a\\\"b\\)");
  auto leading = ParseEioPacket(R"(42["chat","\"r","\\"])");
  EXPECT_EQ(leading.room, R"(\"r)");
  EXPECT_EQ(leading.payload, R"(\\)");
  // Long strings (past the byte-by-byte prefix), an escape at its edge.
  const std::string long_room = std::string(31, 'r') + R"(\")" + std::string(40, 'r') + R"(\\)";
  const std::string packet = "42[\"chat\",\"" + long_room + "\",\"p\"]";  // the views point into it
  auto edge = ParseEioPacket(packet);
  EXPECT_EQ(edge.kind, EioPacket::Kind::kEvent);
  EXPECT_EQ(edge.room, long_room);
  EXPECT_EQ(edge.payload, "p");
  EXPECT_EQ(ParseEioPacket(R"(42["chat","r\"])").kind, EioPacket::Kind::kInvalid);  // never closed
  EXPECT_EQ(ParseEioPacket(R"(42["chat","r)").kind, EioPacket::Kind::kInvalid);
}

TEST(PayloadTest, IntegersAreBoundedAndWhole) {
  EXPECT_FALSE(DecodePayload("1:2:3:1234567890123456789:"));  // 19 digits: refused, not wrapped
  auto p = DecodePayload("0:0:0:123456789012345678:");        // 18 digits
  ASSERT_TRUE(p);
  EXPECT_EQ(p->sched_us, 123456789012345678);
  EXPECT_FALSE(DecodePayload("1::3:4:"));
  EXPECT_FALSE(DecodePayload("1:-:3:4:"));
  EXPECT_EQ(DecodePayload("-1:2:3:4:")->epoch, -1);
  EXPECT_EQ(ScanParleyFrame(R"({"re":12345678901234567890,"type":"sent"})").kind,
            ParleyFrame::Kind::kInvalid);
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

// ---- the WebSocket client (RFC 6455's own examples where it has them) --------

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// A server frame (unmasked), as parleyd or the peers write it.
std::string ServerFrame(int first_byte, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(first_byte));
  size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    f.push_back(126);
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(127);
    for (int shift = 56; shift >= 0; shift -= 8) f.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  f.append(payload);
  return f;
}

struct Got {
  WsOpcode opcode;
  std::string payload;
  bool operator==(const Got&) const = default;
};

// Feeds `stream` to `r` in reads of at most `chunk` bytes, as sockets would.
std::optional<std::string> Feed(WsReceiver& r, std::string_view stream, size_t chunk, std::vector<Got>* got) {
  size_t pos = 0;
  while (pos < stream.size()) {
    r.PrepareRead();
    size_t n = std::min({chunk, r.space_size(), stream.size() - pos});
    EXPECT_GT(n, 0u);
    std::memcpy(r.space(), stream.data() + pos, n);
    r.Commit(n);
    pos += n;
    auto error = r.Drain([&](const WsReceiver::Event& e) {
      got->push_back(Got{e.opcode, std::string(e.payload)});
      return true;
    });
    if (error) return error;
  }
  return std::nullopt;
}

TEST(WsTest, AcceptAndUpgradeAnswer) {
  EXPECT_EQ(ws::AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  std::string key = WsKeyFrom(1, 2);
  EXPECT_EQ(key.size(), 24u);
  EXPECT_NE(key, WsKeyFrom(1, 3));
  std::string req = WsUpgradeRequest("127.0.0.1:80", "/v1/ws", key);
  EXPECT_TRUE(req.starts_with("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:80\r\n"));
  EXPECT_NE(req.find("Sec-WebSocket-Key: " + key + "\r\n"), std::string::npos);
  EXPECT_TRUE(req.ends_with("\r\n\r\n"));
  std::string ok =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      ws::AcceptKey(key) + "\r\n\r\n";
  EXPECT_EQ(CheckWsUpgradeResponse(ok, key), std::nullopt);
  EXPECT_EQ(CheckWsUpgradeResponse(ok, WsKeyFrom(9, 9)), "handshake: wrong Sec-WebSocket-Accept");
  EXPECT_EQ(CheckWsUpgradeResponse("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n", key),
            "handshake: HTTP/1.1 503 Service Unavailable");
  std::string no_upgrade = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n";
  EXPECT_EQ(CheckWsUpgradeResponse(no_upgrade, key), "handshake: no Upgrade: websocket");
}

TEST(WsTest, ClientFramesAreMasked) {
  // RFC 6455 5.7: a single-frame masked text message, "Hello".
  std::string f;
  AppendWsClientFrame(WsOpcode::kText, "Hello", 0x37fa213d, &f);
  EXPECT_EQ(f, Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  // Every length form, unmasked back to the payload.
  for (size_t n :
       {size_t{0}, size_t{125}, size_t{126}, size_t{1000}, size_t{65535}, size_t{65536}, size_t{70001}}) {
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string frame;
    AppendWsClientFrame(WsOpcode::kBinary, payload, 0xA1B2C3D4, &frame);
    size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(frame.size(), header + 4 + n);
    EXPECT_EQ(static_cast<unsigned char>(frame[0]), 0x82);
    EXPECT_EQ(static_cast<unsigned char>(frame[1]) & 0x80, 0x80);
    const unsigned char key[4] = {0xA1, 0xB2, 0xC3, 0xD4};
    std::string back(n, '\0');
    for (size_t i = 0; i < n; ++i) back[i] = static_cast<char>(frame[header + 4 + i] ^ key[i % 4]);
    EXPECT_EQ(back, payload) << n;
  }
}

TEST(WsTest, ReceiverReassemblesAnyReadSizes) {
  // RFC 6455 5.7: "Hel" + "lo" in two fragments, a ping between them; then
  // messages of every length form, a pong and a close.
  std::string big(70000, 'b'), mid(300, 'm');
  std::string stream = Bytes({0x01, 0x03, 0x48, 0x65, 0x6c}) + ServerFrame(0x89, "ping!") +
                       Bytes({0x80, 0x02, 0x6c, 0x6f}) + ServerFrame(0x81, "") + ServerFrame(0x81, mid) +
                       ServerFrame(0x82, big) + ServerFrame(0x8A, "") + ServerFrame(0x81, "42[\"chat\"]") +
                       ServerFrame(0x88, Bytes({0x03, 0xE8}));
  std::vector<Got> want = {{WsOpcode::kPing, "ping!"},
                           {WsOpcode::kText, "Hello"},
                           {WsOpcode::kText, ""},
                           {WsOpcode::kText, mid},
                           {WsOpcode::kBinary, big},
                           {WsOpcode::kPong, ""},
                           {WsOpcode::kText, "42[\"chat\"]"},
                           {WsOpcode::kClose, Bytes({0x03, 0xE8})}};
  for (size_t chunk :
       {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{300}, size_t{4096}, size_t{1} << 20}) {
    WsReceiver r(64);
    std::vector<Got> got;
    EXPECT_EQ(Feed(r, stream, chunk, &got), std::nullopt) << chunk;
    EXPECT_EQ(got, want) << "read size " << chunk;
    EXPECT_TRUE(r.pending().empty());
  }
}

TEST(WsTest, ReceiverStopsWhenAskedAndKeepsTheRest) {
  WsReceiver r;
  std::string stream = ServerFrame(0x81, "one") + ServerFrame(0x81, "two");
  r.PrepareRead();
  std::memcpy(r.space(), stream.data(), stream.size());
  r.Commit(stream.size());
  std::vector<std::string> got;
  auto take_one = [&](const WsReceiver::Event& e) {
    got.emplace_back(e.payload);
    return false;
  };
  EXPECT_EQ(r.Drain(take_one), std::nullopt);
  EXPECT_EQ(got, std::vector<std::string>{"one"});
  EXPECT_EQ(r.Drain(take_one), std::nullopt);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
}

TEST(WsTest, ReceiverRefusesBrokenStreams) {
  auto error_of = [](const std::string& stream, size_t max = size_t{64} << 20) {
    WsReceiver r(64, max);
    std::vector<Got> got;
    return Feed(r, stream, stream.size(), &got).value_or("");
  };
  EXPECT_EQ(error_of(Bytes({0x81, 0x85, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'})), "a server frame is masked");
  EXPECT_EQ(error_of(ServerFrame(0x80, "x")), "a continuation frame without a first one");
  EXPECT_EQ(error_of(ServerFrame(0x01, "a") + ServerFrame(0x81, "b")),
            "a new message inside a fragmented one");
  EXPECT_EQ(error_of(ServerFrame(0x89, std::string(126, 'p'))),
            "a control frame is fragmented or over 125 bytes");
  EXPECT_EQ(error_of(ServerFrame(0xC1, "x")), "reserved bits set in a frame (no extension was agreed)");
  EXPECT_EQ(error_of(ServerFrame(0x83, "x")), "unknown opcode 3");
  EXPECT_EQ(error_of(ServerFrame(0x81, std::string(200, 'x')), 100),
            "a frame of 200 bytes is over the limit");
  EXPECT_EQ(error_of(ServerFrame(0x01, std::string(60, 'x')) + ServerFrame(0x80, std::string(60, 'y')), 100),
            "a fragmented message over the limit");
}

// parley-bench's command line, as main gets it.
std::optional<Options> ParseArgs(std::vector<std::string> args, std::string* message) {
  args.insert(args.begin(), "parley-bench");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  int code = 0;
  return ParseOptions(static_cast<int>(argv.size()), argv.data(), message, &code);
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

// The search workload's options: what it needs, and what it refuses.
TEST(OptionsTest, SearchWorkload) {
  std::string message;
  auto o = ParseArgs({"--target", "http://127.0.0.1:8080", "--workload", "search", "--messages", "1000000",
                      "--queries", "500", "--run-id", "fill1"},
                     &message);
  ASSERT_TRUE(o) << message;
  EXPECT_EQ(o->workload, Workload::kSearch);
  EXPECT_EQ(o->search_messages, 1000000);
  EXPECT_EQ(o->search_queries, 500);
  EXPECT_EQ(o->run_id, "fill1");
  EXPECT_EQ(ShapeOf(*o).groups, 10);
  EXPECT_EQ(ShapeOf(*o).members, 2);
  // Searching what an earlier run stored needs that run's id.
  EXPECT_TRUE(ParseArgs(
      {"--target", "http://h:1", "--workload", "search", "--messages", "0", "--run-id", "fill1"}, &message));
  for (const auto& bad : std::vector<std::vector<std::string>>{{"--messages", "0"},
                                                               {"--run-id", "X!"},
                                                               {"--run-id", "a"},
                                                               {"--queries", "0"},
                                                               {"--find-max"},
                                                               {"--dialect", "socketio"}}) {
    std::vector<std::string> args = {"--target", "http://h:1", "--workload", "search"};
    args.insert(args.end(), bad.begin(), bad.end());
    EXPECT_FALSE(ParseArgs(args, &message)) << bad[0];
    EXPECT_NE(message.find("search:"), std::string::npos) << message;
  }
}

// --run-id on a group workload: a later run sends into the groups an earlier
// run with the same id made (setup.cc finds them by title), so they have
// history; only ids the users' names can carry, and only in Parley's dialect.
TEST(OptionsTest, RunIdOnGroupWorkloads) {
  std::string message;
  for (const char* workload : {"rooms", "fanout", "history"}) {
    auto o = ParseArgs({"--target", "http://h:1", "--workload", workload, "--run-id", "hist1"}, &message);
    ASSERT_TRUE(o) << workload << ": " << message;
    EXPECT_EQ(o->run_id, "hist1");
  }
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--run-id", "X!"}, {"--run-id", "a"}, {"--run-id", "hist1", "--dialect", "socketio"}}) {
    std::vector<std::string> args = {"--target", "http://h:1", "--workload", "rooms"};
    args.insert(args.end(), bad.begin(), bad.end());
    EXPECT_FALSE(ParseArgs(args, &message)) << bad[1];
    EXPECT_NE(message.find("--run-id:"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace parley::loadgen
