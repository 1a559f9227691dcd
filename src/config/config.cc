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
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <type_traits>
#include <utility>

#include <CLI/CLI.hpp>
#include <toml.hpp>

#include "common/build_info.h"
#include "config/settings.h"

namespace parley::config {
namespace {

constexpr const char* kSections[] = {"server", "limits",   "auth",    "admin",    "store",
                                     "log",    "presence", "uploads", "webhooks", "push"};

// PARLEY_* environment variables that are not settings but are allowed to be
// set (read by something else). Everything else under PARLEY_ must be a
// setting, so a typo fails loudly.
constexpr std::array<std::string_view, 0> kEnvAllowList{};

// ---------------------------------------------------------------- checks

// The offset of the first byte of `s` that is not valid UTF-8 (overlongs,
// surrogates and code points past U+10FFFF are invalid), or npos.
size_t InvalidUtf8At(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    const size_t n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (n == 0 || i + n >= s.size()) return i;
    uint32_t cp = c & (0x3F >> n);
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

bool IsAsciiDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A DNS host name (RFC 1123): dot-separated labels of letters, digits and
// '-', 1 to 63 characters each, not beginning or ending with '-'; at most
// 253 characters; the last label not all digits (that would be a mistyped
// IPv4 address).
bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view last;
  for (size_t start = 0; start <= host.size();) {
    const size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    last = label;
    start = dot + 1;
  }
  return !IsAsciiDigits(last);
}

struct HostPort {
  std::string host;  // an IPv4 address, an IPv6 address (without brackets) or a host name
  uint16_t port = 0;
};

// Parses "host:port": an IPv4 address, a bracketed IPv6 address or a host
// name, then a port 0..65535. On failure, `why` says what the value must be.
std::optional<HostPort> ParseHostPort(std::string_view v, std::string& why) {
  static constexpr std::string_view kRule =
      "must be host:port (an IPv4 address, a bracketed IPv6 address or a host name; a port 0..65535)";
  why = kRule;
  const size_t colon = v.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = v.substr(0, colon);
  const std::string_view port = v.substr(colon + 1);
  unsigned n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (!IsAsciiDigits(port) || port.size() > 5 || ec != std::errc() || n > 65535) {
    why += "; the port is not 0..65535";
    return std::nullopt;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      why += "; [" + std::string(host) + "] is not an IPv6 address";
      return std::nullopt;
    }
  } else if (host.find_first_of(":[]") != std::string_view::npos) {
    why += " (bracket IPv6 addresses: [::1]:8080)";
    return std::nullopt;
  } else if (host.find_first_not_of("0123456789.") == std::string_view::npos && !host.empty()) {
    in_addr v4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
      why += "; " + std::string(host) + " is not an IPv4 address";
      return std::nullopt;
    }
  } else if (!IsHostName(host)) {
    why += host.empty() ? "; the host is missing (all interfaces: 0.0.0.0 or [::])"
                        : "; the host is not an address or a host name (letters, digits, '-', '.')";
    return std::nullopt;
  }
  why.clear();
  return HostPort{std::string(host), static_cast<uint16_t>(n)};
}

std::string FormatHostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string CheckHostPort(const std::string& v) {
  std::string why;
  ParseHostPort(v, why);
  return why;
}

std::string CheckNotEmpty(const std::string& v) { return v.empty() ? "must not be empty" : ""; }

// RFC 8292's subject: a mailto: or https: URL.
std::string CheckVapidSubject(const std::string& v) {
  if ((v.rfind("mailto:", 0) == 0 && v.size() > 7) || (v.rfind("https://", 0) == 0 && v.size() > 8))
    return "";
  return "must be a mailto: or https: URL, such as mailto:ops@example.org";
}

// "a, b,c" -> {"a", "b", "c"}: items trimmed of spaces; "" -> {}. An empty
// item stays (CheckIpList refuses it).
std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  for (size_t start = 0; !text.empty() && start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

std::string CheckIpList(const std::string& v) {
  for (const std::string& item : SplitList(v)) {
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, item.c_str(), &v4) != 1 && inet_pton(AF_INET6, item.c_str(), &v6) != 1)
      return "must be empty or comma-separated IP addresses (e.g. 10.0.0.5,::1)";
  }
  return "";
}

