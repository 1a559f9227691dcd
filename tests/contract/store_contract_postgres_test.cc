// The store contract run against the PostgreSQL backend, and tests that only
// PostgreSQL needs: several stores (several nodes) writing the same
// conversations, concurrent migration, reconnection.
//
// The server: PARLEY_TEST_POSTGRES (a conninfo) when set; otherwise a
// throwaway cluster started once per process with scripts/pg-dev (as the
// postgres user when root) and stopped at exit; otherwise, when no
// PostgreSQL binaries exist, every test is skipped. Each test gets a fresh
// schema (search_path), so a shared server serves parallel runs.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres/migrations.h"
#include "store/postgres/postgres_store.h"
#include "blob_contract.h"
#include "store_contract.h"
#include "uploads/postgres/postgres_blob_store.h"
#include "store_contract_search.h"

#ifndef PARLEY_PG_DEV
#error "PARLEY_PG_DEV must name scripts/pg-dev"
#endif

namespace parley::store::contract {
namespace {

constexpr const char* kNoPostgres =
    "parley: no PostgreSQL for the postgres store tests (install postgresql-15, or set PARLEY_TEST_POSTGRES "
    "to a conninfo)";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string PgDevScript() {
  std::string s = Env("PARLEY_PG_DEV");
  return s.empty() ? PARLEY_PG_DEV : s;
}

std::string Quote(const std::string& s) {  // for /bin/sh
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs a shell command; returns its exit status and output (stdout and stderr).
int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output->append(buf, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A plain libpq connection for the administrative work of the tests.
// Owned by one thread.
class AdminConnection {
 public:
  explicit AdminConnection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);  // "schema does not exist, skipping"
  }
  ~AdminConnection() { PQfinish(conn_); }
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(conn_); }

  // Runs `sql`; returns the first column of the first row ("" when none),
  // or nullopt on failure (the message in `error`).
  std::optional<std::string> Query(const std::string& sql, std::string* error = nullptr) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::optional<std::string> out;
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
      out = (s == PGRES_TUPLES_OK && PQntuples(r) > 0) ? PQgetvalue(r, 0, 0) : "";
    } else if (error != nullptr) {
      *error = PQresultErrorMessage(r);
    }
    PQclear(r);
    return out;
  }

 private:
  PGconn* conn_;
};

// Re-emits `conninfo` (keyword/value or URI) as keyword/value pairs with
// `extra` pairs added; an "options" value is appended to any present.
std::string WithParams(const std::string& conninfo, const std::map<std::string, std::string>& extra) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    ADD_FAILURE() << "bad conninfo '" << conninfo << "': " << (err != nullptr ? err : "?");
    PQfreemem(err);
    return conninfo;
  }
  std::map<std::string, std::string> values;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && *o->val != '\0') values[o->keyword] = o->val;
  }
  PQconninfoFree(parsed);
  for (const auto& [key, value] : extra) {
    if (key == "options" && values.contains(key)) {
      values[key] += " " + value;
    } else {
      values[key] = value;
    }
  }
  std::string out;
  for (const auto& [key, value] : values) {
    out += key + "='";
    for (char c : value) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    out += "' ";
  }
  return out;
}

// The server of this process: found or started on first use, stopped at
// exit. Hands out a fresh schema per test. Used from the gtest thread (and
// by threads of a test while that test holds it).
class PostgresServer {
 public:
  static PostgresServer& Get() {
    static PostgresServer server;
    return server;
  }

  // Whether tests can run at all: a conninfo is given, or PostgreSQL
  // binaries exist. Cheap: does not start anything.
  static bool Available() {
    static const bool available = [] {
      if (!Env("PARLEY_TEST_POSTGRES").empty()) return true;
      std::string out;
      return RunCommand(Quote(PgDevScript()) + " bin", &out) == 0;
    }();
    return available;
  }

