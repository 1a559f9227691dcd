#pragma once
// What both store backends do with the rows of their push audience query
// (PROTOCOL.md §8): internal to the store backends.
#include <optional>
#include <string>

#include "store/push_records.h"

namespace parley::store {

// Adds one row (a member, their stored level, one subscription; rows come
// by member) to `audience`, whose kind is set: drops members at `none` and
// groups a member's subscriptions.
inline void AddAudienceRow(PushAudience& audience, UserId user, std::optional<int64_t> level_code,
                           std::string endpoint, std::string p256dh, std::string auth) {
  NotifyLevel level = NotifyLevelFromCode(level_code, audience.kind);
  if (level == NotifyLevel::kNone) return;
  auto& r = audience.recipients;
  if (r.empty() || r.back().user != user) r.push_back({user, level, {}});
  r.back().subscriptions.push_back({user, std::move(endpoint), std::move(p256dh), std::move(auth)});
}

}  // namespace parley::store
