#include "log/kafka/send_codec.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace parley::log::kafka {
namespace {

SendRequest Sample() {
  SendRequest r;
  r.conv = ConversationId(123456789012345);
  r.sender = UserId(42);
  r.client_msg_id = "c-7f3a";
  r.body = std::string("hello\0world \xF0\x9F\x91\x8B", 18);
  r.origin = Origin{.node = 3, .io_thread = 7, .session = 0xFFFF'FFFF'FFFF'FFFFull, .request_id = -5};
  return r;
}

void ExpectSame(const SendRequest& a, const SendRequest& b) {
  EXPECT_EQ(a.conv, b.conv);
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.client_msg_id, b.client_msg_id);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.origin.node, b.origin.node);
  EXPECT_EQ(a.origin.io_thread, b.origin.io_thread);
  EXPECT_EQ(a.origin.session, b.origin.session);
  EXPECT_EQ(a.origin.request_id, b.origin.request_id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.emoji, b.emoji);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.reply_to, b.reply_to);
  EXPECT_EQ(a.attachments, b.attachments);
  EXPECT_EQ(a.by_server_admin, b.by_server_admin);
}

// A change entry of §5: written as version 2.
SendRequest Reaction() {
  SendRequest r = Sample();
  r.body.clear();
  r.kind = EntryKind::kReaction;
  r.target = 77;
  r.emoji = "\xF0\x9F\x91\x8D";
  r.op = ReactionOp::kRemove;
  return r;
}

TEST(SendCodec, RoundTrips) {
  SendRequest r = Sample();
  std::string bytes = EncodeSendRequest(r);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kSendCodecVersion);
  auto back = DecodeSendRequest(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ExpectSame(r, *back);
}

TEST(SendCodec, RoundTripsExtremes) {
  SendRequest r;
  r.conv = ConversationId(std::numeric_limits<int64_t>::max());
  r.sender = UserId(std::numeric_limits<int64_t>::min());
  r.body = std::string(70'000, 'x');
  r.origin = Origin{.node = std::numeric_limits<int64_t>::min(),
                    .io_thread = std::numeric_limits<uint32_t>::max(),
                    .session = 0,
                    .request_id = std::numeric_limits<int64_t>::max()};
  auto back = DecodeSendRequest(EncodeSendRequest(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ExpectSame(r, *back);
}

TEST(SendCodec, IsCompact) {
  SendRequest r;
  r.conv = ConversationId(1000);
  r.sender = UserId(7);
  r.client_msg_id = "abc";
  r.body = "hi";
  r.origin = Origin{.node = 1, .io_thread = 0, .session = 99, .request_id = 12};
  EXPECT_LE(EncodeSendRequest(r).size(), 20u);
}

TEST(SendCodec, IgnoresTrailingBytesOfALaterWriter) {
  std::string bytes = EncodeSendRequest(Sample()) + "\x05more";
  auto back = DecodeSendRequest(bytes);
  ASSERT_TRUE(back.ok());
  ExpectSame(Sample(), *back);
}

TEST(SendCodec, RefusesEveryTruncation) {
  std::string bytes = EncodeSendRequest(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodeSendRequest(std::string_view(bytes).substr(0, n));
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::kBadRequest);
    }
  }
}

TEST(SendCodec, EntriesRoundTripAsVersionTwo) {
  SendRequest edit = Sample();
  edit.kind = EntryKind::kEdit;
  edit.target = 1;
  SendRequest reply = Sample();
  reply.reply_to = 0;  // the smallest a reply_to can encode
  SendRequest deletion = Sample();
  deletion.kind = EntryKind::kDelete;
  deletion.target = std::numeric_limits<int64_t>::max();
  SendRequest admin_deletion = deletion;  // PROTOCOL.md §7: no client_msg_id
  admin_deletion.client_msg_id.clear();
  admin_deletion.by_server_admin = true;
  for (const SendRequest& r : {Reaction(), edit, reply, deletion, admin_deletion}) {
    std::string bytes = EncodeSendRequest(r);
    EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kEntryCodecVersion);
    auto back = DecodeSendRequest(bytes);
    ASSERT_TRUE(back.ok()) << back.error().message;
    ExpectSame(r, *back);
  }
}

