// PROTOCOL.md section 2: the WebSocket protocol (opening, requests, events,
// errors, bad frames).
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

constexpr auto kEventWait = 3s;
constexpr auto kQuiet = 600ms;  // how long "nothing arrives" is watched

// No frame matching `pred` arrives within kQuiet.
::testing::AssertionResult NoneArrives(WsClient& ws, const WsClient::Predicate& pred) {
  if (auto f = ws.WaitFor(pred, kQuiet)) return ::testing::AssertionFailure() << "unexpected " << Dump(f);
  return ::testing::AssertionSuccess();
}

bool IsMessage(const json::object& o, const std::string& conv, int64_t seq) {
  return FieldIs(o, "type", "message") && FieldIs(o, "conv", conv) && GetInt(o, "seq") == seq &&
         !o.contains("re");
}

class WsTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000"};
  }
};

// A server with default limits.
class WsDefaultsTest : public ServerTest {};

// ---- opening ----

TEST_F(WsDefaultsTest, HelloGetsWelcome) {
  Session a = NewUser("hw");
  Session b = NewUser("hw");
  std::string g = CreateGroup(a, "t", {b.username});
  auto ws = RawSocket();
  ASSERT_TRUE(ws);
  auto welcome = ws->Request({{"id", 1}, {"type", "hello"}, {"token", a.access_token}});
  ASSERT_TRUE(welcome) << ws->close_code().value_or(-1);
  EXPECT_EQ(GetInt(*welcome, "re"), 1);
  EXPECT_TRUE(FieldIs(*welcome, "type", "welcome")) << Dump(welcome);
  ASSERT_TRUE(welcome->contains("user") && welcome->at("user").is_object()) << Dump(welcome);
  EXPECT_EQ(GetString(welcome->at("user"), "id"), a.user_id);
  EXPECT_EQ(GetString(welcome->at("user"), "username"), a.username);
  EXPECT_TRUE(welcome->at("user").as_object().contains("online"));
  EXPECT_FALSE(GetString(*welcome, "session").empty()) << Dump(welcome);
  EXPECT_EQ(GetInt(*welcome, "heartbeat_ms"), 25000);
  ASSERT_TRUE(welcome->contains("conversations") && welcome->at("conversations").is_array());
  const auto& convs = welcome->at("conversations").as_array();
  ASSERT_EQ(convs.size(), 1u);
  EXPECT_EQ(GetString(convs[0], "id"), g);
  EXPECT_TRUE(FieldIs(convs[0].as_object(), "kind", "group"));
  for (const char* key : {"member_count", "last_seq", "read_seq", "unread"}) {
    EXPECT_TRUE(GetInt(convs[0], key)) << key << " in " << Dump(convs[0]);
  }
  EXPECT_TRUE(convs[0].as_object().contains("members"));

  // Two connections get distinct sessions.
  json::object second;
  auto ws2 = Open(a, &second);
  ASSERT_TRUE(ws2);
  EXPECT_NE(GetString(second, "session"), GetString(*welcome, "session"));
}

TEST_F(WsDefaultsTest, FirstFrameNotHelloCloses4001) {
  auto ws = RawSocket();
  ASSERT_TRUE(ws);
  ws->SendJson({{"id", 1}, {"type", "ping"}});
  ASSERT_TRUE(ws->WaitClosed(5s));
  EXPECT_EQ(ws->close_code(), kCloseNoHello) << ws->last_error();
}

TEST_F(WsDefaultsTest, FirstFrameNotJsonCloses4001) {
  auto ws = RawSocket();
  ASSERT_TRUE(ws);
  ws->Send("this is not json");
  ASSERT_TRUE(ws->WaitClosed(5s));
  EXPECT_EQ(ws->close_code(), kCloseNoHello) << ws->last_error();
}

