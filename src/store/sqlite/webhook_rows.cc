#include "store/sqlite/webhook_rows.h"

namespace parley::store::sqlite {
namespace {

#define SQLITE_WEBHOOK_COLUMNS \
  "id, conv, url, secret, created_by, created_at, cursor, failing_since, next_attempt_at, attempts"
constexpr std::string_view kConvHead = "SELECT last_seq FROM conversations WHERE id = ?1";
constexpr std::string_view kCountWebhooks = "SELECT count(*) FROM webhooks WHERE conv = ?1";
constexpr std::string_view kInsertWebhook =
    "INSERT INTO webhooks(conv, url, secret, created_by, created_at, cursor) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr std::string_view kSelectWebhooks =
    "SELECT " SQLITE_WEBHOOK_COLUMNS " FROM webhooks WHERE conv = ?1 ORDER BY id";
constexpr std::string_view kSelectWebhook = "SELECT " SQLITE_WEBHOOK_COLUMNS " FROM webhooks WHERE id = ?1";
constexpr std::string_view kDeleteWebhook = "DELETE FROM webhooks WHERE conv = ?1 AND id = ?2";
// A lease is free when it expired or is the asker's own.
#define SQLITE_LEASE_FREE "(w.lease_until <= ?2 OR w.lease_owner = ?1)"
constexpr std::string_view kAnyWebhook = "SELECT EXISTS (SELECT 1 FROM webhooks)";
constexpr std::string_view kDueWebhooks =
    "SELECT w.id FROM webhooks w JOIN conversations c ON c.id = w.conv "
    "WHERE c.last_seq > w.cursor AND w.next_attempt_at <= ?2 AND " SQLITE_LEASE_FREE
    " ORDER BY w.next_attempt_at, w.id LIMIT ?3";
constexpr std::string_view kTakeLease =
    "UPDATE webhooks AS w SET lease_owner = ?1, lease_until = ?3 WHERE w.id = ?4 AND " SQLITE_LEASE_FREE;
constexpr std::string_view kMoveCursor =
    "UPDATE webhooks SET cursor = max(cursor, ?3), failing_since = NULL, attempts = 0, next_attempt_at = 0, "
    "lease_until = ?4 WHERE id = ?1 AND lease_owner = ?2";
constexpr std::string_view kNoteFailure =
    "UPDATE webhooks SET failing_since = coalesce(failing_since, ?3), attempts = attempts + 1, "
    "next_attempt_at = ?4, lease_owner = NULL, lease_until = 0 WHERE id = ?1 AND lease_owner = ?2";
constexpr std::string_view kGiveUpLease =
    "UPDATE webhooks SET lease_owner = NULL, lease_until = 0 WHERE id = ?1 AND lease_owner = ?2";

WebhookRecord WebhookFromRow(const Query& q) {
  WebhookRecord w;
  w.id = q.Int(0);
  w.conv = ConversationId(q.Int(1));
  w.url = q.Text(2);
  w.secret = q.Text(3);
  w.created_by = UserId(q.Int(4));
  w.created_at = q.Int(5);
  w.cursor = q.Int(6);
  if (!q.IsNull(7)) w.failing_since = q.Int(7);
  w.next_attempt_at = q.Int(8);
  w.attempts = q.Int(9);
  return w;
}

}  // namespace

Result<WebhookRecord> InsertWebhook(Connection& c, ConversationId conv, const std::string& url,
                                    const std::string& secret, UserId created_by, int max_per_conv,
                                    TimeMs now) {
  PARLEY_ASSIGN_OR_RETURN(Query head, c.Prepare(kConvHead));
  head.Bind(1, conv.value);
  PARLEY_ASSIGN_OR_RETURN(bool found, head.Step());
  if (!found) return MakeError(Errc::kNotFound, "no such conversation");
  const int64_t last_seq = head.Int(0);
  PARLEY_ASSIGN_OR_RETURN(Query count, c.Prepare(kCountWebhooks));
  count.Bind(1, conv.value);
  PARLEY_ASSIGN_OR_RETURN(bool counted, count.Step());
  if (counted && count.Int(0) >= max_per_conv) {
    return MakeError(Errc::kBadRequest,
                     "a conversation has at most " + std::to_string(max_per_conv) + " webhooks");
  }
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kInsertWebhook));
  q.Bind(1, conv.value).Bind(2, url).Bind(3, secret).Bind(4, created_by.value).Bind(5, now).Bind(6, last_seq);
  if (Result<void> r = q.Run(); !r.ok()) {
    if (IsForeignKeyViolation(q.last_rc())) return MakeError(Errc::kNotFound, "no such user");
    return r.error();
  }
  return SelectWebhook(c, c.LastInsertRowid());  // as every later read shows it
}

Result<std::vector<WebhookRecord>> SelectWebhooks(Connection& c, ConversationId conv) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kSelectWebhooks));
  q.Bind(1, conv.value);
  std::vector<WebhookRecord> out;
  while (true) {
    PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(WebhookFromRow(q));
  }
  return out;
}

Result<WebhookRecord> SelectWebhook(Connection& c, int64_t id) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kSelectWebhook));
  q.Bind(1, id);
  PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return MakeError(Errc::kNotFound, "no such webhook");
  return WebhookFromRow(q);
}

Result<bool> RemoveWebhook(Connection& c, ConversationId conv, int64_t id) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kDeleteWebhook));
  q.Bind(1, conv.value).Bind(2, id);
  if (Result<void> r = q.Run(); !r.ok()) return r.error();
  return c.Changes() > 0;
}

Result<std::vector<int64_t>> SelectDueWebhooks(Connection& c, const std::string& owner, TimeMs now,
                                               int limit) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kDueWebhooks));
  q.Bind(1, owner).Bind(2, now).Bind(3, limit);
  std::vector<int64_t> out;
  while (true) {
    PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(q.Int(0));
  }
  return out;
}

Result<bool> SelectAnyWebhook(Connection& c) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kAnyWebhook));
  PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
  return row && q.Int(0) != 0;
}

Result<std::optional<WebhookRecord>> TakeWebhookLease(Connection& c, int64_t id, const std::string& owner,
                                                      TimeMs now, TimeMs lease_until) {
  {
    PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kTakeLease));
    q.Bind(1, owner).Bind(2, now).Bind(3, lease_until).Bind(4, id);
    if (Result<void> r = q.Run(); !r.ok()) return r.error();
  }
  if (c.Changes() == 0) return std::optional<WebhookRecord>();
  PARLEY_ASSIGN_OR_RETURN(WebhookRecord w, SelectWebhook(c, id));
  return std::optional<WebhookRecord>(std::move(w));
}

Result<bool> MoveWebhookCursor(Connection& c, int64_t id, const std::string& owner, int64_t seq,
                               TimeMs lease_until) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kMoveCursor));
  q.Bind(1, id).Bind(2, owner).Bind(3, seq).Bind(4, lease_until);
  if (Result<void> r = q.Run(); !r.ok()) return r.error();
  return c.Changes() > 0;
}

Result<bool> NoteWebhookFailure(Connection& c, int64_t id, const std::string& owner, TimeMs now,
                                TimeMs next_attempt_at) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kNoteFailure));
  q.Bind(1, id).Bind(2, owner).Bind(3, now).Bind(4, next_attempt_at);
  if (Result<void> r = q.Run(); !r.ok()) return r.error();
  return c.Changes() > 0;
}

Result<void> GiveUpWebhookLease(Connection& c, int64_t id, const std::string& owner) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kGiveUpLease));
  q.Bind(1, id).Bind(2, owner);
  return q.Run();
}

}  // namespace parley::store::sqlite
