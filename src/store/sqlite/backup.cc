#include "store/sqlite/backup.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "store/sqlite/connection.h"

namespace parley::store::sqlite {
namespace {

constexpr int kBusyTimeoutMs = 10000;

// Reading a WAL database creates its -wal and -shm files when the server is
// not running. Run as root against a stopped node, they would be root's and
// the server (user parley) could not open its own database: hand any this
// call created to the database file's owner. Owned by one BackupDatabase call.
class SidecarOwner {
 public:
  explicit SidecarOwner(const std::string& db) : db_(db) {
    for (int i = 0; i < 2; ++i) existed_[i] = std::filesystem::exists(db_ + kSuffix[i], ignored_);
  }
  ~SidecarOwner() {
    struct stat owner {};
    if (stat(db_.c_str(), &owner) != 0) return;
    for (int i = 0; i < 2; ++i) {
      if (!existed_[i]) (void)chown((db_ + kSuffix[i]).c_str(), owner.st_uid, owner.st_gid);
    }
  }

 private:
  static constexpr const char* kSuffix[2] = {"-wal", "-shm"};
  std::string db_;
  bool existed_[2] = {};
  std::error_code ignored_;
};

}  // namespace

Result<void> BackupDatabase(const std::string& source_path, const std::string& dest_path) {
  std::error_code ec;
  if (std::filesystem::exists(dest_path, ec))
    return MakeError(Errc::kBadRequest, "backup: '" + dest_path + "' already exists");
  if (!std::filesystem::is_regular_file(source_path, ec))
    return MakeError(Errc::kUnavailable, "backup: no database at '" + source_path + "'");
  SidecarOwner sidecars(source_path);
  // Read-only: the copy must never change the live database (no migration,
  // no journal-mode switch). It still maps the running server's -shm to
  // read the WAL, so it sees every committed transaction.
  auto source =
      Connection::Open(source_path, SQLITE_OPEN_READONLY, /*synchronous_full=*/true, kBusyTimeoutMs);
  if (!source) return std::move(source).error();
  auto dest = Connection::Open(dest_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                               /*synchronous_full=*/true, kBusyTimeoutMs);
  if (!dest) return std::move(dest).error();
  sqlite3_backup* backup = sqlite3_backup_init((*dest)->handle(), "main", (*source)->handle(), "main");
  if (backup == nullptr) {
    return SqliteError((*dest)->handle(), sqlite3_extended_errcode((*dest)->handle()), "backup init");
  }
  // -1: every page in one step under one read transaction. Copying in
  // slices would restart from scratch each time the server commits between
  // two slices, which under steady traffic means never finishing.
  int rc = SQLITE_OK;
  for (int attempt = 0; attempt < 100; ++attempt) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    sqlite3_sleep(100);
  }
  const int finish_rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) {
    Error error = SqliteError((*dest)->handle(), rc, "backup step");
    error.code = Errc::kUnavailable;
    return error;
  }
  if (finish_rc != SQLITE_OK) return SqliteError((*dest)->handle(), finish_rc, "backup finish");
  // The copy is a standalone file: no -wal beside it, whatever the source's mode.
  if (auto r = (*dest)->Exec("PRAGMA journal_mode = DELETE"); !r.ok()) return r.error();
  return {};
}

}  // namespace parley::store::sqlite
