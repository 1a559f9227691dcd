// RFC 8291's worked example (Appendix A) byte for byte, and VAPID tokens
// (RFC 8292) verified with OpenSSL on their own path: the public key from
// the `k` parameter through an SPKI, the signature from JWS form to DER.
#include "push/web_push_crypto.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <boost/json/parse.hpp>

#include "auth/base64url.h"

namespace parley::push {
namespace {

std::string B64(std::string_view text) {
  std::string out;
  EXPECT_TRUE(auth::Base64UrlDecode(text, out)) << text;
  return out;
}

// RFC 8291, Appendix A.
constexpr std::string_view kPlaintext = "When I grow up, I want to be a watermelon";
constexpr std::string_view kAsPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr std::string_view kAsPublic =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr std::string_view kUaPublic =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr std::string_view kSalt = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr std::string_view kAuth = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr std::string_view kBody =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_"
    "c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3j"
    "l7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

TEST(WebPushCrypto, EncryptsTheRfc8291ExampleToItsBytes) {
  auto receiver = ParseReceiverKeys(kUaPublic, kAuth);
  ASSERT_TRUE(receiver.ok()) << receiver.error().message;
  auto ephemeral = EcKey::FromRaw(B64(kAsPrivate), B64(kAsPublic));
  ASSERT_TRUE(ephemeral.ok()) << ephemeral.error().message;
  EXPECT_EQ(auth::Base64UrlEncode((*ephemeral)->PublicPoint()), kAsPublic);
  auto body = Encrypt(kPlaintext, *receiver, Fixed{*ephemeral, B64(kSalt)});
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(auth::Base64UrlEncode(*body), kBody);
}

TEST(WebPushCrypto, EveryMessageHasItsOwnKeyAndSalt) {
  auto receiver = ParseReceiverKeys(kUaPublic, kAuth);
  ASSERT_TRUE(receiver.ok());
  auto a = Encrypt(kPlaintext, *receiver);
  auto b = Encrypt(kPlaintext, *receiver);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 16 + 4 + 1 + 65 + kPlaintext.size() + 1 + 16);
  EXPECT_NE(a->substr(0, 16), b->substr(0, 16)) << "salt";
  EXPECT_NE(a->substr(21, 65), b->substr(21, 65)) << "ephemeral key";
  EXPECT_EQ(a->substr(16, 5), std::string("\x00\x00\x10\x00\x41", 5)) << "rs 4096, idlen 65";
}

TEST(WebPushCrypto, RefusesAPayloadLargerThanOneRecord) {
  auto receiver = ParseReceiverKeys(kUaPublic, kAuth);
  ASSERT_TRUE(receiver.ok());
  EXPECT_TRUE(Encrypt(std::string(kMaxPlaintextBytes, 'x'), *receiver).ok());
  auto big = Encrypt(std::string(kMaxPlaintextBytes + 1, 'x'), *receiver);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::kBadRequest);
}

TEST(WebPushCrypto, SubscriptionKeysAreCheckedAndTheWrongOneNamed) {
  auto short_key = ParseReceiverKeys(auth::Base64UrlEncode(B64(kUaPublic).substr(0, 33)), kAuth);
  ASSERT_FALSE(short_key.ok());
  EXPECT_NE(short_key.error().message.find("p256dh"), std::string::npos) << short_key.error().message;
  // 65 bytes, but X and Y are not a point of the curve.
  std::string off_curve = B64(kUaPublic);
  off_curve[64] = static_cast<char>(off_curve[64] ^ 1);
  auto off = ParseReceiverKeys(auth::Base64UrlEncode(off_curve), kAuth);
  ASSERT_FALSE(off.ok());
  EXPECT_NE(off.error().message.find("curve"), std::string::npos) << off.error().message;
  std::string compressed = B64(kUaPublic);
  compressed[0] = '\x02';
  EXPECT_FALSE(ParseReceiverKeys(auth::Base64UrlEncode(compressed), kAuth).ok());
  auto short_auth = ParseReceiverKeys(kUaPublic, auth::Base64UrlEncode("fifteen bytes!!"));
  ASSERT_FALSE(short_auth.ok());
  EXPECT_NE(short_auth.error().message.find("keys.auth"), std::string::npos);
  EXPECT_FALSE(ParseReceiverKeys(kUaPublic, "not base64!").ok());
  EXPECT_TRUE(ParseReceiverKeys(std::string(kUaPublic) + "=", std::string(kAuth) + "==").ok())
      << "padding, as some browsers write it, is tolerated";
}

