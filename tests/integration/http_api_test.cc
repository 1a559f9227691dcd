// PROTOCOL.md section 1: the HTTP API, sentence by sentence.
#include <map>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "common/build_info.h"
#include "protocol/http_bodies.h"
#include "server_fixture.h"

namespace parley::testing {
namespace {

// Checks the User shape: {"id","username","display_name","online","last_seen"}.
::testing::AssertionResult IsUser(const json::value& v) {
  if (!v.is_object()) return ::testing::AssertionFailure() << "not an object: " << Dump(v);
  const auto& o = v.as_object();
  for (const char* key : {"id", "username", "display_name"}) {
    if (!o.contains(key) || !o.at(key).is_string()) {
      return ::testing::AssertionFailure() << "User." << key << " not a string: " << Dump(v);
    }
  }
  if (o.at("id").as_string().empty()) return ::testing::AssertionFailure() << "empty id";
  if (!o.contains("online") || !o.at("online").is_bool()) {
    return ::testing::AssertionFailure() << "User.online not a bool: " << Dump(v);
  }
  if (!o.contains("last_seen") || !(o.at("last_seen").is_null() || protocol::AsInt(o.at("last_seen")))) {
    return ::testing::AssertionFailure() << "User.last_seen not time|null: " << Dump(v);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsSession(const client::Response& r) {
  const auto& o = r.Object();
  if (!o.contains("user")) return ::testing::AssertionFailure() << "no user: " << r.body;
  auto user = IsUser(o.at("user"));
  if (!user) return user;
  for (const char* key : {"access_token", "refresh_token"}) {
    if (!o.contains(key) || !o.at(key).is_string() || o.at(key).as_string().empty()) {
      return ::testing::AssertionFailure() << key << " missing: " << r.body;
    }
  }
  // The access token is a JWT: three base64url parts.
  std::string access(o.at("access_token").as_string());
  if (std::count(access.begin(), access.end(), '.') != 2) {
    return ::testing::AssertionFailure() << "access_token is not a JWT: " << access;
  }
  auto expires = GetInt(o, "expires_in");
  if (!expires || *expires <= 0) return ::testing::AssertionFailure() << "expires_in: " << r.body;
  return ::testing::AssertionSuccess();
}

// Checks the Conversation shape; `kind` "dm" or "group".
::testing::AssertionResult IsConversation(const json::value& v, const std::string& kind) {
  if (!v.is_object()) return ::testing::AssertionFailure() << "not an object: " << Dump(v);
  const auto& o = v.as_object();
  if (!o.contains("id") || !o.at("id").is_string()) return ::testing::AssertionFailure() << "id: " << Dump(v);
  if (!FieldIs(o, "kind", kind))
    return ::testing::AssertionFailure() << "kind != " << kind << ": " << Dump(v);
  if (!o.contains("title")) return ::testing::AssertionFailure() << "no title: " << Dump(v);
  if (kind == "dm" && !o.at("title").is_null())
    return ::testing::AssertionFailure() << "DM title not null: " << Dump(v);
  if (kind == "group" && !o.at("title").is_string())
    return ::testing::AssertionFailure() << "group title: " << Dump(v);
  for (const char* key : {"member_count", "last_seq", "read_seq", "unread"}) {
    if (!GetInt(o, key)) return ::testing::AssertionFailure() << key << " not an integer: " << Dump(v);
  }
  if (*GetInt(o, "unread") != *GetInt(o, "last_seq") - *GetInt(o, "read_seq")) {
    return ::testing::AssertionFailure() << "unread != last_seq - read_seq: " << Dump(v);
  }
  if (!o.contains("members") || !o.at("members").is_array()) {
    return ::testing::AssertionFailure() << "members: " << Dump(v);
  }
  for (const auto& m : o.at("members").as_array()) {
    if (!m.is_object() || GetString(m, "id").empty() || GetString(m, "username").empty()) {
      return ::testing::AssertionFailure() << "member shape: " << Dump(m);
    }
    std::string role = GetString(m, "role");
    if (role != "owner" && role != "admin" && role != "member") {
      return ::testing::AssertionFailure() << "member role: " << Dump(m);
    }
  }
  return ::testing::AssertionSuccess();
}

std::string RoleOf(const json::value& conv, const std::string& user_id) {
  for (const auto& m : conv.at("members").as_array()) {
    if (GetString(m, "id") == user_id) return GetString(m, "role");
  }
  return "";
}

bool HasMember(const json::value& conv, const std::string& user_id) { return !RoleOf(conv, user_id).empty(); }

std::vector<int64_t> Seqs(const json::array& messages) {
  std::vector<int64_t> out;
  for (const auto& m : messages) out.push_back(GetInt(m, "seq").value_or(-1));
  return out;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t i = from; i <= to; ++i) out.push_back(i);
  return out;
}

class HttpApiTest : public ServerTest {};

// History tests send many messages: lift the send rate limit.
class HttpHistoryTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000"};
  }
};

// ---- register ----

TEST_F(HttpApiTest, RegisterReturns201Session) {
  std::string name = UniqueName("reg");
  auto r = http().Post("/v1/auth/register",
                       {{"username", name}, {"password", kPassword}, {"display_name", "Reg Ister"}});
  ASSERT_EQ(r.status, 201) << r.Describe();
  EXPECT_TRUE(IsSession(r));
  const auto& user = r.Object().at("user");
  EXPECT_EQ(GetString(user, "username"), name);
  EXPECT_EQ(GetString(user, "display_name"), "Reg Ister");
}

TEST_F(HttpApiTest, RegisterWithoutDisplayNameStillHasUserShape) {
  auto r = http().Post("/v1/auth/register", {{"username", UniqueName("nodn")}, {"password", kPassword}});
  ASSERT_EQ(r.status, 201) << r.Describe();
  EXPECT_TRUE(IsSession(r));
}

TEST_F(HttpApiTest, UsernameIsFoldedToLowerCase) {
  std::string lower = UniqueName("fold");
  std::string upper = lower;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto r = http().Post("/v1/auth/register", {{"username", upper}, {"password", kPassword}});
  ASSERT_EQ(r.status, 201) << r.Describe();
  EXPECT_EQ(GetString(r.Object().at("user"), "username"), lower);
  std::string id = GetString(r.Object().at("user"), "id");

  // Registering the folded name again conflicts, in either case.
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/register", {{"username", lower}, {"password", kPassword}}),
                          409, "conflict"));
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/register", {{"username", upper}, {"password", kPassword}}),
                          409, "conflict"));

  // Logging in with upper case logs in as her.
  auto login = http().Post("/v1/auth/login", {{"username", upper}, {"password", kPassword}});
  ASSERT_EQ(login.status, 200) << login.Describe();
  EXPECT_EQ(GetString(login.Object().at("user"), "id"), id);
}

