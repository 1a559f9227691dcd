#include "common/ids.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace parley {

TEST(Ids, ParseAcceptsOnlyPositiveDecimal) {
  EXPECT_EQ(UserId::Parse("42")->value, 42);
  EXPECT_EQ(UserId::Parse("9223372036854775807")->value, INT64_MAX);
  for (const char* bad : {"", "0", "-1", "+1", "1a", " 1", "99999999999999999999", "abc"}) {
    EXPECT_FALSE(UserId::Parse(bad).has_value()) << bad;
  }
}

TEST(Errors, NamesAndStatusesMatchTheProtocol) {
  EXPECT_EQ(ErrcName(Errc::kRateLimited), "rate_limited");
  EXPECT_EQ(HttpStatus(Errc::kRateLimited), 429);
  EXPECT_EQ(HttpStatus(Errc::kTooLarge), 413);
  std::error_code ec = Errc::kNotFound;
  EXPECT_EQ(ec.message(), "not_found");
}

}  // namespace parley
