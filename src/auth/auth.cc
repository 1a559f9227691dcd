#include "auth/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include <boost/json.hpp>

#include "auth/base64url.h"
#include "auth/jwt_parts.h"

namespace parley::auth {
namespace {

namespace json = boost::json;

// A secret shorter than this (after trimming) is refused.
constexpr size_t kMinSecretBytes = 32;
constexpr size_t kSecretRandomBytes = 64;
constexpr size_t kRefreshTokenBytes = 32;
// The fixed, pre-encoded JWT header every issued token carries.
constexpr std::string_view kJwtHeader = R"({"alg":"HS256","typ":"JWT"})";

// sodium_init() once per process; it is itself thread-safe, the static makes
// later calls free.
void EnsureSodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) {
      std::fputs("parley: libsodium failed to initialise\n", stderr);
      std::abort();
    }
    return true;
  }();
  (void)ready;
}

Error Unauthorized(std::string message) { return MakeError(Errc::kUnauthorized, std::move(message)); }

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

// HMAC-SHA256 of `data` under `key`; false only if OpenSSL fails.
bool HmacSha256(std::string_view key, std::string_view data, std::array<unsigned char, 32>& out) {
  static const char kEmpty = 0;
  const char* key_ptr = key.empty() ? &kEmpty : key.data();
  unsigned int out_len = 0;
  unsigned char* r =
      HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &out_len);
  return r != nullptr && out_len == out.size();
}

std::string_view Trim(std::string_view s) {
  const char* ws = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

Error IoError(const std::string& what, const std::string& path, int err) {
  return MakeError(Errc::kUnavailable, what + " " + path + ": " + std::strerror(err));
}

// Reads an existing secret file and checks it.
Result<std::string> ReadSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open JWT secret file", path, errno);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return IoError("cannot read JWT secret file", path, errno);
  std::string secret(Trim(buf.str()));
  if (secret.size() < kMinSecretBytes) {
    return MakeError(Errc::kBadRequest, "JWT secret file " + path + " holds " +
                                            std::to_string(secret.size()) + " bytes; it needs at least " +
                                            std::to_string(kMinSecretBytes) +
                                            " (delete it to have a new one generated)");
  }
  return secret;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- credentials

Result<std::string> FoldUsername(std::string_view raw) {
  static constexpr std::string_view kRule =
      "username must be 3 to 32 characters of a-z, 0-9, '_', '.', '-' (upper case is folded to lower)";
  if (raw.size() < 3 || raw.size() > 32) return MakeError(Errc::kBadRequest, std::string(kRule));
  std::string folded;
  folded.reserve(raw.size());
  for (char c : raw) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return MakeError(Errc::kBadRequest, std::string(kRule));
    folded.push_back(c);
  }
  return folded;
}

Result<void> CheckPassword(std::string_view password) {
  if (password.size() < 8 || password.size() > 1024) {
    return MakeError(Errc::kBadRequest, "password must be 8 to 1024 bytes");
  }
  return Ok();
}

Result<PasswordStrength> ParseStrength(std::string_view name) {
  if (name == "min") return PasswordStrength::kMin;
  if (name == "interactive") return PasswordStrength::kInteractive;
  if (name == "moderate") return PasswordStrength::kModerate;
  if (name == "sensitive") return PasswordStrength::kSensitive;
  return MakeError(Errc::kBadRequest,
                   "password strength must be one of min|interactive|moderate|sensitive, got \"" +
                       std::string(name) + "\"");
}

// ---------------------------------------------------------------- passwords

PasswordHasher::PasswordHasher(PasswordStrength strength) {
  EnsureSodium();
  switch (strength) {
    case PasswordStrength::kMin:
      ops_ = crypto_pwhash_OPSLIMIT_MIN;
      mem_ = crypto_pwhash_MEMLIMIT_MIN;
      break;
    case PasswordStrength::kInteractive:
      ops_ = crypto_pwhash_OPSLIMIT_INTERACTIVE;
      mem_ = crypto_pwhash_MEMLIMIT_INTERACTIVE;
      break;
    case PasswordStrength::kModerate:
      ops_ = crypto_pwhash_OPSLIMIT_MODERATE;
      mem_ = crypto_pwhash_MEMLIMIT_MODERATE;
      break;
    case PasswordStrength::kSensitive:
    default:
      ops_ = crypto_pwhash_OPSLIMIT_SENSITIVE;
      mem_ = crypto_pwhash_MEMLIMIT_SENSITIVE;
      break;
  }
}

