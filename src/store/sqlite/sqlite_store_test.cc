// What the SQLite backend promises beyond the store contract
// (tests/contract): how it opens, migrates and refuses.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "store/search_query.h"
#include "store/sqlite/entry_db.h"
#include "store/sqlite/migrations.h"

namespace parley::store::sqlite {
namespace {

// A temporary folder for one test, removed with it.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "parley-sqlite-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/test.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs one single-value query on the file with a plain connection.
  int64_t RawInt(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    int64_t value = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  std::string RawText(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string value;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  // Runs statements on the file with a plain connection (beside an open
  // store, as another process would).
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string why = err != nullptr ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << why << " in: " << sql;
  }

  std::unique_ptr<Store> OpenStore() {
    Result<std::unique_ptr<Store>> store =
        Open(Options{.path = path_, .synchronous_full = true, .readers = 2});
    if (!store.ok()) {
      ADD_FAILURE() << "Open: " << store.error().message;
      return nullptr;
    }
    return std::move(store).value();
  }

  // The database file copied (the store closed: its WAL checkpointed).
  void SaveDatabase(const std::string& to) {
    ASSERT_EQ(RawInt("PRAGMA wal_checkpoint(TRUNCATE)"), 0);
    std::filesystem::copy_file(path_, to, std::filesystem::copy_options::overwrite_existing);
  }
  // The saved file put back in place, without the -wal and -shm of the
  // newer one.
  void RestoreDatabase(const std::string& from) {
    std::filesystem::remove(path_ + "-wal");
    std::filesystem::remove(path_ + "-shm");
    std::filesystem::copy_file(from, path_, std::filesystem::copy_options::overwrite_existing);
  }
  void SaveEntries(const std::string& to) {
    std::filesystem::copy(EntriesDir(path_), to, std::filesystem::copy_options::recursive);
  }
  void RestoreEntries(const std::string& from) {
    std::filesystem::remove_all(EntriesDir(path_));
    std::filesystem::copy(from, EntriesDir(path_), std::filesystem::copy_options::recursive);
  }

  UserId NewUser(Store& store, const std::string& name) {
    Result<User> u = store.CreateUser(name, "", "h", now_);
    EXPECT_TRUE(u.ok()) << u.error().message;
    return u.ok() ? u->id : UserId();
  }
  ConversationId NewGroup(Store& store, UserId owner, std::vector<UserId> members,
                          const std::string& title = "g") {
    Result<ConversationId> g = store.CreateGroup(title, owner, members, now_);
    EXPECT_TRUE(g.ok()) << g.error().message;
    return g.ok() ? *g : ConversationId();
  }
  void NewUpload(Store& store, int64_t id, UserId uploader, const std::string& name) {
    Result<void> r = store.CreateUpload(
        UploadRecord{UploadId(id), uploader, name, "application/pdf", 100 + id, std::string(64, 'a'), now_});
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // Entries of PROTOCOL.md §5 (id and ts drawn here, ts increasing).
  NewMessage Text(ConversationId conv, UserId sender, const std::string& cid, const std::string& body,
                  std::vector<std::string> mention_names = {}, std::vector<UploadId> attachments = {}) {
    NewMessage m;
    m.conv = conv;
    m.sender = sender;
    m.client_msg_id = cid;
    m.body = body;
    m.id = MessageId(++next_id_);
    m.ts = ++now_;
    m.mention_names = std::move(mention_names);
    m.attachments = std::move(attachments);
    return m;
  }
  NewMessage Change(ConversationId conv, UserId sender, const std::string& cid, EntryKind kind,
                    int64_t target, const std::string& body = "", const std::string& emoji = "") {
    NewMessage m = Text(conv, sender, cid, body);
    m.kind = kind;
    m.target = target;
    m.emoji = emoji;
    return m;
  }
  // Commits one entry alone; its seq (0 when refused: the test fails).
  int64_t Commit(Store& store, const NewMessage& m) {
    Result<std::vector<Result<Committed>>> r = store.CommitBatch(std::span<const NewMessage>(&m, 1));
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok()) return 0;
    EXPECT_EQ(r->size(), 1u);
    EXPECT_TRUE(r->front().ok()) << r->front().error().message;
    if (!r->front().ok()) return 0;
    EXPECT_FALSE(r->front()->duplicate);
    return r->front()->message.seq;
  }

  // The (conv, seq) of a search's results, newest first.
  std::vector<std::pair<int64_t, int64_t>> Found(Store& store, UserId viewer, const std::string& query) {
    std::vector<std::pair<int64_t, int64_t>> out;
    Result<SearchQuery> q = ParseSearchQuery(query);
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return out;
    Result<SearchPage> page = store.Search(SearchRequest{viewer, *q, std::nullopt, 50, ""});
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok()) return out;
    for (const Message& m : page->results) out.emplace_back(m.conv.value, m.seq);
    return out;
  }

  std::vector<Message> HistoryOf(Store& store, ConversationId conv, UserId viewer) {
    Result<std::vector<Message>> page = store.History(conv, std::nullopt, std::nullopt, 500, viewer);
    EXPECT_TRUE(page.ok()) << page.error().message;
    return page.ok() ? *page : std::vector<Message>();
  }
  static std::vector<int64_t> Seqs(const std::vector<Message>& page) {
    std::vector<int64_t> out;
    for (const Message& m : page) out.push_back(m.seq);
    return out;
  }

  Conversation Get(Store& store, ConversationId conv, UserId viewer) {
    Result<Conversation> c = store.GetConversation(conv, viewer);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? *c : Conversation();
  }

  // Makes SQLite's part of every commit fail (the update of entry_log that
  // ends it) while fail_flag holds a row; RocksDB's part is unaffected.
  void InjectSqliteFailure() {
    Exec(
        "CREATE TABLE fail_flag(x INTEGER); INSERT INTO fail_flag VALUES(1);"
        "CREATE TRIGGER fail_apply BEFORE UPDATE OF applied ON entry_log "
        "WHEN (SELECT count(*) FROM fail_flag) > 0 BEGIN SELECT RAISE(ABORT, 'injected'); END;");
  }
  void LiftSqliteFailure() { Exec("DELETE FROM fail_flag"); }