  ~PostgresServer() {
    if (!dir_.empty()) {
      std::string out;
      RunCommand(Quote(PgDevScript()) + " stop " + Quote(dir_), &out);
      return;
    }
    if (base_.empty() || schemas_.empty()) return;
    AdminConnection admin(base_);
    if (!admin.ok()) return;
    for (const std::string& schema : schemas_) admin.Query("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  }

  // A conninfo whose search_path is a new, empty schema; "" (and a test
  // failure) when the server cannot be had. `extra` adds conninfo pairs.
  std::string NewSchema(const std::map<std::string, std::string>& extra = {}) {
    if (!Start()) return "";
    const std::string schema =
        "parley_t" + std::to_string(getpid()) + "_" + std::to_string(schemas_.size() + 1);
    AdminConnection admin(base_);
    if (!admin.ok()) {
      ADD_FAILURE() << "cannot connect to PostgreSQL (" << base_ << "): " << admin.error();
      return "";
    }
    std::string error;
    if (!admin.Query("DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema, &error)) {
      ADD_FAILURE() << "CREATE SCHEMA " << schema << ": " << error;
      return "";
    }
    schemas_.push_back(schema);
    std::map<std::string, std::string> params = extra;
    params["options"] = "-c search_path=" + schema;
    latest_ = WithParams(base_, params);
    return latest_;
  }

  const std::string& latest() const { return latest_; }
  const std::string& base() const { return base_; }
  const std::string& latest_schema() const { return schemas_.back(); }

 private:
  PostgresServer() = default;

  bool Start() {
    if (!base_.empty()) return true;
    if (!start_error_.empty()) {
      ADD_FAILURE() << start_error_;
      return false;
    }
    base_ = Env("PARLEY_TEST_POSTGRES");
    if (!base_.empty()) return true;
    // Under /tmp, not TMPDIR: the postgres user must reach it, and the
    // socket path must stay short.
    char dir[] = "/tmp/parley-pg-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      start_error_ = "cannot create a temporary folder for PostgreSQL";
      ADD_FAILURE() << start_error_;
      return false;
    }
    const auto started = std::chrono::steady_clock::now();
    std::string out;
    const std::string command = "PG_DEV_FAST=1 PG_DEV_OWNER_PID=" + std::to_string(getpid()) + " " +
                                Quote(PgDevScript()) + " start " + Quote(dir);
    const int rc = RunCommand(command, &out);
    if (rc != 0) {
      start_error_ = "scripts/pg-dev start failed (exit " + std::to_string(rc) + "):\n" + out;
      std::string ignored;
      RunCommand(Quote(PgDevScript()) + " stop " + Quote(dir), &ignored);
      ADD_FAILURE() << start_error_;
      return false;
    }
    dir_ = dir;
    // The conninfo is the last line of the output.
    while (!out.empty() && out.back() == '\n') out.pop_back();
    base_ = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
            .count();
    std::printf("[ postgres ] throwaway cluster in %s (%s), started in %lld ms\n", dir, base_.c_str(),
                static_cast<long long>(ms));
    return true;
  }

  std::string base_;         // conninfo of the server
  std::string dir_;          // our cluster's folder; "" when given by the environment
  std::string start_error_;  // why the server could not be had
  std::vector<std::string> schemas_;
  std::string latest_;
};

std::unique_ptr<Store> OpenPostgres(const std::string& conninfo, int pool = 4) {
  if (conninfo.empty()) return nullptr;
  Result<std::unique_ptr<Store>> store =
      postgres::Open(postgres::Options{.conninfo = conninfo, .pool = pool});
  if (!store.ok()) {
    ADD_FAILURE() << "postgres::Open: " << store.error().message;
    return nullptr;
  }
  return std::move(store).value();
}

std::vector<StoreBackend> PostgresBackends() {
  if (!PostgresServer::Available()) return {};
  return {StoreBackend{
      .name = "postgres",
      .make = [] { return OpenPostgres(PostgresServer::Get().NewSchema()); },
      .reopen = [] { return OpenPostgres(PostgresServer::Get().latest()); },
  }};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContract, ::testing::ValuesIn(PostgresBackends()), StoreBackendName);
INSTANTIATE_TEST_SUITE_P(Postgres, SearchContract, ::testing::ValuesIn(PostgresBackends()), StoreBackendName);

// The blob store of uploads on the same throwaway server: a fresh schema
// each test, migrated by opening the store (the blob tables are part of its
// schema), then the blob store on it.
namespace {
std::vector<uploads::contract::BlobBackend> PostgresBlobBackends() {
  if (!PostgresServer::Available()) return {};
  return {uploads::contract::BlobBackend{
      .name = "postgres",
      .make = []() -> std::unique_ptr<uploads::BlobStore> {
        const std::string conninfo = PostgresServer::Get().NewSchema();
        if (OpenPostgres(conninfo, 1) == nullptr) return nullptr;
        auto blobs = uploads::postgres::Open(uploads::postgres::Options{.conninfo = conninfo});
        if (!blobs.ok()) {
          ADD_FAILURE() << "uploads::postgres::Open: " << blobs.error().message;
          return nullptr;
        }
        return std::move(blobs).value();
      },
  }};
}
}  // namespace
}  // namespace parley::store::contract

namespace parley::uploads::contract {
INSTANTIATE_TEST_SUITE_P(Postgres, BlobStoreContract,
                         ::testing::ValuesIn(store::contract::PostgresBlobBackends()), BlobBackendName);
}  // namespace parley::uploads::contract

namespace parley::store::contract {

namespace {

// Says why the contract did not run when there is no PostgreSQL.
TEST(PostgresStoreSetup, ServerIsAvailable) {
  if (!PostgresServer::Available()) GTEST_SKIP() << kNoPostgres;
  std::string conninfo = PostgresServer::Get().NewSchema();
  ASSERT_FALSE(conninfo.empty());
}

// PostgreSQL-only tests: a fresh schema each, skipped without a server.
class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PostgresServer::Available()) GTEST_SKIP() << kNoPostgres;
  }
};

