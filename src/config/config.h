#pragma once
// Parley's typed configuration. Every setting is declared once (config.cc:
// name, description, bounds, the module field it sets, whose initialiser is
// its default) and read from, in rising precedence:
// the TOML file given by --config, PARLEY_* environment variables
// (PARLEY_LIMITS_MAX_FRAME_BYTES for limits.max_frame_bytes; top-level
// server keys as PARLEY_LISTEN, PARLEY_DATA_DIR, ...) and command-line flags
// (--listen, --data-dir, and --<section>.<key> for every key). Unknown keys
// and out-of-bounds values fail at start-up with a message naming the key;
// so does a string that is not valid UTF-8, wherever it comes from, and a
// listen or Redis address that is not host:port.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/options.h"
#include "common/result.h"
#include "gateway/gateway.h"
#include "log/embedded/embedded_log.h"
#include "log/kafka/kafka_log.h"
#include "presence/redis/redis_presence.h"
#include "sequencer/sequencer.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"
#include "webhooks/options.h"

namespace parley::config {

// The composition root's own settings (server/ reads them; no module does).
struct ServerConfig {
  std::string data_dir = "./parley-data";
  int threads = 0;                 // io threads (gateway.threads); 0 = one per hardware thread
  std::string log_level = "info";  // trace|debug|info|warn|error|off
  std::string port_file;           // if set, the bound port is written here
  int shutdown_grace_ms = 5000;
};

// Tokens and password hashing, which server/ builds from these directly.
struct AuthConfig {
  std::string jwt_secret;  // empty: generated once, kept in data_dir/jwt.secret
  int access_ttl_s = 900;
  std::string password_strength = "interactive";  // interactive|moderate|sensitive|min (min: tests only)
  std::string issuer_public_key_file;  // PEM (EC P-256 or RSA): also accept this outside issuer's tokens
  std::string issuer;                  // the "iss" its tokens must carry; empty: any
};

// The backends, as users name them ("sqlite", ...: Name()). server/ picks
// one with an exhaustive switch, so a new backend that is not wired fails
// to compile (-Wswitch) rather than at start-up.
enum class StoreBackend { kSqlite, kPostgres };
enum class LogBackend { kEmbedded, kKafka };
enum class PresenceBackend { kEmbedded, kRedis };
inline constexpr StoreBackend kStoreBackends[] = {StoreBackend::kSqlite, StoreBackend::kPostgres};
inline constexpr LogBackend kLogBackends[] = {LogBackend::kEmbedded, LogBackend::kKafka};
inline constexpr PresenceBackend kPresenceBackends[] = {PresenceBackend::kEmbedded, PresenceBackend::kRedis};
std::string_view Name(StoreBackend backend);
std::string_view Name(LogBackend backend);
std::string_view Name(PresenceBackend backend);
// Where upload bytes live (PROTOCOL.md §6): files in the data directory (one
// node) or the cluster's PostgreSQL (store.postgres_url).
enum class UploadBackend { kFiles, kPostgres };
inline constexpr UploadBackend kUploadBackends[] = {UploadBackend::kFiles, UploadBackend::kPostgres};
std::string_view Name(UploadBackend backend);

struct StoreConfig {
  StoreBackend backend = StoreBackend::kSqlite;
  // path empty: data_dir/parley.db. readers: server/ derives it from
  // gateway.blocking_threads.
  store::sqlite::Options sqlite;
  store::postgres::Options postgres;
};

struct LogConfig {
  LogBackend backend = LogBackend::kEmbedded;
  log::embedded::Options embedded;
  log::kafka::Options kafka;  // client_id empty: server/ names it after the node id
};

struct PresenceConfig {
  PresenceBackend backend = PresenceBackend::kEmbedded;
  presence::redis::Options redis;
};

struct UploadsConfig {
  UploadBackend backend = UploadBackend::kFiles;
  std::string dir;  // files: the folder; empty: data_dir/uploads
};

// Every setting of parleyd. The modules' own Options structs are held as
// they are and carry the defaults; the settings table (config.cc) maps each
// user-facing name (limits.max_frame_bytes, ...) onto their fields. A
// setting that several modules need (server.node_id, limits.heartbeat_ms,
// limits.send_rate_per_s, log.partitions) is written into each of their
// fields by Load, so server/ passes each struct on whole. Fields that no
// setting names keep their module's default, except the few that server/
// derives (gateway.host resolved, gateway.threads, gateway.web_root when
// empty, store.sqlite.path when empty and readers, log.kafka.client_id).
struct Config {
  ServerConfig server;
  AuthConfig auth;
  gateway::Options gateway;
  chat::Options chat;
  sequencer::Options sequencer;
  StoreConfig store;
  LogConfig log;
  PresenceConfig presence;
  UploadsConfig uploads;
  webhooks::Options webhooks;
};

// What the command line asked for besides the settings.
struct LoadResult {
  Config config;
  bool print_config = false;  // --print-config: print the effective config and exit
  bool exit_now = false;      // --help or --version was handled; exit 0
};

// Reads the file named by --config (if any), then the environment (`envp`,
// a null-terminated array like environ), then the flags. Errors are
// kBadRequest with a message naming the key and what was wrong.
Result<LoadResult> Load(int argc, const char* const* argv, const char* const* envp);

// The effective configuration as TOML, every key present (the secret masked).
std::string ToToml(const Config& config);

}  // namespace parley::config
