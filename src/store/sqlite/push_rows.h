#pragma once
// The notification levels and Web Push part of the SQLite store
// (PROTOCOL.md §8): the statements behind Store's push methods, each run on
// a connection the store lends (the writer inside its transaction, or a
// reader). Internal to the SQLite backend, apart from sqlite_store.cc as
// upload_rows.cc is.
#include <string>

#include "common/result.h"
#include "store/sqlite/connection.h"
#include "store/store.h"

namespace parley::store::sqlite {

// Run by the writer inside its transaction.
Result<void> UpdateNotifyLevel(Connection& c, ConversationId conv, UserId user, NotifyLevel level);
Result<std::string> KeepSecret(Connection& c, const std::string& name, const std::string& candidate);
Result<void> UpsertPushSubscription(Connection& c, const PushSubscription& s, int max_per_user, TimeMs now);
Result<bool> RemovePushSubscription(Connection& c, UserId user, const std::string& endpoint);
// Run on a reader, in one read transaction.
Result<PushAudience> SelectPushAudience(Connection& c, ConversationId conv, UserId sender);
Result<bool> SelectAnyPushSubscription(Connection& c);

}  // namespace parley::store::sqlite
