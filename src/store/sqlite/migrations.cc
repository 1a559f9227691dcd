#include "store/sqlite/migrations.h"

#include <string>

#include "store/sqlite/connection.h"

namespace parley::store::sqlite {
namespace {

// The shape follows the wide-column model of store.h: messages are one
// partition per conversation clustered by seq (WITHOUT ROWID keeps the rows in
// primary-key order), and the conversation row carries its counters so no
// read on the path of a message needs an aggregate.
constexpr std::string_view kMigrations[] = {
    // 1: initial schema.
    R"sql(
CREATE TABLE users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  username      TEXT    NOT NULL UNIQUE,
  display_name  TEXT    NOT NULL,
  password_hash TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  last_seen     INTEGER
);

CREATE TABLE conversations (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT    NOT NULL CHECK (kind IN ('dm', 'group')),
  title         TEXT,
  last_seq      INTEGER NOT NULL DEFAULT 0,
  member_count  INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  last_activity INTEGER NOT NULL
);

CREATE TABLE members (
  conv     INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  user     INTEGER NOT NULL REFERENCES users(id),
  role     TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  read_seq INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (conv, user)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user, conv);

-- client_msg_id is NULL when the sender gave none: such a message is never
-- a duplicate (NULLs are distinct in a UNIQUE index).
CREATE TABLE messages (
  conv          INTEGER NOT NULL REFERENCES conversations(id),
  seq           INTEGER NOT NULL,
  id            INTEGER NOT NULL,
  sender        INTEGER NOT NULL,
  body          TEXT    NOT NULL,
  ts            INTEGER NOT NULL,
  client_msg_id TEXT,
  PRIMARY KEY (conv, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_dedupe ON messages(sender, client_msg_id);

CREATE TABLE refresh_tokens (
  hash       TEXT    PRIMARY KEY,
  user       INTEGER NOT NULL REFERENCES users(id),
  expires_at INTEGER NOT NULL,
  used       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

-- One row per DM pair, user_lo < user_hi: the primary key makes the pair's
-- conversation unique however many callers race to create it.
CREATE TABLE dms (
  user_lo INTEGER NOT NULL REFERENCES users(id),
  user_hi INTEGER NOT NULL REFERENCES users(id),
  conv    INTEGER NOT NULL REFERENCES conversations(id),
  PRIMARY KEY (user_lo, user_hi),
  CHECK (user_lo < user_hi)
) WITHOUT ROWID;
)sql",
    // 2: token revocation. A per-user token epoch (access tokens issued under
    // an older one are revoked) and a deletion tombstone; refresh tokens in
    // families (one per login), so a logout or a detected replay revokes the
    // family. Tokens stored before this migration form a family each.
    R"sql(
ALTER TABLE users ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';
UPDATE refresh_tokens SET family = hash WHERE family = '';
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens(user);
)sql",
    // 3: richer messages (PROTOCOL.md §5). Every change is an entry of its own
    // in `messages` (kind 0 text, 1 edit, 2 delete, 3 reaction; op 0 add,
    // 1 remove). A text entry's row holds its folded state, updated by the
    // transaction that stores each change: body (the latest), edited_ts,
    // deleted, mentions (ids separated by spaces) and state_seq (NULL while
    // nothing changed it: its own seq). Existing rows are text entries with
    // nothing changed, so the new columns' defaults describe them.
    R"sql(
ALTER TABLE messages ADD COLUMN kind      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN target    INTEGER;
ALTER TABLE messages ADD COLUMN emoji     TEXT;
ALTER TABLE messages ADD COLUMN op        INTEGER;
ALTER TABLE messages ADD COLUMN reply_to  INTEGER;
ALTER TABLE messages ADD COLUMN mentions  TEXT;
ALTER TABLE messages ADD COLUMN edited_ts INTEGER;
ALTER TABLE messages ADD COLUMN deleted   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN state_seq INTEGER;

-- What `unread` counts, and nothing else: a range count from read_seq on
-- reads only this index (the sender is in it to leave out the reader's own;
-- kind and deleted, constant in it, make it covering).
CREATE INDEX messages_unread ON messages(conv, seq, sender, kind, deleted) WHERE kind = 0 AND deleted = 0;
-- The edits of a text entry, whose bodies a delete erases.
CREATE INDEX messages_edits ON messages(conv, target) WHERE kind = 1;

-- Who holds which emoji on a text entry.
CREATE TABLE reactions (
  conv   INTEGER NOT NULL,
  target INTEGER NOT NULL,
  user   INTEGER NOT NULL,
  emoji  TEXT    NOT NULL,
  PRIMARY KEY (conv, target, user, emoji)
) WITHOUT ROWID;
-- Per emoji on a text entry: how many hold it, and the seq of the add that
-- took it from 0 to 1 (the order of the reactions list). A row with count 0
-- is deleted.
CREATE TABLE reaction_counts (
  conv      INTEGER NOT NULL,
  target    INTEGER NOT NULL,
  emoji     TEXT    NOT NULL,
  count     INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  PRIMARY KEY (conv, target, emoji)
) WITHOUT ROWID;
-- The users a text entry mentions, its sender left out: what
-- mentions_unread counts, by user.
CREATE TABLE mentions (
  conv INTEGER NOT NULL,
  seq  INTEGER NOT NULL,
  user INTEGER NOT NULL,
  PRIMARY KEY (conv, seq, user)
) WITHOUT ROWID;
CREATE INDEX mentions_by_user ON mentions(user, conv, seq);
)sql",
    // 4: groups people can run (PROTOCOL.md §7). `joined` orders a
    // conversation's members by when they joined (ownership passes to the
    // admin, else the member, who joined first); members from before this
    // migration share 0 and are ordered by user id. A group's topic is NULL
    // until set (served as ""). Bans keep a user out of one conversation;
    // invites let anyone holding the code join, within max_uses (NULL:
    // unlimited) and expires_at; blocks are one user's, of another.
    R"sql(
ALTER TABLE conversations ADD COLUMN topic TEXT;
ALTER TABLE members ADD COLUMN joined INTEGER NOT NULL DEFAULT 0;
CREATE INDEX members_by_joined ON members(conv, joined);

CREATE TABLE bans (
  conv       INTEGER NOT NULL REFERENCES conversations(id),
  user       INTEGER NOT NULL REFERENCES users(id),
  by_user    INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (conv, user)
) WITHOUT ROWID;

CREATE TABLE invites (
  code       TEXT    PRIMARY KEY,
  conv       INTEGER NOT NULL REFERENCES conversations(id),
  created_by INTEGER NOT NULL,
  max_uses   INTEGER,
  uses       INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX invites_by_conv ON invites(conv);

CREATE TABLE blocks (
  blocker    INTEGER NOT NULL REFERENCES users(id),
  blocked    INTEGER NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;
)sql",
    // Bots (PROTOCOL.md §8): a bot is a user with an owner and an API key
    // instead of a password. Only the key's SHA-256 is kept (the key is
    // 256 random bits: no salt or slow hash needed), unique, and cleared
    // when the bot is deleted.
    R"sql(
ALTER TABLE users ADD COLUMN bot_owner INTEGER REFERENCES users(id);
ALTER TABLE users ADD COLUMN api_key_hash TEXT;
CREATE UNIQUE INDEX users_by_api_key ON users(api_key_hash) WHERE api_key_hash IS NOT NULL;
CREATE INDEX users_by_bot_owner ON users(bot_owner) WHERE bot_owner IS NOT NULL;
)sql",
    // Uploads (PROTOCOL.md §6): each upload's metadata (the bytes are in
    // the blob store, named by sha256, so the index by sha256 tells the
    // collector whether a blob is still named), and which text entries
    // attach which uploads, in order. The attachment rows of a deleted
    // entry stay: "attached once, all deleted" is what makes an upload
    // gone for everyone but its uploader.
    R"sql(
CREATE TABLE uploads (
  id           INTEGER PRIMARY KEY,
  uploader     INTEGER NOT NULL REFERENCES users(id),
  name         TEXT    NOT NULL,
  content_type TEXT    NOT NULL,
  size         INTEGER NOT NULL,
  sha256       TEXT    NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX uploads_by_sha256 ON uploads(sha256);
CREATE INDEX uploads_by_created ON uploads(created_at);

CREATE TABLE attachments (
  conv     INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  position INTEGER NOT NULL,
  upload   INTEGER NOT NULL REFERENCES uploads(id),
  PRIMARY KEY (conv, seq, position)
) WITHOUT ROWID;
CREATE INDEX attachments_by_upload ON attachments(upload, conv, seq);
)sql",
    // Search (PROTOCOL.md §6): an FTS5 index of the current bodies of the
    // text entries that are not deleted, kept by the CommitBatch transaction
    // that writes them (store/sqlite/search_index.h). The rowid orders the
    // index by ts: (ts << 20) + a slot within the millisecond, so a search
    // walks it newest first and stops at its page. The index keeps its own
    // copy of the text (the entries' table has no rowid to point at);
    // diacritics are kept, so words match as typed, case aside. Entries
    // stored before this migration are indexed by it.
    R"sql(
CREATE VIRTUAL TABLE message_search USING fts5(
  text, conv_id UNINDEXED, entry_seq UNINDEXED,
  tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO message_search(rowid, text, conv_id, entry_seq)
  SELECT (min(max(ts, 0), 8796093022207) << 20)
           + row_number() OVER (PARTITION BY min(max(ts, 0), 8796093022207) ORDER BY conv, seq) - 1,
         body, conv, seq
  FROM messages WHERE kind = 0 AND deleted = 0;
)sql",
    // Server administration (PROTOCOL.md §7): when a server administrator
    // disabled the user (NULL: enabled).
    R"sql(
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
)sql",
    // Outgoing webhooks (PROTOCOL.md §8): the target and its secret, and
    // where its delivery stands (cursor: the last seq answered 2xx), so a
    // restart resumes there; the lease names the one delivering it.
    R"sql(
CREATE TABLE webhooks (
  id              INTEGER PRIMARY KEY,
  conv            INTEGER NOT NULL REFERENCES conversations(id),
  url             TEXT    NOT NULL,
  secret          TEXT    NOT NULL,
  created_by      INTEGER NOT NULL REFERENCES users(id),
  created_at      INTEGER NOT NULL,
  cursor          INTEGER NOT NULL,
  failing_since   INTEGER,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  attempts        INTEGER NOT NULL DEFAULT 0,
  lease_owner     TEXT,
  lease_until     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_by_conv ON webhooks(conv, id);
)sql",
    // Web Push and notification levels (PROTOCOL.md §8): a member's level
    // (NULL: never chosen, the conversation kind's default), the users'
    // push subscriptions (one row per endpoint: a browser that subscribes
    // again, or for another user, replaces the row), and the server-wide
    // secrets a cluster shares (the VAPID key), kept by the first writer.
    R"sql(
ALTER TABLE members ADD COLUMN notify INTEGER;
CREATE TABLE push_subscriptions (
  endpoint   TEXT    PRIMARY KEY,
  user       INTEGER NOT NULL REFERENCES users(id),
  p256dh     TEXT    NOT NULL,
  auth       TEXT    NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user);
CREATE TABLE server_secrets (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
    // The entries move to RocksDB (store/sqlite/entry_db.h): Open copies
    // them there after this migration and drops their tables
    // (move_entries.cc). What SQLite keeps of them: whether an attachment's
    // entry is live (no longer a join with the entries), and the number of
    // the last batch whose SQLite work is applied (index_work.h).
    R"sql(
ALTER TABLE attachments ADD COLUMN live INTEGER NOT NULL DEFAULT 1;
UPDATE attachments SET live = 0 WHERE EXISTS(
  SELECT 1 FROM messages m WHERE m.conv = attachments.conv AND m.seq = attachments.seq AND m.deleted = 1);
CREATE TABLE entry_log (applied INTEGER NOT NULL);
INSERT INTO entry_log(applied) VALUES (0);
)sql",
};

}  // namespace

