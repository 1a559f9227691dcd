// Outgoing webhooks (PROTOCOL.md §8): who may add, list and delete them. The
// delivery itself lives in src/webhooks/, on its own worker pool.
#include <charconv>

#include "chat/service.h"

namespace parley::chat {

Result<void> Service::RequireWebhookManager(UserId actor, ConversationId conv) {
  auto c = RequireMember(actor, conv);
  if (!c) return c.error();
  auto role = d_.store.GetRole(conv, actor);
  if (!role) return std::move(role).error();
  if (!*role || (**role != Role::kOwner && **role != Role::kAdmin)) {
    return MakeError(Errc::kForbidden, "only the owner and admins manage webhooks");
  }
  return Ok();
}

Result<NewWebhook> Service::CreateWebhook(UserId actor, ConversationId conv, std::string_view url) {
  if (auto ok = RequireWebhookManager(actor, conv); !ok) return ok.error();
  if (!d_.check_webhook_url) return MakeError(Errc::kUnavailable, "webhooks are not available");
  if (auto ok = d_.check_webhook_url(url); !ok) return ok.error();
  // 32 random bytes (base64url), the HMAC key of every signature.
  return d_.store.CreateWebhook(conv, std::string(url), auth::NewRefreshToken(), actor,
                                options_.max_webhooks_per_conversation, d_.clock.NowMs());
}

Result<std::vector<store::WebhookRecord>> Service::Webhooks(UserId actor, ConversationId conv) {
  if (auto ok = RequireWebhookManager(actor, conv); !ok) return ok.error();
  return d_.store.ListWebhooks(conv);
}

Result<void> Service::DeleteWebhook(UserId actor, ConversationId conv, std::string_view id) {
  if (auto ok = RequireWebhookManager(actor, conv); !ok) return ok.error();
  int64_t wid = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), wid);
  if (ec != std::errc() || end != id.data() + id.size()) return MakeError(Errc::kNotFound, "no such webhook");
  auto removed = d_.store.DeleteWebhook(conv, wid);
  if (!removed) return std::move(removed).error();
  if (!*removed) return MakeError(Errc::kNotFound, "no such webhook");
  return Ok();
}

}  // namespace parley::chat