  std::string dir_;
  std::string path_;
  TimeMs now_ = 1'700'000'000'000;
  int64_t next_id_ = 5000;
};

TEST_F(SqliteStoreTest, OpenCreatesAMigratedWalDatabase) {
  Result<std::unique_ptr<Store>> store = Open(Options{.path = path_});
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_TRUE((*store)->Ping().ok());
  EXPECT_EQ(RawText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawInt("PRAGMA user_version"), static_cast<int64_t>(Migrations().size()));
  EXPECT_EQ(
      RawInt("SELECT count(*) FROM sqlite_schema WHERE name IN "
             "('users','conversations','members','refresh_tokens','dms','members_by_user','attachments',"
             "'entry_log')"),
      8);
  // The entries are in RocksDB beside the database (entry_db.h), and their
  // tables of earlier schemas are gone.
  EXPECT_TRUE(std::filesystem::is_directory(EntriesDir(path_)));
  EXPECT_EQ(RawInt("SELECT count(*) FROM sqlite_schema WHERE name IN "
                   "('messages','mentions','reactions','reaction_counts')"),
            0);
}

TEST_F(SqliteStoreTest, ReopenKeepsTheSchemaVersion) {
  {
    Result<std::unique_ptr<Store>> store =
        Open(Options{.path = path_, .synchronous_full = false, .readers = 1});
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->CreateUser("kept", "", "h", 1).ok());
  }
  Result<std::unique_ptr<Store>> again = Open(Options{.path = path_, .readers = 0});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE((*again)->FindUserByName("kept").ok());
  EXPECT_EQ(RawInt("PRAGMA user_version"), static_cast<int64_t>(Migrations().size()));
}

// A database of schema 1 with a refresh token in it: migration 2 gives the
// token a family of its own, and it can still be taken once.
TEST_F(SqliteStoreTest, MigrationTwoKeepsOldRefreshTokensEachInItsOwnFamily) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    std::string v1(Migrations()[0]);
    v1 +=
        "INSERT INTO users(username, display_name, password_hash, created_at) VALUES('old', 'old', 'h', 1);"
        "INSERT INTO refresh_tokens(hash, user, expires_at, used) VALUES('old-1', 1, 10000, 0);"
        "INSERT INTO refresh_tokens(hash, user, expires_at, used) VALUES('old-2', 1, 10000, 0);"
        "PRAGMA user_version = 1;";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, v1.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  Result<std::unique_ptr<Store>> store = Open(Options{.path = path_, .readers = 1});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(RawInt("PRAGMA user_version"), static_cast<int64_t>(Migrations().size()));
  Result<RefreshGrant> taken = (*store)->TakeRefreshToken("old-1", 100);
  ASSERT_TRUE(taken.ok()) << taken.error().message;
  EXPECT_EQ(taken->family, "old-1");
  // Replaying old-1 revokes its own family only.
  EXPECT_FALSE((*store)->TakeRefreshToken("old-1", 100).ok());
  EXPECT_TRUE((*store)->TakeRefreshToken("old-2", 100).ok());
  Result<AuthState> state = (*store)->GetAuthState(UserId(1));
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->token_epoch, 0);
  EXPECT_FALSE(state->deleted);
}

TEST_F(SqliteStoreTest, MissingFolderIsUnavailable) {
  Result<std::unique_ptr<Store>> store = Open(Options{.path = dir_ + "/no/such/folder/x.db"});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kUnavailable);
  EXPECT_NE(store.error().message.find("no/such/folder"), std::string::npos) << store.error().message;
}

TEST_F(SqliteStoreTest, EmptyPathIsUnavailable) {
  Result<std::unique_ptr<Store>> store = Open(Options{});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kUnavailable);
}

TEST_F(SqliteStoreTest, NotADatabaseIsUnavailable) {
  {
    FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not an sqlite database, just some text long enough to fill a header.......", f);
    std::fclose(f);
  }
  Result<std::unique_ptr<Store>> store = Open(Options{.path = path_});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kUnavailable);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  ASSERT_EQ(RawInt("PRAGMA user_version = 999"), -1);  // creates the file; the pragma returns no row
  EXPECT_EQ(RawInt("PRAGMA user_version"), 999);
  Result<std::unique_ptr<Store>> store = Open(Options{.path = path_});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kUnavailable);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
}

// --- a commit between the two engines (index_work.h) ------------------------------

