#pragma once
// Parley's typed configuration. Every setting is declared once (config.cc:
// name, description, default, bounds) and read from, in rising precedence:
// the TOML file given by --config, PARLEY_* environment variables
// (PARLEY_LIMITS_MAX_FRAME_BYTES for limits.max_frame_bytes; top-level
// server keys as PARLEY_LISTEN, PARLEY_DATA_DIR, ...) and command-line flags
// (--listen, --data-dir, and --<section>.<key> for every key). Unknown keys
// and out-of-bounds values fail at start-up with a message naming the key.
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace parley::config {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free port
  std::string data_dir = "./parley-data";
  int threads = 0;                 // io threads; 0 = hardware concurrency
  int blocking_threads = 4;        // store/hash workers for HTTP and auth
  std::string log_level = "info";  // trace|debug|info|warn|error|off
  std::string web_root;            // folder served at /; empty = built-in page
  std::string tls_cert_file;       // PEM certificate chain; with tls_key_file: TLS only
  std::string tls_key_file;        // PEM private key
  std::string port_file;           // if set, the bound port is written here
  int64_t node_id = 1;             // 1..1023, unique per node (message ids)
  int shutdown_grace_ms = 5000;
};

struct LimitsConfig {
  int64_t max_frame_bytes = 64 * 1024;  // bigger WebSocket frame: close 1009
  int max_body_bytes = 4096;            // message body, bytes of UTF-8
  int64_t max_http_body_bytes = 64 * 1024;
  double send_rate_per_s = 50;                // per user, sustained
  int send_burst = 500;                       // per user, bucket size
  double abuse_factor = 10;                   // close 4008 past this many times the rate
  int64_t max_queue_bytes = 4 * 1024 * 1024;  // per connection outbound; over: 4009
  int max_connections = 100000;               // per process
  int hello_timeout_ms = 10000;
  int resume_limit = 1000;
  int presence_group_limit = 200;
  int heartbeat_ms = 25000;
  int typing_interval_ms = 3000;
  int max_group_members = 10000;
};

struct AuthConfig {
  std::string jwt_secret;  // empty: generated once, kept in data_dir/jwt.secret
  int access_ttl_s = 900;
  int refresh_ttl_s = 30 * 24 * 3600;
  std::string password_strength = "interactive";  // interactive|moderate|sensitive|min (min: tests only)
  std::string issuer_public_key_file;       // PEM (EC P-256 or RSA): also accept this outside issuer's tokens
  std::string issuer;                       // the "iss" its tokens must carry; empty: any
  int login_window_s = 900;                 // failed logins counted over this sliding window
  int login_max_failures_per_account = 50;  // then the account is refused (from anywhere)
  int login_max_failures_per_address = 20;  // then the address is refused (for any account)
  int login_throttle_max_entries = 100000;  // keys kept per table (accounts, addresses)
  std::string trusted_proxies;              // comma-separated IPs whose X-Forwarded-For is believed
  int revocation_cache_ms = 5000;           // token epoch / deleted flag believed this long
};

struct StoreConfig {
  std::string backend = "sqlite";
  std::string sqlite_path;           // empty: data_dir/parley.db
  std::string synchronous = "full";  // full|normal
  int commit_batch_max = 1000;       // messages per group commit
  std::string postgres_url;          // libpq conninfo or URI (backend "postgres")
  int postgres_pool = 8;             // connections
};

struct LogConfig {
  std::string backend = "embedded";  // embedded|kafka
  int partitions = 4;                // embedded: partitions; kafka: partitions of a topic it creates
  std::string kafka_brokers = "127.0.0.1:9092";
  std::string kafka_topic = "parley.sends";
  std::string kafka_group = "parley-sequencers";
  int kafka_fetch_wait_max_ms = 100;  // broker long-poll; lower it for the mock broker
};

struct PresenceConfig {
  std::string backend = "embedded";              // embedded|redis
  std::string redis_address = "127.0.0.1:6379";  // host:port
};

struct Config {
  ServerConfig server;
  LimitsConfig limits;
  AuthConfig auth;
  StoreConfig store;
  LogConfig log;
  PresenceConfig presence;
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
