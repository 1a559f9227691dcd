#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/entry_folder.h"
#include "store/errors.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/entry_db.h"
#include "store/sqlite/index_work.h"
#include "store/sqlite/move_entries.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/push_rows.h"
#include "store/sqlite/search_index.h"
#include "store/sqlite/upload_rows.h"
#include "store/sqlite/webhook_rows.h"

// Early returns for Result values (local to this file).
#define SQLITE_STORE_CONCAT_INNER(a, b) a##b
#define SQLITE_STORE_CONCAT(a, b) SQLITE_STORE_CONCAT_INNER(a, b)
#define SQLITE_STORE_TRY(expr)                                                 \
  do {                                                                         \
    auto sqlite_store_try_result = (expr);                                     \
    if (!sqlite_store_try_result.ok()) return sqlite_store_try_result.error(); \
  } while (0)
#define SQLITE_STORE_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).error();  \
  lhs = std::move(tmp).value()
#define SQLITE_STORE_ASSIGN(lhs, expr) \
  SQLITE_STORE_ASSIGN_IMPL(SQLITE_STORE_CONCAT(sqlite_store_assign_, __LINE__), lhs, expr)

namespace parley::store::sqlite {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int kMaxHistoryLimit = 500;
// How often a batch's SQLite transaction is fsynced (see CommitBatch): the
// work of the batches in between stays in RocksDB until then.
constexpr int64_t kBatchesPerSync = 256;
constexpr std::chrono::milliseconds kSyncInterval{1000};
// Page cache per connection. The writer's is larger: a batch spread over many
// conversations dirties many leaf pages, and re-reading them costs more than
// the memory (measured, when the entries were still in SQLite: ~10-30% more
// messages/s on 1,000-message batches; its share now is the search index and
// the conversations' and members' rows, not measured again yet).
constexpr std::string_view kWriterCachePragma = "PRAGMA cache_size = -32768";  // 32 MiB
constexpr std::string_view kReaderCachePragma = "PRAGMA cache_size = -8192";   // 8 MiB

// --- SQL ---------------------------------------------------------------------
// Every statement is a constant so each connection prepares it once.

constexpr std::string_view kInsertUser =
    "INSERT INTO users(username, display_name, password_hash, created_at) VALUES(?1, ?2, ?3, ?4)";
// What UserFromRow reads, in its order.
#define SQLITE_USER_COLUMNS \
  "id, username, display_name, last_seen, password_hash, token_epoch, deleted_at IS NOT NULL, bot_owner"
constexpr std::string_view kUserByName = "SELECT " SQLITE_USER_COLUMNS " FROM users WHERE username = ?1";
constexpr std::string_view kUserById = "SELECT " SQLITE_USER_COLUMNS " FROM users WHERE id = ?1";
constexpr std::string_view kUserByApiKey =
    "SELECT " SQLITE_USER_COLUMNS " FROM users WHERE api_key_hash = ?1";
constexpr std::string_view kInsertBot =
    "INSERT INTO users(username, display_name, password_hash, created_at, bot_owner, api_key_hash) "
    "VALUES(?1, ?2, '!bot', ?3, ?4, ?5) RETURNING " SQLITE_USER_COLUMNS;
constexpr std::string_view kCountBots =
    "SELECT count(*) FROM users WHERE bot_owner = ?1 AND deleted_at IS NULL";
constexpr std::string_view kBotsOf =
    "SELECT " SQLITE_USER_COLUMNS " FROM users WHERE bot_owner = ?1 AND deleted_at IS NULL ORDER BY id";
constexpr std::string_view kSetLastSeen = "UPDATE users SET last_seen = ?2 WHERE id = ?1";
constexpr std::string_view kSetDisplayName =
    "UPDATE users SET display_name = ?2 WHERE id = ?1 AND deleted_at IS NULL RETURNING " SQLITE_USER_COLUMNS;
constexpr std::string_view kAuthState =
    "SELECT token_epoch, deleted_at IS NOT NULL, disabled_at IS NOT NULL FROM users WHERE id = ?1";
constexpr std::string_view kSetPassword =
    "UPDATE users SET password_hash = ?2, token_epoch = token_epoch + 1 "
    "WHERE id = ?1 AND deleted_at IS NULL RETURNING token_epoch";
constexpr std::string_view kBumpEpoch =
    "UPDATE users SET token_epoch = token_epoch + 1 WHERE id = ?1 AND deleted_at IS NULL RETURNING "
    "token_epoch";
// The hash of a deleted account: not a libsodium hash string, so no password
// verifies against it.
constexpr std::string_view kDeleteUser =
    "UPDATE users SET password_hash = '!deleted', display_name = username, token_epoch = token_epoch + 1, "
    "deleted_at = ?2, api_key_hash = NULL WHERE id = ?1 AND deleted_at IS NULL RETURNING token_epoch";

constexpr std::string_view kInsertToken =
    "INSERT INTO refresh_tokens(hash, user, expires_at, used, family) VALUES(?1, ?2, ?3, 0, ?4)";
constexpr std::string_view kTokenByHash =
    "SELECT user, family, used, expires_at FROM refresh_tokens WHERE hash = ?1";
constexpr std::string_view kUseToken = "UPDATE refresh_tokens SET used = 1 WHERE hash = ?1";
constexpr std::string_view kFamilyOfToken = "SELECT family FROM refresh_tokens WHERE hash = ?1";
constexpr std::string_view kRevokeFamily = "DELETE FROM refresh_tokens WHERE family = ?1";
constexpr std::string_view kRevokeUserTokens = "DELETE FROM refresh_tokens WHERE user = ?1";
constexpr std::string_view kDeleteExpiredTokens = "DELETE FROM refresh_tokens WHERE expires_at <= ?1";

constexpr std::string_view kInsertConversation =
    "INSERT INTO conversations(kind, title, last_seq, member_count, created_at, last_activity) "
    "VALUES(?1, ?2, 0, ?3, ?4, ?4)";
constexpr std::string_view kConversationById =
    "SELECT kind, title, last_seq, member_count, topic FROM conversations WHERE id = ?1";
constexpr std::string_view kLastSeq = "SELECT last_seq FROM conversations WHERE id = ?1";
constexpr std::string_view kMembership =
    "SELECT m.role, c.last_seq FROM conversations c LEFT JOIN members m ON m.conv = c.id AND m.user = ?2 "
    "WHERE c.id = ?1";
constexpr std::string_view kAdjustMemberCount =
    "UPDATE conversations SET member_count = member_count + ?2 WHERE id = ?1";
constexpr std::string_view kConversationsOfUser =
    "SELECT c.id, c.kind, c.title, c.last_seq, c.member_count, m.read_seq, c.topic, m.notify "
    "FROM members m JOIN conversations c ON c.id = m.conv "
    "WHERE m.user = ?1 ORDER BY c.last_activity DESC, c.id DESC";

// The conversations a user has made entries in (EntryDb::ConversationsOf),
// one by one, when the user is no longer a member.
constexpr std::string_view kFormerConversation =
    "SELECT c.id, c.kind, c.title, c.last_seq, c.member_count, 0, c.topic, NULL FROM conversations c "
    "WHERE c.id = ?1 AND NOT EXISTS (SELECT 1 FROM members m WHERE m.conv = c.id AND m.user = ?2)";

// A new member joins after every current one (`joined`, for ownership to
// pass on in order) with its read marker at ?4.
constexpr std::string_view kInsertMember =
    "INSERT OR IGNORE INTO members(conv, user, role, read_seq, joined) "
    "VALUES(?1, ?2, ?3, ?4, (SELECT coalesce(max(joined), 0) + 1 FROM members WHERE conv = ?1))";
constexpr std::string_view kDeleteMember = "DELETE FROM members WHERE conv = ?1 AND user = ?2";
constexpr std::string_view kMember =
    "SELECT role, read_seq, notify FROM members WHERE conv = ?1 AND user = ?2";
constexpr std::string_view kMembersPage =
    "SELECT m.user, u.username, m.role, m.read_seq, u.display_name FROM members m JOIN users u ON u.id = "
    "m.user "
    "WHERE m.conv = ?1 AND m.user > ?2 ORDER BY m.user LIMIT ?3";
constexpr std::string_view kSetReadSeq = "UPDATE members SET read_seq = ?3 WHERE conv = ?1 AND user = ?2";
constexpr std::string_view kPresenceContacts =
    "SELECT DISTINCT other.user FROM members mine "
    "JOIN conversations c ON c.id = mine.conv "
    "JOIN members other ON other.conv = mine.conv "
    "WHERE mine.user = ?1 AND other.user <> ?1 AND (c.kind = 'dm' OR c.member_count <= ?2)";

// Whether ?2 shares a conversation with ?1: ?2's memberships, each looked
// up in ?1's (members' primary key is (conv, user)).
constexpr std::string_view kSharesAConversation =
    "SELECT 1 FROM members theirs JOIN members mine ON mine.conv = theirs.conv AND mine.user = ?1 "
    "WHERE theirs.user = ?2 LIMIT 1";

// §7: roles, bans, settings, invites, blocks.
constexpr std::string_view kOwnerOf = "SELECT user FROM members WHERE conv = ?1 AND role = 'owner'";
constexpr std::string_view kSetRole = "UPDATE members SET role = ?3 WHERE conv = ?1 AND user = ?2";
// Who becomes owner when the owner leaves: the admin who joined first, else
// the member who joined first.
constexpr std::string_view kSuccessor =
    "SELECT user FROM members WHERE conv = ?1 ORDER BY role <> 'admin', joined, user LIMIT 1";
constexpr std::string_view kIsBanned = "SELECT 1 FROM bans WHERE conv = ?1 AND user = ?2";
constexpr std::string_view kInsertBan =
    "INSERT OR IGNORE INTO bans(conv, user, by_user, created_at) VALUES(?1, ?2, ?3, ?4)";
constexpr std::string_view kDeleteBan = "DELETE FROM bans WHERE conv = ?1 AND user = ?2";
constexpr std::string_view kUpdateGroup =
    "UPDATE conversations SET title = coalesce(?2, title), topic = coalesce(?3, topic) "
    "WHERE id = ?1 AND kind = 'group'";
constexpr std::string_view kKindOf = "SELECT kind FROM conversations WHERE id = ?1";
constexpr std::string_view kInsertInvite =
    "INSERT INTO invites(code, conv, created_by, max_uses, uses, expires_at, created_at) "
    "VALUES(?1, ?2, ?3, ?4, 0, ?5, ?6)";
// Columns: the conversation, its member count, whether ?3 is a member.
constexpr std::string_view kUsableInvite =
    "SELECT i.conv, c.member_count, EXISTS(SELECT 1 FROM members m WHERE m.conv = i.conv AND m.user = ?3) "
    "FROM invites i JOIN conversations c ON c.id = i.conv "
    "WHERE i.code = ?1 AND i.expires_at > ?2 AND (i.max_uses IS NULL OR i.uses < i.max_uses)";
constexpr std::string_view kUseInvite = "UPDATE invites SET uses = uses + 1 WHERE code = ?1";
constexpr std::string_view kDeleteInvite = "DELETE FROM invites WHERE conv = ?1 AND code = ?2";
constexpr std::string_view kInsertBlock =
    "INSERT OR IGNORE INTO blocks(blocker, blocked, created_at) VALUES(?1, ?2, ?3)";
constexpr std::string_view kDeleteBlock = "DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2";
constexpr std::string_view kBlockedUsers = "SELECT " SQLITE_USER_COLUMNS
                                           " FROM blocks JOIN users ON users.id = blocks.blocked "
                                           "WHERE blocks.blocker = ?1 ORDER BY users.id";
constexpr std::string_view kIsBlocked = "SELECT 1 FROM blocks WHERE blocker = ?1 AND blocked = ?2";
// Whether `conv` is a DM whose other member blocks ?2 (who may then not
// send into it).
constexpr std::string_view kBlockedInDm =
    "SELECT 1 FROM conversations c JOIN members o ON o.conv = c.id AND o.user <> ?2 "
    "JOIN blocks b ON b.blocker = o.user AND b.blocked = ?2 WHERE c.id = ?1 AND c.kind = 'dm'";

// §7: server administration.
constexpr std::string_view kListUsers =
    "SELECT id, username, display_name, last_seen, created_at, disabled_at IS NOT NULL FROM users "
    "WHERE id > ?1 AND deleted_at IS NULL ORDER BY id LIMIT ?2";
constexpr std::string_view kDisableUser =
    "UPDATE users SET disabled_at = coalesce(disabled_at, ?2), token_epoch = token_epoch + 1 "
    "WHERE id = ?1 AND deleted_at IS NULL RETURNING token_epoch";
constexpr std::string_view kEnableUser =
    "UPDATE users SET disabled_at = NULL WHERE id = ?1 AND deleted_at IS NULL RETURNING token_epoch";
constexpr std::string_view kTotals =
    "SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL), (SELECT count(*) FROM conversations), "
    "(SELECT coalesce(sum(last_seq), 0) FROM conversations)";

constexpr std::string_view kDmOfPair = "SELECT conv FROM dms WHERE user_lo = ?1 AND user_hi = ?2";
constexpr std::string_view kInsertDm = "INSERT INTO dms(user_lo, user_hi, conv) VALUES(?1, ?2, ?3)";

// Search (PROTOCOL.md §6): the index newest first (rowid order is ts order,
// see search_index.h), each match joined to the viewer's membership of its
// conversation, so the page stops at ?4 rows the viewer may read and no
// other row is read. The entries themselves are read from RocksDB.
#define SQLITE_SEARCH_SQL(conv_filter)                                             \
  "SELECT message_search.rowid, message_search.conv_id, message_search.entry_seq " \
  "FROM message_search "                                                           \
  "JOIN members ON members.conv = message_search.conv_id AND members.user = ?2 "   \
  "WHERE message_search MATCH ?1 AND message_search.rowid < ?3 " conv_filter       \
  "ORDER BY message_search.rowid DESC LIMIT ?4"
constexpr std::string_view kSearch = SQLITE_SEARCH_SQL("");
constexpr std::string_view kSearchInConv = SQLITE_SEARCH_SQL("AND message_search.conv_id = ?5 ");
#undef SQLITE_SEARCH_SQL

// CommitBatch's reads for the folder (store/entry_folder.h) that SQLite answers.
constexpr std::string_view kMemberNamed =
    "SELECT u.id FROM users u JOIN members m ON m.conv = ?1 AND m.user = u.id WHERE u.username = ?2";

// Rebuilding what SQLite derives from the entries (Reconcile).
constexpr std::string_view kAllConversations = "SELECT id, last_seq FROM conversations";
constexpr std::string_view kSetLastSeq = "UPDATE conversations SET last_seq = ?2 WHERE id = ?1";
constexpr std::string_view kClampReadSeqs =
    "UPDATE members SET read_seq = (SELECT last_seq FROM conversations c WHERE c.id = members.conv) "
    "WHERE read_seq > (SELECT last_seq FROM conversations c WHERE c.id = members.conv)";
constexpr std::string_view kClearAttachments = "DELETE FROM attachments";
constexpr std::string_view kEnsureSequence =
    "INSERT INTO sqlite_sequence(name, seq) SELECT ?1, 0 "
    "WHERE NOT EXISTS(SELECT 1 FROM sqlite_sequence WHERE name = ?1)";
constexpr std::string_view kRaiseSequence = "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1";

// --- helpers -----------------------------------------------------------------

std::optional<Role> ParseRole(std::string_view s) {
  if (s == "owner") return Role::kOwner;
  if (s == "admin") return Role::kAdmin;
  if (s == "member") return Role::kMember;
  return std::nullopt;
}

Result<Role> RoleColumn(const Query& q, int column) {
  std::string text = q.Text(column);
  std::optional<Role> role = ParseRole(text);
  if (!role) return MakeError(Errc::kInternal, "sqlite: corrupt role '" + text + "'");
  return *role;
}

Result<ConversationKind> KindColumn(const Query& q, int column) {
  std::string text = q.Text(column);
  if (text == "dm") return ConversationKind::kDm;
  if (text == "group") return ConversationKind::kGroup;
  return MakeError(Errc::kInternal, "sqlite: corrupt conversation kind '" + text + "'");
}

// Columns: SQLITE_USER_COLUMNS.
UserRecord UserFromRow(const Query& q) {
  UserRecord r;
  r.user.id = UserId(q.Int(0));
  r.user.username = q.Text(1);
  r.user.display_name = q.Text(2);
  if (!q.IsNull(3)) r.user.last_seen = q.Int(3);
  r.password_hash = q.Text(4);
  r.token_epoch = q.Int(5);
  r.deleted = q.Int(6) != 0;
  if (!q.IsNull(7)) r.bot_owner = UserId(q.Int(7));
  r.user.bot = r.bot_owner.valid();
  return r;
}

// Runs an UPDATE ... RETURNING token_epoch on `user`, then revokes every
// refresh token of the user. kNotFound when no row matched.
Result<int64_t> BumpEpochAndRevoke(Connection& c, Query& update, UserId user) {
  SQLITE_STORE_ASSIGN(bool row, update.Step());
  if (!row) return MakeError(Errc::kNotFound, "no user with id " + user.ToString());
  const int64_t epoch = update.Int(0);
  SQLITE_STORE_TRY(update.Run());  // finish the statement
  SQLITE_STORE_ASSIGN(Query revoke, c.Prepare(kRevokeUserTokens));
  revoke.Bind(1, user.value);
  SQLITE_STORE_TRY(revoke.Run());
  return epoch;
}

// The viewer's unread_count and mentions_unread of `conv` from `read_seq` on.
Result<void> CountUnread(EntryDb& entries, const EntryDb::View& view, Conversation& conv, UserId viewer) {
  SQLITE_STORE_ASSIGN(conv.unread_count, entries.CountUnread(conv.id, conv.read_seq, viewer, &view));
  SQLITE_STORE_ASSIGN(conv.mentions_unread, entries.CountMentions(conv.id, viewer, conv.read_seq, &view));
  return Ok();
}

// What the folder reads, inside the commit: entries and reactions from
// RocksDB, roles and names from SQLite on the writer in its transaction.
class WriterSource final : public EntrySource {
 public:
  WriterSource(Connection& c, EntryDb& entries) : c_(c), entries_(entries) {}