// SQLite's part of a commit fails after RocksDB stored it: the batch answers
// kUnavailable, commits fail while SQLite still cannot apply it, and once it
// can, the retry finds the entry as a duplicate with its seq, and last_seq,
// the read marker, the counts and search all show it.
TEST_F(SqliteStoreTest, CommitFailingInSqliteIsStoredAndTheRetryIsADuplicate) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const UserId alice = NewUser(*store, "alice"), bob = NewUser(*store, "bob");
  const ConversationId g = NewGroup(*store, alice, {bob});
  ASSERT_EQ(Commit(*store, Text(g, alice, "a1", "first apple")), 1);
  ASSERT_NO_FATAL_FAILURE(InjectSqliteFailure());

  const NewMessage second = Text(g, alice, "a2", "second banana @bob", {"bob"});
  Result<std::vector<Result<Committed>>> failed = store->CommitBatch(std::span<const NewMessage>(&second, 1));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::kUnavailable) << failed.error().message;
  // Stored in RocksDB; SQLite's transaction rolled back.
  EXPECT_EQ(Seqs(HistoryOf(*store, g, bob)), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Get(*store, g, alice).last_seq, 1);
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 1);

  // While SQLite still fails, another batch is refused whole and stores
  // nothing (its error code: see BatchRefusedForUnappliedWorkAnswersUnavailable).
  const NewMessage other = Text(g, bob, "b1", "bob meanwhile");
  ASSERT_FALSE(store->CommitBatch(std::span<const NewMessage>(&other, 1)).ok());
  EXPECT_EQ(Seqs(HistoryOf(*store, g, bob)), (std::vector<int64_t>{1, 2}));

  ASSERT_NO_FATAL_FAILURE(LiftSqliteFailure());
  Result<std::vector<Result<Committed>>> retry = store->CommitBatch(std::span<const NewMessage>(&second, 1));
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  ASSERT_EQ(retry->size(), 1u);
  ASSERT_TRUE(retry->front().ok()) << retry->front().error().message;
  EXPECT_TRUE(retry->front()->duplicate);
  EXPECT_EQ(retry->front()->message.seq, 2);
  EXPECT_EQ(retry->front()->message.body, "second banana @bob");
  EXPECT_EQ(retry->front()->message.mentions, (std::vector<UserId>{bob}));

  const Conversation for_alice = Get(*store, g, alice);
  EXPECT_EQ(for_alice.last_seq, 2);
  EXPECT_EQ(for_alice.read_seq, 2);
  EXPECT_EQ(for_alice.unread_count, 0);
  const Conversation for_bob = Get(*store, g, bob);
  EXPECT_EQ(for_bob.last_seq, 2);
  EXPECT_EQ(for_bob.unread_count, 2);
  EXPECT_EQ(for_bob.mentions_unread, 1);
  EXPECT_EQ(Found(*store, bob, "banana"), (std::vector<std::pair<int64_t, int64_t>>{{g.value, 2}}));
  EXPECT_EQ(Found(*store, bob, "apple"), (std::vector<std::pair<int64_t, int64_t>>{{g.value, 1}}));
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 2);
  // The refused batch stored nothing: its entry is new now, after 2.
  EXPECT_EQ(Commit(*store, other), 3);
  EXPECT_EQ(Get(*store, g, alice).last_seq, 3);
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 3);
}

// The store writes a sender's key for a conversation once while it knows
// RocksDB holds it (a batch with the pair twice, then later batches, skip
// it); what it skips is still there: FormerConversations lists both
// conversations, before and after a reopen (which forgets what it knew),
// and a batch refused while SQLite lags leaves the pair unknown, so its
// retry writes it.
TEST_F(SqliteStoreTest, SenderConversationKeysSkippedWhenKnownAreStillThere) {
  UserId alice, bob;
  ConversationId g1, g2, g3;
  auto former = [&](Store& store) {
    Result<std::vector<Conversation>> f = store.FormerConversations(alice);
    EXPECT_TRUE(f.ok()) << f.error().message;
    std::vector<int64_t> ids;
    if (f.ok()) {
      for (const Conversation& c : *f) ids.push_back(c.id.value);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    alice = NewUser(*store, "alice");
    bob = NewUser(*store, "bob");
    g1 = NewGroup(*store, bob, {alice});
    g2 = NewGroup(*store, bob, {alice});
    g3 = NewGroup(*store, bob, {alice});
    const std::vector<NewMessage> batch = {Text(g1, alice, "a1", "one"), Text(g1, alice, "a2", "two"),
                                           Text(g2, alice, "a3", "three")};
    Result<std::vector<Result<Committed>>> r = store->CommitBatch(batch);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(Commit(*store, Text(g1, alice, "a4", "four")), 3);
    EXPECT_EQ(Commit(*store, Text(g2, alice, "a5", "five")), 2);

    // g3's first entry: stored in RocksDB, SQLite fails; then a batch is
    // refused whole while SQLite lags; the retry is a duplicate.
    ASSERT_NO_FATAL_FAILURE(InjectSqliteFailure());
    const NewMessage in_g3 = Text(g3, alice, "a6", "six");
    ASSERT_FALSE(store->CommitBatch(std::span<const NewMessage>(&in_g3, 1)).ok());
    ASSERT_NO_FATAL_FAILURE(LiftSqliteFailure());
    ASSERT_TRUE(store->CommitBatch(std::span<const NewMessage>(&in_g3, 1)).ok());

    ASSERT_TRUE(store->RemoveMember(g1, alice).ok());
    ASSERT_TRUE(store->RemoveMember(g2, alice).ok());
    ASSERT_TRUE(store->RemoveMember(g3, alice).ok());
    EXPECT_EQ(former(*store), (std::vector<int64_t>{g1.value, g2.value, g3.value}));
  }
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(former(*store), (std::vector<int64_t>{g1.value, g2.value, g3.value}));
  // Back in g1 and writing there after the reopen: listed once when she
  // leaves again.
  ASSERT_TRUE(store->AddMember(g1, alice, Role::kMember).ok());
  EXPECT_EQ(former(*store), (std::vector<int64_t>{g2.value, g3.value}));
  EXPECT_EQ(Commit(*store, Text(g1, alice, "a7", "seven")), 4);
  ASSERT_TRUE(store->RemoveMember(g1, alice).ok());
  EXPECT_EQ(former(*store), (std::vector<int64_t>{g1.value, g2.value, g3.value}));
}

// The next batch, not a retry, applies the work SQLite lacks before its own.
TEST_F(SqliteStoreTest, CommitFailingInSqliteIsAppliedBeforeTheNextBatch) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const UserId alice = NewUser(*store, "alice"), bob = NewUser(*store, "bob");
  const ConversationId g = NewGroup(*store, alice, {bob});
  ASSERT_NO_FATAL_FAILURE(InjectSqliteFailure());
  const NewMessage first = Text(g, alice, "a1", "lonely walrus");
  ASSERT_FALSE(store->CommitBatch(std::span<const NewMessage>(&first, 1)).ok());
  ASSERT_NO_FATAL_FAILURE(LiftSqliteFailure());
  EXPECT_EQ(Commit(*store, Text(g, bob, "b1", "cheerful walrus")), 2);
  EXPECT_EQ(Get(*store, g, alice).last_seq, 2);
  EXPECT_EQ(Get(*store, g, alice).read_seq, 1);
  EXPECT_EQ(Get(*store, g, alice).unread_count, 1);
  EXPECT_EQ(Get(*store, g, bob).read_seq, 2);
  EXPECT_EQ(Found(*store, bob, "walrus"),
            (std::vector<std::pair<int64_t, int64_t>>{{g.value, 2}, {g.value, 1}}));
}

