#include "store/postgres/webhook_rows.h"

namespace parley::store::postgres {
namespace {

#define PG_WEBHOOK_COLUMNS \
  "id, conv, url, secret, created_by, created_at, cursor, failing_since, next_attempt_at, attempts"
constexpr Sql kBegin{"webhook_begin", "BEGIN"};
constexpr Sql kCommit{"webhook_commit", "COMMIT"};
constexpr Sql kLockHead{"webhook_conv_head", "SELECT last_seq FROM conversations WHERE id = $1 FOR UPDATE"};
constexpr Sql kCount{"webhook_count", "SELECT count(*) FROM webhooks WHERE conv = $1"};
constexpr Sql kInsert{"webhook_insert",
                      "INSERT INTO webhooks(conv, url, secret, created_by, created_at, cursor) "
                      "VALUES($1, $2, $3, $4, $5, $6) RETURNING id"};
constexpr Sql kSelectByConv{"webhooks_of_conv",
                            "SELECT " PG_WEBHOOK_COLUMNS " FROM webhooks WHERE conv = $1 ORDER BY id"};
constexpr Sql kSelectOne{"webhook_select", "SELECT " PG_WEBHOOK_COLUMNS " FROM webhooks WHERE id = $1"};
constexpr Sql kDelete{"webhook_delete", "DELETE FROM webhooks WHERE conv = $1 AND id = $2"};
// A lease is free when it expired or is the asker's own.
#define PG_LEASE_FREE "(w.lease_until <= $2 OR w.lease_owner = $1)"
constexpr Sql kAny{"webhooks_any", "SELECT EXISTS (SELECT 1 FROM webhooks)::int"};
constexpr Sql kDue{"webhooks_due",
                   "SELECT w.id FROM webhooks w JOIN conversations c ON c.id = w.conv "
                   "WHERE c.last_seq > w.cursor AND w.next_attempt_at <= $2 AND " PG_LEASE_FREE
                   " ORDER BY w.next_attempt_at, w.id LIMIT $3"};
constexpr Sql kTakeLease{
    "webhook_lease",
    "UPDATE webhooks w SET lease_owner = $1, lease_until = $3 WHERE w.id = $4 AND " PG_LEASE_FREE
    " RETURNING " PG_WEBHOOK_COLUMNS};
constexpr Sql kMoveCursor{
    "webhook_advance",
    "UPDATE webhooks SET cursor = greatest(cursor, $3), failing_since = NULL, attempts = 0, "
    "next_attempt_at = 0, lease_until = $4 WHERE id = $1 AND lease_owner = $2"};
constexpr Sql kNoteFailure{
    "webhook_fail",
    "UPDATE webhooks SET failing_since = coalesce(failing_since, $3), attempts = attempts + 1, "
    "next_attempt_at = $4, lease_owner = NULL, lease_until = 0 "
    "WHERE id = $1 AND lease_owner = $2"};
constexpr Sql kGiveUp{
    "webhook_release",
    "UPDATE webhooks SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2"};

WebhookRecord WebhookFromRow(const Rows& r, int i) {
  WebhookRecord w;
  w.id = r.Int(i, 0);
  w.conv = ConversationId(r.Int(i, 1));
  w.url = r.Text(i, 2);
  w.secret = r.Text(i, 3);
  w.created_by = UserId(r.Int(i, 4));
  w.created_at = r.Int(i, 5);
  w.cursor = r.Int(i, 6);
  if (!r.IsNull(i, 7)) w.failing_since = r.Int(i, 7);
  w.next_attempt_at = r.Int(i, 8);
  w.attempts = r.Int(i, 9);
  return w;
}

}  // namespace

Result<WebhookRecord> InsertWebhook(Connection& c, ConversationId conv, const std::string& url,
                                    const std::string& secret, UserId created_by, int max_per_conv,
                                    TimeMs now) {
  PARLEY_ASSIGN_OR_RETURN(Rows begun, c.Run(kBegin));
  PARLEY_ASSIGN_OR_RETURN(Rows head, c.Run(kLockHead, Params().Add(conv.value)));
  if (head.empty()) return MakeError(Errc::kNotFound, "no such conversation");
  const int64_t last_seq = head.Int(0, 0);
  PARLEY_ASSIGN_OR_RETURN(Rows count, c.Run(kCount, Params().Add(conv.value)));
  if (count.Int(0, 0) >= max_per_conv) {
    return MakeError(Errc::kBadRequest,
                     "a conversation has at most " + std::to_string(max_per_conv) + " webhooks");
  }
  Result<Rows> inserted = c.Run(
      kInsert, Params().Add(conv.value).Add(url).Add(secret).Add(created_by.value).Add(now).Add(last_seq));
  if (!inserted.ok()) {
    if (c.last_sqlstate() == kForeignKeyViolation) return MakeError(Errc::kNotFound, "no such user");
    return std::move(inserted).error();
  }
  PARLEY_ASSIGN_OR_RETURN(WebhookRecord made,
                          SelectWebhook(c, inserted->Int(0, 0)));  // as later reads show it
  PARLEY_ASSIGN_OR_RETURN(Rows committed, c.Run(kCommit));
  return made;
}

Result<std::vector<WebhookRecord>> SelectWebhooks(Connection& c, ConversationId conv) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kSelectByConv, Params().Add(conv.value)));
  std::vector<WebhookRecord> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(WebhookFromRow(rows, i));
  return out;
}

Result<WebhookRecord> SelectWebhook(Connection& c, int64_t id) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kSelectOne, Params().Add(id)));
  if (rows.empty()) return MakeError(Errc::kNotFound, "no such webhook");
  return WebhookFromRow(rows, 0);
}

Result<bool> RemoveWebhook(Connection& c, ConversationId conv, int64_t id) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kDelete, Params().Add(conv.value).Add(id)));
  return rows.affected() > 0;
}

Result<std::vector<int64_t>> SelectDueWebhooks(Connection& c, const std::string& owner, TimeMs now,
                                               int limit) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kDue, Params().Add(owner).Add(now).Add(int64_t{limit})));
  std::vector<int64_t> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(rows.Int(i, 0));
  return out;
}

Result<bool> SelectAnyWebhook(Connection& c) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kAny));
  return !rows.empty() && rows.Int(0, 0) != 0;
}

Result<std::optional<WebhookRecord>> TakeWebhookLease(Connection& c, int64_t id, const std::string& owner,
                                                      TimeMs now, TimeMs lease_until) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows,
                          c.Run(kTakeLease, Params().Add(owner).Add(now).Add(lease_until).Add(id)));
  if (rows.empty()) return std::optional<WebhookRecord>();
  return std::optional<WebhookRecord>(WebhookFromRow(rows, 0));
}

Result<bool> MoveWebhookCursor(Connection& c, int64_t id, const std::string& owner, int64_t seq,
                               TimeMs lease_until) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows,
                          c.Run(kMoveCursor, Params().Add(id).Add(owner).Add(seq).Add(lease_until)));
  return rows.affected() > 0;
}

Result<bool> NoteWebhookFailure(Connection& c, int64_t id, const std::string& owner, TimeMs now,
                                TimeMs next_attempt_at) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows,
                          c.Run(kNoteFailure, Params().Add(id).Add(owner).Add(now).Add(next_attempt_at)));
  return rows.affected() > 0;
}

Result<void> GiveUpWebhookLease(Connection& c, int64_t id, const std::string& owner) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kGiveUp, Params().Add(id).Add(owner)));
  return Ok();
}

}  // namespace parley::store::postgres
