// Server administration (PROTOCOL.md §7): the /v1/admin calls behind
// chat::Service. Who may is the setting admin.users; what an administrator
// does reuses the paths a user's own actions take (revocation for a
// disable, the log and the sequencer for a delete), so nothing here holds
// state of its own. Every change is logged with who did it to whom.
#include <algorithm>

#include "chat/service.h"
#include "common/logging.h"

namespace parley::chat {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("admin");
  return log;
}

}  // namespace

Result<User> Service::RequireServerAdmin(UserId actor) {
  if (auto ok = RequireActive(actor); !ok) return ok.error();
  auto me = d_.store.FindUserById(actor);
  if (!me)
    return me.error().code == Errc::kNotFound ? MakeError(Errc::kUnauthorized, "account deleted")
                                              : std::move(me).error();
  const bool listed =
      std::any_of(options_.admin_users.begin(), options_.admin_users.end(), [&](const std::string& name) {
        auto folded = auth::FoldUsername(name);
        return folded && *folded == me->username;
      });
  if (!listed) return MakeError(Errc::kForbidden, "only server administrators may do this");
  return me;
}

Result<void> Service::CheckServerAdmin(UserId actor) {
  if (auto admin = RequireServerAdmin(actor); !admin) return admin.error();
  return Ok();
}

Result<AdminUsersPage> Service::AdminListUsers(UserId actor, UserId after, int limit) {
  if (auto admin = RequireServerAdmin(actor); !admin) return admin.error();
  limit = std::clamp(limit, 1, 1000);
  auto users = d_.store.ListUsers(after, limit + 1);
  if (!users) return std::move(users).error();
  AdminUsersPage page;
  page.users = std::move(users).value();
  if (page.users.size() > static_cast<size_t>(limit)) {
    page.users.resize(limit);
    page.next = page.users.back().user.id;
  }
  std::vector<UserId> ids;
  ids.reserve(page.users.size());
  for (const auto& u : page.users) ids.push_back(u.user.id);
  auto online = d_.presence.Online(ids);
  for (size_t i = 0; i < page.users.size(); ++i) {
    page.users[i].user.online = online[i];
    if (online[i]) page.users[i].user.last_seen.reset();
  }
  return page;
}

Result<void> Service::AdminSetDisabled(UserId actor, std::string_view username, bool disabled) {
  auto admin = RequireServerAdmin(actor);
  if (!admin) return admin.error();
  auto user = FindByUsername(username);
  if (!user) return user.error();
  if (disabled && user->id == actor) {
    return MakeError(Errc::kBadRequest, "an administrator cannot disable their own account");
  }
  auto epoch = d_.store.SetDisabled(user->id, disabled, d_.clock.NowMs());
  if (!epoch) return epoch.error();
  // A disable revokes every token: the sockets opened with one close with
  // 4003 here and on every other node, as after a logout everywhere.
  if (disabled) RevokeOpenConnections(user->id, {*epoch, false});
  Log()->info("admin {} {} user {} ({})", admin->username, disabled ? "disabled" : "enabled", user->username,
              user->id.ToString());
  return Ok();
}

Result<void> Service::AdminDeleteMessage(UserId actor, ConversationId conv, int64_t seq,
                                         const log::Origin& origin) {
  auto admin = RequireServerAdmin(actor);
  if (!admin) return admin.error();
  if (seq < 1) return MakeError(Errc::kNotFound, "no such message");
  // As a member's delete (Delete), but with no client_msg_id (so never a
  // duplicate of anything) and marked, so the commit asks neither
  // membership nor role of the administrator.
  log::SendRequest r{conv, actor, "", "", origin};
  r.kind = EntryKind::kDelete;
  r.target = seq;
  r.by_server_admin = true;
  if (auto ok = Append(std::move(r)); !ok) return ok;
  Log()->info("admin {} deletes seq {} of conversation {}", admin->username, seq, conv.ToString());
  return Ok();
}

Result<AdminTotals> Service::AdminStats(UserId actor) {
  if (auto admin = RequireServerAdmin(actor); !admin) return admin.error();
  return d_.store.CountTotals();
}

}  // namespace parley::chat
