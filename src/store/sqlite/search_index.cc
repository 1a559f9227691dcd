#include "store/sqlite/search_index.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace parley::store::sqlite {
namespace {

// Slots per millisecond: the low bits of a rowid. A batch holds at most a
// few thousand entries, so a millisecond never runs out of them.
constexpr int kSlotBits = 20;
// The largest ts that fits (about the year 2248): rowids stay below 2^63.
constexpr int64_t kMaxTs = (int64_t{1} << (63 - kSlotBits)) - 1;

constexpr std::string_view kLastSlot = "SELECT max(rowid) FROM message_search WHERE rowid BETWEEN ?1 AND ?2";
constexpr std::string_view kInsert =
    "INSERT INTO message_search(rowid, text, conv_id, entry_seq) VALUES(?1, ?2, ?3, ?4)";
constexpr std::string_view kFind =
    "SELECT rowid FROM message_search WHERE rowid BETWEEN ?1 AND ?2 AND conv_id = ?3 AND entry_seq = ?4";
constexpr std::string_view kUpdate = "UPDATE message_search SET text = ?2 WHERE rowid = ?1";
constexpr std::string_view kDelete = "DELETE FROM message_search WHERE rowid = ?1";
constexpr std::string_view kClear = "DELETE FROM message_search";

// The rowids of one millisecond: [first, last].
struct SlotRange {
  int64_t first = 0;
  int64_t last = 0;
};

SlotRange RangeOf(TimeMs ts) {
  const int64_t first = std::clamp<int64_t>(ts, 0, kMaxTs) << kSlotBits;
  return SlotRange{first, first + (int64_t{1} << kSlotBits) - 1};
}

}  // namespace

Result<void> IndexText(Connection& c, ConversationId conv, int64_t seq, TimeMs ts, std::string_view text) {
  const SlotRange range = RangeOf(ts);
  int64_t rowid = range.first;
  {
    Result<Query> q = c.Prepare(kLastSlot);
    if (!q.ok()) return std::move(q).error();
    q->Bind(1, range.first).Bind(2, range.last);
    Result<bool> row = q->Step();
    if (!row.ok()) return std::move(row).error();
    if (*row && !q->IsNull(0)) {
      if (q->Int(0) == range.last) {
        return MakeError(Errc::kInternal, "search index: no free slot in millisecond " + std::to_string(ts));
      }
      rowid = q->Int(0) + 1;
    }
  }
  Result<Query> q = c.Prepare(kInsert);
  if (!q.ok()) return std::move(q).error();
  q->Bind(1, rowid).Bind(2, text).Bind(3, conv.value).Bind(4, seq);
  return q->Run();
}

namespace {

// The index row of (conv, seq), nullopt when it has none.
Result<std::optional<int64_t>> Find(Connection& c, ConversationId conv, int64_t seq, TimeMs ts) {
  const SlotRange range = RangeOf(ts);
  Result<Query> q = c.Prepare(kFind);
  if (!q.ok()) return std::move(q).error();
  q->Bind(1, range.first).Bind(2, range.last).Bind(3, conv.value).Bind(4, seq);
  Result<bool> row = q->Step();
  if (!row.ok()) return std::move(row).error();
  if (!*row) return std::optional<int64_t>();
  return std::optional<int64_t>(q->Int(0));
}

}  // namespace

Result<void> ReindexText(Connection& c, ConversationId conv, int64_t seq, TimeMs ts, std::string_view text,
                         bool deleted) {
  Result<std::optional<int64_t>> found = Find(c, conv, seq, ts);
  if (!found.ok()) return std::move(found).error();
  const bool keep = !deleted && !text.empty();
  if (!*found) return keep ? IndexText(c, conv, seq, ts, text) : Ok();
  Result<Query> q = c.Prepare(keep ? kUpdate : kDelete);
  if (!q.ok()) return std::move(q).error();
  q->Bind(1, **found);
  if (keep) q->Bind(2, text);
  return q->Run();
}

Result<void> ClearIndex(Connection& c) { return c.Exec(kClear); }

std::string EncodeSearchCursor(int64_t rowid) { return std::to_string(rowid); }

Result<int64_t> DecodeSearchCursor(std::string_view cursor) {
  if (cursor.empty()) return std::numeric_limits<int64_t>::max();
  int64_t rowid = 0;
  auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), rowid);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || rowid <= 0) {
    return MakeError(Errc::kBadRequest, "not a search cursor of this server");
  }
  return rowid;
}

}  // namespace parley::store::sqlite
