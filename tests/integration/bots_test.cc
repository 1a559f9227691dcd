// Bots (PROTOCOL.md §8) against the real server: a person makes a bot and
// gets its API key once; the key works as the bearer token and as the
// hello token, never as a password or a refresh token; deleting the bot
// ends the key at once and closes its sockets with 4003; and every refusal
// (someone else's bot, an eleventh bot, a bot making bots, a taken name) is
// a clear error that changes nothing.
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {
namespace json = boost::json;

class BotsTest : public ServerTest {
 protected:
  // POST /v1/bots as `owner`; the bot as a Session whose access token is
  // its key (empty on failure, recorded).
  Session MakeBot(const Session& owner, const std::string& username) {
    auto made =
        Post("/v1/bots", {{"username", username}, {"display_name", "Bot " + username}}, owner.access_token);
    EXPECT_EQ(made.status, 201) << made.Describe();
    Session bot;
    if (made.status != 201) return bot;
    const json::object& b = made.Object().at("bot").as_object();
    bot.user_id = std::string(b.at("id").as_string());
    bot.username = std::string(b.at("username").as_string());
    bot.access_token = std::string(made.Object().at("token").as_string());
    return bot;
  }
};

TEST_F(BotsTest, AKeyActsOnHttpAndWebSocketAndIsShownOnce) {
  Session ann = NewUser("ann");
  Session bot = MakeBot(ann, "echo_bot");
  ASSERT_FALSE(bot.access_token.empty());
  EXPECT_EQ(bot.access_token.rfind("pbot_", 0), 0u);

  auto me = Get("/v1/me", bot.access_token);
  ASSERT_EQ(me.status, 200) << me.Describe();
  EXPECT_EQ(GetString(me.json, "username"), "echo_bot");
  EXPECT_EQ(GetString(me.json, "display_name"), "Bot echo_bot");
  EXPECT_TRUE(me.Object().at("bot").as_bool());
  auto ann_me = Get("/v1/me", ann.access_token);
  EXPECT_FALSE(ann_me.Object().at("bot").as_bool()) << "User.bot is false for people";

  // The list shows the bot, never its key.
  auto list = Get("/v1/bots", ann.access_token);
  ASSERT_EQ(list.status, 200) << list.Describe();
  ASSERT_EQ(list.Object().at("bots").as_array().size(), 1u);
  EXPECT_EQ(list.body.find(bot.access_token), std::string::npos);
  EXPECT_EQ(list.body.find("token"), std::string::npos);

  // In a group, over the WebSocket with the key as the hello token.
  std::string group = CreateGroup(ann, "with a bot", {"echo_bot"});
  ASSERT_FALSE(group.empty());
  auto ws = Open(bot);
  ASSERT_TRUE(ws);
  json::object sent = SendMessage(*ws, group, "beep");
  EXPECT_TRUE(FieldIs(sent, "type", "sent")) << json::serialize(sent);
  auto history = History(ann, group);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].at("sender").as_string(), bot.user_id);
}

