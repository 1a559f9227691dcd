// PROTOCOL.md §5 against the real parleyd: edit, delete, react and reply
// over the WebSocket, the folded state in WebSocket and HTTP history and in
// a resume, the counts of `unread` and `mentions_unread`, and every kind of
// bad input answered to its sender alone.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

constexpr auto kEventWait = 3s;
constexpr auto kQuiet = 600ms;

class EntriesTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000"};
  }

  json::object Edit(WsClient& ws, int64_t id, const std::string& conv, int64_t seq, const std::string& cmid,
                    const std::string& body) {
    return Ask(ws, id,
               {{"type", "edit"}, {"conv", conv}, {"seq", seq}, {"client_msg_id", cmid}, {"body", body}});
  }
  json::object DeleteEntry(WsClient& ws, int64_t id, const std::string& conv, int64_t seq,
                           const std::string& cmid) {
    return Ask(ws, id, {{"type", "delete"}, {"conv", conv}, {"seq", seq}, {"client_msg_id", cmid}});
  }
  json::object React(WsClient& ws, int64_t id, const std::string& conv, int64_t seq, const std::string& cmid,
                     const std::string& emoji, const std::string& op = "add") {
    return Ask(ws, id,
               {{"type", "react"},
                {"conv", conv},
                {"seq", seq},
                {"client_msg_id", cmid},
                {"emoji", emoji},
                {"op", op}});
  }
  // The entry `seq` of an HTTP history answer for `s`.
  json::object EntryAt(const Session& s, const std::string& conv, int64_t seq) {
    for (const auto& m : History(s, conv)) {
      if (GetInt(m, "seq") == seq) return m.as_object();
    }
    ADD_FAILURE() << "no seq " << seq << " in the history of " << conv;
    return {};
  }
  // The caller's Conversation from GET /v1/conversations.
  json::object ConversationOf(const Session& s, const std::string& conv) {
    auto r = Get("/v1/conversations", s.access_token);
    json::value body = json::parse(r.body);
    for (const auto& c : body.at("conversations").as_array()) {
      if (GetString(c, "id") == conv) return c.as_object();
    }
    ADD_FAILURE() << "no conversation " << conv << " in " << r.body;
    return {};
  }
};

bool IsEntry(const json::object& o, const std::string& conv, int64_t seq) {
  return FieldIs(o, "type", "message") && FieldIs(o, "conv", conv) && GetInt(o, "seq") == seq;
}

