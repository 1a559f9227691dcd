// Both halves of the wire format against each other: every request built by
// the client half parses on the server half into the same struct, and every
// answer and event built by the server half parses on the client half into
// the same values. Then bad input: each names what is wrong.
#include "protocol/client_frames.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "protocol/json.h"

namespace parley::protocol {
namespace {

namespace json = boost::json;

// ---- fixtures: values with every field set, and nasty strings ----

const std::string kNasty = "h\xC3\xA9 \"q\" \\ \n\t\x01 \xF0\x9F\x98\x80";

User AUser() { return User{UserId(42), "alice", kNasty, true, std::nullopt}; }
User Offline() { return User{UserId(43), "bob", "Bob", false, 1700000000123}; }

Conversation AGroup() {
  return Conversation{ConversationId(9000000000123),
                      ConversationKind::kGroup,
                      kNasty,
                      3,
                      {Member{UserId(42), "alice", Role::kOwner}, Member{UserId(43), "bob", Role::kAdmin},
                       Member{UserId(44), "carol", Role::kMember}},
                      17,
                      12};
}
Conversation ADm() {
  return Conversation{ConversationId(5),
                      ConversationKind::kDm,
                      std::nullopt,
                      2,
                      {Member{UserId(42), "alice", Role::kMember}, Member{UserId(43), "bob", Role::kMember}},
                      0,
                      0};
}
Message AMessage(int64_t seq = 4) {
  return Message{ConversationId(9), seq, MessageId(123456789012345), UserId(2), kNasty, 1700000000456, "c-1"};
}

Result<ServerFrame> FromText(const std::string& text) { return ParseServerFrame(text); }

template <class T>
T As(const std::string& text) {
  auto f = FromText(text);
  EXPECT_TRUE(f) << text << ": " << (f ? "" : f.error().message);
  if (!f) return T{};
  const T* t = std::get_if<T>(&*f);
  EXPECT_NE(t, nullptr) << text << " parsed as alternative " << f->index();
  return t ? *t : T{};
}

// ---- requests: client half -> server half ----

void ExpectRoundTrip(const Request& request, std::optional<int64_t> id) {
  std::string text = BuildRequest(request, id);
  Parsed p = ParseClientFrame(text);
  ASSERT_TRUE(p.request) << text << ": " << p.error.message;
  EXPECT_EQ(p.id, id) << text;
  EXPECT_EQ(*p.request, request) << text;
  EXPECT_EQ(json::parse(text).as_object().at("type").as_string(), RequestType(request));
}

TEST(RequestRoundTrip, EveryRequestType) {
  ExpectRoundTrip(HelloReq{"tok\"en", {}, false}, 1);
  ExpectRoundTrip(HelloReq{"t", {{ConversationId(5), 17}, {ConversationId(6), 0}}, false}, 1);
  ExpectRoundTrip(HelloReq{"t", {}, true}, 2);
  ExpectRoundTrip(SendReq{ConversationId(12), "c-1", kNasty}, 7);
  ExpectRoundTrip(HistoryReq{ConversationId(12), std::nullopt, std::nullopt, 50}, 8);
  ExpectRoundTrip(HistoryReq{ConversationId(12), 40, 3, 500}, 8);
  ExpectRoundTrip(ReadReq{ConversationId(12), 33}, 9);
  ExpectRoundTrip(TypingReq{ConversationId(12)}, std::nullopt);
  ExpectRoundTrip(CreateGroupReq{kNasty, {"bob", "carol"}}, 10);
  ExpectRoundTrip(CreateGroupReq{"solo", {}}, 10);
  ExpectRoundTrip(DmReq{"bob"}, 11);
  ExpectRoundTrip(MemberReq{ConversationId(12), "bob", true}, 12);
  ExpectRoundTrip(MemberReq{ConversationId(12), "bob", false}, 13);
  ExpectRoundTrip(LeaveReq{ConversationId(12)}, 14);
  ExpectRoundTrip(PresenceReq{{UserId(1), UserId(9007199254740993)}}, 15);
  ExpectRoundTrip(PingReq{}, 16);
  ExpectRoundTrip(SendReq{ConversationId(12), "c-2", "re", 33}, 17);
  ExpectRoundTrip(EditReq{ConversationId(12), 33, kNasty, "e-1"}, 18);
  ExpectRoundTrip(DeleteReq{ConversationId(12), 33, "d-1"}, 19);
  ExpectRoundTrip(ReactReq{ConversationId(12), 33, "\xF0\x9F\x91\x8D", ReactionOp::kAdd, "r-1"}, 20);
  ExpectRoundTrip(ReactReq{ConversationId(12), 33, "x", ReactionOp::kRemove, "r-2"}, 21);
  ExpectRoundTrip(SetRoleReq{ConversationId(12), "bob", Role::kAdmin}, 22);
  ExpectRoundTrip(SetRoleReq{ConversationId(12), "bob", Role::kMember}, 23);
  ExpectRoundTrip(TransferReq{ConversationId(12), "bob"}, 24);
  ExpectRoundTrip(BanReq{ConversationId(12), "bob", true}, 25);
  ExpectRoundTrip(BanReq{ConversationId(12), "bob", false}, 26);
  ExpectRoundTrip(UpdateGroupReq{ConversationId(12), kNasty, std::nullopt}, 27);
  ExpectRoundTrip(UpdateGroupReq{ConversationId(12), std::nullopt, ""}, 28);
  ExpectRoundTrip(UpdateGroupReq{ConversationId(12), "t", "topic"}, 29);
  ExpectRoundTrip(NotifyReq{ConversationId(12), NotifyLevel::kMentions}, 30);
  ExpectRoundTrip(NotifyReq{ConversationId(12), NotifyLevel::kNone}, 31);
}

TEST(RequestParse, SetRoleNamesOnlyAdminOrMember) {
  Parsed owner = ParseClientFrame(R"({"id":1,"type":"set_role","conv":"3","username":"bob","role":"owner"})");
  ASSERT_FALSE(owner.request);
  EXPECT_EQ(owner.error.code, Errc::kBadRequest);
  EXPECT_EQ(owner.id, 1);
  Parsed missing = ParseClientFrame(R"({"id":2,"type":"ban","conv":"3"})");
  ASSERT_FALSE(missing.request);
  EXPECT_NE(missing.error.message.find("username"), std::string::npos) << missing.error.message;
}

TEST(RequestBuild, TheTextIsCompactJson) {
  EXPECT_EQ(BuildRequest(SendReq{ConversationId(12), "a1", "hi"}, 7),
            R"({"id":7,"type":"send","conv":"12","client_msg_id":"a1","body":"hi"})");
  EXPECT_EQ(BuildRequest(TypingReq{ConversationId(3)}, std::nullopt), R"({"type":"typing","conv":"3"})");
  EXPECT_EQ(BuildRequest(HelloReq{"t", {{ConversationId(5), 17}}, false}, 1),
            R"({"id":1,"type":"hello","token":"t","last_seq":{"5":17}})");
  std::string appended = "prefix";
  AppendRequest(PingReq{}, 3, &appended);
  EXPECT_EQ(appended, R"(prefix{"id":3,"type":"ping"})");
}

// ---- answers and events: server half -> client half ----

TEST(ServerFrameRoundTrip, Welcome) {
  Welcome w = As<Welcome>(WelcomeFrame(1, AUser(), "sess-1", 25000, {AGroup(), ADm()}));
  EXPECT_EQ(w, (Welcome{1, AUser(), "sess-1", 25000, {AGroup(), ADm()}}));
  Welcome empty = As<Welcome>(WelcomeFrame(2, Offline(), "s", 1, {}));
  EXPECT_EQ(empty.user, Offline());
  EXPECT_TRUE(empty.conversations.empty());
}

TEST(ServerFrameRoundTrip, SentHistoryOkPongConversation) {
  Message m = AMessage();
  EXPECT_EQ(As<Sent>(SentFrame(7, m)), (Sent{7, m.conv, m.seq, m.id, m.ts}));
  EXPECT_EQ(As<HistoryAnswer>(HistoryFrame(8, ConversationId(9), {AMessage(1), AMessage(2)})),
            (HistoryAnswer{8, ConversationId(9), {AMessage(1), AMessage(2)}}));
  EXPECT_EQ(As<HistoryAnswer>(HistoryFrame(8, ConversationId(9), {})).messages.size(), 0u);
  EXPECT_EQ(As<OkAnswer>(OkFrame(9)), OkAnswer{9});
  EXPECT_EQ(As<Pong>(PongFrame(10, 1700000000789)), (Pong{10, 1700000000789}));
  EXPECT_EQ(As<ConversationAnswer>(ConversationFrame(11, AGroup())), (ConversationAnswer{11, AGroup()}));
  EXPECT_EQ(As<ConversationAnswer>(ConversationFrame(12, ADm())).conversation, ADm());
}

TEST(ServerFrameRoundTrip, PresenceAnswerAndEvent) {
  std::vector<PresenceEntry> users{{UserId(1), "a", true, std::nullopt}, {UserId(2), kNasty, false, 99}};
  EXPECT_EQ(As<PresenceList>(PresenceAnswer(13, users)), (PresenceList{13, users}));
  EXPECT_EQ(As<PresenceEntry>(PresenceEvent(UserId(2), "b", false, 99)),
            (PresenceEntry{UserId(2), "b", false, 99}));
  EXPECT_EQ(As<PresenceEntry>(PresenceEvent(UserId(2), "b", true, std::nullopt)),
            (PresenceEntry{UserId(2), "b", true, std::nullopt}));
}

TEST(ServerFrameRoundTrip, Errors) {
  Error limited{Errc::kRateLimited, "slow down", 250};
  ErrorAnswer e = As<ErrorAnswer>(ErrorFrame(5, limited));
  EXPECT_EQ(e.re, 5);
  EXPECT_EQ(e.error.code, Errc::kRateLimited);
  EXPECT_EQ(e.error.code_name, "rate_limited");
  EXPECT_EQ(e.error.message, "slow down");
  EXPECT_EQ(e.error.retry_after_ms, 250);
  EXPECT_EQ(e.error.ToError().retryable(), true);
  for (Errc code : {Errc::kBadRequest, Errc::kUnauthorized, Errc::kForbidden, Errc::kNotFound,
                    Errc::kConflict, Errc::kTooLarge, Errc::kUnavailable, Errc::kInternal}) {
    ErrorAnswer a = As<ErrorAnswer>(ErrorFrame(std::nullopt, MakeError(code, kNasty)));
    EXPECT_EQ(a.re, std::nullopt);
    EXPECT_EQ(a.error, (ServerError{code, std::string(ErrcName(code)), kNasty, 0}));
  }
}

TEST(ServerFrameRoundTrip, Events) {
  EXPECT_EQ(As<Message>(MessageEvent(AMessage())), AMessage());
  EXPECT_EQ(As<TypingNotice>(TypingEvent(ConversationId(9), UserId(3))),
            (TypingNotice{ConversationId(9), UserId(3)}));
  EXPECT_EQ(As<ReadNotice>(ReadEvent(ConversationId(9), UserId(3), 41)),
            (ReadNotice{ConversationId(9), UserId(3), 41}));
  EXPECT_EQ(As<Gap>(GapEvent(ConversationId(9), 1, 1000)), (Gap{ConversationId(9), 1, 1000}));
  Conversation group = AGroup();
  EXPECT_EQ(As<MemberNotice>(MemberEvent(ConversationId(9), UserId(3), "added", &group)),
            (MemberNotice{ConversationId(9), UserId(3), "added", group}));
  EXPECT_EQ(As<MemberNotice>(MemberEvent(ConversationId(9), UserId(3), "left", nullptr)),
            (MemberNotice{ConversationId(9), UserId(3), "left", std::nullopt}));
  // 1.1 §7.
  EXPECT_EQ(As<MemberNotice>(MemberRoleEvent(ConversationId(9), UserId(3), Role::kOwner)),
            (MemberNotice{ConversationId(9), UserId(3), "role", std::nullopt, Role::kOwner}));
  EXPECT_EQ(As<MemberNotice>(MemberEvent(ConversationId(9), UserId(3), "banned", nullptr)),
            (MemberNotice{ConversationId(9), UserId(3), "banned", std::nullopt}));
  EXPECT_EQ(As<GroupUpdated>(GroupUpdatedEvent(ConversationId(9), kNasty, "", UserId(4))),
            (GroupUpdated{ConversationId(9), kNasty, "", UserId(4)}));
  group.topic = kNasty;
  EXPECT_EQ(As<MemberNotice>(MemberEvent(ConversationId(9), UserId(3), "added", &group)),
            (MemberNotice{ConversationId(9), UserId(3), "added", group}));
}

TEST(ServerFrame, ReOfTellsAnswersFromEvents) {
  EXPECT_EQ(ReOf(*FromText(OkFrame(4))), 4);
  EXPECT_EQ(ReOf(*FromText(ErrorFrame(6, MakeError(Errc::kNotFound, "x")))), 6);
  EXPECT_EQ(ReOf(*FromText(ErrorFrame(std::nullopt, MakeError(Errc::kNotFound, "x")))), std::nullopt);
  EXPECT_EQ(ReOf(*FromText(MessageEvent(AMessage()))), std::nullopt);
  EXPECT_EQ(ReOf(*FromText(R"({"re":3,"type":"future_answer"})")), 3);
}

TEST(ServerFrame, UnknownTypesAreKeptNotRejected) {
  UnknownFrame u = As<UnknownFrame>(R"({"type":"weather_report","conv":"1","title":"x"})");
  EXPECT_EQ(u, (UnknownFrame{std::nullopt, "weather_report"}));
  // Fields a 1.0 client does not know are ignored.
  json::object m = json::parse(MessageEvent(AMessage())).as_object();
  m["kind"] = "text";
  m["reactions"] = json::array();
  EXPECT_EQ(As<Message>(json::serialize(m)), AMessage());
}

// ---- bad input ----

std::string ErrorOf(const std::string& text) {
  auto f = FromText(text);
  if (f) return "(parsed)";
  EXPECT_EQ(f.error().code, Errc::kBadRequest);
  return f.error().message;
}

// Found by server_frames_fuzz: a negative seq was read, then written as the
// entry's state_seq, which the parser refuses.
TEST(ServerFrameParse, AMessageSeqIsNeverNegative) {
  auto f = FromText(
      R"({"type":"message","conv":"9","seq":-4,"id":"1","sender":"2","body":"b","ts":1,"client_msg_id":"c"})");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("'seq'"), std::string::npos) << f.error().message;
}

TEST(ServerFrameErrors, NameTheFrameAndTheField) {
  EXPECT_EQ(ErrorOf(R"({"re":1,"type":"sent","conv":"9","id":"1","ts":5})"), "sent: missing field 'seq'");
  EXPECT_EQ(ErrorOf(R"({"re":1,"type":"sent","conv":"9","seq":"4","id":"1","ts":5})"),
            "sent: field 'seq' must be an integer");
  EXPECT_EQ(ErrorOf(R"({"re":1,"type":"sent","conv":9.5,"seq":4,"id":"1","ts":5})"),
            "sent: field 'conv' must be a conversation id (a string of digits)");
  EXPECT_EQ(
      ErrorOf(R"({"type":"message","conv":"9","seq":1,"id":"1","sender":"2","ts":1,"client_msg_id":"c"})"),
      "message: missing field 'body'");
  EXPECT_EQ(ErrorOf(R"({"type":"typing","conv":"9","user":true})"),
            "typing: field 'user' must be a user id (a string of digits)");
  EXPECT_EQ(ErrorOf(R"({"type":"gap","conv":"9","from_seq":5,"to_seq":4})"),
            "gap: a gap must have 1 <= from_seq <= to_seq");
  EXPECT_EQ(ErrorOf(R"({"re":"x","type":"ok"})"), "ok: field 're' must be an integer");
  EXPECT_EQ(ErrorOf(R"({"re":2,"type":"error","message":"m"})"), "error: missing field 'code'");
  EXPECT_EQ(ErrorOf(R"({"re":2,"type":"error","code":"ok","message":"m"})"),
            "error: an error cannot have the code 'ok'");
  EXPECT_EQ(ErrorOf(R"({"type":"presence","user":"1","username":"a","online":"yes","last_seen":null})"),
            "presence: field 'online' must be true or false");
}

TEST(ServerFrameErrors, NestedValuesSayWhere) {
  json::object w = json::parse(WelcomeFrame(1, AUser(), "s", 25000, {AGroup()})).as_object();
  w["conversations"].as_array()[0].as_object()["members"].as_array()[1].as_object().erase("role");
  EXPECT_EQ(ErrorOf(json::serialize(w)), "welcome: conversations: [0]: members: [1]: missing field 'role'");
  json::object w2 = json::parse(WelcomeFrame(1, AUser(), "s", 25000, {})).as_object();
  w2["user"].as_object()["last_seen"] = "yesterday";
  EXPECT_EQ(ErrorOf(json::serialize(w2)), "welcome: user: field 'last_seen' must be an integer or null");
  json::object w3 = json::parse(WelcomeFrame(1, AUser(), "s", 25000, {ADm()})).as_object();
  w3["conversations"].as_array()[0].as_object()["kind"] = "channel";
  EXPECT_EQ(ErrorOf(json::serialize(w3)), "welcome: conversations: [0]: unknown conversation kind 'channel'");
  json::object h = json::parse(HistoryFrame(3, ConversationId(9), {AMessage()})).as_object();
  h["messages"].as_array()[0] = 5;
  EXPECT_EQ(ErrorOf(json::serialize(h)), "history: messages: [0]: a message must be a JSON object");
}

TEST(ServerFrameErrors, NotAFrameAtAll) {
  EXPECT_EQ(ErrorOf("{nope").rfind("a server frame is not valid JSON", 0), 0u);
  EXPECT_EQ(ErrorOf("[1,2]"), "a server frame must be a JSON object");
  EXPECT_EQ(ErrorOf(R"({"re":1})"), "a server frame needs a string field 'type'");
  EXPECT_EQ(ErrorOf(R"({"type":7})"), "a server frame needs a string field 'type'");
}

}  // namespace
}  // namespace parley::protocol
