#include "protocol/frames.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace parley::protocol {
namespace {

TEST(ParseClientFrame, SendIsTyped) {
  auto p = ParseClientFrame(R"({"id":7,"type":"send","conv":"12","client_msg_id":"a1","body":"hi"})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(p.id, 7);
  auto& s = std::get<SendReq>(*p.request);
  EXPECT_EQ(s.conv.value, 12);
  EXPECT_EQ(s.client_msg_id, "a1");
  EXPECT_EQ(s.body, "hi");
}

TEST(ParseClientFrame, NotJsonIsFlagged) {
  auto p = ParseClientFrame("{nope");
  EXPECT_TRUE(p.not_json);
  EXPECT_FALSE(p.request);
}

TEST(ParseClientFrame, JsonButInvalidKeepsTheId) {
  auto p = ParseClientFrame(R"({"id":3,"type":"send","conv":"x"})");
  EXPECT_FALSE(p.not_json);
  EXPECT_FALSE(p.request);
  EXPECT_EQ(p.id, 3);
  EXPECT_EQ(p.error.code, Errc::kBadRequest);
  EXPECT_NE(p.error.message.find("conv"), std::string::npos);
}

TEST(ParseClientFrame, UnknownTypeIsBadRequest) {
  auto p = ParseClientFrame(R"({"id":1,"type":"fly"})");
  EXPECT_FALSE(p.request);
  EXPECT_EQ(p.error.code, Errc::kBadRequest);
}

// Found by fuzz/frames_fuzz (corpus: fuzz/corpus/frames/crash-unknown-type-utf8-cut): the
// message quoted the type cut at 64 bytes, through a 3-byte character,
// so the error frame was not valid UTF-8 (nor valid JSON).
TEST(ParseClientFrame, UnknownTypeMessageStaysValidUtf8) {
  const std::string type = std::string(63, 'g') + "\xe3\xb8\x97" + "gg";  // U+3E17 at bytes 63..65
  auto p = ParseClientFrame(R"({"id":1,"type":")" + type + R"("})");
  ASSERT_FALSE(p.request);
  EXPECT_TRUE(IsValidUtf8(p.error.message)) << p.error.message;
  EXPECT_NE(p.error.message.find("'" + std::string(63, 'g') + "'"), std::string::npos) << p.error.message;
  std::error_code ec;
  boost::json::parse(ErrorFrame(p.id, p.error), ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(ParseClientFrame, DeepNestingIsRejectedNotCrashing) {
  std::string deep(10000, '[');
  auto p = ParseClientFrame(deep);
  EXPECT_TRUE(p.not_json);
}

TEST(ParseClientFrame, HelloLastSeqForms) {
  auto p = ParseClientFrame(R"({"id":1,"type":"hello","token":"t","last_seq":{"5":17,"6":0}})");
  ASSERT_TRUE(p.request);
  auto& h = std::get<HelloReq>(*p.request);
  ASSERT_EQ(h.last_seq.size(), 2u);
  EXPECT_FALSE(h.all);
  auto all = ParseClientFrame(R"({"id":1,"type":"hello","token":"t","last_seq":"all"})");
  ASSERT_TRUE(all.request);
  EXPECT_TRUE(std::get<HelloReq>(*all.request).all);
}

TEST(ParseClientFrame, HistoryLimitIsCapped) {
  auto p = ParseClientFrame(R"({"id":1,"type":"history","conv":"1","limit":100000})");
  ASSERT_TRUE(p.request);
  EXPECT_EQ(std::get<HistoryReq>(*p.request).limit, 500);
}

TEST(ParseClientFrame, PresenceQueryIsBounded) {
  std::string users;
  for (int i = 1; i <= 501; ++i) users += (i > 1 ? ",\"" : "\"") + std::to_string(i) + "\"";
  auto p = ParseClientFrame(R"({"id":1,"type":"presence","users":[)" + users + "]}");
  EXPECT_FALSE(p.request);
}

TEST(Frames, MessageEventCarriesStringIds) {
  Message m{ConversationId(9), 4, MessageId(123456789012345), UserId(2), "hé", 1700, "c1"};
  auto v = boost::json::parse(MessageEvent(m)).as_object();
  EXPECT_EQ(v["type"], "message");
  EXPECT_EQ(v["conv"], "9");
  EXPECT_EQ(v["id"], "123456789012345");
  EXPECT_EQ(v["sender"], "2");
  EXPECT_EQ(v["seq"], 4);
  EXPECT_EQ(v["body"], "hé");
}

TEST(Frames, RateLimitedErrorCarriesRetryAfter) {
  Error e{Errc::kRateLimited, "slow down", 250};
  auto v = boost::json::parse(ErrorFrame(5, e)).as_object();
  EXPECT_EQ(v["re"], 5);
  EXPECT_EQ(v["code"], "rate_limited");
  EXPECT_EQ(v["retry_after_ms"], 250);
}

}  // namespace
}  // namespace parley::protocol
