#include "store/postgres/connection.h"

#include <charconv>
#include <utility>

namespace parley::store::postgres {
namespace {

constexpr const char* kDefaultConnectTimeout = "10";

bool ResultOk(const PGresult* r) {
  if (r == nullptr) return false;
  ExecStatusType s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Errc ErrcForSqlstate(std::string_view sqlstate) {
  if (sqlstate.empty()) return Errc::kUnavailable;  // no answer: the connection failed
  const std::string_view cls = sqlstate.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "58" || cls == "40") return Errc::kUnavailable;
  if (sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" || sqlstate == "57014" ||
      sqlstate == "55P03" || sqlstate == "25006") {
    // admin/crash shutdown, cannot connect now, query canceled, lock not
    // available, read-only transaction (a standby)
    return Errc::kUnavailable;
  }
  if (cls == "23") return Errc::kConflict;
  return Errc::kInternal;
}

bool IsTransientConflict(std::string_view sqlstate) {
  return sqlstate == kSerializationFailure || sqlstate == kDeadlockDetected;
}

// --- Rows ----------------------------------------------------------------------

int64_t Rows::Int(int row, int column) const {
  std::string_view v = View(row, column);
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

std::string Rows::Text(int row, int column) const { return std::string(View(row, column)); }

std::string_view Rows::View(int row, int column) const {
  if (!result_ || PQgetisnull(result_.get(), row, column)) return {};
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t Rows::affected() const {
  if (!result_) return 0;
  std::string_view v = PQcmdTuples(result_.get());
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

// --- arrays and parameters -------------------------------------------------------

void IntArray::Add(int64_t v) {
  if (count_++ > 0) text_.push_back(',');
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  text_.append(buf, end);
}

void TextArray::Separate() {
  if (count_++ > 0) text_.push_back(',');
}

void TextArray::Add(std::string_view v) {
  Separate();
  text_.reserve(text_.size() + v.size() + 2);
  text_.push_back('"');
  for (char ch : v) {
    if (ch == '"' || ch == '\\') text_.push_back('\\');
    text_.push_back(ch);
  }
  text_.push_back('"');
}

void TextArray::AddNull() {
  Separate();
  text_.append("NULL");
}

Params& Params::Add(int64_t v) {
  values_.emplace_back(std::to_string(v));
  return *this;
}

Params& Params::Add(std::string_view v) {
  values_.emplace_back(std::string(v));
  return *this;
}

Params& Params::Add(std::string v) {
  values_.emplace_back(std::move(v));
  return *this;
}

Params& Params::AddNull() {
  values_.emplace_back(std::nullopt);
  return *this;
}

const char* const* Params::pointers() const {
  pointers_.clear();
  for (const auto& v : values_) pointers_.push_back(v ? v->c_str() : nullptr);
  return pointers_.empty() ? nullptr : pointers_.data();
}

// --- Connection ------------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo) {
  // Defaults first: the expanded conninfo overrides them.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {kDefaultConnectTimeout, "parley", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return MakeError(Errc::kUnavailable, "postgres: out of memory connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = Trim(PQerrorMessage(conn));
    PQfinish(conn);
    return MakeError(Errc::kUnavailable, "postgres: cannot connect: " + message);
  }
  // Quiet NOTICEs (e.g. "relation already exists, skipping") off stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

void Connection::ClearLastError() {
  last_sqlstate_.clear();
  last_constraint_.clear();
}

Error Connection::Fail(const PGresult* result, std::string_view context) {
  std::string message;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const char* constraint = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
    last_sqlstate_ = state != nullptr ? state : "";
    last_constraint_ = constraint != nullptr ? constraint : "";
    message = PQresultErrorMessage(result);
  }
  if (message.empty()) message = PQerrorMessage(conn_);
  if (message.empty()) message = "no answer from the server";
  Errc code = broken() ? Errc::kUnavailable : ErrcForSqlstate(last_sqlstate_);
  return MakeError(code, "postgres: " + std::string(context) + ": " + Trim(std::move(message)));
}

Result<Rows> Connection::Take(PGresult* result, std::string_view context) {
  if (ResultOk(result)) return Rows(result);
  Error e = Fail(result, context);
  PQclear(result);
  return e;
}

Result<Rows> Connection::Exec(std::string_view sql) {
  ClearLastError();
  // PQexec returns the last result; an error stops the string there.
  return Take(PQexec(conn_, std::string(sql).c_str()), "exec");
}

Result<void> Connection::Prepare(const Sql& sql) {
  if (prepared_.contains(sql.name)) return Ok();
  const std::string name(sql.name);
  Result<Rows> r = Take(PQprepare(conn_, name.c_str(), std::string(sql.text).c_str(), 0, nullptr), name);
  if (!r.ok()) return std::move(r).error();
  prepared_.insert(sql.name);
  return Ok();
}

Result<Rows> Connection::Run(const Sql& sql, const Params& params) {
  ClearLastError();
  if (Result<void> r = Prepare(sql); !r.ok()) return r.error();
  const std::string name(sql.name);
  return Take(PQexecPrepared(conn_, name.c_str(), params.size(), params.pointers(), nullptr, nullptr, 0),
              name);
}

Result<std::vector<Rows>> Connection::Pipeline(std::span<const Step> steps) {
  ClearLastError();
  if (steps.empty()) return std::vector<Rows>();
  if (PQenterPipelineMode(conn_) != 1) return Fail(nullptr, "pipeline");
  // What each result of the pipeline answers: a Parse (prepare) or a step.
  struct Expect {
    int step;      // index in `steps`
    bool prepare;  // the answer to the PQsendPrepare of that step's statement
  };
  std::vector<Expect> expected;
  expected.reserve(steps.size() * 2);
  std::unordered_set<std::string_view> preparing;
  bool sent = true;
  for (size_t i = 0; i < steps.size() && sent; ++i) {
    const Sql& sql = *steps[i].sql;
    const std::string name(sql.name);
    if (!prepared_.contains(sql.name) && !preparing.contains(sql.name)) {
      sent = PQsendPrepare(conn_, name.c_str(), std::string(sql.text).c_str(), 0, nullptr) == 1;
      if (!sent) break;
      preparing.insert(sql.name);
      expected.push_back({static_cast<int>(i), true});
    }
    sent = PQsendQueryPrepared(conn_, name.c_str(), steps[i].params.size(), steps[i].params.pointers(),
                               nullptr, nullptr, 0) == 1;
    if (sent) expected.push_back({static_cast<int>(i), false});
  }
  if (!sent || PQpipelineSync(conn_) != 1) {
    Error e = Fail(nullptr, "pipeline send");
    if (!broken()) {
      // Drain what was queued so the connection can leave pipeline mode.
      PQpipelineSync(conn_);
      for (int nulls = 0; nulls < 2;) {
        PGresult* r = PQgetResult(conn_);
        if (r == nullptr) {
          ++nulls;
          continue;
        }
        nulls = 0;
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync) break;
      }
      LeavePipeline();
    }
    return e;
  }

  std::vector<Rows> out(steps.size());
  std::optional<Error> first_error;
  size_t item = 0;          // index in `expected` of the result being read
  bool got_result = false;  // a result was read for `item` (its NULL ends it)
  for (int idle_nulls = 0;;) {
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) {
      if (got_result) {
        ++item;
        got_result = false;
        idle_nulls = 0;
        continue;
      }
      if (broken() || ++idle_nulls >= 2) {
        if (!first_error) first_error = Fail(nullptr, "pipeline");
        break;
      }
      continue;
    }
    const ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      break;
    }
    got_result = true;
    if (item >= expected.size()) {  // more answers than questions: protocol confusion
      if (!first_error)
        first_error = MakeError(Errc::kInternal, "postgres: pipeline answered more than asked");
      PQclear(r);
      continue;
    }
    const Expect& e = expected[item];
    const Sql& sql = *steps[static_cast<size_t>(e.step)].sql;
    if (status == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
    } else if (!ResultOk(r)) {
      if (!first_error) first_error = Fail(r, sql.name);
      PQclear(r);
    } else if (e.prepare) {
      prepared_.insert(sql.name);
      PQclear(r);
    } else {
      out[static_cast<size_t>(e.step)] = Rows(r);
    }
  }
  LeavePipeline();
  if (first_error) return *first_error;
  return out;
}

void Connection::LeavePipeline() {
  if (broken()) return;
  for (int i = 0; i < 4 && PQexitPipelineMode(conn_) != 1; ++i) PQclear(PQgetResult(conn_));
  // Still in pipeline mode: the session is in an unknown state; drop it.
  if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) poisoned_ = true;
}

void Connection::RollbackIfOpen() {
  if (broken()) return;
  PGTransactionStatusType s = PQtransactionStatus(conn_);
  if (s == PQTRANS_INTRANS || s == PQTRANS_INERROR) {
    PGresult* r = PQexec(conn_, "ROLLBACK");
    PQclear(r);
  }
}

bool Connection::Reset() {
  prepared_.clear();
  poisoned_ = false;
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) return false;
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  return true;
}

}  // namespace parley::store::postgres
