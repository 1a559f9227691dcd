#include "uploads/url_signer.h"

#include <gtest/gtest.h>

#include <string>

namespace parley::uploads {
namespace {

struct Parts {
  std::string exp;
  std::string sig;
};

// The exp and sig of a url made by Url().
Parts Split(const std::string& url) {
  const size_t e = url.find("?exp=");
  const size_t s = url.find("&sig=");
  return {url.substr(e + 5, s - e - 5), url.substr(s + 5)};
}

constexpr TimeMs kNow = 1'700'000'000'000;

TEST(UrlSigner, UrlIsAPathThatChecksUntilItExpires) {
  UrlSigner signer(std::string(40, 's'));
  const TimeMs expires = UrlSigner::ExpiryFor(kNow);
  EXPECT_GE(expires - kNow, UrlSigner::kMinValidityMs);
  EXPECT_LE(expires - kNow, UrlSigner::kMinValidityMs + 3600 * 1000);
  const std::string url = signer.Url(UploadId(42), expires);
  EXPECT_EQ(url.rfind("/v1/uploads/42?exp=", 0), 0u) << url;
  Parts p = Split(url);
  EXPECT_TRUE(signer.Check(UploadId(42), p.exp, p.sig, kNow).ok());
  EXPECT_TRUE(signer.Check(UploadId(42), p.exp, p.sig, expires - 1).ok());
  EXPECT_EQ(signer.Check(UploadId(42), p.exp, p.sig, expires).error().code, Errc::kForbidden);
}

TEST(UrlSigner, UrlsOfOneHourAreTheSame) {
  EXPECT_EQ(UrlSigner::ExpiryFor(kNow), UrlSigner::ExpiryFor(kNow + 1));
}

TEST(UrlSigner, TamperedUrlsAreForbidden) {
  UrlSigner signer(std::string(40, 's'));
  const TimeMs expires = UrlSigner::ExpiryFor(kNow);
  Parts p = Split(signer.Url(UploadId(42), expires));
  // Another upload, a later expiry, a changed signature, garbage, nothing.
  EXPECT_EQ(signer.Check(UploadId(43), p.exp, p.sig, kNow).error().code, Errc::kForbidden);
  EXPECT_EQ(signer.Check(UploadId(42), std::to_string(expires + 3600 * 1000), p.sig, kNow).error().code,
            Errc::kForbidden);
  std::string flipped = p.sig;
  flipped[0] = flipped[0] == '0' ? '1' : '0';
  EXPECT_EQ(signer.Check(UploadId(42), p.exp, flipped, kNow).error().code, Errc::kForbidden);
  EXPECT_EQ(signer.Check(UploadId(42), "x", p.sig, kNow).error().code, Errc::kForbidden);
  EXPECT_EQ(signer.Check(UploadId(42), "", "", kNow).error().code, Errc::kForbidden);
  // Another server's secret signs other urls.
  UrlSigner other(std::string(40, 't'));
  EXPECT_EQ(other.Check(UploadId(42), p.exp, p.sig, kNow).error().code, Errc::kForbidden);
}

}  // namespace
}  // namespace parley::uploads