// admin.users: usernames as PROTOCOL.md §1 allows them (3 to 32 of
// [a-z0-9_.-]; upper case is folded when compared).
std::string CheckUsernameList(const std::string& v) {
  for (const std::string& item : SplitList(v)) {
    const bool ok =
        item.size() >= 3 && item.size() <= 32 && std::all_of(item.begin(), item.end(), [](char ch) {
          const auto c = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(ch)));
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        });
    if (!ok) return "must be empty or comma-separated usernames (3 to 32 of a-z 0-9 _ . -)";
  }
  return "";
}

std::string CheckSecret(const std::string& v) {
  if (v.empty() || v.size() >= 32) return "";
  return "must be empty (a secret is then generated and kept in data_dir/jwt.secret) or at least 32 bytes";
}

// ---------------------------------------------------------------- the table

// A path of member pointers from Config to one field:
// Field(&Config::chat, &chat::Options::send_burst) reads and writes
// config.chat.send_burst (a left fold of .* over the pointers).
template <class... Members>
constexpr auto Field(Members... members) {
  return [=](auto& config) -> auto& { return (config.*....*members); };
}

template <class Path>
using FieldType = std::remove_cvref_t<decltype(std::declval<Path>()(std::declval<Config&>()))>;

template <class F>
constexpr SettingType TypeOf() {
  if constexpr (std::is_same_v<F, std::string>) {
    return SettingType::kString;
  } else if constexpr (std::is_integral_v<F>) {
    return SettingType::kInt;
  } else {
    static_assert(std::is_floating_point_v<F>, "settings are strings, integers or floating point");
    return SettingType::kDouble;
  }
}

template <class F>
SettingValue ToValue(const F& field) {
  if constexpr (TypeOf<F>() == SettingType::kString) {
    return field;
  } else if constexpr (TypeOf<F>() == SettingType::kInt) {
    return static_cast<int64_t>(field);
  } else {
    return static_cast<double>(field);
  }
}

// Only values within the setting's bounds reach here (Apply checks them
// first, and the table checks that the bounds fit every field).
template <class F>
F FromValue(const SettingValue& v) {
  if constexpr (TypeOf<F>() == SettingType::kString) {
    return std::get<std::string>(v);
  } else if constexpr (TypeOf<F>() == SettingType::kInt) {
    return static_cast<F>(std::get<int64_t>(v));
  } else {
    return static_cast<F>(std::get<double>(v));
  }
}

// The values of an integral field type that an int64_t setting can hold.
template <class F>
std::pair<int64_t, int64_t> IntLimits() {
  static_assert(std::is_integral_v<F>);
  const auto hi = static_cast<uint64_t>(std::numeric_limits<F>::max());
  return {std::numeric_limits<F>::min(),
          static_cast<int64_t>(std::min<uint64_t>(hi, std::numeric_limits<int64_t>::max()))};
}

// Builds the settings table; the last added setting is the one refined by
// Range/OneOf/Check/Secret/Also.
class TableBuilder {
 public:
  // A setting stored as is in one field (a string, an integer or a floating
  // point number); its default is the field's initialiser.
  template <class Path>
  TableBuilder& Add(const char* section, const char* key, Path field, const char* description) {
    using F = FieldType<Path>;
    Setting& s = New(section, key, description, TypeOf<F>());
    s.get = [field](const Config& c) { return ToValue(field(c)); };
    s.set = [field](Config& c, const SettingValue& v) { field(c) = FromValue<F>(v); };
    s.fields.push_back(s.get);
    if constexpr (TypeOf<F>() == SettingType::kInt) {
      std::tie(s.int_min, s.int_max) = IntLimits<F>();
    } else if constexpr (TypeOf<F>() == SettingType::kDouble) {
      s.double_min = std::numeric_limits<F>::lowest();
      s.double_max = std::numeric_limits<F>::max();
    }
    std::tie(field_min_, field_max_) = std::pair(s.int_min, s.int_max);
    return *this;
  }