TEST_F(EntriesTest, EditReactReplyAndDeleteAreEntriesEveryoneSees) {
  Session a = NewUser("en");
  Session b = NewUser("en");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a), b1 = Open(b);
  ASSERT_TRUE(a1 && b1);
  ASSERT_EQ(GetInt(SendMessage(*a1, g, "helo @" + b.username, "t1"), "seq"), 1);
  auto reply =
      Ask(*b1, 2, {{"type", "send"}, {"conv", g}, {"client_msg_id", "t2"}, {"body", "hi"}, {"reply_to", 1}});
  EXPECT_EQ(GetInt(reply, "seq"), 2) << Dump(reply);
  EXPECT_EQ(GetInt(React(*b1, 3, g, 1, "r1", "👍"), "seq"), 3);
  auto edited = Edit(*a1, 4, g, 1, "e1", "hello @" + b.username);
  EXPECT_TRUE(FieldIs(edited, "type", "sent")) << Dump(edited);
  EXPECT_EQ(GetInt(edited, "seq"), 4);

  // Live: every member's connection gets each entry.
  for (WsClient* ws : {a1.get(), b1.get()}) {
    auto e = ws->WaitFor([&](const json::object& o) { return IsEntry(o, g, 4); }, kEventWait);
    ASSERT_TRUE(e);
    EXPECT_TRUE(FieldIs(*e, "kind", "edit")) << Dump(e);
    EXPECT_EQ(GetInt(*e, "target"), 1);
    auto r = ws->WaitFor([&](const json::object& o) { return IsEntry(o, g, 3); }, kEventWait);
    ASSERT_TRUE(r);
    EXPECT_TRUE(FieldIs(*r, "kind", "reaction") && FieldIs(*r, "emoji", "👍") && FieldIs(*r, "op", "add"))
        << Dump(r);
  }

  // HTTP history, folded for its reader.
  json::object folded = EntryAt(b, g, 1);
  EXPECT_TRUE(FieldIs(folded, "kind", "text"));
  EXPECT_EQ(GetString(folded, "body"), "hello @" + b.username);
  EXPECT_TRUE(GetInt(folded, "edited_ts").has_value());
  EXPECT_EQ(GetInt(folded, "state_seq"), 4);
  EXPECT_EQ(folded.at("mentions"), (json::array{json::value(b.user_id)}));
  EXPECT_EQ(folded.at("reactions"), (json::array{json::object{{"emoji", "👍"}, {"count", 1}, {"me", true}}}));
  EXPECT_EQ(EntryAt(a, g, 1).at("reactions"),
            (json::array{json::object{{"emoji", "👍"}, {"count", 1}, {"me", false}}}));
  EXPECT_EQ(GetInt(EntryAt(a, g, 2), "reply_to"), 1);
  EXPECT_TRUE(FieldIs(EntryAt(a, g, 3), "kind", "reaction"));

  // WebSocket history is the same answer for its reader.
  auto page = Ask(*b1, 5, {{"type", "history"}, {"conv", g}});
  ASSERT_TRUE(page.contains("messages")) << Dump(page);
  EXPECT_EQ(page.at("messages").as_array().at(0), json::value(folded));

  // A delete erases: body, reactions, mentions and the edit's body.
  auto deleted = DeleteEntry(*a1, 6, g, 1, "d1");
  EXPECT_EQ(GetInt(deleted, "seq"), 5) << Dump(deleted);
  json::object gone = EntryAt(b, g, 1);
  EXPECT_EQ(gone.at("deleted"), json::value(true));
  EXPECT_EQ(GetString(gone, "body"), "");
  EXPECT_TRUE(gone.at("reactions").as_array().empty());
  EXPECT_TRUE(gone.at("mentions").as_array().empty());
  EXPECT_EQ(GetString(gone, "sender"), a.user_id);
  EXPECT_EQ(GetString(EntryAt(b, g, 4), "body"), "") << "the edit's body is gone too";

  // A resume serves the same folded state.
  auto b2 = Open(b, nullptr, json::object{{g, 0}});
  ASSERT_TRUE(b2);
  auto resumed = b2->WaitFor([&](const json::object& o) { return IsEntry(o, g, 1); }, kEventWait);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->at("deleted"), json::value(true));
  EXPECT_EQ(GetInt(*resumed, "state_seq"), 5);
}

