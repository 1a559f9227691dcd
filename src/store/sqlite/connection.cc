#include "store/sqlite/connection.h"

#include <string>

namespace parley::store::sqlite {

Error SqliteError(sqlite3* db, int rc, std::string_view context) {
  Errc code = Errc::kInternal;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
      code = Errc::kUnavailable;
      break;
    case SQLITE_CONSTRAINT:
      code = Errc::kConflict;
      break;
    default:
      break;
  }
  std::string message = "sqlite: ";
  message += context;
  message += ": ";
  // The connection's message describes the latest failure only if it is this one.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    message += sqlite3_errmsg(db);
  } else {
    message += sqlite3_errstr(rc);
  }
  message += " (code " + std::to_string(rc) + ")";
  return MakeError(code, std::move(message));
}

bool IsForeignKeyViolation(int extended_rc) { return extended_rc == SQLITE_CONSTRAINT_FOREIGNKEY; }

// --- Query -------------------------------------------------------------------

Query::Query(Query&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), bind_rc_(other.bind_rc_), last_rc_(other.last_rc_) {
  other.stmt_ = nullptr;
}

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Query::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

Query& Query::Bind(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Query& Query::Bind(int index, std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so the caller's string may go.
  NoteBind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Query& Query::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index));
  return *this;
}

Result<bool> Query::Step() {
  if (bind_rc_ != SQLITE_OK) {
    last_rc_ = bind_rc_;
    return SqliteError(db_, bind_rc_, std::string("bind for \"") + sqlite3_sql(stmt_) + "\"");
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  last_rc_ = sqlite3_extended_errcode(db_);
  return SqliteError(db_, last_rc_, std::string("step \"") + sqlite3_sql(stmt_) + "\"");
}

Result<void> Query::Run() {
  for (;;) {
    Result<bool> row = Step();
    if (!row.ok()) return std::move(row).error();
    if (!*row) return Ok();
  }
}

std::string Query::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

// --- Connection --------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int flags,
                                                     bool synchronous_full, int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error error = SqliteError(db, rc, "open database '" + path + "'");
    error.code = Errc::kUnavailable;  // whatever the cause, the store cannot answer
    sqlite3_close_v2(db);             // a handle is returned even on failure
    return error;
  }
  std::unique_ptr<Connection> conn(new Connection(db));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  std::string pragmas = "PRAGMA foreign_keys = ON; PRAGMA synchronous = ";
  pragmas += synchronous_full ? "FULL;" : "NORMAL;";
  if (Result<void> r = conn->Exec(pragmas); !r.ok()) return r.error();
  return conn;
}

Connection::~Connection() {
  cache_.clear();  // finalize every statement before closing
  sqlite3_close_v2(db_);
}

Result<void> Connection::Exec(std::string_view sql) {
  std::string text(sql);
  char* errmsg = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &errmsg);
  if (errmsg != nullptr) sqlite3_free(errmsg);
  if (rc != SQLITE_OK) {
    std::string shown = text.size() > 80 ? text.substr(0, 77) + "..." : text;
    return SqliteError(db_, sqlite3_extended_errcode(db_), "exec \"" + shown + "\"");
  }
  return Ok();
}

Result<Query> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return SqliteError(db_, sqlite3_extended_errcode(db_), "prepare \"" + std::string(sql) + "\"");
    }
    it = cache_.emplace(std::string(sql), std::make_unique<Statement>(stmt)).first;
  }
  return Query(db_, *it->second);
}

Result<int64_t> Connection::QueryInt(std::string_view sql) {
  Result<Query> q = Prepare(sql);
  if (!q.ok()) return std::move(q).error();
  Result<bool> row = q->Step();
  if (!row.ok()) return std::move(row).error();
  if (!*row) return MakeError(Errc::kInternal, "sqlite: no row from \"" + std::string(sql) + "\"");
  return q->Int(0);
}

// --- Transaction -------------------------------------------------------------

Result<Transaction> Transaction::Begin(Connection& conn, Mode mode) {
  Result<Query> q = conn.Prepare(mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (!q.ok()) return std::move(q).error();
  if (Result<void> r = q->Run(); !r.ok()) return r.error();
  return Transaction(&conn);
}

Result<void> Transaction::Commit() {
  Connection* conn = conn_;
  Result<Query> q = conn->Prepare("COMMIT");
  if (!q.ok()) return std::move(q).error();
  if (Result<void> r = q->Run(); !r.ok()) return r.error();  // the destructor rolls back
  conn_ = nullptr;
  return Ok();
}

Transaction::~Transaction() {
  // SQLite may already have rolled back on its own (I/O error, full disk).
  if (conn_ != nullptr && conn_->InTransaction()) {
    Result<Query> q = conn_->Prepare("ROLLBACK");
    if (q.ok()) (void)q->Run();
  }
}

}  // namespace parley::store::sqlite
