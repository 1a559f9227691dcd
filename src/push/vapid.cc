#include "push/vapid.h"

#include "auth/base64url.h"

namespace parley::push {

namespace {
constexpr const char* kSecretName = "vapid_private_key";
}

Result<Vapid> LoadOrCreateVapid(store::Store& store, const std::string& subject) {
  PARLEY_ASSIGN_OR_RETURN(std::shared_ptr<const EcKey> candidate, EcKey::Generate());
  PARLEY_ASSIGN_OR_RETURN(std::string kept, store.KeepServerSecret(kSecretName, candidate->ToPrivatePem()));
  PARLEY_ASSIGN_OR_RETURN(std::shared_ptr<const EcKey> key, EcKey::FromPrivatePem(kept));
  Vapid out;
  out.public_key = auth::Base64UrlEncode(key->PublicPoint());
  out.key = std::move(key);
  out.subject = subject;
  return out;
}

}  // namespace parley::push
