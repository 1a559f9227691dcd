// What the SQLite backend promises beyond the store contract
// (tests/contract): how it opens, migrates and refuses.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <string>

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

  std::string dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, OpenCreatesAMigratedWalDatabase) {
  Result<std::unique_ptr<Store>> store = Open(Options{.path = path_});
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_TRUE((*store)->Ping().ok());
  EXPECT_EQ(RawText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawInt("PRAGMA user_version"), static_cast<int64_t>(Migrations().size()));
  EXPECT_EQ(RawInt("SELECT count(*) FROM sqlite_schema WHERE name IN "
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

}  // namespace
}  // namespace parley::store::sqlite
