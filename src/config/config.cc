#include "config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include <CLI/CLI.hpp>
#include <toml.hpp>

#include "config/settings.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "unknown"
#endif

namespace parley::config {
namespace {

constexpr const char* kSections[] = {"server", "limits", "auth", "store", "log", "presence"};

// PARLEY_* environment variables that are not settings but are allowed to be
// set (read by something else). Everything else under PARLEY_ must be a
// setting, so a typo fails loudly.
constexpr std::array<std::string_view, 0> kEnvAllowList{};

// ---------------------------------------------------------------- checks

std::string CheckHostPort(const std::string& v) {
  static const std::string kRule = "must be host:port with port 0..65535";
  const size_t colon = v.rfind(':');
  if (colon == std::string::npos) return kRule;
  const std::string host = v.substr(0, colon);
  const std::string port = v.substr(colon + 1);
  if (host.empty()) return kRule;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return kRule;
  } else if (host.find(':') != std::string::npos) {
    return kRule + " (bracket IPv6 addresses: [::1]:8080)";
  }
  for (char c : host) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/') return kRule;
  }
  if (port.empty() || port.size() > 5) return kRule;
  int n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (ec != std::errc() || p != port.data() + port.size() || n < 0 || n > 65535) return kRule;
  return "";
}

std::string CheckNotEmpty(const std::string& v) { return v.empty() ? "must not be empty" : ""; }

std::string CheckIpList(const std::string& v) {
  static const std::string kRule = "must be empty or comma-separated IP addresses (e.g. 10.0.0.5,::1)";
  size_t start = 0;
  while (start <= v.size() && !v.empty()) {
    size_t comma = v.find(',', start);
    std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, item.c_str(), &v4) != 1 && inet_pton(AF_INET6, item.c_str(), &v6) != 1)
      return kRule;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return "";
}

std::string CheckSecret(const std::string& v) {
  if (v.empty() || v.size() >= 32) return "";
  return "must be empty (a secret is then generated and kept in data_dir/jwt.secret) or at least 32 bytes";
}

// ---------------------------------------------------------------- the table

// Builds the settings table; the last added setting is the one refined by
// Range/OneOf/Check/Secret.
class TableBuilder {
 public:
  template <class S, class F>
  TableBuilder& Add(const char* section, S Config::*sec, const char* key, F S::*field,
                    const char* description) {
    Setting s;
    s.section = section;
    s.key = key;
    s.name = std::string(section) + "." + key;
    s.description = description;
    if constexpr (std::is_same_v<F, std::string>) {
      s.type = SettingType::kString;
      s.get = [sec, field](const Config& c) { return SettingValue(c.*sec.*field); };
      s.set = [sec, field](Config& c, const SettingValue& v) { c.*sec.*field = std::get<std::string>(v); };
    } else if constexpr (std::is_integral_v<F>) {
      s.type = SettingType::kInt;
      s.int_min = std::numeric_limits<F>::min();
      s.int_max = std::numeric_limits<F>::max();
      s.get = [sec, field](const Config& c) { return SettingValue(static_cast<int64_t>(c.*sec.*field)); };
      s.set = [sec, field](Config& c, const SettingValue& v) {
        c.*sec.*field = static_cast<F>(std::get<int64_t>(v));
      };
    } else {
      static_assert(std::is_floating_point_v<F>, "settings are strings, integers or doubles");
      s.type = SettingType::kDouble;
      s.double_min = std::numeric_limits<F>::lowest();
      s.double_max = std::numeric_limits<F>::max();
      s.get = [sec, field](const Config& c) { return SettingValue(static_cast<double>(c.*sec.*field)); };
      s.set = [sec, field](Config& c, const SettingValue& v) {
        c.*sec.*field = static_cast<F>(std::get<double>(v));
      };
    }
    // Field-type limits, to check that declared bounds fit the field.
    field_min_ = s.int_min;
    field_max_ = s.int_max;
    table_.push_back(std::move(s));
    return *this;
  }