std::span<const std::string_view> Migrations() { return kMigrations; }

Result<void> Migrate(Connection& conn) {
  const int64_t latest = static_cast<int64_t>(Migrations().size());
  Result<int64_t> version = conn.QueryInt("PRAGMA user_version");
  if (!version.ok()) return std::move(version).error();
  if (*version > latest) {
    return MakeError(Errc::kUnavailable, "sqlite: database schema version " + std::to_string(*version) +
                                             " is newer than this binary supports (" +
                                             std::to_string(latest) + ")");
  }
  for (int64_t v = *version; v < latest; ++v) {
    Result<Transaction> txn = Transaction::Begin(conn, Transaction::Mode::kWrite);
    if (!txn.ok()) return std::move(txn).error();
    // Re-read inside the write lock: another process may have migrated meanwhile.
    Result<int64_t> current = conn.QueryInt("PRAGMA user_version");
    if (!current.ok()) return std::move(current).error();
    if (*current != v) {
      if (*current > latest) return MakeError(Errc::kUnavailable, "sqlite: schema changed during migration");
      v = *current - 1;
      continue;  // the rolled-back txn ends here; loop resumes at *current
    }
    if (Result<void> r = conn.Exec(Migrations()[v]); !r.ok()) {
      Error e = r.error();
      e.code = Errc::kUnavailable;
      e.message = "migration " + std::to_string(v + 1) + " failed: " + e.message;
      return e;
    }
    if (Result<void> r = conn.Exec("PRAGMA user_version = " + std::to_string(v + 1)); !r.ok())
      return r.error();
    if (Result<void> r = txn->Commit(); !r.ok()) return r.error();
  }
  return Ok();
}

}  // namespace parley::store::sqlite
