// The store contract run against the SQLite backend, each test on a fresh
// database file in a temporary folder removed at exit.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/migrations.h"
#include "store/sqlite/sqlite_store.h"
#include "store_contract.h"
#include "store_contract_search.h"

namespace parley::store::contract {
namespace {

// The temporary folders of this process and the latest database path.
// Tests of one process run one after another on the gtest thread.
class TempDatabases {
 public:
  ~TempDatabases() {
    std::error_code ec;
    for (const auto& dir : dirs_) std::filesystem::remove_all(dir, ec);
  }

  std::string NewPath() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/parley-store-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) return {};
    dirs_.emplace_back(buf.data());
    latest_ = dirs_.back() + "/parley.db";
    return latest_;
  }

  const std::string& latest() const { return latest_; }

 private:
  std::vector<std::string> dirs_;
  std::string latest_;
};

TempDatabases& Temp() {
  static TempDatabases temp;
  return temp;
}

std::unique_ptr<Store> OpenSqlite(const std::string& path) {
  if (path.empty()) {
    ADD_FAILURE() << "cannot create a temporary folder";
    return nullptr;
  }
  Result<std::unique_ptr<Store>> store =
      sqlite::Open(sqlite::Options{.path = path, .synchronous_full = true, .readers = 3});
  if (!store.ok()) {
    ADD_FAILURE() << "sqlite::Open(" << path << "): " << store.error().message;
    return nullptr;
  }
  return std::move(store).value();
}

StoreBackend SqliteBackend() {
  return StoreBackend{
      .name = "sqlite",
      .make = [] { return OpenSqlite(Temp().NewPath()); },
      .reopen = [] { return OpenSqlite(Temp().latest()); },
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(SqliteBackend()), StoreBackendName);
INSTANTIATE_TEST_SUITE_P(Sqlite, SearchContract, ::testing::Values(SqliteBackend()), StoreBackendName);

// A data dir of schema 2 with messages in it: migration 3 makes them text
// entries with nothing changed, and an existing data dir keeps working.
TEST(SqliteStoreMigration, SchemaTwoMessagesAreServedAsEntries) {
  const std::string path = Temp().NewPath();
  ASSERT_FALSE(path.empty());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string v2 = std::string(sqlite::Migrations()[0]) + std::string(sqlite::Migrations()[1]);
    v2 +=
        "INSERT INTO users(username, display_name, password_hash, created_at) VALUES"
        "  ('alice', 'alice', 'h', 1), ('bob', 'bob', 'h', 1);"
        "INSERT INTO conversations(kind, title, last_seq, member_count, created_at, last_activity) "
        "  VALUES('group', 'old', 2, 2, 1, 1);"
        "INSERT INTO members(conv, user, role, read_seq) VALUES(1, 1, 'owner', 2), (1, 2, 'member', 0);"
        "INSERT INTO messages(conv, seq, id, sender, body, ts, client_msg_id) VALUES"
        "  (1, 1, 101, 1, 'old one', 10, 'c1'), (1, 2, 102, 1, 'old two', 11, NULL);"
        "PRAGMA user_version = 2;";
    char* err = nullptr;
    const int rc = sqlite3_exec(db, v2.c_str(), nullptr, nullptr, &err);
    std::string why = err != nullptr ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << why;
  }
  std::unique_ptr<Store> store = OpenSqlite(path);
  ASSERT_NE(store, nullptr);
  // The search migration indexed the entries it found.
  Result<SearchQuery> old = ParseSearchQuery("old");
  ASSERT_TRUE(old.ok());
  Result<SearchPage> found = store->Search(SearchRequest{UserId(2), *old, std::nullopt, 10, ""});
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(Bodies(*found), (std::vector<std::string>{"old two", "old one"}));
  ExpectSchemaTwoMessagesServedAsEntries(*store);
  found = store->Search(SearchRequest{UserId(2), *old, std::nullopt, 10, ""});
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(Bodies(*found), (std::vector<std::string>{"old one, fixed"}));
}

}  // namespace parley::store::contract
