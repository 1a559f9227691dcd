#pragma once
// The SQLite backend's search index (PROTOCOL.md §6): the FTS5 table
// `message_search` (migration 5), written by the SQLite transaction of each
// CommitBatch (index_work.h), and the cursor of its pages.
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
#include "common/ids.h"
#include "common/model.h"
#include "store/sqlite/connection.h"
#include "store/store.h"

namespace parley::store::sqlite {

// Indexes the text entry (conv, seq) of time `ts` with `text` (its body).
// On the writer inside a transaction; kUnavailable/kInternal as the writes
// fail (the caller rolls the transaction back).
Result<void> IndexText(Connection& c, ConversationId conv, int64_t seq, TimeMs ts, std::string_view text);
// Sets the indexed text of the text entry (conv, seq) of time `ts` to its
// folded state: an edit replaces the text, a delete (or an empty body)
// removes the row.
Result<void> ReindexText(Connection& c, ConversationId conv, int64_t seq, TimeMs ts, std::string_view text,
                         bool deleted);
// Empties the index (before it is rebuilt from the entries).
Result<void> ClearIndex(Connection& c);

// A page's cursor: the rowid of its last result, below which the next page
// starts. "" decodes to the top of the index; anything this backend did not
// make is kBadRequest.
std::string EncodeSearchCursor(int64_t rowid);
Result<int64_t> DecodeSearchCursor(std::string_view cursor);

}  // namespace parley::store::sqlite
