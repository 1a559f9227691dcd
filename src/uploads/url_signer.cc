#include "uploads/url_signer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

#include "uploads/sha256.h"

namespace parley::uploads {
namespace {

constexpr TimeMs kHourMs = 3600 * 1000;

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &size);
  return std::string(reinterpret_cast<const char*>(mac), size);
}

}  // namespace

UrlSigner::UrlSigner(std::string_view server_secret) : key_(Hmac(server_secret, "parley upload urls v1")) {}

TimeMs UrlSigner::ExpiryFor(TimeMs now) { return (now + kMinValidityMs) / kHourMs * kHourMs + kHourMs; }

std::string UrlSigner::Signature(UploadId id, TimeMs expires) const {
  return Hex(Hmac(key_, "upload:" + id.ToString() + ":" + std::to_string(expires)));
}

std::string UrlSigner::Url(UploadId id, TimeMs expires) const {
  return "/v1/uploads/" + id.ToString() + "?exp=" + std::to_string(expires) +
         "&sig=" + Signature(id, expires);
}

Result<void> UrlSigner::Check(UploadId id, std::string_view exp, std::string_view sig, TimeMs now) const {
  TimeMs expires = 0;
  auto [p, ec] = std::from_chars(exp.data(), exp.data() + exp.size(), expires);
  if (exp.empty() || ec != std::errc() || p != exp.data() + exp.size() || expires <= 0) {
    return MakeError(Errc::kForbidden, "bad signed url");
  }
  const std::string want = Signature(id, expires);
  if (sig.size() != want.size() || CRYPTO_memcmp(sig.data(), want.data(), want.size()) != 0) {
    return MakeError(Errc::kForbidden, "bad signed url");
  }
  if (expires <= now) return MakeError(Errc::kForbidden, "signed url expired");
  return Ok();
}

}  // namespace parley::uploads
