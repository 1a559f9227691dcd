// The event codec: round trips, and refusal of hostile payloads (anything a
// client of the Redis server could publish on a parley channel).
#include "presence/redis/codec.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace parley::presence::redis {
namespace {

constexpr int64_t kNode = 5;  // the publisher of the encoded events

void ExpectSame(const fanout::Event& a, const fanout::Event& b) {
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.subscription, b.subscription);
  EXPECT_EQ(a.conv, b.conv);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.exclude, b.exclude);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.origin.node, b.origin.node);
  EXPECT_EQ(a.origin.io_thread, b.origin.io_thread);
  EXPECT_EQ(a.origin.session, b.origin.session);
  EXPECT_EQ(a.origin.request_id, b.origin.request_id);
  EXPECT_EQ(a.revoke_epoch, b.revoke_epoch);
  ASSERT_EQ(a.frame == nullptr, b.frame == nullptr);
  if (a.frame) {
    EXPECT_EQ(*a.frame, *b.frame);
  }
}

fanout::Event Full() {
  fanout::Event e =
      fanout::Event::ToUsers({UserId(1), UserId(300), UserId(std::numeric_limits<int64_t>::max())},
                             protocol::MakeFrame(std::string("{\"type\":\"x\"}\0\xff", 15)));
  e.subscription = fanout::Event::Subscription::kUnsubscribe;
  e.conv = ConversationId(77);
  e.seq = -5;
  e.exclude = UserId(std::numeric_limits<int64_t>::min());
  e.subject = UserId(42);
  e.origin = log::Origin{.node = 3,
                         .io_thread = std::numeric_limits<uint32_t>::max(),
                         .session = std::numeric_limits<uint64_t>::max(),
                         .request_id = -1};
  e.revoke_epoch = std::numeric_limits<int64_t>::max();
  return e;
}

TEST(EventCodec, RoundTripsEveryField) {
  fanout::Event e = Full();
  auto back = DecodeEvent(EncodeEvent(e, kNode));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->publisher, kNode);
  ExpectSame(e, back->event);
}

TEST(EventCodec, RoundTripsEachTargetAndNullFrame) {
  for (fanout::Event e :
       {fanout::Event::ToConversation(ConversationId(9), protocol::MakeFrame("m"), 42, UserId(8)),
        fanout::Event::ToSession(log::Origin{.node = 2, .io_thread = 1, .session = 99, .request_id = 5},
                                 protocol::MakeFrame("")),
        fanout::Event::ToUsers({UserId(4)}, nullptr)}) {
    auto back = DecodeEvent(EncodeEvent(e, kNode));
    ASSERT_TRUE(back.has_value());
    ExpectSame(e, back->event);
  }
}

TEST(EventCodec, IsCompact) {
  // A typical message event: 1 version + 1 flags + publisher + small ids + frame.
  fanout::Event e =
      fanout::Event::ToConversation(ConversationId(1234), protocol::MakeFrame(std::string(100, 'x')), 56789);
  EXPECT_LE(EncodeEvent(e, kNode).size(), 100u + 16u);
}

TEST(EventCodec, RefusesEveryTruncation) {
  std::string bytes = EncodeEvent(Full(), kNode);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeEvent(std::string_view(bytes).substr(0, n)).has_value()) << "prefix " << n;
  }
}

TEST(EventCodec, RefusesTrailingBytes) {
  std::string bytes = EncodeEvent(Full(), kNode);
  EXPECT_FALSE(DecodeEvent(bytes + '\0').has_value());
}

TEST(EventCodec, RefusesUnknownVersionAndFlags) {
  std::string bytes =
      EncodeEvent(fanout::Event::ToConversation(ConversationId(1), protocol::MakeFrame("a")), kNode);
  for (int version : {kCodecVersion - 1, kCodecVersion + 1}) {
    std::string v = bytes;
    v[0] = static_cast<char>(version);
    EXPECT_FALSE(DecodeEvent(v).has_value()) << "version " << version;
  }
  std::string target = bytes;
  target[1] = static_cast<char>((target[1] & ~0x03) | 0x03);  // no fourth target
  EXPECT_FALSE(DecodeEvent(target).has_value());
  std::string sub = bytes;
  sub[1] = static_cast<char>(sub[1] | 0x0c);  // no fourth subscription
  EXPECT_FALSE(DecodeEvent(sub).has_value());
  std::string reserved = bytes;
  reserved[1] = static_cast<char>(reserved[1] | 0x80);
  EXPECT_FALSE(DecodeEvent(reserved).has_value());
  reserved[1] = static_cast<char>(bytes[1] | 0x40);
  EXPECT_FALSE(DecodeEvent(reserved).has_value());
}

