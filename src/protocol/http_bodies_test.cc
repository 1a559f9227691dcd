// The HTTP bodies of PROTOCOL.md section 1: what the server writes
// (frames.h) reads back here into the same values; request bodies are the
// JSON the calls expect; bad bodies name what is wrong.
#include "protocol/http_bodies.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "protocol/frames.h"

namespace parley::protocol {
namespace {

namespace json = boost::json;

User AUser() { return User{UserId(42), "alice", "Al \"Ice\" \xC3\xA9", true, 1700000000000}; }
Conversation AGroup() {
  return Conversation{ConversationId(7),
                      ConversationKind::kGroup,
                      "proj",
                      2,
                      {Member{UserId(42), "alice", Role::kOwner}, Member{UserId(43), "bob", Role::kMember}},
                      10,
                      4};
}
Message AMessage(int64_t seq) {
  return Message{ConversationId(7),           seq,      MessageId(1000 + seq),    UserId(42),
                 "m\n" + std::to_string(seq), seq * 10, "c" + std::to_string(seq)};
}

TEST(HttpBodiesRoundTrip, Session) {
  json::value body = SessionBody(AUser(), "acc", "ref", 900);
  auto s = ParseSession(body);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s, (Session{AUser(), "acc", "ref", 900}));
}

TEST(HttpBodiesRoundTrip, UserConversationAndLists) {
  EXPECT_EQ(*ParseUser(ToJson(AUser())), AUser());
  EXPECT_EQ(*ParseConversation(ToJson(AGroup())), AGroup());
  auto convs = ParseConversations(ConversationsBody({AGroup(), AGroup()}));
  ASSERT_TRUE(convs) << convs.error().message;
  EXPECT_EQ(*convs, (std::vector<Conversation>{AGroup(), AGroup()}));
  auto msgs = ParseMessages(MessagesBody({AMessage(1), AMessage(2), AMessage(3)}));
  ASSERT_TRUE(msgs) << msgs.error().message;
  EXPECT_EQ(*msgs, (std::vector<Message>{AMessage(1), AMessage(2), AMessage(3)}));
  std::vector<Member> members = AGroup().members;
  EXPECT_EQ(*ParseMemberPage(MembersBody(members, UserId(43))), (MemberPage{members, UserId(43)}));
  EXPECT_EQ(*ParseMemberPage(MembersBody({}, std::nullopt)), (MemberPage{{}, std::nullopt}));
}

TEST(HttpBodiesRoundTrip, ErrorBody) {
  auto e = ParseErrorBody(ErrorBody(MakeError(Errc::kConflict, "username taken")));
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(*e, (ServerError{Errc::kConflict, "conflict", "username taken", 0}));
  json::object limited = ErrorBody(Error{Errc::kRateLimited, "slow", 1500});
  limited["error"].as_object()["retry_after_ms"] = 1500;  // as http_api adds it
  EXPECT_EQ(ParseErrorBody(limited)->retry_after_ms, 1500);
  // A code this client does not know keeps its name.
  auto future = ParseErrorBody(json::parse(R"({"error":{"code":"gone","message":"m"}})"));
  EXPECT_EQ(*future, (ServerError{Errc::kInternal, "gone", "m", 0}));
}

TEST(HttpBodiesRoundTrip, EntriesOfVersionOneOne) {
  Message text = AMessage(5);
  text.reply_to = 2;
  text.mentions = {UserId(43), UserId(44)};
  text.reactions = {{"\xF0\x9F\x91\x8D", 3, true}, {"x", 1, false}};
  text.edited_ts = 77;
  text.state_seq = 9;
  Message deleted = AMessage(6);
  deleted.body.clear();
  deleted.deleted = true;
  deleted.state_seq = 8;
  Message edit = AMessage(7);
  edit.kind = EntryKind::kEdit;
  edit.target = 5;
  Message reaction = AMessage(8);
  reaction.body.clear();
  reaction.kind = EntryKind::kReaction;
  reaction.target = 5;
  reaction.emoji = "x";
  reaction.op = ReactionOp::kRemove;
  const std::vector<Message> all = {text, deleted, edit, reaction};
  auto msgs = ParseMessages(MessagesBody(all));
  ASSERT_TRUE(msgs) << msgs.error().message;
  EXPECT_EQ(*msgs, all);
  Conversation counted = AGroup();
  counted.unread_count = 3;
  counted.mentions_unread = 2;
  EXPECT_EQ(*ParseConversation(ToJson(counted)), counted);
}

TEST(HttpBodies, VersionOneValuesReadAsUnchangedTextEntries) {
  auto m = ParseMessage(
      json::parse(R"({"conv":"7","seq":3,"id":"9","sender":"42","body":"b","ts":1,"client_msg_id":"c"})"));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->kind, EntryKind::kText);
  EXPECT_EQ(m->state_seq, 3);
  EXPECT_FALSE(m->deleted);
  auto c = ParseConversation(json::parse(
      R"({"id":"7","kind":"dm","title":null,"member_count":2,"members":[],"last_seq":5,"read_seq":1,"unread":4})"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->unread(), 4);
  EXPECT_EQ(c->mentions_unread, 0);
  EXPECT_FALSE(ParseMessage(json::parse(
      R"({"conv":"7","seq":3,"id":"9","sender":"42","body":"","ts":1,"client_msg_id":"c","kind":"poll"})")));
}

TEST(HttpBodies, AdministratorEntryHasNullClientMsgId) {
  json::object m = ToJson(AMessage(1));
  m["client_msg_id"] = nullptr;
  auto parsed = ParseMessage(m);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->client_msg_id, "");
}

