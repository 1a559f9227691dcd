#include "common/error.h"

namespace parley {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley"; }
  std::string message(int ev) const override { return std::string(ErrcName(static_cast<Errc>(ev))); }
};

}  // namespace

const std::error_category& ParleyCategory() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), ParleyCategory()}; }

std::string_view ErrcName(Errc e) noexcept {
  switch (e) {
    case Errc::kOk:
      return "ok";
    case Errc::kBadRequest:
      return "bad_request";
    case Errc::kUnauthorized:
      return "unauthorized";
    case Errc::kForbidden:
      return "forbidden";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kConflict:
      return "conflict";
    case Errc::kTooLarge:
      return "too_large";
    case Errc::kRateLimited:
      return "rate_limited";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kInternal:
      return "internal";
  }
  return "internal";
}

int HttpStatus(Errc e) noexcept {
  switch (e) {
    case Errc::kOk:
      return 200;
    case Errc::kBadRequest:
      return 400;
    case Errc::kUnauthorized:
      return 401;
    case Errc::kForbidden:
      return 403;
    case Errc::kNotFound:
      return 404;
    case Errc::kConflict:
      return 409;
    case Errc::kTooLarge:
      return 413;
    case Errc::kRateLimited:
      return 429;
    case Errc::kUnavailable:
      return 503;
    case Errc::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace parley