Result<std::string> PasswordHasher::Hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), ops_, mem_) != 0) {
    // libsodium fails here only when it cannot allocate the memory it needs.
    return MakeError(Errc::kUnavailable, "password hashing failed (out of memory)");
  }
  return std::string(out);
}

bool PasswordHasher::Verify(std::string_view hash, std::string_view password) const {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  if (hash.find('\0') != std::string_view::npos) return false;
  std::string h(hash);  // libsodium wants a NUL-terminated string
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

// ---------------------------------------------------------------- access tokens

TokenIssuer::TokenIssuer(std::string secret, int access_ttl_s, const Clock& clock)
    : secret_(std::move(secret)), ttl_s_(access_ttl_s), clock_(clock) {}

std::string TokenIssuer::Issue(UserId user, std::string_view username, int64_t epoch) const {
  const int64_t iat = clock_.NowMs() / 1000;
  json::object payload;
  payload["sub"] = user.ToString();
  payload["name"] = username;
  payload["iat"] = iat;
  payload["exp"] = iat + ttl_s_;
  payload["typ"] = "access";
  payload["ep"] = epoch;

  std::string token = Base64UrlEncode(kJwtHeader);
  token.push_back('.');
  token += Base64UrlEncode(json::serialize(payload));
  std::array<unsigned char, 32> mac{};
  if (!HmacSha256(secret_, token, mac)) {
    // OpenSSL cannot fail on SHA-256 short of a broken build: a token nobody
    // will accept is the safe answer.
    return token + ".";
  }
  token.push_back('.');
  token += Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  return token;
}

Result<Claims> TokenIssuer::Verify(std::string_view token) const {
  try {
    auto parts = jwt::Split(token);
    if (!parts) return std::move(parts).error();
    const std::string_view header_b64 = parts->header_b64;
    const std::string_view payload_b64 = parts->payload_b64;
    const std::string_view sig_b64 = parts->signature_b64;
    const std::string_view signed_part = parts->signed_part;

    // Header: the algorithm decides everything, so it is pinned.
    json::object header;
    if (!jwt::DecodeJsonObject(header_b64, header)) return Unauthorized("malformed token: bad header");
    const json::value* alg = header.if_contains("alg");
    if (alg == nullptr || !alg->is_string()) return Unauthorized("malformed token: header has no alg");
    if (alg->get_string() != "HS256") {
      // At most 16 bytes, cut on a UTF-8 character boundary (the message
      // reaches clients in JSON).
      std::string_view shown = alg->get_string();
      size_t cut = std::min<size_t>(shown.size(), 16);
      while (cut < shown.size() && cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) --cut;
      std::string name(shown.substr(0, cut));
      return Unauthorized("unsupported algorithm \"" + name + "\"");
    }
    if (const json::value* typ = header.if_contains("typ"); typ != nullptr) {
      if (!typ->is_string() || typ->get_string() != "JWT")
        return Unauthorized("malformed token: header typ is not JWT");
    }
    if (header.contains("crit")) return Unauthorized("unsupported critical header");

    // Signature, before anything in the payload is believed.
    std::string sig;
    if (!Base64UrlDecode(sig_b64, sig)) return Unauthorized("malformed token: bad signature encoding");
    std::array<unsigned char, 32> mac{};
    if (!HmacSha256(secret_, signed_part, mac)) return MakeError(Errc::kInternal, "HMAC failed");
    if (sig.size() != mac.size() || CRYPTO_memcmp(sig.data(), mac.data(), mac.size()) != 0) {
      return Unauthorized("bad signature");
    }

    // Claims.
    json::object payload;
    if (!jwt::DecodeJsonObject(payload_b64, payload)) return Unauthorized("malformed token: bad payload");
    const json::value* typ = payload.if_contains("typ");
    if (typ == nullptr || !typ->is_string() || typ->get_string() != "access") {
      return Unauthorized("not an access token");
    }
    const json::value* sub = payload.if_contains("sub");
    if (sub == nullptr || !sub->is_string()) return Unauthorized("malformed token: no subject");
    auto user = UserId::Parse(sub->get_string());
    if (!user) return Unauthorized("malformed token: bad subject");
    const json::value* name = payload.if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty()) {
      return Unauthorized("malformed token: no name");
    }
    int64_t iat = 0;
    int64_t exp = 0;
    if (!jwt::GetSeconds(payload, "iat", iat)) return Unauthorized("malformed token: bad iat");
    if (!jwt::GetSeconds(payload, "exp", exp)) return Unauthorized("malformed token: bad exp");
    if (exp * 1000 <= clock_.NowMs()) return Unauthorized("token expired");
    int64_t epoch = 0;
    if (payload.contains("ep") && (!jwt::GetSeconds(payload, "ep", epoch) || epoch < 0))
      return Unauthorized("malformed token: bad ep");

    Claims claims;
    claims.user = *user;
    claims.username = std::string(name->get_string());
    claims.issued_at = iat * 1000;
    claims.expires_at = exp * 1000;
    claims.epoch = epoch;
    return claims;
  } catch (const std::exception&) {
    // Only allocation failures can land here; never let them escape.
    return Unauthorized("malformed token");
  }
}

