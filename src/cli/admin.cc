#include "cli/admin.h"

#include <algorithm>
#include <iostream>
#include <vector>

#include <boost/json.hpp>

#include "cli/api.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/membership.h"
#include "cli/resolve.h"
#include "protocol/json.h"

namespace parley::cli {

namespace json = boost::json;

namespace {

// The server's cap on one page of users.
constexpr int kUsersPage = 1000;

// The object under `key` of an answer, or a CliError saying the answer to
// `what` is not a Parley answer.
const json::value& Field(const json::value& answer, std::string_view key, const std::string& what) {
  const json::value* v = answer.is_object() ? answer.as_object().if_contains(key) : nullptr;
  if (v == nullptr) throw CliError(kExitRejected, what + ": the server's answer is not a Parley answer");
  return *v;
}

}  // namespace

int CmdAdminUsers(Api& api, bool as_json) {
  const std::string what = "listing users";
  std::vector<json::value> users;
  std::string after;
  do {
    std::string target = "/v1/admin/users?limit=" + std::to_string(kUsersPage);
    if (!after.empty()) target += "&after=" + after;
    json::value page = api.Call("GET", target, std::nullopt, what);
    const json::value& list = Field(page, "users", what);
    if (!list.is_array())
      throw CliError(kExitRejected, what + ": the server's answer is not a Parley answer");
    for (const json::value& u : list.as_array()) {
      if (u.is_object()) users.push_back(u);
    }
    const json::value& next = Field(page, "next", what);
    after = next.is_string() ? std::string(next.as_string()) : "";
  } while (!after.empty());

  if (as_json) {
    for (const json::value& u : users) std::cout << JsonLine(u) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{{"ID", "USERNAME", "CREATED", "STATE", "DISPLAY NAME"}};
  for (const json::value& u : users) {
    const json::value* disabled = u.as_object().if_contains("disabled");
    rows.push_back({protocol::GetString(u, "id"), protocol::GetString(u, "username"),
                    FormatTime(protocol::GetInt(u, "created_at").value_or(0), "%Y-%m-%d %H:%M"),
                    disabled && disabled->is_bool() && disabled->get_bool() ? "disabled" : "active",
                    protocol::GetString(u, "display_name")});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  return kExitOk;
}

int CmdAdminDisable(Api& api, const std::string& user, bool disable) {
  const std::string verb = disable ? "disable" : "enable";
  api.Call("POST", "/v1/admin/users/" + CheckedUsername(user) + "/" + verb, std::nullopt,
           (disable ? "disabling " : "enabling ") + user);
  if (disable) {
    std::cout << "Disabled " << user << ": signed out everywhere, and no login until enabled.\n";
  } else {
    std::cout << "Enabled " << user << ": they may log in again.\n";
  }
  return kExitOk;
}

int CmdAdminDeleteMessage(Api& api, const std::string& conv, int64_t seq) {
  if (seq < 1) throw CliError(kExitUsage, "SEQ must be a message's seq (1 or more)");
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  api.Call("DELETE", "/v1/admin/conversations/" + target.id.ToString() + "/messages/" + std::to_string(seq),
           std::nullopt, "deleting #" + std::to_string(seq) + " of " + target.name);
  std::cout << "Deleted #" << seq << " of " << target.name << ".\n";
  return kExitOk;
}

int CmdAdminStats(Api& api, bool as_json) {
  const std::string what = "reading the server's stats";
  json::value stats = api.Call("GET", "/v1/admin/stats", std::nullopt, what);
  if (!stats.is_object())
    throw CliError(kExitRejected, what + ": the server's answer is not a Parley answer");
  if (as_json) {
    std::cout << JsonLine(stats) << "\n";
    return kExitOk;
  }
  for (const char* key : {"users", "conversations", "messages", "connections", "uptime_s"}) {
    std::cout << key << ": " << protocol::GetInt(stats, key).value_or(0) << "\n";
  }
  return kExitOk;
}

}  // namespace parley::cli