  Result<std::optional<EntryRow>> Entry(ConversationId conv, int64_t seq) override {
    SQLITE_STORE_ASSIGN(std::optional<Message> m, entries_.Get(conv, seq));
    if (!m) return std::optional<EntryRow>();
    return std::optional<EntryRow>(EntryRow{m->kind, m->sender, m->deleted});
  }

  Result<Role> RoleOf(ConversationId conv, UserId user) override {
    SQLITE_STORE_ASSIGN(Query q, c_.Prepare(kMember));
    q.Bind(1, conv.value).Bind(2, user.value);
    SQLITE_STORE_ASSIGN(bool row, q.Step());
    if (!row) return MakeError(Errc::kForbidden, "user " + user.ToString() + " is not a member");
    return RoleColumn(q, 0);
  }

  Result<std::vector<std::string>> Held(ConversationId conv, int64_t target, UserId user) override {
    return entries_.Held(conv, target, user);
  }

  Result<std::optional<EmojiCount>> Count(ConversationId conv, int64_t target,
                                          const std::string& emoji) override {
    return entries_.Count(conv, target, emoji);
  }

  Result<std::map<std::string, UserId, std::less<>>> MembersNamed(
      ConversationId conv, std::span<const std::string> names) override {
    std::map<std::string, UserId, std::less<>> out;
    for (const std::string& name : names) {
      if (out.contains(name)) continue;
      SQLITE_STORE_ASSIGN(Query q, c_.Prepare(kMemberNamed));
      q.Bind(1, conv.value).Bind(2, name);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (row) out.emplace(name, UserId(q.Int(0)));
    }
    return out;
  }

 private:
  Connection& c_;
  EntryDb& entries_;
};

// Runs one statement bound to (conv, seq-like key, ...) by `bind`.
template <class Bind>
Result<void> RunWith(Connection& c, std::string_view sql, Bind&& bind) {
  SQLITE_STORE_ASSIGN(Query q, c.Prepare(sql));
  bind(q);
  return q.Run();
}

// A page of entries as History and Search serve it: attachments without
// their url, none once deleted.
void ServeAttachments(std::vector<Message>& page) {
  for (Message& m : page) {
    if (m.deleted) m.attachments.clear();
  }
}

Error NoConversation(ConversationId id) {
  return MakeError(Errc::kNotFound, "conversation " + id.ToString() + " does not exist");
}

// Rewrites a foreign key violation on inserting members as "no such user".
Error MemberInsertError(const Query& q, Error error) {
  if (IsForeignKeyViolation(q.last_rc()))
    return MakeError(Errc::kNotFound, "a member is not an existing user");
  return error;
}

Result<bool> ConversationExists(Connection& c, ConversationId id) {
  SQLITE_STORE_ASSIGN(Query q, c.Prepare(kLastSeq));
  q.Bind(1, id.value);
  return q.Step();
}

Result<std::vector<Member>> MembersPage(Connection& c, ConversationId conv, UserId after, int limit) {
  std::vector<Member> out;
  if (limit <= 0) return out;
  SQLITE_STORE_ASSIGN(Query q, c.Prepare(kMembersPage));
  q.Bind(1, conv.value).Bind(2, after.value).Bind(3, static_cast<int64_t>(limit));
  for (;;) {
    SQLITE_STORE_ASSIGN(bool row, q.Step());
    if (!row) break;
    SQLITE_STORE_ASSIGN(Role role, RoleColumn(q, 2));
    out.push_back(Member{UserId(q.Int(0)), q.Text(1), role, q.Int(3), q.Text(4)});
  }
  return out;
}

// Inserts the conversation row and its members (owner first); returns its id.
Result<ConversationId> InsertConversation(Connection& c, ConversationKind kind, const std::string* title,
                                          const std::vector<std::pair<UserId, Role>>& members, TimeMs now) {
  {
    SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertConversation));
    q.Bind(1, KindName(kind));
    if (title != nullptr) {
      q.Bind(2, std::string_view(*title));
    } else {
      q.BindNull(2);
    }
    q.Bind(3, static_cast<int64_t>(members.size())).Bind(4, now);
    SQLITE_STORE_TRY(q.Run());
  }
  ConversationId id(c.LastInsertRowid());
  for (const auto& [user, role] : members) {
    SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertMember));
    q.Bind(1, id.value).Bind(2, user.value).Bind(3, RoleName(role)).Bind(4, int64_t{0});
    if (Result<void> r = q.Run(); !r.ok()) return MemberInsertError(q, r.error());
  }
  return id;
}

