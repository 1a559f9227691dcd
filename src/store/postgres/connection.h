#pragma once
// RAII wrappers over libpq: a result set (Rows), text-format parameters
// (Params), and a connection with its per-connection set of prepared
// statements, able to send several statements in one round trip (pipeline
// mode). Internal to the PostgreSQL backend.
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/error.h"
#include "common/result.h"

namespace parley::store::postgres {

// A statement known at build time: the name of its server-side prepared
// statement (unique in the backend) and its SQL.
struct Sql {
  std::string_view name;
  std::string_view text;
};

// SQLSTATE codes the backend reacts to.
inline constexpr std::string_view kUniqueViolation = "23505";
inline constexpr std::string_view kForeignKeyViolation = "23503";
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kDeadlockDetected = "40P01";

// Maps a SQLSTATE to a Parley code: connection trouble, shutdown, lack of
// resources, serialization failures and deadlocks are kUnavailable
// (retryable); integrity violations are kConflict (callers refine them);
// anything else is kInternal. An empty SQLSTATE (no answer from the server)
// is kUnavailable.
Errc ErrcForSqlstate(std::string_view sqlstate);

// True when the transaction failed only because of concurrent transactions
// (serialization failure, deadlock) and may simply be run again.
bool IsTransientConflict(std::string_view sqlstate);

// A PGresult, cleared on destruction; rows and columns are 0-based and every
// value arrives in text format. Movable; owned by the thread that ran the
// statement.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* result) : result_(result) {}

  int size() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool empty() const { return size() == 0; }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  // NULL reads as 0, "" and false.
  int64_t Int(int row, int column) const;
  std::string Text(int row, int column) const;
  std::string_view View(int row, int column) const;
  // Rows touched by an INSERT/UPDATE/DELETE (0 for other statements).
  int64_t affected() const;

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// Builders of array literals in text format ("{1,2}", "{\"a\",NULL}") for
// statements that take a whole batch as arrays (unnest).
class IntArray {
 public:
  void Add(int64_t v);
  bool empty() const { return count_ == 0; }
  std::string Finish() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
  int count_ = 0;
};

class TextArray {
 public:
  void Add(std::string_view v);
  void AddNull();
  bool empty() const { return count_ == 0; }
  std::string Finish() const { return text_ + "}"; }

 private:
  void Separate();
  std::string text_ = "{";
  int count_ = 0;
};

// Parameters of one statement, in text format. Cheap to build; the values
// are copied in.
class Params {
 public:
  Params& Add(int64_t v);
  Params& Add(std::string_view v);
  Params& Add(std::string v);
  Params& Add(const char* v) { return Add(std::string_view(v)); }
  Params& AddNull();

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers for libpq; valid until the next Add.
  const char* const* pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
  mutable std::vector<const char*> pointers_;
};

// One statement of a pipeline.
struct Step {
  const Sql* sql;
  Params params;
};

// One libpq connection (blocking mode) and the names of the statements
// prepared on it. Not thread-safe: the pool lends it to one thread at a time.
// Closed on destruction.
class Connection {
 public:
  // Connects with `conninfo` (keyword/value string or URI); a connect
  // timeout of 10 s applies unless the conninfo sets one. kUnavailable on
  // failure.
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` (one or more statements, no parameters) with the simple
  // protocol; returns the last statement's rows.
  Result<Rows> Exec(std::string_view sql);
  // Runs a prepared statement (prepared on this connection on first use).
  Result<Rows> Run(const Sql& sql, const Params& params = Params());
  // Sends every step in one round trip (pipeline mode, one sync point) and
  // returns each step's rows. On the first failing step, returns its error;
  // the later steps are skipped by the server. Without an explicit BEGIN
  // the steps form one implicit transaction.
  Result<std::vector<Rows>> Pipeline(std::span<const Step> steps);

  // Ends any transaction left open (after a failure): ROLLBACK.
  void RollbackIfOpen();
  // True when the connection is known to be lost.
  bool broken() const { return poisoned_ || PQstatus(conn_) == CONNECTION_BAD; }
  // Reconnects (same conninfo); the prepared statements are gone with the
  // old session. False when the server still cannot be reached.
  bool Reset();

  // The SQLSTATE and constraint name of the latest failure ("" when none
  // or when the failure came from the connection).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  const std::string& last_constraint() const { return last_constraint_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}

  void ClearLastError();
  // Wraps a successful result; otherwise clears it and returns its error.
  Result<Rows> Take(PGresult* result, std::string_view context);
  // Builds the error of `result` (may be null: then the connection's).
  Error Fail(const PGresult* result, std::string_view context);
  Result<void> Prepare(const Sql& sql);
  // Leaves pipeline mode, reading any answer left; marks the connection
  // broken when that fails.
  void LeavePipeline();

  PGconn* conn_;
  std::unordered_set<std::string_view> prepared_;  // Sql names: static storage
  std::string last_sqlstate_;
  std::string last_constraint_;
  bool poisoned_ = false;  // left in an unknown protocol state: reset before use
};

}  // namespace parley::store::postgres