TEST(WebPushCrypto, EndpointOriginIsTheVapidAudience) {
  EXPECT_EQ(*EndpointOrigin("https://push.example.net/wpush/v2/abc?x=1"), "https://push.example.net");
  EXPECT_EQ(*EndpointOrigin("https://Push.Example.net:443/a"), "https://push.example.net");
  EXPECT_EQ(*EndpointOrigin("http://127.0.0.1:8123/p/1"), "http://127.0.0.1:8123");
  EXPECT_FALSE(EndpointOrigin("ftp://push.example.net/a").ok());
  EXPECT_FALSE(EndpointOrigin("/relative").ok());
  EXPECT_FALSE(EndpointOrigin("https://user:pw@push.example.net/a").ok());
}

// Verifies an ES256 JWS with the 65-byte public point, without the code
// under test: an SPKI built by hand and a DER signature built from R || S.
bool VerifyEs256(std::string_view signing_input, const std::string& raw_sig, const std::string& point) {
  static const unsigned char kSpkiPrefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                              0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                              0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
  std::string spki(reinterpret_cast<const char*>(kSpkiPrefix), sizeof kSpkiPrefix);
  spki += point;
  const auto* p = reinterpret_cast<const unsigned char*>(spki.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (!key || raw_sig.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw_sig.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw_sig.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len),
                             reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  EVP_PKEY_free(key);
  return ok;
}

TEST(WebPushCrypto, VapidTokenVerifiesWithItsKeyAndSaysWhoAndUntilWhen) {
  auto key = EcKey::Generate();
  ASSERT_TRUE(key.ok());
  const TimeMs now = 1'700'000'000'000;
  auto header = VapidAuthorization(**key, "https://push.example.net", "mailto:ops@example.org", now,
                                   std::chrono::hours(12));
  ASSERT_TRUE(header.ok()) << header.error().message;
  ASSERT_EQ(header->rfind("vapid t=", 0), 0u) << *header;
  size_t comma = header->find(", k=");
  ASSERT_NE(comma, std::string::npos);
  std::string jwt = header->substr(8, comma - 8);
  std::string k = header->substr(comma + 4);
  EXPECT_EQ(B64(k), (*key)->PublicPoint());

  size_t dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
  ASSERT_NE(dot1, dot2);
  auto head = boost::json::parse(B64(jwt.substr(0, dot1))).as_object();
  EXPECT_EQ(head["alg"], "ES256");
  auto claims = boost::json::parse(B64(jwt.substr(dot1 + 1, dot2 - dot1 - 1))).as_object();
  EXPECT_EQ(claims["aud"], "https://push.example.net");
  EXPECT_EQ(claims["sub"], "mailto:ops@example.org");
  EXPECT_EQ(claims["exp"], now / 1000 + 12 * 3600);
  std::string sig = B64(jwt.substr(dot2 + 1));
  EXPECT_TRUE(VerifyEs256(jwt.substr(0, dot2), sig, B64(k)));
  // Another key's token does not verify with this key.
  auto other = EcKey::Generate();
  EXPECT_FALSE(VerifyEs256(jwt.substr(0, dot2), sig, (*other)->PublicPoint()));
  sig[5] = static_cast<char>(sig[5] ^ 1);
  EXPECT_FALSE(VerifyEs256(jwt.substr(0, dot2), sig, B64(k)));

  EXPECT_FALSE(VapidAuthorization(**key, "https://a", "mailto:x@y", now, std::chrono::hours(25)).ok());
}

TEST(WebPushCrypto, KeptKeyReadsBackAsTheSameKey) {
  auto key = EcKey::Generate();
  ASSERT_TRUE(key.ok());
  auto again = EcKey::FromPrivatePem((*key)->ToPrivatePem());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)->PublicPoint(), (*key)->PublicPoint());
  EXPECT_EQ((*key)->PublicPoint().size(), 65u);
  EXPECT_FALSE(EcKey::FromPrivatePem("garbage").ok());
}

}  // namespace
}  // namespace parley::push
