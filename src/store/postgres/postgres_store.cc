#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/entry_folder.h"
#include "store/errors.h"
#include "store/postgres/connection.h"
#include "store/postgres/migrations.h"
#include "store/postgres/pool.h"
#include "store/postgres/push_rows.h"
#include "store/postgres/upload_rows.h"
#include "store/postgres/webhook_rows.h"
#include "store/utf8.h"

// Early returns for Result values (local to this file).
#define PG_STORE_CONCAT_INNER(a, b) a##b
#define PG_STORE_CONCAT(a, b) PG_STORE_CONCAT_INNER(a, b)
#define PG_STORE_ASSIGN_IMPL(tmp, lhs, expr)    \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  lhs = std::move(tmp).value()
#define PG_STORE_ASSIGN(lhs, expr) \
  PG_STORE_ASSIGN_IMPL(PG_STORE_CONCAT(pg_store_assign_, __LINE__), lhs, expr)

namespace parley::store::postgres {
namespace {

constexpr int kMaxHistoryLimit = 500;
// Attempts of one call when it fails for a transient reason (deadlock,
// serialization failure, a lost connection when running it again is safe).
constexpr int kMaxAttempts = 4;
// CommitBatch also runs again when a concurrent writer stored the same
// (sender, client_msg_id) first, so it may take a few more.
constexpr int kMaxCommitAttempts = 6;

// --- SQL ---------------------------------------------------------------------
// Every statement is a constant with a unique name: each connection prepares
// it once, on first use.

constexpr Sql kBegin{"begin", "BEGIN"};
constexpr Sql kCommit{"commit", "COMMIT"};
constexpr Sql kPing{"ping", "SELECT 1"};

constexpr Sql kInsertUser{"insert_user",
                          "INSERT INTO users(username, display_name, password_hash, created_at) VALUES($1, "
                          "$2, $3, $4) RETURNING id"};
#define PG_USER_COLUMNS \
  "id, username, display_name, last_seen, password_hash, token_epoch, deleted_at IS NOT NULL, bot_owner"
constexpr Sql kUserByName{"user_by_name", "SELECT " PG_USER_COLUMNS " FROM users WHERE username = $1"};
constexpr Sql kUserById{"user_by_id", "SELECT " PG_USER_COLUMNS " FROM users WHERE id = $1"};
constexpr Sql kUsersByIds{"users_by_ids",
                          "SELECT " PG_USER_COLUMNS " FROM users WHERE id = ANY($1::bigint[]) ORDER BY id"};
constexpr Sql kSetDisplayName{"set_display_name",
                              "UPDATE users SET display_name = $2 WHERE id = $1 AND deleted_at IS NULL "
                              "RETURNING " PG_USER_COLUMNS};
constexpr Sql kUserByApiKey{"user_by_api_key",
                            "SELECT " PG_USER_COLUMNS " FROM users WHERE api_key_hash = $1"};
// A new bot: counted against its owner's limit under the owner's row lock,
// so two creations at once cannot both take the last place. No row back:
// the owner already has $6 bots.
constexpr Sql kLockOwner{"lock_owner", "SELECT id FROM users WHERE id = $1 FOR UPDATE"};
constexpr Sql kInsertBot{
    "insert_bot",
    "INSERT INTO users(username, display_name, password_hash, created_at, bot_owner, "
    "api_key_hash) SELECT $1, $2, '!bot', $3, $4, $5 "
    "WHERE (SELECT count(*) FROM users WHERE bot_owner = $4 AND deleted_at IS NULL) < $6 "
    "RETURNING " PG_USER_COLUMNS};
constexpr Sql kBotsOf{"bots_of", "SELECT " PG_USER_COLUMNS
                                 " FROM users WHERE bot_owner = $1 AND deleted_at IS NULL ORDER BY id"};
constexpr Sql kBlockedUsers{"blocked_users", "SELECT " PG_USER_COLUMNS
                                             " FROM blocks JOIN users ON users.id = blocks.blocked "
                                             "WHERE blocks.blocker = $1 ORDER BY users.id"};
#undef PG_USER_COLUMNS
constexpr Sql kSetLastSeenMany{"set_last_seen_many",
                               "UPDATE users SET last_seen = s.ts "
                               "FROM unnest($1::bigint[], $2::bigint[]) AS s(id, ts) WHERE users.id = s.id"};
constexpr Sql kAuthState{
    "auth_state",
    "SELECT token_epoch, deleted_at IS NOT NULL, disabled_at IS NOT NULL FROM users WHERE id = $1"};
// §7: server administration. Disabling bumps the epoch and revokes every
// refresh token in one statement, as kBumpEpoch.
constexpr Sql kListUsers{"list_users",
                         "SELECT id, username, display_name, last_seen, created_at, disabled_at IS NOT NULL "
                         "FROM users WHERE id > $1 AND deleted_at IS NULL ORDER BY id LIMIT $2"};
constexpr Sql kDisableUser{
    "disable_user",
    "WITH u AS (UPDATE users SET disabled_at = coalesce(disabled_at, $2), token_epoch = token_epoch + 1 "
    "           WHERE id = $1 AND deleted_at IS NULL RETURNING token_epoch), "
    "     r AS (DELETE FROM refresh_tokens WHERE user_id = $1 AND EXISTS (SELECT 1 FROM u)) "
    "SELECT token_epoch FROM u"};
constexpr Sql kEnableUser{
    "enable_user",
    "UPDATE users SET disabled_at = NULL WHERE id = $1 AND deleted_at IS NULL RETURNING token_epoch"};
constexpr Sql kTotals{"totals",
                      "SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL), "
                      "(SELECT count(*) FROM conversations), "
                      "(SELECT coalesce(sum(last_seq), 0)::bigint FROM conversations)"};
// Both bump the epoch and revoke every refresh token of the user in one
// statement (one implicit transaction).
constexpr Sql kSetPassword{
    "set_password",
    "WITH u AS (UPDATE users SET password_hash = $2, token_epoch = token_epoch + 1 "
    "           WHERE id = $1 AND deleted_at IS NULL RETURNING token_epoch), "
    "     r AS (DELETE FROM refresh_tokens WHERE user_id = $1 AND EXISTS (SELECT 1 FROM u)) "
    "SELECT token_epoch FROM u"};
constexpr Sql kBumpEpoch{
    "bump_epoch",
    "WITH u AS (UPDATE users SET token_epoch = token_epoch + 1 "
    "           WHERE id = $1 AND deleted_at IS NULL RETURNING token_epoch), "
    "     r AS (DELETE FROM refresh_tokens WHERE user_id = $1 AND EXISTS (SELECT 1 FROM u)) "
    "SELECT token_epoch FROM u"};
// The hash of a deleted account is not a libsodium hash string, so no
// password verifies against it.
constexpr Sql kDeleteUser{
    "delete_user",
    "WITH u AS (UPDATE users SET password_hash = '!deleted', display_name = username, "
    "           token_epoch = token_epoch + 1, deleted_at = $2, api_key_hash = NULL "
    "           WHERE id = $1 AND deleted_at IS NULL RETURNING token_epoch), "
    "     r AS (DELETE FROM refresh_tokens WHERE user_id = $1 AND EXISTS (SELECT 1 FROM u)) "
    "SELECT token_epoch FROM u"};

constexpr Sql kInsertToken{"insert_token",
                           "INSERT INTO refresh_tokens(hash, user_id, expires_at, used, family) "
                           "VALUES($1, $2, $3, false, $4)"};
// Takes the token under its row lock: unused, it is marked used (and every
// expired token dropped); already used, its whole family is revoked (a
// replay). A concurrent take of the same token waits for the lock and then
// sees it used.
constexpr Sql kTakeToken{
    "take_token",
    "WITH t AS (SELECT hash, user_id, family, used FROM refresh_tokens "
    "           WHERE hash = $1 AND expires_at > $2::bigint FOR UPDATE), "
    "     taken AS (UPDATE refresh_tokens r SET used = true FROM t "
    "               WHERE r.hash = t.hash AND NOT t.used RETURNING r.hash), "
    "     revoked AS (DELETE FROM refresh_tokens r USING t WHERE t.used AND r.family = t.family), "
    "     gc AS (DELETE FROM refresh_tokens WHERE expires_at <= $2::bigint AND EXISTS (SELECT 1 FROM taken)) "
    "SELECT user_id, family, used FROM t"};
constexpr Sql kRevokeFamily{
    "revoke_family",
    "DELETE FROM refresh_tokens WHERE family = (SELECT family FROM refresh_tokens WHERE hash = $1)"};

// A group and its members in one statement (owner first in the arrays).
constexpr Sql kCreateGroup{
    "create_group",
    "WITH c AS (INSERT INTO conversations(kind, title, last_seq, member_count, created_at, last_activity) "
    "           VALUES('group', $1, 0, $2, $3, $3) RETURNING id), "
    "     m AS (INSERT INTO members(conv, user_id, role, read_seq, joined) "
    "           SELECT c.id, u.user_id, u.role, 0, u.joined FROM c, "
    "           unnest($4::bigint[], $5::text[]) WITH ORDINALITY AS u(user_id, role, joined)) "
    "SELECT id FROM c"};
constexpr Sql kDmOfPair{"dm_of_pair", "SELECT conv FROM dms WHERE user_lo = $1 AND user_hi = $2"};
// The pair row comes first: when a racing caller has it, nothing else is
// inserted and no row is returned (the conversation id it drew is skipped).
constexpr Sql kCreateDm{
    "create_dm",
    "WITH d AS (INSERT INTO dms(user_lo, user_hi, conv) "
    "           VALUES($1::bigint, $2::bigint, nextval(pg_get_serial_sequence('conversations', 'id'))) "
    "           ON CONFLICT DO NOTHING RETURNING conv), "
    "     c AS (INSERT INTO conversations(id, kind, title, last_seq, member_count, created_at, "
    "last_activity) "
    "           SELECT conv, 'dm', NULL, 0, 2, $3::bigint, $3::bigint FROM d RETURNING id), "
    "     m AS (INSERT INTO members(conv, user_id, role, read_seq, joined) "
    "           SELECT c.id, u.user_id, 'member', 0, u.joined FROM c, "
    "           unnest(ARRAY[$1::bigint, $2::bigint]) WITH ORDINALITY AS u(user_id, joined)) "
    "SELECT id FROM c"};

// The first `limit` members of a conversation with their usernames.
#define PG_STORE_MEMBERS_PAGE(conv, limit)                                               \
  "LEFT JOIN LATERAL (SELECT m.user_id, u.username, m.role, m.read_seq, u.display_name " \
  "                   FROM members m JOIN users u ON u.id = m.user_id "                  \
  "                   WHERE m.conv = " conv " ORDER BY m.user_id LIMIT " limit ") p ON true "

// The viewer's counts of §5, each a range count over its own index from
// read_seq on (`kind = 0 AND NOT deleted` literally, so the planner picks the
// partial index messages_unread). Evaluated once per conversation, before
// the members page is joined.
#define PG_STORE_COUNTS(viewer, marker)                                                                \
  "LEFT JOIN LATERAL (SELECT (SELECT count(*) FROM messages x WHERE x.conv = c.id AND x.seq > " marker \
  "                           AND x.kind = 0 AND NOT x.deleted AND x.sender <> " viewer                \
  ") AS unread, "                                                                                      \
  "                          (SELECT count(*) FROM mentions x WHERE x.user_id = " viewer               \
  " AND x.conv = c.id "                                                                                \
  "                           AND x.seq > " marker ") AS mentions_unread) n ON true "

constexpr Sql kConversation{
    "conversation",
    "SELECT c.kind, c.title, c.last_seq, c.member_count, v.read_seq, p.user_id, p.username, p.role, "
    "n.unread, n.mentions_unread, c.topic, p.read_seq, p.display_name, v.notify "
    "FROM conversations c "
    "LEFT JOIN members v ON v.conv = c.id AND v.user_id = $2 " PG_STORE_COUNTS("$2", "v.read_seq")
        PG_STORE_MEMBERS_PAGE("c.id", "$3") "WHERE c.id = $1 ORDER BY p.user_id"};
constexpr Sql kConversationsOfUser{
    "conversations_of_user",
    "SELECT c.id, c.kind, c.title, c.last_seq, c.member_count, mine.read_seq, p.user_id, p.username, p.role, "
    "n.unread, n.mentions_unread, c.topic, p.read_seq, p.display_name, mine.notify "
    "FROM members mine JOIN conversations c ON c.id = mine.conv " PG_STORE_COUNTS("$1", "mine.read_seq")
        PG_STORE_MEMBERS_PAGE("c.id", "$2") "WHERE mine.user_id = $1 ORDER BY c.last_activity DESC, c.id DESC, "
                                            "p.user_id"};
#undef PG_STORE_COUNTS
#undef PG_STORE_MEMBERS_PAGE

constexpr Sql kConversationHeadsOfUser{
    "conversation_heads_of_user",
    "SELECT c.id, c.kind, c.title, c.last_seq, c.member_count, mine.read_seq, c.topic, mine.notify "
    "FROM members mine JOIN conversations c ON c.id = mine.conv "
    "WHERE mine.user_id = $1 ORDER BY c.last_activity DESC, c.id DESC"};

constexpr Sql kSharingAConversation{
    "sharing_a_conversation",
    "SELECT DISTINCT theirs.user_id FROM members theirs "
    "JOIN members mine ON mine.conv = theirs.conv AND mine.user_id = $1 "
    "WHERE theirs.user_id = ANY($2::bigint[]) AND theirs.user_id <> $1 ORDER BY theirs.user_id"};
constexpr Sql kFormerConversations{
    "former_conversations",
    "SELECT c.id, c.kind, c.title, c.last_seq, c.member_count, c.topic FROM conversations c "
    "WHERE c.id IN (SELECT conv FROM messages WHERE sender = $1) "
    "AND NOT EXISTS (SELECT 1 FROM members m WHERE m.conv = c.id AND m.user_id = $1) ORDER BY c.id"};

constexpr Sql kRole{"role",
                    "SELECT m.role, c.last_seq FROM conversations c "
                    "LEFT JOIN members m ON m.conv = c.id AND m.user_id = $2 WHERE c.id = $1"};
// Membership changes lock the conversation row first, like CommitBatch, so
// they are ordered with the commits of that conversation.
constexpr Sql kLockConversation{"lock_conversation",
                                "SELECT last_seq FROM conversations WHERE id = $1 FOR UPDATE"};
// A new member joins after every current one (`joined`, for ownership to
// pass on in order) with its read marker at the conversation's last_seq
// (PROTOCOL.md §7), unless banned from it. A row back: added.
constexpr Sql kAddMember{
    "add_member",
    "WITH ins AS (INSERT INTO members(conv, user_id, role, read_seq, joined) "
    "             SELECT $1::bigint, $2::bigint, $3::text, c.last_seq, "
    "                    (SELECT coalesce(max(joined), 0) + 1 FROM members WHERE conv = $1::bigint) "
    "             FROM conversations c WHERE c.id = $1::bigint "
    "             AND NOT EXISTS (SELECT 1 FROM bans WHERE conv = $1::bigint AND user_id = $2::bigint) "
    "             ON CONFLICT DO NOTHING RETURNING conv) "
    "UPDATE conversations SET member_count = member_count + 1 WHERE id IN (SELECT conv FROM ins) "
    "RETURNING id"};
constexpr Sql kIsBanned{"is_banned", "SELECT 1 FROM bans WHERE conv = $1 AND user_id = $2"};
constexpr Sql kRemoveMember{
    "remove_member",
    "WITH del AS (DELETE FROM members WHERE conv = $1 AND user_id = $2 RETURNING conv) "
    "UPDATE conversations SET member_count = member_count - 1 WHERE id IN (SELECT conv FROM del) RETURNING "
    "id"};
// Run after a removal in its transaction: a group left without an owner
// gets one, the admin who joined first, else the member who joined first.
constexpr Sql kEnsureOwner{
    "ensure_owner",
    "UPDATE members SET role = 'owner' WHERE conv = $1 AND user_id = "
    "  (SELECT user_id FROM members WHERE conv = $1 ORDER BY role <> 'admin', joined, user_id LIMIT 1) "
    "AND NOT EXISTS (SELECT 1 FROM members WHERE conv = $1 AND role = 'owner') "
    "AND EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND kind = 'group')"};
constexpr Sql kOwnerOf{"owner_of",
                       "SELECT m.user_id FROM conversations c "
                       "LEFT JOIN members m ON m.conv = c.id AND m.role = 'owner' WHERE c.id = $1"};
constexpr Sql kSetRole{"set_role",
                       "UPDATE members SET role = $3 WHERE conv = $1 AND user_id = $2 AND role <> 'owner'"};
constexpr Sql kSetRoleAny{"set_role_any", "UPDATE members SET role = $3 WHERE conv = $1 AND user_id = $2"};
constexpr Sql kInsertBan{"insert_ban",
                         "INSERT INTO bans(conv, user_id, by_user, created_at) VALUES($1, $2, $3, $4) "
                         "ON CONFLICT DO NOTHING"};
constexpr Sql kDeleteBan{"delete_ban", "DELETE FROM bans WHERE conv = $1 AND user_id = $2"};
constexpr Sql kUpdateGroup{
    "update_group",
    "UPDATE conversations SET title = coalesce($2, title), topic = coalesce($3, topic) "
    "WHERE id = $1 AND kind = 'group' RETURNING id"};
constexpr Sql kKindOf{"kind_of", "SELECT kind FROM conversations WHERE id = $1"};
constexpr Sql kInsertInvite{
    "insert_invite",
    "INSERT INTO invites(code, conv, created_by, max_uses, uses, expires_at, created_at) "
    "VALUES($1, $2, $3, $4, 0, $5, $6)"};
constexpr Sql kTakeInvite{"take_invite",
                          "SELECT conv FROM invites WHERE code = $1 AND expires_at > $2::bigint "
                          "AND (max_uses IS NULL OR uses < max_uses) FOR UPDATE"};
// Run after kTakeInvite in its transaction: the conversation's member
// count (under its lock, so concurrent joins count one after the other) and
// whether $2 is a member already.
constexpr Sql kRoomForJoin{"room_for_join",
                           "SELECT c.member_count, (EXISTS(SELECT 1 FROM members m WHERE m.conv = c.id "
                           "AND m.user_id = $2))::int FROM conversations c WHERE c.id = $1 FOR UPDATE"};
constexpr Sql kUseInvite{"use_invite", "UPDATE invites SET uses = uses + 1 WHERE code = $1"};
constexpr Sql kDeleteInvite{"delete_invite", "DELETE FROM invites WHERE conv = $1 AND code = $2"};
constexpr Sql kInsertBlock{"insert_block",
                           "INSERT INTO blocks(blocker, blocked, created_at) VALUES($1, $2, $3) "
                           "ON CONFLICT DO NOTHING"};
constexpr Sql kDeleteBlock{"delete_block", "DELETE FROM blocks WHERE blocker = $1 AND blocked = $2"};
constexpr Sql kAnyBlocks{"any_blocks",
                         "SELECT 1 FROM blocks WHERE blocker = ANY($1::bigint[]) AND blocked = $2 LIMIT 1"};
constexpr Sql kMembersPage{
    "members_page",
    "SELECT m.user_id, u.username, m.role, m.read_seq, u.display_name FROM members m "
    "JOIN users u ON u.id = m.user_id WHERE m.conv = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3"};
constexpr Sql kPresenceContacts{
    "presence_contacts",
    "SELECT DISTINCT other.user_id FROM members mine "
    "JOIN conversations c ON c.id = mine.conv "
    "JOIN members other ON other.conv = mine.conv "
    "WHERE mine.user_id = $1 AND other.user_id <> $1 AND (c.kind = 'dm' OR c.member_count <= $2)"};
// Moves the marker to min(seq, last_seq), never back. Columns: last_seq,
// the marker before, the marker written (NULL when unchanged).
constexpr Sql kSetReadSeq{
    "set_read_seq",
    "WITH c AS (SELECT last_seq FROM conversations WHERE id = $1), "
    "     v AS (SELECT read_seq FROM members WHERE conv = $1 AND user_id = $2), "
    "     upd AS (UPDATE members SET read_seq = LEAST($3::bigint, (SELECT last_seq FROM c)) "
    "             WHERE conv = $1 AND user_id = $2 AND read_seq < LEAST($3::bigint, (SELECT last_seq FROM "
    "c)) "
    "             RETURNING read_seq) "
    "SELECT c.last_seq, (SELECT read_seq FROM v), (SELECT read_seq FROM upd) FROM c"};

// CommitBatch, first round trip: lock the conversations (in id order, so
// concurrent batches never deadlock on them), then find what is stored
// already and who may send.
constexpr Sql kLockConversations{
    "lock_conversations",
    "SELECT id, last_seq FROM conversations WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"};
// The lookups are LATERAL with LIMIT 1 so the plan is an index probe per
// key whatever the statistics say: a generic plan made while the table was
// small would otherwise hash-join over a full scan of it.
// An entry's columns, as every read of entries gives them (EntryFromRow).
#define PG_ENTRY_COLUMNS                                                                               \
  "seq, id, sender, body, ts, client_msg_id, kind, target, emoji, op, reply_to, mentions, edited_ts, " \
  "deleted, coalesce(state_seq, seq)"
constexpr Sql kStoredByClientId{
    "stored_by_client_id",
    "SELECT m.conv, m.seq, m.id, m.sender, m.body, m.ts, m.client_msg_id, m.kind, m.target, m.emoji, m.op, "
    "m.reply_to, m.mentions, m.edited_ts, m.deleted, coalesce(m.state_seq, m.seq) "
    "FROM unnest($1::bigint[], $2::text[]) AS k(sender, client_msg_id) "
    "CROSS JOIN LATERAL (SELECT * FROM messages m "
    "                    WHERE m.sender = k.sender AND m.client_msg_id = k.client_msg_id LIMIT 1) m"};
// With each member, whether the conversation is a DM whose other member
// blocks them (PROTOCOL.md §7: they may not send into it).
constexpr Sql kMembersAmong{"members_among",
                            "SELECT m.conv, m.user_id, EXISTS (SELECT 1 FROM conversations c "
                            "  JOIN members o ON o.conv = c.id AND o.user_id <> m.user_id "
                            "  JOIN blocks b ON b.blocker = o.user_id AND b.blocked = m.user_id "
                            "  WHERE c.id = m.conv AND c.kind = 'dm') "
                            "FROM unnest($1::bigint[], $2::bigint[]) AS k(conv, user_id) "
                            "CROSS JOIN LATERAL (SELECT conv, user_id FROM members m "
                            "                    WHERE m.conv = k.conv AND m.user_id = k.user_id LIMIT 1) m"};
// Second round trip: every write as one statement over arrays, then COMMIT.
constexpr Sql kInsertMessages{
    "insert_messages",
    "INSERT INTO messages(conv, seq, id, sender, body, ts, client_msg_id, kind, target, emoji, op, reply_to, "
    "mentions) "
    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], "
    "$7::text[], $8::smallint[], $9::bigint[], $10::text[], $11::smallint[], $12::bigint[], $13::text[])"};
constexpr Sql kAdvanceConversations{
    "advance_conversations",
    "UPDATE conversations c SET last_seq = u.last_seq, last_activity = GREATEST(c.last_activity, u.ts) "
    "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, last_seq, ts) WHERE c.id = u.id"};
constexpr Sql kRaiseReadSeqs{"raise_read_seqs",
                             "UPDATE members m SET read_seq = u.seq "
                             "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(conv, user_id, seq) "
                             "WHERE m.conv = u.conv AND m.user_id = u.user_id AND m.read_seq < u.seq"};

constexpr Sql kHistoryNewest{"history_newest", "SELECT " PG_ENTRY_COLUMNS
                                               " FROM messages WHERE conv = $1 "
                                               "ORDER BY seq DESC LIMIT $2"};
constexpr Sql kHistoryBefore{"history_before", "SELECT " PG_ENTRY_COLUMNS
                                               " FROM messages WHERE conv = $1 "
                                               "AND seq < $2 ORDER BY seq DESC LIMIT $3"};
constexpr Sql kHistoryAfter{"history_after", "SELECT " PG_ENTRY_COLUMNS
                                             " FROM messages WHERE conv = $1 "
                                             "AND seq > $2 ORDER BY seq ASC LIMIT $3"};
constexpr Sql kHistoryBetween{"history_between", "SELECT " PG_ENTRY_COLUMNS
                                                 " FROM messages WHERE conv = $1 "
                                                 "AND seq > $2 AND seq < $3 ORDER BY seq ASC LIMIT $4"};
// Search (PROTOCOL.md §6): the expression and the predicate of the index
// messages_search, literally (so the planner uses it), joined to the viewer's
// membership; newest first, from below the cursor ($3, $4, $5).
#define PG_SEARCH_SQL(conv_filter)                                                                     \
  "SELECT messages.conv, " PG_ENTRY_COLUMNS                                                            \
  " FROM messages JOIN members v ON v.conv = messages.conv AND v.user_id = $1 "                        \
  "WHERE messages.kind = 0 AND NOT messages.deleted "                                                  \
  "AND to_tsvector('simple'::regconfig, messages.body) @@ to_tsquery('simple'::regconfig, $2) "        \
  "AND (messages.ts, messages.conv, messages.seq) < ($3::bigint, $4::bigint, $5::bigint) " conv_filter \
  "ORDER BY messages.ts DESC, messages.conv DESC, messages.seq DESC LIMIT $6"
constexpr Sql kSearch{"search", PG_SEARCH_SQL("")};
constexpr Sql kSearchInConv{"search_in_conv", PG_SEARCH_SQL("AND messages.conv = $7 ")};
#undef PG_SEARCH_SQL
// The reactions of search results (from several conversations), and those
// the viewer holds.
constexpr Sql kResultCounts{
    "result_counts",
    "SELECT r.conv, r.target, r.emoji, r.count FROM unnest($1::bigint[], $2::bigint[]) AS k(conv, target) "
    "JOIN reaction_counts r ON r.conv = k.conv AND r.target = k.target "
    "ORDER BY r.conv, r.target, r.first_seq, r.emoji"};
constexpr Sql kResultMine{
    "result_mine",
    "SELECT r.conv, r.target, r.emoji FROM unnest($1::bigint[], $2::bigint[]) AS k(conv, target) "
    "JOIN reactions r ON r.conv = k.conv AND r.target = k.target AND r.user_id = $3"};
#undef PG_ENTRY_COLUMNS
// A history page reads in one snapshot: its entries, then their reactions.
constexpr Sql kBeginSnapshot{"begin_snapshot", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"};
constexpr Sql kPageCounts{
    "page_counts",
    "SELECT target, emoji, count FROM reaction_counts WHERE conv = $1 AND target BETWEEN $2 "
    "AND $3 ORDER BY target, first_seq, emoji"};
constexpr Sql kPageMine{"page_mine",
                        "SELECT target, emoji FROM reactions WHERE conv = $1 AND target BETWEEN $2 AND $3 "
                        "AND user_id = $4"};

// CommitBatch's reads for the folder (store/entry_folder.h), inside its
// transaction ...
constexpr Sql kEntryRow{"entry_row",
                        "SELECT kind, sender, deleted FROM messages WHERE conv = $1 AND seq = $2"};
constexpr Sql kRoleOf{"role_of", "SELECT role FROM members WHERE conv = $1 AND user_id = $2"};
constexpr Sql kHeld{"held", "SELECT emoji FROM reactions WHERE conv = $1 AND target = $2 AND user_id = $3"};
constexpr Sql kEmojiCount{"emoji_count",
                          "SELECT count, first_seq FROM reaction_counts WHERE conv = $1 AND target = $2 AND "
                          "emoji = $3"};
constexpr Sql kMembersNamed{
    "members_named",
    "SELECT u.username, u.id FROM users u JOIN members m ON m.conv = $1 AND m.user_id = "
    "u.id WHERE u.username = ANY($2::text[])"};
// ... and its writes, after the batch's entries are inserted.
constexpr Sql kUpdateTarget{
    "update_target",
    "UPDATE messages SET body = CASE WHEN $3::boolean THEN $4 ELSE body END, "
    "mentions = CASE WHEN $3::boolean THEN $5 ELSE mentions END, "
    "edited_ts = coalesce($6::bigint, edited_ts), deleted = $7::boolean, state_seq = $8 "
    "WHERE conv = $1 AND seq = $2"};
constexpr Sql kDeleteMentions{"delete_mentions", "DELETE FROM mentions WHERE conv = $1 AND seq = $2"};
constexpr Sql kInsertMentions{"insert_mentions",
                              "INSERT INTO mentions(conv, seq, user_id) SELECT $1, $2, unnest($3::bigint[]) "
                              "ON CONFLICT DO NOTHING"};
constexpr Sql kInsertReaction{"insert_reaction",
                              "INSERT INTO reactions(conv, target, user_id, emoji) VALUES($1, $2, $3, $4) "
                              "ON CONFLICT DO NOTHING"};
constexpr Sql kDeleteReaction{
    "delete_reaction",
    "DELETE FROM reactions WHERE conv = $1 AND target = $2 AND user_id = $3 AND emoji = $4"};
constexpr Sql kUpsertCount{"upsert_count",
                           "INSERT INTO reaction_counts(conv, target, emoji, count, first_seq) "
                           "VALUES($1, $2, $3, $4, $5) ON CONFLICT (conv, target, emoji) "
                           "DO UPDATE SET count = excluded.count, first_seq = excluded.first_seq"};
constexpr Sql kDeleteCount{"delete_count",
                           "DELETE FROM reaction_counts WHERE conv = $1 AND target = $2 AND emoji = $3"};
// Everything a delete erases besides the target's own row.
constexpr Sql kEraseTarget{"erase_target",
                           "WITH r AS (DELETE FROM reactions WHERE conv = $1 AND target = $2), "
                           "     n AS (DELETE FROM reaction_counts WHERE conv = $1 AND target = $2), "
                           "     m AS (DELETE FROM mentions WHERE conv = $1 AND seq = $2) "
                           "UPDATE messages SET body = '' WHERE conv = $1 AND target = $2 AND kind = 1"};

// --- helpers -----------------------------------------------------------------

// Whether running a call again after its connection was lost mid-way is
// harmless (reads, idempotent writes) or could apply it twice.
enum class Replay { kSafe, kUnsafe };

Result<Role> RoleOf(const Rows& rows, int row, int column) {
  std::string_view s = rows.View(row, column);
  if (s == "owner") return Role::kOwner;
  if (s == "admin") return Role::kAdmin;
  if (s == "member") return Role::kMember;
  return MakeError(Errc::kInternal, "postgres: corrupt role '" + std::string(s) + "'");
}

Result<ConversationKind> KindOf(const Rows& rows, int row, int column) {
  std::string_view s = rows.View(row, column);
  if (s == "dm") return ConversationKind::kDm;
  if (s == "group") return ConversationKind::kGroup;
  return MakeError(Errc::kInternal, "postgres: corrupt conversation kind '" + std::string(s) + "'");
}

// Columns: PG_USER_COLUMNS.
UserRecord UserFromRow(const Rows& rows, int row) {
  UserRecord r;
  r.user.id = UserId(rows.Int(row, 0));
  r.user.username = rows.Text(row, 1);
  r.user.display_name = rows.Text(row, 2);
  if (!rows.IsNull(row, 3)) r.user.last_seen = rows.Int(row, 3);
  r.password_hash = rows.Text(row, 4);
  r.token_epoch = rows.Int(row, 5);
  r.deleted = rows.View(row, 6) == "t";
  if (!rows.IsNull(row, 7)) r.bot_owner = UserId(rows.Int(row, 7));
  r.user.bot = r.bot_owner.valid();
  return r;
}

// Columns from `first`: user_id, username, role; from `more`: read_seq,
// display_name. NULL user_id (no member joined) is skipped.
Result<void> AppendMember(const Rows& rows, int row, int first, int more, std::vector<Member>& out) {
  if (rows.IsNull(row, first)) return Ok();
  PG_STORE_ASSIGN(Role role, RoleOf(rows, row, first + 2));
  out.push_back(Member{UserId(rows.Int(row, first)), rows.Text(row, first + 1), role, rows.Int(row, more),
                       rows.Text(row, more + 1)});
  return Ok();
}

// A member's notification level (PROTOCOL.md §8): NULL is the kind's default.
NotifyLevel NotifyOf(const Rows& rows, int row, int column, ConversationKind kind) {
  return NotifyLevelFromCode(
      rows.IsNull(row, column) ? std::nullopt : std::optional<int64_t>(rows.Int(row, column)), kind);
}

// Conversation heads, one a row: id, kind, title, last_seq, member_count in
// columns 0-4 and the topic in `topic`; with `member_columns`, the member's
// read_seq in 5 and notify in 7 (a former member has neither: 0 and the
// kind's default).
Result<std::vector<Conversation>> HeadsOf(const Rows& rows, int topic, bool member_columns) {
  std::vector<Conversation> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    Conversation conv;
    conv.id = ConversationId(rows.Int(i, 0));
    PG_STORE_ASSIGN(conv.kind, KindOf(rows, i, 1));
    if (!rows.IsNull(i, 2)) conv.title = rows.Text(i, 2);
    conv.last_seq = rows.Int(i, 3);
    conv.member_count = rows.Int(i, 4);
    if (conv.kind == ConversationKind::kGroup) conv.topic = rows.Text(i, topic);  // NULL reads as ""
    conv.read_seq = member_columns ? rows.Int(i, 5) : 0;
    conv.notify = member_columns ? NotifyOf(rows, i, 7, conv.kind) : DefaultNotifyLevel(conv.kind);
    out.push_back(std::move(conv));
  }
  return out;
}

Error NoConversation(ConversationId id) {
  return MakeError(Errc::kNotFound, "conversation " + id.ToString() + " does not exist");
}

Error NoConversationOrUser(ConversationId conv, UserId user) {
  return MakeError(Errc::kNotFound,
                   "conversation " + conv.ToString() + " or user " + user.ToString() + " does not exist");
}

Error NotAMember(ConversationId conv, UserId user) {
  return MakeError(Errc::kForbidden,
                   "user " + user.ToString() + " is not a member of conversation " + conv.ToString());
}

// Columns from `first`: see PG_ENTRY_COLUMNS.
Result<Message> EntryFromRow(const Rows& rows, int i, ConversationId conv, int first) {
  Message m;
  m.conv = conv;
  m.seq = rows.Int(i, first);
  m.id = MessageId(rows.Int(i, first + 1));
  m.sender = UserId(rows.Int(i, first + 2));
  m.body = rows.Text(i, first + 3);
  m.ts = rows.Int(i, first + 4);
  m.client_msg_id = rows.Text(i, first + 5);  // NULL reads as ""
  PG_STORE_ASSIGN(m.kind, EntryKindFromCode(rows.Int(i, first + 6)));
  if (m.kind == EntryKind::kText) {
    if (!rows.IsNull(i, first + 10)) m.reply_to = rows.Int(i, first + 10);
    m.mentions = DecodeMentions(rows.View(i, first + 11));
    if (!rows.IsNull(i, first + 12)) m.edited_ts = rows.Int(i, first + 12);
    m.deleted = rows.View(i, first + 13) == "t";
    m.state_seq = rows.Int(i, first + 14);
  } else {
    m.target = rows.Int(i, first + 7);
    m.emoji = rows.Text(i, first + 8);
    m.op = rows.Int(i, first + 9) == ReactionOpCode(ReactionOp::kRemove) ? ReactionOp::kRemove
                                                                         : ReactionOp::kAdd;
  }
  return m;
}

// What the folder reads: statements on the commit's connection, inside its
// transaction (after the conversations' row locks).
class TransactionSource final : public EntrySource {
 public:
  explicit TransactionSource(Connection& c) : c_(c) {}