  // An integer setting in whole units (seconds) of a field that counts
  // smaller ones (milliseconds): the field holds value * scale.
  template <class Path>
  TableBuilder& AddScaled(const char* section, const char* key, Path field, int64_t scale,
                          const char* description) {
    using F = FieldType<Path>;
    static_assert(std::is_integral_v<F>);
    Setting& s = New(section, key, description, SettingType::kInt);
    s.get = [field, scale](const Config& c) { return SettingValue(static_cast<int64_t>(field(c)) / scale); };
    s.set = [field, scale](Config& c, const SettingValue& v) {
      field(c) = static_cast<F>(std::get<int64_t>(v) * scale);
    };
    s.fields.push_back(s.get);
    const auto [lo, hi] = IntLimits<F>();
    s.int_min = field_min_ = lo / scale;
    s.int_max = field_max_ = hi / scale;
    return *this;
  }

  // A string setting whose words name the values of its field (an enum, a
  // bool): {value, word} for every value the field may hold.
  template <class Path, class F = FieldType<Path>>
  TableBuilder& AddChoice(const char* section, const char* key, Path field,
                          std::vector<std::pair<F, std::string>> choices, const char* description) {
    Setting& s = New(section, key, description, SettingType::kString);
    for (const auto& choice : choices) s.allowed.push_back(choice.second);
    s.get = [field, choices](const Config& c) {
      for (const auto& [value, word] : choices) {
        if (field(c) == value) return SettingValue(word);
      }
      return SettingValue(std::string());  // not a choice: a table bug, which tests catch
    };
    s.set = [field, choices](Config& c, const SettingValue& v) {
      for (const auto& [value, word] : choices) {
        if (word == std::get<std::string>(v)) field(c) = value;
      }
    };
    s.fields.push_back(s.get);
    return *this;
  }

  // A setting naming a backend; the words are the enum's Name()s.
  template <class Path, class E, size_t N>
  TableBuilder& AddBackend(const char* section, Path field, const E (&backends)[N], const char* description) {
    std::vector<std::pair<E, std::string>> choices;
    for (E backend : backends) choices.emplace_back(backend, std::string(Name(backend)));
    return AddChoice(section, "backend", field, std::move(choices), description);
  }

  // A string setting of comma-separated items kept as a list (items trimmed).
  template <class Path>
  TableBuilder& AddList(const char* section, const char* key, Path field, const char* description) {
    static_assert(std::is_same_v<FieldType<Path>, std::vector<std::string>>);
    Setting& s = New(section, key, description, SettingType::kString);
    s.get = [field](const Config& c) {
      std::string joined;
      for (const std::string& item : field(c)) joined += (joined.empty() ? "" : ",") + item;
      return SettingValue(joined);
    };
    s.set = [field](Config& c, const SettingValue& v) { field(c) = SplitList(std::get<std::string>(v)); };
    s.fields.push_back(s.get);
    return *this;
  }

  // A host:port setting kept as a host field and a port field.
  template <class HostPath, class PortPath>
  TableBuilder& AddHostPort(const char* section, const char* key, HostPath host, PortPath port,
                            const char* description) {
    using P = FieldType<PortPath>;
    static_assert(std::is_same_v<FieldType<HostPath>, std::string> && std::is_integral_v<P>);
    static_assert(std::numeric_limits<P>::max() >= 65535);
    Setting& s = New(section, key, description, SettingType::kString);
    s.check = CheckHostPort;
    s.get = [host, port](const Config& c) { return SettingValue(FormatHostPort(host(c), port(c))); };
    s.set = [host, port](Config& c, const SettingValue& v) {
      std::string why;
      if (auto parsed = ParseHostPort(std::get<std::string>(v), why)) {
        host(c) = std::move(parsed->host);
        port(c) = static_cast<P>(parsed->port);
      }
    };
    s.fields.push_back(s.get);
    return *this;
  }

