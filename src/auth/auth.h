#pragma once
// Authentication primitives: credential rules, password hashing (Argon2id),
// access tokens (JWT HS256) and refresh tokens (opaque, stored hashed).
// Everything here is thread-safe. Hashing is slow by design (~170 ms):
// callers run it on a blocking thread, never on an io thread.
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/ids.h"
#include "common/result.h"

namespace parley::auth {

// Folds a username to lower case and checks it: 3 to 32 of [a-z0-9_.-] after
// folding. kBadRequest with a clear message otherwise.
Result<std::string> FoldUsername(std::string_view raw);
// 8 to 1024 bytes. kBadRequest otherwise.
Result<void> CheckPassword(std::string_view password);

enum class PasswordStrength { kMin, kInteractive, kModerate, kSensitive };
// Parses "min" | "interactive" | "moderate" | "sensitive".
Result<PasswordStrength> ParseStrength(std::string_view name);

// Argon2id via libsodium (crypto_pwhash_str), self-describing hash strings.
class PasswordHasher {
 public:
  explicit PasswordHasher(PasswordStrength strength = PasswordStrength::kInteractive);
  Result<std::string> Hash(std::string_view password) const;
  bool Verify(std::string_view hash, std::string_view password) const;

 private:
  unsigned long long ops_;
  size_t mem_;
};

struct Claims {
  UserId user;
  std::string username;
  TimeMs issued_at = 0;   // ms
  TimeMs expires_at = 0;  // ms
  // The user's token epoch when the token was issued (claim "ep"; 0 when
  // absent). The service refuses a token whose epoch is below the user's
  // current one (password changed, account deleted).
  int64_t epoch = 0;
};

// Issues and verifies HS256 JWTs: {"alg":"HS256","typ":"JWT"} header,
// claims sub (user id string), name (username), iat, exp (seconds), typ
// "access", ep (the user's token epoch). Verify checks the algorithm, the
// signature (constant time), the token type and expiry against the clock;
// every failure is kUnauthorized with a message fit for logs. Whether the
// epoch is still current is the caller's business (chat::Service).
class TokenIssuer {
 public:
  TokenIssuer(std::string secret, int access_ttl_s, const Clock& clock);
  std::string Issue(UserId user, std::string_view username, int64_t epoch = 0) const;
  Result<Claims> Verify(std::string_view token) const;
  int access_ttl_s() const { return ttl_s_; }

 private:
  std::string secret_;
  int ttl_s_;
  const Clock& clock_;
};

// 32 random bytes, base64url without padding.
std::string NewRefreshToken();
// Hex SHA-256 of a token: what the store keeps.
std::string HashToken(std::string_view token);

// A bot's API key (PROTOCOL.md §8): kApiKeyPrefix and 256 random bits,
// base64url. The prefix tells a key from an access token (a JWT starts
// with "eyJ"), so one Authorization header or hello token takes either; the
// store keeps only HashToken(key).
inline constexpr std::string_view kApiKeyPrefix = "pbot_";
std::string NewApiKey();
bool LooksLikeApiKey(std::string_view token);

// Reads the JWT secret kept in `path`, creating it (64 random bytes, hex,
// mode 0600) when the file does not exist. kUnavailable on I/O errors.
Result<std::string> LoadOrCreateSecret(const std::string& path);

}  // namespace parley::auth
