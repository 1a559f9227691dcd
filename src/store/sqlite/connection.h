#pragma once
// RAII wrappers over the SQLite C API: a connection with its cache of
// prepared statements, a bound use of one statement (Query) and a write
// transaction. Internal to the SQLite backend.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"
#include "common/result.h"

namespace parley::store::sqlite {

// Maps an SQLite result code to a Parley error: busy/locked/I-O/full/cannot
// open are kUnavailable (retryable), a constraint is kConflict, anything else
// (corruption, misuse, a bad statement) is kInternal.
Error SqliteError(sqlite3* db, int rc, std::string_view context);

// True for the extended code of a foreign key violation.
bool IsForeignKeyViolation(int extended_rc);

// One prepared statement, finalized on destruction. Owned by its Connection's
// cache; used only by the thread that holds that connection.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

// One use of a cached statement: bind, step, read columns. Resets the
// statement and clears its bindings on destruction so a read transaction
// never outlives the Query (a statement left mid-step would pin a WAL
// snapshot). Lives on the stack of the thread holding the connection.
class Query {
 public:
  Query(sqlite3* db, Statement& statement) : db_(db), stmt_(statement.get()) {}
  ~Query();
  Query(Query&& other) noexcept;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;

  // Bind by 1-based index. A bind error is remembered and reported by Step.
  Query& Bind(int index, int64_t value);
  Query& Bind(int index, std::string_view value);
  Query& BindNull(int index);

  // true: a row is ready; false: the statement is done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Result<void> Run();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const;
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

  // The extended result code of the last failing Step (0 if none).
  int last_rc() const { return last_rc_; }

 private:
  void NoteBind(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
  int last_rc_ = 0;
};

// One sqlite3 connection and its prepared-statement cache. Not thread-safe:
// the store hands a connection to one thread at a time (the writer under its
// mutex, a reader through the pool). Closed on destruction.
class Connection {
 public:
  // Opens `path` with `flags` (SQLITE_OPEN_*) and applies the per-connection
  // pragmas: foreign keys, busy timeout, synchronous.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int flags, bool synchronous_full,
                                                  int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without results (DDL, pragmas).
  Result<void> Exec(std::string_view sql);
  // The cached statement for `sql`, prepared on first use.
  Result<Query> Prepare(std::string_view sql);
  // Runs a single-value query (e.g. "PRAGMA user_version").
  Result<int64_t> QueryInt(std::string_view sql);

  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  int64_t Changes() const { return sqlite3_changes64(db_); }
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  sqlite3* handle() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
  };

  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<Statement>, StringHash, std::equal_to<>> cache_;
};

// An explicit transaction on one connection: BEGIN IMMEDIATE for writes (the
// write lock is taken up front, so the transaction never fails half-way for
// lack of it) or BEGIN DEFERRED for a consistent multi-statement read. Rolls
// back on destruction unless committed. Used by the thread holding the
// connection.
class Transaction {
 public:
  enum class Mode { kRead, kWrite };
  static Result<Transaction> Begin(Connection& conn, Mode mode);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  Result<void> Commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;  // null once committed or rolled back
};

}  // namespace parley::store::sqlite
