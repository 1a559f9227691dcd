#pragma once
// The other side of ExternalVerifier: signs access tokens as an outside
// issuer would (ES256). parleyd itself never signs with it; the load
// generator and the tests do, to provision users without passwords.
#include <memory>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/result.h"

namespace parley::auth {

class TokenSigner {
 public:
  // A fresh P-256 key pair.
  static Result<std::unique_ptr<TokenSigner>> Generate();
  // A PEM private key (EC P-256).
  static Result<std::unique_ptr<TokenSigner>> FromPemFile(const std::string& path);
  ~TokenSigner();

  // The public key, PEM: what parleyd's auth.issuer_public_key_file holds.
  std::string PublicKeyPem() const;
  std::string PrivateKeyPem() const;
  // A compact ES256 JWT with iss, sub, preferred_username, iat and exp.
  std::string Sign(std::string_view issuer, std::string_view subject, std::string_view username,
                   TimeMs now_ms, int ttl_s) const;

  struct Key;

 private:
  explicit TokenSigner(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

}  // namespace parley::auth
