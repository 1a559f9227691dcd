#include "common/close_code.h"

#include <array>

namespace parley {
namespace {

struct CloseRow {
  CloseCode code;
  std::string_view meaning;
};

constexpr std::array<CloseRow, 9> kCloseTable{{
    {kCloseNormal, "closed normally"},
    {kCloseGoingAway, "server going away"},
    {kCloseNotJson, "three frames in a row were not JSON"},
    {kCloseTooBig, "frame too big"},
    {kCloseInternal, "server error (a backend failed)"},
    {kCloseNoHello, "no hello in time, or a first frame that is not hello"},
    {kCloseBadToken, "bad, expired or revoked token"},
    {kCloseRateLimited, "rate limited beyond tolerance"},
    {kCloseSlowReader, "too slow a reader"},
}};

}  // namespace

std::string_view CloseCodeMeaning(int code) noexcept {
  for (const CloseRow& row : kCloseTable) {
    if (row.code == code) return row.meaning;
  }
  return {};
}

}  // namespace parley
