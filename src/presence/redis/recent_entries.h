#pragma once
// The newest entries of each conversation in Redis (store/recent_entries.h):
// what a resume in a cluster reads instead of PostgreSQL.
//
// The sequencer hands each commit's new entries to Committed(), which queues
// them for a writer thread of its own: the commit path never waits for Redis.
// The writer appends each conversation's entries with one script
// (scripts.h, kAppendRecent; one round trip per batch), which keeps the
// window's seqs consecutive, starts a new window at a delete, keeps the last
// `recent_entries` and renews a TTL. Range() reads the part of the window
// after `after` (one script, one round trip) and folds it.
//
// When Redis is slow or away, writes are dropped and reads answer nullopt
// (the caller reads the store): for a second after a failure neither tries,
// so a lost Redis costs a resume nothing but the store's queries.
#include <memory>

#include "presence/redis/redis_presence.h"
#include "store/recent_entries.h"

namespace parley::presence::redis {

// The window of each conversation lives this long after its last write.
inline constexpr int64_t kRecentTtlMs = 24LL * 3600 * 1000;

// Loads the scripts (kUnavailable when Redis does not answer) and starts the
// writer. `options.recent_entries` > 0.
Result<std::unique_ptr<store::RecentEntries>> CreateRecentEntries(const Options& options);

}  // namespace parley::presence::redis
