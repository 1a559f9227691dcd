// `parley bot create|list|delete` (PROTOCOL.md §8): the logged-in user's
// bots. The key is printed once, by `create`, as the server shows it once.
#include <iostream>

#include <boost/json.hpp>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/format.h"

namespace parley::cli {
namespace json = boost::json;

namespace {

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

int CmdBotCreate(Api& api, const std::string& username, const std::string& display_name, bool as_json) {
  json::object body{{"username", username}};
  if (!display_name.empty()) body["display_name"] = display_name;
  json::value made = api.Call("POST", "/v1/bots", json::serialize(body), "creating bot '" + username + "'");
  const json::object* o = made.if_object();
  const json::value* bot = o ? o->if_contains("bot") : nullptr;
  if (!bot || !bot->is_object() || Str(*o, "token").empty()) {
    throw CliError(kExitRejected, "creating bot '" + username + "': unexpected answer");
  }
  if (as_json) {
    std::cout << JsonLine(made) << "\n";
  } else {
    std::cout << "bot " << Str(bot->as_object(), "username") << " created; its API key (shown only now):\n"
              << Str(*o, "token") << "\n";
  }
  return kExitOk;
}

int CmdBotList(Api& api, bool as_json) {
  json::value list = api.Call("GET", "/v1/bots", std::nullopt, "listing your bots");
  const json::object* o = list.if_object();
  const json::value* bots = o ? o->if_contains("bots") : nullptr;
  if (!bots || !bots->is_array()) throw CliError(kExitRejected, "listing your bots: unexpected answer");
  for (const json::value& b : bots->as_array()) {
    if (!b.is_object()) continue;
    if (as_json) {
      std::cout << JsonLine(b) << "\n";
    } else {
      const std::string name = Str(b.as_object(), "username");
      const std::string shown = Str(b.as_object(), "display_name");
      std::cout << name << (shown.empty() || shown == name ? "" : "  " + shown) << "\n";
    }
  }
  return kExitOk;
}

int CmdBotDelete(Api& api, const std::string& username) {
  api.Call("DELETE", "/v1/bots/" + username, std::nullopt, "deleting bot '" + username + "'");
  std::cout << "bot " << username << " deleted; its key no longer works\n";
  return kExitOk;
}

}  // namespace parley::cli
