// End-to-end tests of the `parley` command-line client: the real binary,
// run with pipes and a temporary PARLEY_CONFIG_DIR per user, against a real
// parleyd started by the integration fixture.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../integration/server_fixture.h"
#include "../integration/test_certs.h"
#include "cli_process.h"
#include "protocol/json.h"

#ifndef PARLEY_CLI_PATH
#error "PARLEY_CLI_PATH must name the parley binary"
#endif

namespace parley::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kWait = std::chrono::seconds(10);

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::string Show(const CliResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

class CliTest : public ServerTest {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "parley-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    home_ = pattern;
    ServerTest::SetUp();
  }
  void TearDown() override {
    ServerTest::TearDown();
    std::error_code ignored;
    if (!HasFailure()) fs::remove_all(home_, ignored);
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::string ConfigDir(const std::string& user) const { return home_ + "/" + user; }
  std::map<std::string, std::string> Env(const std::string& user) const {
    return {{"PARLEY_CONFIG_DIR", ConfigDir(user)}, {"TZ", "UTC"}};
  }

  CliResult Run(const std::string& user, const std::vector<std::string>& args,
                const std::string& stdin_text = "") {
    return RunCli(PARLEY_CLI_PATH, args, Env(user), stdin_text);
  }
  std::unique_ptr<CliProcess> Start(const std::string& user, const std::vector<std::string>& args) {
    return std::make_unique<CliProcess>(PARLEY_CLI_PATH, args, Env(user));
  }

  // Registers a fresh user through the CLI; returns the username (its config dir key).
  std::string Register(const std::string& prefix) {
    std::string name = UniqueName(prefix);
    CliResult r = Run(name, {"register", name, "--server", Url(), "--password-stdin"}, kPassword + "\n");
    EXPECT_EQ(r.exit_code, 0) << Show(r);
    return name;
  }

  // Creates a group through the CLI; returns its id.
  std::string Group(const std::string& owner, const std::string& title,
                    const std::vector<std::string>& members) {
    std::vector<std::string> args = {"group", "create", title};
    args.insert(args.end(), members.begin(), members.end());
    args.push_back("--json");
    CliResult r = Run(owner, args);
    EXPECT_EQ(r.exit_code, 0) << Show(r);
    auto obj = protocol::ParseObject(r.out);
    return obj ? protocol::GetString(*obj, "id") : "";
  }

  std::string home_;
};

TEST_F(CliTest, RegisterAndLoginKeepTokensPrivate) {
  std::string alice = Register("alice");
  std::string path = ConfigDir(alice) + "/config.json";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(ConfigDir(alice).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  auto config = protocol::ParseObject(Slurp(path));
  ASSERT_TRUE(config);
  std::string access = protocol::GetString(*config, "access_token");
  std::string refresh = protocol::GetString(*config, "refresh_token");
  ASSERT_FALSE(access.empty());
  ASSERT_FALSE(refresh.empty());

  CliResult login = Run(alice, {"login", alice, "--password-stdin"}, kPassword + "\n");
  EXPECT_EQ(login.exit_code, 0) << Show(login);
  EXPECT_THAT(login.out, HasSubstr("Logged in as " + alice));
  CliResult who = Run(alice, {"whoami"});
  EXPECT_EQ(who.exit_code, 0) << Show(who);
  EXPECT_THAT(who.out, HasSubstr(alice));
  CliResult who_json = Run(alice, {"whoami", "--json"});
  EXPECT_EQ(who_json.exit_code, 0) << Show(who_json);

  auto config2 = protocol::ParseObject(Slurp(path));
  ASSERT_TRUE(config2);
  for (const CliResult* r : {&login, &who, &who_json}) {
    for (const std::string& token : {access, refresh, protocol::GetString(*config2, "access_token"),
                                     protocol::GetString(*config2, "refresh_token")}) {
      EXPECT_THAT(r->out, Not(HasSubstr(token)));
      EXPECT_THAT(r->err, Not(HasSubstr(token)));
    }
  }

  CliResult wrong = Run(alice, {"login", alice, "--password-stdin"}, "not-the-password\n");
  EXPECT_EQ(wrong.exit_code, 3) << Show(wrong);
  EXPECT_THAT(wrong.err, HasSubstr("wrong username or password"));
  CliResult unknown =
      Run("nobody", {"login", "nobody_here", "--server", Url(), "--password-stdin"}, kPassword);
  EXPECT_EQ(unknown.exit_code, 3) << Show(unknown);

  CliResult taken = Run("other", {"register", alice, "--server", Url(), "--password-stdin"}, kPassword);
  EXPECT_EQ(taken.exit_code, 6) << Show(taken);
  EXPECT_THAT(taken.err, HasSubstr("taken"));

  CliResult no_password = Run("other", {"login", alice, "--server", Url()});
  EXPECT_EQ(no_password.exit_code, 1) << Show(no_password);

  CliResult logout = Run(alice, {"logout"});
  EXPECT_EQ(logout.exit_code, 0) << Show(logout);
  CliResult after = Run(alice, {"conversations"});
  EXPECT_EQ(after.exit_code, 3) << Show(after);
  EXPECT_THAT(after.err, HasSubstr("not logged in"));
}

TEST_F(CliTest, GroupsDmsAndConversationNames) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string carol = Register("carol");

  CliResult none = Run(alice, {"conversations"});
  EXPECT_EQ(none.exit_code, 0) << Show(none);
  EXPECT_THAT(none.out, HasSubstr("No conversations"));

  CliResult group = Run(alice, {"group", "create", "project x", bob, carol});
  EXPECT_EQ(group.exit_code, 0) << Show(group);
  EXPECT_THAT(group.out, HasSubstr("Created group \"project x\""));
  EXPECT_THAT(group.out, HasSubstr(carol));

  CliResult dm = Run(alice, {"dm", bob});
  EXPECT_EQ(dm.exit_code, 0) << Show(dm);
  EXPECT_THAT(dm.out, HasSubstr("@" + bob));
  CliResult dm_json = Run(bob, {"dm", alice, "--json"});
  EXPECT_EQ(dm_json.exit_code, 0) << Show(dm_json);
  auto dm_obj = protocol::ParseObject(dm_json.out);
  ASSERT_TRUE(dm_obj) << dm_json.out;
  EXPECT_EQ(protocol::GetString(*dm_obj, "kind"), "dm");

  CliResult list = Run(alice, {"conversations"});
  EXPECT_EQ(list.exit_code, 0) << Show(list);
  EXPECT_THAT(list.out, HasSubstr("project x"));
  EXPECT_THAT(list.out, HasSubstr("@" + bob));
  CliResult list_json = Run(bob, {"conversations", "--json"});
  EXPECT_EQ(list_json.exit_code, 0) << Show(list_json);
  auto lines = Lines(list_json.out);
  ASSERT_EQ(lines.size(), 2u) << list_json.out;
  for (const auto& line : lines) EXPECT_TRUE(protocol::ParseObject(line)) << line;

  // Names: a group title, a DM peer (with or without '@'), an id.
  EXPECT_EQ(Run(alice, {"send", "project x", "by title"}).exit_code, 0);
  EXPECT_EQ(Run(alice, {"send", bob, "by peer"}).exit_code, 0);
  EXPECT_EQ(Run(bob, {"send", "@" + alice, "by @peer"}).exit_code, 0);
  EXPECT_EQ(Run(alice, {"send", protocol::GetString(*dm_obj, "id"), "by id"}).exit_code, 0);
  CliResult dm_history = Run(bob, {"history", alice});
  EXPECT_EQ(dm_history.exit_code, 0) << Show(dm_history);
  EXPECT_THAT(dm_history.out, HasSubstr("by peer"));
  EXPECT_THAT(dm_history.out, HasSubstr("by @peer"));
  EXPECT_THAT(dm_history.out, HasSubstr("by id"));

  // Two groups with one title: ambiguous, the error lists both ids.
  std::string g1 = Group(alice, "dup", {bob});
  std::string g2 = Group(alice, "dup", {carol});
  CliResult ambiguous = Run(alice, {"history", "dup"});
  EXPECT_EQ(ambiguous.exit_code, 1) << Show(ambiguous);
  EXPECT_THAT(ambiguous.err, HasSubstr(g1));
  EXPECT_THAT(ambiguous.err, HasSubstr(g2));
  CliResult missing = Run(alice, {"history", "no such group"});
  EXPECT_EQ(missing.exit_code, 4) << Show(missing);

  CliResult unknown_user = Run(alice, {"group", "create", "ghosts", "no_such_user_x"});
  EXPECT_EQ(unknown_user.exit_code, 4) << Show(unknown_user);
  CliResult unknown_dm = Run(alice, {"dm", "no_such_user_x"});
  EXPECT_EQ(unknown_dm.exit_code, 4) << Show(unknown_dm);
}

TEST_F(CliTest, SendAndHistory) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  for (int i = 1; i <= 4; ++i) {
    CliResult r = Run(alice, {"send", "proj", "message", std::to_string(i)});
    ASSERT_EQ(r.exit_code, 0) << Show(r);
    EXPECT_EQ(r.out, std::to_string(i) + "\n");
  }
  CliResult piped = Run(bob, {"send", "proj"}, "line one\nline two\n");
  ASSERT_EQ(piped.exit_code, 0) << Show(piped);
  EXPECT_EQ(piped.out, "5\n");
  CliResult json_send = Run(bob, {"send", "proj", "-", "--json"}, "six");
  ASSERT_EQ(json_send.exit_code, 0) << Show(json_send);
  auto sent = protocol::ParseObject(json_send.out);
  ASSERT_TRUE(sent) << json_send.out;
  EXPECT_EQ(protocol::GetInt(*sent, "seq"), 6);
  CliResult empty = Run(bob, {"send", "proj"}, "");
  EXPECT_EQ(empty.exit_code, 1) << Show(empty);

  CliResult all = Run(bob, {"history", "proj"});
  ASSERT_EQ(all.exit_code, 0) << Show(all);
  auto lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 7u) << all.out;  // "line two" is indented on its own line
  EXPECT_THAT(lines[0], HasSubstr("#1 " + alice + ": message 1"));
  EXPECT_THAT(lines[3], HasSubstr("#4 " + alice + ": message 4"));
  EXPECT_THAT(lines[4], HasSubstr("#5 " + bob + ": line one"));
  EXPECT_THAT(lines[5], HasSubstr("line two"));
  EXPECT_THAT(lines[6], HasSubstr("#6 " + bob + ": six"));

  CliResult page = Run(alice, {"history", "proj", "--before", "4", "--limit", "2", "--json"});
  ASSERT_EQ(page.exit_code, 0) << Show(page);
  auto page_lines = Lines(page.out);
  ASSERT_EQ(page_lines.size(), 2u) << page.out;
  auto first = protocol::ParseObject(page_lines[0]);
  auto second = protocol::ParseObject(page_lines[1]);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(protocol::GetInt(*first, "seq"), 2);
  EXPECT_EQ(protocol::GetInt(*second, "seq"), 3);
  EXPECT_EQ(protocol::GetString(*first, "body"), "message 2");
  EXPECT_EQ(protocol::GetString(*first, "sender_username"), alice);

  CliResult newest = Run(alice, {"history", "proj", "--limit", "1"});
  ASSERT_EQ(newest.exit_code, 0) << Show(newest);
  EXPECT_THAT(newest.out, HasSubstr("#6 "));
  EXPECT_EQ(Run(alice, {"history", "proj", "--limit", "0"}).exit_code, 1);
}