TEST_F(WsDefaultsTest, BadTokenCloses4003) {
  auto ws = RawSocket();
  ASSERT_TRUE(ws);
  ws->SendJson({{"id", 1}, {"type", "hello"}, {"token", "not-a-token"}});
  ASSERT_TRUE(ws->WaitClosed(5s));
  EXPECT_EQ(ws->close_code(), kCloseBadToken) << ws->last_error();

  Session a = NewUser("bt");
  std::string tampered = a.access_token;
  tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == 'x' ? 'y' : 'x';
  auto ws2 = RawSocket();
  ASSERT_TRUE(ws2);
  ws2->SendJson({{"id", 1}, {"type", "hello"}, {"token", tampered}});
  ASSERT_TRUE(ws2->WaitClosed(5s));
  EXPECT_EQ(ws2->close_code(), kCloseBadToken);

  // The refresh token is not an access token.
  auto ws3 = RawSocket();
  ASSERT_TRUE(ws3);
  ws3->SendJson({{"id", 1}, {"type", "hello"}, {"token", a.refresh_token}});
  ASSERT_TRUE(ws3->WaitClosed(5s));
  EXPECT_EQ(ws3->close_code(), kCloseBadToken);
}

// ---- send ----

TEST_F(WsTest, SendIsAckedAndFannedOutToEveryConnection) {
  Session a = NewUser("sd");
  Session b = NewUser("sd");
  Session out = NewUser("sd");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a), a2 = Open(a), b1 = Open(b), b2 = Open(b), o1 = Open(out);
  ASSERT_TRUE(a1 && a2 && b1 && b2 && o1);
  int64_t before = NowMs();
  auto sent =
      a1->Request({{"id", 7}, {"type", "send"}, {"conv", g}, {"client_msg_id", "m1"}, {"body", "hi all"}});
  ASSERT_TRUE(sent);
  EXPECT_EQ(GetInt(*sent, "re"), 7);
  EXPECT_TRUE(FieldIs(*sent, "type", "sent")) << Dump(sent);
  EXPECT_EQ(GetString(*sent, "conv"), g);
  EXPECT_EQ(GetInt(*sent, "seq"), 1);
  EXPECT_FALSE(GetString(*sent, "id").empty());
  auto ts = GetInt(*sent, "ts");
  ASSERT_TRUE(ts);
  EXPECT_GE(*ts, before - 5000);
  EXPECT_LE(*ts, NowMs() + 5000);

  for (WsClient* ws : {a1.get(), a2.get(), b1.get(), b2.get()}) {
    auto m = ws->WaitFor([&](const json::object& o) { return IsMessage(o, g, 1); }, kEventWait);
    ASSERT_TRUE(m) << "a connection of a member got no message event";
    EXPECT_EQ(GetString(*m, "id"), GetString(*sent, "id"));
    EXPECT_EQ(GetString(*m, "sender"), a.user_id);
    EXPECT_EQ(GetString(*m, "body"), "hi all");
    EXPECT_EQ(GetInt(*m, "ts"), ts) << "sent.ts must equal the message's ts";
    EXPECT_EQ(GetString(*m, "client_msg_id"), "m1");
  }
  EXPECT_TRUE(NoneArrives(*o1, IsType("message"))) << "a non-member got the message";
}

TEST_F(WsTest, RepeatedSendIsStoredOnce) {
  Session a = NewUser("dd");
  Session b = NewUser("dd");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a);
  auto b1 = Open(b);
  ASSERT_TRUE(a1 && b1);
  auto first = SendMessage(*a1, g, "once", "same-id");
  ASSERT_TRUE(FieldIs(first, "type", "sent")) << Dump(first);
  EXPECT_FALSE(first.contains("duplicate")) << Dump(first);
  ASSERT_TRUE(b1->WaitFor([&](const json::object& o) { return IsMessage(o, g, 1); }, kEventWait));
  auto again = SendMessage(*a1, g, "once", "same-id");
  EXPECT_TRUE(FieldIs(again, "type", "sent")) << Dump(again);
  // The repeat says it stored nothing new (§8's additive field).
  ASSERT_TRUE(again.contains("duplicate")) << Dump(again);
  EXPECT_TRUE(again.at("duplicate").as_bool()) << Dump(again);
  EXPECT_EQ(GetInt(again, "seq"), GetInt(first, "seq"));
  EXPECT_EQ(GetString(again, "id"), GetString(first, "id"));
  EXPECT_EQ(GetInt(again, "ts"), GetInt(first, "ts"));
  // Also after reconnecting, from another connection, even with another body.
  a1->Close();
  auto a2 = Open(a);
  ASSERT_TRUE(a2);
  auto third = SendMessage(*a2, g, "different body", "same-id");
  EXPECT_EQ(GetInt(third, "seq"), GetInt(first, "seq"));
  EXPECT_EQ(GetString(third, "id"), GetString(first, "id"));
  EXPECT_EQ(GetInt(third, "ts"), GetInt(first, "ts"));
  EXPECT_TRUE(NoneArrives(*b1, IsType("message"))) << "a repeated send made a second message event";
  auto history = History(a, g);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(GetString(history[0], "body"), "once");
  // The next new message takes the next seq: no seq was used up.
  auto next = SendMessage(*a2, g, "two", "other-id");
  EXPECT_EQ(GetInt(next, "seq"), 2);
}

