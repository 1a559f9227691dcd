#include "auth/token_signer.h"

#include <cstdio>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/base64url.h"

namespace parley::auth {

struct TokenSigner::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

TokenSigner::TokenSigner(std::unique_ptr<Key> key) : key_(std::move(key)) {}
TokenSigner::~TokenSigner() = default;

Result<std::unique_ptr<TokenSigner>> TokenSigner::Generate() {
  auto key = std::make_unique<Key>();
  key->pkey = EVP_EC_gen("P-256");
  if (!key->pkey) return MakeError(Errc::kInternal, "cannot generate a P-256 key");
  return std::unique_ptr<TokenSigner>(new TokenSigner(std::move(key)));
}

Result<std::unique_ptr<TokenSigner>> TokenSigner::FromPemFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return MakeError(Errc::kBadRequest, "cannot read private key file '" + path + "'");
  auto key = std::make_unique<Key>();
  key->pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!key->pkey || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_EC || EVP_PKEY_get_bits(key->pkey) != 256) {
    return MakeError(Errc::kBadRequest, "'" + path + "' holds no EC P-256 private key");
  }
  return std::unique_ptr<TokenSigner>(new TokenSigner(std::move(key)));
}

namespace {

std::string ToPem(EVP_PKEY* pkey, bool is_private) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  int ok = is_private ? PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr)
                      : PEM_write_bio_PUBKEY(bio, pkey);
  std::string out;
  if (ok == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

}  // namespace

std::string TokenSigner::PublicKeyPem() const { return ToPem(key_->pkey, false); }
std::string TokenSigner::PrivateKeyPem() const { return ToPem(key_->pkey, true); }

std::string TokenSigner::Sign(std::string_view issuer, std::string_view subject, std::string_view username,
                              TimeMs now_ms, int ttl_s) const {
  int64_t now = now_ms / 1000;
  boost::json::object payload{{"iss", issuer},
                              {"sub", subject},
                              {"preferred_username", username},
                              {"iat", now},
                              {"exp", now + ttl_s}};
  std::string signed_part = Base64UrlEncode(R"({"alg":"ES256","typ":"JWT"})") + "." +
                            Base64UrlEncode(boost::json::serialize(payload));
  // DER signature from OpenSSL -> the JWS raw R||S form.
  std::string der(80, '\0');
  size_t der_len = der.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  if (!sig) return {};
  unsigned char raw[64];
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
  ECDSA_SIG_free(sig);
  return signed_part + "." + Base64UrlEncode(std::string_view(reinterpret_cast<char*>(raw), 64));
}

}  // namespace parley::auth
