#include "common/error.h"

#include <gtest/gtest.h>

#include "common/close_code.h"

namespace parley {
namespace {

constexpr Errc kAll[] = {Errc::kOk,          Errc::kBadRequest, Errc::kUnauthorized, Errc::kForbidden,
                         Errc::kNotFound,    Errc::kConflict,   Errc::kTooLarge,     Errc::kRateLimited,
                         Errc::kUnavailable, Errc::kInternal};

TEST(ErrcTable, NamesAndStatusesOfPROTOCOL) {
  EXPECT_EQ(ErrcName(Errc::kBadRequest), "bad_request");
  EXPECT_EQ(HttpStatus(Errc::kBadRequest), 400);
  EXPECT_EQ(ErrcName(Errc::kRateLimited), "rate_limited");
  EXPECT_EQ(HttpStatus(Errc::kRateLimited), 429);
  EXPECT_EQ(ErrcName(Errc::kTooLarge), "too_large");
  EXPECT_EQ(HttpStatus(Errc::kTooLarge), 413);
  EXPECT_EQ(HttpStatus(Errc::kUnavailable), 503);
  EXPECT_EQ(HttpStatus(Errc::kInternal), 500);
}

TEST(ErrcTable, ReadsBothWays) {
  for (Errc e : kAll) {
    EXPECT_EQ(ErrcFromName(ErrcName(e)), e) << ErrcName(e);
    EXPECT_EQ(ErrcFromHttpStatus(HttpStatus(e)), e) << HttpStatus(e);
    EXPECT_EQ(make_error_code(e).message(), ErrcName(e));
  }
  EXPECT_EQ(ErrcFromName("teapot"), std::nullopt);
  EXPECT_EQ(ErrcFromName(""), std::nullopt);
  EXPECT_EQ(ErrcFromHttpStatus(502), std::nullopt);
  EXPECT_EQ(ErrcFromHttpStatus(0), std::nullopt);
}

TEST(CloseCodes, ValuesAndMeanings) {
  EXPECT_EQ(kCloseNoHello, 4001);
  EXPECT_EQ(kCloseBadToken, 4003);
  EXPECT_EQ(kCloseRateLimited, 4008);
  EXPECT_EQ(kCloseSlowReader, 4009);
  EXPECT_EQ(kCloseNotJson, 1008);
  EXPECT_EQ(kCloseTooBig, 1009);
  EXPECT_EQ(kCloseGoingAway, 1001);
  EXPECT_EQ(kCloseInternal, 1011);
  EXPECT_EQ(CloseCodeMeaning(4009), "too slow a reader");
  EXPECT_EQ(CloseCodeMeaning(1001), "server going away");
  for (int code : {1000, 1001, 1008, 1009, 1011, 4001, 4003, 4008, 4009}) {
    EXPECT_FALSE(CloseCodeMeaning(code).empty()) << code;
  }
  EXPECT_EQ(CloseCodeMeaning(1002), "");
  EXPECT_EQ(CloseCodeMeaning(4000), "");
}

}  // namespace
}  // namespace parley
