#pragma once
// The rules of PROTOCOL.md §5 that depend on what is stored, written once for
// every store backend: which change entries a CommitBatch may store, and what
// each does to the folded state of its target. A backend reads state through
// EntrySource (inside its commit transaction, under the conversation's write
// lock), feeds the batch's entries to an EntryFolder in seq order, and then
// writes what Writes() lists, in the same transaction.
//
// Also here: the column codes both backends store (kind, op, mentions) and
// the folding of a history page's reactions, so the two backends cannot
// drift apart on either.
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"
#include "store/store.h"

namespace parley::store {

// --- column codes -------------------------------------------------------------
// kind and op are stored as small integers: 0 text, 1 edit, 2 delete,
// 3 reaction; 0 add, 1 remove.
int64_t EntryKindCode(EntryKind kind) noexcept;
Result<EntryKind> EntryKindFromCode(int64_t code);
int64_t ReactionOpCode(ReactionOp op) noexcept;
// A text entry's mentions are stored as decimal ids separated by spaces.
std::string EncodeMentions(std::span<const UserId> mentions);
std::vector<UserId> DecodeMentions(std::string_view text);

// --- reading a history page ---------------------------------------------------
// One emoji's count on a text entry, in the order its emoji was first added.
struct EmojiCountRow {
  int64_t target = 0;
  std::string emoji;
  int64_t count = 0;
};
// Fills the `reactions` of the text entries of `page` (ascending by seq) from
// `counts` (ordered by target, then first-added order) and the (target,
// emoji) pairs the viewer holds.
void AttachReactions(std::vector<Message>& page, std::span<const EmojiCountRow> counts,
                     const std::set<std::pair<int64_t, std::string>, std::less<>>& mine);

// --- committing change entries --------------------------------------------------

// What the folder needs to know of a stored entry.
struct EntryRow {
  EntryKind kind = EntryKind::kText;
  UserId sender;
  bool deleted = false;
};

// An emoji's count on a text entry and the seq of the add that took it from
// 0 to 1 (which orders the reactions list).
struct EmojiCount {
  int64_t count = 0;
  int64_t first_seq = 0;
};

// Reads of a backend's commit transaction. Each is asked at most once per key
// and batch (the folder remembers the answers and tracks its own changes).
class EntrySource {
 public:
  virtual ~EntrySource() = default;
  // The entry at (conv, seq), or nullopt.
  virtual Result<std::optional<EntryRow>> Entry(ConversationId conv, int64_t seq) = 0;
  // The sender's role in conv (they are a member).
  virtual Result<Role> RoleOf(ConversationId conv, UserId user) = 0;
  // The emoji `user` holds on the text entry (conv, target).
  virtual Result<std::vector<std::string>> Held(ConversationId conv, int64_t target, UserId user) = 0;
  // The count of `emoji` on (conv, target), nullopt when nobody holds it.
  virtual Result<std::optional<EmojiCount>> Count(ConversationId conv, int64_t target,
                                                  const std::string& emoji) = 0;
  // The members of conv among `names` (folded usernames): name -> user id.
  virtual Result<std::map<std::string, UserId, std::less<>>> MembersNamed(
      ConversationId conv, std::span<const std::string> names) = 0;
};

// What the applied entries change beyond inserting themselves. The backend
// writes these after inserting the batch's entries, in this order:
// target updates, mention rows, reaction rows, emoji counts, then the
// erasures of deleted targets.
struct FoldWrites {
  // A text entry's new folded state (one per target, its final state).
  struct TargetUpdate {
    ConversationId conv;
    int64_t seq = 0;
    bool body_changed = false;  // edited or deleted: `body` replaces it
    std::string body;
    std::optional<TimeMs> edited_ts;
    bool deleted = false;
    std::vector<UserId> mentions;  // replaces the stored list when body_changed
    int64_t state_seq = 0;
  };
  // The mentions index of one text entry, replaced (users other than its
  // sender: the ones its mentions_unread counts).
  struct MentionRows {
    ConversationId conv;
    int64_t seq = 0;
    std::vector<UserId> users;
  };
  // One (user, emoji) on a text entry, to insert (held) or delete.
  struct ReactionRow {
    ConversationId conv;
    int64_t target = 0;
    UserId user;
    std::string emoji;
    bool held = false;
  };
  // One emoji's count on a text entry, to upsert (count > 0) or delete.
  struct CountRow {
    ConversationId conv;
    int64_t target = 0;
    std::string emoji;
    EmojiCount count;
  };
  std::vector<TargetUpdate> targets;
  std::vector<MentionRows> mentions;
  std::vector<ReactionRow> reactions;
  std::vector<CountRow> counts;
  // Deleted in this batch: every reaction, count and mention row of these
  // text entries goes, and the bodies of the edits of them are erased.
  std::vector<std::pair<ConversationId, int64_t>> erased;
};

// Decides the entries of one CommitBatch transaction and folds their
// effects. Lives for one transaction attempt on the backend's writer thread;
// `source` must outlive it.
class EntryFolder {
 public:
  explicit EntryFolder(EntrySource& source) : source_(source) {}

