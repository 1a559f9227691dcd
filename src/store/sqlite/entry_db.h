#pragma once
// The embedded backend's entries: everything a CommitBatch writes per entry,
// in RocksDB beside the SQLite database (`<database>.entries/`). SQLite
// keeps users, conversations, members and the rest, and the entries' derived
// indexes that queries join (the search index, attachments, last_seq, read
// markers: see index_work.h).
//
// Why: a message commit in SQLite updates random pages of several growing
// B-trees (the entries, the de-duplication and unread indexes). Measured to
// 1.4M messages it cost 84 to 101 µs per message and wrote 38 KB per message;
// the same write set as one synced RocksDB WriteBatch cost 27 to 29 µs and
// 411 bytes (bench/results/2026-12-07-s13-sqlite-commit-at-scale).
//
// Keys are a one-byte table tag and big-endian integers, so a conversation's
// entries are adjacent and ordered by seq:
//   E conv seq                 -> the entry, folded (EncodeEntry)
//   D sender client_msg_id     -> conv seq: de-duplication
//   U conv seq                 -> sender: text entries not deleted (unread counts)
//   M conv user seq            -> "": a text entry mentions user (mentions_unread)
//   S sender conv              -> "": the sender has made entries in conv
//   X conv target seq          -> "": an edit of a text entry (a delete erases their bodies)
//   R conv target user emoji   -> "": a reaction held
//   C conv target emoji        -> count first_seq: a reaction's count
//   W batch                    -> a batch's SQLite work (index_work.h), kept until
//                                 SQLite holds it durably (and the last one always)
// Nothing here includes RocksDB's headers: only entry_db.cc does.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"
#include "store/entry_folder.h"

namespace parley::store::sqlite {

// The value of an E key: every field of the entry but conv and seq (the key)
// and reactions (the C and R keys). Attachments keep their metadata, never
// their url.
std::string EncodeEntry(const Message& m);
Result<Message> DecodeEntry(std::string_view value, ConversationId conv, int64_t seq);

class EntryDb;

// The writes of one commit, applied at once by EntryDb::Write.
class EntryBatch {
 public:
  EntryBatch();
  ~EntryBatch();
  EntryBatch(const EntryBatch&) = delete;
  EntryBatch& operator=(const EntryBatch&) = delete;

  void PutEntry(const Message& m);
  void PutClientId(UserId sender, std::string_view client_msg_id, ConversationId conv, int64_t seq);
  void PutUnread(ConversationId conv, int64_t seq, UserId sender);
  void DeleteUnread(ConversationId conv, int64_t seq);
  void PutMention(ConversationId conv, UserId user, int64_t seq);
  void DeleteMention(ConversationId conv, UserId user, int64_t seq);
  void PutSenderConversation(UserId sender, ConversationId conv);
  void PutEdit(ConversationId conv, int64_t target, int64_t seq);
  void PutHeld(ConversationId conv, int64_t target, UserId user, std::string_view emoji);
  void DeleteHeld(ConversationId conv, int64_t target, UserId user, std::string_view emoji);
  void PutCount(ConversationId conv, int64_t target, std::string_view emoji, EmojiCount count);
  void DeleteCount(ConversationId conv, int64_t target, std::string_view emoji);
  // Every R and C key of a text entry.
  void DeleteReactionsOf(ConversationId conv, int64_t target);
  void PutWork(int64_t batch, std::string_view encoded);
  // The works of every batch up to `batch`.
  void DeleteWorkThrough(int64_t batch);
  size_t Count() const;

 private:
  friend class EntryDb;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class EntryDb {
 public:
  struct Options {
    std::string dir;   // created when missing
    bool sync = true;  // fsync every Write (durable before `sent`)
  };
  static Result<std::unique_ptr<EntryDb>> Open(const Options& options);
  ~EntryDb();
  EntryDb(const EntryDb&) = delete;
  EntryDb& operator=(const EntryDb&) = delete;

  // A consistent view for several reads (a RocksDB snapshot). Reads given
  // none see the latest writes.
  class View {
   public:
    explicit View(EntryDb& db);
    ~View();
    View(const View&) = delete;
    View& operator=(const View&) = delete;

   private:
    friend class EntryDb;
    EntryDb& db_;
    const void* snapshot_;
  };

  // Durable when it returns (with Options::sync). kUnavailable on failure:
  // nothing of the batch is written.
  Result<void> Write(EntryBatch& batch);

  Result<std::optional<Message>> Get(ConversationId conv, int64_t seq, const View* view = nullptr);
  // Where the sender's entry with this client id is, or nullopt.
  Result<std::optional<std::pair<ConversationId, int64_t>>> FindClientId(UserId sender,
                                                                         std::string_view client_msg_id);
  // A history page as Store::History defines it (entries only, not folded
  // with reactions), ascending by seq.
  Result<std::vector<Message>> Page(ConversationId conv, std::optional<int64_t> before,
                                    std::optional<int64_t> after, int limit, const View* view = nullptr);
  // The newest seq of conv (0 when it has no entry).
  Result<int64_t> LastSeq(ConversationId conv, const View* view = nullptr);
  // Text entries above `after`, not deleted, by others than `viewer`.
  Result<int64_t> CountUnread(ConversationId conv, int64_t after, UserId viewer, const View* view = nullptr);
  // Text entries above `after` that mention `user`.
  Result<int64_t> CountMentions(ConversationId conv, UserId user, int64_t after, const View* view = nullptr);
  // The conversations `sender` has made entries in, by id.
  Result<std::vector<ConversationId>> ConversationsOf(UserId sender);
  Result<std::vector<std::string>> Held(ConversationId conv, int64_t target, UserId user);
  Result<std::optional<EmojiCount>> Count(ConversationId conv, int64_t target, std::string_view emoji);
  // The seqs of the edits of a text entry.
  Result<std::vector<int64_t>> EditsOf(ConversationId conv, int64_t target);
  // Fills the reactions of the text entries of `page` (ascending by seq, of
  // conv) as the viewer sees them.
  Result<void> FoldReactions(ConversationId conv, UserId viewer, std::vector<Message>& page,
                             const View* view = nullptr);
  // The largest conversation id and sender id any entry holds (0 when none).
  struct TopIds {
    int64_t conv = 0;
    int64_t sender = 0;
  };
  Result<TopIds> Top();
  // The encoded works kept (PutWork), by batch.
  Result<std::vector<std::string>> Works();
  // Calls `f(entry)` for every entry, by conversation then seq; stops at
  // the first error `f` returns.
  Result<void> ForEach(const std::function<Result<void>(const Message&)>& f);

 private:
  friend Result<int64_t> CopyEntries(const std::string& from, const std::string& to,
                                     const std::string& scratch);
  struct Impl;
  explicit EntryDb(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Bytes the open EntryDbs of this process hold in memory: their write
// buffers, block caches and table readers (index and filter blocks).
int64_t EntriesMemoryUsed();

// The directory of the entries of the SQLite database at `db_path`.
std::string EntriesDir(const std::string& db_path);

// Copies the entries at `from` (a running server's, or a stopped one's)
// into a new database at `to`, as they are when the call starts reading:
// opened as a RocksDB secondary instance (which never writes `from`, and
// keeps its own files in `scratch`), caught up with the server's WAL, then
// every key copied. `to` is closed and flushed when it returns. Returns the
// number of keys copied.
Result<int64_t> CopyEntries(const std::string& from, const std::string& to, const std::string& scratch);

}  // namespace parley::store::sqlite
