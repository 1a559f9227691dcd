#pragma once
// SHA-256 computed a piece at a time (OpenSSL EVP), so an upload is hashed
// as it streams through and never needs to be held whole.
#include <memory>
#include <string>
#include <string_view>

namespace parley::uploads {

// One running digest. Owned by one thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything given so far, as 64 lowercase hex digits.
  // Ends the digest: later calls return the same value, and Update must not
  // be called again.
  std::string HexDigest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::string digest_;  // set by the first HexDigest
};

// Lowercase hex of `bytes`.
std::string Hex(std::string_view bytes);

}  // namespace parley::uploads