TEST_F(CliTest, SearchFindsMessagesNewestFirst) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string mallory = Register("mallory");
  std::string proj = Group(alice, "proj", {bob});
  Group(bob, "side", {});
  for (const auto& [conv, text] : std::vector<std::pair<std::string, std::string>>{
           {"proj", "the deploy is green"}, {"proj", "lunch?"}, {"proj", "Deploying again"}}) {
    ASSERT_EQ(Run(alice, {"send", conv, text}).exit_code, 0);
  }
  ASSERT_EQ(Run(bob, {"send", "side", "deploy notes"}).exit_code, 0);

  CliResult words = Run(bob, {"search", "deploy"});
  ASSERT_EQ(words.exit_code, 0) << Show(words);
  auto lines = Lines(words.out);
  ASSERT_EQ(lines.size(), 2u) << words.out;
  EXPECT_THAT(lines[0], HasSubstr("side"));
  EXPECT_THAT(lines[0], HasSubstr(bob + ": deploy notes"));
  EXPECT_THAT(lines[1], HasSubstr("proj"));
  EXPECT_THAT(lines[1], HasSubstr("#1 " + alice + ": the deploy is green"));

  CliResult prefix = Run(bob, {"search", "DEPLOY*", "--conv", "proj", "--json"});
  ASSERT_EQ(prefix.exit_code, 0) << Show(prefix);
  auto json_lines = Lines(prefix.out);
  ASSERT_EQ(json_lines.size(), 2u) << prefix.out;
  auto newest = protocol::ParseObject(json_lines[0]);
  ASSERT_TRUE(newest) << json_lines[0];
  EXPECT_EQ(protocol::GetInt(*newest, "seq"), 3);
  EXPECT_EQ(protocol::GetString(*newest, "conv"), proj);
  EXPECT_EQ(protocol::GetString(*newest, "body"), "Deploying again");
  EXPECT_EQ(protocol::GetString(*newest, "sender_username"), alice);

  CliResult phrase = Run(bob, {"search", "\"deploy is\""});
  ASSERT_EQ(phrase.exit_code, 0) << Show(phrase);
  EXPECT_EQ(Lines(phrase.out).size(), 1u) << phrase.out;
  CliResult none = Run(bob, {"search", "nothing", "here"});
  ASSERT_EQ(none.exit_code, 0) << Show(none);
  EXPECT_EQ(none.out, "(nothing found)\n");

  // A malformed query is the server's 400; another's conversation its 403.
  CliResult unclosed = Run(bob, {"search", "\"open"});
  EXPECT_EQ(unclosed.exit_code, 6) << Show(unclosed);
  EXPECT_THAT(unclosed.err, HasSubstr("not closed"));
  EXPECT_EQ(Run(mallory, {"search", "deploy", "--conv", proj}).exit_code, 4);
  EXPECT_EQ(Run(bob, {"search", "deploy", "--limit", "101"}).exit_code, 1);
  EXPECT_EQ(Run(mallory, {"search", "deploy"}).out, "(nothing found)\n");
}

TEST_F(CliTest, TailJsonSeesAnotherUsersMessage) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  auto tail = Start(bob, {"tail", "--json"});
  ASSERT_TRUE(tail->WaitForErr("tailing", kWait)) << tail->err();
  CliResult sent = Run(alice, {"send", "proj", "hello tail"});
  ASSERT_EQ(sent.exit_code, 0) << Show(sent);
  ASSERT_TRUE(tail->WaitForOut("hello tail", kWait)) << tail->out() << tail->err();
  std::optional<json::object> event;
  for (const auto& line : Lines(tail->out())) {
    auto obj = protocol::ParseObject(line);
    ASSERT_TRUE(obj) << "not a JSON line: " << line;
    if (protocol::GetString(*obj, "type") == "message") event = obj;
  }
  ASSERT_TRUE(event) << tail->out();
  EXPECT_EQ(protocol::GetString(*event, "body"), "hello tail");
  EXPECT_EQ(protocol::GetString(*event, "sender_username"), alice);
  EXPECT_EQ(protocol::GetInt(*event, "seq"), 1);
  tail->Signal(SIGTERM);
  tail->Wait(kWait);

  // Human output of one conversation.
  auto human = Start(bob, {"tail", "proj"});
  ASSERT_TRUE(human->WaitForErr("tailing", kWait)) << human->err();
  ASSERT_EQ(Run(alice, {"send", "proj", "second"}).exit_code, 0);
  ASSERT_TRUE(human->WaitForOut(alice + ": second", kWait)) << human->out() << human->err();
}

TEST_F(CliTest, ChatBothWaysThroughPipes) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  ASSERT_EQ(Run(alice, {"send", "proj", "before the chat"}).exit_code, 0);

  auto a = Start(alice, {"chat", "proj"});
  auto b = Start(bob, {"chat", "proj"});
  ASSERT_TRUE(a->WaitForErr("connected", kWait)) << a->err();
  ASSERT_TRUE(b->WaitForErr("connected", kWait)) << b->err();
  EXPECT_THAT(b->out(), HasSubstr(alice + ": before the chat"));  // recent history

  ASSERT_TRUE(a->Write("hel"));
  EXPECT_TRUE(b->WaitForOut(alice + " is typing", kWait)) << b->out() << b->err();
  ASSERT_TRUE(a->Write("lo bob\n"));
  EXPECT_TRUE(b->WaitForOut(alice + ": hello bob", kWait)) << b->out() << b->err();
  ASSERT_TRUE(b->Write("hi alice\n"));
  EXPECT_TRUE(a->WaitForOut(bob + ": hi alice", kWait)) << a->out() << a->err();
  EXPECT_TRUE(a->WaitForOut(alice + ": hello bob", kWait)) << a->out();  // own, in seq order

  // A last line right before EOF is still sent before the chat exits.
  ASSERT_TRUE(a->Write("bye\n"));
  a->CloseStdin();
  EXPECT_EQ(a->Wait(kWait), 0) << a->out() << a->err();
  EXPECT_TRUE(b->WaitForOut(alice + ": bye", kWait)) << b->out();
  b->CloseStdin();
  EXPECT_EQ(b->Wait(kWait), 0) << b->err();

  CliResult history = Run(bob, {"history", "proj", "--json"});
  ASSERT_EQ(history.exit_code, 0) << Show(history);
  EXPECT_EQ(Lines(history.out).size(), 4u) << history.out;  // each line stored once
}

