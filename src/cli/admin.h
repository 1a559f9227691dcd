#pragma once
// `parley admin users|disable|enable|delete-message|stats`: the server
// administration calls of PROTOCOL.md §7, for the users named in the
// server's admin.users (everyone else gets exit code 4, forbidden). Each
// throws CliError (errors.h).
#include <cstdint>
#include <string>

namespace parley::cli {

class Api;

int CmdAdminUsers(Api& api, bool as_json);
int CmdAdminDisable(Api& api, const std::string& user, bool disable);
// CONV: a conversation id (an administrator need not be a member), or a
// name among the caller's own conversations.
int CmdAdminDeleteMessage(Api& api, const std::string& conv, int64_t seq);
int CmdAdminStats(Api& api, bool as_json);

}  // namespace parley::cli
