// Unit tests of parley_cli's pure parts: URLs, the config directory and
// saved login, conversation names, exit codes, output formats, chat lines.
#include <sys/stat.h>

#include <filesystem>
#include <map>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "cli/saved_login.h"
#include "cli/chat_input.h"
#include "cli/entries.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/membership.h"
#include "cli/resolve.h"
#include "cli/server_url.h"
#include "protocol/utf8.h"

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
  EXPECT_FALSE(e->tls);
}

TEST(ServerUrlTest, AcceptsHttpsUrls) {
  std::string error;
  auto a = ParseServerUrl("https://chat.example.com", &error);
  ASSERT_TRUE(a) << error;
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(a->canonical, "https://chat.example.com:443");
  auto b = ParseServerUrl("wss://127.0.0.1:8443/", &error);  // the WebSocket's URL names the same server
  ASSERT_TRUE(b) << error;
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->canonical, "https://127.0.0.1:8443");
  auto c = ParseServerUrl("ws://127.0.0.1:8080", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_FALSE(c->tls);
}

TEST(ServerUrlTest, RejectsWhatItCannotUse) {
  for (const char* bad :
       {"", "https://x.example/v1", "ftp://x", "http://", "http://x:0", "http://x:70000", "http://x:80/path",
        "http://x?q=1", "http://exa mple", "http://user@x", "http://x:abc"}) {
    std::string error;
    EXPECT_FALSE(ParseServerUrl(bad, &error)) << bad;
    EXPECT_NE(error.find("bad server URL"), std::string::npos) << bad << ": " << error;
  }
}

TEST(ChatLineTest, CommandsMessagesAndTheDoubleSlash) {
  using Kind = ChatLine::Kind;
  struct Case {
    const char* line;
    Kind kind;
    const char* text;
  };
  const Case cases[] = {
      {"", Kind::kNothing, ""},
      {"  \t", Kind::kNothing, ""},
      {"hello", Kind::kMessage, "hello"},
      {"  indented stays as typed ", Kind::kMessage, "  indented stays as typed "},
      {"a /path in the middle", Kind::kMessage, "a /path in the middle"},
      {"/help", Kind::kHelp, ""},
      {"/members ", Kind::kMembers, ""},
      {"/leave", Kind::kLeave, ""},
      {"/quit", Kind::kQuit, ""},
      {"//", Kind::kMessage, "/"},
      {"//quit", Kind::kMessage, "/quit"},
      {"///x", Kind::kMessage, "//x"},
      {"/quit now", Kind::kBadCommand, "/quit takes no arguments"},
      {"/Help", Kind::kBadCommand, "unknown command /Help"},
      {"/", Kind::kBadCommand, "unknown command /;"},
      {"/shrug", Kind::kBadCommand, "// sends a line that starts with /"},
  };
  for (const Case& c : cases) {
    ChatLine parsed = ParseChatLine(c.line);
    EXPECT_EQ(parsed.kind, c.kind) << "'" << c.line << "'";
    if (c.kind == Kind::kBadCommand) {
      EXPECT_NE(parsed.text.find(c.text), std::string::npos) << c.line << ": " << parsed.text;
    } else {
      EXPECT_EQ(parsed.text, c.text) << "'" << c.line << "'";
    }
  }
}