TEST_F(CliTest, GroupMembershipCommandsAndReadMarkers) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string carol = Register("carol");
  Group(alice, "crew", {bob});

  CliResult added = Run(alice, {"group", "add", "crew", carol});
  EXPECT_EQ(added.exit_code, 0) << Show(added);
  EXPECT_THAT(added.out, HasSubstr("Added " + carol + " to crew (3 members)"));
  CliResult members = Run(carol, {"group", "members", "crew"});
  EXPECT_EQ(members.exit_code, 0) << Show(members);
  EXPECT_EQ(members.out, alice + "  owner\n" + bob + "\n" + carol + "  (you)\n");
  CliResult members_json = Run(bob, {"group", "members", "crew", "--json"});
  ASSERT_EQ(Lines(members_json.out).size(), 3u) << Show(members_json);
  EXPECT_EQ(protocol::GetString(*protocol::ParseObject(Lines(members_json.out)[0]), "role"), "owner");

  // Only the owner and admins remove; a DM's members never change.
  CliResult not_allowed = Run(bob, {"group", "remove", "crew", carol});
  EXPECT_EQ(not_allowed.exit_code, 4) << Show(not_allowed);
  EXPECT_THAT(not_allowed.err, HasSubstr("only the owner and admins"));
  CliResult removed = Run(alice, {"group", "remove", "crew", carol});
  EXPECT_EQ(removed.exit_code, 0) << Show(removed);
  EXPECT_THAT(removed.out, HasSubstr("Removed " + carol + " from crew"));
  CliResult gone = Run(carol, {"history", "crew"});
  EXPECT_EQ(gone.exit_code, 4) << Show(gone);
  CliResult self = Run(alice, {"group", "remove", "crew", alice});
  EXPECT_EQ(self.exit_code, 1) << Show(self);
  EXPECT_THAT(self.err, HasSubstr("parley group leave"));
  CliResult bad_name = Run(alice, {"group", "remove", "crew", "../x"});
  EXPECT_EQ(bad_name.exit_code, 1) << Show(bad_name);
  EXPECT_THAT(bad_name.err, HasSubstr("not a username"));
  ASSERT_EQ(Run(alice, {"dm", bob}).exit_code, 0);
  CliResult dm_add = Run(alice, {"group", "add", bob, carol});
  EXPECT_EQ(dm_add.exit_code, 6) << Show(dm_add);

  // read: the unread count goes to 0, and only up to what exists.
  ASSERT_EQ(Run(alice, {"send", "crew", "one"}).exit_code, 0);
  ASSERT_EQ(Run(alice, {"send", "crew", "two"}).exit_code, 0);
  auto unread = [&](const std::string& user) {
    CliResult list = Run(user, {"conversations", "--json"});
    for (const auto& line : Lines(list.out)) {
      auto obj = protocol::ParseObject(line);
      if (obj && protocol::GetString(*obj, "title") == "crew")
        return protocol::GetInt(*obj, "unread").value_or(-1);
    }
    return int64_t{-1};
  };
  EXPECT_EQ(unread(bob), 2);
  CliResult read = Run(bob, {"read", "crew"});
  EXPECT_EQ(read.exit_code, 0) << Show(read);
  EXPECT_THAT(read.out, HasSubstr("Marked crew read up to #2 (2 unread)"));
  EXPECT_EQ(unread(bob), 0);
  CliResult again = Run(bob, {"read", "crew"});
  EXPECT_THAT(again.out, HasSubstr("Nothing new in crew")) << Show(again);
  CliResult outsider = Run(carol, {"read", "crew"});
  EXPECT_EQ(outsider.exit_code, 4) << Show(outsider);

  CliResult left = Run(bob, {"group", "leave", "crew"});
  EXPECT_EQ(left.exit_code, 0) << Show(left);
  EXPECT_THAT(left.out, HasSubstr("You left crew"));
  CliResult after = Run(alice, {"group", "members", "crew"});
  EXPECT_EQ(after.out, alice + "  owner  (you)\n") << Show(after);
}

// `parley chat` at a terminal: libedit's editing and history, and the
// chat's commands.
TEST_F(CliTest, ChatAtATerminalEditsRecallsAndTakesCommands) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  std::map<std::string, std::string> env = Env(bob);
  env["TERM"] = "xterm";
  env["LC_ALL"] = "C.UTF-8";
  CliProcess chat(PARLEY_CLI_PATH, {"chat", "proj"}, env, CliProcess::Io::kTerminal);
  ASSERT_TRUE(chat.WaitForOut("connected to proj", kWait)) << chat.out() << chat.err();
  auto history = [&] { return Run(alice, {"history", "proj"}).out; };
  auto wait_history = [&](const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (history().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };

  // Typed with a correction in the middle (Left, insert), sent with Enter.
  ASSERT_TRUE(chat.Write("helo\x1b[D\x1b[Dl\r"));
  ASSERT_TRUE(wait_history("#1 " + bob + ": hello")) << history() << chat.out();
  // Up recalls it; End and more text change it before it is sent again.
  ASSERT_TRUE(chat.Write("\x1b[A\x1b[F again\r"));
  ASSERT_TRUE(wait_history("#2 " + bob + ": hello again")) << history() << chat.out();
  ASSERT_TRUE(chat.Write("//slash\r"));
  ASSERT_TRUE(wait_history("#3 " + bob + ": /slash")) << history() << chat.out();

  ASSERT_TRUE(chat.Write("/members\r"));
  EXPECT_TRUE(chat.WaitForOut("* 2 in proj: " + alice + " (owner), " + bob, kWait)) << chat.out();
  ASSERT_TRUE(chat.Write("/help\r"));
  EXPECT_TRUE(chat.WaitForOut("/leave    leave this group", kWait)) << chat.out();
  ASSERT_TRUE(chat.Write("/frobnicate\r"));
  EXPECT_TRUE(chat.WaitForOut("unknown command /frobnicate", kWait)) << chat.out();
  ASSERT_EQ(Run(alice, {"send", "proj", "from alice"}).exit_code, 0);
  EXPECT_TRUE(chat.WaitForOut(alice + ": from alice", kWait)) << chat.out();

  ASSERT_TRUE(chat.Write("/leave\r"));
  EXPECT_EQ(chat.Wait(kWait), 0) << chat.out() << chat.err();
  EXPECT_THAT(chat.out(), HasSubstr("you left proj"));
  EXPECT_EQ(Run(alice, {"group", "members", "proj"}).out, alice + "  owner  (you)\n");
  // Nothing but the three lines was sent: commands are not messages.
  EXPECT_EQ(Lines(history()).size(), 4u) << history();
}

// The text entries of `history --json`, by seq.
std::map<int64_t, json::object> JsonEntries(const std::string& out) {
  std::map<int64_t, json::object> entries;
  for (const auto& line : Lines(out)) {
    auto obj = protocol::ParseObject(line);
    if (obj) entries[protocol::GetInt(*obj, "seq").value_or(0)] = *obj;
  }
  return entries;
}

const std::string kThumbs = "\U0001F44D";
const std::string kHeart = "\u2764";

