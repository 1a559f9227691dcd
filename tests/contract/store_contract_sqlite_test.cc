// The store contract run against the SQLite backend, each test on a fresh
// database file in a temporary folder removed at exit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "store_contract.h"

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

}  // namespace parley::store::contract
