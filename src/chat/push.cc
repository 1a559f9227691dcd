// Notification levels and Web Push subscriptions (PROTOCOL.md §8): the
// checks and the store calls. Sending is push::Sender's (src/push/).
#include "chat/service.h"
#include "push/endpoint.h"
#include "push/web_push_crypto.h"

namespace parley::chat {

Result<void> Service::SetNotifyLevel(UserId actor, ConversationId conv, NotifyLevel level) {
  if (auto ok = CheckMember(actor, conv); !ok) return ok;
  return d_.store.SetNotifyLevel(conv, actor, level);
}

Result<std::string> Service::PushPublicKey() const {
  if (!d_.vapid) return MakeError(Errc::kUnavailable, "Web Push is not available on this server");
  return d_.vapid->public_key;
}

Result<void> Service::AddPushSubscription(UserId user, std::string_view endpoint, std::string_view p256dh,
                                          std::string_view auth) {
  if (!d_.vapid) return MakeError(Errc::kUnavailable, "Web Push is not available on this server");
  if (auto ok = RequireActive(user); !ok) return ok.error();
  const push::Options& o = options_.push;
  if (auto ok = push::CheckEndpoint(endpoint, o.allow_private_addresses); !ok) return ok;
  if (auto keys = push::ParseReceiverKeys(p256dh, auth); !keys) return keys.error();
  store::PushSubscription s{user, std::string(endpoint), std::string(p256dh), std::string(auth)};
  // Kept without padding, as browsers write keys, so one key is one string.
  while (!s.p256dh.empty() && s.p256dh.back() == '=') s.p256dh.pop_back();
  while (!s.auth.empty() && s.auth.back() == '=') s.auth.pop_back();
  if (auto ok = d_.store.PutPushSubscription(s, o.max_subscriptions_per_user, d_.clock.NowMs()); !ok)
    return ok;
  if (d_.push_subscribed) d_.push_subscribed();
  return Ok();
}

Result<void> Service::RemovePushSubscription(UserId user, std::string_view endpoint) {
  if (auto ok = RequireActive(user); !ok) return ok.error();
  auto removed = d_.store.DeletePushSubscription(user, std::string(endpoint));
  if (!removed) return removed.error();
  if (!*removed) return MakeError(Errc::kNotFound, "no push subscription with that endpoint");
  return Ok();
}

}  // namespace parley::chat