TEST_F(CliTest, EditDeleteReactAndReplyShowInHistory) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  auto expect_seq = [&](const std::string& user, const std::vector<std::string>& args, int64_t seq) {
    CliResult r = Run(user, args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << "\n" << Show(r);
    EXPECT_EQ(r.out, std::to_string(seq) + "\n") << args[0];
  };
  expect_seq(alice, {"send", "proj", "hello @" + bob + " these are the first words of a long message"}, 1);
  expect_seq(bob, {"send", "proj", "--reply-to", "1", "a", "reply"}, 2);
  expect_seq(alice, {"edit", "proj", "1", "hello @" + bob + " edited"}, 3);
  expect_seq(bob, {"react", "proj", "1", kThumbs}, 4);
  expect_seq(alice, {"react", "proj", "1", kThumbs}, 5);
  expect_seq(alice, {"react", "proj", "1", kHeart}, 6);
  expect_seq(alice, {"react", "proj", "1", kHeart, "--remove"}, 7);
  expect_seq(bob, {"send", "proj", "to be deleted"}, 8);
  expect_seq(bob, {"delete", "proj", "8"}, 9);
  expect_seq(alice, {"delete", "proj", "2"}, 10);  // the owner deletes bob's reply
  expect_seq(bob, {"send", "proj", "--reply-to", "1", "again"}, 11);
  CliResult json_edit = Run(alice, {"edit", "proj", "11", "not mine", "--json"});
  EXPECT_EQ(json_edit.exit_code, 4) << Show(json_edit);

  CliResult history = Run(alice, {"history", "proj"});
  ASSERT_EQ(history.exit_code, 0) << Show(history);
  auto lines = Lines(history.out);
  // #1 with its reactions, #2 and #8 deleted, #11 with its quote: change entries are folded in.
  ASSERT_EQ(lines.size(), 6u) << history.out;
  EXPECT_THAT(lines[0], HasSubstr("#1 " + alice + ": hello @" + bob + " edited (edited)"));
  EXPECT_EQ(lines[1], "    [" + kThumbs + " 2]") << history.out;  // alice's own, in brackets
  EXPECT_THAT(lines[2], HasSubstr("#2 " + bob + ": (message deleted)"));
  EXPECT_THAT(lines[3], HasSubstr("#8 " + bob + ": (message deleted)"));
  EXPECT_EQ(lines[4], "  \u21AA #1 " + alice + ": hello @" + bob + " edited");
  EXPECT_THAT(lines[5], HasSubstr("#11 " + bob + ": again"));
  CliResult bobs = Run(bob, {"history", "proj", "--limit", "4"});  // #1 is outside: fetched for the quote
  ASSERT_EQ(bobs.exit_code, 0) << Show(bobs);
  EXPECT_EQ(bobs.out.find("] #1 "), std::string::npos) << bobs.out;
  EXPECT_THAT(bobs.out, HasSubstr("\u21AA #1 " + alice + ": hello @" + bob + " edited\n"));

  CliResult as_json = Run(bob, {"history", "proj", "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << Show(as_json);
  auto entries = JsonEntries(as_json.out);
  ASSERT_EQ(entries.size(), 4u) << as_json.out;  // the text entries, folded
  const json::object& first = entries[1];
  EXPECT_EQ(protocol::GetString(first, "body"), "hello @" + bob + " edited");
  EXPECT_TRUE(first.at("edited_ts").is_int64());
  EXPECT_EQ(protocol::GetInt(first, "state_seq"), 7);
  ASSERT_EQ(first.at("reactions").as_array().size(), 1u) << as_json.out;
  const json::object& thumbs = first.at("reactions").as_array()[0].as_object();
  EXPECT_EQ(protocol::GetString(thumbs, "emoji"), kThumbs);
  EXPECT_EQ(protocol::GetInt(thumbs, "count"), 2);
  EXPECT_TRUE(thumbs.at("me").as_bool());  // bob's too
  ASSERT_EQ(first.at("mentions").as_array().size(), 1u);
  CliResult who = Run(bob, {"whoami", "--json"});
  EXPECT_EQ(first.at("mentions").as_array()[0], protocol::ParseObject(who.out)->at("id"));
  EXPECT_TRUE(entries[8].at("deleted").as_bool());
  EXPECT_EQ(protocol::GetString(entries[8], "body"), "");
  EXPECT_EQ(protocol::GetInt(entries[11], "reply_to"), 1);
  EXPECT_EQ(protocol::GetString(entries[11], "sender_username"), bob);

  CliResult react_json = Run(bob, {"react", "proj", "11", kHeart, "--json"});
  ASSERT_EQ(react_json.exit_code, 0) << Show(react_json);
  auto sent = protocol::ParseObject(react_json.out);
  ASSERT_TRUE(sent) << react_json.out;
  EXPECT_EQ(protocol::GetInt(*sent, "seq"), 12);
  EXPECT_THAT(protocol::GetString(*sent, "client_msg_id"), HasSubstr("cli-"));
}

TEST_F(CliTest, EveryRefusalOfAChangeHasAClearErrorAndStoresNothing) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  Group(alice, "other", {bob});
  ASSERT_EQ(Run(alice, {"send", "proj", "alice's"}).exit_code, 0);      // 1
  ASSERT_EQ(Run(bob, {"send", "proj", "bob's"}).exit_code, 0);          // 2
  ASSERT_EQ(Run(alice, {"react", "proj", "1", kThumbs}).exit_code, 0);  // 3
  ASSERT_EQ(Run(alice, {"send", "proj", "deleted"}).exit_code, 0);      // 4
  ASSERT_EQ(Run(alice, {"delete", "proj", "4"}).exit_code, 0);          // 5
  ASSERT_EQ(Run(alice, {"send", "other", "elsewhere"}).exit_code, 0);   // other #1
  for (int i = 0; i < 19; ++i) {                                        // alice holds 20 distinct emoji on #2
    ASSERT_EQ(Run(alice, {"react", "proj", "2", "e" + std::to_string(i)}).exit_code, 0) << i;
  }
  ASSERT_EQ(Run(alice, {"react", "proj", "2", kThumbs}).exit_code, 0);                         // 25
  ASSERT_EQ(Run(alice, {"delete", "proj", "4"}).exit_code, 0) << "deleting again is allowed";  // 26

  struct Case {
    std::string user;
    std::vector<std::string> args;
    int exit_code;
    std::string error;
  };
  const std::vector<Case> cases = {
      {bob, {"edit", "proj", "1", "mine now"}, 4, "edit failed: only its sender may edit seq 1 (forbidden)"},
      {bob, {"delete", "proj", "1"}, 4, "delete failed: only its sender, the owner and admins"},
      {alice, {"edit", "proj", "4", "revived"}, 6, "seq 4 is deleted and cannot be edited (bad_request)"},
      {bob, {"react", "proj", "4", kThumbs}, 6, "react failed: seq 4 is deleted: no reactions (bad_request)"},
      {alice, {"edit", "proj", "3", "a reaction"}, 4, "seq 3 is not a text entry of conversation"},
      {alice, {"react", "proj", "5", kThumbs}, 4, "(not_found)"},
      {alice, {"edit", "proj", "99", "nothing there"}, 4, "edit failed: seq 99 is not a text entry"},
      {bob, {"send", "proj", "--reply-to", "3", "to a change"}, 4, "send failed: seq 3 is not a text entry"},
      {alice,
       {"react", "proj", "2", "one too many"},
       6,
       "at most 20 distinct emoji on one message (bad_request)"},
      {bob, {"react", "proj", "2", std::string(33, 'x')}, 6, "react failed: emoji must be 1 to 32 bytes"},
      {alice,
       {"edit", "proj", "1", std::string(4097, 'y')},
       6,
       "edit failed: body is over 4096 bytes (too_large)"},
      {alice, {"edit", "proj", "0", "x"}, 1, "SEQ must be a message's seq"},
      {alice, {"send", "proj", "--reply-to", "-1", "x"}, 1, "--reply-to must be a message's seq"},
      {alice, {"react", "proj", "1", ""}, 1, "EMOJI must not be empty"},
      {alice, {"edit", "proj", "1"}, 1, "nothing to edit: the message is empty"},
      {alice, {"delete", "proj"}, 1, ""},
  };
  for (const Case& c : cases) {
    CliResult r = Run(c.user, c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args[0] << " " << c.args[2] << "\n" << Show(r);
    EXPECT_THAT(r.err, HasSubstr(c.error)) << c.args[0] << " " << c.args[2];
    EXPECT_EQ(r.out, "") << c.args[0] << " " << c.args[2];
  }

  // Nothing was stored: the next entry takes seq 27, and the other
  // conversation's #1 is untouched.
  CliResult next = Run(alice, {"send", "proj", "still here"});
  EXPECT_EQ(next.out, "27\n") << Show(next);
  CliResult other = Run(bob, {"history", "other"});
  EXPECT_THAT(other.out, HasSubstr("#1 " + alice + ": elsewhere\n")) << Show(other);
  CliResult first = Run(bob, {"history", "proj", "--json"});
  auto entries = JsonEntries(first.out);
  EXPECT_EQ(protocol::GetString(entries[1], "body"), "alice's");
  EXPECT_TRUE(entries[1].at("edited_ts").is_null());
}

TEST_F(CliTest, ChatShowsChangesAsTheyHappen) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  ASSERT_EQ(Run(alice, {"send", "proj", "first"}).exit_code, 0);       // 1
  ASSERT_EQ(Run(alice, {"send", "proj", "second"}).exit_code, 0);      // 2
  ASSERT_EQ(Run(alice, {"react", "proj", "1", kHeart}).exit_code, 0);  // 3
  auto b = Start(bob, {"chat", "proj", "--history", "2"});  // #2 and #3: #1 only through the change
  ASSERT_TRUE(b->WaitForErr("connected", kWait)) << b->err();
  EXPECT_THAT(b->out(), HasSubstr("#2 " + alice + ": second"));
  EXPECT_THAT(b->out(), Not(HasSubstr("first"))) << b->out();

  ASSERT_EQ(Run(alice, {"edit", "proj", "2", "second, fixed"}).exit_code, 0);  // 4
  EXPECT_TRUE(b->WaitForOut(alice + " edited #2: second, fixed", kWait)) << b->out();
  ASSERT_EQ(Run(bob, {"react", "proj", "1", kThumbs}).exit_code, 0);  // 5: #1 is not shown
  EXPECT_TRUE(
      b->WaitForOut(bob + " reacted " + kThumbs + " to #1: " + kHeart + " 1  [" + kThumbs + " 1]", kWait))
      << b->out();
  ASSERT_EQ(Run(alice, {"react", "proj", "1", kHeart, "--remove"}).exit_code, 0);  // 6
  EXPECT_TRUE(b->WaitForOut(alice + " took back " + kHeart + " from #1: [" + kThumbs + " 1]", kWait))
      << b->out();
  ASSERT_EQ(Run(alice, {"send", "proj", "--reply-to", "2", "see above"}).exit_code, 0);  // 7
  EXPECT_TRUE(b->WaitForOut("\u21AA #2 " + alice + ": second, fixed\n", kWait)) << b->out();
  EXPECT_TRUE(b->WaitForOut("#7 " + alice + ": see above", kWait)) << b->out();
  ASSERT_EQ(Run(alice, {"delete", "proj", "2"}).exit_code, 0);  // 8
  EXPECT_TRUE(b->WaitForOut(alice + " deleted #2 (\"second, fixed\")", kWait)) << b->out();
  b->CloseStdin();
  EXPECT_EQ(b->Wait(kWait), 0) << b->err();
}

TEST_F(CliTest, NotAMemberGetsExitCode4) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string mallory = Register("mallory");
  std::string id = Group(alice, "secret", {bob});
  ASSERT_FALSE(id.empty());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"send", id, "let me in"}, {"history", id}, {"chat", id}, {"tail", id}, {"send", "secret", "x"}}) {
    CliResult r = Run(mallory, args);
    EXPECT_EQ(r.exit_code, 4) << args[0] << " " << args[1] << "\n" << Show(r);
  }
  CliResult forbidden = Run(mallory, {"history", id});
  EXPECT_THAT(forbidden.err, HasSubstr("forbidden"));
  CliResult missing = Run(mallory, {"history", "987654321"});
  EXPECT_EQ(missing.exit_code, 4) << Show(missing);
}