TEST_F(HttpApiTest, RegisterConflict409) {
  std::string name = UniqueName("dup");
  ASSERT_TRUE(client::Register(http(), name, kPassword).ok());
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/register", {{"username", name}, {"password", kPassword}}),
                          409, "conflict"));
}

TEST_F(HttpApiTest, UsernameLengthAndAlphabet) {
  auto reg = [&](const std::string& u) {
    return http().Post("/v1/auth/register", {{"username", u}, {"password", kPassword}});
  };
  std::string base = UniqueName("l");  // unique prefix material
  std::string tag = base.substr(base.size() - 3);
  EXPECT_TRUE(IsHttpError(reg("ab"), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(reg(""), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(reg(std::string(33, 'x')), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(reg("bad name" + tag), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(reg("bad!name" + tag), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(reg("bad/name" + tag), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(reg("b\xc3\xa9name" + tag), 400, "bad_request"));
  // Boundaries: 3 and 32 characters, every allowed symbol.
  std::string three = "a" + tag.substr(tag.size() - 2);
  EXPECT_EQ(reg(three).status, 201) << three;
  std::string long_name = base + std::string(32 - base.size(), 'z');
  ASSERT_EQ(long_name.size(), 32u);
  EXPECT_EQ(reg(long_name).status, 201);
  EXPECT_EQ(reg("a_b.c-d" + tag).status, 201);
}

TEST_F(HttpApiTest, PasswordLengthCountsBytes) {
  auto reg = [&](const std::string& pw) {
    return http().Post("/v1/auth/register", {{"username", UniqueName("pw")}, {"password", pw}});
  };
  EXPECT_TRUE(IsHttpError(reg("1234567"), 400, "bad_request"));
  EXPECT_EQ(reg("12345678").status, 201);
  EXPECT_EQ(reg(std::string(1024, 'p')).status, 201);
  EXPECT_TRUE(IsHttpError(reg(std::string(1025, 'p')), 400, "bad_request"));
  std::string e_acute = "\xc3\xa9";  // 2 bytes, 1 character
  std::string four_chars;            // 4 characters, 8 bytes: allowed
  for (int i = 0; i < 4; ++i) four_chars += e_acute;
  EXPECT_EQ(reg(four_chars).status, 201);
  std::string many_chars;  // 513 characters, 1026 bytes: too long
  for (int i = 0; i < 513; ++i) many_chars += e_acute;
  EXPECT_TRUE(IsHttpError(reg(many_chars), 400, "bad_request"));
}

TEST_F(HttpApiTest, RegisterMalformedBodies400) {
  EXPECT_TRUE(
      IsHttpError(http().Request("POST", "/v1/auth/register", std::string("{not json")), 400, "bad_request"));
  EXPECT_TRUE(
      IsHttpError(http().Post("/v1/auth/register", {{"username", UniqueName("nopw")}}), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/register", {{"password", kPassword}}), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/register", {{"username", 12345}, {"password", kPassword}}),
                          400, "bad_request"));
}

// ---- login / refresh ----

TEST_F(HttpApiTest, LoginReturns200Session) {
  Session s = NewUser("login");
  auto r = http().Post("/v1/auth/login", {{"username", s.username}, {"password", kPassword}});
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(IsSession(r));
  EXPECT_EQ(GetString(r.Object().at("user"), "id"), s.user_id);
}

TEST_F(HttpApiTest, LoginUnknownUserAndWrongPasswordAnswerTheSame) {
  Session s = NewUser("lg");
  auto wrong = http().Post("/v1/auth/login", {{"username", s.username}, {"password", "wrong-password"}});
  auto unknown =
      http().Post("/v1/auth/login", {{"username", UniqueName("nobody")}, {"password", "wrong-password"}});
  EXPECT_TRUE(IsHttpError(wrong, 401, "unauthorized"));
  EXPECT_TRUE(IsHttpError(unknown, 401, "unauthorized"));
  EXPECT_EQ(wrong.body, unknown.body) << "the answers must not tell which one it was";
}

TEST_F(HttpApiTest, RefreshRotatesAndUsedTokenIs401) {
  Session s = NewUser("rf");
  auto r = http().Post("/v1/auth/refresh", {{"refresh_token", s.refresh_token}});
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(IsSession(r));
  auto fresh = client::ParseSession(r);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->user_id, s.user_id);
  EXPECT_NE(fresh->refresh_token, s.refresh_token) << "refresh must rotate the refresh token";
  EXPECT_EQ(Get("/v1/me", fresh->access_token).status, 200);
  // The new one works once; the used token is spent, and presenting it again
  // is a replay that revokes its whole family (docs/protocol.md 1.7).
  auto next = http().Post("/v1/auth/refresh", {{"refresh_token", fresh->refresh_token}});
  EXPECT_EQ(next.status, 200);
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/refresh", {{"refresh_token", s.refresh_token}}), 401,
                          "unauthorized"));
  const std::string newest = GetString(next.json, "refresh_token");
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/refresh", {{"refresh_token", newest}}), 401, "unauthorized"));
}

TEST_F(HttpApiTest, RefreshUnknownToken401) {
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/refresh", {{"refresh_token", "no-such-token"}}), 401,
                          "unauthorized"));
}