TEST_F(WsTest, SameClientMsgIdFromAnotherSenderIsAnotherMessage) {
  Session a = NewUser("ds");
  Session b = NewUser("ds");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a), b1 = Open(b);
  ASSERT_TRUE(a1 && b1);
  auto x = SendMessage(*a1, g, "from a", "shared");
  auto y = SendMessage(*b1, g, "from b", "shared");
  EXPECT_EQ(GetInt(x, "seq"), 1);
  EXPECT_EQ(GetInt(y, "seq"), 2);
  EXPECT_EQ(History(a, g).size(), 2u);
}

TEST_F(WsTest, SeqsAreGaplessAndEveryoneSeesOneOrder) {
  Session a = NewUser("sq");
  Session b = NewUser("sq");
  Session c = NewUser("sq");
  std::string g = CreateGroup(a, "t", {b.username, c.username});
  auto a1 = Open(a), b1 = Open(b), c1 = Open(c);
  ASSERT_TRUE(a1 && b1 && c1);
  constexpr int kEach = 40;
  std::vector<json::object> from_a, from_b;
  std::thread ta([&] { from_a = SendMany(*a1, g, kEach, "a"); });
  std::thread tb([&] { from_b = SendMany(*b1, g, kEach, "b"); });
  ta.join();
  tb.join();
  std::set<int64_t> seqs;
  for (auto* list : {&from_a, &from_b}) {
    int64_t last = 0;
    for (const auto& s : *list) {
      auto seq = GetInt(s, "seq");
      ASSERT_TRUE(seq) << Dump(s);
      EXPECT_GT(*seq, last) << "one sender's messages keep their order";
      last = *seq;
      seqs.insert(*seq);
    }
  }
  ASSERT_EQ(seqs.size(), 2u * kEach);
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), 2 * kEach);
  // c sees every message once, in seq order.
  int64_t expect = 1;
  while (expect <= 2 * kEach) {
    auto m = c1->WaitForType("message", kEventWait, g);
    ASSERT_TRUE(m) << "missing message event " << expect;
    ASSERT_EQ(GetInt(*m, "seq"), expect) << Dump(m);
    ++expect;
  }
  auto history = History(c, g, "limit=500");
  ASSERT_EQ(history.size(), 2u * kEach);
  for (size_t i = 0; i < history.size(); ++i)
    EXPECT_EQ(GetInt(history[i], "seq"), static_cast<int64_t>(i + 1));
}