TEST_F(CliTest, ServerDownAndBadUrlGetExitCode2) {
  std::string alice = Register("alice");
  server().Kill();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"conversations"}, {"send", "1", "hello"}, {"history", "1"}, {"tail"}}) {
    CliResult r = Run(alice, args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << "\n" << Show(r);
    EXPECT_THAT(r.err, HasSubstr("cannot reach the server"));
  }
  CliResult login = Run(alice, {"login", alice, "--password-stdin"}, kPassword);
  EXPECT_EQ(login.exit_code, 2) << Show(login);

  for (const char* url : {"http://exa mple.com", "http://127.0.0.1:99999", "ftp://127.0.0.1",
                          "http://127.0.0.1:8080/some/path", ""}) {
    CliResult r = Run("x", {"login", "alice", "--server", url, "--password-stdin"}, kPassword);
    EXPECT_EQ(r.exit_code, 2) << url << "\n" << Show(r);
    EXPECT_THAT(r.err, HasSubstr("bad server URL")) << url;
  }
  CliResult unresolvable =
      Run("x", {"login", "alice", "--server", "http://no-such-host.invalid", "--password-stdin"}, kPassword);
  EXPECT_EQ(unresolvable.exit_code, 2) << Show(unresolvable);
}

TEST_F(CliTest, UsageErrorsAndHelp) {
  CliResult none = RunCli(PARLEY_CLI_PATH, {}, Env("x"));
  EXPECT_EQ(none.exit_code, 1) << Show(none);
  CliResult help = RunCli(PARLEY_CLI_PATH, {"--help"}, Env("x"));
  EXPECT_EQ(help.exit_code, 0) << Show(help);
  EXPECT_THAT(help.out, HasSubstr("Exit codes"));
  EXPECT_EQ(RunCli(PARLEY_CLI_PATH, {"send"}, Env("x")).exit_code, 1);
  EXPECT_EQ(RunCli(PARLEY_CLI_PATH, {"frobnicate"}, Env("x")).exit_code, 1);
  EXPECT_EQ(RunCli(PARLEY_CLI_PATH, {"group"}, Env("x")).exit_code, 1);
  CliResult not_logged_in = RunCli(PARLEY_CLI_PATH, {"conversations"}, Env("x"));
  EXPECT_EQ(not_logged_in.exit_code, 3) << Show(not_logged_in);
}

// Access tokens that live one second: every command has to refresh, and the
// rotated refresh token must be saved each time.
class CliShortTokenTest : public CliTest {
 protected:
  std::vector<std::string> ExtraFlags() const override { return {"--auth.access_ttl_s", "1"}; }
};

TEST_F(CliShortTokenTest, RefreshesExpiredAccessTokenTransparently) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string path = ConfigDir(alice) + "/config.json";
  std::string refresh_before = protocol::GetString(*protocol::ParseObject(Slurp(path)), "refresh_token");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Group(alice, "proj", {bob});
  CliResult sent = Run(alice, {"send", "proj", "after refresh"});
  EXPECT_EQ(sent.exit_code, 0) << Show(sent);
  std::string refresh_after = protocol::GetString(*protocol::ParseObject(Slurp(path)), "refresh_token");
  EXPECT_NE(refresh_before, refresh_after);

  // A refresh token the server no longer knows: the login has expired.
  std::string config = Slurp(path);
  config.replace(config.find(refresh_after), refresh_after.size(), "bogus-refresh-token");
  std::ofstream(path) << config;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CliResult expired = Run(alice, {"conversations"});
  EXPECT_EQ(expired.exit_code, 3) << Show(expired);
  EXPECT_THAT(expired.err, HasSubstr("login"));
}

// A TLS parleyd: its certificate is self-signed (a private CA of its own),
// so the CLI trusts it only when given it with --cacert or PARLEY_CACERT.
class CliTlsTest : public CliTest {
 protected:
  void SetUp() override {
    cert_dir_ = fs::temp_directory_path() / ("parley-cli-tls-" + UniqueName("t"));
    fs::create_directories(cert_dir_);
    cert_ = MakeSelfSigned(cert_dir_, "server");
    CliTest::SetUp();
  }
  void TearDown() override {
    CliTest::TearDown();
    std::error_code ignored;
    fs::remove_all(cert_dir_, ignored);
  }
  std::vector<std::string> ExtraFlags() const override {
    return {"--tls-cert-file", cert_.cert, "--tls-key-file", cert_.key};
  }
  std::string HttpsUrl(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(server_->port());
  }

  fs::path cert_dir_;
  CertFiles cert_;
};

