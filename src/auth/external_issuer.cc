#include "auth/external_issuer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <boost/json/object.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/auth.h"
#include "auth/base64url.h"
#include "auth/jwt_parts.h"

namespace parley::auth {
namespace json = boost::json;

namespace {

Error Unauthorized(std::string message) { return MakeError(Errc::kUnauthorized, std::move(message)); }

// A JWS ES256 signature is R||S (32 bytes each); OpenSSL verifies DER.
bool RawEcdsaToDer(std::string_view raw, std::string& der) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (!sig) return false;
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  int len = i2d_ECDSA_SIG(sig, nullptr);
  bool ok = len > 0;
  if (ok) {
    der.resize(static_cast<size_t>(len));
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    ok = i2d_ECDSA_SIG(sig, &p) == len;
  }
  ECDSA_SIG_free(sig);
  return ok;
}

}  // namespace

struct ExternalVerifier::Key {
  EVP_PKEY* pkey = nullptr;
  std::string alg;  // "ES256" | "RS256"
  ~Key() { EVP_PKEY_free(pkey); }

  bool VerifySignature(std::string_view signed_part, std::string_view signature) const {
    std::string der;
    if (alg == "ES256") {
      if (!RawEcdsaToDer(signature, der)) return false;
      signature = der;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) return false;
    bool ok =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  }
};

// Verified tokens by SHA-256, in two generations (see the header).
struct ExternalVerifier::Cache {
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      size_t h;
      std::memcpy(&h, d.data(), sizeof h);  // a SHA-256 is uniform already
      return h;
    }
  };
  using Map = std::unordered_map<Digest, ExternalClaims, DigestHash>;

  explicit Cache(size_t capacity) : capacity(std::max<size_t>(1, capacity)) {}

  // Nothing when OpenSSL fails: the token is then checked, not remembered.
  static std::optional<Digest> Of(std::string_view token) {
    // Fetched once: with EVP_sha256(), OpenSSL 3 looks the algorithm up in
    // its providers on every digest (a third of this hash's cost, profiled).
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    Digest d{};
    unsigned int n = 0;
    if (sha256 == nullptr || EVP_Digest(token.data(), token.size(), d.data(), &n, sha256, nullptr) != 1 ||
        n != d.size())
      return std::nullopt;
    return d;
  }

  // The claims of a remembered token that has not expired at `now`.
  std::optional<ExternalClaims> Find(const Digest& d, TimeMs now) {
    std::lock_guard lock(mu);
    if (auto it = newer.find(d); it != newer.end()) {
      if (it->second.expires_at > now) return it->second;
      newer.erase(it);
      return std::nullopt;
    }
    auto it = older.find(d);
    if (it == older.end()) return std::nullopt;
    ExternalClaims claims = std::move(it->second);
    older.erase(it);
    if (claims.expires_at <= now) return std::nullopt;
    PutLocked(d, claims);
    return claims;
  }

  void Put(const Digest& d, const ExternalClaims& claims) {
    std::lock_guard lock(mu);
    PutLocked(d, claims);
  }

  void PutLocked(const Digest& d, const ExternalClaims& claims) {
    if (newer.size() >= capacity) {
      older = std::move(newer);
      newer = Map();
    }
    newer.insert_or_assign(d, claims);
  }

  const size_t capacity;
  std::mutex mu;
  Map newer;
  Map older;
};

ExternalVerifier::ExternalVerifier(std::unique_ptr<Key> key, std::string issuer, const Clock& clock,
                                   size_t cache_capacity)
    : key_(std::move(key)),
      issuer_(std::move(issuer)),
      clock_(clock),
      cache_(std::make_unique<Cache>(cache_capacity)) {}

size_t ExternalVerifier::cached() const {
  std::lock_guard lock(cache_->mu);
  return cache_->newer.size() + cache_->older.size();
}

ExternalVerifier::~ExternalVerifier() = default;