// The store closes with a batch SQLite has not applied: the next Open
// refuses while SQLite still cannot apply it, then applies it (Reconcile):
// last_seq, the sender's read marker, an edit's reindexing and mentions.
TEST_F(SqliteStoreTest, CommitFailingInSqliteIsAppliedByTheNextOpen) {
  ConversationId g;
  UserId alice, bob;
  std::vector<NewMessage> batch;
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    alice = NewUser(*store, "alice");
    bob = NewUser(*store, "bob");
    g = NewGroup(*store, alice, {bob});
    ASSERT_EQ(Commit(*store, Text(g, alice, "a1", "first apple")), 1);
    ASSERT_NO_FATAL_FAILURE(InjectSqliteFailure());
    batch.push_back(Text(g, alice, "a2", "second banana @bob", {"bob"}));
    batch.push_back(Change(g, alice, "a3", EntryKind::kEdit, 1, "first cherry"));
    Result<std::vector<Result<Committed>>> failed = store->CommitBatch(batch);
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, Errc::kUnavailable);
  }
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 1);
  Result<std::unique_ptr<Store>> refused = Open(Options{.path = path_, .readers = 1});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kUnavailable);
  EXPECT_NE(refused.error().message.find("injected"), std::string::npos) << refused.error().message;

  ASSERT_NO_FATAL_FAILURE(LiftSqliteFailure());
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 2);
  const Conversation for_alice = Get(*store, g, alice);
  EXPECT_EQ(for_alice.last_seq, 3);
  EXPECT_EQ(for_alice.read_seq, 3);
  const Conversation for_bob = Get(*store, g, bob);
  EXPECT_EQ(for_bob.read_seq, 0);
  EXPECT_EQ(for_bob.unread_count, 2);  // 1 and 2; the edit is no text entry
  EXPECT_EQ(for_bob.mentions_unread, 1);
  EXPECT_EQ(Found(*store, bob, "cherry"), (std::vector<std::pair<int64_t, int64_t>>{{g.value, 1}}));
  EXPECT_TRUE(Found(*store, bob, "apple").empty());
  EXPECT_EQ(Found(*store, bob, "banana"), (std::vector<std::pair<int64_t, int64_t>>{{g.value, 2}}));
  const std::vector<Message> page = HistoryOf(*store, g, bob);
  ASSERT_EQ(Seqs(page), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(page[0].body, "first cherry");
  EXPECT_EQ(page[0].state_seq, 3);
  // Retried, both are duplicates with their seqs; the next entry takes 4.
  Result<std::vector<Result<Committed>>> retry = store->CommitBatch(batch);
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  ASSERT_EQ(retry->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE((*retry)[i].ok());
    EXPECT_TRUE((*retry)[i]->duplicate);
    EXPECT_EQ((*retry)[i]->message.seq, static_cast<int64_t>(i + 2));
  }
  EXPECT_EQ(Commit(*store, Text(g, bob, "b1", "after")), 4);
}

// --- rebuilding what SQLite derives from the entries (Reconcile) --------------------

