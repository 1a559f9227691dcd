#pragma once
// The webhooks part of the SQLite store (PROTOCOL.md §8): the statements
// behind Store's webhook methods, each run on a connection the store lends
// (the writer inside its transaction, or a reader). Internal to the SQLite
// backend; kept apart from sqlite_store.cc so the delivery state's rules
// read on one screen. On one node the lease is held by that node alone, but
// it follows the same rules as in a cluster.
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/sqlite/connection.h"
#include "store/store.h"

namespace parley::store::sqlite {

// Run by the writer inside its transaction (the count and the insert).
Result<WebhookRecord> InsertWebhook(Connection& c, ConversationId conv, const std::string& url,
                                    const std::string& secret, UserId created_by, int max_per_conv,
                                    TimeMs now);
Result<std::vector<WebhookRecord>> SelectWebhooks(Connection& c, ConversationId conv);
Result<WebhookRecord> SelectWebhook(Connection& c, int64_t id);
Result<bool> RemoveWebhook(Connection& c, ConversationId conv, int64_t id);
Result<std::vector<int64_t>> SelectDueWebhooks(Connection& c, const std::string& owner, TimeMs now,
                                               int limit);
Result<bool> SelectAnyWebhook(Connection& c);
// The writes of the delivery, each run by the writer.
Result<std::optional<WebhookRecord>> TakeWebhookLease(Connection& c, int64_t id, const std::string& owner,
                                                      TimeMs now, TimeMs lease_until);
Result<bool> MoveWebhookCursor(Connection& c, int64_t id, const std::string& owner, int64_t seq,
                               TimeMs lease_until);
Result<bool> NoteWebhookFailure(Connection& c, int64_t id, const std::string& owner, TimeMs now,
                                TimeMs next_attempt_at);
Result<void> GiveUpWebhookLease(Connection& c, int64_t id, const std::string& owner);

}  // namespace parley::store::sqlite
