// Unit tests of parley_cli's pure parts: URLs, the config directory and
// file, conversation names, exit codes.
#include <sys/stat.h>

#include <filesystem>
#include <map>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "cli/config.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/resolve.h"
#include "cli/server_url.h"

namespace parley::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

TEST(ServerUrlTest, AcceptsHttpUrls) {
  std::string error;
  auto a = ParseServerUrl("http://127.0.0.1:8080", &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->canonical, "http://127.0.0.1:8080");
  auto b = ParseServerUrl("http://chat.example.com/", &error);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(b->port, 80);
  EXPECT_EQ(b->canonical, "http://chat.example.com:80");
  auto c = ParseServerUrl("localhost:9000", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->host, "localhost");
  EXPECT_EQ(c->port, 9000);
  auto d = ParseServerUrl("localhost", &error);
  ASSERT_TRUE(d) << error;
  EXPECT_EQ(d->port, 8080);
  auto e = ParseServerUrl("http://[::1]:8081", &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->canonical, "http://[::1]:8081");
}

TEST(ServerUrlTest, RejectsWhatItCannotUse) {
  for (const char* bad :
       {"", "https://x.example", "ftp://x", "http://", "http://x:0", "http://x:70000", "http://x:80/path",
        "http://x?q=1", "http://exa mple", "http://user@x", "http://x:abc"}) {
    std::string error;
    EXPECT_FALSE(ParseServerUrl(bad, &error)) << bad;
    EXPECT_NE(error.find("bad server URL"), std::string::npos) << bad << ": " << error;
  }
}

TEST(ConfigDirTest, Precedence) {
  std::map<std::string, std::string> vars;
  EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(ConfigDir(env), "");
  vars["HOME"] = "/home/a";
  EXPECT_EQ(ConfigDir(env), "/home/a/.config/parley");
  vars["XDG_CONFIG_HOME"] = "/xdg";
  EXPECT_EQ(ConfigDir(env), "/xdg/parley");
  vars["PARLEY_CONFIG_DIR"] = "";
  EXPECT_EQ(ConfigDir(env), "/xdg/parley");
  vars["PARLEY_CONFIG_DIR"] = "/p";
  EXPECT_EQ(ConfigDir(env), "/p");
}

TEST(ConfigFileTest, RoundTripWithPrivateMode) {
  std::string base = (fs::temp_directory_path() / "parley-cli-unit-XXXXXX").string();
  ASSERT_NE(mkdtemp(base.data()), nullptr);
  std::string dir = base + "/nested/parley";
  EXPECT_FALSE(LoadConfig(dir));
  Config c;
  c.server = "http://127.0.0.1:1234";
  c.username = "alice";
  c.user_id = "7";
  c.access_token = "aaa";
  c.refresh_token = "rrr";
  c.access_expires_at_ms = 42;
  SaveConfig(dir, c);
  struct stat st {};
  ASSERT_EQ(stat(ConfigPath(dir).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto loaded = LoadConfig(dir);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->server, c.server);
  EXPECT_EQ(loaded->username, "alice");
  EXPECT_EQ(loaded->user_id, "7");
  EXPECT_EQ(loaded->access_token, "aaa");
  EXPECT_EQ(loaded->refresh_token, "rrr");
  EXPECT_EQ(loaded->access_expires_at_ms, 42);
  EXPECT_TRUE(loaded->logged_in());
  { ConfigLock lock(dir); }
  EXPECT_TRUE(RemoveConfig(dir));
  EXPECT_FALSE(LoadConfig(dir));
  fs::remove_all(base);
}

json::array Convs() {
  return json::parse(R"([
    {"id":"1","kind":"group","title":"Project","members":[{"id":"10","username":"me"},{"id":"11","username":"bob"}]},
    {"id":"2","kind":"dm","title":null,"members":[{"id":"10","username":"me"},{"id":"11","username":"bob"}]},
    {"id":"3","kind":"group","title":"dup","members":[]},
    {"id":"4","kind":"group","title":"dup","members":[]},
    {"id":"5","kind":"group","title":"bob","members":[]},
    {"id":"6","kind":"dm","title":null,"members":[{"id":"10","username":"me"},{"id":"12","username":"carol"}]}
  ])")
      .as_array();
}

int ExitOf(const json::array& convs, const std::string& query) {
  try {
    ResolveConversation(convs, query, "10");
    return 0;
  } catch (const CliError& e) {
    return e.exit_code();
  }
}

TEST(ResolveTest, IdsTitlesAndPeers) {
  json::array convs = Convs();
  auto id = [&](const std::string& q) {
    return std::string(ResolveConversation(convs, q, "10").at("id").as_string());
  };
  EXPECT_EQ(id("1"), "1");
  EXPECT_EQ(id("Project"), "1");
  EXPECT_EQ(id("project"), "1");  // case-insensitive when nothing matches exactly
  EXPECT_EQ(id("carol"), "6");
  EXPECT_EQ(id("@carol"), "6");
  EXPECT_EQ(id("CAROL"), "6");
  EXPECT_EQ(id("@bob"), "2");
  EXPECT_EQ(ExitOf(convs, "bob"), kExitUsage);  // the group "bob" and the DM with bob
  EXPECT_EQ(ExitOf(convs, "dup"), kExitUsage);
  EXPECT_EQ(ExitOf(convs, "nothing"), kExitNotFound);
  EXPECT_EQ(ExitOf(convs, "99"), kExitNotFound);
  try {
    ResolveConversation(convs, "dup", "10");
  } catch (const CliError& e) {
    EXPECT_NE(std::string(e.what()).find("3 (group \"dup\")"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("4 (group \"dup\")"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ConversationName(convs[1].as_object(), "10"), "@bob");
  EXPECT_EQ(ConversationName(convs[0].as_object(), "10"), "Project");
}

TEST(ExitCodeTest, Mapping) {
  EXPECT_EQ(ExitCodeForStatus(0), kExitUnreachable);
  EXPECT_EQ(ExitCodeForStatus(401), kExitAuth);
  EXPECT_EQ(ExitCodeForStatus(403), kExitNotFound);
  EXPECT_EQ(ExitCodeForStatus(404), kExitNotFound);
  EXPECT_EQ(ExitCodeForStatus(429), kExitUnavailable);
  EXPECT_EQ(ExitCodeForStatus(503), kExitUnavailable);
  EXPECT_EQ(ExitCodeForStatus(409), kExitRejected);
  EXPECT_EQ(ExitCodeForStatus(413), kExitRejected);
  EXPECT_EQ(ExitCodeForWireCode("forbidden"), kExitNotFound);
  EXPECT_EQ(ExitCodeForWireCode("rate_limited"), kExitUnavailable);
  EXPECT_EQ(ExitCodeForWireCode("too_large"), kExitRejected);
}

TEST(FormatTest, MessageLines) {
  setenv("TZ", "UTC", 1);
  tzset();
  json::object m = json::parse(R"({"seq":7,"ts":0,"body":"hi\nthere","sender":"1"})").as_object();
  EXPECT_EQ(FormatMessage(m, "alice", true), "[1970-01-01 00:00:00] #7 alice: hi\n    there");
  EXPECT_EQ(FormatMessage(m, "alice", false), "[00:00] alice: hi\n    there");
}

}  // namespace
}  // namespace parley::cli