// The role of member `user`; kNotFound when the conversation does not exist
// or `user` is not a member.
Result<Role> MemberRole(Connection& c, ConversationId conv, UserId user) {
  SQLITE_STORE_ASSIGN(Query q, c.Prepare(kMember));
  q.Bind(1, conv.value).Bind(2, user.value);
  SQLITE_STORE_ASSIGN(bool row, q.Step());
  if (row) return RoleColumn(q, 0);
  SQLITE_STORE_ASSIGN(bool exists, ConversationExists(c, conv));
  if (!exists) return NoConversation(conv);
  return MakeError(Errc::kNotFound, "user " + user.ToString() + " is not a member");
}

// Whether a row answers `sql` bound to (a, b).
Result<bool> Exists(Connection& c, std::string_view sql, int64_t a, int64_t b) {
  SQLITE_STORE_ASSIGN(Query q, c.Prepare(sql));
  q.Bind(1, a).Bind(2, b);
  return q.Step();
}

Error GroupFull() { return MakeError(Errc::kBadRequest, "group is full"); }

// The users `sql` (SQLITE_USER_COLUMNS, bound to ?1 = `user`) reads.
Result<std::vector<User>> UsersOf(Connection& c, std::string_view sql, UserId user) {
  SQLITE_STORE_ASSIGN(Query q, c.Prepare(sql));
  q.Bind(1, user.value);
  std::vector<User> out;
  for (;;) {
    SQLITE_STORE_ASSIGN(bool row, q.Step());
    if (!row) break;
    out.push_back(UserFromRow(q).user);
  }
  return out;
}

// Every row of `q` as a conversation without its members and counts.
// Columns: id, kind, title, last_seq, member_count, read_seq, topic, notify.
Result<std::vector<Conversation>> ConversationHeads(Query& q) {
  std::vector<Conversation> out;
  for (;;) {
    SQLITE_STORE_ASSIGN(bool row, q.Step());
    if (!row) break;
    Conversation conv;
    conv.id = ConversationId(q.Int(0));
    SQLITE_STORE_ASSIGN(conv.kind, KindColumn(q, 1));
    if (!q.IsNull(2)) conv.title = q.Text(2);
    conv.last_seq = q.Int(3);
    conv.member_count = q.Int(4);
    conv.read_seq = q.Int(5);
    if (conv.kind == ConversationKind::kGroup) conv.topic = q.Text(6);  // NULL reads as ""
    conv.notify =
        NotifyLevelFromCode(q.IsNull(7) ? std::nullopt : std::optional<int64_t>(q.Int(7)), conv.kind);
    out.push_back(std::move(conv));
  }
  return out;
}

// Inserts a member (none of the conversation's banned users) whose read
// marker starts at the conversation's last_seq, and counts them; false when
// they were a member already. The conversation exists.
Result<bool> JoinIn(Connection& c, ConversationId conv, UserId user, Role role) {
  SQLITE_STORE_ASSIGN(bool banned, Exists(c, kIsBanned, conv.value, user.value));
  if (banned) return MakeError(Errc::kForbidden, "user " + user.ToString() + " is banned from this group");
  int64_t last_seq = 0;
  {
    SQLITE_STORE_ASSIGN(Query q, c.Prepare(kLastSeq));
    q.Bind(1, conv.value);
    SQLITE_STORE_ASSIGN(bool row, q.Step());
    if (!row) return NoConversation(conv);
    last_seq = q.Int(0);
  }
  {
    SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertMember));
    q.Bind(1, conv.value).Bind(2, user.value).Bind(3, RoleName(role)).Bind(4, last_seq);
    if (Result<void> r = q.Run(); !r.ok()) {
      if (IsForeignKeyViolation(q.last_rc()))
        return MakeError(Errc::kNotFound, "no user with id " + user.ToString());
      return r.error();
    }
  }
  if (c.Changes() == 0) return false;
  SQLITE_STORE_TRY(
      RunWith(c, kAdjustMemberCount, [&](Query& q) { q.Bind(1, conv.value).Bind(2, int64_t{1}); }));
  return true;
}

// Removes a member and, when it was the owner, passes ownership on
// (kSuccessor); false when they were not a member. The conversation exists.
Result<bool> LeaveIn(Connection& c, ConversationId conv, UserId user) {
  bool was_owner = false;
  {
    SQLITE_STORE_ASSIGN(Query q, c.Prepare(kMember));
    q.Bind(1, conv.value).Bind(2, user.value);
    SQLITE_STORE_ASSIGN(bool row, q.Step());
    if (!row) return false;
    SQLITE_STORE_ASSIGN(Role role, RoleColumn(q, 0));
    was_owner = role == Role::kOwner;
  }
  SQLITE_STORE_TRY(RunWith(c, kDeleteMember, [&](Query& q) { q.Bind(1, conv.value).Bind(2, user.value); }));
  SQLITE_STORE_TRY(
      RunWith(c, kAdjustMemberCount, [&](Query& q) { q.Bind(1, conv.value).Bind(2, int64_t{-1}); }));
  if (!was_owner) return true;
  SQLITE_STORE_ASSIGN(Query next, c.Prepare(kSuccessor));
  next.Bind(1, conv.value);
  SQLITE_STORE_ASSIGN(bool any, next.Step());
  if (!any) return true;  // the last member left
  const int64_t successor = next.Int(0);
  SQLITE_STORE_TRY(next.Run());
  SQLITE_STORE_TRY(RunWith(c, kSetRole, [&](Query& q) {
    q.Bind(1, conv.value).Bind(2, successor).Bind(3, RoleName(Role::kOwner));
  }));
  return true;
}

}  // namespace