Result<std::unique_ptr<ExternalVerifier>> ExternalVerifier::FromPemFile(const std::string& path,
                                                                        std::string issuer,
                                                                        const Clock& clock,
                                                                        size_t cache_capacity) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f)
    return MakeError(Errc::kBadRequest, "cannot read the outside issuer's public key file '" + path + "'");
  auto key = std::make_unique<Key>();
  key->pkey = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!key->pkey) return MakeError(Errc::kBadRequest, "'" + path + "' holds no PEM public key");
  int type = EVP_PKEY_get_base_id(key->pkey);
  int bits = EVP_PKEY_get_bits(key->pkey);
  if (type == EVP_PKEY_EC && bits == 256) {
    key->alg = "ES256";
  } else if (type == EVP_PKEY_RSA && bits >= 2048) {
    key->alg = "RS256";
  } else {
    return MakeError(Errc::kBadRequest,
                     "'" + path + "': the key must be EC P-256 (ES256) or RSA of 2048+ bits (RS256)");
  }
  return std::unique_ptr<ExternalVerifier>(
      new ExternalVerifier(std::move(key), std::move(issuer), clock, cache_capacity));
}

bool ExternalVerifier::Claims(std::string_view token) const {
  auto parts = jwt::Split(token);
  if (!parts) return false;
  json::object header;
  return jwt::DecodeJsonObject(parts->header_b64, header) && jwt::Algorithm(header) == key_->alg;
}

Result<ExternalClaims> ExternalVerifier::Verify(std::string_view token) const {
  std::optional<Cache::Digest> digest = Cache::Of(token);
  if (!digest) return VerifyUncached(token);
  if (auto claims = cache_->Find(*digest, clock_.NowMs())) return std::move(*claims);
  Result<ExternalClaims> verified = VerifyUncached(token);
  if (verified) cache_->Put(*digest, *verified);
  return verified;
}

Result<ExternalClaims> ExternalVerifier::VerifyUncached(std::string_view token) const {
  try {
    auto parts = jwt::Split(token);
    if (!parts) return std::move(parts).error();
    json::object header;
    if (!jwt::DecodeJsonObject(parts->header_b64, header)) return Unauthorized("malformed token: bad header");
    if (jwt::Algorithm(header) != key_->alg)
      return Unauthorized("outside token: algorithm must be " + key_->alg);
    if (header.contains("crit")) return Unauthorized("unsupported critical header");
    std::string signature;
    if (!Base64UrlDecode(parts->signature_b64, signature))
      return Unauthorized("malformed token: bad signature encoding");
    signature_checks_.fetch_add(1, std::memory_order_relaxed);
    if (!key_->VerifySignature(parts->signed_part, signature)) return Unauthorized("bad signature");

    json::object payload;
    if (!jwt::DecodeJsonObject(parts->payload_b64, payload))
      return Unauthorized("malformed token: bad payload");
    auto text = [&](std::string_view key) -> std::string {
      const json::value* v = payload.if_contains(key);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    ExternalClaims c;
    c.issuer = text("iss");
    if (!issuer_.empty() && c.issuer != issuer_) return Unauthorized("outside token: wrong issuer");
    c.subject = text("sub");
    if (c.subject.empty() || c.subject.size() > 256) return Unauthorized("outside token: bad subject");
    int64_t exp = 0;
    if (!jwt::GetSeconds(payload, "exp", exp)) return Unauthorized("outside token: bad exp");
    TimeMs now = clock_.NowMs();
    if (exp * 1000 <= now) return Unauthorized("token expired");
    int64_t nbf = 0;
    if (payload.contains("nbf") && (!jwt::GetSeconds(payload, "nbf", nbf) || nbf * 1000 > now + 60'000)) {
      return Unauthorized("outside token: not valid yet");
    }
    std::string name = text("preferred_username");
    if (name.empty()) name = text("name");
    if (name.empty()) name = c.subject;
    auto folded = FoldUsername(name);
    if (!folded) return Unauthorized("outside token: username is not a valid Parley username");
    c.username = std::move(folded).value();
    c.display_name = text("name");
    if (c.display_name.size() > 64) c.display_name.clear();
    c.expires_at = exp * 1000;
    return c;
  } catch (const std::exception&) {
    return Unauthorized("malformed token");
  }
}

}  // namespace parley::auth
