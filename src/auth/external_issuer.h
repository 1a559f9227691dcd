#pragma once
// Tokens of an outside issuer: an identity provider that signs access tokens
// with its private key (ES256 on P-256, or RS256); parleyd holds only the
// public key. Real deployments need it (single sign-on), and so does the
// load generator, which provisions thousands of users without hashing a
// password for each. Thread-safe after construction.
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace parley::auth {

struct ExternalClaims {
  std::string issuer;
  std::string subject;   // the issuer's user id
  std::string username;  // folded and checked Parley username
  std::string display_name;
  TimeMs expires_at = 0;
};

class ExternalVerifier {
 public:
  // Reads a PEM public key (EC P-256 or RSA >= 2048 bits). `issuer`, when
  // not empty, must equal the token's "iss". kBadRequest on a bad key file.
  static Result<std::unique_ptr<ExternalVerifier>> FromPemFile(const std::string& path, std::string issuer,
                                                               const Clock& clock);
  ~ExternalVerifier();

  // True when the token's header names this verifier's algorithm: the token
  // is meant for Verify, not for our own HS256 issuer.
  bool Claims(std::string_view token) const;

  // Verifies alg, signature, iss, exp (and nbf when present), and reads the
  // username from "preferred_username", else "name", else "sub". Every
  // failure is kUnauthorized with a message fit for logs.
  Result<ExternalClaims> Verify(std::string_view token) const;

  struct Key;

 private:
  ExternalVerifier(std::unique_ptr<Key> key, std::string issuer, const Clock& clock);
  std::unique_ptr<Key> key_;
  std::string issuer_;
  const Clock& clock_;
};

}  // namespace parley::auth
