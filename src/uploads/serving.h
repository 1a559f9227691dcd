#pragma once
// How uploads are named, typed and served (PROTOCOL.md §6), as pure
// functions: no I/O, so each rule is unit-tested on its own
// (serving_test.cc). What matters is that nothing uploaded can run in
// Parley's origin: only images (not SVG), audio and video keep their type;
// everything else is a download, and every answer carries nosniff.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley::uploads {

// An upload's name: 1 to this many bytes of UTF-8.
inline constexpr size_t kMaxNameBytes = 255;

// The name as stored: valid UTF-8 of 1..kMaxNameBytes bytes, else
// kBadRequest. Path separators and control characters are kept (the name
// is the user's; ContentDisposition makes it safe to serve), except NUL,
// which no store can hold in text and which becomes U+FFFD.
Result<std::string> StoredName(std::string_view name);

// The media type as stored, from a request's Content-Type header:
// "type/subtype" lowercased, parameters dropped; a missing or malformed
// header is application/octet-stream.
std::string StoredContentType(std::string_view header);

// What a GET answers with for a stored media type.
struct ServedType {
  std::string content_type;
  bool attachment = true;  // Content-Disposition: attachment (a download)
};
ServedType ServeAs(std::string_view stored_type);

// A Content-Disposition header (RFC 6266) for `name`: `filename` is an
// ASCII fallback, `filename*` (RFC 5987) the UTF-8 name percent-encoded.
// Path separators and control characters become '_' in both, and quotes
// and backslashes in the fallback, so no name can escape the header or
// name a path.
std::string ContentDisposition(bool attachment, std::string_view name);

// A Range header (RFC 9110 §14) against a body of `size` bytes.
struct RangeRequest {
  enum class Kind { kWhole, kPartial, kUnsatisfiable };
  Kind kind = Kind::kWhole;
  int64_t first = 0;  // kPartial: the first and last byte, inclusive
  int64_t last = 0;
};
// kWhole for an absent, malformed or multi-range header (which a server may
// ignore); kUnsatisfiable when the range starts past the end (416).
RangeRequest ParseRange(std::string_view header, int64_t size);

}  // namespace parley::uploads
