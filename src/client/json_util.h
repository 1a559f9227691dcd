#pragma once
// Small, forgiving accessors over boost::json values, shared by the client,
// the CLI and the tests. None of them throws: a missing or mistyped field
// yields the fallback.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace parley::client {

// Parses `text`; a null value when it is not valid JSON.
boost::json::value ParseJson(std::string_view text);

// Parses `text`; nullopt when it is not a JSON object.
std::optional<boost::json::object> ParseObject(std::string_view text);

// The string at `key`, or `fallback` when absent or not a string.
std::string GetString(const boost::json::object& obj, std::string_view key, std::string_view fallback = "");
std::string GetString(const boost::json::value& v, std::string_view key, std::string_view fallback = "");

// The integer at `key` (int64, uint64 or an integral double), else nullopt.
std::optional<int64_t> GetInt(const boost::json::object& obj, std::string_view key);
std::optional<int64_t> GetInt(const boost::json::value& v, std::string_view key);

// An integer view of `v` itself (int64, uint64 or an integral double).
std::optional<int64_t> AsInt(const boost::json::value& v);

// True when `obj[key]` is a string equal to `expected`.
bool FieldIs(const boost::json::object& obj, std::string_view key, std::string_view expected);

}  // namespace parley::client