TEST_F(WsTest, SendErrors) {
  Session a = NewUser("se");
  Session out = NewUser("se");
  std::string g = CreateGroup(a, "t", {});
  std::string other = CreateGroup(out, "theirs", {});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  auto ok = SendMessage(*ws, g, "first");
  EXPECT_EQ(GetInt(ok, "seq"), 1);
  // Not a member: forbidden. Unknown conversation: not_found.
  EXPECT_TRUE(IsWsError(
      ws->Request({{"id", 50}, {"type", "send"}, {"conv", other}, {"client_msg_id", "x1"}, {"body", "x"}}),
      "forbidden", 50));
  EXPECT_TRUE(IsWsError(
      ws->Request(
          {{"id", 51}, {"type", "send"}, {"conv", "987654321"}, {"client_msg_id", "x2"}, {"body", "x"}}),
      "not_found", 51));
  // Missing fields: bad_request.
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 52}, {"type", "send"}, {"client_msg_id", "x3"}, {"body", "x"}}),
                        "bad_request", 52));
  EXPECT_TRUE(
      IsWsError(ws->Request({{"id", 53}, {"type", "send"}, {"conv", g}, {"body", "x"}}), "bad_request", 53));
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 54}, {"type", "send"}, {"conv", g}, {"client_msg_id", "x4"}}),
                        "bad_request", 54));
  // Body limits: 1 to 4096 bytes.
  EXPECT_TRUE(IsWsError(
      ws->Request({{"id", 55}, {"type", "send"}, {"conv", g}, {"client_msg_id", "x5"}, {"body", ""}}),
      "bad_request", 55));
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 56},
                                     {"type", "send"},
                                     {"conv", g},
                                     {"client_msg_id", "x6"},
                                     {"body", std::string(4097, 'b')}}),
                        "too_large", 56));
  // 4096 bytes counted as bytes: 2048 two-byte characters fit, 2049 do not.
  std::string e_acute = "\xc3\xa9";
  std::string fits, over;
  for (int i = 0; i < 2048; ++i) fits += e_acute;
  over = fits + e_acute;
  EXPECT_TRUE(IsWsError(
      ws->Request({{"id", 57}, {"type", "send"}, {"conv", g}, {"client_msg_id", "x7"}, {"body", over}}),
      "too_large", 57));
  // A failed request never uses up a seq.
  auto big = SendMessage(*ws, g, std::string(4096, 'b'));
  EXPECT_EQ(GetInt(big, "seq"), 2) << Dump(big);
  auto wide = SendMessage(*ws, g, fits);
  EXPECT_EQ(GetInt(wide, "seq"), 3) << Dump(wide);
  EXPECT_TRUE(ws->is_open());
  EXPECT_EQ(History(a, g).size(), 3u);
}

// ---- history over WS ----

TEST_F(WsTest, HistoryOverWs) {
  Session a = NewUser("wh");
  Session out = NewUser("wh");
  std::string g = CreateGroup(a, "t", {});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMany(*ws, g, 60, "h");
  auto seqs_of = [&](json::object req) {
    std::vector<int64_t> seqs;
    req["type"] = "history";
    req["conv"] = g;
    auto r = ws->Request(req);
    if (!r || !FieldIs(*r, "type", "history") || !FieldIs(*r, "conv", g) || !r->contains("messages")) {
      ADD_FAILURE() << "history answer: " << Dump(r);
      return seqs;
    }
    for (const auto& m : r->at("messages").as_array()) seqs.push_back(GetInt(m, "seq").value_or(-1));
    return seqs;
  };
  auto range = [](int64_t from, int64_t to) {
    std::vector<int64_t> v;
    for (int64_t i = from; i <= to; ++i) v.push_back(i);
    return v;
  };
  EXPECT_EQ(seqs_of({}), range(11, 60));
  EXPECT_EQ(seqs_of({{"limit", 4}}), range(57, 60));
  EXPECT_EQ(seqs_of({{"before", 20}, {"limit", 5}}), range(15, 19));
  EXPECT_EQ(seqs_of({{"after", 55}}), range(56, 60));
  EXPECT_EQ(seqs_of({{"after", 10}, {"before", 14}}), range(11, 13));
  EXPECT_EQ(seqs_of({{"after", 10}, {"before", 40}, {"limit", 5}}), range(11, 15));
  EXPECT_EQ(seqs_of({{"after", 0}, {"limit", 100000}}), range(1, 60));
  auto ws2 = Open(out);
  ASSERT_TRUE(ws2);
  EXPECT_TRUE(IsWsError(ws2->Request({{"id", 9}, {"type", "history"}, {"conv", g}}), "forbidden", 9));
  EXPECT_TRUE(
      IsWsError(ws2->Request({{"id", 10}, {"type", "history"}, {"conv", "987654321"}}), "not_found", 10));
}

