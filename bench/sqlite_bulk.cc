// sqlite-bulk: the floor under Parley's stored messages/s. Inserts rows of
// Parley's messages table (same schema as src/store/sqlite/migrations.cc)
// into a fresh SQLite database in WAL mode with synchronous=FULL, N rows per
// transaction, and prints rows/s. Run it on the disk parleyd writes to.
//   sqlite-bulk [--path FILE] [--rows N] [--batch B] [--body-bytes N] [--convs C] [--cache-kib K]
// --cache-kib sets SQLite's page cache (default: SQLite's own, 2 MiB);
// parleyd's writer connection has 32 MiB (src/store/sqlite/connection.cc).
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "sqlite-bulk.db";
  long rows = 200000, batch = 1000, body_bytes = 64, convs = 1000, cache_kib = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--path")
      path = argv[i + 1];
    else if (k == "--rows")
      rows = std::atol(argv[i + 1]);
    else if (k == "--batch")
      batch = std::atol(argv[i + 1]);
    else if (k == "--body-bytes")
      body_bytes = std::atol(argv[i + 1]);
    else if (k == "--convs")
      convs = std::atol(argv[i + 1]);
    else if (k == "--cache-kib")
      cache_kib = std::atol(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  sqlite3* db = nullptr;
  Check(sqlite3_open(path.c_str(), &db), db, "open");
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, "PRAGMA synchronous=FULL");
  Exec(db, "PRAGMA foreign_keys=OFF");
  if (cache_kib > 0) Exec(db, ("PRAGMA cache_size=-" + std::to_string(cache_kib)).c_str());
  Exec(db,
       "CREATE TABLE messages (conv INTEGER NOT NULL, seq INTEGER NOT NULL, id INTEGER NOT NULL, "
       "sender INTEGER NOT NULL, body TEXT NOT NULL, ts INTEGER NOT NULL, client_msg_id TEXT, "
       "PRIMARY KEY (conv, seq)) WITHOUT ROWID");
  Exec(db, "CREATE UNIQUE INDEX messages_dedupe ON messages(sender, client_msg_id)");
  sqlite3_stmt* ins = nullptr;
  Check(sqlite3_prepare_v2(db,
                           "INSERT INTO messages(conv, seq, id, sender, body, ts, client_msg_id) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &ins, nullptr),
        db, "prepare");
  std::string body(static_cast<size_t>(body_bytes), 'x');
  std::vector<long> seq(static_cast<size_t>(convs), 0);
  auto t0 = std::chrono::steady_clock::now();
  long done = 0, commits = 0;
  char cmid[48];
  while (done < rows) {
    Exec(db, "BEGIN IMMEDIATE");
    for (long i = 0; i < batch && done < rows; ++i, ++done) {
      long conv = done % convs;
      long sender = (done * 7) % (convs * 10);
      std::snprintf(cmid, sizeof(cmid), "c-%ld", done);
      sqlite3_bind_int64(ins, 1, conv + 1);
      sqlite3_bind_int64(ins, 2, ++seq[static_cast<size_t>(conv)]);
      sqlite3_bind_int64(ins, 3, 1000000 + done);
      sqlite3_bind_int64(ins, 4, sender + 1);
      sqlite3_bind_text(ins, 5, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins, 6, 1700000000000 + done);
      sqlite3_bind_text(ins, 7, cmid, -1, SQLITE_TRANSIENT);
      Check(sqlite3_step(ins), db, "insert");
      sqlite3_reset(ins);
    }
    Exec(db, "COMMIT");
    ++commits;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "{\"rows\":%ld,\"batch\":%ld,\"body_bytes\":%ld,\"commits\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f,"
      "\"commits_per_s\":%.0f,\"path\":\"%s\"}\n",
      rows, batch, body_bytes, commits, s, rows / s, commits / s, path.c_str());
  sqlite3_finalize(ins);
  sqlite3_close(db);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return 0;
}