  Result<std::optional<EntryRow>> Entry(ConversationId conv, int64_t seq) override {
    PG_STORE_ASSIGN(Rows rows, c_.Run(kEntryRow, Params().Add(conv.value).Add(seq)));
    if (rows.empty()) return std::optional<EntryRow>();
    PG_STORE_ASSIGN(EntryKind kind, EntryKindFromCode(rows.Int(0, 0)));
    return std::optional<EntryRow>(EntryRow{kind, UserId(rows.Int(0, 1)), rows.View(0, 2) == "t"});
  }

  Result<Role> RoleOf(ConversationId conv, UserId user) override {
    PG_STORE_ASSIGN(Rows rows, c_.Run(kRoleOf, Params().Add(conv.value).Add(user.value)));
    if (rows.empty()) return NotAMember(conv, user);
    return postgres::RoleOf(rows, 0, 0);
  }

  Result<std::vector<std::string>> Held(ConversationId conv, int64_t target, UserId user) override {
    PG_STORE_ASSIGN(Rows rows, c_.Run(kHeld, Params().Add(conv.value).Add(target).Add(user.value)));
    std::vector<std::string> out;
    for (int i = 0; i < rows.size(); ++i) out.push_back(rows.Text(i, 0));
    return out;
  }

  Result<std::optional<EmojiCount>> Count(ConversationId conv, int64_t target,
                                          const std::string& emoji) override {
    PG_STORE_ASSIGN(Rows rows, c_.Run(kEmojiCount, Params().Add(conv.value).Add(target).Add(emoji)));
    if (rows.empty()) return std::optional<EmojiCount>();
    return std::optional<EmojiCount>(EmojiCount{rows.Int(0, 0), rows.Int(0, 1)});
  }

