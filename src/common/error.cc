#include "common/error.h"

#include <array>

namespace parley {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley"; }
  std::string message(int ev) const override { return std::string(ErrcName(static_cast<Errc>(ev))); }
};

struct ErrcRow {
  Errc code;
  std::string_view name;
  int http_status;
};

// The one table of codes: PROTOCOL.md section 1's names and statuses. Row i
// holds Errc(i), so a code indexes its row.
constexpr std::array<ErrcRow, 10> kErrcTable{{
    {Errc::kOk, "ok", 200},
    {Errc::kBadRequest, "bad_request", 400},
    {Errc::kUnauthorized, "unauthorized", 401},
    {Errc::kForbidden, "forbidden", 403},
    {Errc::kNotFound, "not_found", 404},
    {Errc::kConflict, "conflict", 409},
    {Errc::kTooLarge, "too_large", 413},
    {Errc::kRateLimited, "rate_limited", 429},
    {Errc::kUnavailable, "unavailable", 503},
    {Errc::kInternal, "internal", 500},
}};

constexpr bool RowsInCodeOrder() {
  for (size_t i = 0; i < kErrcTable.size(); ++i) {
    if (static_cast<size_t>(kErrcTable[i].code) != i) return false;
  }
  return true;
}
static_assert(RowsInCodeOrder(), "kErrcTable: row i must hold Errc(i)");

const ErrcRow& RowOf(Errc e) noexcept {
  auto i = static_cast<size_t>(e);
  return i < kErrcTable.size() ? kErrcTable[i] : kErrcTable[static_cast<size_t>(Errc::kInternal)];
}

}  // namespace

const std::error_category& ParleyCategory() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), ParleyCategory()}; }

std::string_view ErrcName(Errc e) noexcept { return RowOf(e).name; }

int HttpStatus(Errc e) noexcept { return RowOf(e).http_status; }

std::optional<Errc> ErrcFromName(std::string_view name) noexcept {
  for (const ErrcRow& row : kErrcTable) {
    if (row.name == name) return row.code;
  }
  return std::nullopt;
}

std::optional<Errc> ErrcFromHttpStatus(int status) noexcept {
  for (const ErrcRow& row : kErrcTable) {
    if (row.http_status == status) return row.code;
  }
  return std::nullopt;
}

}  // namespace parley