// The SQLite store. Owns one writer connection (every write, each in a BEGIN
// IMMEDIATE transaction, serialized by writer_mu_) and a pool of reader
// connections (WAL lets them read while the writer writes; a reader is lent
// to one thread at a time). Any thread may call any method; the object must
// outlive every call.
class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Connection> writer, std::vector<std::unique_ptr<Connection>> readers,
              std::unique_ptr<EntryDb> entries, int64_t batch, bool synchronous_full)
      : writer_(std::move(writer)),
        readers_(std::move(readers)),
        entries_(std::move(entries)),
        batch_(batch),
        applied_(batch),
        durable_(batch),
        synchronous_full_(synchronous_full),
        writer_full_(synchronous_full) {
    for (auto& r : readers_) idle_readers_.push_back(r.get());
  }

  ~SqliteStore() override {
    readers_.clear();  // close readers first so the writer's close checkpoints the WAL
    writer_.reset();
  }

  // --- users -----------------------------------------------------------------
  Result<User> CreateUser(const std::string& username, const std::string& display_name,
                          const std::string& password_hash, TimeMs now) override {
    const std::string& shown = display_name.empty() ? username : display_name;
    return Write([&](Connection& c) -> Result<User> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertUser));
      q.Bind(1, username).Bind(2, shown).Bind(3, password_hash).Bind(4, now);
      if (Result<void> r = q.Run(); !r.ok()) {
        if (q.last_rc() == SQLITE_CONSTRAINT_UNIQUE) return UsernameTaken(username);
        return r.error();
      }
      return User{UserId(c.LastInsertRowid()), username, shown, false, std::nullopt};
    });
  }

  // --- bots (§8) -------------------------------------------------------------------
  Result<User> CreateBot(UserId owner, const std::string& username, const std::string& display_name,
                         const std::string& key_hash, int max_bots, TimeMs now) override {
    const std::string& shown = display_name.empty() ? username : display_name;
    return Write([&](Connection& c) -> Result<User> {
      {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kCountBots));
        q.Bind(1, owner.value);
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (row && q.Int(0) >= max_bots) return TooManyBots(max_bots);
      }
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertBot));
      q.Bind(1, username).Bind(2, shown).Bind(3, now).Bind(4, owner.value).Bind(5, key_hash);
      Result<bool> row = q.Step();
      if (!row.ok()) {
        if (q.last_rc() == SQLITE_CONSTRAINT_UNIQUE) return UsernameTaken(username);
        if (IsForeignKeyViolation(q.last_rc())) return MakeError(Errc::kNotFound, "no such owner");
        return std::move(row).error();
      }
      return UserFromRow(q).user;
    });
  }

  Result<std::vector<User>> ListBots(UserId owner) override {
    return Read([&](Connection& c) { return UsersOf(c, kBotsOf, owner); });
  }

  Result<UserRecord> FindUserByApiKey(const std::string& key_hash) override {
    return Read([&](Connection& c) -> Result<UserRecord> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kUserByApiKey));
      q.Bind(1, key_hash);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return UnknownApiKey();
      return UserFromRow(q);
    });
  }

  Result<UserRecord> FindUserByName(const std::string& username) override {
    return Read([&](Connection& c) -> Result<UserRecord> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kUserByName));
      q.Bind(1, username);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return MakeError(Errc::kNotFound, "no user named '" + username + "'");
      return UserFromRow(q);
    });
  }

  Result<User> FindUserById(UserId id) override {
    return Read([&](Connection& c) -> Result<User> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kUserById));
      q.Bind(1, id.value);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return UserFromRow(q).user;
    });
  }

  Result<std::vector<User>> FindUsersByIds(std::span<const UserId> ids) override {
    std::vector<UserId> unique(ids.begin(), ids.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    return Read(
        [&](Connection& c) -> Result<std::vector<User>> {
          std::vector<User> out;
          out.reserve(unique.size());
          for (UserId id : unique) {
            SQLITE_STORE_ASSIGN(Query q, c.Prepare(kUserById));
            q.Bind(1, id.value);
            SQLITE_STORE_ASSIGN(bool row, q.Step());
            if (row) out.push_back(UserFromRow(q).user);
          }
          return out;
        },
        /*snapshot=*/unique.size() > 1);
  }

  Result<User> SetDisplayName(UserId id, const std::string& display_name) override {
    return Write([&](Connection& c) -> Result<User> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kSetDisplayName));
      q.Bind(1, id.value).Bind(2, display_name);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      User user = UserFromRow(q).user;
      SQLITE_STORE_TRY(q.Run());  // finish the statement
      return user;
    });
  }

  Result<void> SetLastSeenMany(std::span<const LastSeen> seen) override {
    if (seen.empty()) return Ok();
    return Write([&](Connection& c) -> Result<void> {
      for (const LastSeen& s : seen) {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kSetLastSeen));
        q.Bind(1, s.user.value).Bind(2, s.ts);
        SQLITE_STORE_TRY(q.Run());
      }
      return Ok();
    });
  }

  Result<int64_t> DeleteUser(UserId id, TimeMs now) override {
    return Write([&](Connection& c) -> Result<int64_t> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kDeleteUser));
      q.Bind(1, id.value).Bind(2, now);
      return BumpEpochAndRevoke(c, q, id);
    });
  }

  Result<int64_t> SetPassword(UserId id, const std::string& password_hash) override {
    return Write([&](Connection& c) -> Result<int64_t> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kSetPassword));
      q.Bind(1, id.value).Bind(2, password_hash);
      return BumpEpochAndRevoke(c, q, id);
    });
  }

  Result<int64_t> RevokeAllTokens(UserId id) override {
    return Write([&](Connection& c) -> Result<int64_t> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kBumpEpoch));
      q.Bind(1, id.value);
      return BumpEpochAndRevoke(c, q, id);
    });
  }

  Result<AuthState> GetAuthState(UserId id) override {
    return Read([&](Connection& c) -> Result<AuthState> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kAuthState));
      q.Bind(1, id.value);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return AuthState{q.Int(0), q.Int(1) != 0, q.Int(2) != 0};
    });
  }

  // --- refresh tokens ----------------------------------------------------------
  Result<void> PutRefreshToken(const std::string& token_hash, UserId user, TimeMs expires_at,
                               const std::string& family) override {
    if (family.empty()) return MakeError(Errc::kBadRequest, "a refresh token needs a family");
    return Write([&](Connection& c) -> Result<void> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertToken));
      q.Bind(1, token_hash).Bind(2, user.value).Bind(3, expires_at).Bind(4, family);
      if (Result<void> r = q.Run(); !r.ok()) {
        if (IsForeignKeyViolation(q.last_rc())) {
          return MakeError(Errc::kNotFound, "no user with id " + user.ToString());
        }
        if (q.last_rc() == SQLITE_CONSTRAINT_PRIMARYKEY) {
          return MakeError(Errc::kConflict, "refresh token already stored");
        }
        return r.error();
      }
      return Ok();
    });
  }

  Result<RefreshGrant> TakeRefreshToken(const std::string& token_hash, TimeMs now) override {
    // The transaction commits in every case (a replay's revocation must
    // stick); the outcome is decided inside and turned into an error after.
    enum class Outcome { kTaken, kUnknown, kReplayed };
    struct Taken {
      Outcome outcome = Outcome::kUnknown;
      RefreshGrant grant;
    };
    Result<Taken> taken = Write([&](Connection& c) -> Result<Taken> {
      Taken t;
      {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kTokenByHash));
        q.Bind(1, token_hash);
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (row && q.Int(3) > now) {
          t.grant = RefreshGrant{UserId(q.Int(0)), q.Text(1)};
          t.outcome = q.Int(2) != 0 ? Outcome::kReplayed : Outcome::kTaken;
        }
        if (row) SQLITE_STORE_TRY(q.Run());  // finish the statement
      }
      if (t.outcome == Outcome::kTaken) {
        SQLITE_STORE_ASSIGN(Query use, c.Prepare(kUseToken));
        use.Bind(1, token_hash);
        SQLITE_STORE_TRY(use.Run());
      } else if (t.outcome == Outcome::kReplayed) {
        SQLITE_STORE_ASSIGN(Query revoke, c.Prepare(kRevokeFamily));
        revoke.Bind(1, t.grant.family);
        SQLITE_STORE_TRY(revoke.Run());
      }
      if (t.outcome == Outcome::kTaken) {
        // Expired tokens are useless; drop them while we hold the write lock.
        SQLITE_STORE_ASSIGN(Query gc, c.Prepare(kDeleteExpiredTokens));
        gc.Bind(1, now);
        SQLITE_STORE_TRY(gc.Run());
      }
      return t;
    });
    if (!taken.ok()) return std::move(taken).error();
    if (taken->outcome == Outcome::kReplayed) {
      return MakeError(Errc::kUnauthorized, "refresh token used twice: every token of its family is revoked");
    }
    if (taken->outcome != Outcome::kTaken) {
      return MakeError(Errc::kUnauthorized, "refresh token unknown, used or expired");
    }
    return std::move(taken->grant);
  }

  Result<bool> RevokeRefreshFamily(const std::string& token_hash) override {
    return Write([&](Connection& c) -> Result<bool> {
      std::string family;
      {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kFamilyOfToken));
        q.Bind(1, token_hash);
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (!row) return false;
        family = q.Text(0);
        SQLITE_STORE_TRY(q.Run());
      }
      SQLITE_STORE_ASSIGN(Query revoke, c.Prepare(kRevokeFamily));
      revoke.Bind(1, family);
      SQLITE_STORE_TRY(revoke.Run());
      return true;
    });
  }

  // --- conversations and members -------------------------------------------------
  Result<ConversationId> CreateGroup(const std::string& title, UserId owner, std::span<const UserId> members,
                                     TimeMs now) override {
    std::vector<UserId> others(members.begin(), members.end());
    std::sort(others.begin(), others.end());
    others.erase(std::unique(others.begin(), others.end()), others.end());
    std::erase(others, owner);
    std::vector<std::pair<UserId, Role>> rows;
    rows.reserve(others.size() + 1);
    rows.emplace_back(owner, Role::kOwner);
    for (UserId u : others) rows.emplace_back(u, Role::kMember);
    return Write(
        [&](Connection& c) { return InsertConversation(c, ConversationKind::kGroup, &title, rows, now); });
  }

  Result<ConversationId> GetOrCreateDm(UserId a, UserId b, TimeMs now) override {
    if (a == b) return MakeError(Errc::kBadRequest, "a DM needs two different users");
    const UserId lo = std::min(a, b);
    const UserId hi = std::max(a, b);
    auto find = [&](Connection& c) -> Result<std::optional<ConversationId>> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kDmOfPair));
      q.Bind(1, lo.value).Bind(2, hi.value);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return std::optional<ConversationId>();
      return std::optional<ConversationId>(ConversationId(q.Int(0)));
    };
    // Fast path on a reader: the DM usually exists.
    SQLITE_STORE_ASSIGN(std::optional<ConversationId> existing, Read(find));
    if (existing) return *existing;
    return Write([&](Connection& c) -> Result<ConversationId> {
      // Checked again under the write lock: a racing caller may have created it.
      SQLITE_STORE_ASSIGN(std::optional<ConversationId> again, find(c));
      if (again) return *again;
      SQLITE_STORE_ASSIGN(ConversationId id,
                          InsertConversation(c, ConversationKind::kDm, nullptr,
                                             {{lo, Role::kMember}, {hi, Role::kMember}}, now));
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertDm));
      q.Bind(1, lo.value).Bind(2, hi.value).Bind(3, id.value);
      SQLITE_STORE_TRY(q.Run());
      return id;
    });
  }

  Result<Conversation> GetConversation(ConversationId id, UserId viewer) override {
    return Read(
        [&](Connection& c) -> Result<Conversation> {
          EntryDb::View view(*entries_);
          Conversation conv;
          conv.id = id;
          {
            SQLITE_STORE_ASSIGN(Query q, c.Prepare(kConversationById));
            q.Bind(1, id.value);
            SQLITE_STORE_ASSIGN(bool row, q.Step());
            if (!row) return NoConversation(id);
            SQLITE_STORE_ASSIGN(conv.kind, KindColumn(q, 0));
            if (!q.IsNull(1)) conv.title = q.Text(1);
            conv.last_seq = q.Int(2);
            conv.member_count = q.Int(3);
            if (conv.kind == ConversationKind::kGroup) conv.topic = q.Text(4);  // NULL reads as ""
          }
          {
            SQLITE_STORE_ASSIGN(Query q, c.Prepare(kMember));
            q.Bind(1, id.value).Bind(2, viewer.value);
            SQLITE_STORE_ASSIGN(bool row, q.Step());
            if (row) conv.read_seq = q.Int(1);
            conv.notify = NotifyLevelFromCode(
                row && !q.IsNull(2) ? std::optional<int64_t>(q.Int(2)) : std::nullopt, conv.kind);
            if (row) SQLITE_STORE_TRY(CountUnread(*entries_, view, conv, viewer));
          }
          SQLITE_STORE_ASSIGN(conv.members, MembersPage(c, id, UserId(0), kInlineMembers));
          return conv;
        },
        /*snapshot=*/true);
  }

  Result<std::vector<Conversation>> ListConversations(UserId user) override {
    return Read(
        [&](Connection& c) -> Result<std::vector<Conversation>> {
          std::vector<Conversation> out;
          {
            SQLITE_STORE_ASSIGN(Query q, c.Prepare(kConversationsOfUser));
            q.Bind(1, user.value);
            SQLITE_STORE_ASSIGN(out, ConversationHeads(q));
          }
          EntryDb::View view(*entries_);
          for (Conversation& conv : out) {
            SQLITE_STORE_ASSIGN(conv.members, MembersPage(c, conv.id, UserId(0), kInlineMembers));
            SQLITE_STORE_TRY(CountUnread(*entries_, view, conv, user));
          }
          return out;
        },
        /*snapshot=*/true);
  }

  Result<std::vector<Conversation>> ListConversationHeads(UserId user) override {
    return Read([&](Connection& c) -> Result<std::vector<Conversation>> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kConversationsOfUser));
      q.Bind(1, user.value);
      return ConversationHeads(q);
    });
  }

  Result<std::vector<Conversation>> FormerConversations(UserId user) override {
    SQLITE_STORE_ASSIGN(std::vector<ConversationId> ids, entries_->ConversationsOf(user));
    return Read(
        [&](Connection& c) -> Result<std::vector<Conversation>> {
          std::vector<Conversation> out;
          for (ConversationId id : ids) {
            SQLITE_STORE_ASSIGN(Query q, c.Prepare(kFormerConversation));
            q.Bind(1, id.value).Bind(2, user.value);
            SQLITE_STORE_ASSIGN(std::vector<Conversation> one, ConversationHeads(q));
            for (Conversation& conv : one) out.push_back(std::move(conv));
          }
          return out;
        },
        /*snapshot=*/true);
  }

  Result<std::optional<Role>> GetRole(ConversationId conv, UserId user) override {
    SQLITE_STORE_ASSIGN(Membership m, GetMembership(conv, user));
    return m.role;
  }

  Result<Membership> GetMembership(ConversationId conv, UserId user) override {
    return Read([&](Connection& c) -> Result<Membership> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kMembership));
      q.Bind(1, conv.value).Bind(2, user.value);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return NoConversation(conv);
      Membership m{std::nullopt, q.Int(1)};
      if (!q.IsNull(0)) {
        SQLITE_STORE_ASSIGN(Role role, RoleColumn(q, 0));
        m.role = role;
      }
      return m;
    });
  }

  Result<void> AddMember(ConversationId conv, UserId user, Role role) override {
    return Write([&](Connection& c) -> Result<void> {
      SQLITE_STORE_ASSIGN(bool exists, ConversationExists(c, conv));
      if (!exists) return NoConversation(conv);
      SQLITE_STORE_TRY(JoinIn(c, conv, user, role));
      return Ok();
    });
  }

  Result<bool> RemoveMember(ConversationId conv, UserId user) override {
    return Write([&](Connection& c) -> Result<bool> {
      SQLITE_STORE_ASSIGN(bool exists, ConversationExists(c, conv));
      if (!exists) return NoConversation(conv);
      return LeaveIn(c, conv, user);
    });
  }

  Result<std::vector<Member>> ListMembers(ConversationId conv, UserId after, int limit) override {
    return Read([&](Connection& c) { return MembersPage(c, conv, after, limit); });
  }

  Result<std::vector<UserId>> PresenceContacts(UserId user, int group_limit) override {
    return Read([&](Connection& c) -> Result<std::vector<UserId>> {
      std::vector<UserId> out;
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kPresenceContacts));
      q.Bind(1, user.value).Bind(2, static_cast<int64_t>(group_limit));
      for (;;) {
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (!row) break;
        out.emplace_back(q.Int(0));
      }
      return out;
    });
  }

  Result<std::vector<UserId>> SharingAConversation(UserId viewer, std::span<const UserId> users) override {
    std::vector<UserId> unique(users.begin(), users.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    return Read(
        [&](Connection& c) -> Result<std::vector<UserId>> {
          std::vector<UserId> out;
          for (UserId u : unique) {
            if (u == viewer) continue;
            SQLITE_STORE_ASSIGN(bool shares, Exists(c, kSharesAConversation, viewer.value, u.value));
            if (shares) out.push_back(u);
          }
          return out;
        },
        /*snapshot=*/unique.size() > 1);
  }

  // --- groups: roles, bans, settings, invites (§7) ---------------------------------
  Result<std::optional<UserId>> Owner(ConversationId conv) override {
    return Read(
        [&](Connection& c) -> Result<std::optional<UserId>> {
          SQLITE_STORE_ASSIGN(bool exists, ConversationExists(c, conv));
          if (!exists) return NoConversation(conv);
          SQLITE_STORE_ASSIGN(Query q, c.Prepare(kOwnerOf));
          q.Bind(1, conv.value);
          SQLITE_STORE_ASSIGN(bool row, q.Step());
          if (!row) return std::optional<UserId>();
          return std::optional<UserId>(UserId(q.Int(0)));
        },
        /*snapshot=*/true);
  }

  Result<void> SetRole(ConversationId conv, UserId user, Role role) override {
    if (role == Role::kOwner) return MakeError(Errc::kBadRequest, "ownership moves only by a transfer");
    return Write([&](Connection& c) -> Result<void> {
      SQLITE_STORE_ASSIGN(Role current, MemberRole(c, conv, user));
      if (current == Role::kOwner)
        return MakeError(Errc::kForbidden, "the owner's role changes only by a transfer");
      return RunWith(c, kSetRole,
                     [&](Query& q) { q.Bind(1, conv.value).Bind(2, user.value).Bind(3, RoleName(role)); });
    });
  }

  Result<void> TransferOwnership(ConversationId conv, UserId from, UserId to) override {
    if (from == to) return MakeError(Errc::kBadRequest, "the owner already owns the group");
    return Write([&](Connection& c) -> Result<void> {
      SQLITE_STORE_ASSIGN(Role from_role, MemberRole(c, conv, from));
      if (from_role != Role::kOwner) return MakeError(Errc::kForbidden, "only the owner transfers ownership");
      SQLITE_STORE_ASSIGN(Role to_role, MemberRole(c, conv, to));
      (void)to_role;
      SQLITE_STORE_TRY(RunWith(c, kSetRole, [&](Query& q) {
        q.Bind(1, conv.value).Bind(2, from.value).Bind(3, RoleName(Role::kAdmin));
      }));
      return RunWith(c, kSetRole, [&](Query& q) {
        q.Bind(1, conv.value).Bind(2, to.value).Bind(3, RoleName(Role::kOwner));
      });
    });
  }

  Result<bool> Ban(ConversationId conv, UserId user, UserId by, TimeMs now) override {
    return Write([&](Connection& c) -> Result<bool> {
      SQLITE_STORE_ASSIGN(bool exists, ConversationExists(c, conv));
      if (!exists) return NoConversation(conv);
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertBan));
      q.Bind(1, conv.value).Bind(2, user.value).Bind(3, by.value).Bind(4, now);
      if (Result<void> r = q.Run(); !r.ok()) {
        if (IsForeignKeyViolation(q.last_rc()))
          return MakeError(Errc::kNotFound, "no user with id " + user.ToString());
        return r.error();
      }
      return LeaveIn(c, conv, user);
    });
  }

  Result<bool> Unban(ConversationId conv, UserId user) override {
    return Write([&](Connection& c) -> Result<bool> {
      SQLITE_STORE_TRY(RunWith(c, kDeleteBan, [&](Query& q) { q.Bind(1, conv.value).Bind(2, user.value); }));
      return c.Changes() > 0;
    });
  }

  Result<void> UpdateGroup(ConversationId conv, const std::optional<std::string>& title,
                           const std::optional<std::string>& topic) override {
    return Write([&](Connection& c) -> Result<void> {
      {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kKindOf));
        q.Bind(1, conv.value);
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (!row) return NoConversation(conv);
        SQLITE_STORE_ASSIGN(ConversationKind kind, KindColumn(q, 0));
        if (kind != ConversationKind::kGroup)
          return MakeError(Errc::kBadRequest, "a DM has no title or topic");
      }
      return RunWith(c, kUpdateGroup, [&](Query& q) {
        q.Bind(1, conv.value);
        if (title) {
          q.Bind(2, std::string_view(*title));
        } else {
          q.BindNull(2);
        }
        if (topic) {
          q.Bind(3, std::string_view(*topic));
        } else {
          q.BindNull(3);
        }
      });
    });
  }

  Result<void> CreateInvite(const Invite& invite, UserId by, TimeMs now) override {
    return Write([&](Connection& c) -> Result<void> {
      SQLITE_STORE_ASSIGN(bool exists, ConversationExists(c, invite.conv));
      if (!exists) return NoConversation(invite.conv);
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertInvite));
      q.Bind(1, std::string_view(invite.code)).Bind(2, invite.conv.value).Bind(3, by.value);
      if (invite.max_uses) {
        q.Bind(4, *invite.max_uses);
      } else {
        q.BindNull(4);
      }
      q.Bind(5, invite.expires_at).Bind(6, now);
      if (Result<void> r = q.Run(); !r.ok()) {
        if (r.error().code == Errc::kConflict) return MakeError(Errc::kConflict, "invite code already taken");
        return r.error();
      }
      return Ok();
    });
  }

  Result<InviteJoin> JoinByInvite(const std::string& code, UserId user, TimeMs now,
                                  int64_t max_members) override {
    return Write([&](Connection& c) -> Result<InviteJoin> {
      InviteJoin out;
      {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kUsableInvite));
        q.Bind(1, std::string_view(code)).Bind(2, now).Bind(3, user.value);
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (!row) return MakeError(Errc::kNotFound, "unknown, used-up or expired invite");
        out.conv = ConversationId(q.Int(0));
        if (q.Int(2) == 0 && q.Int(1) >= max_members) return GroupFull();
      }
      SQLITE_STORE_ASSIGN(out.added, JoinIn(c, out.conv, user, Role::kMember));
      if (out.added) {
        SQLITE_STORE_TRY(RunWith(c, kUseInvite, [&](Query& q) { q.Bind(1, std::string_view(code)); }));
      }
      return out;
    });
  }

  Result<bool> DeleteInvite(ConversationId conv, const std::string& code) override {
    return Write([&](Connection& c) -> Result<bool> {
      SQLITE_STORE_TRY(RunWith(c, kDeleteInvite,
                               [&](Query& q) { q.Bind(1, conv.value).Bind(2, std::string_view(code)); }));
      return c.Changes() > 0;
    });
  }

  // --- blocks (§7) -------------------------------------------------------------------
  Result<void> Block(UserId blocker, UserId blocked, TimeMs now) override {
    if (blocker == blocked) return MakeError(Errc::kBadRequest, "you cannot block yourself");
    return Write([&](Connection& c) -> Result<void> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kInsertBlock));
      q.Bind(1, blocker.value).Bind(2, blocked.value).Bind(3, now);
      if (Result<void> r = q.Run(); !r.ok()) {
        if (IsForeignKeyViolation(q.last_rc())) return MakeError(Errc::kNotFound, "no such user");
        return r.error();
      }
      return Ok();
    });
  }

  Result<bool> Unblock(UserId blocker, UserId blocked) override {
    return Write([&](Connection& c) -> Result<bool> {
      SQLITE_STORE_TRY(
          RunWith(c, kDeleteBlock, [&](Query& q) { q.Bind(1, blocker.value).Bind(2, blocked.value); }));
      return c.Changes() > 0;
    });
  }

  Result<std::vector<User>> ListBlocked(UserId blocker) override {
    return Read([&](Connection& c) { return UsersOf(c, kBlockedUsers, blocker); });
  }

  Result<bool> AnyBlocks(std::span<const UserId> blockers, UserId blocked) override {
    return Read([&](Connection& c) -> Result<bool> {
      for (UserId b : blockers) {
        SQLITE_STORE_ASSIGN(bool blocks, Exists(c, kIsBlocked, b.value, blocked.value));
        if (blocks) return true;
      }
      return false;
    });
  }

  // --- messages ------------------------------------------------------------------
  // A batch is committed in two steps under the writer mutex: its entries
  // (and the SQLite work that follows from them) in one synced RocksDB
  // write, then that work in one SQLite transaction (index_work.h). That
  // transaction is not fsynced (synchronous = NORMAL): RocksDB keeps the
  // work until SQLite holds it durably, which one commit in kBatchesPerSync
  // (or after kSyncInterval) makes sure of by committing with FULL, as does
  // every other write; so a crash costs SQLite only work that Open applies
  // again. When the second step fails, the batch is stored all the same:
  // the answer is kUnavailable (a retry finds each entry as a duplicate),
  // and the work is applied before the next batch starts (or by Open).
  Result<std::vector<Result<Committed>>> CommitBatch(std::span<const NewMessage> batch) override {
    using Out = std::vector<Result<Committed>>;
    if (batch.empty()) return Out();
    std::lock_guard lock(writer_mu_);
    if (pending_) {
      Result<void> r = SetSynchronousFull(true);
      if (r.ok()) r = InTransaction([&](Connection& c) { return ApplyIndexWork(c, *pending_); });
      if (!r.ok())
        return MakeError(Errc::kUnavailable, "an earlier batch is not yet indexed: " + r.error().message);
      applied_ = durable_ = pending_->batch;
      pending_.reset();
    }
    const auto now = std::chrono::steady_clock::now();
    const bool durable = batch_ + 1 - durable_ >= kBatchesPerSync || now - durable_at_ >= kSyncInterval;
    SQLITE_STORE_TRY(SetSynchronousFull(durable));
    std::optional<IndexWork> stored;
    Result<Out> out = InTransaction([&](Connection& c) { return CommitInTransaction(c, batch, stored); });
    if (!out.ok() && stored) {
      pending_ = std::move(stored);
      return MakeError(Errc::kUnavailable, "stored, but not yet indexed: " + out.error().message);
    }
    if (out.ok() && stored) {
      applied_ = stored->batch;
      if (durable) {
        durable_ = applied_;
        durable_at_ = now;
      }
    }
    return out;
  }

  Result<std::vector<Message>> History(ConversationId conv, std::optional<int64_t> before,
                                       std::optional<int64_t> after, int limit, UserId viewer) override {
    const int n = std::clamp(limit, 1, kMaxHistoryLimit);
    EntryDb::View view(*entries_);
    SQLITE_STORE_ASSIGN(std::vector<Message> page, entries_->Page(conv, before, after, n, &view));
    SQLITE_STORE_TRY(entries_->FoldReactions(conv, viewer, page, &view));
    ServeAttachments(page);
    return page;
  }

  Result<int64_t> SetReadSeq(ConversationId conv, UserId user, int64_t seq) override {
    return Write([&](Connection& c) -> Result<int64_t> {
      int64_t last_seq = 0;
      {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kLastSeq));
        q.Bind(1, conv.value);
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (!row) return NoConversation(conv);
        last_seq = q.Int(0);
      }
      int64_t current = 0;
      {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kMember));
        q.Bind(1, conv.value).Bind(2, user.value);
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (!row) {
          return MakeError(Errc::kForbidden,
                           "user " + user.ToString() + " is not a member of conversation " + conv.ToString());
        }
        current = q.Int(1);
      }
      const int64_t target = std::min(seq, last_seq);
      if (target <= current) return current;
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kSetReadSeq));
      q.Bind(1, conv.value).Bind(2, user.value).Bind(3, target);
      SQLITE_STORE_TRY(q.Run());
      return target;
    });
  }

  Result<SearchPage> Search(const SearchRequest& request) override {
    const int64_t n = std::clamp(request.limit, 1, kMaxSearchLimit);
    SQLITE_STORE_ASSIGN(const int64_t below, DecodeSearchCursor(request.cursor));
    const std::string match = ToFts5Match(request.query);
    struct Hit {
      int64_t rowid;
      ConversationId conv;
      int64_t seq;
    };
    SQLITE_STORE_ASSIGN(std::vector<Hit> hits, Read([&](Connection& c) -> Result<std::vector<Hit>> {
                          SQLITE_STORE_ASSIGN(Query q, c.Prepare(request.conv ? kSearchInConv : kSearch));
                          q.Bind(1, match).Bind(2, request.viewer.value).Bind(3, below).Bind(4, n + 1);
                          if (request.conv) q.Bind(5, request.conv->value);
                          std::vector<Hit> out;
                          for (;;) {
                            SQLITE_STORE_ASSIGN(bool row, q.Step());
                            if (!row) return out;
                            out.push_back(Hit{q.Int(0), ConversationId(q.Int(1)), q.Int(2)});
                          }
                        }));
    // Each hit's entry, folded as History folds a page of one. The index is
    // written after the entries (index_work.h), so a hit's entry is stored;
    // one deleted since the index was read is left out.
    SearchPage page;
    EntryDb::View view(*entries_);
    for (size_t i = 0; i < hits.size(); ++i) {
      if (static_cast<int64_t>(i) == n) {
        page.next = EncodeSearchCursor(hits[i - 1].rowid);
        break;
      }
      SQLITE_STORE_ASSIGN(std::optional<Message> m, entries_->Get(hits[i].conv, hits[i].seq, &view));
      if (!m || m->kind != EntryKind::kText || m->deleted) continue;
      std::vector<Message> one;
      one.push_back(std::move(*m));
      SQLITE_STORE_TRY(entries_->FoldReactions(hits[i].conv, request.viewer, one, &view));
      ServeAttachments(one);
      page.results.push_back(std::move(one.front()));
    }
    return page;
  }

  // --- server administration ------------------------------------------------------
  Result<std::vector<UserListing>> ListUsers(UserId after, int limit) override {
    return Read([&](Connection& c) -> Result<std::vector<UserListing>> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kListUsers));
      q.Bind(1, after.value).Bind(2, int64_t{limit});
      std::vector<UserListing> out;
      for (;;) {
        SQLITE_STORE_ASSIGN(bool row, q.Step());
        if (!row) break;
        UserListing u;
        u.user.id = UserId(q.Int(0));
        u.user.username = q.Text(1);
        u.user.display_name = q.Text(2);
        if (!q.IsNull(3)) u.user.last_seen = q.Int(3);
        u.created_at = q.Int(4);
        u.disabled = q.Int(5) != 0;
        out.push_back(std::move(u));
      }
      return out;
    });
  }

  Result<int64_t> SetDisabled(UserId id, bool disabled, TimeMs now) override {
    return Write([&](Connection& c) -> Result<int64_t> {
      if (disabled) {
        SQLITE_STORE_ASSIGN(Query q, c.Prepare(kDisableUser));
        q.Bind(1, id.value).Bind(2, now);
        return BumpEpochAndRevoke(c, q, id);
      }
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kEnableUser));
      q.Bind(1, id.value);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      const int64_t epoch = q.Int(0);
      SQLITE_STORE_TRY(q.Run());  // finish the statement
      return epoch;
    });
  }

  Result<Totals> CountTotals() override {
    return Read([&](Connection& c) -> Result<Totals> {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kTotals));
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) return MakeError(Errc::kInternal, "sqlite: no totals");
      return Totals{q.Int(0), q.Int(1), q.Int(2)};
    });
  }

  Result<void> Ping() override {
    return Read([&](Connection& c) -> Result<void> {
      SQLITE_STORE_ASSIGN(int64_t one, c.QueryInt("SELECT 1"));
      if (one != 1) return MakeError(Errc::kInternal, "sqlite: SELECT 1 did not answer 1");
      return Ok();
    });
  }

  // --- webhooks (PROTOCOL.md §8): the statements are in webhook_rows.cc -------
  Result<WebhookRecord> CreateWebhook(ConversationId conv, const std::string& url, const std::string& secret,
                                      UserId created_by, int max_per_conv, TimeMs now) override {
    return Write(
        [&](Connection& c) { return InsertWebhook(c, conv, url, secret, created_by, max_per_conv, now); });
  }
  Result<std::vector<WebhookRecord>> ListWebhooks(ConversationId conv) override {
    return Read([&](Connection& c) { return SelectWebhooks(c, conv); });
  }
  Result<WebhookRecord> GetWebhook(int64_t id) override {
    return Read([&](Connection& c) { return SelectWebhook(c, id); });
  }
  Result<bool> DeleteWebhook(ConversationId conv, int64_t id) override {
    return Write([&](Connection& c) { return RemoveWebhook(c, conv, id); });
  }
  Result<std::vector<int64_t>> DueWebhooks(const std::string& owner, TimeMs now, int limit) override {
    return Read([&](Connection& c) { return SelectDueWebhooks(c, owner, now, limit); });
  }
  Result<bool> AnyWebhooks() override {
    return Read([&](Connection& c) { return SelectAnyWebhook(c); });
  }
  Result<std::optional<WebhookRecord>> LeaseWebhook(int64_t id, const std::string& owner, TimeMs now,
                                                    TimeMs lease_until) override {
    return Write([&](Connection& c) { return TakeWebhookLease(c, id, owner, now, lease_until); });
  }
  Result<bool> AdvanceWebhook(int64_t id, const std::string& owner, int64_t seq,
                              TimeMs lease_until) override {
    return Write([&](Connection& c) { return MoveWebhookCursor(c, id, owner, seq, lease_until); });
  }
  Result<bool> FailWebhook(int64_t id, const std::string& owner, TimeMs now,
                           TimeMs next_attempt_at) override {
    return Write([&](Connection& c) { return NoteWebhookFailure(c, id, owner, now, next_attempt_at); });
  }
  Result<void> ReleaseWebhook(int64_t id, const std::string& owner) override {
    return Write([&](Connection& c) { return GiveUpWebhookLease(c, id, owner); });
  }

  // --- uploads (PROTOCOL.md §6): the statements are in upload_rows.cc ---------
  Result<void> CreateUpload(const UploadRecord& upload) override {
    return Write([&](Connection& c) { return InsertUpload(c, upload); });
  }
  Result<UploadRecord> GetUpload(UploadId id) override {
    return Read([&](Connection& c) { return SelectUpload(c, id); });
  }
  Result<UploadLinks> GetUploadLinks(UploadId id, UserId viewer) override {
    return Read([&](Connection& c) { return SelectUploadLinks(c, id, viewer); });
  }
  Result<std::vector<UploadRecord>> UnattachedUploads(TimeMs created_before, int limit) override {
    return Read([&](Connection& c) { return SelectUnattachedUploads(c, created_before, limit); });
  }
  Result<UploadRemoval> DeleteUnattachedUpload(UploadId id) override {
    return Write([&](Connection& c) { return RemoveUnattachedUpload(c, id); });
  }

  // --- notification levels and Web Push (PROTOCOL.md §8): push_rows.cc ---------
  Result<void> SetNotifyLevel(ConversationId conv, UserId user, NotifyLevel level) override {
    return Write([&](Connection& c) { return UpdateNotifyLevel(c, conv, user, level); });
  }
  Result<std::string> KeepServerSecret(const std::string& name, const std::string& candidate) override {
    return Write([&](Connection& c) { return KeepSecret(c, name, candidate); });
  }
  Result<void> PutPushSubscription(const PushSubscription& subscription, int max_per_user,
                                   TimeMs now) override {
    return Write([&](Connection& c) { return UpsertPushSubscription(c, subscription, max_per_user, now); });
  }
  Result<bool> DeletePushSubscription(UserId user, const std::string& endpoint) override {
    return Write([&](Connection& c) { return RemovePushSubscription(c, user, endpoint); });
  }
  Result<PushAudience> GetPushAudience(ConversationId conv, UserId sender) override {
    return Read([&](Connection& c) { return SelectPushAudience(c, conv, sender); }, /*snapshot=*/true);
  }
  Result<bool> AnyPushSubscriptions() override {
    return Read([&](Connection& c) { return SelectAnyPushSubscription(c); });
  }

 private:
  // Lends one idle reader connection to the calling thread, waiting when all
  // are busy; gives it back on destruction.
  class ReaderLease {
   public:
    explicit ReaderLease(SqliteStore& store) : store_(store) {
      std::unique_lock lock(store_.readers_mu_);
      store_.readers_cv_.wait(lock, [&] { return !store_.idle_readers_.empty(); });
      conn_ = store_.idle_readers_.back();
      store_.idle_readers_.pop_back();
    }
    ~ReaderLease() {
      {
        std::lock_guard lock(store_.readers_mu_);
        store_.idle_readers_.push_back(conn_);
      }
      store_.readers_cv_.notify_one();
    }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    Connection& conn() { return *conn_; }

   private:
    SqliteStore& store_;
    Connection* conn_ = nullptr;
  };

  // Runs `f(writer)` inside BEGIN IMMEDIATE ... COMMIT under the writer mutex;
  // rolls back when `f` fails or the commit does.
  template <class F>
  std::invoke_result_t<F&, Connection&> Write(F&& f) {
    using R = std::invoke_result_t<F&, Connection&>;
    std::lock_guard lock(writer_mu_);
    if (Result<void> r = SetSynchronousFull(true); !r.ok()) return R(r.error());
    R result = InTransaction(std::forward<F>(f));
    if (result.ok() && synchronous_full_) durable_ = applied_;  // the fsync took every earlier frame
    return result;
  }

  // Sets the writer's synchronous mode for the next transaction: FULL (the
  // commit is fsynced) or NORMAL; always NORMAL when the store was opened
  // without synchronous_full. Under writer_mu_.
  Result<void> SetSynchronousFull(bool full) {
    full = full && synchronous_full_;
    if (full == writer_full_) return Ok();
    SQLITE_STORE_TRY(writer_->Exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
    writer_full_ = full;
    return Ok();
  }

  // Write's body, for a caller that holds writer_mu_.
  template <class F>
  std::invoke_result_t<F&, Connection&> InTransaction(F&& f) {
    using R = std::invoke_result_t<F&, Connection&>;
    Result<Transaction> txn = Transaction::Begin(*writer_, Transaction::Mode::kWrite);
    if (!txn.ok()) return R(std::move(txn).error());
    R result = f(*writer_);
    if (!result.ok()) return result;  // ~Transaction rolls back
    if (Result<void> r = txn->Commit(); !r.ok()) {
      Error e = r.error();
      if (e.code == Errc::kConflict || e.code == Errc::kInternal) e.code = Errc::kUnavailable;
      return R(std::move(e));
    }
    return result;
  }

  // Runs `f(reader)` on a pooled reader; with `snapshot`, inside one read
  // transaction so several statements see the same committed state.
  template <class F>
  std::invoke_result_t<F&, Connection&> Read(F&& f, bool snapshot = false) {
    using R = std::invoke_result_t<F&, Connection&>;
    ReaderLease lease(*this);
    Connection& c = lease.conn();
    if (!snapshot) return f(c);
    Result<Transaction> txn = Transaction::Begin(c, Transaction::Mode::kRead);
    if (!txn.ok()) return R(std::move(txn).error());
    R result = f(c);
    if (result.ok()) {
      if (Result<void> r = txn->Commit(); !r.ok()) return R(r.error());
    }
    return result;
  }

  // The body of CommitBatch, run by the writer inside its transaction.
  // Sets `stored` once the batch is in RocksDB.
  Result<std::vector<Result<Committed>>> CommitInTransaction(Connection& c, std::span<const NewMessage> batch,
                                                             std::optional<IndexWork>& stored);

  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;  // used only under writer_mu_

  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<Connection>> readers_;  // every reader, for ownership
  std::vector<Connection*> idle_readers_;             // guarded by readers_mu_

  // Under writer_mu_, the batches: the last one in RocksDB, the last one
  // SQLite applied, the last one SQLite holds durably, and the last one
  // whose work RocksDB no longer keeps.
  std::unique_ptr<EntryDb> entries_;
  int64_t batch_ = 0;
  int64_t applied_ = 0;
  int64_t durable_ = 0;
  int64_t pruned_ = 0;
  std::chrono::steady_clock::time_point durable_at_ = std::chrono::steady_clock::now();
  std::optional<IndexWork> pending_;  // the work of batch_ when SQLite could not apply it
  // (sender, conv) pairs whose sender-conversation key RocksDB holds, so a
  // sender's next message there does not write it again. Under writer_mu_;
  // emptied when it reaches kMaxKnownSenders (a miss costs one key).
  struct PairHash {
    size_t operator()(const std::pair<int64_t, int64_t>& p) const noexcept {
      return std::hash<int64_t>()(p.first) * 0x9E3779B97F4A7C15ull ^ std::hash<int64_t>()(p.second);
    }
  };
  static constexpr size_t kMaxKnownSenders = size_t{1} << 16;
  using SenderConvs = std::unordered_set<std::pair<int64_t, int64_t>, PairHash>;
  SenderConvs known_senders_;
  const bool synchronous_full_;
  bool writer_full_;  // the writer's synchronous mode now
};