// ---- read ----

TEST_F(WsTest, ReadAnswersOkAndNotifiesMembers) {
  Session a = NewUser("rd");
  Session b = NewUser("rd");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a), b1 = Open(b), b2 = Open(b);
  ASSERT_TRUE(a1 && b1 && b2);
  SendMany(*a1, g, 3, "r");
  auto ok = b1->Request({{"id", 20}, {"type", "read"}, {"conv", g}, {"seq", 2}});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(FieldIs(*ok, "type", "ok")) << Dump(ok);
  EXPECT_EQ(GetInt(*ok, "re"), 20);
  for (WsClient* ws : {a1.get(), b1.get(), b2.get()}) {
    auto ev = ws->WaitFor(
        [&](const json::object& o) { return IsEvent("read", g)(o) && FieldIs(o, "user", b.user_id); },
        kEventWait);
    ASSERT_TRUE(ev) << "a member connection got no read event";
    EXPECT_EQ(GetInt(*ev, "seq"), 2);
  }
  auto conv = Get("/v1/conversations", b.access_token).Object().at("conversations").as_array().at(0);
  EXPECT_EQ(GetInt(conv, "read_seq"), 2);
  EXPECT_EQ(GetInt(conv, "unread"), 1);
  // The welcome summary carries the same.
  json::object welcome;
  auto b3 = Open(b, &welcome);
  ASSERT_TRUE(b3);
  const auto& summary = welcome.at("conversations").as_array().at(0);
  EXPECT_EQ(GetInt(summary, "last_seq"), 3);
  EXPECT_EQ(GetInt(summary, "read_seq"), 2);
  EXPECT_EQ(GetInt(summary, "unread"), 1);
  // Not a member: forbidden.
  Session out = NewUser("rd");
  auto o1 = Open(out);
  ASSERT_TRUE(o1);
  EXPECT_TRUE(
      IsWsError(o1->Request({{"id", 21}, {"type", "read"}, {"conv", g}, {"seq", 1}}), "forbidden", 21));
}

// ---- typing ----

TEST_F(WsTest, TypingGoesToOthersOnlyAndIsThrottled) {
  Session a = NewUser("ty");
  Session b = NewUser("ty");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a), a2 = Open(a), b1 = Open(b);
  ASSERT_TRUE(a1 && a2 && b1);
  ASSERT_TRUE(a1->SendJson({{"type", "typing"}, {"conv", g}}));
  auto ev = b1->WaitForType("typing", kEventWait, g);
  ASSERT_TRUE(ev);
  EXPECT_EQ(GetString(*ev, "user"), a.user_id);
  // Repeats within 3 s are dropped silently.
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(a1->SendJson({{"type", "typing"}, {"conv", g}}));
  ASSERT_TRUE(a2->SendJson({{"type", "typing"}, {"conv", g}}));
  EXPECT_TRUE(NoneArrives(*b1, IsType("typing")));
  EXPECT_TRUE(NoneArrives(*a1, IsType("typing"))) << "the typist's own connection got typing";
  EXPECT_TRUE(NoneArrives(*a2, IsType("typing"))) << "the typist's other connection got typing";
  auto drained = a1->Drain(0ms);
  for (const auto& f : drained)
    EXPECT_FALSE(FieldIs(f, "type", "error")) << "typing needs no answer: " << Dump(f);
  // After 3 s it passes again; b typing reaches a but not b's own.
  std::this_thread::sleep_until(start + 3200ms);
  ASSERT_TRUE(a1->SendJson({{"type", "typing"}, {"conv", g}}));
  EXPECT_TRUE(b1->WaitForType("typing", kEventWait, g));
  ASSERT_TRUE(b1->SendJson({{"type", "typing"}, {"conv", g}}));
  auto to_a = a1->WaitForType("typing", kEventWait, g);
  ASSERT_TRUE(to_a);
  EXPECT_EQ(GetString(*to_a, "user"), b.user_id);
  EXPECT_TRUE(NoneArrives(*b1, IsType("typing")));
}

