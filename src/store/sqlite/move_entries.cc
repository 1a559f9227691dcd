#include "store/sqlite/move_entries.h"

#include <map>

namespace parley::store::sqlite {
namespace {

// Keys per RocksDB write while moving: bounds the memory of a large move.
constexpr size_t kKeysPerWrite = 20000;

constexpr std::string_view kHasMessages =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'messages'";
constexpr std::string_view kMessages =
    "SELECT conv, seq, id, sender, body, ts, client_msg_id, kind, target, emoji, op, reply_to, mentions, "
    "edited_ts, deleted, coalesce(state_seq, seq) FROM messages ORDER BY conv, seq";
// A text entry's attachments, as the entry keeps them.
constexpr std::string_view kAttachments =
    "SELECT a.conv, a.seq, u.id, u.name, u.content_type, u.size FROM attachments a "
    "JOIN uploads u ON u.id = a.upload ORDER BY a.conv, a.seq, a.position";
constexpr std::string_view kMentions = "SELECT conv, seq, user FROM mentions";
constexpr std::string_view kReactions = "SELECT conv, target, user, emoji FROM reactions";
constexpr std::string_view kCounts = "SELECT conv, target, emoji, count, first_seq FROM reaction_counts";
constexpr std::string_view kDrop =
    "DROP TABLE mentions; DROP TABLE reactions; DROP TABLE reaction_counts; DROP TABLE messages;";

Result<Message> EntryFromRow(const Query& q) {
  Message m;
  m.conv = ConversationId(q.Int(0));
  m.seq = q.Int(1);
  m.id = MessageId(q.Int(2));
  m.sender = UserId(q.Int(3));
  m.body = q.Text(4);
  m.ts = q.Int(5);
  m.client_msg_id = q.Text(6);  // NULL reads as ""
  PARLEY_ASSIGN_OR_RETURN(m.kind, EntryKindFromCode(q.Int(7)));
  if (m.kind == EntryKind::kText) {
    if (!q.IsNull(11)) m.reply_to = q.Int(11);
    m.mentions = DecodeMentions(q.Text(12));
    if (!q.IsNull(13)) m.edited_ts = q.Int(13);
    m.deleted = q.Int(14) != 0;
    m.state_seq = q.Int(15);
  } else {
    m.target = q.Int(8);
    m.emoji = q.Text(9);
    m.op = q.Int(10) == ReactionOpCode(ReactionOp::kRemove) ? ReactionOp::kRemove : ReactionOp::kAdd;
  }
  return m;
}

// Runs `sql` and calls `f(q)` for every row.
template <class F>
Result<void> EachRow(Connection& c, std::string_view sql, F&& f) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(sql));
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Ok();
    PARLEY_RETURN_IF_ERROR(f(q));
  }
}

}  // namespace

Result<int64_t> MoveEntries(Connection& c, EntryDb& entries) {
  PARLEY_ASSIGN_OR_RETURN(int64_t has, c.QueryInt(kHasMessages));
  if (has == 0) return int64_t{0};
  auto batch = std::make_unique<EntryBatch>();
  auto flush = [&](bool force) -> Result<void> {
    if (!force && batch->Count() < kKeysPerWrite) return Ok();
    PARLEY_RETURN_IF_ERROR(entries.Write(*batch));
    batch = std::make_unique<EntryBatch>();
    return Ok();
  };
  using Key = std::pair<int64_t, int64_t>;
  std::map<Key, std::vector<Attachment>> attachments;
  PARLEY_RETURN_IF_ERROR(EachRow(c, kAttachments, [&](const Query& q) -> Result<void> {
    attachments[Key(q.Int(0), q.Int(1))].push_back(
        Attachment{UploadId(q.Int(2)), q.Text(3), q.Text(4), q.Int(5)});
    return Ok();
  }));
  int64_t moved = 0;
  PARLEY_RETURN_IF_ERROR(EachRow(c, kMessages, [&](const Query& q) -> Result<void> {
    PARLEY_ASSIGN_OR_RETURN(Message m, EntryFromRow(q));
    if (auto it = attachments.find(Key(m.conv.value, m.seq)); it != attachments.end())
      m.attachments = it->second;
    batch->PutEntry(m);
    if (!m.client_msg_id.empty()) batch->PutClientId(m.sender, m.client_msg_id, m.conv, m.seq);
    batch->PutSenderConversation(m.sender, m.conv);
    if (m.kind == EntryKind::kText && !m.deleted) batch->PutUnread(m.conv, m.seq, m.sender);
    if (m.kind == EntryKind::kEdit) batch->PutEdit(m.conv, m.target, m.seq);
    ++moved;
    return flush(false);
  }));
  PARLEY_RETURN_IF_ERROR(EachRow(c, kMentions, [&](const Query& q) -> Result<void> {
    batch->PutMention(ConversationId(q.Int(0)), UserId(q.Int(2)), q.Int(1));
    return flush(false);
  }));
  PARLEY_RETURN_IF_ERROR(EachRow(c, kReactions, [&](const Query& q) -> Result<void> {
    batch->PutHeld(ConversationId(q.Int(0)), q.Int(1), UserId(q.Int(2)), q.Text(3));
    return flush(false);
  }));
  PARLEY_RETURN_IF_ERROR(EachRow(c, kCounts, [&](const Query& q) -> Result<void> {
    batch->PutCount(ConversationId(q.Int(0)), q.Int(1), q.Text(2), EmojiCount{q.Int(3), q.Int(4)});
    return flush(false);
  }));
  PARLEY_RETURN_IF_ERROR(flush(true));  // durable (EntryDb syncs) before the tables go
  PARLEY_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(c, Transaction::Mode::kWrite));
  PARLEY_RETURN_IF_ERROR(c.Exec(kDrop));
  PARLEY_RETURN_IF_ERROR(txn.Commit());
  return moved;
}

}  // namespace parley::store::sqlite
