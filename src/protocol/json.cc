#include "protocol/json.h"

#include <charconv>

#include <boost/json.hpp>

namespace parley::protocol {
namespace json = boost::json;

namespace {

Error Bad(std::string message) { return MakeError(Errc::kBadRequest, std::move(message)); }

std::string Quoted(std::string_view key) { return "'" + std::string(key) + "'"; }

Error Missing(std::string_view key) { return Bad("missing field " + Quoted(key)); }

Error Mistyped(std::string_view key, std::string_view expected) {
  return Bad("field " + Quoted(key) + " must be " + std::string(expected));
}

template <class IdT>
constexpr std::string_view IdNoun();
template <>
constexpr std::string_view IdNoun<UserId>() {
  return "a user id (a string of digits)";
}
template <>
constexpr std::string_view IdNoun<ConversationId>() {
  return "a conversation id (a string of digits)";
}
template <>
constexpr std::string_view IdNoun<MessageId>() {
  return "a message id (a string of digits)";
}
template <>
constexpr std::string_view IdNoun<UploadId>() {
  return "an upload id (a string of digits)";
}

}  // namespace

Result<json::object> ParseJsonObject(std::string_view text, std::string_view what) {
  json::parse_options opts;
  opts.max_depth = 16;
  std::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return Bad(std::string(what) + " is not valid JSON: " + ec.message());
  if (!v.is_object()) return Bad(std::string(what) + " must be a JSON object");
  return std::move(v.as_object());
}

Result<std::string> RequireString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return Missing(key);
  if (!v->is_string()) return Mistyped(key, "a string");
  return std::string(v->get_string());
}

Result<std::string> OptionalString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) return Mistyped(key, "a string");
  return std::string(v->get_string());
}

Result<std::optional<std::string>> NullableString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return Mistyped(key, "a string or null");
  return std::optional<std::string>(std::string(v->get_string()));
}

std::optional<int64_t> AsInt(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    double d = v.get_double();
    if (d >= -9.0e15 && d <= 9.0e15 && static_cast<double>(static_cast<int64_t>(d)) == d) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

Result<int64_t> RequireInt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return Missing(key);
  auto i = AsInt(*v);
  if (!i) return Mistyped(key, "an integer");
  return *i;
}

Result<std::optional<int64_t>> NullableInt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return Missing(key);
  if (v->is_null()) return std::optional<int64_t>();
  auto i = AsInt(*v);
  if (!i) return Mistyped(key, "an integer or null");
  return std::optional<int64_t>(*i);
}

Result<std::optional<int64_t>> OptionalNonNegative(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<int64_t>();
  auto i = AsInt(*v);
  if (!i || *i < 0) return Mistyped(key, "a non-negative integer");
  return std::optional<int64_t>(*i);
}

Result<bool> RequireBool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return Missing(key);
  if (!v->is_bool()) return Mistyped(key, "true or false");
  return v->get_bool();
}

Result<std::vector<std::string>> StringList(const json::object& o, std::string_view key,
                                            std::string_view what) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return out;
  const std::string expected = "an array of " + std::string(what);
  if (!v->is_array()) return Mistyped(key, expected);
  out.reserve(v->get_array().size());
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) return Mistyped(key, expected);
    out.emplace_back(item.get_string());
  }
  return out;
}

Result<const json::object*> RequireObject(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return Missing(key);
  if (!v->is_object()) return Mistyped(key, "an object");
  return &v->get_object();
}

Result<const json::array*> RequireArray(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return Missing(key);
  if (!v->is_array()) return Mistyped(key, "an array");
  return &v->get_array();
}

template <class IdT>
std::optional<IdT> AsId(const json::value& v) {
  if (v.is_string()) return IdT::Parse(v.get_string());
  if (auto i = AsInt(v); i && *i > 0) return IdT(*i);
  return std::nullopt;
}

template <class IdT>
Result<IdT> RequireId(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return Missing(key);
  auto id = AsId<IdT>(*v);
  if (!id) return Mistyped(key, IdNoun<IdT>());
  return *id;
}

template std::optional<UserId> AsId<UserId>(const json::value&);
template std::optional<ConversationId> AsId<ConversationId>(const json::value&);
template std::optional<MessageId> AsId<MessageId>(const json::value&);
template Result<UserId> RequireId<UserId>(const json::object&, std::string_view);
template Result<ConversationId> RequireId<ConversationId>(const json::object&, std::string_view);
template Result<MessageId> RequireId<MessageId>(const json::object&, std::string_view);
template Result<UploadId> RequireId<UploadId>(const json::object&, std::string_view);

Error WithContext(std::string_view context, Error inner) {
  inner.message = std::string(context) + ": " + inner.message;
  return inner;
}

json::value ParseJson(std::string_view text) {
  std::error_code ec;
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
  const json::value* v = obj.if_contains(key);
  if (!v || !v->is_string()) return std::string(fallback);
  return std::string(v->get_string());
}

std::string GetString(const json::value& v, std::string_view key, std::string_view fallback) {
  if (!v.is_object()) return std::string(fallback);
  return GetString(v.get_object(), key, fallback);
}

std::optional<int64_t> GetInt(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (!v) return std::nullopt;
  return AsInt(*v);
}

std::optional<int64_t> GetInt(const json::value& v, std::string_view key) {
  if (!v.is_object()) return std::nullopt;
  return GetInt(v.get_object(), key);
}

bool FieldIs(const json::object& obj, std::string_view key, std::string_view expected) {
  const json::value* v = obj.if_contains(key);
  return v && v->is_string() && v->get_string() == expected;
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    out->push_back('\\');
    switch (c) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '\b':
        out->push_back('b');
        break;
      case '\f':
        out->push_back('f');
        break;
      case '\n':
        out->push_back('n');
        break;
      case '\r':
        out->push_back('r');
        break;
      case '\t':
        out->push_back('t');
        break;
      default:
        out->append("u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

void AppendJsonInt(int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

}  // namespace parley::protocol