// The database file is put back as it was several batches ago, within the
// works RocksDB keeps (those since SQLite's last fsync): Open applies them,
// which brings last_seq, read markers, the search index and the attachments
// up to date (an edit, deletes, an attachment, another conversation), and
// commits go on from the newest seq.
TEST_F(SqliteStoreTest, RestoredOlderDatabaseIsRebuiltFromTheEntries) {
  const std::string old_db = dir_ + "/old.db";
  UserId alice, bob, carol;
  ConversationId g1, g2;
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    alice = NewUser(*store, "alice");
    bob = NewUser(*store, "bob");
    carol = NewUser(*store, "carol");
    g1 = NewGroup(*store, alice, {bob});
    g2 = NewGroup(*store, alice, {bob, carol});
    ASSERT_NO_FATAL_FAILURE(NewUpload(*store, 901, alice, "one.pdf"));
    ASSERT_NO_FATAL_FAILURE(NewUpload(*store, 902, alice, "two.pdf"));
    ASSERT_EQ(Commit(*store, Text(g1, alice, "a1", "alpha one")), 1);
    ASSERT_EQ(Commit(*store, Text(g1, alice, "a2", "alpha two")), 2);
    ASSERT_EQ(Commit(*store, Text(g1, alice, "a3", "with file one", {}, {UploadId(901)})), 3);
    ASSERT_EQ(Commit(*store, Text(g2, alice, "a4", "gamma one")), 1);
  }
  ASSERT_NO_FATAL_FAILURE(SaveDatabase(old_db));
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(Commit(*store, Text(g1, bob, "b1", "delta words")), 4);
    ASSERT_EQ(Commit(*store, Change(g1, alice, "a5", EntryKind::kEdit, 1, "alpha edited")), 5);
    ASSERT_EQ(Commit(*store, Change(g1, alice, "a6", EntryKind::kDelete, 2)), 6);
    ASSERT_EQ(Commit(*store, Text(g1, alice, "a7", "file two", {}, {UploadId(902)})), 7);
    ASSERT_EQ(Commit(*store, Change(g1, alice, "a8", EntryKind::kDelete, 3)), 8);
    ASSERT_EQ(Commit(*store, Change(g1, bob, "b2", EntryKind::kReaction, 4, "", "+1")), 9);
    ASSERT_EQ(Commit(*store, Text(g2, carol, "c1", "gamma two")), 2);
  }
  ASSERT_NO_FATAL_FAILURE(RestoreDatabase(old_db));
  EXPECT_EQ(RawInt("SELECT last_seq FROM conversations WHERE id = " + g1.ToString()), 3);
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 4);

  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 11);  // every batch stored
  EXPECT_EQ(Get(*store, g1, alice).last_seq, 9);
  EXPECT_EQ(Get(*store, g2, alice).last_seq, 2);
  // The works of the batches since the copy's last fsync are still in
  // RocksDB: Open applies them (not a rebuild), read markers included. Bob's
  // reaction at 9 moved his marker there.
  EXPECT_EQ(Get(*store, g1, bob).read_seq, 9);
  EXPECT_EQ(Get(*store, g1, bob).unread_count, 0);
  using Hits = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(Found(*store, alice, "alpha"), (Hits{{g1.value, 1}}));
  EXPECT_EQ(Found(*store, alice, "edited"), (Hits{{g1.value, 1}}));
  EXPECT_EQ(Found(*store, alice, "delta"), (Hits{{g1.value, 4}}));
  EXPECT_EQ(Found(*store, alice, "file"), (Hits{{g1.value, 7}}));
  EXPECT_EQ(Found(*store, bob, "two"), (Hits{{g2.value, 2}, {g1.value, 7}}));
  EXPECT_EQ(Found(*store, carol, "gamma"), (Hits{{g2.value, 2}, {g2.value, 1}}));
  EXPECT_TRUE(Found(*store, carol, "file").empty());  // not a member of g1
  // Uploads: 901's only entry is deleted, 902's is live.
  Result<UploadLinks> links = store->GetUploadLinks(UploadId(901), alice);
  ASSERT_TRUE(links.ok()) << links.error().message;
  EXPECT_TRUE(links->attached);
  EXPECT_FALSE(links->live);
  EXPECT_FALSE(links->member);
  ASSERT_TRUE((links = store->GetUploadLinks(UploadId(902), bob)).ok());
  EXPECT_TRUE(links->attached);
  EXPECT_TRUE(links->live);
  EXPECT_TRUE(links->member);
  ASSERT_TRUE((links = store->GetUploadLinks(UploadId(902), carol)).ok());
  EXPECT_TRUE(links->live);
  EXPECT_FALSE(links->member);
  Result<std::vector<UploadRecord>> unattached = store->UnattachedUploads(now_ + 1'000'000, 10);
  ASSERT_TRUE(unattached.ok());
  ASSERT_EQ(unattached->size(), 1u);
  EXPECT_EQ(unattached->front().id, UploadId(901));
  // History as it was, and commits go on after 9 with duplicates found.
  const std::vector<Message> page = HistoryOf(*store, g1, alice);
  ASSERT_EQ(Seqs(page), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(page[2].deleted);
  EXPECT_TRUE(page[2].attachments.empty());
  ASSERT_EQ(page[6].attachments.size(), 1u);
  EXPECT_EQ(page[6].attachments[0].id, UploadId(902));
  ASSERT_EQ(page[3].reactions.size(), 1u);
  EXPECT_EQ(page[3].reactions[0], (Reaction{"+1", 1, false}));
  const NewMessage again = Text(g1, bob, "b1", "delta words");
  Result<std::vector<Result<Committed>>> dup = store->CommitBatch(std::span<const NewMessage>(&again, 1));
  ASSERT_TRUE(dup.ok());
  ASSERT_TRUE(dup->front().ok());
  EXPECT_TRUE(dup->front()->duplicate);
  EXPECT_EQ(dup->front()->message.seq, 4);
  EXPECT_EQ(Commit(*store, Text(g1, alice, "a9", "epsilon")), 10);
  EXPECT_EQ(Found(*store, bob, "epsilon"), (Hits{{g1.value, 10}}));
}

// The entries are put back as they were two batches ago while SQLite is
// newer (a backup copies the entries first): last_seq comes down to the
// newest entry, read markers above it are clamped, the lost entries leave
// the search index and the attachments, and the next entry takes the seq
// after the newest kept.
TEST_F(SqliteStoreTest, RestoredOlderEntriesLowerLastSeqAndClampReadMarkers) {
  const std::string old_entries = dir_ + "/old.entries";
  UserId alice, bob;
  ConversationId g;
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    alice = NewUser(*store, "alice");
    bob = NewUser(*store, "bob");
    g = NewGroup(*store, alice, {bob});
    ASSERT_NO_FATAL_FAILURE(NewUpload(*store, 901, alice, "one.pdf"));
    ASSERT_EQ(Commit(*store, Text(g, alice, "a1", "one kept")), 1);
    ASSERT_EQ(Commit(*store, Text(g, alice, "a2", "two kept")), 2);
  }
  ASSERT_NO_FATAL_FAILURE(SaveEntries(old_entries));
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(Commit(*store, Text(g, alice, "a3", "three lost")), 3);
    ASSERT_EQ(Commit(*store, Text(g, alice, "a4", "four lost", {}, {UploadId(901)})), 4);
    Result<int64_t> read = store->SetReadSeq(g, bob, 4);
    ASSERT_TRUE(read.ok());
    ASSERT_EQ(*read, 4);
  }
  ASSERT_NO_FATAL_FAILURE(RestoreEntries(old_entries));
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const Conversation for_alice = Get(*store, g, alice);
  EXPECT_EQ(for_alice.last_seq, 2);
  EXPECT_EQ(for_alice.read_seq, 2);
  const Conversation for_bob = Get(*store, g, bob);
  EXPECT_EQ(for_bob.read_seq, 2);
  EXPECT_EQ(for_bob.unread_count, 0);
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 2);
  using Hits = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_TRUE(Found(*store, bob, "lost").empty());
  EXPECT_EQ(Found(*store, bob, "kept"), (Hits{{g.value, 2}, {g.value, 1}}));
  Result<UploadLinks> links = store->GetUploadLinks(UploadId(901), bob);
  ASSERT_TRUE(links.ok());
  EXPECT_FALSE(links->attached);
  EXPECT_EQ(Seqs(HistoryOf(*store, g, bob)), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Commit(*store, Text(g, alice, "a3", "three again")), 3);
  EXPECT_EQ(Found(*store, bob, "three"), (Hits{{g.value, 3}}));
  EXPECT_EQ(Get(*store, g, bob).unread_count, 1);
}

