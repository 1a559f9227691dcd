#pragma once
// The newest entries of each conversation, kept beside the store so that a
// resume reads them without a query: in a cluster, a window of the last
// entries per conversation in Redis (presence/redis/recent_entries.h),
// written by the sequencer after each commit. One node has none.
//
// A window is a run of consecutive seqs [lo, hi] of one conversation, each
// entry as CommitBatch returned it (raw: a text entry unfolded, a change
// entry with what it changes). Its writer keeps three promises, whatever it
// misses (a lost write, a Redis restart, two nodes during a rebalance):
//  - it holds only committed entries (written after the commit);
//  - its seqs are consecutive (an entry that does not follow hi starts a new
//    window at that entry);
//  - it never holds a body a delete erased (a delete starts a new window).
// Folding a window therefore gives what the store serves for any range
// inside it up to hi, provided hi is at least the store's last_seq as the
// caller read it: every change to a text entry of the range has a larger
// seq, so the window holds it.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/ids.h"
#include "common/model.h"

namespace parley::store {

class RecentEntries {
 public:
  virtual ~RecentEntries() = default;
  // Entries just committed (not duplicates), ascending by seq within each
  // conversation, in commit order. Never blocks; what it cannot keep it
  // drops (the windows restart, see above).
  virtual void Committed(std::span<const Message> entries) = 0;
  // What Store::History(conv, upto + 1, after, limit, viewer) returns, when
  // the window of `conv` holds after+1 .. last_seq; nullopt when it does
  // not, or the cache cannot answer (the caller reads the store).
  // `last_seq` is the conversation's as the caller read it from the store
  // (upto <= last_seq): every change to an entry of the range up to it is
  // then in the window, so the page is folded as the store would fold it.
  virtual std::optional<std::vector<Message>> Range(ConversationId conv, int64_t after, int64_t upto,
                                                    int64_t last_seq, int limit, UserId viewer) = 0;
};

// The folding behind Range, shared by every cache: `window` ascending by seq.
// Nullopt when it is not consecutive or does not hold after+1 .. last_seq
// (and upto <= last_seq). Otherwise the entries after+1 .. upto, at most
// `limit` from after+1, as History serves them: text entries folded with
// every change the window holds (reactions' `me` for `viewer`), change
// entries as stored (an edit's body erased when a later delete of its
// target is in the window).
std::optional<std::vector<Message>> FoldWindow(std::span<const Message> window, int64_t after, int64_t upto,
                                               int64_t last_seq, int limit, UserId viewer);

}  // namespace parley::store
