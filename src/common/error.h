#pragma once
// Parley's error vocabulary: one code per answer class of PROTOCOL.md, each
// with its wire name and HTTP status, written once in error.cc's table and
// read both ways (code -> name/status for the server, name/status -> code
// for clients). Errors are values on the hot path.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace parley {

enum class Errc {
  kOk = 0,
  kBadRequest,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kConflict,
  kTooLarge,
  kRateLimited,
  kUnavailable,
  kInternal,
};

const std::error_category& ParleyCategory() noexcept;
std::error_code make_error_code(Errc e) noexcept;

// Wire name ("bad_request", ...) and HTTP status (400, ...) of a code.
std::string_view ErrcName(Errc e) noexcept;
int HttpStatus(Errc e) noexcept;

// The code of a wire name ("not_found" -> kNotFound); nullopt for a name
// the table does not hold (a newer server's code, or garbage).
std::optional<Errc> ErrcFromName(std::string_view name) noexcept;
// The code whose HTTP status is `status` (404 -> kNotFound; 200 -> kOk);
// nullopt for a status no code answers with (502 from a proxy, 405, ...).
std::optional<Errc> ErrcFromHttpStatus(int status) noexcept;

// An error fit to send to a client: a code, a human message, and for
// kRateLimited how long to wait. `retryable()` tells callers (the sequencer,
// clients) whether trying again later may succeed.
struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  int64_t retry_after_ms = 0;

  bool retryable() const noexcept { return code == Errc::kUnavailable || code == Errc::kRateLimited; }
};

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message), 0}; }

}  // namespace parley

template <>
struct std::is_error_code_enum<parley::Errc> : std::true_type {};