// ---- conversations over WS ----

TEST_F(WsTest, CreateGroupAndDmOverWs) {
  Session a = NewUser("cw");
  Session b = NewUser("cw");
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  auto r = a1->Request(
      {{"id", 3}, {"type", "create_group"}, {"title", "ws group"}, {"members", json::array{b.username}}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(FieldIs(*r, "type", "conversation")) << Dump(r);
  ASSERT_TRUE(r->contains("conversation"));
  const auto& c = r->at("conversation");
  EXPECT_TRUE(FieldIs(c.as_object(), "kind", "group"));
  EXPECT_EQ(GetString(c, "title"), "ws group");
  EXPECT_EQ(GetInt(c, "member_count"), 2);
  bool owner = false;
  for (const auto& m : c.at("members").as_array())
    owner |= GetString(m, "id") == a.user_id && GetString(m, "role") == "owner";
  EXPECT_TRUE(owner) << Dump(c);
  EXPECT_TRUE(IsWsError(a1->Request({{"id", 4},
                                     {"type", "create_group"},
                                     {"title", "x"},
                                     {"members", json::array{UniqueName("ghost")}}}),
                        "not_found", 4));

  auto d = a1->Request({{"id", 5}, {"type", "dm"}, {"username", b.username}});
  ASSERT_TRUE(d);
  EXPECT_TRUE(FieldIs(*d, "type", "conversation")) << Dump(d);
  const auto& dc = d->at("conversation");
  EXPECT_TRUE(FieldIs(dc.as_object(), "kind", "dm"));
  EXPECT_TRUE(dc.at("title").is_null());
  EXPECT_EQ(GetString(dc, "id"), Dm(b, a.username));
}

TEST_F(WsTest, MembershipChangesOverWsSendMemberEvents) {
  Session a = NewUser("mw");
  Session b = NewUser("mw");
  Session c = NewUser("mw");
  std::string g = CreateGroup(a, "t", {b.username});
  auto a1 = Open(a), a2 = Open(a), b1 = Open(b), c1 = Open(c);
  ASSERT_TRUE(a1 && a2 && b1 && c1);
  auto is_member_event = [&](const std::string& user, const std::string& action) {
    return [=](const json::object& o) {
      return IsEvent("member", g)(o) && FieldIs(o, "user", user) && FieldIs(o, "action", action);
    };
  };

  // add_member: ok, and every connection of every member hears it.
  auto ok = a1->Request({{"id", 30}, {"type", "add_member"}, {"conv", g}, {"username", c.username}});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(FieldIs(*ok, "type", "ok")) << Dump(ok);
  for (WsClient* ws : {a1.get(), a2.get(), b1.get(), c1.get()}) {
    EXPECT_TRUE(ws->WaitFor(is_member_event(c.user_id, "added"), kEventWait)) << "no member added event";
  }
  // A plain member may not add or remove.
  Session d = NewUser("mw");
  EXPECT_TRUE(
      IsWsError(b1->Request({{"id", 31}, {"type", "add_member"}, {"conv", g}, {"username", d.username}}),
                "forbidden", 31));
  EXPECT_TRUE(
      IsWsError(b1->Request({{"id", 32}, {"type", "remove_member"}, {"conv", g}, {"username", c.username}}),
                "forbidden", 32));

  // remove_member by the owner.
  ok = a1->Request({{"id", 33}, {"type", "remove_member"}, {"conv", g}, {"username", c.username}});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(FieldIs(*ok, "type", "ok")) << Dump(ok);
  for (WsClient* ws : {a1.get(), a2.get(), b1.get()}) {
    EXPECT_TRUE(ws->WaitFor(is_member_event(c.user_id, "removed"), kEventWait)) << "no member removed event";
  }
  EXPECT_TRUE(IsWsError(
      c1->Request({{"id", 34}, {"type", "send"}, {"conv", g}, {"client_msg_id", "z"}, {"body", "z"}}),
      "forbidden", 34));

  // leave by a plain member.
  ok = b1->Request({{"id", 35}, {"type", "leave"}, {"conv", g}});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(FieldIs(*ok, "type", "ok")) << Dump(ok);
  for (WsClient* ws : {a1.get(), a2.get()}) {
    EXPECT_TRUE(ws->WaitFor(is_member_event(b.user_id, "left"), kEventWait)) << "no member left event";
  }
  EXPECT_EQ(GetInt(Get("/v1/conversations", a.access_token).Object().at("conversations").as_array().at(0),
                   "member_count"),
            1);

  // A DM's members never change.
  std::string dm = Dm(a, d.username);
  EXPECT_TRUE(
      IsWsError(a1->Request({{"id", 36}, {"type", "add_member"}, {"conv", dm}, {"username", c.username}}),
                "bad_request", 36));
  EXPECT_TRUE(IsWsError(a1->Request({{"id", 37}, {"type", "leave"}, {"conv", dm}}), "bad_request", 37));
}

TEST_F(WsTest, NewMemberStartsReceivingMessages) {
  Session a = NewUser("nw");
  Session c = NewUser("nw");
  std::string g = CreateGroup(a, "t", {});
  auto a1 = Open(a), c1 = Open(c);
  ASSERT_TRUE(a1 && c1);
  ASSERT_TRUE(
      FieldIs(*a1->Request({{"type", "add_member"}, {"conv", g}, {"username", c.username}}), "type", "ok"));
  auto sent = SendMessage(*a1, g, "welcome aboard");
  EXPECT_TRUE(c1->WaitFor(
      [&](const json::object& o) { return IsMessage(o, g, GetInt(sent, "seq").value_or(0)); }, kEventWait))
      << "a member added while connected gets the next message";
}

// ---- presence request, ping ----

TEST_F(WsTest, PingPong) {
  Session a = NewUser("pp");
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  int64_t before = NowMs();
  auto pong = ws->Request({{"id", 99}, {"type", "ping"}});
  ASSERT_TRUE(pong);
  EXPECT_TRUE(FieldIs(*pong, "type", "pong")) << Dump(pong);
  EXPECT_EQ(GetInt(*pong, "re"), 99);
  auto ts = GetInt(*pong, "ts");
  ASSERT_TRUE(ts) << Dump(pong);
  EXPECT_GE(*ts, before - 5000);
  EXPECT_LE(*ts, NowMs() + 5000);
}

// ---- errors and bad frames ----

TEST_F(WsTest, UnknownTypeAndMalformedRequestsAreBadRequest) {
  Session a = NewUser("er");
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 5}, {"type", "no_such_type"}}), "bad_request", 5));
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 6}}), "bad_request", 6));
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 7}, {"type", 42}}), "bad_request", 7));
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 8}, {"type", "read"}, {"conv", "1"}}), "bad_request", 8));
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 9}, {"type", "history"}}), "bad_request", 9));
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 10}, {"type", "dm"}}), "bad_request", 10));
  EXPECT_TRUE(
      IsWsError(ws->Request({{"id", 11}, {"type", "hello"}, {"token", a.access_token}}), "bad_request", 11))
      << "a second hello is not a valid request";
  // JSON without a readable id: an error without re.
  ASSERT_TRUE(ws->Send(R"({"type":"no_such_type"})"));
  auto err = ws->WaitForType("error", 3s);
  ASSERT_TRUE(err);
  EXPECT_TRUE(FieldIs(*err, "code", "bad_request")) << Dump(err);
  EXPECT_FALSE(err->contains("re") && !err->at("re").is_null()) << Dump(err);
  // JSON that is not an object: an error too.
  ASSERT_TRUE(ws->Send("[1,2,3]"));
  EXPECT_TRUE(ws->WaitForType("error", 3s)) << "JSON but not a valid request gets an error";
  ASSERT_TRUE(ws->Send("42"));
  EXPECT_TRUE(ws->WaitForType("error", 3s));
  // None of it closed the connection.
  EXPECT_TRUE(ws->is_open());
  EXPECT_TRUE(FieldIs(*ws->Request({{"type", "ping"}}), "type", "pong"));
}