Result<std::vector<Result<Committed>>> SqliteStore::CommitInTransaction(Connection& c,
                                                                        std::span<const NewMessage> batch,
                                                                        std::optional<IndexWork>& stored) {
  // What this transaction knows of each conversation it touches, so several
  // messages of one conversation read its row once.
  struct ConvState {
    bool exists = false;
    int64_t last_seq = 0;
    int64_t stored_seq = 0;  // last_seq as read from the row
    TimeMs last_ts = 0;
  };
  std::unordered_map<ConversationId, ConvState> convs;
  // (conv, user) -> may they send; then (conv, sender) -> the read_seq to set.
  enum class SendRight { kMember, kNotMember, kBlocked };
  std::map<std::pair<int64_t, int64_t>, SendRight> membership;
  std::map<std::pair<int64_t, int64_t>, int64_t> read_marks;
  // (sender, client_msg_id) of this batch's new entries -> their index in `out`.
  std::map<std::pair<int64_t, std::string>, size_t, std::less<>> new_ids;
  SenderConvs new_senders;  // (sender, conv) keys this batch writes
  WriterSource source(c, *entries_);
  EntryFolder folder(source);
  EntryBatch writes;
  IndexWork work;

  std::vector<Result<Committed>> out;
  out.reserve(batch.size());
  for (const NewMessage& m : batch) {
    // 1. Dedupe by (sender, client_msg_id), this batch's entries included.
    if (!m.client_msg_id.empty()) {
      std::optional<Message> found;
      if (auto it = new_ids.find(std::pair(m.sender.value, m.client_msg_id)); it != new_ids.end()) {
        found = out[it->second]->message;
      } else {
        SQLITE_STORE_ASSIGN(auto where, entries_->FindClientId(m.sender, m.client_msg_id));
        if (where) {
          SQLITE_STORE_ASSIGN(found, entries_->Get(where->first, where->second));
          if (!found) return MakeError(Errc::kInternal, "entries: a client id names a missing entry");
        }
      }
      if (found) {
        std::vector<Message> one{std::move(*found)};
        ServeAttachments(one);
        out.emplace_back(Committed{std::move(one.front()), true});
        continue;
      }
    }
    // 2. The conversation.
    auto [it, inserted] = convs.try_emplace(m.conv);
    ConvState& state = it->second;
    if (inserted) {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kLastSeq));
      q.Bind(1, m.conv.value);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      state.exists = row;
      if (row) state.last_seq = state.stored_seq = q.Int(0);
    }
    if (!state.exists) {
      out.emplace_back(NoConversation(m.conv));
      continue;
    }
    // 3. The sender's membership (a server administrator's delete needs none).
    const std::pair<int64_t, int64_t> key(m.conv.value, m.sender.value);
    auto member_it = membership.find(key);
    if (m.by_server_admin) {
      // Not looked up: a later entry of the same sender in this batch asks.
    } else if (member_it == membership.end()) {
      SQLITE_STORE_ASSIGN(Query q, c.Prepare(kMember));
      q.Bind(1, m.conv.value).Bind(2, m.sender.value);
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      SendRight right = row ? SendRight::kMember : SendRight::kNotMember;
      if (row) {
        SQLITE_STORE_ASSIGN(bool blocked, Exists(c, kBlockedInDm, m.conv.value, m.sender.value));
        if (blocked) right = SendRight::kBlocked;
      }
      member_it = membership.emplace(key, right).first;
    }
    if (!m.by_server_admin && member_it->second == SendRight::kNotMember) {
      out.emplace_back(
          MakeError(Errc::kForbidden,
                    "user " + m.sender.ToString() + " is not a member of conversation " + m.conv.ToString()));
      continue;
    }
    if (!m.by_server_admin && member_it->second == SendRight::kBlocked) {
      // Says nothing of the block (PROTOCOL.md §7).
      out.emplace_back(MakeError(Errc::kForbidden, "you cannot send into this conversation"));
      continue;
    }
    // 4. The uploads a text entry attaches (PROTOCOL.md §6; upload_rows.cc).
    std::vector<Attachment> attachments;
    if (m.kind == EntryKind::kText && !m.attachments.empty()) {
      Result<std::vector<Attachment>> found = AttachmentsOf(c, m);
      if (!found.ok()) {
        const Errc code = found.error().code;
        if (code != Errc::kNotFound && code != Errc::kForbidden) return std::move(found).error();
        out.emplace_back(std::move(found).error());
        continue;
      }
      attachments = std::move(found).value();
    }
    // The rules of §5 against what is stored and what this batch did.
    const int64_t seq = state.last_seq + 1;
    Result<Message> entry = folder.Apply(m, seq);
    if (!entry.ok()) {
      if (!EntryFolder::RefusesOnlyTheEntry(entry.error())) return std::move(entry).error();
      out.emplace_back(std::move(entry).error());
      continue;
    }
    // 5. It takes the next seq; its keys beside the entry.
    if (!m.client_msg_id.empty()) {
      writes.PutClientId(m.sender, m.client_msg_id, m.conv, seq);
      new_ids.emplace(std::pair(m.sender.value, m.client_msg_id), out.size());
    }
    if (const std::pair sc(m.sender.value, m.conv.value);
        !known_senders_.contains(sc) && new_senders.insert(sc).second) {
      writes.PutSenderConversation(m.sender, m.conv);
    }
    if (m.kind == EntryKind::kText) {
      writes.PutUnread(m.conv, seq, m.sender);
      work.texts.push_back(IndexWork::Text{m.conv, seq, m.ts, entry->body, false, true});
      if (!attachments.empty()) {
        IndexWork::Attach attach{m.conv, seq, {}};
        for (const Attachment& a : attachments) attach.uploads.push_back(a.id);
        work.attachments.push_back(std::move(attach));
        entry->attachments = std::move(attachments);
      }
    } else if (m.kind == EntryKind::kEdit) {
      writes.PutEdit(m.conv, m.target, seq);
    }
    state.last_seq = seq;
    state.last_ts = std::max(state.last_ts, m.ts);
    if (!m.by_server_admin) read_marks[key] = seq;
    out.emplace_back(Committed{std::move(entry).value(), false});
  }

  // 6. The entries as this batch leaves them: the new ones, then the
  //    folded state of their targets and what goes with it.
  using Key = std::pair<int64_t, int64_t>;  // (conv, seq)
  std::map<Key, Message> touched;
  std::map<Key, std::vector<UserId>> stored_mentions;  // of targets stored before this batch
  for (const Result<Committed>& r : out) {
    if (r.ok() && !r->duplicate) touched.emplace(Key(r->message.conv.value, r->message.seq), r->message);
  }
  auto entry_at = [&](ConversationId conv, int64_t seq) -> Result<Message*> {
    const Key key(conv.value, seq);
    if (auto it = touched.find(key); it != touched.end()) return &it->second;
    SQLITE_STORE_ASSIGN(std::optional<Message> m, entries_->Get(conv, seq));
    if (!m) return MakeError(Errc::kInternal, "entries: the target " + std::to_string(seq) + " is missing");
    stored_mentions.emplace(key, m->mentions);
    return &touched.emplace(key, std::move(*m)).first->second;
  };
  const FoldWrites folds = folder.Writes();
  for (const FoldWrites::TargetUpdate& t : folds.targets) {
    SQLITE_STORE_ASSIGN(Message * e, entry_at(t.conv, t.seq));
    if (t.body_changed) {
      e->body = t.body;
      e->mentions = t.mentions;
    }
    if (t.edited_ts) e->edited_ts = t.edited_ts;
    e->deleted = t.deleted;
    e->state_seq = t.state_seq;
    if (t.deleted) writes.DeleteUnread(t.conv, t.seq);
    if (t.body_changed || t.deleted) {
      work.texts.push_back(IndexWork::Text{t.conv, t.seq, e->ts, e->body, e->deleted, false});
    }
  }
  // The mentions index of a text entry, replaced: the keys of what it named
  // when stored go (a new entry has none yet).
  auto drop_stored_mentions = [&](ConversationId conv, int64_t seq) {
    if (auto it = stored_mentions.find(Key(conv.value, seq)); it != stored_mentions.end()) {
      for (UserId u : it->second) writes.DeleteMention(conv, u, seq);
    }
  };
  for (const FoldWrites::MentionRows& rows : folds.mentions) {
    drop_stored_mentions(rows.conv, rows.seq);
    for (UserId u : rows.users) writes.PutMention(rows.conv, u, rows.seq);
  }
  for (const FoldWrites::ReactionRow& r : folds.reactions) {
    if (r.held) {
      writes.PutHeld(r.conv, r.target, r.user, r.emoji);
    } else {
      writes.DeleteHeld(r.conv, r.target, r.user, r.emoji);
    }
  }
  for (const FoldWrites::CountRow& n : folds.counts) {
    if (n.count.count > 0) {
      writes.PutCount(n.conv, n.target, n.emoji, n.count);
    } else {
      writes.DeleteCount(n.conv, n.target, n.emoji);
    }
  }
  for (const auto& [conv, seq] : folds.erased) {
    writes.DeleteReactionsOf(conv, seq);
    drop_stored_mentions(conv, seq);
    work.deleted.emplace_back(conv, seq);
    // The bodies of its edits, stored and of this batch, are erased.
    SQLITE_STORE_ASSIGN(std::vector<int64_t> edits, entries_->EditsOf(conv, seq));
    for (const auto& [key, e] : touched) {
      if (key.first == conv.value && e.kind == EntryKind::kEdit && e.target == seq)
        edits.push_back(key.second);
    }
    for (int64_t edit : edits) {
      SQLITE_STORE_ASSIGN(Message * e, entry_at(conv, edit));
      e->body.clear();
    }
  }
  if (touched.empty()) return out;  // nothing new: nothing to write

  // 7. One synced RocksDB write holds the batch and its SQLite work; then
  //    that work here, in this transaction.
  for (const auto& [key, e] : touched) writes.PutEntry(e);
  for (const auto& [conv, state] : convs) {
    if (state.exists && state.last_seq != state.stored_seq) {
      work.advances.push_back(IndexWork::Advance{conv, state.last_seq, state.last_ts});
    }
  }
  for (const auto& [key, seq] : read_marks) {
    work.read_marks.push_back(IndexWork::ReadMark{ConversationId(key.first), UserId(key.second), seq});
  }
  work.batch = batch_ + 1;
  writes.PutWork(work.batch, EncodeIndexWork(work));
  if (durable_ > pruned_) writes.DeleteWorkThrough(durable_);
  SQLITE_STORE_TRY(entries_->Write(writes));
  batch_ = work.batch;
  pruned_ = durable_;
  if (known_senders_.size() + new_senders.size() > kMaxKnownSenders) known_senders_.clear();
  known_senders_.insert(new_senders.begin(), new_senders.end());
  stored = work;
  SQLITE_STORE_TRY(ApplyIndexWork(c, work));
  return out;
}