TEST_F(CliTlsTest, TrustsAPrivateCaOnlyWhenToldTo) {
  // Not in the system store: refused, saying why and what to do.
  std::string alice = UniqueName("alice");
  CliResult untrusted =
      Run(alice, {"register", alice, "--server", HttpsUrl(), "--password-stdin"}, kPassword + "\n");
  EXPECT_EQ(untrusted.exit_code, 2) << Show(untrusted);
  EXPECT_THAT(untrusted.err, HasSubstr("the server's certificate is not trusted (self-signed certificate)"));
  EXPECT_THAT(untrusted.err, HasSubstr("--cacert"));

  // The right CA but the wrong name: the certificate is for 127.0.0.1 only.
  CliResult wrong_name =
      Run(alice,
          {"register", alice, "--server", HttpsUrl("localhost"), "--cacert", cert_.cert, "--password-stdin"},
          kPassword + "\n");
  EXPECT_EQ(wrong_name.exit_code, 2) << Show(wrong_name);
  EXPECT_THAT(wrong_name.err, HasSubstr("mismatch"));

  CliResult missing_ca = Run(alice,
                             {"register", alice, "--server", HttpsUrl(), "--cacert",
                              (cert_dir_ / "nope.pem").string(), "--password-stdin"},
                             kPassword + "\n");
  EXPECT_EQ(missing_ca.exit_code, 1) << Show(missing_ca);
  EXPECT_THAT(missing_ca.err, HasSubstr("cannot read the CA file"));
  CliResult not_a_ca =
      Run(alice, {"register", alice, "--server", HttpsUrl(), "--cacert", cert_.key, "--password-stdin"},
          kPassword + "\n");
  EXPECT_EQ(not_a_ca.exit_code, 1) << Show(not_a_ca);
  EXPECT_THAT(not_a_ca.err, HasSubstr("holds no PEM certificate"));

  // Trusted with --cacert: the login keeps the CA, so later commands (HTTPS
  // and wss://) need nothing more.
  CliResult registered =
      Run(alice, {"register", alice, "--server", HttpsUrl(), "--cacert", cert_.cert, "--password-stdin"},
          kPassword + "\n");
  ASSERT_EQ(registered.exit_code, 0) << Show(registered);
  EXPECT_THAT(registered.out, HasSubstr("on " + HttpsUrl()));
  std::map<std::string, std::string> bob_env = Env("bob");
  bob_env["PARLEY_CACERT"] = cert_.cert;  // the environment works as the flag does
  std::string bob = UniqueName("bob");
  CliResult bob_registered =
      RunCli(PARLEY_CLI_PATH, {"register", bob, "--server", HttpsUrl(), "--password-stdin"}, bob_env,
             kPassword + "\n");
  ASSERT_EQ(bob_registered.exit_code, 0) << Show(bob_registered);

  ASSERT_EQ(Run(alice, {"group", "create", "secure", bob}).exit_code, 0);
  CliResult sent = Run(alice, {"send", "secure", "over TLS"});  // wss://
  ASSERT_EQ(sent.exit_code, 0) << Show(sent);
  EXPECT_EQ(sent.out, "1\n");
  CliResult history = RunCli(PARLEY_CLI_PATH, {"history", "secure"}, Env("bob"));
  EXPECT_EQ(history.exit_code, 0) << Show(history);
  EXPECT_THAT(history.out, HasSubstr(alice + ": over TLS"));

  auto chat =
      std::make_unique<CliProcess>(PARLEY_CLI_PATH, std::vector<std::string>{"chat", "secure"}, Env("bob"));
  ASSERT_TRUE(chat->WaitForErr("connected", kWait)) << chat->err();
  ASSERT_TRUE(chat->Write("hello over wss\n"));
  chat->CloseStdin();
  EXPECT_EQ(chat->Wait(kWait), 0) << chat->err();
  CliResult after = Run(alice, {"history", "secure"});
  EXPECT_THAT(after.out, HasSubstr(bob + ": hello over wss")) << Show(after);

  // A CA given on the command line replaces the saved one: a wrong one fails.
  CertFiles other = MakeSelfSigned(cert_dir_, "other");
  CliResult replaced = Run(alice, {"conversations", "--cacert", other.cert});
  EXPECT_EQ(replaced.exit_code, 2) << Show(replaced);
  EXPECT_THAT(replaced.err, HasSubstr("not trusted"));
}

// A server on a fixed port, so it can be restarted under a running chat.
uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class CliRestartTest : public CliTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    static const uint16_t port = FreePort();
    return {"--listen", "127.0.0.1:" + std::to_string(port)};
  }
};

TEST_F(CliRestartTest, ChatResumesAfterADroppedConnection) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  auto a = Start(alice, {"chat", "proj"});
  auto tail = Start(alice, {"tail", "--json"});
  ASSERT_TRUE(a->WaitForErr("connected", kWait)) << a->err();
  ASSERT_TRUE(tail->WaitForErr("tailing", kWait)) << tail->err();

  server().Stop();
  ASSERT_TRUE(a->WaitForErr("connection lost", kWait)) << a->err();
  ASSERT_TRUE(a->Write("typed while offline\n"));  // queued until reconnected
  ASSERT_TRUE(server().Restart()) << server().error();

  CliResult sent = Run(bob, {"send", "proj", "sent during the outage"});
  ASSERT_EQ(sent.exit_code, 0) << Show(sent);
  EXPECT_TRUE(a->WaitForErr("reconnected", std::chrono::seconds(15))) << a->err();
  EXPECT_TRUE(a->WaitForOut(bob + ": sent during the outage", kWait)) << a->out() << a->err();
  EXPECT_TRUE(a->WaitForOut(alice + ": typed while offline", kWait)) << a->out() << a->err();
  a->CloseStdin();
  EXPECT_EQ(a->Wait(kWait), 0) << a->err();
  // tail resumed too, and printed each message once.
  EXPECT_TRUE(tail->WaitForOut("typed while offline", kWait)) << tail->out() << tail->err();
  EXPECT_TRUE(tail->WaitForOut("sent during the outage", kWait)) << tail->out() << tail->err();
  EXPECT_THAT(tail->err(), HasSubstr("reconnected"));
  int messages = 0;
  for (const auto& line : Lines(tail->out())) {
    auto obj = protocol::ParseObject(line);
    if (obj && protocol::GetString(*obj, "type") == "message") ++messages;
  }
  EXPECT_EQ(messages, 2) << tail->out();

  CliResult history = Run(bob, {"history", "proj"});
  EXPECT_THAT(history.out, HasSubstr("typed while offline"));
}

// `parley export > me.json`: one JSON document with the account, the
// conversations and the user's own messages, nothing of another user's.
TEST_F(CliTest, ExportWritesTheUsersDataAsOneJsonDocument) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "proj", {bob});
  ASSERT_EQ(Run(alice, {"send", "proj", "from alice"}).exit_code, 0);
  ASSERT_EQ(Run(bob, {"send", "proj", "from bob"}).exit_code, 0);
  CliResult r = Run(alice, {"export"});
  ASSERT_EQ(r.exit_code, 0) << Show(r);
  auto doc = protocol::ParseObject(r.out);
  ASSERT_TRUE(doc) << r.out;
  EXPECT_EQ(protocol::GetString(doc->at("account"), "username"), alice);
  ASSERT_EQ(doc->at("conversations").as_array().size(), 1u);
  EXPECT_EQ(protocol::GetString(doc->at("conversations").as_array()[0], "title"), "proj");
  ASSERT_EQ(doc->at("messages").as_array().size(), 1u);
  EXPECT_EQ(protocol::GetString(doc->at("messages").as_array()[0], "body"), "from alice");
  EXPECT_THAT(r.out, Not(HasSubstr("from bob")));
}

TEST_F(CliTest, BotsAreCreatedListedAndDeleted) {
  std::string alice = Register("alice");
  const std::string bot = UniqueName("bot");
  CliResult made = Run(alice, {"bot", "create", bot, "--display-name", "Helper", "--json"});
  ASSERT_EQ(made.exit_code, 0) << Show(made);
  auto answer = protocol::ParseObject(made.out);
  ASSERT_TRUE(answer) << made.out;
  const std::string key = protocol::GetString(*answer, "token");
  EXPECT_EQ(key.rfind("pbot_", 0), 0u);
  // The key works as a bearer token.
  auto me = http().Get("/v1/me", key);
  ASSERT_EQ(me.status, 200) << me.Describe();
  EXPECT_EQ(protocol::GetString(me.json, "username"), bot);

  CliResult list = Run(alice, {"bot", "list"});
  ASSERT_EQ(list.exit_code, 0) << Show(list);
  EXPECT_THAT(list.out, HasSubstr(bot + "  Helper"));
  EXPECT_THAT(list.out, Not(HasSubstr(key))) << "the key is shown once";

  CliResult taken = Run(alice, {"bot", "create", bot});
  EXPECT_NE(taken.exit_code, 0);
  EXPECT_THAT(taken.err, HasSubstr("already taken"));

  CliResult gone = Run(alice, {"bot", "delete", bot});
  ASSERT_EQ(gone.exit_code, 0) << Show(gone);
  EXPECT_EQ(http().Get("/v1/me", key).status, 401);
  CliResult missing = Run(alice, {"bot", "delete", bot});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("no such bot"));
}

// PROTOCOL.md §8 from the command line: `webhook add` shows the secret once,
// `list` shows the webhooks without it, `delete` removes one; a plain
// member may do none of it.
class CliWebhookTest : public CliTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--webhooks.allow_private_addresses", "true"};
  }
};