TEST_F(WsTest, ThreeNonJsonFramesInARowClose1008) {
  Session a = NewUser("nj");
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  ws->Send("not json 1");
  ws->Send("{broken");
  ws->Send("not json 3");
  ASSERT_TRUE(ws->WaitClosed(5s));
  EXPECT_EQ(ws->close_code(), kCloseNotJson) << ws->last_error();
}

TEST_F(WsTest, JsonFramesBreakTheNonJsonStreak) {
  Session a = NewUser("nk");
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  // Two bad, one valid request, two bad, one JSON-but-invalid request, two bad.
  ws->Send("junk");
  ws->Send("junk");
  EXPECT_TRUE(FieldIs(*ws->Request({{"type", "ping"}}), "type", "pong"));
  ws->Send("junk");
  ws->Send("junk");
  EXPECT_TRUE(IsWsError(ws->Request({{"id", 500}, {"type", "bogus"}}), "bad_request", 500));
  ws->Send("junk");
  ws->Send("junk");
  auto pong = ws->Request({{"type", "ping"}});
  ASSERT_TRUE(pong) << "closed after non-JSON frames that were not three in a row: "
                    << ws->close_code().value_or(-1);
  EXPECT_TRUE(FieldIs(*pong, "type", "pong"));
  // The third in a row does close.
  ws->Send("junk");
  ws->Send("junk");
  ws->Send("junk");
  ASSERT_TRUE(ws->WaitClosed(5s));
  EXPECT_EQ(ws->close_code(), kCloseNotJson);
}