TEST(MemberSummaryTest, NamesRolesButThePlainOne) {
  std::vector<Member> members = {{UserId(1), "alice", Role::kOwner},
                                 {UserId(2), "bob", Role::kMember},
                                 {UserId(3), "carol", Role::kAdmin}};
  EXPECT_EQ(MemberSummary(members), "alice (owner), bob, carol (admin)");
  EXPECT_EQ(MemberSummary({}), "");
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

TEST(SavedLoginTest, RoundTripWithPrivateMode) {
  std::string base = (fs::temp_directory_path() / "parley-cli-unit-XXXXXX").string();
  ASSERT_NE(mkdtemp(base.data()), nullptr);
  std::string dir = base + "/nested/parley";
  EXPECT_FALSE(LoadLogin(dir));
  SavedLogin c;
  c.server = "http://127.0.0.1:1234";
  c.username = "alice";
  c.user_id = "7";
  c.access_token = "aaa";
  c.refresh_token = "rrr";
  c.access_expires_at_ms = 42;
  SaveLogin(dir, c);
  struct stat st {};
  ASSERT_EQ(stat(LoginPath(dir).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto loaded = LoadLogin(dir);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->server, c.server);
  EXPECT_EQ(loaded->username, "alice");
  EXPECT_EQ(loaded->user_id, "7");
  EXPECT_EQ(loaded->access_token, "aaa");
  EXPECT_EQ(loaded->refresh_token, "rrr");
  EXPECT_EQ(loaded->access_expires_at_ms, 42);
  EXPECT_TRUE(loaded->logged_in());
  { LoginLock lock(dir); }
  EXPECT_TRUE(RemoveLogin(dir));
  EXPECT_FALSE(LoadLogin(dir));
  fs::remove_all(base);
}

Member M(int64_t id, const char* name) { return Member{UserId(id), name, Role::kMember}; }

std::vector<Conversation> Convs() {
  auto group = [](int64_t id, const char* title, std::vector<Member> members) {
    return Conversation{ConversationId(id), ConversationKind::kGroup, title, 0, std::move(members), 0, 0};
  };
  auto dm = [](int64_t id, std::vector<Member> members) {
    return Conversation{ConversationId(id), ConversationKind::kDm, std::nullopt, 2, std::move(members), 0, 0};
  };
  return {group(1, "Project", {M(10, "me"), M(11, "bob")}),
          dm(2, {M(10, "me"), M(11, "bob")}),
          group(3, "dup", {}),
          group(4, "dup", {}),
          group(5, "bob", {}),
          dm(6, {M(10, "me"), M(12, "carol")})};
}

constexpr UserId kMe{10};

int ExitOf(const std::vector<Conversation>& convs, const std::string& query) {
  try {
    ResolveConversation(convs, query, kMe);
    return 0;
  } catch (const CliError& e) {
    return e.exit_code();
  }
}

TEST(ResolveTest, IdsTitlesAndPeers) {
  std::vector<Conversation> convs = Convs();
  auto id = [&](const std::string& q) { return ResolveConversation(convs, q, kMe).id.value; };
  EXPECT_EQ(id("1"), 1);
  EXPECT_EQ(id("Project"), 1);
  EXPECT_EQ(id("project"), 1);  // case-insensitive when nothing matches exactly
  EXPECT_EQ(id("carol"), 6);
  EXPECT_EQ(id("@carol"), 6);
  EXPECT_EQ(id("CAROL"), 6);
  EXPECT_EQ(id("@bob"), 2);
  EXPECT_EQ(ExitOf(convs, "bob"), kExitUsage);  // the group "bob" and the DM with bob
  EXPECT_EQ(ExitOf(convs, "dup"), kExitUsage);
  EXPECT_EQ(ExitOf(convs, "nothing"), kExitNotFound);
  EXPECT_EQ(ExitOf(convs, "99"), kExitNotFound);
  try {
    ResolveConversation(convs, "dup", kMe);
  } catch (const CliError& e) {
    EXPECT_NE(std::string(e.what()).find("3 (group \"dup\")"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("4 (group \"dup\")"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ConversationName(convs[1], kMe), "@bob");
  EXPECT_EQ(ConversationName(convs[0], kMe), "Project");
  EXPECT_EQ(ConversationName(Conversation{ConversationId(8), ConversationKind::kGroup, "", 0, {}, 0, 0}, kMe),
            "conversation 8");
}

TEST(ExitCodeTest, Mapping) {
  EXPECT_EQ(ExitCodeForStatus(0), kExitUnreachable);
  EXPECT_EQ(ExitCodeForStatus(200), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(204), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(401), kExitAuth);
  EXPECT_EQ(ExitCodeForStatus(403), kExitNotFound);
  EXPECT_EQ(ExitCodeForStatus(404), kExitNotFound);
  EXPECT_EQ(ExitCodeForStatus(429), kExitUnavailable);
  EXPECT_EQ(ExitCodeForStatus(503), kExitUnavailable);
  EXPECT_EQ(ExitCodeForStatus(409), kExitRejected);
  EXPECT_EQ(ExitCodeForStatus(413), kExitRejected);
  EXPECT_EQ(ExitCodeForStatus(502), kExitRejected);  // a proxy's: no code answers with it
  EXPECT_EQ(ExitCodeForErrc(Errc::kForbidden), kExitNotFound);
  EXPECT_EQ(ExitCodeForErrc(Errc::kRateLimited), kExitUnavailable);
  EXPECT_EQ(ExitCodeForErrc(Errc::kTooLarge), kExitRejected);
  EXPECT_EQ(ExitCodeForErrc(Errc::kUnauthorized), kExitAuth);
}

Message Text(int64_t seq, UserId sender, std::string body) {
  Message m{ConversationId(1), seq, MessageId(seq * 10),      sender,
            std::move(body),   0,   "c" + std::to_string(seq)};
  m.state_seq = seq;
  return m;
}

Message Change(int64_t seq, UserId sender, EntryKind kind, int64_t target) {
  Message m{ConversationId(1), seq, MessageId(seq * 10), sender, "", 60'000, "c" + std::to_string(seq)};
  m.kind = kind;
  m.target = target;
  return m;
}

Message Reacts(int64_t seq, UserId sender, int64_t target, std::string emoji,
               ReactionOp op = ReactionOp::kAdd) {
  Message m = Change(seq, sender, EntryKind::kReaction, target);
  m.emoji = std::move(emoji);
  m.op = op;
  return m;
}

const UserId kAlice(1), kBob(2), kCarol(3);
const std::string kThumbs = "\U0001F44D";

EntryStyle PlainStyle(const FoldedEntries& held, bool long_form = true) {
  EntryStyle style;
  style.long_form = long_form;
  style.me = kAlice;
  style.username = [](UserId u) { return u == kAlice ? "alice" : u == kBob ? "bob" : "carol"; };
  style.target = [&held](int64_t seq) { return held.Find(seq); };
  return style;
}

TEST(FormatTest, MessageLines) {
  setenv("TZ", "UTC", 1);
  tzset();
  FoldedEntries held(kAlice, nullptr);
  Message m = Text(7, kAlice, "hi\nthere");
  EXPECT_EQ(FormatEntry(m, PlainStyle(held)), "[1970-01-01 00:00:00] #7 alice: hi\n    there");
  EXPECT_EQ(FormatEntry(m, PlainStyle(held, false)), "[00:00] #7 alice: hi\n    there");
}

// PROTOCOL.md §6: a message's files, one line each, names on one line.
TEST(FormatTest, FilesAreListedUnderTheMessage) {
  setenv("TZ", "UTC", 1);
  tzset();
  FoldedEntries held(kAlice, nullptr);
  Message m = Text(7, kAlice, "");
  m.attachments = {Attachment{UploadId(1), "plan.pdf", "application/pdf", 2048, "/v1/uploads/1?exp=1&sig=a"},
                   Attachment{UploadId(2), "evil\n[00:00] #8 bob: hi", "text/plain", 3, "/v1/uploads/2"}};
  EXPECT_EQ(
      FormatEntry(m, PlainStyle(held, false)),
      "[00:00] #7 alice: \n    [file: plan.pdf, 2048 bytes]\n    [file: evil?[00:00] #8 bob: hi, 3 bytes]");
  held.Hold(m);
  EXPECT_EQ(held.Apply(Change(9, kAlice, EntryKind::kDelete, 7)), FoldedEntries::Outcome::kApplied);
  EXPECT_TRUE(held.Find(7)->attachments.empty());
}

TEST(FormatTest, EditedDeletedRepliesAndReactions) {
  setenv("TZ", "UTC", 1);
  tzset();
  FoldedEntries held(kAlice, nullptr);
  Message first = Text(1, kBob, "the first words of a long message that goes on and on\nsecond line");
  held.Hold(first);
  Message reply = Text(2, kAlice, "yes");
  reply.reply_to = 1;
  reply.edited_ts = 5;
  reply.reactions = {{kThumbs, 2, true}, {"\u2764", 1, false}};
  EXPECT_EQ(FormatEntry(reply, PlainStyle(held, false)),
            "  \u21AA #1 bob: the first words of a long message that goes on\u2026\n"
            "[00:00] #2 alice: yes (edited)\n"
            "    [" +
                kThumbs + " 2]  \u2764 1");
  Message unknown = Text(3, kAlice, "to what?");
  unknown.reply_to = 99;
  EXPECT_EQ(FormatEntry(unknown, PlainStyle(held, false)), "  \u21AA #99\n[00:00] #3 alice: to what?");
  Message gone = Text(4, kBob, "");
  gone.deleted = true;
  EXPECT_EQ(FormatEntry(gone, PlainStyle(held, false)), "[00:00] #4 bob: (message deleted)");
  held.Hold(gone);
  Message to_gone = Text(5, kAlice, "ok");
  to_gone.reply_to = 4;
  EXPECT_EQ(FormatEntry(to_gone, PlainStyle(held, false)),
            "  \u21AA #4 bob: (message deleted)\n[00:00] #5 alice: ok");
}

TEST(FormatTest, MentionsAreEmphasizedOnATerminal) {
  FoldedEntries held(kAlice, nullptr);
  Message m = Text(1, kBob, "hi @Alice and @carol. not @dave");
  m.mentions = {kAlice, kCarol};
  EntryStyle style = PlainStyle(held);
  std::string plain = FormatEntry(m, style);
  EXPECT_NE(plain.find("hi @Alice and @carol. not @dave"), std::string::npos) << plain;
  style.ansi = true;
  std::string ansi = FormatEntry(m, style);
  EXPECT_NE(ansi.find("hi \x1b[1;7m@Alice\x1b[0m and \x1b[1m@carol\x1b[0m. not @dave"), std::string::npos)
      << ansi;
}

TEST(FormatTest, DescribeChange) {
  Message edit = Change(5, kAlice, EntryKind::kEdit, 2);
  edit.body = "fixed";
  EXPECT_EQ(DescribeChange(edit, "alice"), "alice edited #2: fixed");
  EXPECT_EQ(DescribeChange(Change(6, kAlice, EntryKind::kDelete, 2), "alice"), "alice deleted #2");
  EXPECT_EQ(DescribeChange(Reacts(7, kBob, 2, kThumbs), "bob"), "bob reacted " + kThumbs + " to #2");
  EXPECT_EQ(DescribeChange(Reacts(8, kBob, 2, kThumbs, ReactionOp::kRemove), "bob"),
            "bob took back " + kThumbs + " from #2");
}

TEST(FoldedEntriesTest, AppliesAChangeOnlyAboveTheStateSeq) {
  FoldedEntries held(kAlice, [](std::string_view body) {
    return body.find("@bob") != std::string_view::npos ? std::vector<UserId>{kBob} : std::vector<UserId>{};
  });
  Message text = Text(1, kAlice, "helo");
  text.state_seq = 3;  // served folded: entries 2 and 3 are in it
  held.Hold(text);
  Message old_edit = Change(3, kAlice, EntryKind::kEdit, 1);
  old_edit.body = "stale";
  EXPECT_EQ(held.Apply(old_edit), FoldedEntries::Outcome::kAlreadyFolded);
  EXPECT_EQ(held.Find(1)->body, "helo");
  Message edit = Change(4, kAlice, EntryKind::kEdit, 1);
  edit.body = "hello @bob";
  EXPECT_EQ(held.Apply(edit), FoldedEntries::Outcome::kApplied);
  EXPECT_EQ(held.Find(1)->body, "hello @bob");
  EXPECT_EQ(held.Find(1)->edited_ts, 60'000);
  EXPECT_EQ(held.Find(1)->mentions, std::vector<UserId>{kBob});
  EXPECT_EQ(held.Find(1)->state_seq, 4);
  EXPECT_EQ(held.Apply(Change(5, kAlice, EntryKind::kEdit, 9)), FoldedEntries::Outcome::kNotHeld);

  // An older served state does not replace a newer one held.
  held.Hold(Text(1, kAlice, "helo"));
  EXPECT_EQ(held.Find(1)->body, "hello @bob");

  EXPECT_EQ(held.Apply(Change(6, kBob, EntryKind::kDelete, 1)), FoldedEntries::Outcome::kApplied);
  EXPECT_TRUE(held.Find(1)->deleted);
  EXPECT_EQ(held.Find(1)->body, "");
  EXPECT_TRUE(held.Find(1)->mentions.empty());
  Message late_edit = Change(7, kAlice, EntryKind::kEdit, 1);
  late_edit.body = "back?";
  held.Apply(late_edit);
  EXPECT_EQ(held.Find(1)->body, "");
}

TEST(FoldedEntriesTest, ReactionsCountEachHolderOnce) {
  FoldedEntries held(kAlice, nullptr);
  Message text = Text(1, kBob, "vote");
  text.reactions = {{kThumbs, 1, false}};  // someone we never saw holds it
  held.Hold(text);
  held.Apply(Reacts(2, kAlice, 1, kThumbs));
  EXPECT_EQ(held.Find(1)->reactions, (std::vector<Reaction>{{kThumbs, 2, true}}));
  held.Apply(Reacts(3, kAlice, 1, kThumbs));  // a repeated add changes nothing
  held.Apply(Reacts(4, kCarol, 1, "\u2764"));
  held.Apply(Reacts(5, kCarol, 1, "\u2764"));
  EXPECT_EQ(held.Find(1)->reactions, (std::vector<Reaction>{{kThumbs, 2, true}, {"\u2764", 1, false}}));
  EXPECT_EQ(held.Find(1)->state_seq, 5);
  held.Apply(Reacts(6, kBob, 1, "\u2764", ReactionOp::kRemove));  // bob never held it
  EXPECT_EQ(held.Find(1)->reactions[1].count, 1);
  held.Apply(Reacts(7, kBob, 1, kThumbs, ReactionOp::kRemove));  // the unseen holder
  held.Apply(Reacts(8, kAlice, 1, kThumbs, ReactionOp::kRemove));
  held.Apply(Reacts(9, kCarol, 1, "\u2764", ReactionOp::kRemove));
  EXPECT_TRUE(held.Find(1)->reactions.empty());
  EXPECT_EQ(FormatReactions(held.Find(1)->reactions), "");
}

TEST(FormatTest, MessageJsonIsTheWireMessagePlusTheSenderName) {
  Message m{ConversationId(1), 7, MessageId(70), UserId(3), "hi", 5, "c"};
  m.state_seq = 7;
  // The wire message is 1.1's (PROTOCOL.md §5): a text entry's folded state
  // and (§6) its attachments.
  EXPECT_EQ(boost::json::parse(MessageJson(m, "alice")),
            boost::json::parse(R"({"conv":"1","seq":7,"id":"70","sender":"3","body":"hi","ts":5,)"
                               R"("client_msg_id":"c","kind":"text","reply_to":null,"mentions":[],)"
                               R"("reactions":[],"edited_ts":null,"deleted":false,"state_seq":7,)"
                               R"("attachments":[],"sender_username":"alice"})"));
}

// The chat view quotes an unsent message cut to a length: the cut must not
// split a character, or the terminal shows garbage.
TEST(FormatTest, ExcerptCutsOnCharacters) {
  EXPECT_EQ(Excerpt("short", 40), "short");
  EXPECT_EQ(Excerpt("abcdef", 4), "abcd...");
  const std::string snow = "\xE2\x98\x83";  // U+2603, 3 bytes
  std::string text;
  for (int i = 0; i < 20; ++i) text += snow;  // 60 bytes
  std::string cut = Excerpt(text, 40);        // 13 whole snowmen are 39 bytes
  EXPECT_EQ(cut, text.substr(0, 39) + "...");
  EXPECT_TRUE(protocol::IsValidUtf8(cut));
  for (size_t max = 0; max < text.size(); ++max)
    EXPECT_TRUE(protocol::IsValidUtf8(Excerpt(text, max))) << max;
}

}  // namespace
}  // namespace parley::cli