namespace {

// Brings SQLite in step with the entries on open. RocksDB keeps the work of
// every batch SQLite may not hold durably (and of the last batch): when
// SQLite applied one of them or the batch just before the first, the works
// after it are applied now (the process died before SQLite's next fsync).
// Any other distance (a restored backup, files copied apart) rebuilds what
// SQLite derives from the entries: last_seq, the read markers above it, the
// search index and the attachments. Returns the last batch's number.
Result<int64_t> Reconcile(Connection& c, EntryDb& entries) {
  SQLITE_STORE_ASSIGN(std::vector<std::string> encoded, entries.Works());
  std::vector<IndexWork> works;
  for (const std::string& e : encoded) {
    SQLITE_STORE_ASSIGN(IndexWork w, DecodeIndexWork(e));
    works.push_back(std::move(w));
  }
  SQLITE_STORE_ASSIGN(const int64_t applied, AppliedBatch(c));
  const int64_t batch = works.empty() ? 0 : works.back().batch;
  if (applied == batch) return batch;
  SQLITE_STORE_ASSIGN(Transaction txn, Transaction::Begin(c, Transaction::Mode::kWrite));
  // The database may be older than the entries (a restored file): entries
  // of conversations or users it no longer has stay unreachable, and new
  // ids start above theirs, so no new conversation shows them and no new
  // user is their sender.
  SQLITE_STORE_ASSIGN(const EntryDb::TopIds top, entries.Top());
  // Not structured bindings: clang before 16 cannot capture one.
  for (const std::pair<std::string_view, int64_t>& raise :
       {std::pair<std::string_view, int64_t>{"conversations", top.conv}, {"users", top.sender}}) {
    SQLITE_STORE_TRY(RunWith(c, kEnsureSequence, [&](Query& q) { q.Bind(1, raise.first); }));
    SQLITE_STORE_TRY(
        RunWith(c, kRaiseSequence, [&](Query& q) { q.Bind(1, raise.first).Bind(2, raise.second); }));
  }
  if (!works.empty() && applied < batch && works.front().batch <= applied + 1) {
    for (const IndexWork& w : works) {
      if (w.batch > applied) SQLITE_STORE_TRY(ApplyIndexWork(c, w));
    }
    SQLITE_STORE_TRY(txn.Commit());
    return batch;
  }
  std::vector<std::pair<int64_t, int64_t>> heads;
  {
    SQLITE_STORE_ASSIGN(Query q, c.Prepare(kAllConversations));
    for (;;) {
      SQLITE_STORE_ASSIGN(bool row, q.Step());
      if (!row) break;
      heads.emplace_back(q.Int(0), q.Int(1));
    }
  }
  for (const std::pair<int64_t, int64_t>& head : heads) {  // (conv, last_seq)
    SQLITE_STORE_ASSIGN(const int64_t stored, entries.LastSeq(ConversationId(head.first)));
    if (stored == head.second) continue;
    SQLITE_STORE_TRY(RunWith(c, kSetLastSeq, [&](Query& q) { q.Bind(1, head.first).Bind(2, stored); }));
  }
  SQLITE_STORE_TRY(c.Exec(kClampReadSeqs));
  SQLITE_STORE_TRY(ClearIndex(c));
  SQLITE_STORE_TRY(c.Exec(kClearAttachments));
  IndexWork rebuilt;
  rebuilt.batch = batch;
  SQLITE_STORE_TRY(entries.ForEach([&](const Message& m) -> Result<void> {
    if (m.kind != EntryKind::kText) return Ok();
    if (!m.deleted) rebuilt.texts.push_back(IndexWork::Text{m.conv, m.seq, m.ts, m.body, false, true});
    if (!m.attachments.empty()) {
      IndexWork::Attach attach{m.conv, m.seq, {}};
      for (const Attachment& a : m.attachments) attach.uploads.push_back(a.id);
      rebuilt.attachments.push_back(std::move(attach));
      if (m.deleted) rebuilt.deleted.emplace_back(m.conv, m.seq);
    }
    return Ok();
  }));
  SQLITE_STORE_TRY(ApplyIndexWork(c, rebuilt));
  SQLITE_STORE_TRY(txn.Commit());
  return batch;
}

}  // namespace

