#pragma once
// The one set of JSON helpers of the project: reading fields of
// boost::json values, strictly (a Result whose error names the field, for
// both halves of the wire format) or forgivingly (a fallback, for the CLI's
// output and for tests), and writing JSON text without a DOM (for request
// frames built on a load generator's hot path). Pure: no I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/ids.h"
#include "common/result.h"

namespace parley::protocol {

// ---- parsing text -------------------------------------------------------------
// Parses `text` (at most 16 levels deep) into an object. The error (a
// kBadRequest) starts with `what`: "body is not valid JSON: ...", "body must
// be a JSON object".
Result<boost::json::object> ParseJsonObject(std::string_view text, std::string_view what);

// ---- strict readers: a kBadRequest naming the field when it is missing or mistyped ----
Result<std::string> RequireString(const boost::json::object& o, std::string_view key);
// "" when absent or null; an error when present with another type.
Result<std::string> OptionalString(const boost::json::object& o, std::string_view key);
// nullopt when absent or null.
Result<std::optional<std::string>> NullableString(const boost::json::object& o, std::string_view key);
Result<int64_t> RequireInt(const boost::json::object& o, std::string_view key);
// Present, and an integer or null (nullopt).
Result<std::optional<int64_t>> NullableInt(const boost::json::object& o, std::string_view key);
// nullopt when absent or null; an error unless a non-negative integer.
Result<std::optional<int64_t>> OptionalNonNegative(const boost::json::object& o, std::string_view key);
Result<bool> RequireBool(const boost::json::object& o, std::string_view key);
// The strings of the array at `key`; empty when absent or null. The error
// reads "field 'members' must be an array of <what>".
Result<std::vector<std::string>> StringList(const boost::json::object& o, std::string_view key,
                                            std::string_view what);
Result<const boost::json::object*> RequireObject(const boost::json::object& o, std::string_view key);
Result<const boost::json::array*> RequireArray(const boost::json::object& o, std::string_view key);

// An integer view of `v`: int64, a uint64 that fits, or an integral double
// within +-9e15 (what a JavaScript number holds exactly).
std::optional<int64_t> AsInt(const boost::json::value& v);

// A wire id: a string of decimal digits; a positive integer is accepted too
// (PROTOCOL.md sends strings, lenient readers take numbers).
template <class IdT>
std::optional<IdT> AsId(const boost::json::value& v);
extern template std::optional<UserId> AsId<UserId>(const boost::json::value&);
extern template std::optional<ConversationId> AsId<ConversationId>(const boost::json::value&);
extern template std::optional<MessageId> AsId<MessageId>(const boost::json::value&);

// The id at `key`; the error names the field and says what was expected.
template <class IdT>
Result<IdT> RequireId(const boost::json::object& o, std::string_view key);
extern template Result<UserId> RequireId<UserId>(const boost::json::object&, std::string_view);
extern template Result<ConversationId> RequireId<ConversationId>(const boost::json::object&,
                                                                 std::string_view);
extern template Result<MessageId> RequireId<MessageId>(const boost::json::object&, std::string_view);
extern template Result<UploadId> RequireId<UploadId>(const boost::json::object&, std::string_view);

// A kBadRequest error whose message is `context + ": " + inner.message`, so
// a nested field reads "welcome: user: missing field 'id'".
Error WithContext(std::string_view context, Error inner);

// ---- forgiving readers: never throw, a missing or mistyped field gives the fallback ----
// Parses `text`; a null value when it is not valid JSON.
boost::json::value ParseJson(std::string_view text);
// Parses `text`; nullopt when it is not a JSON object.
std::optional<boost::json::object> ParseObject(std::string_view text);
// The string at `key`, or `fallback` when absent or not a string.
std::string GetString(const boost::json::object& obj, std::string_view key, std::string_view fallback = "");
std::string GetString(const boost::json::value& v, std::string_view key, std::string_view fallback = "");
// The integer at `key` (see AsInt), else nullopt.
std::optional<int64_t> GetInt(const boost::json::object& obj, std::string_view key);
std::optional<int64_t> GetInt(const boost::json::value& v, std::string_view key);
// True when `obj[key]` is a string equal to `expected`.
bool FieldIs(const boost::json::object& obj, std::string_view key, std::string_view expected);

// ---- writing without a DOM ----------------------------------------------------
// Appends `s` as a JSON string, quotes included, escaped as Boost.JSON's
// serializer escapes (\" \\ \b \f \n \r \t, other controls as \u00XX).
void AppendJsonString(std::string_view s, std::string* out);
void AppendJsonInt(int64_t v, std::string* out);

}  // namespace parley::protocol
