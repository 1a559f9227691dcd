// Fuzzes JWT handling: jwt_parts, base64url, the HS256 TokenIssuer verifier
// and the outside-issuer verifier (ES256 and RS256). The first byte picks:
//   0: the rest is a token, given to every verifier as is;
//   1, 2, 3: the rest is "HEADER\nPAYLOAD" (any bytes); the harness encodes
//      and signs it correctly (1 HS256 with the issuer's secret, 2 ES256,
//      3 RS256) so that the claims checks behind the signature get fuzzed.
// Checks: accepted tokens carry what the verifiers promise (valid user id
// and username, unexpired), base64url is canonical and round-trips.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/auth.h"
#include "auth/base64url.h"
#include "auth/external_issuer.h"
#include "auth/jwt_parts.h"
#include "fixed_randomness.h"

using namespace parley;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::string kSecret(64, 'k');
constexpr std::string_view kIssuer = "https://id.example";

struct Keys {
  ManualClock clock{1'700'000'000'000};
  auth::TokenIssuer issuer{kSecret, 900, clock};
  EVP_PKEY* ec = nullptr;
  EVP_PKEY* rsa = nullptr;
  std::unique_ptr<auth::ExternalVerifier> es256;  // requires iss == kIssuer
  std::unique_ptr<auth::ExternalVerifier> rs256;  // any issuer

  Keys() {
    ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    Check(ec && rsa);
    es256 = Verifier(ec, std::string(kIssuer));
    rs256 = Verifier(rsa, "");
  }

  std::unique_ptr<auth::ExternalVerifier> Verifier(EVP_PKEY* key, std::string iss) {
    char path[] = "/tmp/parley-jwt-fuzz-XXXXXX";
    int fd = mkstemp(path);
    Check(fd >= 0);
    FILE* f = fdopen(fd, "w");
    Check(f && PEM_write_PUBKEY(f, key) == 1);
    std::fclose(f);
    auto v = auth::ExternalVerifier::FromPemFile(path, std::move(iss), clock);
    unlink(path);
    Check(static_cast<bool>(v));
    return std::move(v).value();
  }
};

Keys& GetKeys() {
  static Keys* keys = new Keys();
  return *keys;
}

std::string Sign(EVP_PKEY* key, std::string_view signed_part, bool ecdsa) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  Check(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1);
  const auto* in = reinterpret_cast<const unsigned char*>(signed_part.data());
  Check(EVP_DigestSign(ctx, nullptr, &len, in, signed_part.size()) == 1);
  std::string sig(len, '\0');
  Check(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, signed_part.size()) == 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!ecdsa) return sig;
  // DER to the JWS form: R||S, 32 bytes each.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  Check(s != nullptr);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  Check(BN_bn2binpad(ECDSA_SIG_get0_r(s), out, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(s), out + 32, 32) == 32);
  ECDSA_SIG_free(s);
  return raw;
}

std::string HmacSha256(std::string_view signed_part) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = sizeof mac;
  Check(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, kSecret.data(), kSecret.size(),
                  reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, len,
                  &len) != nullptr);
  return std::string(reinterpret_cast<char*>(mac), len);
}

void CheckBase64(std::string_view text) {
  std::string decoded;
  if (auth::Base64UrlDecode(text, decoded)) Check(auth::Base64UrlEncode(decoded) == text);
  std::string back;
  Check(auth::Base64UrlDecode(auth::Base64UrlEncode(text), back) && back == text);
}

// Error messages reach clients inside JSON: they must be valid UTF-8.
bool JsonSafe(const std::string& message) {
  std::error_code ec;
  boost::json::parse(boost::json::serialize(boost::json::string(message)), ec);
  return !ec;
}

void VerifyAll(std::string_view token) {
  Keys& k = GetKeys();
  const TimeMs now = k.clock.NowMs();
  if (auto c = k.issuer.Verify(token)) {
    // Our own tokens are trusted for the name once the signature holds.
    Check(c->user.valid() && c->expires_at > now && !c->username.empty());
  } else {
    Check(c.error().code == Errc::kUnauthorized && !c.error().message.empty() && JsonSafe(c.error().message));
  }
  for (const auto* v : {k.es256.get(), k.rs256.get()}) {
    v->Claims(token);
    if (auto c = v->Verify(token)) {
      Check(c->expires_at > now && !c->subject.empty() && c->subject.size() <= 256);
      auto folded = auth::FoldUsername(c->username);
      Check(folded && *folded == c->username);
      if (v == k.es256.get()) Check(c->issuer == kIssuer);
    } else {
      Check(c.error().code == Errc::kUnauthorized && !c.error().message.empty() &&
            JsonSafe(c.error().message));
    }
  }
  if (auto parts = auth::jwt::Split(token)) {
    boost::json::object header;
    if (auth::jwt::DecodeJsonObject(parts->header_b64, header)) {
      auth::jwt::Algorithm(header);
      int64_t s = 0;
      if (auth::jwt::GetSeconds(header, "exp", s)) Check(s >= 0 && s <= INT64_MAX / 1000);
    }
  }
}

}  // namespace

// Set-up (key generation, the store) before the first input, outside its timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::FixRandomness();
  GetKeys();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const int mode = data[0] & 3;
  if (mode == 0) {
    CheckBase64(rest);
    VerifyAll(rest);
    return 0;
  }
  size_t nl = rest.find('\n');
  std::string_view header = rest.substr(0, nl);
  std::string_view payload = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  std::string token = auth::Base64UrlEncode(header) + "." + auth::Base64UrlEncode(payload);
  Keys& k = GetKeys();
  std::string sig = mode == 1 ? HmacSha256(token) : Sign(mode == 2 ? k.ec : k.rsa, token, mode == 2);
  token += "." + auth::Base64UrlEncode(sig);
  VerifyAll(token);
  return 0;
}