TEST(EventCodec, CarriesARevocationAndRefusesANonPositiveEpoch) {
  auto back = DecodeEvent(EncodeEvent(fanout::Event::Revoke(UserId(7), 3), kNode));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->event.revoke_epoch, 3);
  EXPECT_EQ(back->event.users, std::vector<UserId>{UserId(7)});
  EXPECT_EQ(back->event.frame, nullptr);
  // The flag with an epoch of 0 is a second encoding of "no revocation".
  std::string zero = EncodeEvent(fanout::Event::ToUsers({UserId(7)}, nullptr), kNode);
  zero[1] = static_cast<char>(zero[1] | 0x20);
  zero.push_back('\0');
  EXPECT_FALSE(DecodeEvent(zero).has_value());
}

TEST(EventCodec, RefusesHugeCountsWithoutAllocating) {
  // version, flags(kUsers), publisher 0, conv 0, seq 0, exclude 0, subject 0, then users = 2^63.
  std::string bytes = {kCodecVersion, 1, 0, 0, 0, 0, 0};
  for (int i = 0; i < 9; ++i) bytes.push_back(static_cast<char>(0xff));
  bytes.push_back(0x7f);
  EXPECT_FALSE(DecodeEvent(bytes).has_value());
  // A frame length beyond the payload.
  std::string frame = {kCodecVersion, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 9; ++i) frame.push_back(static_cast<char>(0xff));
  frame.push_back(0x01);
  EXPECT_FALSE(DecodeEvent(frame).has_value());
  // A user count within the payload but above the caller's bound.
  fanout::Event e = fanout::Event::ToUsers(std::vector<UserId>(10, UserId(1)), nullptr);
  EXPECT_TRUE(DecodeEvent(EncodeEvent(e, kNode), 10).has_value());
  EXPECT_FALSE(DecodeEvent(EncodeEvent(e, kNode), 9).has_value());
}

TEST(EventCodec, RefusesOverlongVarints) {
  // conv as an 11-byte varint, and as a 10-byte one overflowing 64 bits.
  std::string overlong = {kCodecVersion, 0, /*publisher*/ 0};
  for (int i = 0; i < 10; ++i) overlong.push_back(static_cast<char>(0x80));
  overlong.push_back(0);
  EXPECT_FALSE(DecodeEvent(overlong).has_value());
  std::string overflow = {kCodecVersion, 0, /*publisher*/ 0};
  for (int i = 0; i < 9; ++i) overflow.push_back(static_cast<char>(0xff));
  overflow.push_back(0x02);
  EXPECT_FALSE(DecodeEvent(overflow).has_value());
  // A non-canonical zero (0x80 0x00) as conv.
  std::string padded = EncodeEvent(fanout::Event::ToConversation(ConversationId(0), nullptr), kNode);
  padded.replace(3, 1, std::string("\x80\x00", 2));
  EXPECT_FALSE(DecodeEvent(padded).has_value());
}

TEST(EventCodec, RefusesIoThreadBeyond32Bits) {
  std::string bytes = {kCodecVersion,
                       2,
                       /*publisher*/ 0,
                       0,
                       0,
                       0,
                       /*subject*/ 0,
                       /*users*/ 0,
                       /*node*/ 0,
                       /*io thread 2^32*/ static_cast<char>(0x80),
                       static_cast<char>(0x80),
                       static_cast<char>(0x80),
                       static_cast<char>(0x80),
                       0x10,
                       /*session*/ 0,
                       /*request*/ 0};
  EXPECT_FALSE(DecodeEvent(bytes).has_value());
  bytes[13] = 0x0f;  // 2^32 - ... fits
  EXPECT_TRUE(DecodeEvent(bytes).has_value());
}

