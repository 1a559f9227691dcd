#pragma once
// The webhooks part of the PostgreSQL store (PROTOCOL.md §8): the statements
// behind Store's webhook methods, each on a connection the store lends.
// Internal to the PostgreSQL backend; kept apart from postgres_store.cc so
// the delivery state's rules, the lease above all, read on one screen.
//
// The lease: one UPDATE takes a webhook for an owner when the lease expired
// or is the owner's already, so of several nodes scanning at once exactly
// one wins; the winner renews it with every cursor move and a node that
// dies hands the webhook over when its lease runs out.
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/postgres/connection.h"
#include "store/store.h"

namespace parley::store::postgres {

// Runs its own transaction (the conversation row locked, so the cap holds).
Result<WebhookRecord> InsertWebhook(Connection& c, ConversationId conv, const std::string& url,
                                    const std::string& secret, UserId created_by, int max_per_conv,
                                    TimeMs now);
Result<std::vector<WebhookRecord>> SelectWebhooks(Connection& c, ConversationId conv);
Result<WebhookRecord> SelectWebhook(Connection& c, int64_t id);
Result<bool> RemoveWebhook(Connection& c, ConversationId conv, int64_t id);
Result<std::vector<int64_t>> SelectDueWebhooks(Connection& c, const std::string& owner, TimeMs now,
                                               int limit);
Result<bool> SelectAnyWebhook(Connection& c);
// Each one statement.
Result<std::optional<WebhookRecord>> TakeWebhookLease(Connection& c, int64_t id, const std::string& owner,
                                                      TimeMs now, TimeMs lease_until);
Result<bool> MoveWebhookCursor(Connection& c, int64_t id, const std::string& owner, int64_t seq,
                               TimeMs lease_until);
Result<bool> NoteWebhookFailure(Connection& c, int64_t id, const std::string& owner, TimeMs now,
                                TimeMs next_attempt_at);
Result<void> GiveUpWebhookLease(Connection& c, int64_t id, const std::string& owner);

}  // namespace parley::store::postgres
