#pragma once
// The `parley` commands. RunCli parses the command line (CLI11) and runs
// one; every other function here is a command or a helper they share, each
// throwing CliError (see errors.h) on failure.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/entries.h"
#include "common/ids.h"

namespace parley::cli {

class Api;
class Directory;

// Runs `parley argv...`; returns the process exit code.
int RunCli(int argc, char** argv);

// A conversation id for CONV: a known id or name (see ResolveConversation),
// or a decimal id that is not among ours, left for the server to judge (so
// a non-member gets the server's 403). Throws CliError.
ConversationId ResolveConvId(Directory& dir, const std::string& query);

// The text entry at `seq` of `conv` (a reply's target, a changed entry the
// command does not hold), folded; nullopt when there is none or it cannot be
// read. Throws CliError only when the login is refused.
std::optional<Message> FetchEntry(Api& api, ConversationId conv, int64_t seq);

// The members of `conv` (as `dir` knows them) that `body` mentions: an edit
// entry carries no mentions, so a client folding one works them out.
std::function<std::vector<UserId>(std::string_view body)> MentionsIn(Directory& dir, ConversationId conv);

// How `conv`'s text entries are shown: names from `dir`, reply quotes from
// `held`, emphasis when stdout is a terminal. Both must outlive the style.
EntryStyle StyleFor(Directory& dir, ConversationId conv, const FoldedEntries& held, bool long_form);

// `parley search`: GET /v1/search, newest first (search.cc).
struct SearchOptions {
  std::string query;
  std::optional<std::string> conv;
  int limit = 20;
  bool json = false;
};
int CmdSearch(Api& api, const SearchOptions& options);

// `parley export`: GET /v1/me/export to stdout (export.cc).
int CmdExport(Api& api);

// `parley bot create|list|delete` (bots.cc).
int CmdBotCreate(Api& api, const std::string& username, const std::string& display_name, bool as_json);
int CmdBotList(Api& api, bool as_json);
int CmdBotDelete(Api& api, const std::string& username);
// `parley webhook add|list|delete CONV` (webhooks.cc).
int CmdWebhookAdd(Api& api, const std::string& conv, const std::string& url, bool as_json);
int CmdWebhookList(Api& api, const std::string& conv, bool as_json);
int CmdWebhookDelete(Api& api, const std::string& conv, const std::string& id);

// `parley notify CONV all|mentions|none` (notify.cc): which of CONV's
// messages are pushed to you while no client of yours is connected.
int CmdNotify(Api& api, const std::string& conv, const std::string& level);

struct TailOptions {
  std::optional<std::string> conv;
  bool json = false;
};
// Streams events until killed; returns an exit code on a fatal error.
int RunTail(Api& api, const TailOptions& options);

struct ChatOptions {
  std::string conv;
  int history = 10;  // messages shown on start
};
// The interactive chat; returns when stdin ends and every line is sent.
int RunChat(Api& api, const ChatOptions& options);

}  // namespace parley::cli