TEST_F(CliWebhookTest, WebhooksAreAddedListedAndDeleted) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  Group(alice, "hooked", {bob});
  CliResult made = Run(alice, {"webhook", "add", "hooked", "http://127.0.0.1:9/hook", "--json"});
  ASSERT_EQ(made.exit_code, 0) << Show(made);
  auto hook = protocol::ParseObject(made.out);
  ASSERT_TRUE(hook) << made.out;
  const std::string id = protocol::GetString(*hook, "id");
  const std::string secret = protocol::GetString(*hook, "secret");
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(secret.size(), 43u);

  CliResult shown = Run(alice, {"webhook", "add", "hooked", "http://127.0.0.1:9/other"});
  ASSERT_EQ(shown.exit_code, 0) << Show(shown);
  EXPECT_THAT(shown.out, HasSubstr("shown only now"));

  CliResult list = Run(alice, {"webhook", "list", "hooked"});
  ASSERT_EQ(list.exit_code, 0) << Show(list);
  EXPECT_THAT(list.out, HasSubstr(id + "  http://127.0.0.1:9/hook"));
  EXPECT_THAT(list.out, Not(HasSubstr(secret))) << "the secret is shown once";
  EXPECT_EQ(Lines(Run(alice, {"webhook", "list", "hooked", "--json"}).out).size(), 2u);

  CliResult refused = Run(bob, {"webhook", "list", "hooked"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("owner and admins"));
  CliResult bad = Run(alice, {"webhook", "add", "hooked", "ftp://127.0.0.1/x"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("http"));

  CliResult gone = Run(alice, {"webhook", "delete", "hooked", id});
  ASSERT_EQ(gone.exit_code, 0) << Show(gone);
  EXPECT_EQ(Lines(Run(alice, {"webhook", "list", "hooked", "--json"}).out).size(), 1u);
  CliResult missing = Run(alice, {"webhook", "delete", "hooked", id});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("no such webhook"));
  EXPECT_EQ(Run(alice, {"webhook", "delete", "hooked", "x1"}).exit_code, 1);  // usage
}

// PROTOCOL.md §6 from the command line: `send --file` uploads and attaches,
// `download` saves a message's files (never over an existing one), and a
// file another member cannot see stays out of reach.
TEST_F(CliTest, SendWithFilesAndDownloadThem) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string conv = Group(alice, "files", {bob});
  ASSERT_FALSE(conv.empty());
  const std::string src = home_ + "/report ü.pdf";
  const char kBytes[] = "%PDF-1.4\0binary\xff bytes";
  const std::string bytes(kBytes, sizeof kBytes - 1);
  {
    std::ofstream out(src, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  CliResult sent = Run(alice, {"send", conv, "--file", src, "--json"});
  ASSERT_EQ(sent.exit_code, 0) << Show(sent);
  auto obj = protocol::ParseObject(sent.out);
  ASSERT_TRUE(obj) << sent.out;
  const std::string seq = std::to_string(protocol::GetInt(*obj, "seq").value_or(0));

  const std::string out_dir = home_ + "/downloads";
  for (int round = 0; round < 2; ++round) {
    CliResult got = Run(bob, {"download", conv, seq, "--out", out_dir});
    ASSERT_EQ(got.exit_code, 0) << Show(got);
    const std::vector<std::string> paths = Lines(got.out);
    ASSERT_EQ(paths.size(), 1u) << Show(got);
    EXPECT_EQ(paths[0], out_dir + (round == 0 ? "/report ü.pdf" : "/report ü (1).pdf"));
    std::ifstream in(paths[0], std::ios::binary);
    std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(back, bytes);
  }
  // A message without files, and a missing file to send.
  CliResult plain = Run(alice, {"send", conv, "no files here", "--json"});
  ASSERT_EQ(plain.exit_code, 0) << Show(plain);
  auto plain_obj = protocol::ParseObject(plain.out);
  ASSERT_TRUE(plain_obj);
  CliResult none =
      Run(bob, {"download", conv, std::to_string(protocol::GetInt(*plain_obj, "seq").value_or(0))});
  EXPECT_EQ(none.exit_code, 4) << Show(none);
  CliResult missing = Run(alice, {"send", conv, "--file", home_ + "/nope.bin"});
  EXPECT_EQ(missing.exit_code, 1) << Show(missing);
}

// PROTOCOL.md §7 from the terminal: roles, hand-over, bans, invites, the
// title and topic, each refusal with the server's reason and exit code.
TEST_F(CliTest, GroupRolesBansInvitesAndSettings) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string carol = Register("carol");
  std::string dave = Register("dave");
  std::string erin = Register("erin");
  Group(alice, "crew", {bob, carol});

  CliResult promoted = Run(alice, {"group", "role", "crew", bob, "admin"});
  EXPECT_EQ(promoted.exit_code, 0) << Show(promoted);
  EXPECT_THAT(promoted.out, HasSubstr(bob + " is now an admin of crew"));
  EXPECT_EQ(Run(carol, {"group", "members", "crew"}).out,
            alice + "  owner\n" + bob + "  admin\n" + carol + "  (you)\n");
  CliResult not_owner = Run(bob, {"group", "role", "crew", carol, "admin"});
  EXPECT_EQ(not_owner.exit_code, 4) << Show(not_owner);
  CliResult bad_role = Run(alice, {"group", "role", "crew", bob, "owner"});
  EXPECT_EQ(bad_role.exit_code, 1) << Show(bad_role);
  EXPECT_THAT(bad_role.err, HasSubstr("parley group transfer"));

  // An admin bans a member; the banned cannot read, nor be added back until unbanned.
  CliResult banned = Run(bob, {"group", "ban", "crew", carol});
  EXPECT_EQ(banned.exit_code, 0) << Show(banned);
  EXPECT_THAT(banned.out, HasSubstr("Banned " + carol + " from crew"));
  EXPECT_EQ(Run(carol, {"history", "crew"}).exit_code, 4);
  CliResult add_banned = Run(alice, {"group", "add", "crew", carol});
  EXPECT_EQ(add_banned.exit_code, 4) << Show(add_banned);
  CliResult admin_bans_owner = Run(bob, {"group", "ban", "crew", alice});
  EXPECT_EQ(admin_bans_owner.exit_code, 4) << Show(admin_bans_owner);
  EXPECT_EQ(Run(alice, {"group", "unban", "crew", carol}).exit_code, 0);
  EXPECT_EQ(Run(alice, {"group", "add", "crew", carol}).exit_code, 0);

  // Title and topic.
  CliResult renamed = Run(bob, {"group", "title", "crew", "night", "crew"});
  EXPECT_EQ(renamed.exit_code, 0) << Show(renamed);
  EXPECT_THAT(renamed.out, HasSubstr("Renamed crew to night crew"));
  EXPECT_EQ(Run(alice, {"group", "topic", "night crew", "ships", "at", "dawn"}).exit_code, 0);
  CliResult by_carol = Run(carol, {"group", "topic", "night crew", "mine"});
  EXPECT_EQ(by_carol.exit_code, 4) << Show(by_carol);
  CliResult listed = Run(carol, {"conversations", "--json"});
  auto obj = protocol::ParseObject(Lines(listed.out).at(0));
  ASSERT_TRUE(obj) << Show(listed);
  EXPECT_EQ(protocol::GetString(*obj, "title"), "night crew");
  EXPECT_EQ(protocol::GetString(*obj, "topic"), "ships at dawn");

  // An invite for one use: dave joins, erin is too late.
  CliResult invite = Run(alice, {"group", "invite", "night crew", "--max-uses", "1", "--json"});
  ASSERT_EQ(invite.exit_code, 0) << Show(invite);
  auto inv = protocol::ParseObject(invite.out);
  ASSERT_TRUE(inv) << invite.out;
  const std::string code = protocol::GetString(*inv, "code");
  EXPECT_EQ(protocol::GetInt(*inv, "max_uses"), 1);
  CliResult plain_invite = Run(alice, {"group", "invite", "night crew", "--expires", "60"});
  EXPECT_EQ(plain_invite.exit_code, 0) << Show(plain_invite);
  EXPECT_THAT(plain_invite.out, HasSubstr("parley group join "));
  EXPECT_THAT(plain_invite.out, HasSubstr("unlimited"));
  CliResult joined = Run(dave, {"group", "join", code});
  EXPECT_EQ(joined.exit_code, 0) << Show(joined);
  EXPECT_THAT(joined.out, HasSubstr("Joined night crew (4 members)"));
  CliResult used_up = Run(erin, {"group", "join", code});
  EXPECT_EQ(used_up.exit_code, 4) << Show(used_up);
  EXPECT_EQ(Run(erin, {"group", "join", "../bad"}).exit_code, 1);
  EXPECT_EQ(Run(carol, {"group", "invite", "night crew"}).exit_code, 4);
  EXPECT_EQ(Run(alice, {"group", "invite", "night crew", "--max-uses", "0"}).exit_code, 1);

  // The hand-over: bob owns it, alice is an admin.
  CliResult handed = Run(alice, {"group", "transfer", "night crew", bob});
  EXPECT_EQ(handed.exit_code, 0) << Show(handed);
  EXPECT_EQ(Run(dave, {"group", "members", "night crew"}).out,
            alice + "  admin\n" + bob + "  owner\n" + carol + "\n" + dave + "  (you)\n");
  EXPECT_EQ(Run(alice, {"group", "transfer", "night crew", carol}).exit_code, 4);
}