// ---- users ----

TEST_F(HttpApiTest, MeReturnsUser) {
  Session s = NewUser("me");
  auto r = Get("/v1/me", s.access_token);
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(IsUser(r.json));
  EXPECT_EQ(GetString(r.json, "id"), s.user_id);
  EXPECT_EQ(GetString(r.json, "username"), s.username);
}

TEST_F(HttpApiTest, AuthenticatedCallsNeedAValidBearer) {
  EXPECT_TRUE(IsHttpError(http().Get("/v1/me"), 401, "unauthorized"));
  EXPECT_TRUE(IsHttpError(Get("/v1/me", "not.a.jwt"), 401, "unauthorized"));
  Session s = NewUser("tok");
  std::string tampered = s.access_token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_TRUE(IsHttpError(Get("/v1/me", tampered), 401, "unauthorized"));
  // The refresh token is not an access token.
  EXPECT_TRUE(IsHttpError(Get("/v1/me", s.refresh_token), 401, "unauthorized"));
  EXPECT_TRUE(IsHttpError(http().Get("/v1/conversations"), 401, "unauthorized"));
  EXPECT_TRUE(IsHttpError(http().Get("/v1/users/" + s.username), 401, "unauthorized"));
}

TEST_F(HttpApiTest, UserByUsername) {
  Session a = NewUser("ua");
  Session b = NewUser("ub");
  auto r = Get("/v1/users/" + b.username, a.access_token);
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(IsUser(r.json));
  EXPECT_EQ(GetString(r.json, "id"), b.user_id);
  EXPECT_EQ(GetString(r.json, "username"), b.username);
  EXPECT_FALSE(r.Object().at("online").as_bool());
  EXPECT_TRUE(IsHttpError(Get("/v1/users/" + UniqueName("ghost"), a.access_token), 404, "not_found"));
}

