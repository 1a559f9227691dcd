#include "store/postgres/push_rows.h"

#include "store/push_audience_rows.h"

namespace parley::store::postgres {
namespace {

constexpr Sql kSetNotify{"push_set_notify",
                         "UPDATE members SET notify = $3 WHERE conv = $1 AND user_id = $2"};
// Keeps the first value written under a name: a node that loses the race
// reads the winner's. Two statements, not one: a statement's snapshot is
// taken before it waits on the winner's insert, so a read in the same
// statement (a CTE) would not see the row that made the insert do nothing.
// Under READ COMMITTED the second statement takes a fresh snapshot.
constexpr Sql kInsertSecret{"push_insert_secret",
                            "INSERT INTO server_secrets(name, value) VALUES($1, $2) "
                            "ON CONFLICT (name) DO NOTHING"};
constexpr Sql kReadSecret{"push_read_secret", "SELECT value FROM server_secrets WHERE name = $1"};
constexpr Sql kAnySubscription{"push_any_subscription",
                               "SELECT EXISTS (SELECT 1 FROM push_subscriptions)::int"};
// Inserts or replaces unless the user has max_per_user other subscriptions
// (no row back then). The count and the write are one statement; two
// concurrent subscriptions of one user may pass the limit by one, which is
// harmless.
constexpr Sql kUpsertSubscription{
    "push_upsert_subscription",
    "INSERT INTO push_subscriptions(endpoint, user_id, p256dh, auth, created_at) "
    "SELECT $1, $2, $3, $4, $5 WHERE (SELECT count(*) FROM push_subscriptions "
    "                                  WHERE user_id = $2 AND endpoint <> $1) < $6 "
    "ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, "
    "auth = excluded.auth, created_at = excluded.created_at RETURNING 1"};
constexpr Sql kDeleteSubscription{"push_delete_subscription",
                                  "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2"};
// The head row (kind, title, sender's name) and then one row per
// subscription of a member other than the sender.
constexpr Sql kAudience{
    "push_audience",
    "SELECT c.kind, c.title, (SELECT display_name FROM users WHERE id = $2), m.user_id, "
    "m.notify, s.endpoint, "
    "s.p256dh, s.auth FROM conversations c "
    "LEFT JOIN members m ON m.conv = c.id AND m.user_id <> $2 "
    "     AND EXISTS (SELECT 1 FROM push_subscriptions x WHERE x.user_id = m.user_id) "
    "     AND EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id AND u.deleted_at IS NULL "
    "                 AND u.disabled_at IS NULL) "
    "LEFT JOIN push_subscriptions s ON s.user_id = m.user_id "
    "WHERE c.id = $1 ORDER BY m.user_id, s.endpoint"};

}  // namespace

Result<void> UpdateNotifyLevel(Connection& c, ConversationId conv, UserId user, NotifyLevel level) {
  Result<Rows> rows = c.Run(kSetNotify, Params().Add(conv.value).Add(user.value).Add(NotifyLevelCode(level)));
  if (!rows.ok()) return std::move(rows).error();
  if (rows->affected() == 0)
    return MakeError(Errc::kNotFound, "not a member of conversation " + conv.ToString());
  return Ok();
}

Result<std::string> KeepSecret(Connection& c, const std::string& name, const std::string& candidate) {
  Result<Rows> inserted = c.Run(kInsertSecret, Params().Add(name).Add(candidate));
  if (!inserted.ok()) return std::move(inserted).error();
  Result<Rows> rows = c.Run(kReadSecret, Params().Add(name));
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return MakeError(Errc::kInternal, "server secret '" + name + "' vanished");
  return rows->Text(0, 0);
}

Result<void> UpsertPushSubscription(Connection& c, const PushSubscription& s, int max_per_user, TimeMs now) {
  Result<Rows> rows = c.Run(kUpsertSubscription, Params()
                                                     .Add(s.endpoint)
                                                     .Add(s.user.value)
                                                     .Add(s.p256dh)
                                                     .Add(s.auth)
                                                     .Add(now)
                                                     .Add(int64_t{max_per_user}));
  if (!rows.ok()) {
    if (c.last_sqlstate() == kForeignKeyViolation) return MakeError(Errc::kNotFound, "no such user");
    return std::move(rows).error();
  }
  if (rows->empty())
    return MakeError(Errc::kBadRequest,
                     "a user has at most " + std::to_string(max_per_user) + " push subscriptions");
  return Ok();
}

Result<bool> RemovePushSubscription(Connection& c, UserId user, const std::string& endpoint) {
  Result<Rows> rows = c.Run(kDeleteSubscription, Params().Add(user.value).Add(endpoint));
  if (!rows.ok()) return std::move(rows).error();
  return rows->affected() > 0;
}

Result<PushAudience> SelectPushAudience(Connection& c, ConversationId conv, UserId sender) {
  Result<Rows> rows = c.Run(kAudience, Params().Add(conv.value).Add(sender.value));
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return MakeError(Errc::kNotFound, "no such conversation");
  PushAudience out;
  out.kind = rows->Text(0, 0) == "dm" ? ConversationKind::kDm : ConversationKind::kGroup;
  if (!rows->IsNull(0, 1)) out.title = rows->Text(0, 1);
  out.sender_name = rows->Text(0, 2);
  for (int i = 0; i < rows->size(); ++i) {
    if (rows->IsNull(i, 3) || rows->IsNull(i, 5)) continue;
    AddAudienceRow(out, UserId(rows->Int(i, 3)),
                   rows->IsNull(i, 4) ? std::nullopt : std::optional<int64_t>(rows->Int(i, 4)),
                   rows->Text(i, 5), rows->Text(i, 6), rows->Text(i, 7));
  }
  return out;
}

Result<bool> SelectAnyPushSubscription(Connection& c) {
  Result<Rows> rows = c.Run(kAnySubscription);
  if (!rows.ok()) return std::move(rows).error();
  return !rows->empty() && rows->Int(0, 0) != 0;
}

}  // namespace parley::store::postgres
