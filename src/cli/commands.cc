#include "cli/commands.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>

#include "cli/admin.h"
#include "cli/api.h"
#include "cli/entries.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/live.h"
#include "cli/membership.h"
#include "cli/moderation.h"
#include "cli/resolve.h"
#include "cli/terminal.h"
#include "common/build_info.h"
#include "common/mentions.h"
#include "protocol/client_frames.h"
#include "protocol/frames.h"

namespace parley::cli {

namespace json = boost::json;

namespace {

constexpr const char* kDefaultServer = "http://127.0.0.1:8080";

std::string ReadAllStdin() {
  std::string text;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

std::string StripOneNewline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

// ---- register / login / logout / whoami ----

struct AuthArgs {
  std::string username;
  std::string server;
  std::string display_name;
  std::string ca_file;  // --cacert or $PARLEY_CACERT
  bool password_stdin = false;
  bool server_given = false;
};

int CmdAuth(const std::string& config_dir, const AuthArgs& args, bool register_user) {
  std::optional<SavedLogin> saved;
  try {
    saved = LoadLogin(config_dir);
  } catch (const CliError&) {
  }
  std::string server = args.server;
  if (!args.server_given) server = saved && !saved->server.empty() ? saved->server : kDefaultServer;
  std::string error;
  auto url = ParseServerUrl(server, &error);
  if (!url) throw CliError(kExitUnreachable, error);
  // Logging in again to the same server keeps trusting the CA it was saved with.
  std::string ca_file = args.ca_file;
  if (ca_file.empty() && saved && saved->server == url->canonical) ca_file = saved->ca_file;
  TlsFor(*url, ca_file);  // a CA file that cannot be used is said before the password is asked

  std::string username = args.username;
  if (username.empty()) {
    if (!IsTty(STDIN_FILENO) || args.password_stdin) {
      throw CliError(kExitUsage, "a USERNAME is required");
    }
    auto line = ReadLine("Username: ");
    if (!line || line->empty()) throw CliError(kExitUsage, "a USERNAME is required");
    username = *line;
  }

  std::string password;
  if (args.password_stdin) {
    password = StripOneNewline(ReadAllStdin());
  } else if (IsTty(STDIN_FILENO)) {
    auto first = ReadPassword("Password for " + username + ": ");
    if (!first) throw CliError(kExitUsage, "no password given");
    password = *first;
    if (register_user) {
      auto again = ReadPassword("Repeat the password: ");
      if (!again || *again != password) throw CliError(kExitUsage, "the passwords differ");
    }
  } else {
    throw CliError(kExitUsage, "no password: pass --password-stdin and pipe it in, or run in a terminal");
  }
  if (password.empty()) throw CliError(kExitUsage, "the password is empty");

  SavedLogin c =
      Authenticate(config_dir, *url, ca_file, register_user, username, password, args.display_name);
  std::cout << (register_user ? "Registered " : "Logged in as ") << c.username << " on " << c.server
            << (register_user ? "; you are logged in." : ".") << "\n";
  return kExitOk;
}

int CmdLogout(const std::string& config_dir) {
  if (RemoveLogin(config_dir)) {
    std::cout << "Logged out.\n";
  } else {
    std::cout << "Not logged in.\n";
  }
  return kExitOk;
}

int CmdWhoami(Api& api, bool as_json) {
  User me = api.Me();
  if (as_json) {
    std::cout << JsonLine(protocol::ToJson(me)) << "\n";
  } else {
    std::cout << me.username
              << (me.display_name.empty() || me.display_name == me.username ? ""
                                                                            : " (" + me.display_name + ")")
              << " on " << api.login().server << "\n";
  }
  return kExitOk;
}

// ---- conversations / group create / dm ----

std::string MemberList(const Conversation& conv) {
  std::string out;
  for (const Member& m : conv.members) {
    if (!out.empty()) out += ", ";
    out += m.username;
  }
  auto shown = static_cast<int64_t>(conv.members.size());
  if (conv.member_count > shown) out += " and " + std::to_string(conv.member_count - shown) + " more";
  return out;
}

// Entries read back to find the caller's last message for "READ BY".
constexpr int kReadByLookBack = 20;

// Who has read the caller's last text entry in `conv` (members carry their
// read_seq): "bob, carol", "everyone", "nobody", or "-" when none of the
// newest kReadByLookBack entries is the caller's.
std::string ReadBy(Api& api, const Conversation& conv) {
  if (conv.last_seq == 0) return "-";
  std::vector<Message> recent =
      api.Messages(conv.id, std::nullopt, std::nullopt, kReadByLookBack, "reading " + conv.id.ToString());
  auto mine = std::find_if(recent.rbegin(), recent.rend(), [&](const Message& m) {
    return m.sender == api.me() && m.kind == EntryKind::kText && !m.deleted;
  });
  if (mine == recent.rend()) return "-";
  std::vector<std::string> readers;
  size_t others = 0;
  for (const Member& m : conv.members) {
    if (m.id == api.me()) continue;
    ++others;
    if (m.read_seq >= mine->seq) readers.push_back(m.username);
  }
  if (readers.empty()) return "nobody";
  if (readers.size() == others && conv.member_count == static_cast<int64_t>(conv.members.size())) {
    return conv.kind == ConversationKind::kDm ? readers[0] : "everyone";
  }
  constexpr size_t kNamed = 3;
  std::string out;
  for (size_t i = 0; i < readers.size() && i < kNamed; ++i) out += (i ? ", " : "") + readers[i];
  if (readers.size() > kNamed) out += " +" + std::to_string(readers.size() - kNamed);
  return out;
}

int CmdConversations(Api& api, bool as_json) {
  Directory dir(api);
  dir.Load();
  const std::vector<Conversation>& convs = dir.conversations();
  if (as_json) {
    for (const Conversation& c : convs) std::cout << JsonLine(protocol::ToJson(c)) << "\n";
    return kExitOk;
  }
  if (convs.empty()) {
    std::cout << "No conversations yet. Start one with 'parley dm USER' or "
                 "'parley group create TITLE USER...'.\n";
    return kExitOk;
  }
  struct Row {
    std::string id, kind, name, members, unread, last, read_by;
  };
  std::vector<Row> rows{{"ID", "KIND", "NAME", "MEMBERS", "UNREAD", "LAST", "READ BY"}};
  for (const Conversation& c : convs) {
    rows.push_back({c.id.ToString(), std::string(KindName(c.kind)), ConversationName(c, api.me()),
                    std::to_string(c.member_count), std::to_string(c.unread()), std::to_string(c.last_seq),
                    ReadBy(api, c)});
  }
  size_t w[6] = {0, 0, 0, 0, 0, 0};
  for (const Row& r : rows) {
    w[0] = std::max(w[0], r.id.size());
    w[1] = std::max(w[1], r.kind.size());
    w[2] = std::max(w[2], r.name.size());
    w[3] = std::max(w[3], r.members.size());
    w[4] = std::max(w[4], r.unread.size());
    w[5] = std::max(w[5], r.last.size());
  }
  auto pad = [](const std::string& s, size_t width) {
    return s + std::string(width > s.size() ? width - s.size() : 0, ' ');
  };
  for (const Row& r : rows) {
    std::cout << pad(r.id, w[0]) << "  " << pad(r.kind, w[1]) << "  " << pad(r.name, w[2]) << "  "
              << pad(r.members, w[3]) << "  " << pad(r.unread, w[4]) << "  " << pad(r.last, w[5]) << "  "
              << r.read_by << "\n";
  }
  return kExitOk;
}

int CmdGroupCreate(Api& api, const std::string& title, const std::vector<std::string>& users, bool as_json) {
  Conversation conv = api.CreateGroup(title, users);
  if (as_json) {
    std::cout << JsonLine(protocol::ToJson(conv)) << "\n";
  } else {
    std::cout << "Created group \"" << conv.title.value_or("") << "\" (id " << conv.id.ToString() << ") with "
              << MemberList(conv) << ".\n";
  }
  return kExitOk;
}

int CmdDm(Api& api, const std::string& user, bool as_json) {
  Conversation conv = api.OpenDm(user);
  if (as_json) {
    std::cout << JsonLine(protocol::ToJson(conv)) << "\n";
  } else {
    std::cout << "Direct conversation with " << ConversationName(conv, api.me()) << ": id "
              << conv.id.ToString() << ".\n";
  }
  return kExitOk;
}

// ---- history ----

int CmdHistory(Api& api, const std::string& query, int64_t before, int limit, bool as_json) {
  if (limit < 1 || limit > 500) throw CliError(kExitUsage, "--limit must be 1..500");
  if (before < 0) throw CliError(kExitUsage, "--before must be a positive seq");
  Directory dir(api);
  dir.Load();
  ConversationId conv = ResolveConvId(dir, query);
  std::vector<Message> entries =
      api.Messages(conv, std::nullopt, before > 0 ? std::optional<int64_t>(before) : std::nullopt, limit,
                   "reading the history of '" + query + "'");
  // Text entries come folded: the page's change entries are already in them.
  FoldedEntries held(api.me(), MentionsIn(dir, conv));
  std::vector<int64_t> shown;
  for (const Message& m : entries) {
    if (m.kind != EntryKind::kText) continue;
    held.Hold(m);
    shown.push_back(m.seq);
  }
  if (!as_json) {
    for (int64_t seq : shown) {
      const Message* m = held.Find(seq);
      if (m->reply_to && held.Find(*m->reply_to) == nullptr) {
        if (auto target = FetchEntry(api, conv, *m->reply_to)) held.Hold(*target);
      }
    }
  }
  EntryStyle style = StyleFor(dir, conv, held, /*long_form=*/true);
  for (int64_t seq : shown) {
    const Message& m = *held.Find(seq);
    if (as_json) {
      std::cout << MessageJson(m, dir.Username(conv, m.sender)) << "\n";
    } else {
      std::cout << FormatEntry(m, style) << "\n";
    }
  }
  if (shown.empty() && !as_json) std::cout << "(no messages)\n";
  return kExitOk;
}

// ---- send / edit / delete / react ----

// What a new entry's request is called in errors ("send", "edit", ...).
std::string Verb(const protocol::Request& request) { return std::string(protocol::RequestType(request)); }

// Sends `request` (a send, edit, delete or react; it carries its
// client_msg_id) and prints the new entry's seq (or, with --json, the `sent`
// answer and the client_msg_id). Retries like chat does: after a lost
// connection on a new one with the same client_msg_id (so the entry is
// stored at most once), after rate_limited when the server says, for up to
// 30 s in all. A refusal of the server is a CliError with its reason.
int SubmitEntry(Api& api, const std::string& query, const protocol::Request& request,
                const std::string& client_msg_id, bool as_json) {
  const std::string verb = Verb(request);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Backoff backoff;
  std::unique_ptr<client::WsClient> ws = OpenSocket(api, {}, nullptr);
  while (true) {
    // Unset: the connection was lost before an answer came.
    std::optional<Result<protocol::ServerFrame>> answer;
    if (ws) {
      auto called = ws->Call(request, std::chrono::seconds(15));
      if (called || called.error().code != Errc::kUnavailable) answer = std::move(called);
    }
    if (answer && *answer) {
      if (const auto* sent = std::get_if<protocol::Sent>(&**answer)) {
        if (as_json) {
          json::object out{{"conv", sent->conv.ToString()},
                           {"seq", sent->seq},
                           {"id", sent->id.ToString()},
                           {"ts", sent->ts},
                           {"client_msg_id", client_msg_id}};
          std::cout << JsonLine(out) << "\n";
        } else {
          std::cout << sent->seq << "\n";
        }
        return kExitOk;
      }
    }
    std::chrono::milliseconds wait = backoff.Next();
    const protocol::ErrorAnswer* error =
        answer && *answer ? std::get_if<protocol::ErrorAnswer>(&**answer) : nullptr;
    if (error) {
      const protocol::ServerError& e = error->error;
      if (e.code == Errc::kRateLimited) {
        wait = std::chrono::milliseconds(
            std::clamp<int64_t>(e.retry_after_ms > 0 ? e.retry_after_ms : 1000, 50, 10'000));
      } else if (e.code != Errc::kUnavailable) {
        std::string text = e.message;
        // A send is refused as forbidden only for a non-member; a change
        // also for someone else's message, which the server's text says.
        if (e.code == Errc::kForbidden && verb == "send") {
          text = "you are not a member of '" + query + "' (" + text + ")";
        }
        throw CliError(ExitCodeForErrc(e.code), verb + " failed: " + text + " (" + e.code_name + ")");
      }
    } else if (answer) {
      throw CliError(kExitRejected, verb + " failed: unexpected answer" +
                                        (*answer ? std::string() : ": " + answer->error().message));
    }
    if (std::chrono::steady_clock::now() + wait > deadline) {
      if (error)
        throw CliError(kExitUnavailable,
                       verb + " failed: the server stayed busy (" + error->error.code_name + ")");
      throw Unreachable(api.login().server,
                        "the connection was lost before the server confirmed the " + verb);
    }
    std::this_thread::sleep_for(wait);
    if (!answer) {
      // Same client_msg_id on the new connection: stored at most once.
      try {
        ws.reset();
        ws = OpenSocket(api, {}, nullptr);
      } catch (const CliError& e) {
        if (e.exit_code() != kExitUnreachable) throw;
      }
    }
  }
}

// Words of the command line joined with spaces.
std::string JoinWords(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

// The text of a send or edit: the words joined, or stdin when there are none
// (or just "-"). `what` names it in the error for an empty one.
std::string TextOf(const std::vector<std::string>& words, const std::string& what) {
  std::string body;
  if (words.empty() || (words.size() == 1 && words[0] == "-")) {
    body = StripOneNewline(ReadAllStdin());
  } else {
    body = JoinWords(words);
  }
  if (body.empty()) throw CliError(kExitUsage, "nothing to " + what + ": the message is empty");
  return body;
}

void CheckSeq(int64_t seq, const char* name) {
  if (seq < 1) throw CliError(kExitUsage, std::string(name) + " must be a message's seq (1 or more)");
}

struct EntryArgs {
  std::string conv;
  int64_t seq = 0;                 // edit, delete, react: the target
  int64_t reply_to = 0;            // send: 0 for none
  std::vector<std::string> files;  // send: uploaded and attached (PROTOCOL.md §6)
  std::vector<std::string> words;
  std::string emoji;
  bool remove = false;
  bool json = false;
};

int CmdSend(Api& api, const EntryArgs& args) {
  if (args.reply_to != 0) CheckSeq(args.reply_to, "--reply-to");
  if (args.files.size() > kMaxAttachments) {
    throw CliError(kExitUsage, "at most " + std::to_string(kMaxAttachments) + " files per message");
  }
  // With files the text is optional (and stdin is not read for it).
  std::string body = args.files.empty() || !args.words.empty() ? TextOf(args.words, "send") : "";
  Directory dir(api);
  dir.Load();
  protocol::SendReq request{ResolveConvId(dir, args.conv), NewClientMsgId(), body};
  if (args.reply_to != 0) request.reply_to = args.reply_to;
  for (const std::string& path : args.files) request.attachments.push_back(api.Upload(path));
  return SubmitEntry(api, args.conv, request, request.client_msg_id, args.json);
}

// A file name from an upload's name that names no other folder: path
// separators and control characters become '_', "." and ".." are refused.
std::string SafeFileName(const std::string& name) {
  std::string out;
  for (unsigned char c : name)
    out += (c < 0x20 || c == 0x7f || c == '/' || c == '\\') ? '_' : static_cast<char>(c);
  if (out.empty() || out == "." || out == "..") out = "download";
  return out;
}

// `parley download CONV SEQ [--out DIR]`: the files of message SEQ, each
// written to DIR (never over an existing file: "name (1)", ...); prints
// each path written.
int CmdDownload(Api& api, const std::string& conv_query, int64_t seq, const std::string& out_dir) {
  CheckSeq(seq, "SEQ");
  Directory dir(api);
  dir.Load();
  const ConversationId conv = ResolveConvId(dir, conv_query);
  std::vector<Message> page = api.Messages(conv, seq - 1, std::nullopt, 1, "reading #" + std::to_string(seq));
  if (page.size() != 1 || page[0].seq != seq || page[0].kind != EntryKind::kText) {
    throw CliError(kExitNotFound, "there is no message #" + std::to_string(seq) + " in '" + conv_query + "'");
  }
  const Message& m = page[0];
  if (m.attachments.empty()) {
    throw CliError(kExitNotFound, "message #" + std::to_string(seq) + " has no files" +
                                      (m.deleted ? " (it was deleted)" : ""));
  }
  const std::filesystem::path folder(out_dir.empty() ? "." : out_dir);
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  for (const Attachment& a : m.attachments) {
    const std::string bytes = api.Download(a.url, "downloading " + a.name);
    const std::filesystem::path wanted(SafeFileName(a.name));
    std::filesystem::path path = folder / wanted;
    for (int n = 1; std::filesystem::exists(path); ++n) {
      path = folder / (wanted.stem().string() + " (" + std::to_string(n) + ")" + wanted.extension().string());
    }
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw CliError(kExitUsage, "cannot write " + path.string());
    std::cout << path.string() << "\n";
  }
  return kExitOk;
}

int CmdEdit(Api& api, const EntryArgs& args) {
  CheckSeq(args.seq, "SEQ");
  std::string body = TextOf(args.words, "edit");
  Directory dir(api);
  dir.Load();
  protocol::EditReq request{ResolveConvId(dir, args.conv), args.seq, body, NewClientMsgId()};
  return SubmitEntry(api, args.conv, request, request.client_msg_id, args.json);
}

int CmdDelete(Api& api, const EntryArgs& args) {
  CheckSeq(args.seq, "SEQ");
  Directory dir(api);
  dir.Load();
  protocol::DeleteReq request{ResolveConvId(dir, args.conv), args.seq, NewClientMsgId()};
  return SubmitEntry(api, args.conv, request, request.client_msg_id, args.json);
}

int CmdReact(Api& api, const EntryArgs& args) {
  CheckSeq(args.seq, "SEQ");
  if (args.emoji.empty()) throw CliError(kExitUsage, "EMOJI must not be empty");
  Directory dir(api);
  dir.Load();
  protocol::ReactReq request{ResolveConvId(dir, args.conv), args.seq, args.emoji,
                             args.remove ? ReactionOp::kRemove : ReactionOp::kAdd, NewClientMsgId()};
  return SubmitEntry(api, args.conv, request, request.client_msg_id, args.json);
}

}  // namespace

ConversationId ResolveConvId(Directory& dir, const std::string& query) {
  try {
    return dir.Resolve(query).id;
  } catch (const CliError& e) {
    if (e.exit_code() != kExitNotFound) throw;
    // Not one of ours: a well-formed id goes to the server, which says why.
    if (auto id = ConversationId::Parse(query)) return *id;
    throw;
  }
}

std::optional<Message> FetchEntry(Api& api, ConversationId conv, int64_t seq) {
  if (seq < 1) return std::nullopt;
  try {
    std::vector<Message> page =
        api.Messages(conv, seq - 1, std::nullopt, 1, "reading #" + std::to_string(seq));
    if (page.size() == 1 && page[0].seq == seq && page[0].kind == EntryKind::kText) return page[0];
  } catch (const CliError& e) {
    if (e.exit_code() == kExitAuth) throw;  // a quote is a nicety; the rest is not
  }
  return std::nullopt;
}

std::function<std::vector<UserId>(std::string_view)> MentionsIn(Directory& dir, ConversationId conv) {
  return [&dir, conv](std::string_view body) {
    std::vector<UserId> out;
    const Conversation* c = dir.Find(conv);
    if (c == nullptr) return out;
    for (const std::string& name : MentionedNames(body)) {
      for (const Member& m : c->members) {
        if (m.username == name && out.size() < kMaxMentions) out.push_back(m.id);
      }
    }
    return out;
  };
}

EntryStyle StyleFor(Directory& dir, ConversationId conv, const FoldedEntries& held, bool long_form) {
  EntryStyle style;
  style.long_form = long_form;
  const char* term = std::getenv("TERM");
  style.ansi = IsTty(STDOUT_FILENO) && term != nullptr && std::string_view(term) != "dumb";
  style.me = dir.me();
  style.username = [&dir, conv](UserId user) { return dir.Username(conv, user); };
  style.target = [&held](int64_t seq) { return held.Find(seq); };
  return style;
}

int RunCli(int argc, char** argv) {
  std::string config_dir = ConfigDir(ProcessEnv());

  CLI::App app("parley: the command-line client of the Parley chat server.", "parley");
  app.require_subcommand(1);
  // Options of `parley` itself (--cacert) may also follow the command.
  app.fallthrough();
  std::string ca_file;
  app.add_option("--cacert", ca_file,
                 "For an https:// server: a PEM file of the CA to trust besides the system store "
                 "(default: $PARLEY_CACERT, else the one the login was made with)");
  app.set_version_flag("--version", "parley " PARLEY_VERSION " (commit " PARLEY_COMMIT ")");
  app.footer(std::string("\nCONV is a conversation id, a group title or a DM peer's username; SEQ a\n"
                         "message's number in it (history shows it as #SEQ). In history and chat,\n"
                         "reactions you hold are in brackets: [\xF0\x9F\x91\x8D 2].\n"
                         "The login (server URL and tokens) is kept in ") +
             (config_dir.empty() ? "$PARLEY_CONFIG_DIR" : config_dir) +
             "/config.json\n($PARLEY_CONFIG_DIR, else $XDG_CONFIG_HOME/parley, else "
             "~/.config/parley).\n\n" +
             kExitCodesHelp);

  AuthArgs auth;
  auto add_auth = [&](CLI::App* cmd) {
    cmd->add_option("username", auth.username, "Username (prompted when omitted on a terminal)");
    // CLI11 counts an empty value as no value; `each` still sees it, so
    // --server "" is a bad URL rather than the default.
    cmd->add_option("--server", auth.server,
                    "Server URL (default: the saved one, else http://127.0.0.1:8080)")
        ->each([&auth](const std::string&) { auth.server_given = true; });
    cmd->add_flag("--password-stdin", auth.password_stdin,
                  "Read the password from stdin (else it is prompted, without echo)");
  };
  CLI::App* reg = app.add_subcommand("register", "Create an account and log in");
  add_auth(reg);
  reg->add_option("--display-name", auth.display_name, "Display name");
  CLI::App* login = app.add_subcommand("login", "Log in and save the login");
  add_auth(login);
  CLI::App* logout = app.add_subcommand("logout", "Forget the saved login");
  CLI::App* whoami = app.add_subcommand("whoami", "Show the logged-in user");

  bool as_json = false;
  auto add_json = [&](CLI::App* cmd) { cmd->add_flag("--json", as_json, "Print JSON, one object per line"); };
  add_json(whoami);
  CLI::App* convs = app.add_subcommand("conversations", "List your conversations");
  add_json(convs);

  CLI::App* group = app.add_subcommand("group", "Group conversations");
  group->require_subcommand(1);
  std::string title;
  std::vector<std::string> users;
  CLI::App* group_create = group->add_subcommand("create", "Create a group with these users");
  group_create->add_option("title", title, "Group title")->required();
  group_create->add_option("users", users, "Usernames of the other members");
  add_json(group_create);
  std::string group_conv, member_user;
  CLI::App* group_add = group->add_subcommand("add", "Add USER to the group CONV (its owner and admins)");
  CLI::App* group_remove =
      group->add_subcommand("remove", "Remove USER from the group CONV (its owner and admins)");
  for (CLI::App* cmd : {group_add, group_remove}) {
    cmd->add_option("conv", group_conv, "Conversation")->required();
    cmd->add_option("user", member_user, "Username")->required();
  }
  add_json(group_add);
  CLI::App* group_leave = group->add_subcommand("leave", "Leave the group CONV");
  group_leave->add_option("conv", group_conv, "Conversation")->required();
  CLI::App* group_members = group->add_subcommand("members", "List the members of CONV with their roles");
  group_members->add_option("conv", group_conv, "Conversation")->required();
  add_json(group_members);
  // PROTOCOL.md §7: running a group.
  std::string role;
  CLI::App* group_role =
      group->add_subcommand("role", "Make USER an admin or a plain member of CONV (its owner)");
  group_role->add_option("conv", group_conv, "Conversation")->required();
  group_role->add_option("user", member_user, "Username")->required();
  group_role->add_option("role", role, "admin or member")->required();
  CLI::App* group_transfer =
      group->add_subcommand("transfer", "Hand the group CONV over to USER (its owner; you become an admin)");
  CLI::App* group_ban = group->add_subcommand(
      "ban", "Remove USER from CONV and keep them out (the owner; admins, not on the owner or an admin)");
  CLI::App* group_unban = group->add_subcommand("unban", "Let USER be added to CONV or join it again");
  for (CLI::App* cmd : {group_transfer, group_ban, group_unban}) {
    cmd->add_option("conv", group_conv, "Conversation")->required();
    cmd->add_option("user", member_user, "Username")->required();
  }
  int64_t max_uses = 0, expires_in_s = 0;
  CLI::App* group_invite =
      group->add_subcommand("invite", "Create an invite code for CONV (its owner and admins)");
  group_invite->add_option("conv", group_conv, "Conversation")->required();
  CLI::Option* max_uses_opt =
      group_invite->add_option("--max-uses", max_uses, "How many may join with it (default: unlimited)");
  CLI::Option* expires_opt =
      group_invite->add_option("--expires", expires_in_s, "Seconds until it expires (default: 7 days)");
  add_json(group_invite);
  std::string invite_code;
  CLI::App* group_join = group->add_subcommand("join", "Join a group with an invite CODE");
  group_join->add_option("code", invite_code, "Invite code")->required();
  add_json(group_join);
  std::vector<std::string> setting_words;
  CLI::App* group_title = group->add_subcommand("title", "Rename the group CONV (its owner and admins)");
  group_title->add_option("conv", group_conv, "Conversation")->required();
  group_title->add_option("text", setting_words, "The new title (words are joined with spaces)")->required();
  CLI::App* group_topic =
      group->add_subcommand("topic", "Set the topic of CONV; without TEXT, clear it (its owner and admins)");
  group_topic->add_option("conv", group_conv, "Conversation")->required();
  group_topic->add_option("text", setting_words, "The topic (words are joined with spaces)");

  // PROTOCOL.md §7: blocks.
  std::string block_user;
  CLI::App* block = app.add_subcommand(
      "block", "Block USER: they can no longer open a DM with you, write in yours or add you to a group");
  CLI::App* unblock = app.add_subcommand("unblock", "Unblock USER");
  for (CLI::App* cmd : {block, unblock}) cmd->add_option("user", block_user, "Username")->required();
  CLI::App* blocks = app.add_subcommand("blocks", "List the users you block");
  add_json(blocks);

  // PROTOCOL.md §7: server administration (the server's admin.users only).
  CLI::App* admin = app.add_subcommand("admin", "Server administration (administrators only)");
  admin->require_subcommand(1);
  CLI::App* admin_users =
      admin->add_subcommand("users", "List every user, with when they joined and their state");
  add_json(admin_users);
  std::string admin_user;
  CLI::App* admin_disable =
      admin->add_subcommand("disable", "Disable USER: signed out everywhere, no login until enabled");
  CLI::App* admin_enable = admin->add_subcommand("enable", "Let a disabled USER log in again");
  for (CLI::App* cmd : {admin_disable, admin_enable})
    cmd->add_option("user", admin_user, "Username")->required();
  std::string admin_conv;
  int64_t admin_seq = 0;
  CLI::App* admin_delete =
      admin->add_subcommand("delete-message", "Delete message SEQ of CONV (any conversation, by id)");
  admin_delete->add_option("conv", admin_conv, "Conversation")->required();
  admin_delete->add_option("seq", admin_seq, "The message's seq")->required();
  CLI::App* admin_stats =
      admin->add_subcommand("stats", "Counts of users, conversations, messages, connections");
  add_json(admin_stats);

  std::string dm_user;
  CLI::App* dm = app.add_subcommand("dm", "Open (or find) the direct conversation with USER");
  dm->add_option("user", dm_user, "Username")->required();
  add_json(dm);

  std::string conv;
  EntryArgs entry;
  // CONV SEQ, then --json: the arguments of a change to one message.
  auto add_target = [&](CLI::App* cmd) {
    cmd->add_option("conv", entry.conv, "Conversation")->required();
    cmd->add_option("seq", entry.seq, "The message's seq")->required();
    add_json(cmd);
  };
  CLI::App* send =
      app.add_subcommand("send", "Send a message (TEXT, or stdin when omitted or -); prints its seq");
  send->add_option("conv", entry.conv, "Conversation")->required();
  send->add_option("text", entry.words, "Message text (words are joined with spaces)");
  send->add_option("--reply-to", entry.reply_to, "Answer the message with this seq");
  send->add_option("--file", entry.files,
                   "Attach this file (uploaded first; up to 10; TEXT is then optional)");
  add_json(send);

  std::string download_conv;
  int64_t download_seq = 0;
  std::string download_dir;
  CLI::App* download =
      app.add_subcommand("download", "Save the files of message SEQ; prints each path written");
  download->add_option("conv", download_conv, "Conversation")->required();
  download->add_option("seq", download_seq, "The message's seq")->required();
  download->add_option("--out", download_dir, "Folder to save into (default: the current one)");

  CLI::App* edit = app.add_subcommand(
      "edit", "Change the text of your message SEQ (TEXT, or stdin); prints the edit's seq");
  add_target(edit);
  edit->add_option("text", entry.words, "The new text (words are joined with spaces)");

  CLI::App* del = app.add_subcommand(
      "delete", "Delete message SEQ (yours; owners and admins any); prints the deletion's seq");
  add_target(del);

  CLI::App* react = app.add_subcommand("react", "React to message SEQ with EMOJI; prints the reaction's seq");
  add_target(react);
  react->add_option("emoji", entry.emoji, "The emoji (1 to 32 bytes)")->required();
  react->add_flag("--remove", entry.remove, "Take your reaction back");

  int64_t before = 0;
  int limit = 50;
  CLI::App* history = app.add_subcommand("history", "Show messages of a conversation, oldest first");
  history->add_option("conv", conv, "Conversation")->required();
  history->add_option("--before", before, "Only messages below this seq");
  history->add_option("--limit", limit, "How many messages (1..500, default 50)");
  add_json(history);

  SearchOptions search_options;
  std::vector<std::string> search_words;
  std::string search_conv;
  CLI::App* search = app.add_subcommand(
      "search",
      "Find messages, newest first: every word (case aside), \"a phrase\" (quote it for the shell too: "
      "'\"a phrase\"'), prefix*");
  search->add_option("query", search_words, "What to find (words are joined with spaces)")->required();
  search->add_option("--conv", search_conv, "Only this conversation");
  search->add_option("--limit", search_options.limit, "How many results (1..100, default 20)");
  add_json(search);

  std::string read_conv;
  CLI::App* read = app.add_subcommand("read", "Mark CONV read up to its newest message");
  read->add_option("conv", read_conv, "Conversation")->required();
  add_json(read);

  TailOptions tail_options;
  std::string tail_conv;
  CLI::App* tail = app.add_subcommand("tail", "Stream events (all conversations, or CONV) until interrupted");
  tail->add_option("conv", tail_conv, "Only this conversation");
  add_json(tail);

  CLI::App* export_cmd = app.add_subcommand(
      "export", "Write all your data (account, conversations, your messages) as JSON to stdout");

  std::string bot_name, bot_display;
  CLI::App* bot = app.add_subcommand("bot", "Your bots: accounts that act with an API key");
  bot->require_subcommand(1);
  CLI::App* bot_create = bot->add_subcommand("create", "Create bot NAME and print its API key (shown once)");
  bot_create->add_option("name", bot_name, "The bot's username")->required();
  bot_create->add_option("--display-name", bot_display, "The name shown for it");
  add_json(bot_create);
  CLI::App* bot_list = bot->add_subcommand("list", "List your bots");
  add_json(bot_list);
  CLI::App* bot_delete = bot->add_subcommand("delete", "Delete bot NAME: its key stops working at once");
  bot_delete->add_option("name", bot_name, "The bot's username")->required();

  std::string hook_conv, hook_url, hook_id;
  CLI::App* webhook =
      app.add_subcommand("webhook", "A conversation's outgoing webhooks (its owner and admins)");
  webhook->require_subcommand(1);
  CLI::App* webhook_add = webhook->add_subcommand(
      "add", "POST every entry of CONV to URL; prints the signing secret (shown once)");
  webhook_add->add_option("conv", hook_conv, "Conversation")->required();
  webhook_add->add_option("url", hook_url, "http(s) URL of the receiver")->required();
  add_json(webhook_add);
  CLI::App* webhook_list = webhook->add_subcommand("list", "List CONV's webhooks and whether they fail");
  webhook_list->add_option("conv", hook_conv, "Conversation")->required();
  add_json(webhook_list);
  CLI::App* webhook_delete = webhook->add_subcommand("delete", "Delete webhook ID of CONV");
  webhook_delete->add_option("conv", hook_conv, "Conversation")->required();
  webhook_delete->add_option("id", hook_id, "Webhook id, as list shows it")->required();
  // PROTOCOL.md §8: notification levels.
  std::string notify_conv, notify_level;
  CLI::App* notify = app.add_subcommand(
      "notify", "Which messages of CONV are pushed to you while you are away: all, mentions or none");
  notify->add_option("conv", notify_conv, "Conversation")->required();
  notify->add_option("level", notify_level, "all, mentions or none")->required();

  ChatOptions chat_options;
  CLI::App* chat =
      app.add_subcommand("chat", "Interactive chat: lines from stdin are sent, incoming messages printed");
  chat->add_option("conv", chat_options.conv, "Conversation")->required();
  chat->add_option("--history", chat_options.history, "Messages shown on start (default 10)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  try {
    if (ca_file.empty()) ca_file = ProcessEnv()("PARLEY_CACERT").value_or("");
    auth.ca_file = ca_file;
    auth.server_given = auth.server_given || (reg->parsed() ? reg : login)->count("--server") > 0;
    if (reg->parsed()) return CmdAuth(config_dir, auth, true);
    if (login->parsed()) return CmdAuth(config_dir, auth, false);
    if (logout->parsed()) return CmdLogout(config_dir);
    Api api = Api::FromConfigDir(config_dir, ca_file);
    if (whoami->parsed()) return CmdWhoami(api, as_json);
    if (export_cmd->parsed()) return CmdExport(api);
    if (bot_create->parsed()) return CmdBotCreate(api, bot_name, bot_display, as_json);
    if (bot_list->parsed()) return CmdBotList(api, as_json);
    if (bot_delete->parsed()) return CmdBotDelete(api, bot_name);
    if (webhook_add->parsed()) return CmdWebhookAdd(api, hook_conv, hook_url, as_json);
    if (webhook_list->parsed()) return CmdWebhookList(api, hook_conv, as_json);
    if (webhook_delete->parsed()) return CmdWebhookDelete(api, hook_conv, hook_id);
    if (notify->parsed()) return CmdNotify(api, notify_conv, notify_level);
    if (download->parsed()) return CmdDownload(api, download_conv, download_seq, download_dir);
    if (convs->parsed()) return CmdConversations(api, as_json);
    if (group_create->parsed()) return CmdGroupCreate(api, title, users, as_json);
    if (dm->parsed()) return CmdDm(api, dm_user, as_json);
    if (group_add->parsed()) return CmdGroupAdd(api, group_conv, member_user, as_json);
    if (group_remove->parsed()) return CmdGroupRemove(api, group_conv, member_user);
    if (group_leave->parsed()) return CmdGroupLeave(api, group_conv);
    if (group_members->parsed()) return CmdGroupMembers(api, group_conv, as_json);
    if (group_role->parsed()) return CmdGroupRole(api, group_conv, member_user, role);
    if (group_transfer->parsed()) return CmdGroupTransfer(api, group_conv, member_user);
    if (group_ban->parsed()) return CmdGroupBan(api, group_conv, member_user, true);
    if (group_unban->parsed()) return CmdGroupBan(api, group_conv, member_user, false);
    if (group_invite->parsed()) {
      return CmdGroupInvite(api, group_conv, max_uses_opt->count() ? std::optional(max_uses) : std::nullopt,
                            expires_opt->count() ? std::optional(expires_in_s) : std::nullopt, as_json);
    }
    if (group_join->parsed()) return CmdGroupJoin(api, invite_code, as_json);
    if (group_title->parsed())
      return CmdGroupSettings(api, group_conv, JoinWords(setting_words), std::nullopt);
    if (group_topic->parsed())
      return CmdGroupSettings(api, group_conv, std::nullopt, JoinWords(setting_words));
    if (block->parsed()) return CmdBlock(api, block_user, true);
    if (unblock->parsed()) return CmdBlock(api, block_user, false);
    if (blocks->parsed()) return CmdBlocks(api, as_json);
    if (admin_users->parsed()) return CmdAdminUsers(api, as_json);
    if (admin_disable->parsed()) return CmdAdminDisable(api, admin_user, true);
    if (admin_enable->parsed()) return CmdAdminDisable(api, admin_user, false);
    if (admin_delete->parsed()) return CmdAdminDeleteMessage(api, admin_conv, admin_seq);
    if (admin_stats->parsed()) return CmdAdminStats(api, as_json);
    if (read->parsed()) return CmdRead(api, read_conv, as_json);
    if (history->parsed()) return CmdHistory(api, conv, before, limit, as_json);
    if (search->parsed()) {
      for (const std::string& w : search_words) {
        if (!search_options.query.empty()) search_options.query += ' ';
        search_options.query += w;
      }
      if (!search_conv.empty()) search_options.conv = search_conv;
      search_options.json = as_json;
      return CmdSearch(api, search_options);
    }
    entry.json = as_json;
    if (send->parsed()) return CmdSend(api, entry);
    if (edit->parsed()) return CmdEdit(api, entry);
    if (del->parsed()) return CmdDelete(api, entry);
    if (react->parsed()) return CmdReact(api, entry);
    if (tail->parsed()) {
      if (!tail_conv.empty()) tail_options.conv = tail_conv;
      tail_options.json = as_json;
      return RunTail(api, tail_options);
    }
    if (chat->parsed()) {
      if (chat_options.history < 0 || chat_options.history > 500) {
        throw CliError(kExitUsage, "--history must be 0..500");
      }
      return RunChat(api, chat_options);
    }
    std::cerr << app.help();
    return kExitUsage;
  } catch (const CliError& e) {
    std::cout << std::flush;
    std::cerr << "parley: " << e.what() << std::endl;
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cout << std::flush;
    std::cerr << "parley: unexpected error: " << e.what() << std::endl;
    return kExitRejected;
  }
}

}  // namespace parley::cli