// ---- conversations ----

TEST_F(HttpApiTest, ConversationListStartsEmptyThenListsBoth) {
  Session a = NewUser("cl");
  Session b = NewUser("cl");
  auto r = Get("/v1/conversations", a.access_token);
  ASSERT_EQ(r.status, 200) << r.Describe();
  ASSERT_TRUE(r.Object().contains("conversations"));
  EXPECT_TRUE(r.Object().at("conversations").as_array().empty());
  std::string g = CreateGroup(a, "g1", {b.username});
  std::string d = Dm(a, b.username);
  r = Get("/v1/conversations", a.access_token);
  ASSERT_EQ(r.status, 200);
  std::set<std::string> ids;
  for (const auto& c : r.Object().at("conversations").as_array()) {
    ids.insert(GetString(c, "id"));
    EXPECT_TRUE(IsConversation(c, GetString(c, "id") == d ? "dm" : "group"));
  }
  EXPECT_EQ(ids, (std::set<std::string>{g, d}));
  // b sees both too.
  r = Get("/v1/conversations", b.access_token);
  EXPECT_EQ(r.Object().at("conversations").as_array().size(), 2u);
}

TEST_F(HttpApiTest, CreateGroupReturns201WithOwner) {
  Session a = NewUser("cg");
  Session b = NewUser("cg");
  Session c = NewUser("cg");
  auto r = Post("/v1/conversations",
                {{"kind", "group"}, {"title", "Team"}, {"members", json::array{b.username, c.username}}},
                a.access_token);
  ASSERT_EQ(r.status, 201) << r.Describe();
  EXPECT_TRUE(IsConversation(r.json, "group"));
  EXPECT_EQ(GetString(r.json, "title"), "Team");
  EXPECT_EQ(GetInt(r.json, "member_count"), 3);
  EXPECT_EQ(r.Object().at("members").as_array().size(), 3u);
  EXPECT_EQ(RoleOf(r.json, a.user_id), "owner");
  EXPECT_EQ(RoleOf(r.json, b.user_id), "member");
  EXPECT_EQ(RoleOf(r.json, c.user_id), "member");
  EXPECT_EQ(GetInt(r.json, "last_seq"), 0);
  EXPECT_EQ(GetInt(r.json, "read_seq"), 0);
  EXPECT_EQ(GetInt(r.json, "unread"), 0);
}

TEST_F(HttpApiTest, CreateGroupWithUnknownMember404) {
  Session a = NewUser("cu");
  Session b = NewUser("cu");
  auto r =
      Post("/v1/conversations",
           {{"kind", "group"}, {"title", "x"}, {"members", json::array{b.username, UniqueName("ghost")}}},
           a.access_token);
  EXPECT_TRUE(IsHttpError(r, 404, "not_found"));
  // Nothing was created.
  EXPECT_TRUE(Get("/v1/conversations", a.access_token).Object().at("conversations").as_array().empty());
}

TEST_F(HttpApiTest, CreateGroupMalformed400) {
  Session a = NewUser("cm");
  EXPECT_TRUE(IsHttpError(
      Post("/v1/conversations", {{"kind", "group"}, {"title", "x"}, {"members", "nope"}}, a.access_token),
      400, "bad_request"));
  EXPECT_TRUE(IsHttpError(http().Request("POST", "/v1/conversations", std::string("[]"), a.access_token), 400,
                          "bad_request"));
}

TEST_F(HttpApiTest, DmIsTheSameConversationBothWays) {
  Session a = NewUser("dm");
  Session b = NewUser("dm");
  auto r1 = Post("/v1/conversations/dm", {{"username", b.username}}, a.access_token);
  ASSERT_EQ(r1.status, 200) << r1.Describe();
  EXPECT_TRUE(IsConversation(r1.json, "dm"));
  EXPECT_TRUE(r1.Object().at("title").is_null());
  EXPECT_EQ(GetInt(r1.json, "member_count"), 2);
  EXPECT_TRUE(HasMember(r1.json, a.user_id));
  EXPECT_TRUE(HasMember(r1.json, b.user_id));
  auto r2 = Post("/v1/conversations/dm", {{"username", a.username}}, b.access_token);
  ASSERT_EQ(r2.status, 200) << r2.Describe();
  auto r3 = Post("/v1/conversations/dm", {{"username", b.username}}, a.access_token);
  EXPECT_EQ(GetString(r1.json, "id"), GetString(r2.json, "id"));
  EXPECT_EQ(GetString(r1.json, "id"), GetString(r3.json, "id"));
  EXPECT_EQ(Get("/v1/conversations", a.access_token).Object().at("conversations").as_array().size(), 1u);
}

