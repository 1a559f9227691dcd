#pragma once
// The signed urls of uploads (PROTOCOL.md §6): a path under
// /v1/uploads/{id} that works without any header, so `<img src>` works in a
// browser. The signature is HMAC-SHA256 over the upload id and the expiry,
// under a key derived from the server's secret (every node of a cluster
// shares it, so every node accepts every node's urls). Immutable after
// construction: any thread may use it.
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/result.h"

namespace parley::uploads {

class UrlSigner {
 public:
  // A url made at any moment stays valid at least this long.
  static constexpr TimeMs kMinValidityMs = 24 * 3600 * 1000;

  // `server_secret`: the server's HMAC secret (auth.jwt_secret). The urls'
  // key is derived from it, so a url signature never doubles as a token's.
  explicit UrlSigner(std::string_view server_secret);

  // The expiry of a url made at `now`: between kMinValidityMs and one hour
  // more, on a whole hour, so urls made within the same hour are the same
  // string (a browser's cache keeps one copy).
  static TimeMs ExpiryFor(TimeMs now);

  // "/v1/uploads/<id>?exp=<ms>&sig=<64 hex digits>".
  std::string Url(UploadId id, TimeMs expires) const;

  // Checks a url's `exp` and `sig` query values for upload `id` at `now`:
  // kForbidden when either is malformed, the signature does not match (a
  // tampered id or expiry), or the url has expired.
  Result<void> Check(UploadId id, std::string_view exp, std::string_view sig, TimeMs now) const;

 private:
  std::string Signature(UploadId id, TimeMs expires) const;

  std::string key_;
};

}  // namespace parley::uploads
