#include "push/web_push_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "auth/base64url.h"

namespace parley::push {

struct EcKey::Impl {
  EVP_PKEY* pkey = nullptr;
  ~Impl() { EVP_PKEY_free(pkey); }
};

EcKey::EcKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EcKey::~EcKey() = default;

namespace {

constexpr const char* kCurve = "prime256v1";

Error CryptoError(std::string what) {
  return MakeError(Errc::kInternal, "web push crypto: " + std::move(what));
}

std::shared_ptr<const EcKey> Wrap(EVP_PKEY* pkey) {
  auto impl = std::make_unique<EcKey::Impl>();
  impl->pkey = pkey;
  return std::make_shared<const EcKey>(std::move(impl));
}

// An EC key of P-256 from OSSL parameters: the public point, and the
// private scalar when given.
EVP_PKEY* FromParams(std::string_view point, const BIGNUM* priv) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  OSSL_PARAM* params = nullptr;
  EVP_PKEY* pkey = nullptr;
  bool ok = bld && ctx && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, kCurve, 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1 &&
            (!priv || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1);
  if (ok) params = OSSL_PARAM_BLD_to_param(bld);
  if (params && EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
      pkey = nullptr;
  }
  OSSL_PARAM_free(params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

// Whether the key's public point lies on the curve (and is not infinity).
bool PublicKeyValid(EVP_PKEY* pkey) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
  bool ok = ctx && EVP_PKEY_public_check(ctx) == 1;
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// HKDF-SHA-256 (RFC 5869) for outputs of at most one hash block, which is
// all RFC 8291 asks for.
std::string Hkdf(std::string_view salt, std::string_view ikm, std::string_view info, size_t length) {
  std::string prk = Hmac(salt, ikm);
  std::string t = Hmac(prk, std::string(info) + '\x01');
  t.resize(length);
  return t;
}

Result<std::string> Ecdh(const EcKey& mine, const EcKey& peer) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, mine.impl().pkey, nullptr);
  std::string secret(32, '\0');
  size_t len = secret.size();
  bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer.impl().pkey) == 1 &&
            EVP_PKEY_derive(ctx, reinterpret_cast<unsigned char*>(secret.data()), &len) == 1 && len == 32;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return CryptoError("ECDH failed");
  return secret;
}

Result<std::string> Aes128Gcm(std::string_view key, std::string_view nonce, std::string_view plaintext) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::string out(plaintext.size() + 16, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0, fin = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx, nullptr, nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                               reinterpret_cast<const unsigned char*>(nonce.data())) == 1 &&
            EVP_EncryptUpdate(ctx, o, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx, o + len, &fin) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, o + len + fin) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok || static_cast<size_t>(len + fin) != plaintext.size()) return CryptoError("AES-128-GCM failed");
  return out;
}

// base64url as browsers write it, tolerating the padding some add.
bool DecodeKey(std::string_view text, std::string& out) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  return auth::Base64UrlDecode(text, out);
}

// ES256 over `data`: the JWS form R || S, 32 bytes each.
Result<std::string> SignEs256(const EcKey& key, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string der(80, '\0');
  size_t der_len = der.size();
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.impl().pkey) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &der_len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return CryptoError("ES256 signing failed");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  if (!sig) return CryptoError("ES256 signature is not DER");
  std::string raw(64, '\0');
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  ok = BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32) == 32 &&
       BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  if (!ok) return CryptoError("ES256 signature too long");
  return raw;
}

}  // namespace

Result<std::shared_ptr<const EcKey>> EcKey::Generate() {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (!pkey) return CryptoError("cannot generate a P-256 key");
  return Wrap(pkey);
}

Result<std::shared_ptr<const EcKey>> EcKey::FromPrivatePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC || EVP_PKEY_get_bits(pkey) != 256) {
    EVP_PKEY_free(pkey);
    return MakeError(Errc::kInternal, "the kept VAPID key is not an EC P-256 private key");
  }
  return Wrap(pkey);
}

Result<std::shared_ptr<const EcKey>> EcKey::FromRaw(std::string_view private_scalar,
                                                    std::string_view public_point) {
  BIGNUM* d = BN_bin2bn(reinterpret_cast<const unsigned char*>(private_scalar.data()),
                        static_cast<int>(private_scalar.size()), nullptr);
  EVP_PKEY* pkey = d ? FromParams(public_point, d) : nullptr;
  BN_clear_free(d);
  if (!pkey) return MakeError(Errc::kBadRequest, "not a P-256 key pair");
  return Wrap(pkey);
}

Result<std::shared_ptr<const EcKey>> EcKey::FromPublicPoint(std::string_view point) {
  if (point.size() != kPublicKeyBytes || point[0] != '\x04')
    return MakeError(Errc::kBadRequest, "not an uncompressed P-256 point (65 bytes starting with 0x04)");
  EVP_PKEY* pkey = FromParams(point, nullptr);
  if (!pkey || !PublicKeyValid(pkey)) {
    EVP_PKEY_free(pkey);
    return MakeError(Errc::kBadRequest, "not a point on the P-256 curve");
  }
  return Wrap(pkey);
}

std::string EcKey::PublicPoint() const {
  std::string out(kPublicKeyBytes, '\0');
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(impl_->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                      reinterpret_cast<unsigned char*>(out.data()), out.size(), &len) != 1) {
    return {};
  }
  out.resize(len);
  return out;
}