TEST_F(HttpApiTest, DmWithUnknownUser404) {
  Session a = NewUser("dmu");
  EXPECT_TRUE(IsHttpError(Post("/v1/conversations/dm", {{"username", UniqueName("ghost")}}, a.access_token),
                          404, "not_found"));
}

TEST_F(HttpApiTest, DmMembersNeverChange400) {
  Session a = NewUser("dmc");
  Session b = NewUser("dmc");
  Session c = NewUser("dmc");
  std::string d = Dm(a, b.username);
  EXPECT_TRUE(
      IsHttpError(Post("/v1/conversations/" + d + "/members", {{"username", c.username}}, a.access_token),
                  400, "bad_request"));
  EXPECT_TRUE(IsHttpError(Delete("/v1/conversations/" + d + "/members/" + b.username, a.access_token), 400,
                          "bad_request"));
  EXPECT_TRUE(IsHttpError(Delete("/v1/conversations/" + d + "/members/" + a.username, a.access_token), 400,
                          "bad_request"));
  EXPECT_EQ(GetInt(Get("/v1/conversations", a.access_token).Object().at("conversations").as_array().at(0),
                   "member_count"),
            2);
}

TEST_F(HttpApiTest, OwnerAddsMember) {
  Session a = NewUser("am");
  Session b = NewUser("am");
  Session c = NewUser("am");
  std::string g = CreateGroup(a, "t", {b.username});
  auto r = Post("/v1/conversations/" + g + "/members", {{"username", c.username}}, a.access_token);
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(IsConversation(r.json, "group"));
  EXPECT_EQ(GetInt(r.json, "member_count"), 3);
  EXPECT_EQ(RoleOf(r.json, c.user_id), "member");
  // c now sees it.
  EXPECT_EQ(Get("/v1/conversations", c.access_token).Object().at("conversations").as_array().size(), 1u);
  // Adding an unknown user: 404.
  EXPECT_TRUE(IsHttpError(
      Post("/v1/conversations/" + g + "/members", {{"username", UniqueName("ghost")}}, a.access_token), 404,
      "not_found"));
}

TEST_F(HttpApiTest, PlainMemberCannotAddOrRemoveOthers) {
  Session a = NewUser("pm");
  Session b = NewUser("pm");
  Session c = NewUser("pm");
  Session d = NewUser("pm");
  std::string g = CreateGroup(a, "t", {b.username, c.username});
  EXPECT_TRUE(
      IsHttpError(Post("/v1/conversations/" + g + "/members", {{"username", d.username}}, b.access_token),
                  403, "forbidden"));
  EXPECT_TRUE(IsHttpError(Delete("/v1/conversations/" + g + "/members/" + c.username, b.access_token), 403,
                          "forbidden"));
  EXPECT_TRUE(IsHttpError(Delete("/v1/conversations/" + g + "/members/" + a.username, b.access_token), 403,
                          "forbidden"));
  // An outsider cannot either.
  EXPECT_TRUE(
      IsHttpError(Post("/v1/conversations/" + g + "/members", {{"username", d.username}}, d.access_token),
                  403, "forbidden"));
  auto r = Get("/v1/conversations", a.access_token);
  EXPECT_EQ(GetInt(r.Object().at("conversations").as_array().at(0), "member_count"), 3);
}

TEST_F(HttpApiTest, OwnerRemovesMember204AndTheyLoseAccess) {
  Session a = NewUser("rm");
  Session b = NewUser("rm");
  Session c = NewUser("rm");
  std::string g = CreateGroup(a, "t", {b.username, c.username});
  auto r = Delete("/v1/conversations/" + g + "/members/" + b.username, a.access_token);
  EXPECT_EQ(r.status, 204) << r.Describe();
  EXPECT_TRUE(IsHttpError(Get("/v1/conversations/" + g + "/messages", b.access_token), 403, "forbidden"));
  EXPECT_TRUE(Get("/v1/conversations", b.access_token).Object().at("conversations").as_array().empty());
  EXPECT_EQ(GetInt(Get("/v1/conversations", a.access_token).Object().at("conversations").as_array().at(0),
                   "member_count"),
            2);
}