// --- moving the entries of the previous schema (move_entries.h) ---------------------

// A database of the schema before the entries moved to RocksDB, written by
// hand: users, a group, text/edit/delete/reaction rows with mentions,
// reactions and counts, two uploads attached (one to a deleted entry).
// Open moves them: History serves what the rows said, the counts and
// de-duplication work from the moved keys, and the old tables are gone.
TEST_F(SqliteStoreTest, PreviousSchemaEntriesAreMovedAndServedAsBefore) {
  const std::string up = "\xf0\x9f\x91\x8d";     // thumbs up
  const std::string party = "\xf0\x9f\x8e\x89";  // party popper
  {
    std::string sql;
    ASSERT_EQ(Migrations().size(), 11u);                    // the last one is the move's
    for (size_t i = 0; i < 6; ++i) sql += Migrations()[i];  // through uploads
    // char(128077) is U+1F44D (thumbs up), char(127881) U+1F389 (party popper).
    sql += R"sql(
INSERT INTO users(username, display_name, password_hash, created_at) VALUES
  ('alice', 'alice', 'h', 1), ('bob', 'bob', 'h', 1), ('carol', 'carol', 'h', 1);
INSERT INTO conversations(kind, title, last_seq, member_count, created_at, last_activity)
  VALUES('group', 'old', 9, 3, 1, 19);
INSERT INTO members(conv, user, role, read_seq) VALUES (1, 1, 'owner', 9), (1, 2, 'member', 1), (1, 3, 'member', 0);
INSERT INTO uploads(id, uploader, name, content_type, size, sha256, created_at) VALUES
  (500, 1, 'doc.pdf', 'application/pdf', 1234, replace(hex(zeroblob(32)), '0', 'a'), 1),
  (501, 3, 'gone.png', 'image/png', 55, replace(hex(zeroblob(32)), '0', 'b'), 1);
INSERT INTO messages(conv, seq, id, sender, body, ts, client_msg_id, kind, target, emoji, op,
                     reply_to, mentions, edited_ts, deleted, state_seq) VALUES
  (1, 1, 101, 1, 'hello @bob fixed', 10, 'a1', 0, NULL, NULL, NULL, NULL, '2', 13, 0, 9),
  (1, 2, 102, 2, 'second one', 11, 'b1', 0, NULL, NULL, NULL, 1, NULL, NULL, 0, NULL),
  (1, 3, 103, 1, 'hello @bob fixed', 13, 'a2', 1, 1, NULL, NULL, NULL, NULL, NULL, 0, NULL),
  (1, 4, 104, 2, '', 14, 'b2', 3, 1, char(128077), 0, NULL, NULL, NULL, 0, NULL),
  (1, 5, 105, 3, '', 15, 'c1', 3, 1, char(128077), 0, NULL, NULL, NULL, 0, NULL),
  (1, 6, 106, 3, '', 16, 'c2', 0, NULL, NULL, NULL, NULL, NULL, NULL, 1, 7),
  (1, 7, 107, 3, '', 17, 'c3', 2, 6, NULL, NULL, NULL, NULL, NULL, 0, NULL),
  (1, 8, 108, 3, 'ping @alice @bob', 18, NULL, 0, NULL, NULL, NULL, NULL, '1 2', NULL, 0, NULL),
  (1, 9, 109, 1, '', 19, 'a3', 3, 1, char(127881), 0, NULL, NULL, NULL, 0, NULL);
INSERT INTO attachments(conv, seq, position, upload) VALUES (1, 1, 0, 500), (1, 6, 0, 501);
INSERT INTO mentions(conv, seq, user) VALUES (1, 1, 2), (1, 8, 1), (1, 8, 2);
INSERT INTO reactions(conv, target, user, emoji) VALUES
  (1, 1, 2, char(128077)), (1, 1, 3, char(128077)), (1, 1, 1, char(127881));
INSERT INTO reaction_counts(conv, target, emoji, count, first_seq) VALUES
  (1, 1, char(128077), 2, 4), (1, 1, char(127881), 1, 9);
)sql";
    for (size_t i = 6; i < 10; ++i) sql += Migrations()[i];  // search indexes the rows above
    sql += "PRAGMA user_version = 10;";
    ASSERT_NO_FATAL_FAILURE(Exec(sql));
  }
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawInt("SELECT count(*) FROM sqlite_schema WHERE name IN "
                   "('messages','mentions','reactions','reaction_counts')"),
            0);
  EXPECT_EQ(RawInt("PRAGMA user_version"), 11);
  const ConversationId g(1);
  const UserId alice(1), bob(2), carol(3);

  auto entry = [&](int64_t seq, int64_t sender, const std::string& body, TimeMs ts, const std::string& cid,
                   EntryKind kind) {
    Message m;
    m.conv = g;
    m.seq = seq;
    m.id = MessageId(100 + seq);
    m.sender = UserId(sender);
    m.body = body;
    m.ts = ts;
    m.client_msg_id = cid;
    m.kind = kind;
    if (kind == EntryKind::kText) m.state_seq = seq;
    return m;
  };
  std::vector<Message> want;
  Message m = entry(1, 1, "hello @bob fixed", 10, "a1", EntryKind::kText);
  m.mentions = {bob};
  m.edited_ts = 13;
  m.state_seq = 9;
  m.reactions = {Reaction{up, 2, false}, Reaction{party, 1, true}};
  m.attachments = {Attachment{UploadId(500), "doc.pdf", "application/pdf", 1234}};
  want.push_back(m);
  m = entry(2, 2, "second one", 11, "b1", EntryKind::kText);
  m.reply_to = 1;
  want.push_back(m);
  m = entry(3, 1, "hello @bob fixed", 13, "a2", EntryKind::kEdit);
  m.target = 1;
  want.push_back(m);
  for (auto [seq, sender, cid] : {std::tuple(4, 2, "b2"), std::tuple(5, 3, "c1")}) {
    m = entry(seq, sender, "", 10 + seq, cid, EntryKind::kReaction);
    m.target = 1;
    m.emoji = up;
    want.push_back(m);
  }
  m = entry(6, 3, "", 16, "c2", EntryKind::kText);
  m.deleted = true;
  m.state_seq = 7;  // its attachment is not served once deleted
  want.push_back(m);
  m = entry(7, 3, "", 17, "c3", EntryKind::kDelete);
  m.target = 6;
  want.push_back(m);
  m = entry(8, 3, "ping @alice @bob", 18, "", EntryKind::kText);
  m.mentions = {alice, bob};
  want.push_back(m);
  m = entry(9, 1, "", 19, "a3", EntryKind::kReaction);
  m.target = 1;
  m.emoji = party;
  want.push_back(m);

  std::vector<Message> got = HistoryOf(*store, g, alice);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "seq " << want[i].seq;
  // Another viewer holds other reactions.
  got = HistoryOf(*store, g, bob);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].reactions, (std::vector<Reaction>{{up, 2, true}, {party, 1, false}}));
  // Pages of the moved entries.
  Result<std::vector<Message>> page = store->History(g, 6, 2, 10, alice);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Seqs(*page), (std::vector<int64_t>{3, 4, 5}));

  // Counts: bob read 1 (8 is unread and mentions him), carol read nothing
  // (1 and 2; 6 is deleted, 8 her own), alice read everything.
  Conversation c = Get(*store, g, bob);
  EXPECT_EQ(c.last_seq, 9);
  EXPECT_EQ(c.unread_count, 1);
  EXPECT_EQ(c.mentions_unread, 1);
  c = Get(*store, g, carol);
  EXPECT_EQ(c.unread_count, 2);
  EXPECT_EQ(c.mentions_unread, 0);
  c = Get(*store, g, alice);
  EXPECT_EQ(c.unread_count, 0);
  EXPECT_EQ(c.mentions_unread, 0);

  // Search (indexed by the old schema) serves the moved entries, folded.
  using Hits = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(Found(*store, bob, "fixed"), (Hits{{1, 1}}));
  EXPECT_EQ(Found(*store, bob, "ping"), (Hits{{1, 8}}));
  Result<SearchQuery> q = ParseSearchQuery("hello");
  ASSERT_TRUE(q.ok());
  Result<SearchPage> hits = store->Search(SearchRequest{alice, *q, std::nullopt, 10, ""});
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->results.size(), 1u);
  EXPECT_EQ(hits->results[0], want[0]);

  // Uploads: 500 attached to a live entry, 501 to a deleted one.
  Result<UploadLinks> links = store->GetUploadLinks(UploadId(500), bob);
  ASSERT_TRUE(links.ok());
  EXPECT_TRUE(links->attached && links->live && links->member);
  ASSERT_TRUE((links = store->GetUploadLinks(UploadId(501), carol)).ok());
  EXPECT_TRUE(links->attached);
  EXPECT_FALSE(links->live);

  // De-duplication reads the moved client ids, of any kind.
  std::vector<NewMessage> again = {Text(g, bob, "b1", "second one"),
                                   Change(g, carol, "c3", EntryKind::kDelete, 6)};
  Result<std::vector<Result<Committed>>> dup = store->CommitBatch(again);
  ASSERT_TRUE(dup.ok()) << dup.error().message;
  ASSERT_EQ(dup->size(), 2u);
  ASSERT_TRUE((*dup)[0].ok() && (*dup)[1].ok());
  EXPECT_TRUE((*dup)[0]->duplicate);
  EXPECT_EQ((*dup)[0]->message.seq, 2);
  EXPECT_EQ((*dup)[0]->message.body, "second one");
  EXPECT_TRUE((*dup)[1]->duplicate);
  EXPECT_EQ((*dup)[1]->message.seq, 7);
  EXPECT_EQ((*dup)[1]->message.kind, EntryKind::kDelete);

  // The moved reaction keys fold on: bob adding what he holds changes no
  // count (only state_seq), and his remove takes the count to 1.
  EXPECT_EQ(Commit(*store, Change(g, bob, "b3", EntryKind::kReaction, 1, "", up)), 10);
  got = HistoryOf(*store, g, bob);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got[0].reactions, (std::vector<Reaction>{{up, 2, true}, {party, 1, false}}));
  EXPECT_EQ(got[0].state_seq, 10);
  NewMessage remove = Change(g, bob, "b4", EntryKind::kReaction, 1, "", up);
  remove.op = ReactionOp::kRemove;
  EXPECT_EQ(Commit(*store, remove), 11);
  got = HistoryOf(*store, g, bob);
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(got[0].reactions, (std::vector<Reaction>{{up, 1, false}, {party, 1, false}}));
  EXPECT_EQ(got[0].state_seq, 11);

  // The moved sender keys: carol, removed, finds the group among her former ones.
  Result<bool> removed = store->RemoveMember(g, carol);
  ASSERT_TRUE(removed.ok() && *removed);
  Result<std::vector<Conversation>> former = store->FormerConversations(carol);
  ASSERT_TRUE(former.ok());
  ASSERT_EQ(former->size(), 1u);
  EXPECT_EQ(former->front().id, g);

  // Reopened, nothing is moved again and everything stays.
  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Seqs(HistoryOf(*store, g, alice)), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(Get(*store, g, alice).last_seq, 11);
}

