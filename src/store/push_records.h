#pragma once
// The values of Web Push and notification levels (PROTOCOL.md §8) that the
// store keeps: a user's push subscriptions, and who a new text entry of a
// conversation may be pushed to.
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/model.h"

namespace parley::store {

// One browser's push subscription. The keys are kept as the client sent
// them, base64url (the service checked they decode to a P-256 point and to
// 16 bytes).
struct PushSubscription {
  UserId user;
  std::string endpoint;
  std::string p256dh;
  std::string auth;

  bool operator==(const PushSubscription&) const = default;
};

// A member of a conversation with at least one subscription, and their level
// (their default resolved by the conversation's kind).
struct PushRecipient {
  UserId user;
  NotifyLevel level = NotifyLevel::kAll;
  std::vector<PushSubscription> subscriptions;
};

// What a push of a new entry needs: the conversation's kind and title, the
// sender's display name, and the members other than the sender that have
// subscriptions and a level other than `none`, by user id.
struct PushAudience {
  ConversationKind kind = ConversationKind::kGroup;
  std::optional<std::string> title;
  std::string sender_name;
  std::vector<PushRecipient> recipients;
};

// The stored value of a member's level: NULL (never chosen) or one of these.
inline int64_t NotifyLevelCode(NotifyLevel l) { return static_cast<int64_t>(l); }
inline NotifyLevel NotifyLevelFromCode(std::optional<int64_t> code, ConversationKind kind) {
  if (!code || *code < 0 || *code > 2) return DefaultNotifyLevel(kind);
  return static_cast<NotifyLevel>(*code);
}

}  // namespace parley::store