  Result<std::map<std::string, UserId, std::less<>>> MembersNamed(
      ConversationId conv, std::span<const std::string> names) override {
    TextArray array;
    for (const std::string& name : names) array.Add(name);
    PG_STORE_ASSIGN(Rows rows, c_.Run(kMembersNamed, Params().Add(conv.value).Add(array.Finish())));
    std::map<std::string, UserId, std::less<>> out;
    for (int i = 0; i < rows.size(); ++i) out.emplace(rows.Text(i, 0), UserId(rows.Int(i, 1)));
    return out;
  }

 private:
  Connection& c_;
};

// Appends the statements that write what the folder decided (see FoldWrites
// for the order) to a pipeline.
void AppendFoldWrites(const FoldWrites& w, std::vector<Step>& steps) {
  for (const FoldWrites::TargetUpdate& t : w.targets) {
    Params p;
    p.Add(t.conv.value).Add(t.seq).Add(t.body_changed ? "true" : "false").Add(t.body);
    if (t.mentions.empty()) {
      p.AddNull();
    } else {
      p.Add(EncodeMentions(t.mentions));
    }
    if (t.edited_ts) {
      p.Add(*t.edited_ts);
    } else {
      p.AddNull();
    }
    p.Add(t.deleted ? "true" : "false").Add(t.state_seq);
    steps.push_back({&kUpdateTarget, std::move(p)});
  }
  for (const FoldWrites::MentionRows& m : w.mentions) {
    steps.push_back({&kDeleteMentions, Params().Add(m.conv.value).Add(m.seq)});
    if (m.users.empty()) continue;
    IntArray users;
    for (UserId u : m.users) users.Add(u.value);
    steps.push_back({&kInsertMentions, Params().Add(m.conv.value).Add(m.seq).Add(users.Finish())});
  }
  for (const FoldWrites::ReactionRow& r : w.reactions) {
    steps.push_back({r.held ? &kInsertReaction : &kDeleteReaction,
                     Params().Add(r.conv.value).Add(r.target).Add(r.user.value).Add(r.emoji)});
  }
  for (const FoldWrites::CountRow& n : w.counts) {
    Params p;
    p.Add(n.conv.value).Add(n.target).Add(n.emoji);
    if (n.count.count > 0) p.Add(n.count.count).Add(n.count.first_seq);
    steps.push_back({n.count.count > 0 ? &kUpsertCount : &kDeleteCount, std::move(p)});
  }
  for (const auto& [conv, seq] : w.erased)
    steps.push_back({&kEraseTarget, Params().Add(conv.value).Add(seq)});
}

// Whether PostgreSQL accepts `s` as text: UTF-8 without NUL (the server
// rejects anything else, which would fail the whole batch).
bool IsStorableText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const std::optional<Utf8Char> c = DecodeUtf8(s, i);
    if (!c || c->cp == 0) return false;
    i += c->len;
  }
  return true;
}