  // The last setting is also written into `field`, a module's own copy of
  // the same value. Give Range first: the bounds must fit this field too.
  template <class Path>
  TableBuilder& Also(Path field) {
    using F = FieldType<Path>;
    Setting& s = table_.back();
    Require(TypeOf<F>() == s.type, s, "Also: a field of another type");
    if constexpr (TypeOf<F>() == SettingType::kInt) {
      const auto [lo, hi] = IntLimits<F>();
      Require(s.int_min >= lo && s.int_max <= hi, s, "Also: the bounds do not fit the field (Range first)");
      field_min_ = std::max(field_min_, lo);
      field_max_ = std::min(field_max_, hi);
    }
    s.set = [set = std::move(s.set), field](Config& c, const SettingValue& v) {
      set(c, v);
      field(c) = FromValue<F>(v);
    };
    s.fields.push_back([field](const Config& c) { return ToValue(field(c)); });
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
  Setting& New(const char* section, const char* key, const char* description, SettingType type) {
    Setting& s = table_.emplace_back();
    s.section = section;
    s.key = key;
    s.name = std::string(section) + "." + key;
    s.description = description;
    s.type = type;
    field_min_ = field_max_ = 0;
    return s;
  }

  // A malformed table is a bug found at the first start-up (and by tests).
  static void Require(bool ok, const Setting& s, const char* what) {
    if (!ok) {
      std::cerr << "parley: config table: " << s.name << ": " << what << "\n";
      std::abort();
    }
  }

  std::vector<Setting> table_;
  // What the fields of the last setting can hold, to check its bounds.
  int64_t field_min_ = 0;
  int64_t field_max_ = 0;
};

// Every setting, once, in documentation order. Each maps a user-facing name
// onto the field of a module's Options that holds it; the field's
// initialiser is the default.
std::vector<Setting> BuildSettings() {
  TableBuilder t;
  constexpr int64_t kKiB = 1024;
  constexpr int64_t kMiB = 1024 * kKiB;
  constexpr int64_t kGiB = 1024 * kMiB;
  using GatewayOptions = gateway::Options;
  using ChatOptions = chat::Options;
  using ThrottleOptions = auth::ThrottleOptions;
  const auto in_server = [](auto member) { return Field(&Config::server, member); };
  const auto in_auth = [](auto member) { return Field(&Config::auth, member); };
  const auto in_gateway = [](auto member) { return Field(&Config::gateway, member); };
  const auto in_chat = [](auto member) { return Field(&Config::chat, member); };
  const auto in_throttle = [](auto member) {
    return Field(&Config::chat, &ChatOptions::login_throttle, member);
  };
  const auto in_sqlite = [](auto member) { return Field(&Config::store, &StoreConfig::sqlite, member); };
  const auto in_postgres = [](auto member) { return Field(&Config::store, &StoreConfig::postgres, member); };
  const auto in_kafka = [](auto member) { return Field(&Config::log, &LogConfig::kafka, member); };
  const auto in_redis = [](auto member) { return Field(&Config::presence, &PresenceConfig::redis, member); };

  t.AddHostPort("server", "listen", in_gateway(&GatewayOptions::host), in_gateway(&GatewayOptions::port),
                "Address to listen on, host:port; port 0 picks a free port.");
  t.Add("server", "data_dir", in_server(&ServerConfig::data_dir),
        "Folder for the database, the JWT secret and other state.")
      .Check(CheckNotEmpty);
  t.Add("server", "threads", in_server(&ServerConfig::threads),
        "I/O threads; 0 means one per hardware thread.")
      .Range(0, 1024);
  t.Add("server", "blocking_threads", in_gateway(&GatewayOptions::blocking_threads),
        "Worker threads for blocking work (store calls, password hashing).")
      .Range(1, 1024);
  t.Add("server", "log_level", in_server(&ServerConfig::log_level), "Log verbosity.")
      .OneOf({"trace", "debug", "info", "warn", "error", "off"});
  t.Add("server", "web_root", in_gateway(&GatewayOptions::web_root),
        "Folder served at /; empty serves the built-in page.");
  t.Add("server", "tls_cert_file", in_gateway(&GatewayOptions::tls_cert_file),
        "PEM certificate chain; with tls_key_file the port serves only https:// and wss://.");
  t.Add("server", "tls_key_file", in_gateway(&GatewayOptions::tls_key_file),
        "PEM private key of tls_cert_file.");
  t.Add("server", "port_file", in_server(&ServerConfig::port_file),
        "If set, the bound port is written to this file once listening (useful with port 0).");
  t.Add("server", "node_id", in_gateway(&GatewayOptions::node_id),
        "Node id in message ids; unique per node of a cluster.")
      .Range(1, 1023)
      .Also(Field(&Config::sequencer, &sequencer::Options::node_id))
      .Also(in_redis(&presence::redis::Options::node_id));
  t.Add("server", "shutdown_grace_ms", in_server(&ServerConfig::shutdown_grace_ms),
        "On SIGTERM, how long in-flight work may take before connections are closed.")
      .Range(0, 600'000);

  t.Add("limits", "max_frame_bytes", in_gateway(&GatewayOptions::max_frame_bytes),
        "Largest WebSocket frame accepted; a bigger one closes the connection with 1009.")
      .Range(1 * kKiB, 64 * kMiB);
  t.Add("limits", "max_body_bytes", in_chat(&ChatOptions::max_body_bytes),
        "Largest message body, in bytes of UTF-8.")
      .Range(1, 1 * kMiB);
  t.Add("limits", "max_http_body_bytes", in_gateway(&GatewayOptions::max_http_body_bytes),
        "Largest HTTP request body.")
      .Range(1 * kKiB, 64 * kMiB);
  t.Add("limits", "send_rate_per_s", in_chat(&ChatOptions::send_rate_per_s),
        "Sustained messages per second per user.")
      .RangeD(0.01, 1'000'000)
      .Also(in_gateway(&GatewayOptions::send_rate_per_s));
  t.Add("limits", "send_burst", in_chat(&ChatOptions::send_burst),
        "Messages a user may send at once (token bucket size).")
      .Range(1, 1'000'000);
  t.Add("limits", "abuse_factor", in_gateway(&GatewayOptions::abuse_factor),
        "A connection sending this many times over its rate is closed with 4008.")
      .RangeD(1, 1000);
  t.Add("limits", "max_queue_bytes", in_gateway(&GatewayOptions::max_queue_bytes),
        "Bytes of live events and answers queued per connection (the resume is paced by the reader and not "
        "counted); a slower reader is closed with 4009.")
      .Range(64 * kKiB, 1 * kGiB);
  t.Add("limits", "max_connections", in_gateway(&GatewayOptions::max_connections),
        "Open connections per process.")
      .Range(1, 10'000'000);
  t.Add("limits", "hello_timeout_ms", in_gateway(&GatewayOptions::hello_timeout_ms),
        "Time a new WebSocket has to send hello before it is closed with 4001.")
      .Range(100, 600'000);
  t.Add("limits", "resume_limit", in_chat(&ChatOptions::resume_limit),
        "Most messages replayed per conversation on hello; beyond it the client pages history.")
      .Range(0, 1'000'000);
  t.Add("limits", "presence_group_limit", in_chat(&ChatOptions::presence_group_limit),
        "Groups up to this size share presence among their members.")
      .Range(0, 1'000'000);
  t.Add("limits", "offline_grace_ms", in_chat(&ChatOptions::offline_grace_ms),
        "How long a connection cut without a close frame still counts, so a client back within it "
        "flaps no presence (at most heartbeat_ms is used; 0: none).")
      .Range(0, 600'000);
  t.Add("limits", "heartbeat_ms", in_gateway(&GatewayOptions::heartbeat_ms),
        "Interval of WebSocket pings to idle connections.")
      .Range(1000, 600'000)
      .Also(in_redis(&presence::redis::Options::heartbeat_ms));
  t.Add("limits", "typing_interval_ms", in_chat(&ChatOptions::typing_interval_ms),
        "Least time between two typing notices of a user in a conversation.")
      .Range(100, 60'000);
  t.Add("limits", "max_group_members", in_chat(&ChatOptions::max_group_members),
        "Most members of a group conversation.")
      .Range(2, 1'000'000);
  t.Add("limits", "max_upload_bytes", in_chat(&ChatOptions::max_upload_bytes),
        "Largest upload (POST /v1/uploads); a bigger one is refused with 413 and nothing of it is kept.")
      .Range(1, 4 * kGiB);

  t.Add("auth", "jwt_secret", in_auth(&AuthConfig::jwt_secret),
        "HMAC key for access tokens (at least 32 bytes); empty: generated once and kept in "
        "data_dir/jwt.secret. "
        "Every node of a cluster needs the same one.")
      .Check(CheckSecret)
      .Secret();
  t.Add("auth", "access_ttl_s", in_auth(&AuthConfig::access_ttl_s),
        "Lifetime of an access token, in seconds.")
      .Range(1, 7 * 86400);
  t.Add("auth", "refresh_ttl_s", in_chat(&ChatOptions::refresh_ttl_s),
        "Lifetime of a refresh token, in seconds.")
      .Range(60, 365 * 86400);
  t.Add("auth", "password_strength", in_auth(&AuthConfig::password_strength),
        "Argon2id cost; 'min' is for tests only (fast and weak).")
      .OneOf({"interactive", "moderate", "sensitive", "min"});
  t.Add("auth", "issuer_public_key_file", in_auth(&AuthConfig::issuer_public_key_file),
        "PEM public key (EC P-256 for ES256, or RSA for RS256) of an outside issuer whose access tokens are "
        "accepted too; its users are provisioned on first sight. Empty: only our own tokens.");
  t.Add("auth", "issuer", in_auth(&AuthConfig::issuer),
        "The \"iss\" claim outside tokens must carry; empty: any.");
  t.AddScaled("auth", "login_window_s", in_throttle(&ThrottleOptions::window_ms), 1000,
              "Sliding window, in seconds, over which failed logins are counted per account and per address.")
      .Range(1, 86400);
  t.Add("auth", "login_max_failures_per_account", in_throttle(&ThrottleOptions::max_per_account),
        "Failed logins of one account within the window after which it is refused from every address "
        "(429) until the oldest leaves the window; 0 disables. A success clears the count.")
      .Range(0, 1000);
  t.Add("auth", "login_max_failures_per_address", in_throttle(&ThrottleOptions::max_per_address),
        "Failed logins from one client address (IPv6: per /64) within the window after which it is "
        "refused for every account (429); 0 disables.")
      .Range(0, 1000);
  t.Add("auth", "login_throttle_max_entries", in_throttle(&ThrottleOptions::max_entries),
        "Accounts and addresses the login throttle remembers (each); past it the least recently failed "
        "is forgotten.")
      .Range(100, 10'000'000);
  t.AddList("auth", "trusted_proxies", in_chat(&ChatOptions::trusted_proxies),
            "Comma-separated IP addresses of load balancers whose X-Forwarded-For header names the client "
            "(for the login throttle); empty: the TCP peer is the client.")
      .Check(CheckIpList);
  t.Add("auth", "revocation_cache_ms", in_chat(&ChatOptions::revocation_cache_ms),
        "How long a node believes a user's token epoch and deleted flag before asking the store again: "
        "the longest another node accepts a token revoked elsewhere. 0: ask on every check.")
      .Range(0, 600'000);

  t.AddList("admin", "users", in_chat(&ChatOptions::admin_users),
            "Comma-separated usernames of the server administrators, the only users the /v1/admin calls "
            "answer (PROTOCOL.md §7); empty: nobody.")
      .Check(CheckUsernameList);

  t.AddBackend("store", Field(&Config::store, &StoreConfig::backend), kStoreBackends,
               "Storage backend: sqlite (embedded) or postgres (cluster).");
  t.Add("store", "sqlite_path", in_sqlite(&store::sqlite::Options::path),
        "SQLite database file; empty: data_dir/parley.db.");
  t.AddChoice("store", "synchronous", in_sqlite(&store::sqlite::Options::synchronous_full),
              {{true, "full"}, {false, "normal"}},
              "SQLite synchronous mode: full survives power loss, normal only process crashes.");
  t.Add("store", "commit_batch_max", Field(&Config::sequencer, &sequencer::Options::batch_max),
        "Most messages written in one group commit.")
      .Range(1, 100'000);
  t.Add("store", "postgres_url", in_postgres(&store::postgres::Options::conninfo),
        "PostgreSQL connection string (libpq conninfo or URI), for store.backend = postgres.")
      .Secret();
  t.Add("store", "postgres_pool", in_postgres(&store::postgres::Options::pool),
        "PostgreSQL connections kept open.")
      .Range(1, 256);

  t.AddBackend("log", Field(&Config::log, &LogConfig::backend), kLogBackends,
               "Message log backend: embedded (in-process) or kafka (cluster).");
  t.Add("log", "partitions", Field(&Config::log, &LogConfig::embedded, &log::embedded::Options::partitions),
        "Partitions of the message log (kafka: of the topic when parleyd creates it).")
      .Range(1, 1024)
      .Also(in_kafka(&log::kafka::Options::partitions));
  t.Add("log", "kafka_brokers", in_kafka(&log::kafka::Options::brokers),
        "Kafka bootstrap servers, comma-separated host:port.");
  t.Add("log", "kafka_topic", in_kafka(&log::kafka::Options::topic), "Kafka topic of the message log.");
  t.Add("log", "kafka_group", in_kafka(&log::kafka::Options::group),
        "Kafka consumer group of the sequencers (every node joins it).");
  t.Add(
       "log", "kafka_fetch_wait_max_ms", in_kafka(&log::kafka::Options::fetch_wait_max_ms),
       "How long the broker holds an empty fetch. A real Kafka answers as soon as data arrives; librdkafka's "
       "mock broker does not, so local clusters lower it.")
      .Range(1, 10'000);

  t.AddBackend("presence", Field(&Config::presence, &PresenceConfig::backend), kPresenceBackends,
               "Presence, routing and fan-out backend: embedded (one node) or redis (cluster).");
  t.AddHostPort("presence", "redis_address", in_redis(&presence::redis::Options::host),
                in_redis(&presence::redis::Options::port),
                "Redis server, host:port, for presence.backend = redis.");
  t.Add("presence", "redis_recent_entries", in_redis(&presence::redis::Options::recent_entries),
        "Newest entries of each conversation kept in Redis, written after each commit, so resumes and "
        "recent history pages read them there instead of the store (presence.backend = redis; 0: none).")
      .Range(0, 1000);

  t.AddBackend("uploads", Field(&Config::uploads, &UploadsConfig::backend), kUploadBackends,
               "Where upload bytes live: files (in uploads.dir, one node) or postgres (the store's "
               "PostgreSQL, store.postgres_url: every node serves every upload).");
  t.Add("uploads", "dir", Field(&Config::uploads, &UploadsConfig::dir),
        "Folder of the files backend; empty: data_dir/uploads.");
  t.Add("uploads", "collect_after_s", in_chat(&ChatOptions::upload_collect_after_s),
        "Age, in seconds, at which an upload that no message (not deleted) attaches is removed.")
      .Range(1, 365 * 86400);

  const auto in_webhooks = [](auto member) { return Field(&Config::webhooks, member); };
  t.AddChoice(
      "webhooks", "allow_private_addresses", in_webhooks(&webhooks::Options::allow_private_addresses),
      {{true, "true"}, {false, "false"}},
      "Whether webhooks may target loopback, private, link-local and other non-public addresses "
      "(checked when a webhook is made and again at every delivery). Off unless every user is trusted.");
  t.Add("webhooks", "max_per_conversation", in_chat(&ChatOptions::max_webhooks_per_conversation),
        "Most webhooks one conversation may have.")
      .Range(1, 1000);
  t.Add("webhooks", "workers", in_webhooks(&webhooks::Options::workers),
        "Threads delivering webhooks (shared by all of them; never the chat's threads).")
      .Range(1, 256);
  t.Add("webhooks", "timeout_ms", in_webhooks(&webhooks::Options::timeout_ms),
        "Longest one delivery may take, connect to answer; a receiver slower than this has failed.")
      .Range(100, 300'000);
  t.Add("webhooks", "max_response_bytes", in_webhooks(&webhooks::Options::max_response_bytes),
        "Most bytes of a receiver's answer read; the rest is cut.")
      .Range(0, 16 * 1024 * 1024);
  t.Add("webhooks", "retry_initial_ms", in_webhooks(&webhooks::Options::retry_initial_ms),
        "The first retry after a failed delivery waits between half of this and this; each further one "
        "doubles it.")
      .Range(1, 5'000);
  t.Add("webhooks", "retry_max_ms", in_webhooks(&webhooks::Options::retry_max_ms),
        "Longest wait between two attempts of one delivery.")
      .Range(1'000, 3'600'000);
  t.Add("webhooks", "scan_interval_ms", in_webhooks(&webhooks::Options::scan_interval_ms),
        "How often a node looks for webhooks with entries to deliver besides the nudge of a commit (what "
        "resumes deliveries after a restart, a retry's wait, or another node's death).")
      .Range(10, 60'000);
  t.Add("webhooks", "lease_ms", in_webhooks(&webhooks::Options::lease_ms),
        "How long a node's claim on a webhook lasts unrenewed: after a node dies, another takes its "
        "webhooks over this long (plus webhooks.timeout_ms) after.")
      .Range(1'000, 600'000);
  t.Add("webhooks", "ca_file", in_webhooks(&webhooks::Options::ca_file),
        "PEM file of extra certificate authorities trusted for https webhook targets (the system's are "
        "always trusted).");

  // Web Push (PROTOCOL.md §8): push::Options, held in chat::Options.
  const auto in_push = [](auto member) { return Field(&Config::chat, &ChatOptions::push, member); };
  t.Add("push", "vapid_subject", in_push(&push::Options::vapid_subject),
        "The VAPID subject (RFC 8292) push services may contact: a mailto: or https: URL.")
      .Check(CheckVapidSubject);
  t.AddChoice("push", "allow_private_addresses", in_push(&push::Options::allow_private_addresses),
              {{true, "true"}, {false, "false"}},
              "Accept push endpoints on loopback or private addresses, and over plain http (tests, a push "
              "service inside the network).");
  t.Add("push", "ttl_s", in_push(&push::Options::ttl_s),
        "The TTL header of a push: how long a push service keeps it for an unreachable browser.")
      .Range(0, 28 * 86400);
  t.Add("push", "max_subscriptions_per_user", in_push(&push::Options::max_subscriptions_per_user),
        "Push subscriptions (browsers, devices) one user may hold.")
      .Range(1, 1000);
  t.Add("push", "threads", in_push(&push::Options::threads),
        "Worker threads of the push sender; each does one POST at a time.")
      .Range(1, 64);
  t.Add("push", "timeout_ms", in_push(&push::Options::timeout_ms),
        "The most time one POST to a push service may take, connect to answer.")
      .Range(100, 120'000);
  t.Add("push", "queue_max", in_push(&push::Options::queue_max),
        "Committed entries waiting for the push sender; beyond, pushes are dropped (counted).")
      .Range(1, 10'000'000);
  t.Add("push", "ca_file", in_push(&push::Options::ca_file),
        "Extra trust anchors (PEM) for https push endpoints; empty: the system's.");

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
      // TOML files are UTF-8, so a string that is not could not be printed
      // by --print-config as a file that loads; and nothing downstream
      // (paths in logs, addresses, JSON) expects other bytes. The value is
      // not echoed: its bytes would garble the message.
      if (const size_t at = InvalidUtf8At(str); at != std::string::npos) {
        return s.name + " (from " + source + ") is not valid UTF-8 (byte " + std::to_string(at + 1) +
               " of the value)";
      }
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
  // A choice of true/false (webhooks.allow_private_addresses) also takes a TOML boolean.
  if (s.type == SettingType::kString && v.is_boolean() &&
      std::find(s.allowed.begin(), s.allowed.end(), "true") != s.allowed.end()) {
    return Apply(s, config, std::string(v.as_boolean() ? "true" : "false"), source);
  }
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
  if (const size_t at = InvalidUtf8At(text); at != std::string::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
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

// ---------------------------------------------------------------- names

std::string_view Name(StoreBackend backend) {
  switch (backend) {
    case StoreBackend::kSqlite:
      return "sqlite";
    case StoreBackend::kPostgres:
      return "postgres";
  }
  return "?";
}

std::string_view Name(UploadBackend backend) {
  switch (backend) {
    case UploadBackend::kFiles:
      return "files";
    case UploadBackend::kPostgres:
      return "postgres";
  }
  return "?";
}

std::string_view Name(LogBackend backend) {
  switch (backend) {
    case LogBackend::kEmbedded:
      return "embedded";
    case LogBackend::kKafka:
      return "kafka";
  }
  return "?";
}

std::string_view Name(PresenceBackend backend) {
  switch (backend) {
    case PresenceBackend::kEmbedded:
      return "embedded";
    case PresenceBackend::kRedis:
      return "redis";
  }
  return "?";
}

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
  app.set_version_flag("--version", "parleyd " PARLEY_VERSION " (commit " PARLEY_COMMIT ")");
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
