#include "store/sqlite/index_work.h"

#include "store/sqlite/bytes.h"
#include "store/sqlite/search_index.h"

namespace parley::store::sqlite {
namespace {

constexpr char kFormat = 1;

constexpr std::string_view kAdvanceConversation =
    "UPDATE conversations SET last_seq = ?2, last_activity = max(last_activity, ?3) WHERE id = ?1";
constexpr std::string_view kRaiseReadSeq =
    "UPDATE members SET read_seq = ?3 WHERE conv = ?1 AND user = ?2 AND read_seq < ?3";
// An upload collected since (the work of a batch applied late, or a rebuild
// from entries older than the database) leaves no row.
constexpr std::string_view kInsertAttachment =
    "INSERT OR IGNORE INTO attachments(conv, seq, position, upload) "
    "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS(SELECT 1 FROM uploads WHERE id = ?4)";
constexpr std::string_view kKillAttachments = "UPDATE attachments SET live = 0 WHERE conv = ?1 AND seq = ?2";
constexpr std::string_view kSetApplied = "UPDATE entry_log SET applied = ?1";
constexpr std::string_view kApplied = "SELECT applied FROM entry_log";

Result<void> Run(Connection& c, std::string_view sql, std::initializer_list<int64_t> values) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(sql));
  int i = 1;
  for (int64_t v : values) q.Bind(i++, v);
  return q.Run();
}

}  // namespace

std::string EncodeIndexWork(const IndexWork& w) {
  std::string out(1, kFormat);
  PutSigned(out, w.batch);
  PutVarint(out, w.advances.size());
  for (const auto& a : w.advances) {
    PutSigned(out, a.conv.value);
    PutSigned(out, a.last_seq);
    PutSigned(out, a.last_ts);
  }
  PutVarint(out, w.read_marks.size());
  for (const auto& r : w.read_marks) {
    PutSigned(out, r.conv.value);
    PutSigned(out, r.user.value);
    PutSigned(out, r.seq);
  }
  PutVarint(out, w.texts.size());
  for (const auto& t : w.texts) {
    PutSigned(out, t.conv.value);
    PutSigned(out, t.seq);
    PutSigned(out, t.ts);
    PutString(out, t.body);
    PutVarint(out, (t.deleted ? 1 : 0) | (t.fresh ? 2 : 0));
  }
  PutVarint(out, w.attachments.size());
  for (const auto& a : w.attachments) {
    PutSigned(out, a.conv.value);
    PutSigned(out, a.seq);
    PutVarint(out, a.uploads.size());
    for (UploadId u : a.uploads) PutSigned(out, u.value);
  }
  PutVarint(out, w.deleted.size());
  for (const auto& [conv, seq] : w.deleted) {
    PutSigned(out, conv.value);
    PutSigned(out, seq);
  }
  return out;
}

Result<IndexWork> DecodeIndexWork(std::string_view encoded) {
  auto corrupt = [] { return MakeError(Errc::kInternal, "entries: corrupt batch work"); };
  if (encoded.empty() || encoded.front() != kFormat) return corrupt();
  ByteReader r(encoded.substr(1));
  IndexWork w;
  w.batch = r.Signed();
  for (uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
    IndexWork::Advance a;
    a.conv = ConversationId(r.Signed());
    a.last_seq = r.Signed();
    a.last_ts = r.Signed();
    w.advances.push_back(a);
  }
  for (uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
    IndexWork::ReadMark m;
    m.conv = ConversationId(r.Signed());
    m.user = UserId(r.Signed());
    m.seq = r.Signed();
    w.read_marks.push_back(m);
  }
  for (uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
    IndexWork::Text t;
    t.conv = ConversationId(r.Signed());
    t.seq = r.Signed();
    t.ts = r.Signed();
    t.body = r.String();
    const uint64_t flags = r.Varint();
    t.deleted = (flags & 1) != 0;
    t.fresh = (flags & 2) != 0;
    w.texts.push_back(std::move(t));
  }
  for (uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
    IndexWork::Attach a;
    a.conv = ConversationId(r.Signed());
    a.seq = r.Signed();
    for (uint64_t k = r.Varint(), j = 0; j < k && r.ok(); ++j) a.uploads.emplace_back(r.Signed());
    w.attachments.push_back(std::move(a));
  }
  for (uint64_t n = r.Varint(), i = 0; i < n && r.ok(); ++i) {
    const ConversationId conv(r.Signed());
    w.deleted.emplace_back(conv, r.Signed());
  }
  if (!r.ok() || !r.done()) return corrupt();
  return w;
}

Result<void> ApplyIndexWork(Connection& c, const IndexWork& w) {
  for (const auto& a : w.advances) {
    PARLEY_RETURN_IF_ERROR(Run(c, kAdvanceConversation, {a.conv.value, a.last_seq, a.last_ts}));
  }
  for (const auto& m : w.read_marks) {
    PARLEY_RETURN_IF_ERROR(Run(c, kRaiseReadSeq, {m.conv.value, m.user.value, m.seq}));
  }
  for (const auto& t : w.texts) {
    if (t.fresh) {
      if (!t.body.empty()) PARLEY_RETURN_IF_ERROR(IndexText(c, t.conv, t.seq, t.ts, t.body));
    } else {
      PARLEY_RETURN_IF_ERROR(ReindexText(c, t.conv, t.seq, t.ts, t.body, t.deleted));
    }
  }
  for (const auto& a : w.attachments) {
    for (size_t i = 0; i < a.uploads.size(); ++i) {
      PARLEY_RETURN_IF_ERROR(
          Run(c, kInsertAttachment, {a.conv.value, a.seq, static_cast<int64_t>(i), a.uploads[i].value}));
    }
  }
  for (const auto& [conv, seq] : w.deleted) {
    PARLEY_RETURN_IF_ERROR(Run(c, kKillAttachments, {conv.value, seq}));
  }
  return Run(c, kSetApplied, {w.batch});
}

Result<int64_t> AppliedBatch(Connection& c) { return c.QueryInt(kApplied); }

}  // namespace parley::store::sqlite
