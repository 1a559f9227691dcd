#pragma once
// What a CommitBatch changes in SQLite once its entries are in RocksDB
// (entry_db.h): the conversations' last_seq, the senders' read markers, the
// search index and the attachments of uploads. One batch's work is written
// into the RocksDB batch itself (key W) before SQLite applies it, and SQLite
// records the number of the last batch it applied (table entry_log) in the
// same transaction. So when the process dies between the two, the next open
// applies the work SQLite lacks (Reconcile in sqlite_store.cc), and a commit
// is never half in one engine.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"
#include "store/sqlite/connection.h"

namespace parley::store::sqlite {

struct IndexWork {
  int64_t batch = 0;  // numbered from 1, one per CommitBatch that stored something
  struct Advance {
    ConversationId conv;
    int64_t last_seq = 0;
    TimeMs last_ts = 0;
    bool operator==(const Advance&) const = default;
  };
  struct ReadMark {
    ConversationId conv;
    UserId user;
    int64_t seq = 0;
    bool operator==(const ReadMark&) const = default;
  };
  // A text entry whose indexed text is set: a new one (`fresh`), or one an
  // edit or a delete changed.
  struct Text {
    ConversationId conv;
    int64_t seq = 0;
    TimeMs ts = 0;
    std::string body;
    bool deleted = false;
    bool fresh = false;
    bool operator==(const Text&) const = default;
  };
  struct Attach {
    ConversationId conv;
    int64_t seq = 0;
    std::vector<UploadId> uploads;  // in the order sent
    bool operator==(const Attach&) const = default;
  };
  std::vector<Advance> advances;
  std::vector<ReadMark> read_marks;
  std::vector<Text> texts;
  std::vector<Attach> attachments;
  std::vector<std::pair<ConversationId, int64_t>> deleted;  // text entries deleted: their attachments die

  bool operator==(const IndexWork&) const = default;
};

std::string EncodeIndexWork(const IndexWork& work);
Result<IndexWork> DecodeIndexWork(std::string_view encoded);

// Applies `work` on the writer inside its transaction, and records its batch
// as applied.
Result<void> ApplyIndexWork(Connection& c, const IndexWork& work);

// The number of the last batch SQLite applied (0: none).
Result<int64_t> AppliedBatch(Connection& c);

}  // namespace parley::store::sqlite