// Whether every text of `m` is storable (see IsStorableText).
bool IsStorableEntry(const NewMessage& m) {
  if (!IsStorableText(m.body) || !IsStorableText(m.client_msg_id) || !IsStorableText(m.emoji)) return false;
  return std::all_of(m.mention_names.begin(), m.mention_names.end(), IsStorableText);
}

// Sleeps a little before running a transaction again, more each attempt,
// with jitter so colliding writers drift apart.
void Backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int max_us = 500 * attempt * attempt;
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % static_cast<unsigned>(max_us) + 100));
}

// The parts of a batch that do not depend on what the database holds:
// built once, sent on every attempt.
struct BatchPlan {
  std::string conv_ids;        // every conversation named, sorted
  std::string dedupe_senders;  // distinct (sender, client_msg_id) with an id
  std::string dedupe_client_ids;
  bool any_client_id = false;
  std::string member_convs;  // distinct (conv, sender)
  std::string member_users;
};

BatchPlan PlanBatch(std::span<const NewMessage> batch) {
  BatchPlan plan;
  std::set<int64_t> convs;
  std::set<std::pair<int64_t, std::string_view>> keys;
  std::set<std::pair<int64_t, int64_t>> senders;
  for (const NewMessage& m : batch) {
    if (!IsStorableEntry(m)) continue;  // refused per entry
    convs.insert(m.conv.value);
    if (!m.client_msg_id.empty()) keys.emplace(m.sender.value, m.client_msg_id);
    senders.emplace(m.conv.value, m.sender.value);
  }
  IntArray conv_ids;
  for (int64_t c : convs) conv_ids.Add(c);
  plan.conv_ids = conv_ids.Finish();
  IntArray dedupe_senders;
  TextArray dedupe_client_ids;
  for (const auto& [sender, cmid] : keys) {
    dedupe_senders.Add(sender);
    dedupe_client_ids.Add(cmid);
  }
  plan.any_client_id = !keys.empty();
  plan.dedupe_senders = dedupe_senders.Finish();
  plan.dedupe_client_ids = dedupe_client_ids.Finish();
  IntArray member_convs;
  IntArray member_users;
  for (const auto& [conv, user] : senders) {
    member_convs.Add(conv);
    member_users.Add(user);
  }
  plan.member_convs = member_convs.Finish();
  plan.member_users = member_users.Finish();
  return plan;
}

// The role of member `user`; kNotFound when the conversation does not exist
// or `user` is not a member.
Result<Role> MemberRole(Connection& c, ConversationId conv, UserId user) {
  PG_STORE_ASSIGN(Rows rows, c.Run(kRole, Params().Add(conv.value).Add(user.value)));
  if (rows.empty()) return NoConversation(conv);
  if (rows.IsNull(0, 0)) return MakeError(Errc::kNotFound, "user " + user.ToString() + " is not a member");
  return RoleOf(rows, 0, 0);
}

// Adds a member under the conversation's lock (kAddMember: read marker at
// last_seq, never a banned user); false when already a member. Opens and
// commits its own transaction unless `in_transaction`.
Result<bool> JoinIn(Connection& c, ConversationId conv, UserId user, Role role, bool in_transaction) {
  std::vector<Step> steps;
  if (!in_transaction) steps.push_back({&kBegin, {}});
  const size_t first = steps.size();
  steps.push_back({&kLockConversation, Params().Add(conv.value)});
  steps.push_back({&kIsBanned, Params().Add(conv.value).Add(user.value)});
  steps.push_back({&kAddMember, Params().Add(conv.value).Add(user.value).Add(RoleName(role))});
  if (!in_transaction) steps.push_back({&kCommit, {}});
  Result<std::vector<Rows>> rows = c.Pipeline(steps);
  if (!rows.ok()) {
    if (c.last_sqlstate() == kForeignKeyViolation) {
      return MakeError(Errc::kNotFound, "no user with id " + user.ToString());
    }
    return std::move(rows).error();
  }
  if ((*rows)[first].empty()) return NoConversation(conv);
  if (!(*rows)[first + 1].empty()) {
    return MakeError(Errc::kForbidden, "user " + user.ToString() + " is banned from this group");
  }
  return !(*rows)[first + 2].empty();
}

// Where a search page ended: its last result's place in the order
// (ts, conv, seq) descending; the next page starts below it. Encoded as
// "ts.conv.seq"; "" is the top.
struct SearchCursor {
  int64_t ts = std::numeric_limits<int64_t>::max();
  int64_t conv = std::numeric_limits<int64_t>::max();
  int64_t seq = std::numeric_limits<int64_t>::max();
};

std::string EncodeSearchCursor(const SearchCursor& c) {
  return std::to_string(c.ts) + "." + std::to_string(c.conv) + "." + std::to_string(c.seq);
}

Result<SearchCursor> DecodeSearchCursor(std::string_view text) {
  SearchCursor c;
  if (text.empty()) return c;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  int64_t* fields[] = {&c.ts, &c.conv, &c.seq};
  for (size_t i = 0; i < 3; ++i) {
    auto [next, ec] = std::from_chars(p, end, *fields[i]);
    const bool last = i == 2;
    if (ec != std::errc() || next == p || (last ? next != end : (next == end || *next != '.'))) {
      return MakeError(Errc::kBadRequest, "not a search cursor of this server");
    }
    p = last ? next : next + 1;
  }
  return c;
}

}  // namespace

// The PostgreSQL store. Owns a pool of connections; every call borrows one
// for its duration, so up to `pool` calls run at once and the rest wait.
// Consistency comes from the server: single statements where possible, and
// explicit transactions (sent as one pipeline) that lock the conversation
// row where a call must be ordered with CommitBatch. Any thread may call any
// method; the object must outlive every call.
class PostgresStore final : public Store {
 public:
  explicit PostgresStore(std::unique_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  // --- users -----------------------------------------------------------------
  Result<User> CreateUser(const std::string& username, const std::string& display_name,
                          const std::string& password_hash, TimeMs now) override {
    const std::string& shown = display_name.empty() ? username : display_name;
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<User> {
      Result<Rows> rows = c.Run(kInsertUser, Params().Add(username).Add(shown).Add(password_hash).Add(now));
      if (!rows.ok()) {
        if (c.last_sqlstate() == kUniqueViolation) return UsernameTaken(username);
        return std::move(rows).error();
      }
      return User{UserId(rows->Int(0, 0)), username, shown, false, std::nullopt};
    });
  }