TEST(EventCodec, SurvivesRandomAndMutatedInput) {
  std::mt19937_64 rng(12345);
  std::string good = EncodeEvent(Full(), kNode);
  int decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 64);
      for (char& c : bytes) c = static_cast<char>(rng());
      if (!bytes.empty() && rng() % 2) bytes[0] = static_cast<char>(kCodecVersion);
    } else {
      bytes = good;
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
      }
    }
    auto e = DecodeEvent(bytes);
    if (!e) continue;
    ++decoded;
    // Whatever decodes re-encodes to the same bytes: one encoding per event.
    EXPECT_EQ(EncodeEvent(e->event, e->publisher), bytes);
  }
  EXPECT_GT(decoded, 0);
}

// --- entries of the recent windows ----------------------------------------------

Message FullText() {
  Message m;
  m.conv = ConversationId(1234567);
  m.seq = 99;
  m.id = MessageId(7'000'000'000'123);
  m.sender = UserId(42);
  m.body = "héllo @bob";
  m.ts = 1'700'000'000'000;
  m.client_msg_id = "c-1";
  m.reply_to = 12;
  m.mentions = {UserId(43), UserId(44)};
  m.state_seq = 99;
  m.attachments = {Attachment{UploadId(-5), "a b.png", "image/png", 12345, ""},
                   Attachment{UploadId(6), "", "text/plain", 0, ""}};
  return m;
}

std::vector<Message> EveryKind() {
  std::vector<Message> out{FullText()};
  Message edit = FullText();
  edit.kind = EntryKind::kEdit;
  edit.target = 5;
  edit.reply_to.reset();
  edit.attachments.clear();
  out.push_back(edit);
  Message del = edit;
  del.kind = EntryKind::kDelete;
  del.body.clear();
  del.client_msg_id.clear();  // a server administrator's delete
  del.mentions.clear();
  out.push_back(del);
  Message react = del;
  react.kind = EntryKind::kReaction;
  react.emoji = "👍";
  react.op = ReactionOp::kRemove;
  out.push_back(react);
  Message folded = FullText();  // not what a window holds, but carried whole
  folded.edited_ts = 1'700'000'000'500;
  folded.deleted = true;
  out.push_back(folded);
  return out;
}

TEST(EntryCodec, RoundTripsEveryKindAndField) {
  for (const Message& m : EveryKind()) {
    const std::string bytes = EncodeEntry(m);
    EXPECT_TRUE(bytes.starts_with("99:")) << "the window's script reads the seq";
    auto back = DecodeEntry(bytes);
    ASSERT_TRUE(back.has_value()) << EntryKindName(m.kind);
    EXPECT_EQ(*back, m) << EntryKindName(m.kind);
  }
}

TEST(EntryCodec, RefusesTruncationTrailingBytesAndOddSeqs) {
  const std::string good = EncodeEntry(FullText());
  for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(DecodeEntry(good.substr(0, n)).has_value()) << n;
  EXPECT_FALSE(DecodeEntry(good + "x").has_value());
  const std::string rest = good.substr(good.find(':'));
  for (const char* seq : {"", "0", "099", "-1", "+9", "a", "99999999999999999999"}) {
    EXPECT_FALSE(DecodeEntry(seq + rest).has_value()) << seq;
  }
  std::string bad_version = good;
  bad_version[3] = 9;
  EXPECT_FALSE(DecodeEntry(bad_version).has_value());
}

TEST(EntryCodec, SurvivesMutatedInput) {
  std::mt19937_64 rng(777);
  int decoded = 0;
  for (const Message& m : EveryKind()) {
    const std::string good = EncodeEntry(m);
    for (int i = 0; i < 20000; ++i) {
      std::string bytes = good;
      for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) {
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
      }
      auto e = DecodeEntry(bytes);
      if (!e) continue;
      ++decoded;
      EXPECT_EQ(EncodeEntry(*e), bytes) << "one encoding per entry";
    }
  }
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace parley::presence::redis
