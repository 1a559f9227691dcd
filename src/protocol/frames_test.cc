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

TEST(ParseClientFrame, ChangeRequestsOfVersionOneOne) {
  auto p =
      ParseClientFrame(R"({"id":1,"type":"edit","conv":"3","seq":7,"body":"fixed","client_msg_id":"e"})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(std::get<EditReq>(*p.request), (EditReq{ConversationId(3), 7, "fixed", "e"}));
  p = ParseClientFrame(R"({"id":2,"type":"delete","conv":"3","seq":7,"client_msg_id":"d"})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(std::get<DeleteReq>(*p.request), (DeleteReq{ConversationId(3), 7, "d"}));
  p = ParseClientFrame(
      R"({"id":3,"type":"react","conv":"3","seq":7,"emoji":"👍","op":"remove","client_msg_id":"r"})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(std::get<ReactReq>(*p.request), (ReactReq{ConversationId(3), 7, "👍", ReactionOp::kRemove, "r"}));
  p = ParseClientFrame(R"({"id":4,"type":"send","conv":"3","client_msg_id":"s","body":"re","reply_to":7})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(std::get<SendReq>(*p.request).reply_to, std::optional<int64_t>(7));
  p = ParseClientFrame(
      R"({"id":5,"type":"send","conv":"3","client_msg_id":"s","body":"re","reply_to":null})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(std::get<SendReq>(*p.request).reply_to, std::nullopt);
}

// PROTOCOL.md §6: a send's attachments, at most 10 upload ids, each once;
// with them the body may be empty or left out.
TEST(ParseClientFrame, SendWithAttachments) {
  auto p = ParseClientFrame(
      R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","body":"","attachments":["12","7"]})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(std::get<SendReq>(*p.request).attachments, (std::vector<UploadId>{UploadId(12), UploadId(7)}));
  p = ParseClientFrame(R"({"id":2,"type":"send","conv":"3","client_msg_id":"s","attachments":["12"]})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_EQ(std::get<SendReq>(*p.request).body, "");
  p = ParseClientFrame(
      R"({"id":3,"type":"send","conv":"3","client_msg_id":"s","body":"x","attachments":null})");
  ASSERT_TRUE(p.request) << p.error.message;
  EXPECT_TRUE(std::get<SendReq>(*p.request).attachments.empty());
  for (
      const char* text : {
          R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","body":"","attachments":["1","2","3","4","5","6","7","8","9","10","11"]})",
          R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","body":"","attachments":[12]})",
          R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","body":"","attachments":["x"]})",
          R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","body":"","attachments":"12"})",
          R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","body":"","attachments":["5","5"]})",
          R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","attachments":[]})",
      }) {
    auto bad = ParseClientFrame(text);
    EXPECT_FALSE(bad.request) << text;
    EXPECT_EQ(bad.error.code, Errc::kBadRequest) << text;
  }
}

TEST(Frames, TextEntriesCarryTheirAttachments) {
  Message m{ConversationId(9), 7, MessageId(8), UserId(2), "", 1700, "c3"};
  m.attachments = {Attachment{UploadId(5), "a.png", "image/png", 42, "/v1/uploads/5?exp=1&sig=ab"}};
  auto v = boost::json::parse(MessageEvent(m)).as_object();
  const auto& list = v["attachments"].as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].as_object().at("id"), "5");
  EXPECT_EQ(list[0].as_object().at("name"), "a.png");
  EXPECT_EQ(list[0].as_object().at("content_type"), "image/png");
  EXPECT_EQ(list[0].as_object().at("size"), 42);
  EXPECT_EQ(list[0].as_object().at("url"), "/v1/uploads/5?exp=1&sig=ab");
  m.attachments.clear();
  v = boost::json::parse(MessageEvent(m)).as_object();
  EXPECT_TRUE(v["attachments"].as_array().empty());
}

TEST(ParseClientFrame, BadChangeRequestsSayWhatIsWrong) {
  for (const char* text : {
           R"({"id":1,"type":"react","conv":"3","seq":7,"emoji":"x","op":"toggle","client_msg_id":"r"})",
           R"({"id":1,"type":"react","conv":"3","seq":7,"op":"add","client_msg_id":"r"})",
           R"({"id":1,"type":"edit","conv":"3","seq":0,"body":"b","client_msg_id":"e"})",
           R"({"id":1,"type":"edit","conv":"3","seq":7,"client_msg_id":"e"})",
           R"({"id":1,"type":"delete","conv":"3","seq":7})",
           R"({"id":1,"type":"delete","conv":"3","seq":"7","client_msg_id":"d"})",
           R"({"id":1,"type":"send","conv":"3","client_msg_id":"s","body":"b","reply_to":-1})",
       }) {
    auto p = ParseClientFrame(text);
    EXPECT_FALSE(p.request) << text;
    EXPECT_EQ(p.error.code, Errc::kBadRequest) << text;
    EXPECT_EQ(p.id, 1) << text;
    EXPECT_FALSE(p.error.message.empty());
  }
}

TEST(Frames, TextEntryCarriesItsFoldedState) {
  Message m{ConversationId(9), 4, MessageId(5), UserId(2), "hi @bob", 1700, "c1"};
  m.reply_to = 1;
  m.mentions = {UserId(3)};
  m.reactions = {{"👍", 2, true}, {"🎉", 1, false}};
  m.edited_ts = 1800;
  m.state_seq = 6;
  auto v = boost::json::parse(MessageEvent(m)).as_object();
  EXPECT_EQ(v["kind"], "text");
  EXPECT_EQ(v["reply_to"], 1);
  EXPECT_EQ(v["mentions"], (boost::json::array{"3"}));
  EXPECT_EQ(v["reactions"].as_array().size(), 2u);
  EXPECT_EQ(v["reactions"].as_array()[0], (boost::json::object{{"emoji", "👍"}, {"count", 2}, {"me", true}}));
  EXPECT_EQ(v["edited_ts"], 1800);
  EXPECT_EQ(v["deleted"], false);
  EXPECT_EQ(v["state_seq"], 6);
  EXPECT_FALSE(v.contains("target"));
  Message plain{ConversationId(9), 5, MessageId(6), UserId(2), "x", 1700, "c2"};
  plain.state_seq = 5;
  auto p = boost::json::parse(MessageEvent(plain)).as_object();
  EXPECT_TRUE(p["reply_to"].is_null());
  EXPECT_TRUE(p["edited_ts"].is_null());
  EXPECT_TRUE(p["reactions"].as_array().empty());
}

TEST(Frames, ChangeEntriesCarryTheirTarget) {
  Message r{ConversationId(9), 7, MessageId(8), UserId(2), "", 1700, "c3"};
  r.kind = EntryKind::kReaction;
  r.target = 4;
  r.emoji = "👍";
  r.op = ReactionOp::kRemove;
  auto v = boost::json::parse(MessageEvent(r)).as_object();
  EXPECT_EQ(v["kind"], "reaction");
  EXPECT_EQ(v["target"], 4);
  EXPECT_EQ(v["emoji"], "👍");
  EXPECT_EQ(v["op"], "remove");
  EXPECT_EQ(v["body"], "");
  EXPECT_FALSE(v.contains("reactions"));
  r.kind = EntryKind::kDelete;
  v = boost::json::parse(MessageEvent(r)).as_object();
  EXPECT_EQ(v["kind"], "delete");
  EXPECT_FALSE(v.contains("emoji"));
}

TEST(Frames, ConversationCarriesBothCounts) {
  Conversation c;
  c.id = ConversationId(3);
  c.last_seq = 10;
  c.read_seq = 2;
  c.unread_count = 5;
  c.mentions_unread = 1;
  auto v = ToJson(c);
  EXPECT_EQ(v["unread"], 5) << "counted by the store, not last_seq - read_seq";
  EXPECT_EQ(v["mentions_unread"], 1);
}

TEST(Frames, ConversationCarriesTheNotifyLevel) {
  Conversation c;
  c.notify = NotifyLevel::kNone;
  EXPECT_EQ(ToJson(c)["notify"], "none");
  c.notify = NotifyLevel::kMentions;
  EXPECT_EQ(ToJson(c)["notify"], "mentions");
}

TEST(Frames, NotifyRequestTakesOnlyTheThreeLevels) {
  auto ok = ParseClientFrame(R"({"id":4,"type":"notify","conv":"7","level":"mentions"})");
  ASSERT_TRUE(ok.request.has_value()) << ok.error.message;
  EXPECT_EQ(std::get<NotifyReq>(*ok.request), (NotifyReq{ConversationId(7), NotifyLevel::kMentions}));
  auto bad = ParseClientFrame(R"({"id":5,"type":"notify","conv":"7","level":"loud"})");
  EXPECT_FALSE(bad.request.has_value());
  EXPECT_EQ(bad.error.code, Errc::kBadRequest);
  EXPECT_EQ(bad.id, 5);
  auto missing = ParseClientFrame(R"({"id":6,"type":"notify","conv":"7"})");
  EXPECT_FALSE(missing.request.has_value());
}

TEST(Frames, RateLimitedErrorCarriesRetryAfter) {
  Error e{Errc::kRateLimited, "slow down", 250};
  auto v = boost::json::parse(ErrorFrame(5, e)).as_object();
  EXPECT_EQ(v["re"], 5);
  EXPECT_EQ(v["code"], "rate_limited");
  EXPECT_EQ(v["retry_after_ms"], 250);
}

TEST(Frames, UserUpdatedCarriesTheNewName) {
  User u;
  u.id = UserId(12);
  u.username = "ann";
  u.display_name = "Ann \"A\" \xc3\xa9";
  u.online = true;
  auto v = boost::json::parse(UserUpdatedEvent(u)).as_object();
  EXPECT_EQ(v["type"], "user_updated");
  EXPECT_EQ(v["user"], "12");
  EXPECT_EQ(v["username"], "ann");
  EXPECT_EQ(v["display_name"], "Ann \"A\" \xc3\xa9");
  EXPECT_EQ(v.size(), 4u) << "no presence in a profile event";
}

}  // namespace
}  // namespace parley::protocol
