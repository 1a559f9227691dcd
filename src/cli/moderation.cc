#include "cli/moderation.h"

#include <cctype>
#include <iostream>

#include <boost/json.hpp>

#include "cli/api.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/membership.h"
#include "cli/resolve.h"
#include "protocol/frames.h"
#include "protocol/json.h"

namespace parley::cli {

namespace json = boost::json;

int CmdGroupRole(Api& api, const std::string& conv, const std::string& user, const std::string& role) {
  if (role != "admin" && role != "member") {
    throw CliError(kExitUsage,
                   "ROLE must be admin or member (hand the group over with 'parley group transfer')");
  }
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  CallForOk(
      api,
      protocol::SetRoleReq{target.id, CheckedUsername(user), role == "admin" ? Role::kAdmin : Role::kMember},
      "making " + user + " " + (role == "admin" ? "an admin" : "a member") + " of " + target.name);
  std::cout << user << " is now " << (role == "admin" ? "an admin" : "a member") << " of " << target.name
            << ".\n";
  return kExitOk;
}

int CmdGroupTransfer(Api& api, const std::string& conv, const std::string& user) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  CallForOk(api, protocol::TransferReq{target.id, CheckedUsername(user)},
            "handing " + target.name + " over to " + user);
  std::cout << user << " now owns " << target.name << "; you are an admin of it.\n";
  return kExitOk;
}

int CmdGroupBan(Api& api, const std::string& conv, const std::string& user, bool ban) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  CallForOk(api, protocol::BanReq{target.id, CheckedUsername(user), ban},
            (ban ? "banning " : "unbanning ") + user + (ban ? " from " : " in ") + target.name);
  if (ban) {
    std::cout << "Banned " << user << " from " << target.name << ".\n";
  } else {
    std::cout << "Unbanned " << user << " in " << target.name << "; they may be added or join again.\n";
  }
  return kExitOk;
}

int CmdGroupInvite(Api& api, const std::string& conv, std::optional<int64_t> max_uses,
                   std::optional<int64_t> expires_in_s, bool as_json) {
  if (max_uses && *max_uses < 1) throw CliError(kExitUsage, "--max-uses must be at least 1");
  if (expires_in_s && *expires_in_s < 1) throw CliError(kExitUsage, "--expires must be at least 1 (seconds)");
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  json::object body;
  if (max_uses) body["max_uses"] = *max_uses;
  if (expires_in_s) body["expires_in_s"] = *expires_in_s;
  const std::string what = "creating an invite to " + target.name;
  json::value answer =
      api.Call("POST", "/v1/conversations/" + target.id.ToString() + "/invites", json::serialize(body), what);
  const json::value* invite = answer.is_object() ? answer.as_object().if_contains("invite") : nullptr;
  if (invite == nullptr || !invite->is_object()) {
    throw CliError(kExitRejected, what + ": the server's answer is not a Parley answer");
  }
  const std::string code = protocol::GetString(*invite, "code");
  if (as_json) {
    std::cout << JsonLine(*invite) << "\n";
    return kExitOk;
  }
  const auto max = protocol::GetInt(*invite, "max_uses");
  std::cout << "Invite to " << target.name << ": " << code << "\n"
            << "  uses: " << (max ? "at most " + std::to_string(*max) : std::string("unlimited"))
            << "; expires " << FormatTime(protocol::GetInt(*invite, "expires_at").value_or(0)) << "\n"
            << "  join with: parley group join " << code << "\n";
  return kExitOk;
}

int CmdGroupJoin(Api& api, const std::string& code, bool as_json) {
  // A code is base64url: nothing else may reach the URL.
  bool ok = !code.empty();
  for (char c : code) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  if (!ok) throw CliError(kExitUsage, "'" + code + "' is not an invite code");
  const std::string what = "joining by invite";
  Conversation conv = Expect(
      protocol::ParseConversation(api.Call("POST", "/v1/invites/" + code + "/join", std::nullopt, what)),
      what);
  if (as_json) {
    std::cout << JsonLine(protocol::ToJson(conv)) << "\n";
  } else {
    std::cout << "Joined " << ConversationName(conv, api.me()) << " (" << conv.member_count << " members).\n";
  }
  return kExitOk;
}

int CmdGroupSettings(Api& api, const std::string& conv, std::optional<std::string> title,
                     std::optional<std::string> topic) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  const bool is_title = title.has_value();
  CallForOk(api, protocol::UpdateGroupReq{target.id, title, topic},
            std::string(is_title ? "renaming " : "setting the topic of ") + target.name);
  if (is_title) {
    std::cout << "Renamed " << target.name << " to " << *title << ".\n";
  } else if (topic->empty()) {
    std::cout << "Cleared the topic of " << target.name << ".\n";
  } else {
    std::cout << "Set the topic of " << target.name << ".\n";
  }
  return kExitOk;
}

int CmdBlock(Api& api, const std::string& user, bool block) {
  api.Call(block ? "PUT" : "DELETE", "/v1/blocks/" + CheckedUsername(user), std::nullopt,
           (block ? "blocking " : "unblocking ") + user);
  if (block) {
    std::cout << "Blocked " << user
              << ": they cannot open a DM with you, write in yours, or add you to a group.\n";
  } else {
    std::cout << "Unblocked " << user << ".\n";
  }
  return kExitOk;
}

int CmdBlocks(Api& api, bool as_json) {
  const std::string what = "listing blocked users";
  json::value answer = api.Call("GET", "/v1/blocks", std::nullopt, what);
  const json::value* users = answer.is_object() ? answer.as_object().if_contains("users") : nullptr;
  if (users == nullptr || !users->is_array()) {
    throw CliError(kExitRejected, what + ": the server's answer is not a Parley answer");
  }
  if (!as_json && users->as_array().empty()) std::cout << "You block nobody.\n";
  for (const json::value& u : users->as_array()) {
    User user = Expect(protocol::ParseUser(u), what);
    if (as_json) {
      std::cout << JsonLine(protocol::ToJson(user)) << "\n";
    } else {
      std::cout << user.username
                << (user.display_name.empty() || user.display_name == user.username
                        ? ""
                        : "  (" + user.display_name + ")")
                << "\n";
    }
  }
  return kExitOk;
}

}  // namespace parley::cli