TEST_F(HttpApiTest, AnyMemberMayLeave) {
  Session a = NewUser("lv");
  Session b = NewUser("lv");
  std::string g = CreateGroup(a, "t", {b.username});
  auto r = Delete("/v1/conversations/" + g + "/members/" + b.username, b.access_token);
  EXPECT_EQ(r.status, 204) << r.Describe();
  EXPECT_TRUE(IsHttpError(Get("/v1/conversations/" + g + "/messages", b.access_token), 403, "forbidden"));
}

TEST_F(HttpApiTest, MembersPaging) {
  Session a = NewUser("mp");
  std::vector<std::string> names;
  std::set<std::string> expected = {a.user_id};
  for (int i = 0; i < 6; ++i) {
    Session s = NewUser("mp");
    names.push_back(s.username);
    expected.insert(s.user_id);
  }
  std::string g = CreateGroup(a, "paged", names);
  std::set<std::string> seen;
  std::string after;
  int pages = 0;
  while (pages < 10) {
    std::string target = "/v1/conversations/" + g + "/members?limit=3";
    if (!after.empty()) target += "&after=" + after;
    auto r = Get(target, a.access_token);
    ASSERT_EQ(r.status, 200) << r.Describe();
    ++pages;
    const auto& members = r.Object().at("members").as_array();
    EXPECT_LE(members.size(), 3u);
    for (const auto& m : members) {
      EXPECT_TRUE(seen.insert(GetString(m, "id")).second) << "member twice: " << Dump(m);
      EXPECT_FALSE(GetString(m, "role").empty());
    }
    ASSERT_TRUE(r.Object().contains("next")) << r.body;
    const auto& next = r.Object().at("next");
    if (next.is_null()) break;
    after = next.is_string() ? std::string(next.as_string()) : Dump(next);
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, 3);
  // Only members may list members.
  Session out = NewUser("mp");
  EXPECT_TRUE(IsHttpError(Get("/v1/conversations/" + g + "/members", out.access_token), 403, "forbidden"));
  EXPECT_TRUE(IsHttpError(Get("/v1/conversations/999999999/members", a.access_token), 404, "not_found"));
}

TEST_F(HttpApiTest, LargeGroupInlinesFirst100MembersAndPagesByDefault100) {
  Session a = NewUser("big");
  std::vector<std::string> names;
  for (int i = 0; i < 101; ++i) names.push_back(NewUser("big").username);
  ASSERT_FALSE(HasFailure());
  auto r = Post("/v1/conversations",
                {{"kind", "group"}, {"title", "big"}, {"members", json::value_from(names)}}, a.access_token);
  ASSERT_EQ(r.status, 201) << r.Describe();
  EXPECT_EQ(GetInt(r.json, "member_count"), 102);
  EXPECT_EQ(r.Object().at("members").as_array().size(), 100u);
  std::string g = GetString(r.json, "id");
  auto page = Get("/v1/conversations/" + g + "/members", a.access_token);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.Object().at("members").as_array().size(), 100u);
  EXPECT_FALSE(page.Object().at("next").is_null());
  auto all = Get("/v1/conversations/" + g + "/members?limit=5000", a.access_token);
  ASSERT_EQ(all.status, 200) << all.Describe();
  EXPECT_EQ(all.Object().at("members").as_array().size(), 102u);
  EXPECT_TRUE(all.Object().at("next").is_null());
  // A group of exactly 100 inlines all of them.
  auto hundred =
      Post("/v1/conversations",
           {{"kind", "group"},
            {"title", "h"},
            {"members", json::value_from(std::vector<std::string>(names.begin(), names.begin() + 99))}},
           a.access_token);
  ASSERT_EQ(hundred.status, 201);
  EXPECT_EQ(GetInt(hundred.json, "member_count"), 100);
  EXPECT_EQ(hundred.Object().at("members").as_array().size(), 100u);
}

// ---- access rules ----

TEST_F(HttpApiTest, OnlyMembersReadHistory403AndUnknown404) {
  Session a = NewUser("ac");
  Session b = NewUser("ac");
  Session out = NewUser("ac");
  std::string g = CreateGroup(a, "t", {b.username});
  EXPECT_EQ(Get("/v1/conversations/" + g + "/messages", b.access_token).status, 200);
  EXPECT_TRUE(IsHttpError(Get("/v1/conversations/" + g + "/messages", out.access_token), 403, "forbidden"));
  EXPECT_TRUE(IsHttpError(Get("/v1/conversations/987654321/messages", a.access_token), 404, "not_found"));
  EXPECT_TRUE(
      IsHttpError(Post("/v1/conversations/987654321/members", {{"username", b.username}}, a.access_token),
                  404, "not_found"));
  EXPECT_TRUE(IsHttpError(Delete("/v1/conversations/987654321/members/" + b.username, a.access_token), 404,
                          "not_found"));
}