  TableBuilder& Range(int64_t lo, int64_t hi) {
    Setting& s = table_.back();
    Require(s.type == SettingType::kInt && lo <= hi && lo >= field_min_ && hi <= field_max_, s,
            "bad int range");
    s.int_min = lo;
    s.int_max = hi;
    return *this;
  }
  TableBuilder& RangeD(double lo, double hi) {
    Setting& s = table_.back();
    Require(s.type == SettingType::kDouble && lo <= hi, s, "bad double range");
    s.double_min = lo;
    s.double_max = hi;
    return *this;
  }
  TableBuilder& OneOf(std::vector<std::string> allowed) {
    Setting& s = table_.back();
    Require(s.type == SettingType::kString && !allowed.empty(), s, "OneOf on a non-string");
    s.allowed = std::move(allowed);
    return *this;
  }
  TableBuilder& Check(std::string (*check)(const std::string&)) {
    Setting& s = table_.back();
    Require(s.type == SettingType::kString, s, "Check on a non-string");
    s.check = check;
    return *this;
  }
  TableBuilder& Secret() {
    table_.back().secret = true;
    return *this;
  }

  std::vector<Setting> Take() { return std::move(table_); }

 private:
  // A malformed table is a bug found at the first start-up (and by tests).
  static void Require(bool ok, const Setting& s, const char* what) {
    if (!ok) {
      std::cerr << "parley: config table: " << s.name << ": " << what << "\n";
      std::abort();
    }
  }

  std::vector<Setting> table_;
  int64_t field_min_ = 0;
  int64_t field_max_ = 0;
};