  // --- bots (§8) -------------------------------------------------------------------
  Result<User> CreateBot(UserId owner, const std::string& username, const std::string& display_name,
                         const std::string& key_hash, int max_bots, TimeMs now) override {
    const std::string& shown = display_name.empty() ? username : display_name;
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<User> {
      PG_STORE_ASSIGN(Rows begun, c.Run(kBegin));
      PG_STORE_ASSIGN(Rows locked, c.Run(kLockOwner, Params().Add(owner.value)));
      if (locked.empty()) return MakeError(Errc::kNotFound, "no such owner");
      Result<Rows> rows = c.Run(kInsertBot, Params()
                                                .Add(username)
                                                .Add(shown)
                                                .Add(now)
                                                .Add(owner.value)
                                                .Add(key_hash)
                                                .Add(static_cast<int64_t>(max_bots)));
      if (!rows.ok()) {
        if (c.last_sqlstate() == kUniqueViolation) return UsernameTaken(username);
        return std::move(rows).error();
      }
      if (rows->empty()) return TooManyBots(max_bots);
      User bot = UserFromRow(*rows, 0).user;
      PG_STORE_ASSIGN(Rows committed, c.Run(kCommit));
      return bot;
    });
  }

  Result<std::vector<User>> ListBots(UserId owner) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<User>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kBotsOf, Params().Add(owner.value)));
      std::vector<User> out;
      out.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) out.push_back(UserFromRow(rows, i).user);
      return out;
    });
  }

  Result<UserRecord> FindUserByApiKey(const std::string& key_hash) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<UserRecord> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kUserByApiKey, Params().Add(key_hash)));
      if (rows.empty()) return UnknownApiKey();
      return UserFromRow(rows, 0);
    });
  }

  Result<UserRecord> FindUserByName(const std::string& username) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<UserRecord> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kUserByName, Params().Add(username)));
      if (rows.empty()) return MakeError(Errc::kNotFound, "no user named '" + username + "'");
      return UserFromRow(rows, 0);
    });
  }

  Result<User> FindUserById(UserId id) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<User> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kUserById, Params().Add(id.value)));
      if (rows.empty()) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return UserFromRow(rows, 0).user;
    });
  }

  Result<std::vector<User>> FindUsersByIds(std::span<const UserId> ids) override {
    if (ids.empty()) return std::vector<User>();
    IntArray array;
    for (UserId id : ids) array.Add(id.value);
    const std::string ids_param = array.Finish();
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<User>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kUsersByIds, Params().Add(ids_param)));
      std::vector<User> out;
      out.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) out.push_back(UserFromRow(rows, i).user);
      return out;
    });
  }

  Result<User> SetDisplayName(UserId id, const std::string& display_name) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<User> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kSetDisplayName, Params().Add(id.value).Add(display_name)));
      if (rows.empty()) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return UserFromRow(rows, 0).user;
    });
  }

  Result<void> SetLastSeenMany(std::span<const LastSeen> seen) override {
    if (seen.empty()) return Ok();
    // One user once: UPDATE ... FROM may pick either of two rows of the same id.
    std::unordered_map<int64_t, TimeMs> latest;
    for (const LastSeen& s : seen) {
      auto [it, fresh] = latest.emplace(s.user.value, s.ts);
      if (!fresh) it->second = std::max(it->second, s.ts);
    }
    IntArray ids, times;
    for (const auto& [id, ts] : latest) {
      ids.Add(id);
      times.Add(ts);
    }
    const std::string ids_param = ids.Finish(), times_param = times.Finish();
    return Call(Replay::kSafe, [&](Connection& c) -> Result<void> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kSetLastSeenMany, Params().Add(ids_param).Add(times_param)));
      return Ok();
    });
  }

  Result<int64_t> DeleteUser(UserId id, TimeMs now) override {
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<int64_t> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kDeleteUser, Params().Add(id.value).Add(now)));
      if (rows.empty()) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return rows.Int(0, 0);
    });
  }

  Result<int64_t> SetPassword(UserId id, const std::string& password_hash) override {
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<int64_t> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kSetPassword, Params().Add(id.value).Add(password_hash)));
      if (rows.empty()) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return rows.Int(0, 0);
    });
  }

  Result<int64_t> RevokeAllTokens(UserId id) override {
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<int64_t> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kBumpEpoch, Params().Add(id.value)));
      if (rows.empty()) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return rows.Int(0, 0);
    });
  }

  Result<AuthState> GetAuthState(UserId id) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<AuthState> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kAuthState, Params().Add(id.value)));
      if (rows.empty()) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return AuthState{rows.Int(0, 0), rows.View(0, 1) == "t", rows.View(0, 2) == "t"};
    });
  }

  // --- refresh tokens ----------------------------------------------------------
  Result<void> PutRefreshToken(const std::string& token_hash, UserId user, TimeMs expires_at,
                               const std::string& family) override {
    if (family.empty()) return MakeError(Errc::kBadRequest, "a refresh token needs a family");
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<void> {
      Result<Rows> rows =
          c.Run(kInsertToken, Params().Add(token_hash).Add(user.value).Add(expires_at).Add(family));
      if (!rows.ok()) {
        if (c.last_sqlstate() == kForeignKeyViolation) {
          return MakeError(Errc::kNotFound, "no user with id " + user.ToString());
        }
        if (c.last_sqlstate() == kUniqueViolation)
          return MakeError(Errc::kConflict, "refresh token already stored");
        return std::move(rows).error();
      }
      return Ok();
    });
  }

  Result<RefreshGrant> TakeRefreshToken(const std::string& token_hash, TimeMs now) override {
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<RefreshGrant> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kTakeToken, Params().Add(token_hash).Add(now)));
      if (rows.empty()) return MakeError(Errc::kUnauthorized, "refresh token unknown, used or expired");
      if (rows.View(0, 2) == "t") {
        return MakeError(Errc::kUnauthorized,
                         "refresh token used twice: every token of its family is revoked");
      }
      return RefreshGrant{UserId(rows.Int(0, 0)), rows.Text(0, 1)};
    });
  }

  Result<bool> RevokeRefreshFamily(const std::string& token_hash) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<bool> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kRevokeFamily, Params().Add(token_hash)));
      return rows.affected() > 0;
    });
  }

  // --- conversations and members -------------------------------------------------
  Result<ConversationId> CreateGroup(const std::string& title, UserId owner, std::span<const UserId> members,
                                     TimeMs now) override {
    std::vector<UserId> others(members.begin(), members.end());
    std::sort(others.begin(), others.end());
    others.erase(std::unique(others.begin(), others.end()), others.end());
    std::erase(others, owner);
    IntArray users;
    TextArray roles;
    users.Add(owner.value);
    roles.Add(RoleName(Role::kOwner));
    for (UserId u : others) {
      users.Add(u.value);
      roles.Add(RoleName(Role::kMember));
    }
    const std::string users_param = users.Finish();
    const std::string roles_param = roles.Finish();
    const int64_t count = static_cast<int64_t>(others.size()) + 1;
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<ConversationId> {
      Result<Rows> rows =
          c.Run(kCreateGroup, Params().Add(title).Add(count).Add(now).Add(users_param).Add(roles_param));
      if (!rows.ok()) {
        if (c.last_sqlstate() == kForeignKeyViolation) {
          return MakeError(Errc::kNotFound, "a member is not an existing user");
        }
        return std::move(rows).error();
      }
      return ConversationId(rows->Int(0, 0));
    });
  }

  Result<ConversationId> GetOrCreateDm(UserId a, UserId b, TimeMs now) override {
    if (a == b) return MakeError(Errc::kBadRequest, "a DM needs two different users");
    const UserId lo = std::min(a, b);
    const UserId hi = std::max(a, b);
    return Call(Replay::kSafe, [&](Connection& c) -> Result<ConversationId> {
      // Usually the DM exists.
      PG_STORE_ASSIGN(Rows existing, c.Run(kDmOfPair, Params().Add(lo.value).Add(hi.value)));
      if (!existing.empty()) return ConversationId(existing.Int(0, 0));
      Result<Rows> created = c.Run(kCreateDm, Params().Add(lo.value).Add(hi.value).Add(now));
      if (!created.ok()) {
        if (c.last_sqlstate() == kForeignKeyViolation) {
          return MakeError(Errc::kNotFound, "a member of the DM is not an existing user");
        }
        return std::move(created).error();
      }
      if (!created->empty()) return ConversationId(created->Int(0, 0));
      // A racing caller created it first (and has committed: the insert
      // waited for it).
      PG_STORE_ASSIGN(Rows again, c.Run(kDmOfPair, Params().Add(lo.value).Add(hi.value)));
      if (again.empty())
        return MakeError(Errc::kUnavailable, "postgres: DM created concurrently but not visible");
      return ConversationId(again.Int(0, 0));
    });
  }

  Result<Conversation> GetConversation(ConversationId id, UserId viewer) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<Conversation> {
      PG_STORE_ASSIGN(
          Rows rows,
          c.Run(kConversation, Params().Add(id.value).Add(viewer.value).Add(int64_t{kInlineMembers})));
      if (rows.empty()) return NoConversation(id);
      Conversation conv;
      conv.id = id;
      PG_STORE_ASSIGN(conv.kind, KindOf(rows, 0, 0));
      if (!rows.IsNull(0, 1)) conv.title = rows.Text(0, 1);
      conv.last_seq = rows.Int(0, 2);
      conv.member_count = rows.Int(0, 3);
      conv.read_seq = rows.Int(0, 4);  // NULL (not a member) reads as 0
      conv.unread_count = rows.Int(0, 8);
      conv.mentions_unread = rows.Int(0, 9);
      if (conv.kind == ConversationKind::kGroup) conv.topic = rows.Text(0, 10);  // NULL reads as ""
      conv.notify = NotifyOf(rows, 0, 13, conv.kind);
      conv.members.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) {
        if (Result<void> r = AppendMember(rows, i, 5, 11, conv.members); !r.ok()) return r.error();
      }
      return conv;
    });
  }

  Result<std::vector<Conversation>> ListConversations(UserId user) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<Conversation>> {
      PG_STORE_ASSIGN(Rows rows,
                      c.Run(kConversationsOfUser, Params().Add(user.value).Add(int64_t{kInlineMembers})));
      std::vector<Conversation> out;
      for (int i = 0; i < rows.size(); ++i) {
        const ConversationId id(rows.Int(i, 0));
        if (out.empty() || out.back().id != id) {
          Conversation conv;
          conv.id = id;
          PG_STORE_ASSIGN(conv.kind, KindOf(rows, i, 1));
          if (!rows.IsNull(i, 2)) conv.title = rows.Text(i, 2);
          conv.last_seq = rows.Int(i, 3);
          conv.member_count = rows.Int(i, 4);
          conv.read_seq = rows.Int(i, 5);
          conv.unread_count = rows.Int(i, 9);
          conv.mentions_unread = rows.Int(i, 10);
          if (conv.kind == ConversationKind::kGroup) conv.topic = rows.Text(i, 11);  // NULL reads as ""
          conv.notify = NotifyOf(rows, i, 14, conv.kind);
          out.push_back(std::move(conv));
        }
        if (Result<void> r = AppendMember(rows, i, 6, 12, out.back().members); !r.ok()) return r.error();
      }
      return out;
    });
  }

  Result<std::vector<Conversation>> ListConversationHeads(UserId user) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<Conversation>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kConversationHeadsOfUser, Params().Add(user.value)));
      return HeadsOf(rows, /*topic=*/6, /*member_columns=*/true);
    });
  }

  Result<std::vector<Conversation>> FormerConversations(UserId user) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<Conversation>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kFormerConversations, Params().Add(user.value)));
      return HeadsOf(rows, /*topic=*/5, /*member_columns=*/false);
    });
  }

  Result<std::optional<Role>> GetRole(ConversationId conv, UserId user) override {
    PG_STORE_ASSIGN(Membership m, GetMembership(conv, user));
    return m.role;
  }

  Result<Membership> GetMembership(ConversationId conv, UserId user) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<Membership> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kRole, Params().Add(conv.value).Add(user.value)));
      if (rows.empty()) return NoConversation(conv);
      Membership m{std::nullopt, rows.Int(0, 1)};
      if (!rows.IsNull(0, 0)) {
        PG_STORE_ASSIGN(Role role, RoleOf(rows, 0, 0));
        m.role = role;
      }
      return m;
    });
  }

  Result<void> AddMember(ConversationId conv, UserId user, Role role) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<void> {
      PG_STORE_ASSIGN(bool added, JoinIn(c, conv, user, role, /*in_transaction=*/false));
      (void)added;
      return Ok();
    });
  }

  Result<bool> RemoveMember(ConversationId conv, UserId user) override {
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<bool> {
      const Step steps[] = {
          {&kBegin, {}},
          {&kLockConversation, Params().Add(conv.value)},
          {&kRemoveMember, Params().Add(conv.value).Add(user.value)},
          {&kEnsureOwner, Params().Add(conv.value)},
          {&kCommit, {}},
      };
      PG_STORE_ASSIGN(std::vector<Rows> rows, c.Pipeline(steps));
      if (rows[1].empty()) return NoConversation(conv);
      return !rows[2].empty();
    });
  }

  Result<std::vector<Member>> ListMembers(ConversationId conv, UserId after, int limit) override {
    if (limit <= 0) return std::vector<Member>();
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<Member>> {
      PG_STORE_ASSIGN(
          Rows rows,
          c.Run(kMembersPage, Params().Add(conv.value).Add(after.value).Add(static_cast<int64_t>(limit))));
      std::vector<Member> out;
      out.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) {
        if (Result<void> r = AppendMember(rows, i, 0, 3, out); !r.ok()) return r.error();
      }
      return out;
    });
  }

  Result<std::vector<UserId>> PresenceContacts(UserId user, int group_limit) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<UserId>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kPresenceContacts,
                                       Params().Add(user.value).Add(static_cast<int64_t>(group_limit))));
      std::vector<UserId> out;
      out.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.Int(i, 0));
      return out;
    });
  }

  Result<std::vector<UserId>> SharingAConversation(UserId viewer, std::span<const UserId> users) override {
    if (users.empty()) return std::vector<UserId>();
    IntArray array;
    for (UserId id : users) array.Add(id.value);
    const std::string ids_param = array.Finish();
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<UserId>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kSharingAConversation, Params().Add(viewer.value).Add(ids_param)));
      std::vector<UserId> out;
      out.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.Int(i, 0));
      return out;
    });
  }

  // --- groups: roles, bans, settings, invites (§7) ---------------------------------
  Result<std::optional<UserId>> Owner(ConversationId conv) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::optional<UserId>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kOwnerOf, Params().Add(conv.value)));
      if (rows.empty()) return NoConversation(conv);
      if (rows.IsNull(0, 0)) return std::optional<UserId>();
      return std::optional<UserId>(UserId(rows.Int(0, 0)));
    });
  }

  Result<void> SetRole(ConversationId conv, UserId user, Role role) override {
    if (role == Role::kOwner) return MakeError(Errc::kBadRequest, "ownership moves only by a transfer");
    return Call(Replay::kSafe, [&](Connection& c) -> Result<void> {
      PG_STORE_ASSIGN(Role current, MemberRole(c, conv, user));
      if (current == Role::kOwner)
        return MakeError(Errc::kForbidden, "the owner's role changes only by a transfer");
      PG_STORE_ASSIGN(Rows rows,
                      c.Run(kSetRole, Params().Add(conv.value).Add(user.value).Add(RoleName(role))));
      if (rows.affected() == 0) return MakeError(Errc::kConflict, "the member's role changed meanwhile");
      return Ok();
    });
  }

  Result<void> TransferOwnership(ConversationId conv, UserId from, UserId to) override {
    if (from == to) return MakeError(Errc::kBadRequest, "the owner already owns the group");
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<void> {
      PG_STORE_ASSIGN(Rows begun, c.Run(kBegin));
      PG_STORE_ASSIGN(Rows locked, c.Run(kLockConversation, Params().Add(conv.value)));
      if (locked.empty()) return NoConversation(conv);
      PG_STORE_ASSIGN(Role from_role, MemberRole(c, conv, from));
      if (from_role != Role::kOwner) return MakeError(Errc::kForbidden, "only the owner transfers ownership");
      PG_STORE_ASSIGN(Role to_role, MemberRole(c, conv, to));
      (void)to_role;
      PG_STORE_ASSIGN(
          Rows demoted,
          c.Run(kSetRoleAny, Params().Add(conv.value).Add(from.value).Add(RoleName(Role::kAdmin))));
      PG_STORE_ASSIGN(Rows promoted,
                      c.Run(kSetRoleAny, Params().Add(conv.value).Add(to.value).Add(RoleName(Role::kOwner))));
      PG_STORE_ASSIGN(Rows committed, c.Run(kCommit));
      return Ok();
    });
  }

  Result<bool> Ban(ConversationId conv, UserId user, UserId by, TimeMs now) override {
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<bool> {
      const Step steps[] = {
          {&kBegin, {}},
          {&kLockConversation, Params().Add(conv.value)},
          {&kInsertBan, Params().Add(conv.value).Add(user.value).Add(by.value).Add(now)},
          {&kRemoveMember, Params().Add(conv.value).Add(user.value)},
          {&kEnsureOwner, Params().Add(conv.value)},
          {&kCommit, {}},
      };
      Result<std::vector<Rows>> rows = c.Pipeline(steps);
      if (!rows.ok()) {
        if (c.last_sqlstate() == kForeignKeyViolation) return NoConversationOrUser(conv, user);
        return std::move(rows).error();
      }
      if ((*rows)[1].empty()) return NoConversation(conv);
      return !(*rows)[3].empty();
    });
  }

  Result<bool> Unban(ConversationId conv, UserId user) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<bool> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kDeleteBan, Params().Add(conv.value).Add(user.value)));
      return rows.affected() > 0;
    });
  }

  Result<void> UpdateGroup(ConversationId conv, const std::optional<std::string>& title,
                           const std::optional<std::string>& topic) override {
    Params p;
    p.Add(conv.value);
    if (title) {
      p.Add(*title);
    } else {
      p.AddNull();
    }
    if (topic) {
      p.Add(*topic);
    } else {
      p.AddNull();
    }
    return Call(Replay::kSafe, [&](Connection& c) -> Result<void> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kUpdateGroup, p));
      if (!rows.empty()) return Ok();
      PG_STORE_ASSIGN(Rows kind, c.Run(kKindOf, Params().Add(conv.value)));
      if (kind.empty()) return NoConversation(conv);
      return MakeError(Errc::kBadRequest, "a DM has no title or topic");
    });
  }

  Result<void> CreateInvite(const Invite& invite, UserId by, TimeMs now) override {
    Params p;
    p.Add(invite.code).Add(invite.conv.value).Add(by.value);
    if (invite.max_uses) {
      p.Add(*invite.max_uses);
    } else {
      p.AddNull();
    }
    p.Add(invite.expires_at).Add(now);
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<void> {
      Result<Rows> rows = c.Run(kInsertInvite, p);
      if (!rows.ok()) {
        if (c.last_sqlstate() == kForeignKeyViolation) return NoConversation(invite.conv);
        if (c.last_sqlstate() == kUniqueViolation)
          return MakeError(Errc::kConflict, "invite code already taken");
        return std::move(rows).error();
      }
      return Ok();
    });
  }

  Result<InviteJoin> JoinByInvite(const std::string& code, UserId user, TimeMs now,
                                  int64_t max_members) override {
    return Call(Replay::kUnsafe, [&](Connection& c) -> Result<InviteJoin> {
      PG_STORE_ASSIGN(Rows begun, c.Run(kBegin));
      PG_STORE_ASSIGN(Rows invite, c.Run(kTakeInvite, Params().Add(code).Add(now)));
      if (invite.empty()) return MakeError(Errc::kNotFound, "unknown, used-up or expired invite");
      InviteJoin out;
      out.conv = ConversationId(invite.Int(0, 0));
      PG_STORE_ASSIGN(Rows room, c.Run(kRoomForJoin, Params().Add(out.conv.value).Add(user.value)));
      if (room.empty()) return NoConversation(out.conv);
      if (room.Int(0, 1) == 0 && room.Int(0, 0) >= max_members)
        return MakeError(Errc::kBadRequest, "group is full");
      PG_STORE_ASSIGN(out.added, JoinIn(c, out.conv, user, Role::kMember, /*in_transaction=*/true));
      if (out.added) {
        PG_STORE_ASSIGN(Rows used, c.Run(kUseInvite, Params().Add(code)));
      }
      PG_STORE_ASSIGN(Rows committed, c.Run(kCommit));
      return out;
    });
  }

  Result<bool> DeleteInvite(ConversationId conv, const std::string& code) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<bool> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kDeleteInvite, Params().Add(conv.value).Add(code)));
      return rows.affected() > 0;
    });
  }

  // --- blocks (§7) -------------------------------------------------------------------
  Result<void> Block(UserId blocker, UserId blocked, TimeMs now) override {
    if (blocker == blocked) return MakeError(Errc::kBadRequest, "you cannot block yourself");
    return Call(Replay::kSafe, [&](Connection& c) -> Result<void> {
      Result<Rows> rows = c.Run(kInsertBlock, Params().Add(blocker.value).Add(blocked.value).Add(now));
      if (!rows.ok()) {
        if (c.last_sqlstate() == kForeignKeyViolation) return MakeError(Errc::kNotFound, "no such user");
        return std::move(rows).error();
      }
      return Ok();
    });
  }

  Result<bool> Unblock(UserId blocker, UserId blocked) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<bool> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kDeleteBlock, Params().Add(blocker.value).Add(blocked.value)));
      return rows.affected() > 0;
    });
  }

  Result<std::vector<User>> ListBlocked(UserId blocker) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<User>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kBlockedUsers, Params().Add(blocker.value)));
      std::vector<User> out;
      out.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) out.push_back(UserFromRow(rows, i).user);
      return out;
    });
  }

  Result<bool> AnyBlocks(std::span<const UserId> blockers, UserId blocked) override {
    if (blockers.empty()) return false;
    IntArray array;
    for (UserId b : blockers) array.Add(b.value);
    const std::string blockers_param = array.Finish();
    return Call(Replay::kSafe, [&](Connection& c) -> Result<bool> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kAnyBlocks, Params().Add(blockers_param).Add(blocked.value)));
      return !rows.empty();
    });
  }

  // --- messages ------------------------------------------------------------------
  Result<std::vector<Result<Committed>>> CommitBatch(std::span<const NewMessage> batch) override;

  Result<std::vector<Message>> History(ConversationId conv, std::optional<int64_t> before,
                                       std::optional<int64_t> after, int limit, UserId viewer) override {
    const int64_t n = std::clamp(limit, 1, kMaxHistoryLimit);
    const Sql* sql = nullptr;
    Params params;
    params.Add(conv.value);
    bool descending = false;
    if (before && after) {
      sql = &kHistoryBetween;
      params.Add(*after).Add(*before);
    } else if (before) {
      sql = &kHistoryBefore;
      params.Add(*before);
      descending = true;
    } else if (after) {
      sql = &kHistoryAfter;
      params.Add(*after);
    } else {
      sql = &kHistoryNewest;
      descending = true;
    }
    params.Add(n);
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<Message>> {
      const Step page_steps[] = {{&kBeginSnapshot, {}}, {sql, params}};
      PG_STORE_ASSIGN(std::vector<Rows> page, c.Pipeline(page_steps));
      const Rows& rows = page[1];
      std::vector<Message> out;
      out.reserve(static_cast<size_t>(rows.size()));
      for (int i = 0; i < rows.size(); ++i) {
        PG_STORE_ASSIGN(Message m, EntryFromRow(rows, i, conv, 0));
        out.push_back(std::move(m));
      }
      if (descending) std::reverse(out.begin(), out.end());
      if (out.empty()) {
        PG_STORE_ASSIGN(Rows done, c.Run(kCommit));
        (void)done;
        return out;
      }
      // The reactions of the page's text entries, in the same snapshot.
      const int64_t lo = out.front().seq;
      const int64_t hi = out.back().seq;
      const Step fold_steps[] = {
          {&kPageCounts, Params().Add(conv.value).Add(lo).Add(hi)},
          {&kPageMine, Params().Add(conv.value).Add(lo).Add(hi).Add(viewer.value)},
          PageAttachments(conv, lo, hi),
          {&kCommit, {}},
      };
      PG_STORE_ASSIGN(std::vector<Rows> folds, c.Pipeline(fold_steps));
      std::vector<EmojiCountRow> counts;
      counts.reserve(static_cast<size_t>(folds[0].size()));
      for (int i = 0; i < folds[0].size(); ++i) {
        counts.push_back(EmojiCountRow{folds[0].Int(i, 0), folds[0].Text(i, 1), folds[0].Int(i, 2)});
      }
      std::set<std::pair<int64_t, std::string>, std::less<>> mine;
      for (int i = 0; i < folds[1].size(); ++i) mine.emplace(folds[1].Int(i, 0), folds[1].Text(i, 1));
      AttachReactions(out, counts, mine);
      FillAttachments(folds[2], out);
      return out;
    });
  }

  Result<int64_t> SetReadSeq(ConversationId conv, UserId user, int64_t seq) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<int64_t> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kSetReadSeq, Params().Add(conv.value).Add(user.value).Add(seq)));
      if (rows.empty()) return NoConversation(conv);
      if (rows.IsNull(0, 1)) return NotAMember(conv, user);
      if (!rows.IsNull(0, 2)) return rows.Int(0, 2);
      // Unchanged: the marker was at or past the target already (or a
      // concurrent call moved it there after this statement's snapshot).
      const int64_t target = std::min(seq, rows.Int(0, 0));
      return std::max(rows.Int(0, 1), target);
    });
  }

  Result<SearchPage> Search(const SearchRequest& request) override {
    const int64_t n = std::clamp(request.limit, 1, kMaxSearchLimit);
    PG_STORE_ASSIGN(const SearchCursor below, DecodeSearchCursor(request.cursor));
    Params params;
    params.Add(request.viewer.value)
        .Add(ToTsQuery(request.query))
        .Add(below.ts)
        .Add(below.conv)
        .Add(below.seq)
        .Add(n + 1);
    if (request.conv) params.Add(request.conv->value);
    return Call(Replay::kSafe, [&](Connection& c) -> Result<SearchPage> {
      const Step page_steps[] = {{&kBeginSnapshot, {}}, {request.conv ? &kSearchInConv : &kSearch, params}};
      PG_STORE_ASSIGN(std::vector<Rows> found, c.Pipeline(page_steps));
      const Rows& rows = found[1];
      SearchPage page;
      for (int i = 0; i < rows.size() && i < n; ++i) {
        PG_STORE_ASSIGN(Message m, EntryFromRow(rows, i, ConversationId(rows.Int(i, 0)), 1));
        page.results.push_back(std::move(m));
      }
      if (rows.size() > n) {
        const Message& last = page.results.back();
        page.next = EncodeSearchCursor(SearchCursor{last.ts, last.conv.value, last.seq});
      }
      if (page.results.empty()) {
        PG_STORE_ASSIGN(Rows done, c.Run(kCommit));
        (void)done;
        return page;
      }
      // The results' reactions, in the same snapshot.
      IntArray convs, targets;
      for (const Message& m : page.results) {
        convs.Add(m.conv.value);
        targets.Add(m.seq);
      }
      const std::string conv_list = convs.Finish(), target_list = targets.Finish();
      const Step fold_steps[] = {
          {&kResultCounts, Params().Add(conv_list).Add(target_list)},
          {&kResultMine, Params().Add(conv_list).Add(target_list).Add(request.viewer.value)},
          ResultAttachments(conv_list, target_list),
          {&kCommit, {}},
      };
      PG_STORE_ASSIGN(std::vector<Rows> folds, c.Pipeline(fold_steps));
      for (Message& m : page.results) {
        std::vector<EmojiCountRow> counts;
        for (int i = 0; i < folds[0].size(); ++i) {
          if (folds[0].Int(i, 0) != m.conv.value || folds[0].Int(i, 1) != m.seq) continue;
          counts.push_back(EmojiCountRow{m.seq, folds[0].Text(i, 2), folds[0].Int(i, 3)});
        }
        if (counts.empty()) continue;
        std::set<std::pair<int64_t, std::string>, std::less<>> mine;
        for (int i = 0; i < folds[1].size(); ++i) {
          if (folds[1].Int(i, 0) == m.conv.value && folds[1].Int(i, 1) == m.seq) {
            mine.emplace(m.seq, folds[1].Text(i, 2));
          }
        }
        std::vector<Message> one;
        one.push_back(std::move(m));
        AttachReactions(one, counts, mine);
        m = std::move(one.front());
      }
      FillResultAttachments(folds[2], page.results);
      return page;
    });
  }

  // --- server administration ------------------------------------------------------
  Result<std::vector<UserListing>> ListUsers(UserId after, int limit) override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<std::vector<UserListing>> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kListUsers, Params().Add(after.value).Add(int64_t{limit})));
      std::vector<UserListing> out;
      out.reserve(rows.size());
      for (int i = 0; i < rows.size(); ++i) {
        UserListing u;
        u.user.id = UserId(rows.Int(i, 0));
        u.user.username = std::string(rows.View(i, 1));
        u.user.display_name = std::string(rows.View(i, 2));
        if (!rows.IsNull(i, 3)) u.user.last_seen = rows.Int(i, 3);
        u.created_at = rows.Int(i, 4);
        u.disabled = rows.View(i, 5) == "t";
        out.push_back(std::move(u));
      }
      return out;
    });
  }

  Result<int64_t> SetDisabled(UserId id, bool disabled, TimeMs now) override {
    // Disabling twice bumps twice: harmless, so a lost connection may replay it.
    return Call(Replay::kSafe, [&](Connection& c) -> Result<int64_t> {
      Result<Rows> rows = disabled ? c.Run(kDisableUser, Params().Add(id.value).Add(now))
                                   : c.Run(kEnableUser, Params().Add(id.value));
      if (!rows.ok()) return std::move(rows).error();
      if (rows->empty()) return MakeError(Errc::kNotFound, "no user with id " + id.ToString());
      return rows->Int(0, 0);
    });
  }

  Result<Totals> CountTotals() override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<Totals> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kTotals));
      if (rows.empty()) return MakeError(Errc::kInternal, "postgres: no totals");
      return Totals{rows.Int(0, 0), rows.Int(0, 1), rows.Int(0, 2)};
    });
  }

  Result<void> Ping() override {
    return Call(Replay::kSafe, [&](Connection& c) -> Result<void> {
      PG_STORE_ASSIGN(Rows rows, c.Run(kPing));
      if (rows.empty() || rows.Int(0, 0) != 1)
        return MakeError(Errc::kInternal, "postgres: SELECT 1 did not answer 1");
      return Ok();
    });
  }

  // --- webhooks (PROTOCOL.md §8): the statements are in webhook_rows.cc -------
  Result<WebhookRecord> CreateWebhook(ConversationId conv, const std::string& url, const std::string& secret,
                                      UserId created_by, int max_per_conv, TimeMs now) override {
    return Call(Replay::kUnsafe, [&](Connection& c) {
      return InsertWebhook(c, conv, url, secret, created_by, max_per_conv, now);
    });
  }
  Result<std::vector<WebhookRecord>> ListWebhooks(ConversationId conv) override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectWebhooks(c, conv); });
  }
  Result<WebhookRecord> GetWebhook(int64_t id) override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectWebhook(c, id); });
  }
  Result<bool> DeleteWebhook(ConversationId conv, int64_t id) override {
    return Call(Replay::kUnsafe, [&](Connection& c) { return RemoveWebhook(c, conv, id); });
  }
  Result<std::vector<int64_t>> DueWebhooks(const std::string& owner, TimeMs now, int limit) override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectDueWebhooks(c, owner, now, limit); });
  }
  Result<bool> AnyWebhooks() override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectAnyWebhook(c); });
  }
  // Taking, moving and failing are safe to replay: each is decided by the
  // lease owner and the values it sets, never by a count.
  Result<std::optional<WebhookRecord>> LeaseWebhook(int64_t id, const std::string& owner, TimeMs now,
                                                    TimeMs lease_until) override {
    return Call(Replay::kSafe,
                [&](Connection& c) { return TakeWebhookLease(c, id, owner, now, lease_until); });
  }
  Result<bool> AdvanceWebhook(int64_t id, const std::string& owner, int64_t seq,
                              TimeMs lease_until) override {
    return Call(Replay::kSafe,
                [&](Connection& c) { return MoveWebhookCursor(c, id, owner, seq, lease_until); });
  }
  Result<bool> FailWebhook(int64_t id, const std::string& owner, TimeMs now,
                           TimeMs next_attempt_at) override {
    return Call(Replay::kUnsafe,
                [&](Connection& c) { return NoteWebhookFailure(c, id, owner, now, next_attempt_at); });
  }
  Result<void> ReleaseWebhook(int64_t id, const std::string& owner) override {
    return Call(Replay::kSafe, [&](Connection& c) { return GiveUpWebhookLease(c, id, owner); });
  }

  // --- uploads (PROTOCOL.md §6): the statements are in upload_rows.cc ---------
  Result<void> CreateUpload(const UploadRecord& upload) override {
    return Call(Replay::kUnsafe, [&](Connection& c) { return InsertUpload(c, upload); });
  }
  Result<UploadRecord> GetUpload(UploadId id) override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectUpload(c, id); });
  }
  Result<UploadLinks> GetUploadLinks(UploadId id, UserId viewer) override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectUploadLinks(c, id, viewer); });
  }
  Result<std::vector<UploadRecord>> UnattachedUploads(TimeMs created_before, int limit) override {
    return Call(Replay::kSafe,
                [&](Connection& c) { return SelectUnattachedUploads(c, created_before, limit); });
  }
  Result<UploadRemoval> DeleteUnattachedUpload(UploadId id) override {
    return Call(Replay::kSafe, [&](Connection& c) { return RemoveUnattachedUpload(c, id); });
  }

  // --- notification levels and Web Push (PROTOCOL.md §8): push_rows.cc ---------
  // Each is one statement whose replay leaves the same state.
  Result<void> SetNotifyLevel(ConversationId conv, UserId user, NotifyLevel level) override {
    return Call(Replay::kSafe, [&](Connection& c) { return UpdateNotifyLevel(c, conv, user, level); });
  }
  Result<std::string> KeepServerSecret(const std::string& name, const std::string& candidate) override {
    return Call(Replay::kSafe, [&](Connection& c) { return KeepSecret(c, name, candidate); });
  }
  Result<void> PutPushSubscription(const PushSubscription& subscription, int max_per_user,
                                   TimeMs now) override {
    return Call(Replay::kSafe,
                [&](Connection& c) { return UpsertPushSubscription(c, subscription, max_per_user, now); });
  }
  Result<bool> DeletePushSubscription(UserId user, const std::string& endpoint) override {
    return Call(Replay::kSafe, [&](Connection& c) { return RemovePushSubscription(c, user, endpoint); });
  }
  Result<PushAudience> GetPushAudience(ConversationId conv, UserId sender) override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectPushAudience(c, conv, sender); });
  }
  Result<bool> AnyPushSubscriptions() override {
    return Call(Replay::kSafe, [&](Connection& c) { return SelectAnyPushSubscription(c); });
  }

 private:
  // Runs `f(connection)` on a borrowed connection. Runs it again (after a
  // short backoff) when it failed on a deadlock or serialization failure, or
  // lost its connection and `replay` says running it twice is harmless. A
  // lost connection is reconnected before the next use.
  template <class F>
  std::invoke_result_t<F&, Connection&> Call(Replay replay, F&& f) {
    using R = std::invoke_result_t<F&, Connection&>;
    Result<ConnectionPool::Lease> lease = pool_->Acquire();
    if (!lease.ok()) return R(std::move(lease).error());
    Connection& c = **lease;
    for (int attempt = 1;; ++attempt) {
      R result = f(c);
      if (result.ok()) return result;
      const bool transient = IsTransientConflict(c.last_sqlstate());
      const bool lost = c.broken();
      c.RollbackIfOpen();
      if (attempt >= kMaxAttempts || !(transient || (lost && replay == Replay::kSafe))) return result;
      if (lost && !c.Reset()) return result;
      if (transient) Backoff(attempt);
    }
  }

  // One attempt at CommitBatch on `c`: the whole transaction in two round
  // trips. Sets `commit_sent` once the round trip holding COMMIT has left
  // (from then on a lost connection leaves the outcome unknown).
  Result<std::vector<Result<Committed>>> CommitOnce(Connection& c, std::span<const NewMessage> batch,
                                                    const BatchPlan& plan, bool& commit_sent);

  std::unique_ptr<ConnectionPool> pool_;
};