// PROTOCOL.md §8: the notification level of a conversation, shown in the
// conversations' JSON.
TEST_F(CliTest, NotifySetsTheLevelOfAConversation) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string conv = Group(alice, "quiet room", {bob});
  auto level = [&] {
    CliResult list = Run(alice, {"conversations", "--json"});
    EXPECT_EQ(list.exit_code, 0) << Show(list);
    auto obj = protocol::ParseObject(list.out);
    return obj ? protocol::GetString(*obj, "notify") : std::string("?");
  };
  EXPECT_EQ(level(), "mentions") << "a group's default";
  CliResult none = Run(alice, {"notify", "quiet room", "none"});
  EXPECT_EQ(none.exit_code, 0) << Show(none);
  EXPECT_THAT(none.out, HasSubstr("not be notified"));
  EXPECT_EQ(level(), "none");
  CliResult all = Run(alice, {"notify", conv, "all"});
  EXPECT_EQ(all.exit_code, 0) << Show(all);
  EXPECT_EQ(level(), "all");
  CliResult bad = Run(alice, {"notify", conv, "loud"});
  EXPECT_EQ(bad.exit_code, 1) << Show(bad);
  EXPECT_THAT(bad.err, HasSubstr("all, mentions or none"));
  std::string carol = Register("carol");
  EXPECT_EQ(Run(carol, {"notify", conv, "none"}).exit_code, 4) << "not a member";
}

TEST_F(CliTest, BlockUnblockAndBlocks) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  CliResult none = Run(alice, {"blocks"});
  EXPECT_EQ(none.exit_code, 0) << Show(none);
  EXPECT_THAT(none.out, HasSubstr("You block nobody"));

  CliResult blocked = Run(alice, {"block", bob});
  EXPECT_EQ(blocked.exit_code, 0) << Show(blocked);
  EXPECT_EQ(Run(alice, {"blocks"}).out, bob + "\n");
  CliResult listed = Run(alice, {"blocks", "--json"});
  auto obj = protocol::ParseObject(listed.out);
  ASSERT_TRUE(obj) << Show(listed);
  EXPECT_EQ(protocol::GetString(*obj, "username"), bob);
  // Bob cannot open a DM with alice, and is not told why.
  CliResult dm = Run(bob, {"dm", alice});
  EXPECT_EQ(dm.exit_code, 4) << Show(dm);
  EXPECT_THAT(dm.err, Not(HasSubstr("block")));

  EXPECT_EQ(Run(alice, {"block", alice}).exit_code, 6);
  EXPECT_EQ(Run(alice, {"block", "no_such_user_x"}).exit_code, 4);
  EXPECT_EQ(Run(alice, {"block", "a/b"}).exit_code, 1);
  CliResult unblocked = Run(alice, {"unblock", bob});
  EXPECT_EQ(unblocked.exit_code, 0) << Show(unblocked);
  EXPECT_THAT(Run(alice, {"blocks"}).out, HasSubstr("You block nobody"));
  EXPECT_EQ(Run(bob, {"dm", alice}).exit_code, 0);
}

// Issue 17: `parley conversations` says who has read your last message,
// from the members' read_seq.
TEST_F(CliTest, ConversationsShowWhoReadYourLastMessage) {
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string carol = Register("carol");
  Group(alice, "crew", {bob, carol});
  auto read_by = [&](const std::string& title) {
    CliResult list = Run(alice, {"conversations"});
    EXPECT_EQ(list.exit_code, 0) << Show(list);
    EXPECT_THAT(list.out, HasSubstr("READ BY"));
    for (const std::string& line : Lines(list.out)) {
      // READ BY is the last column; names in it are separated by ", ".
      if (line.find("  " + title + "  ") != std::string::npos) return line.substr(line.rfind("  ") + 2);
    }
    return std::string("(no row)");
  };
  EXPECT_EQ(read_by("crew"), "-");  // nothing of alice's yet
  ASSERT_EQ(Run(alice, {"send", "crew", "hello"}).exit_code, 0);
  EXPECT_EQ(read_by("crew"), "nobody");
  ASSERT_EQ(Run(bob, {"read", "crew"}).exit_code, 0);
  EXPECT_EQ(read_by("crew"), bob);
  ASSERT_EQ(Run(carol, {"read", "crew"}).exit_code, 0);
  EXPECT_EQ(read_by("crew"), "everyone");
  // The member objects carry read_seq and display_name.
  CliResult members = Run(bob, {"group", "members", "crew", "--json"});
  auto first = protocol::ParseObject(Lines(members.out).at(0));
  ASSERT_TRUE(first) << Show(members);
  EXPECT_EQ(protocol::GetInt(*first, "read_seq"), 1);
  EXPECT_EQ(protocol::GetString(*first, "display_name"), alice);
}

// `parley admin ...` for an administrator (admin.users), and exit code 4
// for everyone else.
class CliAdminTest : public CliTest {
 protected:
  static std::string AdminName() { return "root" + std::to_string(getpid()); }
  std::vector<std::string> ExtraFlags() const override { return {"--admin.users", AdminName()}; }
  std::string RegisterAdmin() {
    const std::string name = AdminName();
    CliResult r = Run(name, {"register", name, "--server", Url(), "--password-stdin"}, kPassword + "\n");
    EXPECT_EQ(r.exit_code, 0) << Show(r);
    return name;
  }
};

TEST_F(CliAdminTest, AdminCommands) {
  std::string root = RegisterAdmin();
  std::string alice = Register("alice");
  std::string bob = Register("bob");
  std::string group = Group(alice, "crew", {bob});
  ASSERT_EQ(Run(bob, {"send", "crew", "unfit"}).exit_code, 0);

  CliResult users = Run(root, {"admin", "users"});
  EXPECT_EQ(users.exit_code, 0) << Show(users);
  EXPECT_THAT(users.out, HasSubstr("USERNAME"));
  EXPECT_THAT(users.out, HasSubstr(alice));
  EXPECT_EQ(Lines(Run(root, {"admin", "users", "--json"}).out).size(), 3u);
  CliResult stats = Run(root, {"admin", "stats", "--json"});
  auto st = protocol::ParseObject(stats.out);
  ASSERT_TRUE(st) << Show(stats);
  EXPECT_EQ(protocol::GetInt(*st, "users"), 3);
  EXPECT_EQ(protocol::GetInt(*st, "messages"), 1);
  EXPECT_THAT(Run(root, {"admin", "stats"}).out, HasSubstr("conversations: 1"));

  // The administrator is no member of the group: it goes by id.
  CliResult deleted = Run(root, {"admin", "delete-message", group, "1"});
  EXPECT_EQ(deleted.exit_code, 0) << Show(deleted);
  CliResult history = Run(alice, {"history", "crew", "--json"});
  EXPECT_THAT(history.out, HasSubstr("\"deleted\":true")) << Show(history);
  EXPECT_EQ(Run(root, {"admin", "delete-message", group, "99"}).exit_code, 4);

  CliResult disabled = Run(root, {"admin", "disable", bob});
  EXPECT_EQ(disabled.exit_code, 0) << Show(disabled);
  EXPECT_EQ(Run(bob, {"conversations"}).exit_code, 3);  // signed out
  CliResult login = Run(bob, {"login", bob, "--server", Url(), "--password-stdin"}, kPassword + "\n");
  EXPECT_EQ(login.exit_code, 4) << Show(login);
  EXPECT_THAT(login.err, HasSubstr("account disabled"));
  EXPECT_THAT(Run(root, {"admin", "users"}).out, HasSubstr("disabled"));
  EXPECT_EQ(Run(root, {"admin", "enable", bob}).exit_code, 0);
  EXPECT_EQ(Run(bob, {"login", bob, "--server", Url(), "--password-stdin"}, kPassword + "\n").exit_code, 0);

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"admin", "users"}, {"admin", "stats"}, {"admin", "disable", bob}}) {
    CliResult refused = Run(alice, args);
    EXPECT_EQ(refused.exit_code, 4) << Show(refused);
  }
}

}  // namespace
}  // namespace parley::testing
