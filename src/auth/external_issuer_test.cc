#include "auth/external_issuer.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "auth/auth.h"
#include "auth/token_signer.h"

namespace parley::auth {
namespace {

class ExternalIssuerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = std::move(TokenSigner::Generate()).value();
    key_file_ = WriteTemp("pub.pem", signer_->PublicKeyPem());
    verifier_ = std::move(ExternalVerifier::FromPemFile(key_file_, "idp", clock_)).value();
  }
  std::string WriteTemp(const std::string& name, const std::string& text) {
    auto path =
        std::filesystem::temp_directory_path() / ("parley-ext-" + std::to_string(::getpid()) + "-" + name);
    std::ofstream(path) << text;
    files_.push_back(path);
    return path.string();
  }
  void TearDown() override {
    for (auto& f : files_) std::filesystem::remove(f);
  }

  ManualClock clock_;
  std::unique_ptr<TokenSigner> signer_;
  std::unique_ptr<ExternalVerifier> verifier_;
  std::string key_file_;
  std::vector<std::filesystem::path> files_;
};

TEST_F(ExternalIssuerTest, AcceptsASignedTokenAndFoldsTheUsername) {
  std::string token = signer_->Sign("idp", "u-17", "Bench_User.1", clock_.NowMs(), 600);
  EXPECT_TRUE(verifier_->Claims(token));
  auto c = verifier_->Verify(token);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->subject, "u-17");
  EXPECT_EQ(c->username, "bench_user.1");
  EXPECT_EQ(c->issuer, "idp");
}

TEST_F(ExternalIssuerTest, RefusesExpiredWrongIssuerTamperedAndForeignKey) {
  auto expect_refused = [&](const std::string& token, const char* why) {
    auto c = verifier_->Verify(token);
    ASSERT_FALSE(c) << why;
    EXPECT_EQ(c.error().code, Errc::kUnauthorized) << why;
  };
  expect_refused(signer_->Sign("idp", "s", "alice", clock_.NowMs() - 700'000, 600), "expired");
  expect_refused(signer_->Sign("other", "s", "alice", clock_.NowMs(), 600), "wrong issuer");
  expect_refused(signer_->Sign("idp", "s", "no spaces allowed", clock_.NowMs(), 600), "bad username");
  std::string token = signer_->Sign("idp", "s", "alice", clock_.NowMs(), 600);
  std::string tampered = token;
  tampered[tampered.find('.') + 5] ^= 1;
  expect_refused(tampered, "tampered payload");
  auto other = std::move(TokenSigner::Generate()).value();
  expect_refused(other->Sign("idp", "s", "alice", clock_.NowMs(), 600), "signed by another key");
  expect_refused("a.b.c", "garbage");
}

TEST_F(ExternalIssuerTest, AVerifiedTokenIsRememberedUntilItExpires) {
  std::string token = signer_->Sign("idp", "u-1", "alice", clock_.NowMs(), 600);
  ASSERT_TRUE(verifier_->Verify(token));
  EXPECT_EQ(verifier_->signature_checks(), 1u);
  auto again = verifier_->Verify(token);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->username, "alice");
  EXPECT_EQ(again->subject, "u-1");
  EXPECT_EQ(verifier_->signature_checks(), 1u) << "the second time costs no signature check";

  // One byte off is another token: checked, and refused.
  std::string tampered = token;
  tampered[tampered.find('.') + 5] ^= 1;
  EXPECT_FALSE(verifier_->Verify(tampered));
  EXPECT_EQ(verifier_->signature_checks(), 2u);
  std::string resigned = token;
  resigned.back() = resigned.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifier_->Verify(resigned)) << "a changed signature is not the remembered token";

  clock_.Advance(601'000);
  auto expired = verifier_->Verify(token);
  ASSERT_FALSE(expired) << "remembered, but expired";
  EXPECT_EQ(expired.error().message, "token expired");
}

TEST_F(ExternalIssuerTest, RemembersABoundedNumberOfTokens) {
  auto small =
      std::move(ExternalVerifier::FromPemFile(key_file_, "idp", clock_, /*cache_capacity=*/4)).value();
  std::vector<std::string> tokens;
  for (int i = 0; i < 20; ++i) {
    tokens.push_back(
        signer_->Sign("idp", "u-" + std::to_string(i), "user" + std::to_string(i), clock_.NowMs(), 600));
    ASSERT_TRUE(small->Verify(tokens.back()));
    EXPECT_LE(small->cached(), 8u);
  }
  EXPECT_EQ(small->signature_checks(), 20u);
  ASSERT_TRUE(small->Verify(tokens.back()));
  EXPECT_EQ(small->signature_checks(), 20u) << "the newest are remembered";
  ASSERT_TRUE(small->Verify(tokens.front()));
  EXPECT_EQ(small->signature_checks(), 21u) << "the oldest were dropped";
}

TEST_F(ExternalIssuerTest, OurOwnTokensAreNotClaimed) {
  TokenIssuer ours(std::string(64, 'k'), 900, clock_);
  EXPECT_FALSE(verifier_->Claims(ours.Issue(UserId(1), "alice")));
}

TEST_F(ExternalIssuerTest, KeyFileMustHoldAPublicKey) {
  EXPECT_FALSE(ExternalVerifier::FromPemFile("/nonexistent/key.pem", "", clock_));
  EXPECT_FALSE(ExternalVerifier::FromPemFile(WriteTemp("junk.pem", "not a key"), "", clock_));
}

}  // namespace
}  // namespace parley::auth