// The database file is put back from before more batches than RocksDB keeps
// the works of (it prunes them once SQLite fsyncs): Open rebuilds last_seq,
// the search index and the attachments from the entries instead.
TEST_F(SqliteStoreTest, DatabaseOlderThanTheKeptWorksIsRebuilt) {
  const std::string old_db = dir_ + "/old.db";
  UserId alice, bob;
  ConversationId g;
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    alice = NewUser(*store, "alice");
    bob = NewUser(*store, "bob");
    g = NewGroup(*store, alice, {bob});
    ASSERT_EQ(Commit(*store, Text(g, alice, "a1", "early words")), 1);
  }
  ASSERT_NO_FATAL_FAILURE(SaveDatabase(old_db));
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    // One batch each, more than one fsync interval of batches (256).
    for (int i = 2; i <= 301; ++i) {
      ASSERT_EQ(Commit(*store, Text(g, bob, "b" + std::to_string(i), "later " + std::to_string(i))), i);
    }
    ASSERT_EQ(Commit(*store, Change(g, alice, "a2", EntryKind::kDelete, 1)), 302);
  }
  ASSERT_NO_FATAL_FAILURE(RestoreDatabase(old_db));
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawInt("SELECT applied FROM entry_log"), 302);
  EXPECT_EQ(Get(*store, g, alice).last_seq, 302);
  EXPECT_EQ(Get(*store, g, alice).unread_count, 300);  // bob's 2..301
  using Hits = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(Found(*store, alice, "301"), (Hits{{g.value, 301}}));
  EXPECT_TRUE(Found(*store, alice, "early").empty());  // deleted
  EXPECT_EQ(Commit(*store, Text(g, alice, "a3", "next")), 303);
}