TEST_F(BotsTest, AKeyIsNeitherAPasswordNorARefreshToken) {
  Session ann = NewUser("ann");
  Session bot = MakeBot(ann, "quiet_bot");
  ASSERT_FALSE(bot.access_token.empty());
  // A bot has no password: its login fails as a wrong password does.
  EXPECT_TRUE(
      IsHttpError(http().Post("/v1/auth/login", {{"username", "quiet_bot"}, {"password", bot.access_token}}),
                  401, "unauthorized"));
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/refresh", {{"refresh_token", bot.access_token}}), 401,
                          "unauthorized"));
  // A made-up key, and a key with a character changed.
  EXPECT_TRUE(
      IsHttpError(Get("/v1/me", "pbot_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401, "unauthorized"));
  std::string tampered = bot.access_token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_TRUE(IsHttpError(Get("/v1/me", tampered), 401, "unauthorized"));
  auto raw = RawSocket();
  ASSERT_TRUE(raw);
  (void)raw->Request({{"type", "hello"}, {"token", tampered}});
  EXPECT_TRUE(raw->WaitClosed(3s));
  EXPECT_EQ(raw->close_code(), kCloseBadToken);
}

TEST_F(BotsTest, DeletingABotEndsItsKeyAndClosesItsSockets) {
  Session ann = NewUser("ann");
  Session bob = NewUser("bob");
  Session bot = MakeBot(ann, "gone_bot");
  ASSERT_FALSE(bot.access_token.empty());
  std::string group = CreateGroup(ann, "g", {"gone_bot"});
  auto ws = Open(bot);
  ASSERT_TRUE(ws);

  // Only its owner deletes it; a missing or non-bot name is 404.
  EXPECT_TRUE(IsHttpError(Delete("/v1/bots/gone_bot", bob.access_token), 403, "forbidden"));
  EXPECT_TRUE(IsHttpError(Delete("/v1/bots/no_such_bot", ann.access_token), 404, "not_found"));
  EXPECT_TRUE(IsHttpError(Delete("/v1/bots/" + bob.username, ann.access_token), 404, "not_found"));
  ASSERT_EQ(Get("/v1/me", bot.access_token).status, 200) << "still works after the refusals";

  auto deleted = Delete("/v1/bots/gone_bot", ann.access_token);
  ASSERT_EQ(deleted.status, 204) << deleted.Describe();
  ASSERT_TRUE(ws->WaitClosed(3s));
  EXPECT_EQ(ws->close_code(), kCloseBadToken);
  EXPECT_TRUE(IsHttpError(Get("/v1/me", bot.access_token), 401, "unauthorized"));
  EXPECT_TRUE(Get("/v1/bots", ann.access_token).Object().at("bots").as_array().empty());
  // It left the group; its name stays taken.
  auto members = Get("/v1/conversations/" + group + "/members", ann.access_token);
  EXPECT_EQ(members.Object().at("members").as_array().size(), 1u) << members.Describe();
  EXPECT_TRUE(IsHttpError(Post("/v1/bots", {{"username", "gone_bot"}}, ann.access_token), 409, "conflict"));
}

TEST_F(BotsTest, RefusalsChangeNothing) {
  Session ann = NewUser("ann");
  Session bob = NewUser("bob");
  EXPECT_TRUE(IsHttpError(Post("/v1/bots", {{"username", bob.username}}, ann.access_token), 409, "conflict"));
  EXPECT_TRUE(
      IsHttpError(Post("/v1/bots", {{"username", "no spaces"}}, ann.access_token), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(Post("/v1/bots", json::object{}, ann.access_token), 400, "bad_request"));
  EXPECT_TRUE(
      IsHttpError(Post("/v1/bots", {{"username", "long_name_bot"}, {"display_name", std::string(65, 'x')}},
                       ann.access_token),
                  400, "bad_request"));
  EXPECT_TRUE(IsHttpError(http().Post("/v1/bots", {{"username", "anon_bot"}}), 401, "unauthorized"));

  for (int i = 0; i < 10; ++i)
    ASSERT_FALSE(MakeBot(ann, "b" + std::to_string(i) + "_bot").access_token.empty());
  EXPECT_TRUE(
      IsHttpError(Post("/v1/bots", {{"username", "eleventh_bot"}}, ann.access_token), 400, "bad_request"));
  EXPECT_EQ(Get("/v1/bots", ann.access_token).Object().at("bots").as_array().size(), 10u);
  EXPECT_EQ(Get("/v1/users/eleventh_bot", ann.access_token).status, 404);

  // A bot makes no bots.
  Session bot = MakeBot(bob, "maker_bot");
  EXPECT_TRUE(IsHttpError(Post("/v1/bots", {{"username", "child_bot"}}, bot.access_token), 403, "forbidden"));
  EXPECT_EQ(Get("/v1/users/child_bot", ann.access_token).status, 404);
}

// PROTOCOL.md §8: HTTP send, with the WebSocket send's guarantees: 201 once
// durable, a repeat of the client_msg_id 200 with the same answer and
// nothing stored twice, the members get it live, and every refusal of a
// WebSocket send is refused the same way.
TEST_F(BotsTest, ABotSendsOverHttpExactlyOnce) {
  Session ann = NewUser("ann");
  Session outsider = NewUser("out");
  Session bot = MakeBot(ann, "http_bot");
  ASSERT_FALSE(bot.access_token.empty());
  std::string group = CreateGroup(ann, "hooks", {"http_bot"});
  auto ann_ws = Open(ann);
  ASSERT_TRUE(ann_ws);

  const std::string path = "/v1/conversations/" + group + "/messages";
  auto first = Post(path, {{"client_msg_id", "deploy-42"}, {"body", "deploy 42 is live"}}, bot.access_token);
  ASSERT_EQ(first.status, 201) << first.Describe();
  EXPECT_EQ(GetString(first.json, "conv"), group);
  const int64_t seq = first.Object().at("seq").as_int64();
  EXPECT_EQ(seq, 1);
  auto live = ann_ws->WaitFor([](const json::object& o) { return FieldIs(o, "type", "message"); }, 3s);
  ASSERT_TRUE(live);
  EXPECT_EQ(GetString(*live, "body"), "deploy 42 is live");
  EXPECT_EQ(GetString(*live, "sender"), bot.user_id);

  auto again = Post(path, {{"client_msg_id", "deploy-42"}, {"body", "deploy 42 is live"}}, bot.access_token);
  ASSERT_EQ(again.status, 200) << again.Describe();
  EXPECT_EQ(again.body, first.body) << "the same answer";
  EXPECT_EQ(History(ann, group).size(), 1u) << "stored once";

  // A person may send over HTTP too, with an access token; a reply works.
  auto reply = Post(path, {{"client_msg_id", "r1"}, {"body", "thanks"}, {"reply_to", seq}}, ann.access_token);
  ASSERT_EQ(reply.status, 201) << reply.Describe();

  // Refusals, as for a WebSocket send; nothing stored.
  EXPECT_TRUE(IsHttpError(Post(path, {{"body", "no id"}}, bot.access_token), 400, "bad_request"));
  EXPECT_TRUE(
      IsHttpError(Post(path, {{"client_msg_id", "e1"}, {"body", ""}}, bot.access_token), 400, "bad_request"));
  EXPECT_TRUE(
      IsHttpError(Post(path, {{"client_msg_id", "e2"}, {"body", std::string(5000, 'x')}}, bot.access_token),
                  413, "too_large"));
  EXPECT_TRUE(
      IsHttpError(Post(path, {{"client_msg_id", "e3"}, {"body", "x"}, {"reply_to", 99}}, bot.access_token),
                  404, "not_found"));
  EXPECT_TRUE(IsHttpError(Post(path, {{"client_msg_id", "e4"}, {"body", "x"}}, outsider.access_token), 403,
                          "forbidden"));
  EXPECT_TRUE(IsHttpError(Post("/v1/conversations/987654321/messages",
                               {{"client_msg_id", "e5"}, {"body", "x"}}, bot.access_token),
                          404, "not_found"));
  EXPECT_TRUE(IsHttpError(http().Post(path, {{"client_msg_id", "e6"}, {"body", "x"}}), 401, "unauthorized"));
  EXPECT_EQ(History(ann, group).size(), 2u);
}

}  // namespace
}  // namespace parley::testing
