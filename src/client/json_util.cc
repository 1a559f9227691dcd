#include "client/json_util.h"

#include <cmath>

#include <boost/json/parse.hpp>

namespace parley::client {

namespace json = boost::json;

json::value ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return nullptr;
  return v;
}

std::optional<json::object> ParseObject(std::string_view text) {
  json::value v = ParseJson(text);
  if (!v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string GetString(const json::object& obj, std::string_view key, std::string_view fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->value().is_string()) return std::string(fallback);
  return std::string(it->value().as_string());
}

std::string GetString(const json::value& v, std::string_view key, std::string_view fallback) {
  if (!v.is_object()) return std::string(fallback);
  return GetString(v.as_object(), key, fallback);
}

std::optional<int64_t> AsInt(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.as_uint64());
  }
  if (v.is_double()) {
    double d = v.as_double();
    if (std::isfinite(d) && std::floor(d) == d) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::optional<int64_t> GetInt(const json::object& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  return AsInt(it->value());
}

std::optional<int64_t> GetInt(const json::value& v, std::string_view key) {
  if (!v.is_object()) return std::nullopt;
  return GetInt(v.as_object(), key);
}

bool FieldIs(const json::object& obj, std::string_view key, std::string_view expected) {
  auto it = obj.find(key);
  return it != obj.end() && it->value().is_string() && it->value().as_string() == expected;
}

}  // namespace parley::client
