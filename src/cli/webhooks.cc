// `parley webhook add|list|delete CONV` (PROTOCOL.md §8): a conversation's
// outgoing webhooks, for its owner and admins. The secret is printed once,
// by `add`, as the server shows it once.
#include <iostream>

#include <boost/json.hpp>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/membership.h"
#include "cli/resolve.h"
#include "protocol/json.h"

namespace parley::cli {
namespace json = boost::json;

namespace {

std::string WebhooksPath(const ConvTarget& target) {
  return "/v1/conversations/" + target.id.ToString() + "/webhooks";
}

}  // namespace

int CmdWebhookAdd(Api& api, const std::string& conv, const std::string& url, bool as_json) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  const std::string what = "adding a webhook to " + target.name;
  json::value made =
      api.Call("POST", WebhooksPath(target), json::serialize(json::object{{"url", url}}), what);
  const json::value* hook = made.is_object() ? made.as_object().if_contains("webhook") : nullptr;
  if (!hook || !hook->is_object() || protocol::GetString(*hook, "secret").empty()) {
    throw CliError(kExitRejected, what + ": unexpected answer");
  }
  if (as_json) {
    std::cout << JsonLine(*hook) << "\n";
  } else {
    std::cout << "webhook " << protocol::GetString(*hook, "id") << " of " << target.name << " posts to "
              << protocol::GetString(*hook, "url") << "\n"
              << "its signing secret (shown only now):\n"
              << protocol::GetString(*hook, "secret") << "\n";
  }
  return kExitOk;
}

int CmdWebhookList(Api& api, const std::string& conv, bool as_json) {
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  const std::string what = "listing the webhooks of " + target.name;
  json::value list = api.Call("GET", WebhooksPath(target), std::nullopt, what);
  const json::value* hooks = list.is_object() ? list.as_object().if_contains("webhooks") : nullptr;
  if (!hooks || !hooks->is_array()) throw CliError(kExitRejected, what + ": unexpected answer");
  for (const json::value& h : hooks->as_array()) {
    if (!h.is_object()) continue;
    if (as_json) {
      std::cout << JsonLine(h) << "\n";
      continue;
    }
    const auto failing = protocol::GetInt(h.as_object(), "failing_since");
    std::cout << protocol::GetString(h, "id") << "  " << protocol::GetString(h, "url")
              << (failing ? "  failing since " + FormatTime(*failing) : std::string()) << "\n";
  }
  return kExitOk;
}

int CmdWebhookDelete(Api& api, const std::string& conv, const std::string& id) {
  bool digits = !id.empty();
  for (char c : id) digits = digits && c >= '0' && c <= '9';
  if (!digits) throw CliError(kExitUsage, "ID must be a webhook id (digits), as 'parley webhook list' shows");
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  api.Call("DELETE", WebhooksPath(target) + "/" + id, std::nullopt,
           "deleting webhook " + id + " of " + target.name);
  std::cout << "webhook " << id << " of " << target.name << " deleted\n";
  return kExitOk;
}

}  // namespace parley::cli