// Two stores (two pools, as two nodes would have) commit batches that mix
// the same conversations in varying order from several threads; some
// messages are sent through both stores at once. Every conversation ends
// with gapless, unique seqs, and each shared message is stored once.
TEST_F(PostgresStoreTest, TwoStoresCommittingTheSameConversationsYieldGaplessSeqs) {
  const std::string conninfo = PostgresServer::Get().NewSchema();
  ASSERT_FALSE(conninfo.empty());
  std::unique_ptr<Store> stores[2] = {OpenPostgres(conninfo, 3), OpenPostgres(conninfo, 3)};
  ASSERT_NE(stores[0], nullptr);
  ASSERT_NE(stores[1], nullptr);

  Result<User> a = stores[0]->CreateUser("a", "", "h", 1);
  Result<User> b = stores[1]->CreateUser("b", "", "h", 1);
  ASSERT_OK(a);
  ASSERT_OK(b);
  constexpr int kConvs = 3;
  std::vector<ConversationId> convs;
  for (int i = 0; i < kConvs; ++i) {
    std::vector<UserId> others = {b->id};
    Result<ConversationId> g = stores[i % 2]->CreateGroup("g" + std::to_string(i), a->id, others, 1);
    ASSERT_OK(g);
    convs.push_back(*g);
  }

  constexpr int kThreads = 6;  // threads t and t^1 use different stores
  constexpr int kBatches = 30;
  constexpr int kPerBatch = 25;
  std::mutex mu;
  std::map<std::string, std::vector<Committed>> by_client_id;  // guarded by mu
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& store = *stores[t % 2];
      for (int n = 0; n < kBatches; ++n) {
        std::vector<NewMessage> batch;
        for (int k = 0; k < kPerBatch; ++k) {
          // Even batches mix every conversation, in an order that differs
          // between threads (the store must lock them in a stable order);
          // odd ones stay in one, so batches also run side by side and the
          // shared message races into two conversations at once.
          const int index =
              n % 2 == 0 ? (t + n + (t % 2 == 0 ? k : kPerBatch - k)) % kConvs : (t + n) % kConvs;
          ConversationId conv = convs[static_cast<size_t>(index)];
          UserId sender = k % 2 == 0 ? a->id : b->id;
          std::string cmid = "t" + std::to_string(t) + "-" + std::to_string(n) + "-" + std::to_string(k);
          if (k == 0)
            cmid = "shared-" + std::to_string(t / 2) + "-" + std::to_string(n);  // both of a pair send it
          batch.push_back({conv, sender, cmid, "body " + cmid, MessageId(1 + t * 100000 + n * 100 + k), n});
        }
        auto result = store.CommitBatch(batch);
        if (!result.ok()) {
          ADD_FAILURE() << "CommitBatch: " << result.error().message;
          ++failures;
          continue;
        }
        std::lock_guard lock(mu);
        for (size_t k = 0; k < result->size(); ++k) {
          const Result<Committed>& r = (*result)[k];
          if (!r.ok()) {
            ADD_FAILURE() << "entry " << batch[k].client_msg_id << ": " << r.error().message;
            ++failures;
            continue;
          }
          by_client_id[batch[k].client_msg_id].push_back(*r);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);

  // Each message stored once: the shared ones have one original and one
  // duplicate naming the same seq.
  std::map<int64_t, std::set<int64_t>> seqs;  // conv -> seqs of originals
  int64_t originals = 0;
  for (const auto& [cmid, results] : by_client_id) {
    int count = 0;
    for (const Committed& c : results) {
      if (!c.duplicate) {
        ++count;
        ++originals;
        EXPECT_TRUE(seqs[c.message.conv.value].insert(c.message.seq).second)
            << "seq " << c.message.seq << " given twice in conversation " << c.message.conv.value;
      }
      EXPECT_EQ(c.message.seq, results[0].message.seq) << cmid;
      EXPECT_EQ(c.message.conv, results[0].message.conv) << cmid;
    }
    EXPECT_EQ(count, 1) << cmid;
  }
  EXPECT_EQ(originals, kThreads * kBatches * (kPerBatch - 1) + kThreads / 2 * kBatches);

  for (ConversationId conv : convs) {
    const std::set<int64_t>& given = seqs[conv.value];
    ASSERT_FALSE(given.empty());
    EXPECT_EQ(*given.begin(), 1);
    EXPECT_EQ(*given.rbegin(), static_cast<int64_t>(given.size()))
        << "gapless in conversation " << conv.value;
    Result<Conversation> c = stores[1]->GetConversation(conv, a->id);
    ASSERT_OK(c);
    EXPECT_EQ(c->last_seq, static_cast<int64_t>(given.size()));
    // The stored partition agrees, page by page.
    int64_t expected = 1;
    for (;;) {
      Result<std::vector<Message>> page = stores[0]->History(conv, std::nullopt, expected - 1, 500, UserId());
      ASSERT_OK(page);
      if (page->empty()) break;
      for (const Message& m : *page) EXPECT_EQ(m.seq, expected++);
    }
    EXPECT_EQ(expected - 1, c->last_seq);
  }
}

// Nodes starting together against a fresh database: each migration is
// applied once and every node opens.
TEST_F(PostgresStoreTest, ConcurrentOpensMigrateOnce) {
  const std::string conninfo = PostgresServer::Get().NewSchema();
  ASSERT_FALSE(conninfo.empty());
  const std::string schema = PostgresServer::Get().latest_schema();
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<Store>> stores(kNodes);
  std::vector<std::string> errors(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      Result<std::unique_ptr<Store>> s = postgres::Open(postgres::Options{.conninfo = conninfo, .pool = 1});
      if (s.ok()) {
        stores[static_cast<size_t>(i)] = std::move(s).value();
      } else {
        errors[static_cast<size_t>(i)] = s.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kNodes; ++i)
    EXPECT_NE(stores[static_cast<size_t>(i)], nullptr) << errors[static_cast<size_t>(i)];
  AdminConnection admin(PostgresServer::Get().base());
  ASSERT_TRUE(admin.ok()) << admin.error();
  std::optional<std::string> versions =
      admin.Query("SELECT count(*) || ':' || max(version) FROM " + schema + ".schema_migrations");
  ASSERT_TRUE(versions.has_value());
  const std::string latest = std::to_string(postgres::Migrations().size());
  EXPECT_EQ(*versions, latest + ":" + latest);
  // A store opened later finds nothing to do.
  EXPECT_NE(OpenPostgres(conninfo, 1), nullptr);
}

// A database of schema 2 with messages in it: migration 3 makes them text
// entries with nothing changed, counted by the new unread rules, and they
// take edits and deletes.
TEST_F(PostgresStoreTest, MigrationThreeTurnsStoredMessagesIntoTextEntries) {
  const std::string conninfo = PostgresServer::Get().NewSchema();
  ASSERT_FALSE(conninfo.empty());
  {
    AdminConnection admin(conninfo);
    ASSERT_TRUE(admin.ok()) << admin.error();
    std::string v2 = std::string(postgres::Migrations()[0]) + std::string(postgres::Migrations()[1]);
    v2 +=
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL "
        "  DEFAULT now());"
        "INSERT INTO schema_migrations(version) VALUES (1), (2);"
        "INSERT INTO users(id, username, display_name, password_hash, created_at) VALUES"
        "  (1, 'alice', 'alice', 'h', 1), (2, 'bob', 'bob', 'h', 1);"
        "INSERT INTO conversations(id, kind, title, last_seq, member_count, created_at, last_activity) "
        "  VALUES(1, 'group', 'old', 2, 2, 1, 1);"
        "INSERT INTO members(conv, user_id, role, read_seq) VALUES(1, 1, 'owner', 2), (1, 2, 'member', 0);"
        "INSERT INTO messages(conv, seq, id, sender, body, ts, client_msg_id) VALUES"
        "  (1, 1, 101, 1, 'old one', 10, 'c1'), (1, 2, 102, 1, 'old two', 11, NULL);";
    std::string error;
    ASSERT_TRUE(admin.Query(v2, &error).has_value()) << error;
  }
  std::unique_ptr<Store> store = OpenPostgres(conninfo, 1);
  ASSERT_NE(store, nullptr);
  ExpectSchemaTwoMessagesServedAsEntries(*store);
}

// The server drops every connection of the store (a restart, a failover):
// reads and commits carry on over new connections.
TEST_F(PostgresStoreTest, ReconnectsAfterTheServerDropsItsConnections) {
  const std::string app = "parley_reconnect_" + std::to_string(getpid());
  const std::string conninfo = PostgresServer::Get().NewSchema({{"application_name", app}});
  ASSERT_FALSE(conninfo.empty());
  std::unique_ptr<Store> store = OpenPostgres(conninfo, 2);
  ASSERT_NE(store, nullptr);
  Result<User> a = store->CreateUser("a", "", "h", 1);
  ASSERT_OK(a);
  Result<ConversationId> g = store->CreateGroup("g", a->id, {}, 1);
  ASSERT_OK(g);
  std::vector<NewMessage> batch = {{*g, a->id, "m1", "one", MessageId(1), 1}};
  ASSERT_OK(store->CommitBatch(batch));

  AdminConnection admin(PostgresServer::Get().base());
  ASSERT_TRUE(admin.ok()) << admin.error();
  auto terminate = [&] {
    std::string error;
    std::optional<std::string> killed = admin.Query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" + app +
            "'",
        &error);
    ASSERT_TRUE(killed.has_value()) << error;
    EXPECT_NE(*killed, "0");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the backends go
  };

  terminate();
  ASSERT_OK(store->Ping());
  Result<std::vector<Message>> history = store->History(*g, std::nullopt, std::nullopt, 10, UserId());
  ASSERT_OK(history);
  EXPECT_EQ(history->size(), 1u);

  terminate();
  batch = {{*g, a->id, "m2", "two", MessageId(2), 2}};
  auto committed = store->CommitBatch(batch);
  ASSERT_OK(committed);
  ASSERT_OK((*committed)[0]);
  EXPECT_EQ((*committed)[0]->message.seq, 2);
}

// PostgreSQL text holds no NUL and only valid UTF-8: such an entry is
// refused alone (kBadRequest) instead of failing the whole batch.
TEST_F(PostgresStoreTest, UnstorableTextIsRefusedPerEntry) {
  std::unique_ptr<Store> store = OpenPostgres(PostgresServer::Get().NewSchema());
  ASSERT_NE(store, nullptr);
  Result<User> a = store->CreateUser("a", "", "h", 1);
  ASSERT_OK(a);
  Result<ConversationId> g = store->CreateGroup("g", a->id, {}, 1);
  ASSERT_OK(g);
  std::vector<NewMessage> batch = {{*g, a->id, "ok-1", "fine", MessageId(1), 1},
                                   {*g, a->id, "nul", std::string("a\0b", 3), MessageId(2), 2},
                                   {*g, a->id, "bad\xff", "bad id", MessageId(3), 3},
                                   {*g, a->id, "utf8", "caf\xc3\xa9 \xf0\x9f\x98\x80", MessageId(4), 4}};
  auto result = store->CommitBatch(batch);
  ASSERT_OK(result);
  ASSERT_EQ(result->size(), 4u);
  ASSERT_OK((*result)[0]);
  EXPECT_EQ((*result)[0]->message.seq, 1);
  ASSERT_FALSE((*result)[1].ok());
  EXPECT_EQ((*result)[1].error().code, Errc::kBadRequest);
  ASSERT_FALSE((*result)[2].ok());
  EXPECT_EQ((*result)[2].error().code, Errc::kBadRequest);
  ASSERT_OK((*result)[3]);
  EXPECT_EQ((*result)[3]->message.seq, 2);
  Result<std::vector<Message>> history = store->History(*g, std::nullopt, std::nullopt, 10, UserId());
  ASSERT_OK(history);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[1].body, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

// Throughput of CommitBatch, printed (not asserted); set PARLEY_PG_BENCH=1.
// Against the test cluster (fsync off) unless PARLEY_TEST_POSTGRES names
// another server.
TEST_F(PostgresStoreTest, CommitBatchThroughput) {
  if (Env("PARLEY_PG_BENCH").empty()) GTEST_SKIP() << "set PARLEY_PG_BENCH=1 to measure";
  const std::string conninfo = PostgresServer::Get().NewSchema();
  ASSERT_FALSE(conninfo.empty());
  std::unique_ptr<Store> store = OpenPostgres(conninfo, 8);
  ASSERT_NE(store, nullptr);
  constexpr int kConvs = 48;
  std::vector<UserId> users;
  for (int i = 0; i < 10; ++i) {
    Result<User> u = store->CreateUser("u" + std::to_string(i), "", "h", 1);
    ASSERT_OK(u);
    users.push_back(u->id);
  }
  std::vector<ConversationId> convs;
  for (int i = 0; i < kConvs; ++i) {
    Result<ConversationId> g = store->CreateGroup("g", users[0], users, 1);
    ASSERT_OK(g);
    convs.push_back(*g);
  }
  int64_t next_id = 1;
  for (int batch_size : {100, 1000}) {
    for (int threads_n : {1, 4}) {
      const int total = batch_size == 100 ? 20'000 : 40'000;
      const int batches = total / batch_size / threads_n;
      std::atomic<int64_t> id_base{next_id};
      const auto start = std::chrono::steady_clock::now();
      std::vector<std::thread> threads;
      for (int t = 0; t < threads_n; ++t) {
        threads.emplace_back([&, t] {
          for (int n = 0; n < batches; ++n) {
            std::vector<NewMessage> batch;
            batch.reserve(static_cast<size_t>(batch_size));
            for (int k = 0; k < batch_size; ++k) {
              int64_t id = id_base++;
              // Each thread its own conversations, as sequencer partitions.
              const int64_t conv = t + threads_n * ((id * 7) % (kConvs / threads_n));
              batch.push_back({convs[static_cast<size_t>(conv)], users[static_cast<size_t>(id % 10)],
                               "c" + std::to_string(id), std::string(100, 'x'), MessageId(id), id});
            }
            auto r = store->CommitBatch(batch);
            ASSERT_TRUE(r.ok()) << r.error().message;
          }
        });
      }
      for (auto& t : threads) t.join();
      next_id = id_base.load();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const int rows = batches * batch_size * threads_n;
      std::printf("[ bench    ] batch %4d, %d thread(s): %d rows in %.2f s = %.0f rows/s (%.1f ms/batch)\n",
                  batch_size, threads_n, rows, s, rows / s, s * 1000.0 * threads_n / (batches * threads_n));
    }
  }
}

}  // namespace
}  // namespace parley::store::contract
