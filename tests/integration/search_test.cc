// Search (PROTOCOL.md §6) against the real parleyd: what is found right
// after `sent`, served folded for the caller; edits and deletes reflected;
// only the caller's conversations; paging with `next`; and every bad input
// answered 400 (or 401/403/404 as for history), never a server error, with
// the syntax of the search engines in `q` taken as text.
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "server_fixture.h"

namespace parley::testing {
namespace {

std::string Encode(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

class SearchTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000"};
  }

  client::Response Search(const Session& s, std::string_view q, const std::string& extra = "") {
    return Get("/v1/search?q=" + Encode(q) + extra, s.access_token);
  }
  // The bodies of a 200 answer's results, in order (failure recorded on any
  // other answer).
  std::vector<std::string> Found(const Session& s, std::string_view q, const std::string& extra = "") {
    client::Response r = Search(s, q, extra);
    if (r.status != 200) {
      ADD_FAILURE() << "search '" << q << "': " << r.Describe();
      return {};
    }
    std::vector<std::string> out;
    for (const auto& m : r.json.at("results").as_array()) out.push_back(std::string(GetString(m, "body")));
    return out;
  }
};

TEST_F(SearchTest, FindsAMessageRightAfterSentServedFoldedForTheCaller) {
  Session a = NewUser("se"), b = NewUser("se");
  const std::string g = CreateGroup(a, "t", {b.username});
  auto wa = Open(a), wb = Open(b);
  ASSERT_TRUE(wa && wb);
  json::object sent = SendMessage(*wa, g, "The Quarterly numbers are in", "q1");
  ASSERT_TRUE(FieldIs(sent, "type", "sent")) << Dump(sent);
  const int64_t seq = GetInt(sent, "seq").value_or(0);
  json::object reacted = Ask(
      *wb, 7,
      {{"type", "react"}, {"conv", g}, {"seq", seq}, {"client_msg_id", "r1"}, {"emoji", "👍"}, {"op", "add"}});
  ASSERT_TRUE(FieldIs(reacted, "type", "sent")) << Dump(reacted);

  // No wait: the index is written by the commit that `sent` follows.
  client::Response r = Search(b, "quarterly NUMBERS");
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(r.json.at("next").is_null());
  const auto& results = r.json.at("results").as_array();
  ASSERT_EQ(results.size(), 1u) << r.body;
  const auto& m = results[0].as_object();
  EXPECT_EQ(GetString(m, "conv"), g);
  EXPECT_EQ(GetInt(m, "seq"), seq);
  EXPECT_EQ(GetString(m, "id"), GetString(sent, "id"));
  EXPECT_EQ(GetInt(m, "ts"), GetInt(sent, "ts"));
  EXPECT_EQ(GetString(m, "sender"), a.user_id);
  EXPECT_EQ(GetString(m, "kind"), "text");
  EXPECT_EQ(GetString(m, "body"), "The Quarterly numbers are in");
  EXPECT_EQ(GetString(m, "client_msg_id"), "q1");
  ASSERT_EQ(m.at("reactions").as_array().size(), 1u) << Dump(m);
  const auto& reaction = m.at("reactions").as_array()[0].as_object();
  EXPECT_EQ(GetString(reaction, "emoji"), "👍");
  EXPECT_EQ(GetInt(reaction, "count"), 1);
  EXPECT_TRUE(reaction.at("me").as_bool());
  // For a, the same entry, with `me` false.
  client::Response for_a = Search(a, "quarterly");
  ASSERT_EQ(for_a.status, 200) << for_a.Describe();
  EXPECT_FALSE(for_a.json.at("results").as_array()[0].at("reactions").as_array()[0].at("me").as_bool());
}

TEST_F(SearchTest, EditsAndDeletesChangeWhatIsFound) {
  Session a = NewUser("se"), b = NewUser("se");
  const std::string g = CreateGroup(a, "t", {b.username});
  auto wa = Open(a);
  ASSERT_TRUE(wa);
  const int64_t first = GetInt(SendMessage(*wa, g, "lunch at noon", "c1"), "seq").value_or(0);
  const int64_t second = GetInt(SendMessage(*wa, g, "lunch is on me", "c2"), "seq").value_or(0);
  EXPECT_EQ(Found(b, "lunch"), (std::vector<std::string>{"lunch is on me", "lunch at noon"}));
  json::object edited = Ask(
      *wa, 10,
      {{"type", "edit"}, {"conv", g}, {"seq", first}, {"client_msg_id", "e1"}, {"body", "brunch at ten"}});
  ASSERT_TRUE(FieldIs(edited, "type", "sent")) << Dump(edited);
  EXPECT_EQ(Found(b, "noon"), std::vector<std::string>{});
  EXPECT_EQ(Found(b, "brunch"), std::vector<std::string>{"brunch at ten"});
  json::object deleted =
      Ask(*wa, 11, {{"type", "delete"}, {"conv", g}, {"seq", second}, {"client_msg_id", "d1"}});
  ASSERT_TRUE(FieldIs(deleted, "type", "sent")) << Dump(deleted);
  EXPECT_EQ(Found(b, "lunch"), std::vector<std::string>{});
  EXPECT_EQ(Found(a, "me"), std::vector<std::string>{});
}

TEST_F(SearchTest, OnlyTheCallersConversations) {
  Session a = NewUser("se"), b = NewUser("se"), c = NewUser("se");
  const std::string g = CreateGroup(a, "t", {b.username});
  const std::string h = CreateGroup(c, "other", {});
  auto wa = Open(a), wc = Open(c);
  ASSERT_TRUE(wa && wc);
  SendMessage(*wa, g, "launch codes", "c1");
  SendMessage(*wc, h, "launch party", "c2");
  EXPECT_EQ(Found(b, "launch"), std::vector<std::string>{"launch codes"});
  EXPECT_EQ(Found(c, "launch"), std::vector<std::string>{"launch party"});
  // `conv`: 403 for a conversation of others, 404 for none, as for history.
  EXPECT_TRUE(IsHttpError(Search(c, "launch", "&conv=" + g), 403, "forbidden"));
  EXPECT_TRUE(IsHttpError(Search(c, "launch", "&conv=999999"), 404, "not_found"));
  EXPECT_TRUE(IsHttpError(Search(c, "launch", "&conv=abc"), 404, "not_found"));
  EXPECT_EQ(Found(a, "launch", "&conv=" + g), std::vector<std::string>{"launch codes"});
  // A member who left finds nothing there any more.
  client::Response left = Delete("/v1/conversations/" + g + "/members/" + b.username, b.access_token);
  ASSERT_EQ(left.status, 204) << left.Describe();
  EXPECT_EQ(Found(b, "launch"), std::vector<std::string>{});
  EXPECT_TRUE(IsHttpError(Search(b, "launch", "&conv=" + g), 403, "forbidden"));
}

TEST_F(SearchTest, PagesFollowNextUntilNull) {
  Session a = NewUser("se");
  const std::string g = CreateGroup(a, "t", {});
  auto wa = Open(a);
  ASSERT_TRUE(wa);
  auto answers = SendMany(*wa, g, 7, "paged item");
  ASSERT_EQ(answers.size(), 7u);
  std::set<int64_t> seqs;
  std::string extra = "&limit=3";
  int pages = 0;
  for (;;) {
    client::Response r = Search(a, "paged", extra);
    ASSERT_EQ(r.status, 200) << r.Describe();
    ++pages;
    for (const auto& m : r.json.at("results").as_array())
      EXPECT_TRUE(seqs.insert(GetInt(m, "seq").value_or(0)).second);
    if (r.json.at("next").is_null()) break;
    EXPECT_EQ(r.json.at("results").as_array().size(), 3u);
    const json::string& next = r.json.at("next").as_string();
    extra = "&limit=3&cursor=" + Encode(std::string_view(next.data(), next.size()));
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seqs.size(), 7u);
  // The default page is 20; 100 is the most.
  EXPECT_EQ(Found(a, "paged", "&limit=100").size(), 7u);
}

TEST_F(SearchTest, BadInputIsA400) {
  Session a = NewUser("se");
  for (const std::string& target : std::vector<std::string>{
           "/v1/search", "/v1/search?q=", "/v1/search?q=%20%20%09", "/v1/search?q=%22unclosed%20phrase",
           "/v1/search?q=ok%20%22a", "/v1/search?q=" + std::string(10 * 1024, 'a'), "/v1/search?q=x*",
           "/v1/search?q=ok&limit=0", "/v1/search?q=ok&limit=101", "/v1/search?q=ok&limit=abc",
           "/v1/search?q=ok&limit=-1", "/v1/search?q=ok&cursor=garbage", "/v1/search?q=%C3%28",
           "/v1/search?q=%F0%9F%98%80", "/v1/search?q=--%20()%20**"}) {
    client::Response r = Get(target, a.access_token);
    EXPECT_TRUE(IsHttpError(r, 400, "bad_request")) << target.substr(0, 80) << ": " << r.Describe();
  }
  EXPECT_TRUE(IsHttpError(Get("/v1/search?q=ok", ""), 401, "unauthorized"));
}

TEST_F(SearchTest, EngineSyntaxInQIsText) {
  Session a = NewUser("se");
  const std::string g = CreateGroup(a, "t", {});
  auto wa = Open(a);
  ASSERT_TRUE(wa);
  SendMessage(*wa, g, "cats NEAR dogs OR mice AND NOT rats", "c1");
  SendMessage(*wa, g, "key:value (parens) ^caret -minus", "c2");
  EXPECT_EQ(Found(a, "NEAR OR"), std::vector<std::string>{"cats NEAR dogs OR mice AND NOT rats"});
  EXPECT_EQ(Found(a, "NOT rats"), std::vector<std::string>{"cats NEAR dogs OR mice AND NOT rats"});
  EXPECT_EQ(Found(a, "key:value ^caret"), std::vector<std::string>{"key:value (parens) ^caret -minus"});
  // Whatever the engines would make of these, they are words or nothing:
  // an answer of 200, never a server error.
  for (const std::string& q : std::vector<std::string>{
           "NEAR(cats dogs, 1)", "cats OR", "AND", "-cats", "^cats", "body:cats", "cats)", "(cats", "ca*ts",
           "{cats}", "cats & dogs | !mice", "' OR 1=1 --", "cats''", "\\cats", "cats:*", "cats <-> dogs",
           "\"cats\" AND \"dogs\"", "%cats_"}) {
    client::Response r = Search(a, q);
    EXPECT_EQ(r.status, 200) << q << ": " << r.Describe();
  }
}

}  // namespace
}  // namespace parley::testing