// PROTOCOL.md §6: a send's attachments, appended to version 2, so a send
// with nothing else new (not even a body) still round-trips.
TEST(SendCodec, AttachmentsRoundTrip) {
  SendRequest r = Sample();
  r.body.clear();
  r.attachments = {UploadId(1), UploadId(std::numeric_limits<int64_t>::max()), UploadId(77)};
  std::string bytes = EncodeSendRequest(r);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kEntryCodecVersion);
  auto back = DecodeSendRequest(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ExpectSame(r, *back);
  // Cut inside the list: refused (cut before it, the record is an older
  // writer's and decodes without attachments).
  const size_t without = EncodeSendRequest([&] {
                           SendRequest plain = r;
                           plain.attachments.clear();
                           plain.reply_to = 0;  // keeps version 2
                           return plain;
                         }())
                             .size();
  for (size_t n = without + 1; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeSendRequest(std::string_view(bytes).substr(0, n)).ok()) << n << " bytes decoded";
  }
}

TEST(SendCodec, RefusesEveryTruncationOfAnEntry) {
  std::string bytes = EncodeSendRequest(Reaction());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeSendRequest(std::string_view(bytes).substr(0, n)).ok()) << n << " bytes decoded";
  }
}

TEST(SendCodec, RefusesAnUnknownKind) {
  SendRequest r = Reaction();
  r.emoji.clear();
  std::string bytes = EncodeSendRequest(r);
  // kind is the byte after the version-1 fields: find it by encoding a plain send.
  SendRequest plain = Sample();
  plain.body.clear();
  const size_t kind_at = EncodeSendRequest(plain).size();
  ASSERT_EQ(static_cast<uint8_t>(bytes[kind_at]), static_cast<uint8_t>(EntryKind::kReaction));
  bytes[kind_at] = 9;
  EXPECT_FALSE(DecodeSendRequest(bytes).ok());
}

TEST(SendCodec, RefusesUnknownVersion) {
  std::string bytes = EncodeSendRequest(Sample());
  bytes[0] = 3;
  EXPECT_FALSE(DecodeSendRequest(bytes).ok());
  bytes[0] = 0;
  EXPECT_FALSE(DecodeSendRequest(bytes).ok());
}

TEST(SendCodec, RefusesHostileLengthsAndVarints) {
  // A length near 2^64 must not wrap the bounds check or allocate.
  std::string huge_len = std::string("\x01\x02\x02") + "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01" + "abc";
  EXPECT_FALSE(DecodeSendRequest(huge_len).ok());
  // An 11-byte varint.
  std::string long_varint = std::string("\x01") + std::string(10, '\x80') + "\x01";
  EXPECT_FALSE(DecodeSendRequest(long_varint).ok());
  // A 10th varint byte carrying bits past 64.
  std::string overflow = std::string("\x01") + std::string(9, '\xFF') + "\x7F";
  EXPECT_FALSE(DecodeSendRequest(overflow).ok());
  // An io thread over 32 bits (2^32), every other field valid.
  std::string head =
      std::string("\x01\x02\x02\x00\x00\x02", 6) + "\x80\x80\x80\x80\x10" + std::string("\x00\x00", 2);
  ASSERT_EQ(head.size(), 13u);
  EXPECT_FALSE(DecodeSendRequest(head).ok());
}

TEST(SendCodec, SurvivesRandomAndMutatedInput) {
  std::mt19937_64 rng(20240601);
  std::string good = EncodeSendRequest(Sample());
  for (int i = 0; i < 20'000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 64);
      for (char& c : bytes) c = static_cast<char>(rng());
      if (!bytes.empty() && i % 4 == 0) bytes[0] = 1;
    } else {
      bytes = good;
      for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      bytes.resize(rng() % (bytes.size() + 1));
    }
    auto r = DecodeSendRequest(bytes);  // must not crash; either answer is fine
    if (r.ok()) {
      EXPECT_LE(r->body.size() + r->client_msg_id.size(), bytes.size());
    }
  }
}

}  // namespace
}  // namespace parley::log::kafka