TEST_F(WsTest, BadFrameNeverAffectsAnotherConnection) {
  Session a = NewUser("bf");
  Session b = NewUser("bf");
  std::string g = CreateGroup(a, "t", {b.username});
  auto bad = Open(a), good = Open(a), other = Open(b);
  ASSERT_TRUE(bad && good && other);
  bad->Send("x");
  bad->Send("y");
  bad->Send("z");
  ASSERT_TRUE(bad->WaitClosed(5s));
  EXPECT_EQ(bad->close_code(), kCloseNotJson);
  EXPECT_TRUE(good->is_open());
  EXPECT_TRUE(FieldIs(*good->Request({{"type", "ping"}}), "type", "pong"));
  auto sent = SendMessage(*other, g, "still here");
  EXPECT_TRUE(FieldIs(sent, "type", "sent"));
  EXPECT_TRUE(good->WaitForType("message", kEventWait, g));
}

TEST_F(WsTest, SingleBinaryFrameDoesNotClose) {
  Session a = NewUser("bn");
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  ASSERT_TRUE(ws->SendBinary(std::string("\x00\x01\x02\xff", 4)));
  auto pong = ws->Request({{"type", "ping"}});
  ASSERT_TRUE(pong) << "closed with " << ws->close_code().value_or(-1);
  EXPECT_TRUE(FieldIs(*pong, "type", "pong"));
}

TEST_F(WsDefaultsTest, FrameOver64KiBCloses1009) {
  Session a = NewUser("fb");
  std::string g = CreateGroup(a, "t", {});
  auto ws = Open(a);
  auto other = Open(a);
  ASSERT_TRUE(ws && other);
  // Under the limit: an answer (too_large for the body), not a close.
  std::string big_body(60 * 1024, 'x');
  EXPECT_TRUE(IsWsError(
      ws->Request({{"id", 1}, {"type", "send"}, {"conv", g}, {"client_msg_id", "b"}, {"body", big_body}}),
      "too_large", 1))
      << "a frame under 64 KiB with a body over 4096 bytes";
  std::string frame = R"({"id":2,"type":"ping","pad":")" + std::string(70 * 1024, 'x') + R"("})";
  ws->Send(frame);
  ASSERT_TRUE(ws->WaitClosed(5s));
  EXPECT_EQ(ws->close_code(), kCloseTooBig) << ws->last_error();
  EXPECT_TRUE(FieldIs(*other->Request({{"type", "ping"}}), "type", "pong"));
}

}  // namespace
}  // namespace parley::testing
