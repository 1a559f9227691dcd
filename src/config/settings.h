#pragma once
// The table of every setting (config.cc). Internal to parley::config: Load,
// ToToml, the flag and environment names and the tests all derive from it,
// so a setting is declared in exactly one place.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"

namespace parley::config {

enum class SettingType { kString, kInt, kDouble };

// A typed setting value, before it is stored into its Config field.
using SettingValue = std::variant<std::string, int64_t, double>;

// One setting: its names, documentation, bounds, and how to read and write
// its fields of Config. Built once at start-up; immutable afterwards, so any
// thread may read it.
struct Setting {
  std::string section;  // "limits"
  std::string key;      // "max_frame_bytes"
  std::string name;     // "limits.max_frame_bytes"
  std::string description;
  SettingType type = SettingType::kString;
  int64_t int_min = 0;  // kInt bounds, inclusive
  int64_t int_max = 0;
  double double_min = 0;  // kDouble bounds, inclusive
  double double_max = 0;
  std::vector<std::string> allowed;  // kString: allowed values; empty = any
  // Extra check for a string value (e.g. host:port); returns "" when fine,
  // otherwise what the value must look like.
  std::function<std::string(const std::string&)> check;
  // Reads the setting's value from its field (whose initialiser is the
  // default: get(Config{})), and writes it into every field it sets.
  std::function<SettingValue(const Config&)> get;
  std::function<void(Config&, const SettingValue&)> set;
  // Reads each field that `set` writes, as the setting's value (get reads
  // the first). More than one when modules keep their own copy of a value
  // (server.node_id, ...); tests check that their defaults agree.
  std::vector<std::function<SettingValue(const Config&)>> fields;
  bool secret = false;  // masked in ToToml

  // Environment names, the canonical one first (PARLEY_LIMITS_MAX_FRAME_BYTES;
  // server keys also PARLEY_LISTEN).
  std::vector<std::string> EnvNames() const;
  // Flags, the canonical one first (--limits.max_frame_bytes; server keys
  // also --listen, --data-dir).
  std::vector<std::string> Flags() const;
  // The bounds or the allowed values, for messages and docs ("" if none).
  std::string BoundsText() const;
};

// Every setting, in declaration (and documentation) order.
const std::vector<Setting>& Settings();

// A value printed as TOML (strings quoted and escaped, doubles with a point).
std::string FormatToml(const SettingValue& value);

}  // namespace parley::config