TEST(HttpBodies, BadBodiesNameTheField) {
  json::object s = SessionBody(AUser(), "acc", "ref", 900);
  s["user"].as_object().erase("username");
  EXPECT_EQ(ParseSession(s).error().message, "user: missing field 'username'");
  json::object t = SessionBody(AUser(), "", "ref", 900);
  EXPECT_EQ(ParseSession(t).error().message, "a session's tokens must not be empty");
  EXPECT_EQ(ParseSession(json::value("x")).error().message, "a session must be a JSON object");
  json::object c = ToJson(AGroup());
  c.erase("title");
  EXPECT_EQ(ParseConversation(c).error().message, "missing field 'title'");
  c = ToJson(AGroup());
  c["members"].as_array()[0].as_object()["role"] = "king";
  EXPECT_EQ(ParseConversation(c).error().message, "members: [0]: unknown role 'king'");
  EXPECT_EQ(ParseMemberPage(json::parse(R"({"members":[],"next":"x"})")).error().message,
            "field 'next' must be a user id (a string of digits) or null");
  EXPECT_EQ(ParseErrorBody(json::parse(R"({"error":"nope"})")).error().message,
            "field 'error' must be an object");
  EXPECT_EQ(ParseErrorBody(json::parse(R"({"error":{"code":"not_found"}})")).error().message,
            "error: missing field 'message'");
}

TEST(HttpRequests, BodiesAreTheJsonTheCallsExpect) {
  EXPECT_EQ(json::parse(RegisterBody("al\"ice", "pw", "")),
            json::parse(R"({"username":"al\"ice","password":"pw"})"));
  EXPECT_EQ(json::parse(RegisterBody("a", "pw", "Al")),
            json::parse(R"({"username":"a","password":"pw","display_name":"Al"})"));
  EXPECT_EQ(json::parse(LoginBody("a", "pw")), json::parse(R"({"username":"a","password":"pw"})"));
  EXPECT_EQ(json::parse(RefreshBody("r")), json::parse(R"({"refresh_token":"r"})"));
  EXPECT_EQ(json::parse(CreateGroupBody("t", {"b", "c"})),
            json::parse(R"({"kind":"group","title":"t","members":["b","c"]})"));
  EXPECT_EQ(json::parse(CreateGroupBody("t", {})),
            json::parse(R"({"kind":"group","title":"t","members":[]})"));
  EXPECT_EQ(json::parse(UsernameBody("bob")), json::parse(R"({"username":"bob"})"));
}

TEST(HttpRequests, Targets) {
  EXPECT_EQ(MessagesTarget(ConversationId(7), std::nullopt, std::nullopt, std::nullopt),
            "/v1/conversations/7/messages");
  EXPECT_EQ(MessagesTarget(ConversationId(7), 3, 9, 50),
            "/v1/conversations/7/messages?limit=50&after=3&before=9");
  EXPECT_EQ(MessagesTarget(ConversationId(7), std::nullopt, 9, std::nullopt),
            "/v1/conversations/7/messages?before=9");
  EXPECT_EQ(MembersTarget(ConversationId(7), UserId(12), 1000),
            "/v1/conversations/7/members?limit=1000&after=12");
  EXPECT_EQ(MembersTarget(ConversationId(7), std::nullopt, std::nullopt), "/v1/conversations/7/members");
}

}  // namespace
}  // namespace parley::protocol