Result<std::vector<Result<Committed>>> PostgresStore::CommitBatch(std::span<const NewMessage> batch) {
  using Out = std::vector<Result<Committed>>;
  if (batch.empty()) return Out();
  const BatchPlan plan = PlanBatch(batch);
  Result<ConnectionPool::Lease> lease = pool_->Acquire();
  if (!lease.ok()) return std::move(lease).error();
  Connection& c = **lease;
  for (int attempt = 1;; ++attempt) {
    bool commit_sent = false;
    Result<Out> result = CommitOnce(c, batch, plan, commit_sent);
    if (result.ok()) return result;
    // Transient: a deadlock, a serialization failure, or a concurrent
    // writer that stored one of our (sender, client_msg_id) first or moved a
    // conversation on: the next attempt sees its commit.
    const std::string state = c.last_sqlstate();
    const bool transient = IsTransientConflict(state) || state == kUniqueViolation;
    const bool lost = c.broken();
    c.RollbackIfOpen();
    Error e = std::move(result).error();
    if (lost) {
      // Before COMMIT left, nothing was committed: safe to run again.
      if (commit_sent || attempt >= kMaxCommitAttempts || !c.Reset()) {
        e.code = Errc::kUnavailable;
        if (commit_sent) e.message += " (the batch may or may not be committed)";
        return e;
      }
      continue;
    }
    if (!transient) return e;
    if (attempt >= kMaxCommitAttempts) {
      if (c.last_constraint() == "messages_pkey") {
        // The conversation row is behind its messages even under its lock:
        // something writes without it, or the data is corrupt.
        e.code = Errc::kInternal;
      } else {
        e.code = Errc::kUnavailable;
      }
      e.message = "commit gave up after " + std::to_string(attempt) + " attempts: " + e.message;
      return e;
    }
    Backoff(attempt);
  }
}

