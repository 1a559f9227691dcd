#pragma once
// Running a group and blocking people (PROTOCOL.md §7): `parley group
// role|transfer|ban|unban|invite|join|title|topic` and `parley
// block|unblock|blocks`. Each throws CliError (errors.h) with the server's
// reason when it refuses.
#include <cstdint>
#include <optional>
#include <string>

namespace parley::cli {

class Api;

// ROLE is "admin" or "member" (ownership moves only with transfer).
int CmdGroupRole(Api& api, const std::string& conv, const std::string& user, const std::string& role);
int CmdGroupTransfer(Api& api, const std::string& conv, const std::string& user);
int CmdGroupBan(Api& api, const std::string& conv, const std::string& user, bool ban);
// A new invite code; max_uses empty: unlimited; expires_in_s empty: the
// server's default (7 days).
int CmdGroupInvite(Api& api, const std::string& conv, std::optional<int64_t> max_uses,
                   std::optional<int64_t> expires_in_s, bool as_json);
int CmdGroupJoin(Api& api, const std::string& code, bool as_json);
// Sets the title or the topic (the other stays).
int CmdGroupSettings(Api& api, const std::string& conv, std::optional<std::string> title,
                     std::optional<std::string> topic);

int CmdBlock(Api& api, const std::string& user, bool block);
int CmdBlocks(Api& api, bool as_json);

}  // namespace parley::cli
