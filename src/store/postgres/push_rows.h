#pragma once
// The notification levels and Web Push part of the PostgreSQL store
// (PROTOCOL.md §8): the statements behind Store's push methods, each one
// statement on a connection the store lends. Internal to the PostgreSQL
// backend, apart from postgres_store.cc as upload_rows.cc is.
#include <string>

#include "common/result.h"
#include "store/postgres/connection.h"
#include "store/store.h"

namespace parley::store::postgres {

Result<void> UpdateNotifyLevel(Connection& c, ConversationId conv, UserId user, NotifyLevel level);
Result<std::string> KeepSecret(Connection& c, const std::string& name, const std::string& candidate);
Result<void> UpsertPushSubscription(Connection& c, const PushSubscription& s, int max_per_user, TimeMs now);
Result<bool> RemovePushSubscription(Connection& c, UserId user, const std::string& endpoint);
Result<PushAudience> SelectPushAudience(Connection& c, ConversationId conv, UserId sender);
Result<bool> SelectAnyPushSubscription(Connection& c);

}  // namespace parley::store::postgres