Result<std::vector<Result<Committed>>> PostgresStore::CommitOnce(Connection& c,
                                                                 std::span<const NewMessage> batch,
                                                                 const BatchPlan& plan, bool& commit_sent) {
  // 1. Lock every conversation named and read what the batch depends on.
  //    Read after the locks (each statement takes a fresh snapshot), so a
  //    batch that waited for another sees everything that one committed.
  std::vector<Step> first;
  first.reserve(4);
  first.push_back({&kBegin, {}});
  first.push_back({&kLockConversations, Params().Add(plan.conv_ids)});
  first.push_back({&kMembersAmong, Params().Add(plan.member_convs).Add(plan.member_users)});
  if (plan.any_client_id) {
    first.push_back({&kStoredByClientId, Params().Add(plan.dedupe_senders).Add(plan.dedupe_client_ids)});
  }
  PG_STORE_ASSIGN(std::vector<Rows> read, c.Pipeline(first));

  struct ConvState {
    int64_t last_seq = 0;
    int64_t stored_seq = 0;  // last_seq as read from the row
    TimeMs last_ts = 0;
  };
  std::unordered_map<int64_t, ConvState> convs;
  const Rows& locked = read[1];
  for (int i = 0; i < locked.size(); ++i) {
    const int64_t seq = locked.Int(i, 1);
    convs.emplace(locked.Int(i, 0), ConvState{seq, seq, 0});
  }
  std::set<std::pair<int64_t, int64_t>> members;
  std::set<std::pair<int64_t, int64_t>> blocked;  // members a DM's other member blocks
  const Rows& member_rows = read[2];
  for (int i = 0; i < member_rows.size(); ++i) {
    members.emplace(member_rows.Int(i, 0), member_rows.Int(i, 1));
    if (member_rows.View(i, 2) == "t") blocked.emplace(member_rows.Int(i, 0), member_rows.Int(i, 1));
  }
  // (sender, client_msg_id) -> the message stored with it (before or in
  // this batch).
  std::map<std::pair<int64_t, std::string>, Message, std::less<>> stored;
  if (plan.any_client_id) {
    const Rows& dup_rows = read[3];
    for (int i = 0; i < dup_rows.size(); ++i) {
      PG_STORE_ASSIGN(Message m, EntryFromRow(dup_rows, i, ConversationId(dup_rows.Int(i, 0)), 1));
      stored.emplace(std::make_pair(m.sender.value, m.client_msg_id), std::move(m));
    }
  }

  // 2. Decide each entry in batch order.
  std::vector<Result<Committed>> out;
  out.reserve(batch.size());
  IntArray ins_conv, ins_seq, ins_id, ins_sender, ins_ts, ins_kind;
  TextArray ins_body, ins_cmid, ins_emoji, ins_mentions;
  TextArray ins_target, ins_op, ins_reply_to;  // nullable integers, as text
  TransactionSource source(c);
  EntryFolder folder(source);
  std::map<std::pair<int64_t, int64_t>, int64_t> read_marks;  // (conv, sender) -> seq
  AttachmentRows attachment_rows;
  for (const NewMessage& m : batch) {
    if (!IsStorableEntry(m)) {
      out.emplace_back(MakeError(Errc::kBadRequest, "message text is not valid UTF-8 (or holds a NUL)"));
      continue;
    }
    if (!m.client_msg_id.empty()) {
      auto it = stored.find(std::make_pair(m.sender.value, m.client_msg_id));
      if (it != stored.end()) {
        out.emplace_back(Committed{it->second, true});
        continue;
      }
    }
    auto conv_it = convs.find(m.conv.value);
    if (conv_it == convs.end()) {
      out.emplace_back(NoConversation(m.conv));
      continue;
    }
    // A server administrator's delete needs no membership (§7).
    if (!m.by_server_admin && !members.contains({m.conv.value, m.sender.value})) {
      out.emplace_back(NotAMember(m.conv, m.sender));
      continue;
    }
    if (!m.by_server_admin && blocked.contains({m.conv.value, m.sender.value})) {
      // Says nothing of the block (PROTOCOL.md §7).
      out.emplace_back(MakeError(Errc::kForbidden, "you cannot send into this conversation"));
      continue;
    }
    ConvState& state = conv_it->second;
    // The uploads a text entry attaches (PROTOCOL.md §6; upload_rows.cc).
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
    if (!attachments.empty()) {
      attachment_rows.Add(m.conv, seq, attachments);
      entry->attachments = std::move(attachments);
    }
    state.last_seq = seq;
    state.last_ts = std::max(state.last_ts, m.ts);
    if (!m.by_server_admin) read_marks[{m.conv.value, m.sender.value}] = seq;
    ins_conv.Add(m.conv.value);
    ins_seq.Add(seq);
    ins_id.Add(m.id.value);
    ins_sender.Add(m.sender.value);
    ins_body.Add(entry->body);
    ins_ts.Add(m.ts);
    ins_kind.Add(EntryKindCode(m.kind));
    if (m.kind == EntryKind::kText) {
      ins_target.AddNull();
      ins_emoji.AddNull();
      ins_op.AddNull();
      if (m.reply_to) {
        ins_reply_to.Add(std::to_string(*m.reply_to));
      } else {
        ins_reply_to.AddNull();
      }
      if (entry->mentions.empty()) {
        ins_mentions.AddNull();
      } else {
        ins_mentions.Add(EncodeMentions(entry->mentions));
      }
    } else {
      ins_target.Add(std::to_string(m.target));
      if (m.kind == EntryKind::kReaction) {
        ins_emoji.Add(m.emoji);
        ins_op.Add(std::to_string(ReactionOpCode(m.op)));
      } else {
        ins_emoji.AddNull();
        ins_op.AddNull();
      }
      ins_reply_to.AddNull();
      ins_mentions.AddNull();
    }
    if (m.client_msg_id.empty()) {
      ins_cmid.AddNull();
    } else {
      ins_cmid.Add(m.client_msg_id);
      stored.emplace(std::make_pair(m.sender.value, m.client_msg_id), *entry);
    }
    out.emplace_back(Committed{std::move(entry).value(), false});
  }

  // 3. Every write as one statement over arrays, and COMMIT, in one round trip.
  std::vector<Step> second;
  second.reserve(4);
  if (!ins_conv.empty()) {
    second.push_back({&kInsertMessages, Params()
                                            .Add(ins_conv.Finish())
                                            .Add(ins_seq.Finish())
                                            .Add(ins_id.Finish())
                                            .Add(ins_sender.Finish())
                                            .Add(ins_body.Finish())
                                            .Add(ins_ts.Finish())
                                            .Add(ins_cmid.Finish())
                                            .Add(ins_kind.Finish())
                                            .Add(ins_target.Finish())
                                            .Add(ins_emoji.Finish())
                                            .Add(ins_op.Finish())
                                            .Add(ins_reply_to.Finish())
                                            .Add(ins_mentions.Finish())});
    IntArray adv_id, adv_seq, adv_ts;
    for (const auto& [id, state] : convs) {
      if (state.last_seq == state.stored_seq) continue;
      adv_id.Add(id);
      adv_seq.Add(state.last_seq);
      adv_ts.Add(state.last_ts);
    }
    second.push_back(
        {&kAdvanceConversations, Params().Add(adv_id.Finish()).Add(adv_seq.Finish()).Add(adv_ts.Finish())});
    IntArray mark_conv, mark_user, mark_seq;
    for (const auto& [key, seq] : read_marks) {
      mark_conv.Add(key.first);
      mark_user.Add(key.second);
      mark_seq.Add(seq);
    }
    second.push_back(
        {&kRaiseReadSeqs, Params().Add(mark_conv.Finish()).Add(mark_user.Finish()).Add(mark_seq.Finish())});
    if (!attachment_rows.empty()) second.push_back(attachment_rows.Insert());
    AppendFoldWrites(folder.Writes(), second);
  }
  second.push_back({&kCommit, {}});
  commit_sent = true;
  PG_STORE_ASSIGN(std::vector<Rows> written, c.Pipeline(second));
  (void)written;
  return out;
}

Result<std::unique_ptr<Store>> Open(const Options& options) {
  if (options.conninfo.empty()) return MakeError(Errc::kUnavailable, "postgres: no conninfo configured");
  auto pool = std::make_unique<ConnectionPool>(options.conninfo, options.pool);
  {
    Result<ConnectionPool::Lease> lease = pool->Acquire();
    if (!lease.ok()) return std::move(lease).error();
    if (Result<void> r = Migrate(**lease); !r.ok()) return r.error();
  }
  return std::unique_ptr<Store>(std::make_unique<PostgresStore>(std::move(pool)));
}

}  // namespace parley::store::postgres
