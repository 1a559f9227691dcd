#pragma once
// The cryptography of Web Push, as pure functions over OpenSSL's EVP API:
// message encryption (RFC 8291 over the aes128gcm content coding of RFC
// 8188) and the VAPID authorization of the application server (RFC 8292).
// Nothing here does I/O or keeps state beyond the key object, so each rule
// is tested against the RFCs' own worked examples (web_push_crypto_test.cc).
//
// Keys are P-256. A public key travels as its uncompressed point (65 bytes,
// 0x04 || X || Y), base64url-encoded in JSON and headers.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/result.h"

namespace parley::push {

inline constexpr size_t kPublicKeyBytes = 65;
inline constexpr size_t kAuthSecretBytes = 16;
inline constexpr size_t kSaltBytes = 16;
inline constexpr uint32_t kRecordSize = 4096;
// One record holds the payload, its delimiter and the GCM tag.
inline constexpr size_t kMaxPlaintextBytes = kRecordSize - 1 - 16;

// A P-256 key pair (or a public key alone). Immutable once made: any thread
// may use it at once. Owns its EVP_PKEY.
class EcKey {
 public:
  // A fresh random key pair.
  static Result<std::shared_ptr<const EcKey>> Generate();
  // A key pair from its PEM (PKCS#8) private key, as ToPrivatePem wrote it.
  static Result<std::shared_ptr<const EcKey>> FromPrivatePem(std::string_view pem);
  // A key pair from its raw private scalar (32 bytes) and public point; for
  // the RFCs' fixed examples.
  static Result<std::shared_ptr<const EcKey>> FromRaw(std::string_view private_scalar,
                                                      std::string_view public_point);
  // A public key from its uncompressed point: kBadRequest unless it is 65
  // bytes, starts with 0x04 and lies on the curve.
  static Result<std::shared_ptr<const EcKey>> FromPublicPoint(std::string_view point);
  ~EcKey();

  // The uncompressed point (65 bytes).
  std::string PublicPoint() const;
  std::string ToPrivatePem() const;

  struct Impl;
  explicit EcKey(std::unique_ptr<Impl> impl);

  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// What RFC 8291 needs of a subscription: the user agent's public key and
// its 16-byte authentication secret.
struct Receiver {
  std::shared_ptr<const EcKey> public_key;
  std::string auth_secret;
};

// The parts RFC 8291 makes fresh for every message; given only by tests,
// which replay the RFC's worked example.
struct Fixed {
  std::shared_ptr<const EcKey> ephemeral;
  std::string salt;  // 16 bytes
};

// The aes128gcm body of one push message: header (salt, record size 4096,
// the ephemeral public key as key id) and one record holding `plaintext`
// (at most kMaxPlaintextBytes; kBadRequest beyond). A fresh ephemeral key
// and salt unless `fixed` gives them.
Result<std::string> Encrypt(std::string_view plaintext, const Receiver& receiver,
                            const std::optional<Fixed>& fixed = std::nullopt);

// The value of the Authorization header of RFC 8292: `vapid t=<JWT>, k=<key>`,
// the JWT signed ES256 by `key` with aud = `audience` (the endpoint's origin),
// exp = now + `lifetime` (at most 24 h; the caller keeps it at 12 h) and
// sub = `subject`.
Result<std::string> VapidAuthorization(const EcKey& key, std::string_view audience, std::string_view subject,
                                       TimeMs now_ms, std::chrono::seconds lifetime);

// The origin of a push endpoint (scheme://host[:port], the port only when it
// is not the scheme's default): the VAPID audience. kBadRequest unless it is
// an absolute http(s) URL with a host.
Result<std::string> EndpointOrigin(std::string_view endpoint);

// The subscription's keys as a client sends them (base64url): kBadRequest,
// saying which key is wrong, unless p256dh decodes to a P-256 point on the
// curve and auth to 16 bytes.
Result<Receiver> ParseReceiverKeys(std::string_view p256dh, std::string_view auth);

}  // namespace parley::push
