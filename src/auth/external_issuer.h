#pragma once
// Tokens of an outside issuer: an identity provider that signs access tokens
// with its private key (ES256 on P-256, or RS256); parleyd holds only the
// public key. Real deployments need it (single sign-on), and so does the
// load generator, which provisions thousands of users without hashing a
// password for each. Thread-safe after construction.
//
// A verified token is remembered (by its SHA-256) until it expires, so the
// same token presented again, as a client does on its HTTP calls, its
// WebSocket hello and every reconnect, costs a hash instead of a signature
// check (an ES256 verification is ~70 µs, most of a handshake). Remembered
// are at most 2 x cache_capacity tokens (a digest and the claims each, a
// few hundred bytes): when the newer of two generations is full, the older
// is dropped; a token found in the older moves to the newer.
#include <atomic>
#include <cstdint>
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
  // Above what one node holds here (20,000 open files): a restart's
  // reconnect of every client then finds each token still remembered.
  static constexpr size_t kDefaultCacheCapacity = 32768;
  static Result<std::unique_ptr<ExternalVerifier>> FromPemFile(const std::string& path, std::string issuer,
                                                               const Clock& clock,
                                                               size_t cache_capacity = kDefaultCacheCapacity);
  ~ExternalVerifier();

  // True when the token's header names this verifier's algorithm: the token
  // is meant for Verify, not for our own HS256 issuer.
  bool Claims(std::string_view token) const;

  // Verifies alg, signature, iss, exp (and nbf when present), and reads the
  // username from "preferred_username", else "name", else "sub". Every
  // failure is kUnauthorized with a message fit for logs.
  Result<ExternalClaims> Verify(std::string_view token) const;

  // Signatures checked so far, and tokens remembered now.
  uint64_t signature_checks() const { return signature_checks_.load(std::memory_order_relaxed); }
  size_t cached() const;

  struct Key;
  struct Cache;

 private:
  ExternalVerifier(std::unique_ptr<Key> key, std::string issuer, const Clock& clock, size_t cache_capacity);
  Result<ExternalClaims> VerifyUncached(std::string_view token) const;

  std::unique_ptr<Key> key_;
  std::string issuer_;
  const Clock& clock_;
  std::unique_ptr<Cache> cache_;
  mutable std::atomic<uint64_t> signature_checks_{0};
};

}  // namespace parley::auth