TEST_F(EntriesTest, BadInputIsAnsweredToItsSenderAloneAndStoresNothing) {
  Session a = NewUser("bi");
  Session b = NewUser("bi");
  std::string g = CreateGroup(a, "t", {b.username});
  std::string other = CreateGroup(a, "o", {b.username});
  auto a1 = Open(a), b1 = Open(b);
  ASSERT_TRUE(a1 && b1);
  ASSERT_EQ(GetInt(SendMessage(*a1, g, "mine", "t1"), "seq"), 1);
  ASSERT_EQ(GetInt(SendMessage(*b1, g, "bob's", "t2"), "seq"), 2);
  ASSERT_EQ(GetInt(Edit(*a1, 3, g, 1, "e1", "mine, edited"), "seq"), 3);
  ASSERT_EQ(GetInt(DeleteEntry(*b1, 4, g, 2, "d1"), "seq"), 4);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(GetInt(React(*a1, 100 + i, g, 1, "r" + std::to_string(i), "e" + std::to_string(i)), "seq"),
              5 + i);
  }
  const int64_t last_seq = 24;
  // b's connection has seen everything so far; from here it must see nothing.
  ASSERT_TRUE(b1->WaitFor([&](const json::object& o) { return IsEntry(o, g, last_seq); }, kEventWait));

  EXPECT_TRUE(IsWsError(Edit(*b1, 40, g, 1, "x1", "not yours"), "forbidden", 40));
  EXPECT_TRUE(IsWsError(Edit(*b1, 41, g, 2, "x2", "deleted"), "bad_request", 41));
  EXPECT_TRUE(IsWsError(React(*a1, 42, g, 2, "x3", "👍"), "bad_request", 42));
  EXPECT_TRUE(IsWsError(Edit(*a1, 43, g, 3, "x4", "an edit entry"), "not_found", 43));
  EXPECT_TRUE(IsWsError(DeleteEntry(*a1, 44, g, 30, "x5"), "not_found", 44)) << "no such seq here";
  EXPECT_TRUE(IsWsError(DeleteEntry(*a1, 45, other, 1, "x6"), "not_found", 45))
      << "seq 1 is g's, not other's";
  EXPECT_TRUE(IsWsError(React(*a1, 46, g, 1, "x7", "e20"), "bad_request", 46)) << "a 21st emoji";
  EXPECT_TRUE(IsWsError(React(*a1, 47, g, 1, "x8", std::string(33, 'x')), "bad_request", 47));
  EXPECT_TRUE(IsWsError(Edit(*a1, 48, g, 1, "x9", std::string(4097, 'x')), "too_large", 48));
  // A client_msg_id already used by a send answers that send again.
  auto reused = Edit(*a1, 49, g, 1, "t1", "replaced?");
  EXPECT_TRUE(FieldIs(reused, "type", "sent")) << Dump(reused);
  EXPECT_EQ(GetInt(reused, "seq"), 1);

  // (Events up to last_seq may still be buffered; nothing after it may come.)
  EXPECT_TRUE(!b1->WaitFor(
      [&](const json::object& o) { return FieldIs(o, "type", "message") && GetInt(o, "seq") > last_seq; },
      kQuiet))
      << "b noticed a refused request";
  EXPECT_TRUE(!b1->WaitFor(IsType("error"), kQuiet));
  EXPECT_EQ(GetInt(ConversationOf(a, g), "last_seq"), last_seq) << "no seq used";
  EXPECT_EQ(GetString(EntryAt(a, g, 1), "body"), "mine, edited");
  EXPECT_EQ(EntryAt(a, g, 1).at("reactions").as_array().size(), 20u);
}

TEST_F(EntriesTest, UnreadCountsOthersTextAndMentionsUnreadTheirMentions) {
  Session a = NewUser("un");
  Session b = NewUser("un");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  SendMessage(*a1, g, "one", "t1");
  SendMessage(*a1, g, "two @" + b.username, "t2");
  SendMessage(*a1, g, "three", "t3");
  Edit(*a1, 4, g, 1, "e1", "one!");
  React(*a1, 5, g, 1, "r1", "🎉");
  json::object conv = ConversationOf(b, g);
  EXPECT_EQ(GetInt(conv, "last_seq"), 5);
  EXPECT_EQ(GetInt(conv, "unread"), 3) << "change entries never count";
  EXPECT_EQ(GetInt(conv, "mentions_unread"), 1);
  DeleteEntry(*a1, 6, g, 2, "d1");
  conv = ConversationOf(b, g);
  EXPECT_EQ(GetInt(conv, "unread"), 2);
  EXPECT_EQ(GetInt(conv, "mentions_unread"), 0);
  conv = ConversationOf(a, g);
  EXPECT_EQ(GetInt(conv, "read_seq"), 6) << "any entry moves its sender's marker";
  EXPECT_EQ(GetInt(conv, "unread"), 0);
}

}  // namespace
}  // namespace parley::testing