// Every setting, once. Defaults are the initialisers in config.h.
std::vector<Setting> BuildSettings() {
  TableBuilder t;
  constexpr int64_t kKiB = 1024;
  constexpr int64_t kMiB = 1024 * kKiB;
  constexpr int64_t kGiB = 1024 * kMiB;

  auto server = [&t](const char* key, auto field, const char* d) -> TableBuilder& {
    return t.Add("server", &Config::server, key, field, d);
  };
  server("listen", &ServerConfig::listen, "Address to listen on, host:port; port 0 picks a free port.")
      .Check(CheckHostPort);
  server("data_dir", &ServerConfig::data_dir, "Folder for the database, the JWT secret and other state.")
      .Check(CheckNotEmpty);
  server("threads", &ServerConfig::threads, "I/O threads; 0 means one per hardware thread.").Range(0, 1024);
  server("blocking_threads", &ServerConfig::blocking_threads,
         "Worker threads for blocking work (store calls, password hashing).")
      .Range(1, 1024);
  server("log_level", &ServerConfig::log_level, "Log verbosity.")
      .OneOf({"trace", "debug", "info", "warn", "error", "off"});
  server("web_root", &ServerConfig::web_root, "Folder served at /; empty serves the built-in page.");
  server("tls_cert_file", &ServerConfig::tls_cert_file,
         "PEM certificate chain; with tls_key_file the port serves only https:// and wss://.");
  server("tls_key_file", &ServerConfig::tls_key_file, "PEM private key of tls_cert_file.");
  server("port_file", &ServerConfig::port_file,
         "If set, the bound port is written to this file once listening (useful with port 0).");
  server("node_id", &ServerConfig::node_id, "Node id in message ids; unique per node of a cluster.")
      .Range(1, 1023);
  server("shutdown_grace_ms", &ServerConfig::shutdown_grace_ms,
         "On SIGTERM, how long in-flight work may take before connections are closed.")
      .Range(0, 600'000);

  auto limits = [&t](const char* key, auto field, const char* d) -> TableBuilder& {
    return t.Add("limits", &Config::limits, key, field, d);
  };
  limits("max_frame_bytes", &LimitsConfig::max_frame_bytes,
         "Largest WebSocket frame accepted; a bigger one closes the connection with 1009.")
      .Range(1 * kKiB, 64 * kMiB);
  limits("max_body_bytes", &LimitsConfig::max_body_bytes, "Largest message body, in bytes of UTF-8.")
      .Range(1, 1 * kMiB);
  limits("max_http_body_bytes", &LimitsConfig::max_http_body_bytes, "Largest HTTP request body.")
      .Range(1 * kKiB, 64 * kMiB);
  limits("send_rate_per_s", &LimitsConfig::send_rate_per_s, "Sustained messages per second per user.")
      .RangeD(0.01, 1'000'000);
  limits("send_burst", &LimitsConfig::send_burst, "Messages a user may send at once (token bucket size).")
      .Range(1, 1'000'000);
  limits("abuse_factor", &LimitsConfig::abuse_factor,
         "A connection sending this many times over its rate is closed with 4008.")
      .RangeD(1, 1000);
  limits("max_queue_bytes", &LimitsConfig::max_queue_bytes,
         "Outbound bytes queued per connection; a slower reader is closed with 4009.")
      .Range(64 * kKiB, 1 * kGiB);
  limits("max_connections", &LimitsConfig::max_connections, "Open connections per process.")
      .Range(1, 10'000'000);
  limits("hello_timeout_ms", &LimitsConfig::hello_timeout_ms,
         "Time a new WebSocket has to send hello before it is closed with 4001.")
      .Range(100, 600'000);
  limits("resume_limit", &LimitsConfig::resume_limit,
         "Most messages replayed per conversation on hello; beyond it the client pages history.")
      .Range(0, 1'000'000);
  limits("presence_group_limit", &LimitsConfig::presence_group_limit,
         "Groups up to this size share presence among their members.")
      .Range(0, 1'000'000);
  limits("heartbeat_ms", &LimitsConfig::heartbeat_ms, "Interval of WebSocket pings to idle connections.")
      .Range(1000, 600'000);
  limits("typing_interval_ms", &LimitsConfig::typing_interval_ms,
         "Least time between two typing notices of a user in a conversation.")
      .Range(100, 60'000);
  limits("max_group_members", &LimitsConfig::max_group_members, "Most members of a group conversation.")
      .Range(2, 1'000'000);

  auto auth = [&t](const char* key, auto field, const char* d) -> TableBuilder& {
    return t.Add("auth", &Config::auth, key, field, d);
  };
  auth("jwt_secret", &AuthConfig::jwt_secret,
       "HMAC key for access tokens (at least 32 bytes); empty: generated once and kept in "
       "data_dir/jwt.secret. "
       "Every node of a cluster needs the same one.")
      .Check(CheckSecret)
      .Secret();
  auth("access_ttl_s", &AuthConfig::access_ttl_s, "Lifetime of an access token, in seconds.")
      .Range(1, 7 * 86400);
  auth("refresh_ttl_s", &AuthConfig::refresh_ttl_s, "Lifetime of a refresh token, in seconds.")
      .Range(60, 365 * 86400);
  auth("password_strength", &AuthConfig::password_strength,
       "Argon2id cost; 'min' is for tests only (fast and weak).")
      .OneOf({"interactive", "moderate", "sensitive", "min"});
  auth("issuer_public_key_file", &AuthConfig::issuer_public_key_file,
       "PEM public key (EC P-256 for ES256, or RSA for RS256) of an outside issuer whose access tokens are "
       "accepted too; its users are provisioned on first sight. Empty: only our own tokens.");
  auth("issuer", &AuthConfig::issuer, "The \"iss\" claim outside tokens must carry; empty: any.");
  auth("login_window_s", &AuthConfig::login_window_s,
       "Sliding window, in seconds, over which failed logins are counted per account and per address.")
      .Range(1, 86400);
  auth("login_max_failures_per_account", &AuthConfig::login_max_failures_per_account,
       "Failed logins of one account within the window after which it is refused from every address "
       "(429) until the oldest leaves the window; 0 disables. A success clears the count.")
      .Range(0, 1000);
  auth("login_max_failures_per_address", &AuthConfig::login_max_failures_per_address,
       "Failed logins from one client address (IPv6: per /64) within the window after which it is "
       "refused for every account (429); 0 disables.")
      .Range(0, 1000);
  auth("login_throttle_max_entries", &AuthConfig::login_throttle_max_entries,
       "Accounts and addresses the login throttle remembers (each); past it the least recently failed "
       "is forgotten.")
      .Range(100, 10'000'000);
  auth("trusted_proxies", &AuthConfig::trusted_proxies,
       "Comma-separated IP addresses of load balancers whose X-Forwarded-For header names the client "
       "(for the login throttle); empty: the TCP peer is the client.")
      .Check(CheckIpList);
  auth("revocation_cache_ms", &AuthConfig::revocation_cache_ms,
       "How long a node believes a user's token epoch and deleted flag before asking the store again: "
       "the longest another node accepts a token revoked elsewhere. 0: ask on every check.")
      .Range(0, 600'000);

  auto store = [&t](const char* key, auto field, const char* d) -> TableBuilder& {
    return t.Add("store", &Config::store, key, field, d);
  };
  store("backend", &StoreConfig::backend, "Storage backend: sqlite (embedded) or postgres (cluster).")
      .OneOf({"sqlite", "postgres"});
  store("sqlite_path", &StoreConfig::sqlite_path, "SQLite database file; empty: data_dir/parley.db.");
  store("synchronous", &StoreConfig::synchronous,
        "SQLite synchronous mode: full survives power loss, normal only process crashes.")
      .OneOf({"full", "normal"});
  store("commit_batch_max", &StoreConfig::commit_batch_max, "Most messages written in one group commit.")
      .Range(1, 100'000);
  store("postgres_url", &StoreConfig::postgres_url,
        "PostgreSQL connection string (libpq conninfo or URI), for store.backend = postgres.")
      .Secret();
  store("postgres_pool", &StoreConfig::postgres_pool, "PostgreSQL connections kept open.").Range(1, 256);

  t.Add("log", &Config::log, "backend", &LogConfig::backend,
        "Message log backend: embedded (in-process) or kafka (cluster).")
      .OneOf({"embedded", "kafka"});
  t.Add("log", &Config::log, "partitions", &LogConfig::partitions,
        "Partitions of the message log (kafka: of the topic when parleyd creates it).")
      .Range(1, 1024);
  t.Add("log", &Config::log, "kafka_brokers", &LogConfig::kafka_brokers,
        "Kafka bootstrap servers, comma-separated host:port.");
  t.Add("log", &Config::log, "kafka_topic", &LogConfig::kafka_topic, "Kafka topic of the message log.");
  t.Add("log", &Config::log, "kafka_group", &LogConfig::kafka_group,
        "Kafka consumer group of the sequencers (every node joins it).");
  t.Add(
       "log", &Config::log, "kafka_fetch_wait_max_ms", &LogConfig::kafka_fetch_wait_max_ms,
       "How long the broker holds an empty fetch. A real Kafka answers as soon as data arrives; librdkafka's "
       "mock broker does not, so local clusters lower it.")
      .Range(1, 10'000);

  t.Add("presence", &Config::presence, "backend", &PresenceConfig::backend,
        "Presence, routing and fan-out backend: embedded (one node) or redis (cluster).")
      .OneOf({"embedded", "redis"});
  t.Add("presence", &Config::presence, "redis_address", &PresenceConfig::redis_address,
        "Redis server, host:port, for presence.backend = redis.")
      .Check(CheckHostPort);

  return t.Take();
}

std::string Upper(std::string s) {
  for (char& c : s) {
    c = c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string Dashed(std::string s) {
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

// ---------------------------------------------------------------- lookups

const std::map<std::string, const Setting*>& ByName() {
  static const auto* m = [] {
    auto* r = new std::map<std::string, const Setting*>;
    for (const Setting& s : Settings()) r->emplace(s.name, &s);
    return r;
  }();
  return *m;
}

const std::map<std::string, const Setting*>& ByEnv() {
  static const auto* m = [] {
    auto* r = new std::map<std::string, const Setting*>;
    for (const Setting& s : Settings()) {
      for (const std::string& e : s.EnvNames()) {
        if (!r->emplace(e, &s).second) {
          std::cerr << "parley: config table: duplicate environment name " << e << "\n";
          std::abort();
        }
      }
    }
    return r;
  }();
  return *m;
}

bool IsSection(const std::string& name) {
  return std::any_of(std::begin(kSections), std::end(kSections), [&](const char* s) { return name == s; });
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// " (did you mean X?)" for the closest candidate, if it is close.
template <class Range>
std::string Suggest(std::string_view wrong, const Range& candidates) {
  // Suggest only truncations and typos of a few edits (fewer for short words).
  std::string best;
  size_t best_d = std::min<size_t>(3, std::max<size_t>(1, wrong.size() / 3)) + 1;
  for (const auto& c : candidates) {
    const std::string_view cand(c);
    size_t d =
        cand.size() > wrong.size() && cand.substr(0, wrong.size()) == wrong ? 1 : EditDistance(wrong, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

std::vector<std::string> AllNames() {
  std::vector<std::string> r;
  for (const Setting& s : Settings()) r.push_back(s.name);
  return r;
}

// ---------------------------------------------------------------- values

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += '"';
  return out;
}

// How a value appears in an error message; secrets never do.
std::string Shown(const Setting& s, const SettingValue& v) { return s.secret ? "\"***\"" : FormatToml(v); }

// Validates `v` for `s` and stores it; returns an error message or "".
std::string Apply(const Setting& s, Config& config, const SettingValue& v, const std::string& source) {
  const std::string head = s.name + " = " + Shown(s, v) + " (from " + source + ")";
  switch (s.type) {
    case SettingType::kInt: {
      int64_t n = std::get<int64_t>(v);
      if (n < s.int_min || n > s.int_max) return head + " is out of bounds " + s.BoundsText();
      break;
    }
    case SettingType::kDouble: {
      double d = std::get<double>(v);
      if (!std::isfinite(d) || d < s.double_min || d > s.double_max) {
        return head + " is out of bounds " + s.BoundsText();
      }
      break;
    }
    case SettingType::kString: {
      const std::string& str = std::get<std::string>(v);
      if (!s.allowed.empty() && std::find(s.allowed.begin(), s.allowed.end(), str) == s.allowed.end()) {
        return head + " must be one of " + s.BoundsText();
      }
      if (s.check) {
        std::string why = s.check(str);
        if (!why.empty()) return head + " " + why;
      }
      break;
    }
  }
  s.set(config, v);
  return "";
}

const char* TypeWord(SettingType t) {
  switch (t) {
    case SettingType::kString:
      return "a string";
    case SettingType::kInt:
      return "an integer";
    case SettingType::kDouble:
      return "a number";
  }
  return "?";
}

// A value from the environment or a flag: text to be parsed.
std::string ApplyText(const Setting& s, Config& config, const std::string& text, const std::string& source) {
  switch (s.type) {
    case SettingType::kString:
      return Apply(s, config, text, source);
    case SettingType::kInt: {
      int64_t n = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
        return s.name + ": " + Quote(text) + " (from " + source + ") is not " + TypeWord(s.type) +
               "; bounds " + s.BoundsText();
      }
      return Apply(s, config, n, source);
    }
    case SettingType::kDouble: {
      double d = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
        return s.name + ": " + Quote(text) + " (from " + source + ") is not " + TypeWord(s.type) +
               "; bounds " + s.BoundsText();
      }
      return Apply(s, config, d, source);
    }
  }
  return "";
}

std::string DescribeToml(const toml::value& v) {
  switch (v.type()) {
    case toml::value_t::string:
      return "the string " + Quote(v.as_string().str);
    case toml::value_t::integer:
      return "the integer " + std::to_string(v.as_integer());
    case toml::value_t::floating:
      return "the float " + FormatToml(v.as_floating());
    case toml::value_t::boolean:
      return v.as_boolean() ? "the boolean true" : "the boolean false";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    default:
      return "a date or time";
  }
}

// A value from the TOML file: already typed.
std::string ApplyToml(const Setting& s, Config& config, const toml::value& v, const std::string& source) {
  if (s.type == SettingType::kString && v.is_string()) return Apply(s, config, v.as_string().str, source);
  if (s.type == SettingType::kInt && v.is_integer()) return Apply(s, config, int64_t{v.as_integer()}, source);
  if (s.type == SettingType::kDouble && v.is_integer()) {
    return Apply(s, config, static_cast<double>(v.as_integer()), source);
  }
  if (s.type == SettingType::kDouble && v.is_floating()) return Apply(s, config, v.as_floating(), source);
  const std::string shown = s.secret ? "a value" : DescribeToml(v);
  return s.name + " (from " + source + ") must be " + TypeWord(s.type) + ", got " + shown;
}

std::vector<std::pair<std::string, const toml::value*>> Sorted(const toml::table& t) {
  std::vector<std::pair<std::string, const toml::value*>> r;
  for (const auto& [k, v] : t) r.emplace_back(k, &v);
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return r;
}

// The line (from 1) of the first byte of `s` that is not valid UTF-8, or 0.
size_t FirstInvalidUtf8Line(std::string_view s) {
  size_t line = 1;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      line += c == '\n';
      ++i;
      continue;
    }
    const size_t n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (n == 0 || i + n >= s.size()) return line;
    uint32_t cp = c & (0x3F >> n);
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return line;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return line;
    }
    i += n + 1;
  }
  return 0;
}

void LoadFile(const std::string& path, Config& config, std::vector<std::string>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back("cannot read config file " + path + ": " + std::strerror(errno));
    return;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // TOML files are UTF-8. Checked before toml11 parses: toml11 3.7.1 reads
  // out of bounds when it reports invalid UTF-8 inside a multi-line literal
  // string (found by fuzz/config_fuzz).
  if (const size_t line = FirstInvalidUtf8Line(text); line != 0) {
    errors.push_back("config file " + path + " is not valid TOML: invalid UTF-8 on line " +
                     std::to_string(line));
    return;
  }
  toml::value root;
  try {
    std::istringstream is(text);
    root = toml::parse(is, path);
  } catch (const std::exception& e) {
    errors.push_back("config file " + path + " is not valid TOML: " + e.what());
    return;
  }
  if (!root.is_table()) {
    errors.push_back("config file " + path + " is not a TOML table");
    return;
  }
  const std::string source = "config file " + path;
  std::set<std::string> seen;  // names set at top level, to catch a second [server] value
  std::vector<std::pair<std::string, const toml::value*>> sections;

  for (const auto& [key, value] : Sorted(root.as_table())) {
    if (IsSection(key)) {
      if (!value->is_table()) {
        errors.push_back("[" + key + "] in " + source + " must be a table, got " + DescribeToml(*value));
      } else {
        sections.emplace_back(key, value);
      }
      continue;
    }
    auto it = ByName().find("server." + key);
    if (it != ByName().end()) {  // a server key at top level
      seen.insert(it->first);
      std::string e = ApplyToml(*it->second, config, *value, source);
      if (!e.empty()) errors.push_back(std::move(e));
      continue;
    }
    if (value->is_table()) {
      errors.push_back("unknown section [" + key + "] in " + source + Suggest(key, kSections));
    } else {
      errors.push_back("unknown key " + key + " in " + source + Suggest("server." + key, AllNames()));
    }
  }

  for (const auto& [section, table] : sections) {
    for (const auto& [key, value] : Sorted(table->as_table())) {
      const std::string name = section + "." + key;
      auto it = ByName().find(name);
      if (it == ByName().end()) {
        errors.push_back("unknown key " + name + " in " + source + Suggest(name, AllNames()));
        continue;
      }
      if (seen.count(name)) {
        errors.push_back(name + " is set twice in " + source + " (at top level and in [server])");
        continue;
      }
      std::string e = ApplyToml(*it->second, config, *value, source);
      if (!e.empty()) errors.push_back(std::move(e));
    }
  }
}

void LoadEnv(const char* const* envp, Config& config, std::vector<std::string>& errors) {
  if (envp == nullptr) return;
  // Sorted by name so that messages are stable; one value per setting.
  std::map<std::string, std::string> vars;
  for (const char* const* p = envp; *p != nullptr; ++p) {
    std::string_view entry(*p);
    if (entry.rfind("PARLEY_", 0) != 0) continue;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  std::map<const Setting*, std::pair<std::string, std::string>> chosen;  // setting -> (var, value)
  std::vector<std::string> env_names;
  for (const auto& [name, _] : ByEnv()) env_names.push_back(name);
  for (const auto& [name, value] : vars) {
    // std::find, not a lambda: clang 14 (the fuzz build) cannot capture a structured binding.
    if (std::find(std::begin(kEnvAllowList), std::end(kEnvAllowList), name) != std::end(kEnvAllowList)) {
      continue;
    }
    auto it = ByEnv().find(name);
    if (it == ByEnv().end()) {
      errors.push_back("unknown environment variable " + name + ": no such setting" +
                       Suggest(name, env_names));
      continue;
    }
    auto [at, inserted] = chosen.emplace(it->second, std::make_pair(name, value));
    if (!inserted && at->second.second != value) {
      errors.push_back(at->second.first + " and " + name + " both set " + it->second->name + ", differently");
    }
  }
  // Apply in table order.
  for (const Setting& s : Settings()) {
    auto it = chosen.find(&s);
    if (it == chosen.end()) continue;
    std::string e = ApplyText(s, config, it->second.second, "environment " + it->second.first);
    if (!e.empty()) errors.push_back(std::move(e));
  }
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string r;
  for (const auto& p : parts) {
    if (!r.empty()) r += sep;
    r += p;
  }
  return r;
}

}  // namespace

// ---------------------------------------------------------------- Setting

std::vector<std::string> Setting::EnvNames() const {
  if (section == "server") return {"PARLEY_" + Upper(key), "PARLEY_" + Upper(name)};
  return {"PARLEY_" + Upper(name)};
}

std::vector<std::string> Setting::Flags() const {
  if (section == "server") return {"--" + Dashed(key), "--" + name};
  return {"--" + name};
}

std::string Setting::BoundsText() const {
  switch (type) {
    case SettingType::kInt:
      return "[" + std::to_string(int_min) + ", " + std::to_string(int_max) + "]";
    case SettingType::kDouble:
      return "[" + FormatToml(double_min) + ", " + FormatToml(double_max) + "]";
    case SettingType::kString: {
      std::string r;
      for (const auto& a : allowed) r += (r.empty() ? "" : "|") + a;
      return r;
    }
  }
  return "";
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> table = BuildSettings();
  return table;
}

std::string FormatToml(const SettingValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return Quote(*s);
  if (const auto* n = std::get_if<int64_t>(&value)) return std::to_string(*n);
  const double d = std::get<double>(value);
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string r(buf, ec == std::errc() ? p : buf);
  if (r.find_first_of(".eE") == std::string::npos) r += ".0";
  return r;
}

// ---------------------------------------------------------------- Load

Result<LoadResult> Load(int argc, const char* const* argv, const char* const* envp) {
  LoadResult result;
  const std::vector<Setting>& settings = Settings();

  CLI::App app("parleyd: the Parley chat server.", "parleyd");
  app.set_version_flag("--version", "parleyd " PARLEY_VERSION);
  app.footer(
      "Every setting is also read from the TOML file given by --config ([section] key; server keys may "
      "also sit at top level) and from the environment (PARLEY_SECTION_KEY; server keys also PARLEY_KEY). "
      "Precedence: defaults < file < environment < flags. Unknown keys fail.");
  std::string config_path;
  CLI::Option* config_opt = app.add_option("--config", config_path, "TOML configuration file.")
                                ->type_name("FILE")
                                ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--print-config", result.print_config, "Print the effective configuration as TOML and exit.");

  std::vector<std::string> flag_values(settings.size());
  std::vector<CLI::Option*> flag_opts(settings.size());
  for (size_t i = 0; i < settings.size(); ++i) {
    const Setting& s = settings[i];
    std::string help = s.description;
    if (!s.secret) help += " Default: " + FormatToml(s.get(Config{})) + ".";
    const std::string bounds = s.BoundsText();
    if (s.type != SettingType::kString && !bounds.empty()) help += " Bounds: " + bounds + ".";
    help += " Env: " + Join(s.EnvNames(), ", ") + ".";
    const char* type_name = s.type == SettingType::kInt      ? "INT"
                            : s.type == SettingType::kDouble ? "NUMBER"
                                                             : "TEXT";
    std::string tname = s.allowed.empty() ? type_name : "{" + bounds + "}";
    flag_opts[i] = app.add_option(Join(s.Flags(), ","), flag_values[i], help)
                       ->type_name(tname)
                       ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }

  if (argc > 0 && argv != nullptr) {
    try {
      app.parse(argc, argv);
    } catch (const CLI::Success& e) {  // --help or --version
      app.exit(e, std::cout, std::cerr);
      std::cout.flush();
      result.exit_now = true;
      return result;
    } catch (const CLI::Error& e) {
      return MakeError(Errc::kBadRequest, std::string("command line: ") + e.what());
    }
  }

  std::vector<std::string> errors;
  if (config_opt->count() > 0) {
    if (config_path.empty()) {
      errors.push_back("--config needs a file name");
    } else {
      LoadFile(config_path, result.config, errors);
    }
  }
  LoadEnv(envp, result.config, errors);
  for (size_t i = 0; i < settings.size(); ++i) {
    if (flag_opts[i]->count() == 0) continue;
    std::string e =
        ApplyText(settings[i], result.config, flag_values[i], "flag " + settings[i].Flags().front());
    if (!e.empty()) errors.push_back(std::move(e));
  }
  if (!errors.empty()) return MakeError(Errc::kBadRequest, Join(errors, "; "));
  return result;
}

// ---------------------------------------------------------------- ToToml

std::string ToToml(const Config& config) {
  std::ostringstream out;
  out << "# Parley configuration: the effective value of every setting.\n"
         "# Precedence: defaults < this file < PARLEY_* environment < flags.\n";
  std::string section;
  for (const Setting& s : Settings()) {
    if (s.section != section) {
      section = s.section;
      out << "\n[" << section << "]\n";
    }
    out << "# " << s.description;
    const std::string bounds = s.BoundsText();
    if (!bounds.empty()) out << (s.type == SettingType::kString ? " One of: " : " Bounds: ") << bounds << ".";
    out << "\n";
    SettingValue v = s.get(config);
    if (s.secret && !std::get<std::string>(v).empty()) v = std::string("***");
    out << s.key << " = " << FormatToml(v) << "\n";
  }
  return out.str();
}

}  // namespace parley::config
