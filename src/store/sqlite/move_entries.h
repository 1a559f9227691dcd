#pragma once
// Moves the entries of a database from before entry_db.h (the `messages`,
// `mentions`, `reactions` and `reaction_counts` tables) into RocksDB, then
// drops those tables. Run by Open on every start; a database without a
// `messages` table has nothing to move. Safe to interrupt: the copy is
// durable before the tables are dropped, and a copy done again writes the
// same keys.
#include "common/result.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/entry_db.h"

namespace parley::store::sqlite {

// The number of entries moved (0 when there was nothing to move).
Result<int64_t> MoveEntries(Connection& c, EntryDb& entries);

}  // namespace parley::store::sqlite
