#pragma once
// Internal to auth: the shared first steps of verifying any JWT (ours or an
// outside issuer's): split into three parts, decode a JSON segment, read a
// seconds claim. Hostile input never throws out of these.
#include <cstdint>
#include <string_view>

#include <boost/json/object.hpp>

#include "common/result.h"

namespace parley::auth::jwt {

// Tokens longer than this are rejected before any decoding or parsing.
inline constexpr size_t kMaxTokenBytes = 4096;

struct Parts {
  std::string_view header_b64;
  std::string_view payload_b64;
  std::string_view signature_b64;
  std::string_view signed_part;  // header_b64 "." payload_b64
};

// kUnauthorized ("missing token", "token too long", "malformed token: ...").
Result<Parts> Split(std::string_view token);
// A base64url segment holding a JSON object.
bool DecodeJsonObject(std::string_view segment, boost::json::object& out);
// An integer claim in seconds, within the range where *1000 cannot overflow.
bool GetSeconds(const boost::json::object& obj, std::string_view key, int64_t& out);
// The header's "alg", or empty when missing or not a string.
std::string_view Algorithm(const boost::json::object& header);

}  // namespace parley::auth::jwt