TEST_F(HttpApiTest, UnknownRouteHasErrorShape) {
  Session a = NewUser("nr");
  auto r = Get("/v1/no-such-thing", a.access_token);
  EXPECT_EQ(r.status, 404) << r.Describe();
  EXPECT_TRUE(IsHttpError(r, 404, "not_found"));
}

// ---- health and metrics ----

TEST_F(HttpApiTest, HealthzAndReadyz) {
  EXPECT_EQ(http().Get("/healthz").status, 200);
  EXPECT_EQ(http().Get("/readyz").status, 200);
}

TEST_F(HttpApiTest, MetricsIsPrometheusText) {
  NewUser("mt");
  auto r = http().Get("/metrics");
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_NE(r.Header("content-type").find("text/plain"), std::string::npos) << r.Header("content-type");
  EXPECT_NE(r.body.find("# TYPE "), std::string::npos) << r.body.substr(0, 500);
  // Every non-comment line is "name{labels} value".
  std::istringstream lines(r.body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    auto space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    std::string value = line.substr(space + 1);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    bool special = value == "+Inf" || value == "-Inf" || value == "NaN";
    EXPECT_TRUE(special || (end && *end == '\0')) << line;
    EXPECT_TRUE(std::isalpha(static_cast<unsigned char>(line[0])) || line[0] == '_') << line;
  }
  EXPECT_GT(samples, 0);
}

// The value of parley_errors_total{code="<code>"} in /metrics; 0 when the
// series is not there yet.
double ErrorsCounted(client::HttpClient& http, const std::string& code) {
  auto r = http.Get("/metrics");
  const std::string series = "parley_errors_total{code=\"" + code + "\"} ";
  auto at = r.body.find(series);
  if (at == std::string::npos) return 0;
  return std::strtod(r.body.c_str() + at + series.size(), nullptr);
}

TEST_F(HttpApiTest, HttpErrorsAreCountedByCode) {
  Session a = NewUser("ec");
  std::map<std::string, double> before;
  for (const char* code : {"not_found", "unauthorized", "bad_request", "conflict"}) {
    before[code] = ErrorsCounted(http(), code);
  }
  EXPECT_EQ(Get("/v1/no-such-thing", a.access_token).status, 404);
  EXPECT_EQ(Get("/v1/users/nobody-here", a.access_token).status, 404);
  EXPECT_EQ(Get("/v1/me", "not-a-token").status, 401);
  EXPECT_EQ(http().Request("POST", "/v1/auth/register", std::string("{nope")).status, 400);
  EXPECT_EQ(
      http().Request("POST", "/v1/auth/register", protocol::RegisterBody(a.username, kPassword, "")).status,
      409);
  EXPECT_EQ(ErrorsCounted(http(), "not_found") - before["not_found"], 2);
  EXPECT_EQ(ErrorsCounted(http(), "unauthorized") - before["unauthorized"], 1);
  EXPECT_EQ(ErrorsCounted(http(), "bad_request") - before["bad_request"], 1);
  EXPECT_EQ(ErrorsCounted(http(), "conflict") - before["conflict"], 1);
}

TEST_F(HttpApiTest, BuildInfoAndReadinessMetrics) {
  auto r = http().Get("/metrics");
  ASSERT_EQ(r.status, 200);
  // prometheus-cpp writes labels sorted by name.
  const std::string series =
      "parley_build_info{commit=\"" PARLEY_COMMIT "\",version=\"" PARLEY_VERSION "\"} 1\n";
  EXPECT_NE(r.body.find(series), std::string::npos) << "no " << series << "in\n" << r.body;
  // The embedded backends answer: ready, as /readyz says.
  EXPECT_EQ(http().Get("/readyz").status, 200);
  EXPECT_NE(r.body.find("\nparley_ready 1\n"), std::string::npos) << r.body;
}

// ---- history over HTTP ----

