#include "auth/jwt_parts.h"

#include <limits>
#include <string>

#include <boost/json/parse.hpp>

#include "auth/base64url.h"

namespace parley::auth::jwt {
namespace json = boost::json;

Result<Parts> Split(std::string_view token) {
  if (token.empty()) return MakeError(Errc::kUnauthorized, "missing token");
  if (token.size() > kMaxTokenBytes) return MakeError(Errc::kUnauthorized, "token too long");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return MakeError(Errc::kUnauthorized, "malformed token: expected 3 parts");
  }
  return Parts{token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1), token.substr(dot2 + 1),
               token.substr(0, dot2)};
}

bool DecodeJsonObject(std::string_view segment, json::object& out) {
  std::string raw;
  if (!Base64UrlDecode(segment, raw)) return false;
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  json::value v = json::parse(raw, ec, {}, opts);
  if (ec || !v.is_object()) return false;
  out = std::move(v.as_object());
  return true;
}

bool GetSeconds(const json::object& obj, std::string_view key, int64_t& out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) return false;
  int64_t s = 0;
  if (v->is_int64()) {
    s = v->get_int64();
  } else if (v->is_uint64()) {
    if (v->get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    s = static_cast<int64_t>(v->get_uint64());
  } else {
    return false;
  }
  if (s < 0 || s > std::numeric_limits<int64_t>::max() / 1000) return false;
  out = s;
  return true;
}

std::string_view Algorithm(const json::object& header) {
  const json::value* alg = header.if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return {};
  return alg->get_string();
}

}  // namespace parley::auth::jwt