std::string EcKey::ToPrivatePem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (bio && PEM_write_bio_PrivateKey(bio, impl_->pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

Result<std::string> Encrypt(std::string_view plaintext, const Receiver& receiver,
                            const std::optional<Fixed>& fixed) {
  if (plaintext.size() > kMaxPlaintextBytes)
    return MakeError(Errc::kBadRequest,
                     "a push payload holds at most " + std::to_string(kMaxPlaintextBytes) + " bytes");
  if (!receiver.public_key || receiver.auth_secret.size() != kAuthSecretBytes)
    return MakeError(Errc::kBadRequest, "a push receiver needs a public key and a 16-byte auth secret");
  std::shared_ptr<const EcKey> ephemeral;
  std::string salt;
  if (fixed) {
    ephemeral = fixed->ephemeral;
    salt = fixed->salt;
  } else {
    PARLEY_ASSIGN_OR_RETURN(ephemeral, EcKey::Generate());
    salt.assign(kSaltBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) != 1)
      return CryptoError("no random bytes");
  }
  if (salt.size() != kSaltBytes) return MakeError(Errc::kBadRequest, "the salt must be 16 bytes");

  const std::string ua_public = receiver.public_key->PublicPoint();
  const std::string as_public = ephemeral->PublicPoint();
  PARLEY_ASSIGN_OR_RETURN(std::string ecdh_secret, Ecdh(*ephemeral, *receiver.public_key));
  // RFC 8291 §3.4: the input keying material mixes in the auth secret and
  // both public keys; RFC 8188 §2.2-2.3 derive the key and nonce from it.
  std::string key_info = std::string("WebPush: info") + '\0' + ua_public + as_public;
  std::string ikm = Hkdf(receiver.auth_secret, ecdh_secret, key_info, 32);
  std::string cek = Hkdf(salt, ikm, std::string("Content-Encoding: aes128gcm") + '\0', 16);
  std::string nonce = Hkdf(salt, ikm, std::string("Content-Encoding: nonce") + '\0', 12);
  // One record, the last: the payload and the delimiter 0x02, no padding.
  PARLEY_ASSIGN_OR_RETURN(std::string record, Aes128Gcm(cek, nonce, std::string(plaintext) + '\x02'));

  std::string out = salt;
  out.push_back(static_cast<char>((kRecordSize >> 24) & 0xFF));
  out.push_back(static_cast<char>((kRecordSize >> 16) & 0xFF));
  out.push_back(static_cast<char>((kRecordSize >> 8) & 0xFF));
  out.push_back(static_cast<char>(kRecordSize & 0xFF));
  out.push_back(static_cast<char>(as_public.size()));
  out += as_public;
  out += record;
  return out;
}

Result<std::string> VapidAuthorization(const EcKey& key, std::string_view audience, std::string_view subject,
                                       TimeMs now_ms, std::chrono::seconds lifetime) {
  if (lifetime > std::chrono::hours(24) || lifetime.count() <= 0)
    return MakeError(Errc::kBadRequest, "a VAPID token lives at most 24 hours");
  boost::json::object claims{{"aud", audience}, {"exp", now_ms / 1000 + lifetime.count()}, {"sub", subject}};
  std::string signing_input = auth::Base64UrlEncode(R"({"typ":"JWT","alg":"ES256"})") + "." +
                              auth::Base64UrlEncode(boost::json::serialize(claims));
  PARLEY_ASSIGN_OR_RETURN(std::string signature, SignEs256(key, signing_input));
  return "vapid t=" + signing_input + "." + auth::Base64UrlEncode(signature) +
         ", k=" + auth::Base64UrlEncode(key.PublicPoint());
}

Result<std::string> EndpointOrigin(std::string_view endpoint) {
  auto url = boost::urls::parse_absolute_uri(endpoint);
  if (!url) return MakeError(Errc::kBadRequest, "endpoint is not an absolute URL");
  std::string scheme(url->scheme());
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "https" && scheme != "http")
    return MakeError(Errc::kBadRequest, "endpoint must be an https URL");
  if (!url->has_authority() || url->encoded_host().empty())
    return MakeError(Errc::kBadRequest, "endpoint has no host");
  if (url->has_userinfo())
    return MakeError(Errc::kBadRequest, "endpoint must not carry a user name or password");
  std::string host(url->encoded_host_and_port());
  if (url->has_port() &&
      ((scheme == "https" && url->port() == "443") || (scheme == "http" && url->port() == "80")))
    host = std::string(url->encoded_host());
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme + "://" + host;
}

Result<Receiver> ParseReceiverKeys(std::string_view p256dh, std::string_view auth) {
  std::string point, secret;
  if (!DecodeKey(p256dh, point)) return MakeError(Errc::kBadRequest, "keys.p256dh is not base64url");
  if (point.size() != kPublicKeyBytes)
    return MakeError(Errc::kBadRequest,
                     "keys.p256dh must decode to 65 bytes (an uncompressed P-256 point), not " +
                         std::to_string(point.size()));
  auto key = EcKey::FromPublicPoint(point);
  if (!key) return MakeError(Errc::kBadRequest, "keys.p256dh: " + key.error().message);
  if (!DecodeKey(auth, secret)) return MakeError(Errc::kBadRequest, "keys.auth is not base64url");
  if (secret.size() != kAuthSecretBytes)
    return MakeError(Errc::kBadRequest,
                     "keys.auth must decode to 16 bytes, not " + std::to_string(secret.size()));
  return Receiver{std::move(key).value(), std::move(secret)};
}

}  // namespace parley::push
