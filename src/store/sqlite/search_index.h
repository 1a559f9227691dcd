#pragma once
// The SQLite backend's search index (PROTOCOL.md §6): the FTS5 table
// `message_search` (migration 5), written inside CommitBatch's transaction so
// it can never disagree with the entries, and the cursor of its pages.
// Internal to the SQLite backend; the search query itself is in
// sqlite_store.cc beside the other reads of entries.
//
// Layout: one row per text entry that is not deleted and has a body, with
// its current body in `text` and its (conv, seq) in the unindexed columns
// `conv_id` and `entry_seq`. The rowid is (ts << 20) + a slot, the first
// free one within that millisecond, so rowid order is ts order and a search
// reads the index newest first, stopping once its page is full. An entry's
// row is found again by its ts (the rowid range of its millisecond) and
// (conv, seq).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/entry_folder.h"
#include "store/sqlite/connection.h"
#include "store/store.h"

namespace parley::store::sqlite {

// Brings the index in step with one CommitBatch, on its writer inside its
// transaction, after the entries and their folds are written: indexes the
// new text entries of `committed` (duplicates skipped), then applies each
// target whose body changed: an edit replaces the indexed text, a delete
// removes the row. kUnavailable/kInternal as the writes fail (the caller
// rolls the whole batch back).
Result<void> IndexBatch(Connection& c, std::span<const Result<Committed>> committed,
                        std::span<const FoldWrites::TargetUpdate> targets);

// A page's cursor: the rowid of its last result, below which the next page
// starts. "" decodes to the top of the index; anything this backend did not
// make is kBadRequest.
std::string EncodeSearchCursor(int64_t rowid);
Result<int64_t> DecodeSearchCursor(std::string_view cursor);

}  // namespace parley::store::sqlite