// --- what the first version of the two-engine store got wrong ------------------------

// While SQLite cannot apply a stored batch's work, a later batch is refused
// with the store's outer error, kUnavailable (store.h), like the first (the
// SQLite error, kConflict here, once passed through).
TEST_F(SqliteStoreTest, BatchRefusedForUnappliedWorkAnswersUnavailable) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const UserId alice = NewUser(*store, "alice");
  const ConversationId g = NewGroup(*store, alice, {});
  ASSERT_NO_FATAL_FAILURE(InjectSqliteFailure());
  const NewMessage first = Text(g, alice, "a1", "one");
  Result<std::vector<Result<Committed>>> failed = store->CommitBatch(std::span<const NewMessage>(&first, 1));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::kUnavailable);
  const NewMessage next = Text(g, alice, "a2", "two");
  Result<std::vector<Result<Committed>>> refused = store->CommitBatch(std::span<const NewMessage>(&next, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kUnavailable) << refused.error().message;
}

// A deleted entry's upload is collected (DeleteUnattachedUpload removes the
// upload row and its attachment rows); the RocksDB entry still lists it.
// A later rebuild must still open (it once re-inserted the attachment row,
// the foreign key to uploads failed and Open was refused).
TEST_F(SqliteStoreTest, RebuildOpensAfterADeletedEntrysUploadWasCollected) {
  const std::string old_entries = dir_ + "/old.entries";
  ConversationId g;
  UserId alice;
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    alice = NewUser(*store, "alice");
    g = NewGroup(*store, alice, {});
    ASSERT_NO_FATAL_FAILURE(NewUpload(*store, 901, alice, "one.pdf"));
    ASSERT_EQ(Commit(*store, Text(g, alice, "a1", "with file", {}, {UploadId(901)})), 1);
    ASSERT_EQ(Commit(*store, Change(g, alice, "a2", EntryKind::kDelete, 1)), 2);
    Result<UploadRemoval> removal = store->DeleteUnattachedUpload(UploadId(901));
    ASSERT_TRUE(removal.ok());
    ASSERT_TRUE(removal->removed);
  }
  ASSERT_NO_FATAL_FAILURE(SaveEntries(old_entries));  // as a backup copies them, first
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(Commit(*store, Text(g, alice, "a3", "later")), 3);
  }
  ASSERT_NO_FATAL_FAILURE(RestoreEntries(old_entries));
  Result<std::unique_ptr<Store>> store = Open(Options{.path = path_, .readers = 1});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(Get(**store, g, alice).last_seq, 2);
  Result<UploadLinks> links = (*store)->GetUploadLinks(UploadId(901), alice);
  ASSERT_TRUE(links.ok());
  EXPECT_FALSE(links->attached);
}

// The database file is put back from before a group was created: the
// group is gone, but its entries stay in RocksDB under its id. A group
// created after the restore must start empty: it once took the same id
// (AUTOINCREMENT counted from the restored file) and showed the lost group's
// entries, in History and Search, to its new members. Now the rebuild
// raises the id counters above every id the entries hold.
TEST_F(SqliteStoreTest, ConversationCreatedAfterARestoredDatabaseStartsEmpty) {
  const std::string old_db = dir_ + "/old.db";
  UserId alice, bob, carol;
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    alice = NewUser(*store, "alice");
    bob = NewUser(*store, "bob");
    carol = NewUser(*store, "carol");
    const ConversationId g1 = NewGroup(*store, alice, {bob});
    ASSERT_EQ(Commit(*store, Text(g1, alice, "a1", "hello")), 1);
  }
  ASSERT_NO_FATAL_FAILURE(SaveDatabase(old_db));
  ConversationId lost;
  {
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    lost = NewGroup(*store, alice, {bob}, "private");
    ASSERT_EQ(Commit(*store, Text(lost, alice, "a2", "secret plans")), 1);
    ASSERT_EQ(Commit(*store, Text(lost, bob, "b1", "more secret plans")), 2);
  }
  ASSERT_NO_FATAL_FAILURE(RestoreDatabase(old_db));
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  const ConversationId fresh = NewGroup(*store, carol, {}, "new");
  EXPECT_GT(fresh.value, lost.value);  // never the lost group's id again
  EXPECT_TRUE(HistoryOf(*store, fresh, carol).empty());
  EXPECT_TRUE(Found(*store, carol, "secret").empty());
  EXPECT_EQ(Get(*store, fresh, carol).unread_count, 0);
  EXPECT_EQ(Commit(*store, Text(fresh, carol, "c1", "first words")), 1);
  EXPECT_EQ(Seqs(HistoryOf(*store, fresh, carol)), (std::vector<int64_t>{1}));
}

}  // namespace
}  // namespace parley::store::sqlite
