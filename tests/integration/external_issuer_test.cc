// Tokens of an outside issuer (auth.issuer_public_key_file): users are
// provisioned on first sight, over WebSocket and HTTP alike, and can never
// take over a local account.
#include <filesystem>
#include <fstream>

#include "auth/token_signer.h"
#include "common/clock.h"
#include "server_fixture.h"

namespace parley::testing {
namespace {

class ExternalIssuerTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    static const std::string key_file = [] {
      auto path =
          std::filesystem::temp_directory_path() / ("parley-it-idp-" + std::to_string(::getpid()) + ".pem");
      std::ofstream(path) << Signer().PublicKeyPem();
      return path.string();
    }();
    return {"--auth.issuer_public_key_file", key_file, "--auth.issuer", "idp"};
  }
  static const auth::TokenSigner& Signer() {
    static const auto signer = std::move(auth::TokenSigner::Generate()).value();
    return *signer;
  }
  static std::string Token(const std::string& subject, const std::string& username) {
    return Signer().Sign("idp", subject, username, SystemClock::Instance().NowMs(), 600);
  }
};

TEST_F(ExternalIssuerTest, FirstHelloProvisionsTheUserAndLaterOnesFindIt) {
  std::string name = UniqueName("ext");
  auto ws = RawSocket();
  ASSERT_TRUE(ws);
  auto welcome = ws->Hello(Token("sub-1", name));
  ASSERT_TRUE(welcome && FieldIs(*welcome, "type", "welcome")) << Dump(welcome);
  std::string id = GetString((*welcome)["user"].as_object(), "id");
  EXPECT_EQ(GetString((*welcome)["user"].as_object(), "username"), name);

  auto again = RawSocket();
  auto second = again->Hello(Token("sub-1", name));
  ASSERT_TRUE(second && FieldIs(*second, "type", "welcome")) << Dump(second);
  EXPECT_EQ(GetString((*second)["user"].as_object(), "id"), id) << "the same account both times";

  auto me = Get("/v1/me", Token("sub-1", name));
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(GetString(me.json.as_object(), "id"), id);
}

TEST_F(ExternalIssuerTest, HttpFirstSightProvisionsToo) {
  std::string name = UniqueName("exh");
  auto me = Get("/v1/me", Token("sub-h", name));
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(GetString(me.json.as_object(), "username"), name);
  // An outside account has no password: login can never succeed.
  auto login = Post("/v1/auth/login", {{"username", name}, {"password", "!external:idp:sub-h"}}, "");
  EXPECT_TRUE(IsHttpError(login, 401, "unauthorized"));
}

TEST_F(ExternalIssuerTest, CannotTakeOverALocalAccountOrAnotherSubject) {
  client::Session local = NewUser("loc");
  auto takeover = RawSocket();
  ASSERT_TRUE(takeover);
  takeover->Hello(Token("sub-x", local.username));
  ASSERT_TRUE(takeover->WaitClosed(5s));
  EXPECT_EQ(takeover->close_code(), kCloseBadToken);
  EXPECT_TRUE(IsHttpError(Get("/v1/me", Token("sub-x", local.username)), 401, "unauthorized"));

  std::string name = UniqueName("exs");
  ASSERT_EQ(Get("/v1/me", Token("sub-a", name)).status, 200);
  EXPECT_TRUE(IsHttpError(Get("/v1/me", Token("sub-b", name)), 401, "unauthorized"));
}

TEST_F(ExternalIssuerTest, OurOwnTokensStillWork) {
  client::Session a = NewUser("own");
  EXPECT_TRUE(Open(a));
}

}  // namespace
}  // namespace parley::testing