  // Decides `m` (its conversation exists, its sender is a member, it is not
  // a duplicate), which gets `seq` if it is accepted. Accepted: its effects
  // are recorded and the entry as stored is returned (a text entry with its
  // mentions resolved). Refused: the per-entry error of Store::CommitBatch,
  // and nothing is recorded. An error from the source is returned as is (the
  // backend fails the whole batch on kUnavailable/kInternal).
  Result<Message> Apply(const NewMessage& m, int64_t seq);

  // Whether an error Apply returned refuses only its entry (a rule of §5)
  // rather than the batch (the source failed).
  static bool RefusesOnlyTheEntry(const Error& e) noexcept;

  // What the accepted entries change; call once, after the last Apply.
  FoldWrites Writes() const;

 private:
  using Key = std::pair<int64_t, int64_t>;  // (conv, seq)
  struct Target {
    EntryRow row;
    bool is_new = false;  // made in this batch
    bool changed = false;
    bool body_changed = false;
    std::string body{};
    std::optional<TimeMs> edited_ts{};
    std::vector<UserId> mentions{};
    int64_t state_seq = 0;
    bool erased = false;
  };
  struct ReactionState {
    std::set<std::string, std::less<>> initial;
    std::set<std::string, std::less<>> now;
  };
  using ReactionKey = std::tuple<int64_t, int64_t, int64_t>;   // (conv, target, user)
  using CountKey = std::tuple<int64_t, int64_t, std::string>;  // (conv, target, emoji)
  struct CountState {
    std::optional<EmojiCount> initial;
    EmojiCount now;
  };

  // The text entry (conv, seq) as this batch has left it; kNotFound when it
  // is not a text entry of conv.
  Result<Target*> TextEntry(ConversationId conv, int64_t seq);
  Result<std::vector<UserId>> ResolveMentions(ConversationId conv, std::span<const std::string> names);
  Result<ReactionState*> Reactions(ConversationId conv, int64_t target, UserId user);
  Result<CountState*> Counts(ConversationId conv, int64_t target, const std::string& emoji);

  Result<void> ApplyEdit(const NewMessage& m, int64_t seq, Target& target);
  Result<void> ApplyDelete(const NewMessage& m, int64_t seq, Target& target);
  Result<void> ApplyReaction(const NewMessage& m, int64_t seq, Target& target);

  EntrySource& source_;
  std::map<Key, std::optional<Target>> targets_;  // nullopt: not a text entry
  std::map<ReactionKey, ReactionState> reactions_;
  std::map<CountKey, CountState, std::less<>> counts_;
  std::vector<Key> new_text_;  // text entries made in this batch, in order
};

}  // namespace parley::store