// ---------------------------------------------------------------- refresh tokens

std::string NewRefreshToken() {
  EnsureSodium();
  std::array<unsigned char, kRefreshTokenBytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string HashToken(std::string_view token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    std::fputs("parley: SHA-256 failed\n", stderr);
    std::abort();  // a broken crypto library: nothing sensible to store
  }
  return Hex(md, len);
}

std::string NewApiKey() { return std::string(kApiKeyPrefix) + NewRefreshToken(); }

bool LooksLikeApiKey(std::string_view token) {
  return token.size() > kApiKeyPrefix.size() && token.size() <= 256 && token.starts_with(kApiKeyPrefix);
}

// ---------------------------------------------------------------- secret file

Result<std::string> LoadOrCreateSecret(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) return MakeError(Errc::kBadRequest, "JWT secret path is empty");
  std::error_code ec;
  if (fs::exists(path, ec)) {
    if (!fs::is_regular_file(path, ec)) {
      return MakeError(Errc::kUnavailable, "JWT secret file " + path + " is not a regular file");
    }
    return ReadSecret(path);
  }
  if (ec) return IoError("cannot stat JWT secret file", path, ec.value());

  EnsureSodium();
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) return IoError("cannot create directory", parent.string(), ec.value());
  }

  std::array<unsigned char, kSecretRandomBytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  const std::string secret = Hex(bytes.data(), bytes.size());
  sodium_memzero(bytes.data(), bytes.size());

  // Write a private temp file, then publish it under the final name. link()
  // does not replace: if another process won the race, its secret is the one.
  std::array<unsigned char, 8> tag{};
  randombytes_buf(tag.data(), tag.size());
  const std::string tmp = path + ".tmp-" + Hex(tag.data(), tag.size());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create", tmp, errno);
  ::fchmod(fd, 0600);  // independent of the umask
  const bool written = WriteAll(fd, secret + "\n") && ::fsync(fd) == 0;
  const int write_errno = errno;
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    return IoError("cannot write", tmp, write_errno);
  }

  if (::link(tmp.c_str(), path.c_str()) == 0) {
    ::unlink(tmp.c_str());
  } else if (errno == EEXIST) {
    ::unlink(tmp.c_str());
    return ReadSecret(path);
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {  // file systems without hard links
    const int err = errno;
    ::unlink(tmp.c_str());
    return IoError("cannot rename to", path, err);
  }
  if (!parent.empty()) {
    int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return secret;
}

}  // namespace parley::auth
