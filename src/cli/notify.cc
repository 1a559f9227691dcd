// `parley notify CONV all|mentions|none` (PROTOCOL.md §8): the caller's
// notification level in a conversation, set with the WebSocket `notify`.
#include <iostream>

#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/membership.h"
#include "cli/resolve.h"
#include "protocol/frames.h"

namespace parley::cli {

int CmdNotify(Api& api, const std::string& conv, const std::string& level) {
  std::optional<NotifyLevel> parsed = ParseNotifyLevel(level);
  if (!parsed) throw CliError(kExitUsage, "LEVEL must be all, mentions or none, not '" + level + "'");
  Directory dir(api);
  ConvTarget target = ResolveTarget(dir, conv);
  CallForOk(api, protocol::NotifyReq{target.id, *parsed}, "setting notifications of " + target.name);
  switch (*parsed) {
    case NotifyLevel::kAll:
      std::cout << "You will be notified of every message in " << target.name << ".\n";
      break;
    case NotifyLevel::kMentions:
      std::cout << "You will be notified in " << target.name << " only when you are mentioned.\n";
      break;
    case NotifyLevel::kNone:
      std::cout << "You will not be notified of messages in " << target.name << ".\n";
      break;
  }
  return kExitOk;
}

}  // namespace parley::cli
