#include "store/sqlite/push_rows.h"

#include "store/push_audience_rows.h"
#include "store/sqlite/connection.h"

namespace parley::store::sqlite {
namespace {

constexpr std::string_view kSetNotify = "UPDATE members SET notify = ?3 WHERE conv = ?1 AND user = ?2";
constexpr std::string_view kInsertSecret =
    "INSERT INTO server_secrets(name, value) VALUES(?1, ?2) "
    "ON CONFLICT(name) DO NOTHING";
constexpr std::string_view kSelectSecret = "SELECT value FROM server_secrets WHERE name = ?1";
// The user's subscriptions other than this endpoint (the limit counts them).
constexpr std::string_view kOtherSubscriptions =
    "SELECT count(*) FROM push_subscriptions WHERE user = ?1 AND endpoint <> ?2";
constexpr std::string_view kUpsertSubscription =
    "INSERT INTO push_subscriptions(endpoint, user, p256dh, auth, created_at) VALUES(?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(endpoint) DO UPDATE SET user = excluded.user, p256dh = excluded.p256dh, "
    "auth = excluded.auth, created_at = excluded.created_at";
constexpr std::string_view kDeleteSubscription =
    "DELETE FROM push_subscriptions WHERE user = ?1 AND endpoint = ?2";
constexpr std::string_view kAnySubscription = "SELECT EXISTS (SELECT 1 FROM push_subscriptions)";
constexpr std::string_view kAudienceHead =
    "SELECT c.kind, c.title, (SELECT display_name FROM users WHERE id = ?2) FROM conversations c WHERE c.id "
    "= ?1";
constexpr std::string_view kAudienceRows =
    "SELECT m.user, m.notify, s.endpoint, s.p256dh, s.auth FROM members m "
    "JOIN push_subscriptions s ON s.user = m.user "
    "JOIN users u ON u.id = m.user AND u.deleted_at IS NULL AND u.disabled_at IS NULL "
    "WHERE m.conv = ?1 AND m.user <> ?2 "
    "ORDER BY m.user, s.endpoint";

}  // namespace

Result<void> UpdateNotifyLevel(Connection& c, ConversationId conv, UserId user, NotifyLevel level) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kSetNotify));
  q.Bind(1, conv.value).Bind(2, user.value).Bind(3, NotifyLevelCode(level));
  if (Result<void> r = q.Run(); !r.ok()) return r.error();
  if (c.Changes() == 0) return MakeError(Errc::kNotFound, "not a member of conversation " + conv.ToString());
  return Ok();
}

Result<std::string> KeepSecret(Connection& c, const std::string& name, const std::string& candidate) {
  {
    PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kInsertSecret));
    q.Bind(1, name).Bind(2, candidate);
    if (Result<void> r = q.Run(); !r.ok()) return r.error();
  }
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kSelectSecret));
  q.Bind(1, name);
  PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return MakeError(Errc::kInternal, "server secret '" + name + "' vanished");
  return q.Text(0);
}

Result<void> UpsertPushSubscription(Connection& c, const PushSubscription& s, int max_per_user, TimeMs now) {
  {
    PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kOtherSubscriptions));
    q.Bind(1, s.user.value).Bind(2, s.endpoint);
    PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row && q.Int(0) >= max_per_user)
      return MakeError(Errc::kBadRequest,
                       "a user has at most " + std::to_string(max_per_user) + " push subscriptions");
  }
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kUpsertSubscription));
  q.Bind(1, s.endpoint).Bind(2, s.user.value).Bind(3, s.p256dh).Bind(4, s.auth).Bind(5, now);
  if (Result<void> r = q.Run(); !r.ok()) {
    if (IsForeignKeyViolation(q.last_rc())) return MakeError(Errc::kNotFound, "no such user");
    return r.error();
  }
  return Ok();
}

Result<bool> RemovePushSubscription(Connection& c, UserId user, const std::string& endpoint) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kDeleteSubscription));
  q.Bind(1, user.value).Bind(2, endpoint);
  if (Result<void> r = q.Run(); !r.ok()) return r.error();
  return c.Changes() > 0;
}

Result<PushAudience> SelectPushAudience(Connection& c, ConversationId conv, UserId sender) {
  PushAudience out;
  {
    PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kAudienceHead));
    q.Bind(1, conv.value).Bind(2, sender.value);
    PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MakeError(Errc::kNotFound, "no such conversation");
    out.kind = q.Text(0) == "dm" ? ConversationKind::kDm : ConversationKind::kGroup;
    if (!q.IsNull(1)) out.title = q.Text(1);
    out.sender_name = q.Text(2);
  }
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kAudienceRows));
  q.Bind(1, conv.value).Bind(2, sender.value);
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    AddAudienceRow(out, UserId(q.Int(0)), q.IsNull(1) ? std::nullopt : std::optional<int64_t>(q.Int(1)),
                   q.Text(2), q.Text(3), q.Text(4));
  }
  return out;
}

Result<bool> SelectAnyPushSubscription(Connection& c) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kAnySubscription));
  PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
  return row && q.Int(0) != 0;
}

}  // namespace parley::store::sqlite