int64_t MemoryUsed() {
  sqlite3_int64 current = 0, highwater = 0;
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &current, &highwater, 0);
  return current + EntriesMemoryUsed();
}

Result<std::unique_ptr<Store>> Open(const Options& options) {
  if (options.path.empty()) return MakeError(Errc::kUnavailable, "sqlite: no database path configured");
  auto fail = [&](Error e) {
    e.code = Errc::kUnavailable;
    e.message = "cannot open store '" + options.path + "': " + e.message;
    return e;
  };
  Result<std::unique_ptr<Connection>> writer = Connection::Open(
      options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options.synchronous_full, kBusyTimeoutMs);
  if (!writer.ok()) return fail(std::move(writer).error());
  {
    Result<Query> q = (*writer)->Prepare("PRAGMA journal_mode = WAL");
    if (!q.ok()) return fail(std::move(q).error());
    Result<bool> row = q->Step();
    if (!row.ok()) return fail(std::move(row).error());
    std::string mode = *row ? q->Text(0) : "";
    if (mode != "wal")
      return fail(MakeError(Errc::kUnavailable, "WAL mode refused (journal mode '" + mode + "')"));
  }
  if (Result<void> r = (*writer)->Exec(kWriterCachePragma); !r.ok()) return fail(r.error());
  if (Result<void> r = Migrate(**writer); !r.ok()) return fail(r.error());
  Result<std::unique_ptr<EntryDb>> entries =
      EntryDb::Open(EntryDb::Options{.dir = EntriesDir(options.path), .sync = options.synchronous_full});
  if (!entries.ok()) return fail(std::move(entries).error());
  if (Result<int64_t> moved = MoveEntries(**writer, **entries); !moved.ok()) return fail(moved.error());
  Result<int64_t> batch = Reconcile(**writer, **entries);
  if (!batch.ok()) return fail(std::move(batch).error());

  std::vector<std::unique_ptr<Connection>> readers;
  const int count = std::max(1, options.readers);
  for (int i = 0; i < count; ++i) {
    Result<std::unique_ptr<Connection>> reader =
        Connection::Open(options.path, SQLITE_OPEN_READWRITE, options.synchronous_full, kBusyTimeoutMs);
    if (!reader.ok()) return fail(std::move(reader).error());
    if (Result<void> r = (*reader)->Exec("PRAGMA query_only = ON"); !r.ok()) return fail(r.error());
    if (Result<void> r = (*reader)->Exec(kReaderCachePragma); !r.ok()) return fail(r.error());
    readers.push_back(std::move(reader).value());
  }
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(writer).value(), std::move(readers),
                                                              std::move(entries).value(), *batch,
                                                              options.synchronous_full));
}

}  // namespace parley::store::sqlite