TEST_F(HttpHistoryTest, MessageShapeAndSenderReadSeq) {
  Session a = NewUser("hs");
  Session b = NewUser("hs");
  std::string g = CreateGroup(a, "t", {b.username});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  auto sent = SendMessage(*ws, g, "hello there", "cmid-shape");
  ASSERT_TRUE(FieldIs(sent, "type", "sent")) << Dump(sent);
  auto messages = History(a, g);
  ASSERT_EQ(messages.size(), 1u);
  const auto& m = messages[0].as_object();
  EXPECT_EQ(GetString(m, "conv"), g);
  EXPECT_EQ(GetInt(m, "seq"), 1);
  EXPECT_TRUE(m.contains("id") && m.at("id").is_string()) << Dump(m);
  EXPECT_EQ(GetString(m, "id"), GetString(sent, "id"));
  EXPECT_EQ(GetString(m, "sender"), a.user_id);
  EXPECT_EQ(GetString(m, "body"), "hello there");
  EXPECT_EQ(GetInt(m, "ts"), GetInt(sent, "ts"));
  EXPECT_EQ(GetString(m, "client_msg_id"), "cmid-shape");
  auto ts = GetInt(m, "ts").value_or(0);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  EXPECT_NEAR(static_cast<double>(ts), static_cast<double>(now), 60'000.0) << "ts is ms since the epoch";

  // Sender's read_seq follows its own message; the other member has it unread.
  auto mine = Get("/v1/conversations", a.access_token).Object().at("conversations").as_array().at(0);
  EXPECT_EQ(GetInt(mine, "last_seq"), 1);
  EXPECT_EQ(GetInt(mine, "read_seq"), 1);
  EXPECT_EQ(GetInt(mine, "unread"), 0);
  auto theirs = Get("/v1/conversations", b.access_token).Object().at("conversations").as_array().at(0);
  EXPECT_EQ(GetInt(theirs, "last_seq"), 1);
  EXPECT_EQ(GetInt(theirs, "read_seq"), 0);
  EXPECT_EQ(GetInt(theirs, "unread"), 1);
}

TEST_F(HttpHistoryTest, PagingRules) {
  Session a = NewUser("hp");
  std::string g = CreateGroup(a, "t", {});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  auto answers = SendMany(*ws, g, 60, "p");
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(Seqs(History(a, g)), Range(11, 60)) << "default: the newest 50";
  EXPECT_EQ(Seqs(History(a, g, "limit=5")), Range(56, 60));
  EXPECT_EQ(Seqs(History(a, g, "before=20&limit=5")), Range(15, 19));
  EXPECT_EQ(Seqs(History(a, g, "before=3")), Range(1, 2));
  EXPECT_EQ(Seqs(History(a, g, "after=55")), Range(56, 60));
  EXPECT_EQ(Seqs(History(a, g, "after=10&limit=3")), Range(11, 13));
  EXPECT_EQ(Seqs(History(a, g, "after=0")), Range(1, 50));
  EXPECT_EQ(Seqs(History(a, g, "after=10&before=14")), Range(11, 13));
  EXPECT_EQ(Seqs(History(a, g, "after=10&before=40&limit=5")), Range(11, 15));
  EXPECT_TRUE(History(a, g, "after=60").empty());
  EXPECT_TRUE(History(a, g, "before=1").empty());
  auto all = History(a, g, "limit=500");
  EXPECT_EQ(Seqs(all), Range(1, 60));
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(GetString(all[i], "body"), "p " + std::to_string(i));
    EXPECT_EQ(GetString(all[i], "client_msg_id"), "p-" + std::to_string(i));
  }
}

TEST_F(HttpHistoryTest, LimitIsCappedAt500) {
  Session a = NewUser("hc");
  std::string g = CreateGroup(a, "t", {});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMany(*ws, g, 520, "c", 60s);
  ASSERT_FALSE(HasFailure());
  auto r = Get("/v1/conversations/" + g + "/messages?limit=100000", a.access_token);
  ASSERT_EQ(r.status, 200) << r.Describe().substr(0, 300);
  EXPECT_EQ(Seqs(r.Object().at("messages").as_array()), Range(21, 520));
  EXPECT_EQ(Seqs(History(a, g, "after=0&limit=501")), Range(1, 500));
}

TEST_F(HttpHistoryTest, NewMemberReadsOlderHistory) {
  Session a = NewUser("nm");
  Session c = NewUser("nm");
  std::string g = CreateGroup(a, "t", {});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMany(*ws, g, 3, "old");
  ASSERT_EQ(Post("/v1/conversations/" + g + "/members", {{"username", c.username}}, a.access_token).status,
            200);
  EXPECT_EQ(Seqs(History(c, g)), Range(1, 3));
  auto conv = Get("/v1/conversations", c.access_token).Object().at("conversations").as_array().at(0);
  EXPECT_EQ(GetInt(conv, "last_seq"), 3);
}

}  // namespace
}  // namespace parley::testing
