#include "store/sqlite/entry_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include "store/sqlite/bytes.h"

namespace parley::store::sqlite {
namespace {

constexpr uint64_t kMaxKey = std::numeric_limits<uint64_t>::max();
// The first byte of an entry value: its format.
constexpr char kEntryFormat = 1;
// Page caches and write buffers are per store; the process may open several
// (one per test), so both stay small. 20,000 open files per process (see
// STACK.md) are for connections first.
constexpr size_t kBlockCacheBytes = size_t{8} << 20;
constexpr size_t kWriteBufferBytes = size_t{16} << 20;
constexpr int kMaxOpenFiles = 256;

std::string Key(char table, uint64_t a) {
  std::string k(1, table);
  PutFixed(k, a);
  return k;
}
std::string Key(char table, uint64_t a, uint64_t b) {
  std::string k = Key(table, a);
  PutFixed(k, b);
  return k;
}
std::string Key(char table, uint64_t a, uint64_t b, uint64_t c) {
  std::string k = Key(table, a, b);
  PutFixed(k, c);
  return k;
}
uint64_t U(int64_t v) { return static_cast<uint64_t>(v); }

// The keys that arrive in order within their conversation: its entries and
// unread keys (tag and conversation, 9 bytes, then the seq, which only
// grows). For each conversation the memtable keeps where its last key went
// (RocksDB's insert hint), so the next one is placed from there instead of
// from the skiplist's top: at 4,000 messages/s over 1,000 conversations
// that search was 7% of the server (bench/results/2026-12-07-s15-memtable-hints).
// Keys in random order (client ids) would gain nothing and only cost a
// hint's memory, so they are outside the domain. A hint lives in its
// memtable's arena and goes with it.
//
// No range deletion may start inside the domain: RocksDB 7.8 looks the hint
// up for a range tombstone too and then uses it in another skiplist (its
// assertion fails, `recompute_height <= max_height`). That is why the batch
// works ('W', in order too, pruned by DeleteRange) are outside.
class OrderedPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "parley.OrderedPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override { return {key.data(), 9}; }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() >= 9 && (key[0] == 'E' || key[0] == 'U');
  }
};

std::string EntryKey(ConversationId conv, int64_t seq) { return Key('E', U(conv.value), U(seq)); }
std::string ClientIdKey(UserId sender, std::string_view client_msg_id) {
  std::string k = Key('D', U(sender.value));
  k.append(client_msg_id);
  return k;
}
std::string HeldKey(ConversationId conv, int64_t target, UserId user, std::string_view emoji) {
  std::string k = Key('R', U(conv.value), U(target), U(user.value));
  k.append(emoji);
  return k;
}
std::string CountKey(ConversationId conv, int64_t target, std::string_view emoji) {
  std::string k = Key('C', U(conv.value), U(target));
  k.append(emoji);
  return k;
}

// The integer at byte `at` of a key.
int64_t FixedAt(const rocksdb::Slice& key, size_t at) {
  ByteReader r(std::string_view(key.data() + at, key.size() - at));
  return static_cast<int64_t>(r.Fixed());
}

Error Failed(const rocksdb::Status& s, std::string_view what) {
  return MakeError(s.IsCorruption() ? Errc::kInternal : Errc::kUnavailable,
                   "entries: " + std::string(what) + ": " + s.ToString());
}

bool StartsWith(const rocksdb::Slice& key, std::string_view prefix) {
  return key.size() >= prefix.size() && std::string_view(key.data(), prefix.size()) == prefix;
}

// Every open EntryDb's RocksDB, for EntriesMemoryUsed.
std::mutex open_mu;
std::set<rocksdb::DB*>& OpenDbs() {
  static auto* dbs = new std::set<rocksdb::DB*>;  // never destroyed: read until exit
  return *dbs;
}

}  // namespace

int64_t EntriesMemoryUsed() {
  std::lock_guard lock(open_mu);
  uint64_t total = 0;
  for (rocksdb::DB* db : OpenDbs()) {
    for (const std::string& property :
         {rocksdb::DB::Properties::kCurSizeAllMemTables, rocksdb::DB::Properties::kBlockCacheUsage,
          rocksdb::DB::Properties::kEstimateTableReadersMem}) {
      uint64_t v = 0;
      if (db->GetIntProperty(property, &v)) total += v;
    }
  }
  return static_cast<int64_t>(total);
}

std::string EntriesDir(const std::string& db_path) { return db_path + ".entries"; }

// --- the entry codec ------------------------------------------------------------

std::string EncodeEntry(const Message& m) {
  std::string out(1, kEntryFormat);
  PutSigned(out, m.id.value);
  PutSigned(out, m.sender.value);
  PutSigned(out, m.ts);
  PutVarint(out, static_cast<uint64_t>(EntryKindCode(m.kind)));
  PutString(out, m.client_msg_id);
  PutString(out, m.body);
  if (m.kind == EntryKind::kText) {
    PutVarint(out, m.reply_to ? 1 : 0);
    if (m.reply_to) PutSigned(out, *m.reply_to);
    PutVarint(out, m.mentions.size());
    for (UserId u : m.mentions) PutSigned(out, u.value);
    PutVarint(out, m.edited_ts ? 1 : 0);
    if (m.edited_ts) PutSigned(out, *m.edited_ts);
    PutVarint(out, m.deleted ? 1 : 0);
    PutSigned(out, m.state_seq);
    PutVarint(out, m.attachments.size());
    for (const Attachment& a : m.attachments) {
      PutSigned(out, a.id.value);
      PutString(out, a.name);
      PutString(out, a.content_type);
      PutSigned(out, a.size);
    }
  } else {
    PutSigned(out, m.target);
    PutString(out, m.emoji);
    PutVarint(out, static_cast<uint64_t>(ReactionOpCode(m.op)));
  }
  return out;
}

Result<Message> DecodeEntry(std::string_view value, ConversationId conv, int64_t seq) {
  auto corrupt = [&] {
    return MakeError(Errc::kInternal,
                     "entries: corrupt entry " + std::to_string(seq) + " of conversation " + conv.ToString());
  };
  if (value.empty() || value.front() != kEntryFormat) return corrupt();
  ByteReader r(value.substr(1));
  Message m;
  m.conv = conv;
  m.seq = seq;
  m.id = MessageId(r.Signed());
  m.sender = UserId(r.Signed());
  m.ts = r.Signed();
  Result<EntryKind> kind = EntryKindFromCode(static_cast<int64_t>(r.Varint()));
  if (!kind.ok()) return corrupt();
  m.kind = *kind;
  m.client_msg_id = r.String();
  m.body = r.String();
  if (m.kind == EntryKind::kText) {
    if (r.Varint() != 0) m.reply_to = r.Signed();
    const uint64_t mentions = r.Varint();
    for (uint64_t i = 0; i < mentions && r.ok(); ++i) m.mentions.emplace_back(r.Signed());
    if (r.Varint() != 0) m.edited_ts = r.Signed();
    m.deleted = r.Varint() != 0;
    m.state_seq = r.Signed();
    const uint64_t attachments = r.Varint();
    for (uint64_t i = 0; i < attachments && r.ok(); ++i) {
      Attachment a;
      a.id = UploadId(r.Signed());
      a.name = r.String();
      a.content_type = r.String();
      a.size = r.Signed();
      m.attachments.push_back(std::move(a));
    }
  } else {
    m.target = r.Signed();
    m.emoji = r.String();
    m.op = static_cast<int64_t>(r.Varint()) == ReactionOpCode(ReactionOp::kRemove) ? ReactionOp::kRemove
                                                                                   : ReactionOp::kAdd;
  }
  if (!r.ok() || !r.done()) return corrupt();
  return m;
}

// --- EntryBatch -------------------------------------------------------------------

struct EntryBatch::Impl {
  rocksdb::WriteBatch batch;
  // Prefixes whose keys go (DeleteReactionsOf), resolved by EntryDb::Write
  // against the stored keys.
  std::vector<std::string> cleared_prefixes;
};

EntryBatch::EntryBatch() : impl_(std::make_unique<Impl>()) {}
EntryBatch::~EntryBatch() = default;

void EntryBatch::PutEntry(const Message& m) { impl_->batch.Put(EntryKey(m.conv, m.seq), EncodeEntry(m)); }
void EntryBatch::PutClientId(UserId sender, std::string_view client_msg_id, ConversationId conv,
                             int64_t seq) {
  std::string value;
  PutFixed(value, U(conv.value));
  PutFixed(value, U(seq));
  impl_->batch.Put(ClientIdKey(sender, client_msg_id), value);
}
void EntryBatch::PutUnread(ConversationId conv, int64_t seq, UserId sender) {
  std::string value;
  PutFixed(value, U(sender.value));
  impl_->batch.Put(Key('U', U(conv.value), U(seq)), value);
}
void EntryBatch::DeleteUnread(ConversationId conv, int64_t seq) {
  impl_->batch.Delete(Key('U', U(conv.value), U(seq)));
}
void EntryBatch::PutMention(ConversationId conv, UserId user, int64_t seq) {
  impl_->batch.Put(Key('M', U(conv.value), U(user.value), U(seq)), rocksdb::Slice());
}
void EntryBatch::DeleteMention(ConversationId conv, UserId user, int64_t seq) {
  impl_->batch.Delete(Key('M', U(conv.value), U(user.value), U(seq)));
}
void EntryBatch::PutSenderConversation(UserId sender, ConversationId conv) {
  impl_->batch.Put(Key('S', U(sender.value), U(conv.value)), rocksdb::Slice());
}
void EntryBatch::PutEdit(ConversationId conv, int64_t target, int64_t seq) {
  impl_->batch.Put(Key('X', U(conv.value), U(target), U(seq)), rocksdb::Slice());
}
void EntryBatch::PutHeld(ConversationId conv, int64_t target, UserId user, std::string_view emoji) {
  impl_->batch.Put(HeldKey(conv, target, user, emoji), rocksdb::Slice());
}
void EntryBatch::DeleteHeld(ConversationId conv, int64_t target, UserId user, std::string_view emoji) {
  impl_->batch.Delete(HeldKey(conv, target, user, emoji));
}
void EntryBatch::PutCount(ConversationId conv, int64_t target, std::string_view emoji, EmojiCount count) {
  std::string value;
  PutSigned(value, count.count);
  PutSigned(value, count.first_seq);
  impl_->batch.Put(CountKey(conv, target, emoji), value);
}
void EntryBatch::DeleteCount(ConversationId conv, int64_t target, std::string_view emoji) {
  impl_->batch.Delete(CountKey(conv, target, emoji));
}
void EntryBatch::DeleteReactionsOf(ConversationId conv, int64_t target) {
  impl_->cleared_prefixes.push_back(Key('R', U(conv.value), U(target)));
  impl_->cleared_prefixes.push_back(Key('C', U(conv.value), U(target)));
}
void EntryBatch::PutWork(int64_t batch, std::string_view encoded) {
  impl_->batch.Put(Key('W', U(batch)), encoded);
}
void EntryBatch::DeleteWorkThrough(int64_t batch) {
  impl_->batch.DeleteRange(Key('W', 0), Key('W', U(batch) + 1));
}
size_t EntryBatch::Count() const { return impl_->batch.Count(); }

// --- EntryDb ----------------------------------------------------------------------

struct EntryDb::Impl {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write;

  rocksdb::ReadOptions Read(const View* view) const {
    rocksdb::ReadOptions r;
    if (view != nullptr) r.snapshot = static_cast<const rocksdb::Snapshot*>(view->snapshot_);
    return r;
  }

  // Every key starting with `prefix`, from `from` (a key >= prefix) on.
  template <class F>
  Result<void> Scan(std::string_view prefix, const std::string& from, const View* view, F&& f) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(Read(view)));
    for (it->Seek(from); it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
      if (!f(it->key(), it->value())) break;
    }
    if (!it->status().ok()) return Failed(it->status(), "scan");
    return Ok();
  }
};

EntryDb::EntryDb(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EntryDb::~EntryDb() {
  if (!impl_ || !impl_->db) return;
  {
    std::lock_guard lock(open_mu);
    OpenDbs().erase(impl_->db.get());
  }
  (void)impl_->db->Close();
}

Result<std::unique_ptr<EntryDb>> EntryDb::Open(const Options& options) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_open_files = kMaxOpenFiles;
  o.write_buffer_size = kWriteBufferBytes;
  o.max_background_jobs = 2;
  o.keep_log_file_num = 3;
  // One writer (the sequencer, under the store's writer mutex): the hints
  // below are used only by a memtable written by one thread at a time.
  o.allow_concurrent_memtable_write = false;
  o.memtable_insert_with_hint_prefix_extractor = std::make_shared<OrderedPrefix>();
  o.max_log_file_size = size_t{4} << 20;
  rocksdb::BlockBasedTableOptions table;
  // Most point reads are of keys that are absent (every new client id).
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(o, options.dir, &raw);
  if (!s.ok()) return Failed(s, "cannot open '" + options.dir + "'");
  auto impl = std::make_unique<Impl>();
  impl->db.reset(raw);
  impl->write.sync = options.sync;
  {
    std::lock_guard lock(open_mu);
    OpenDbs().insert(raw);
  }
  return std::unique_ptr<EntryDb>(new EntryDb(std::move(impl)));
}

EntryDb::View::View(EntryDb& db) : db_(db), snapshot_(db.impl_->db->GetSnapshot()) {}
EntryDb::View::~View() { db_.impl_->db->ReleaseSnapshot(static_cast<const rocksdb::Snapshot*>(snapshot_)); }

Result<void> EntryDb::Write(EntryBatch& batch) {
  for (const std::string& prefix : batch.impl_->cleared_prefixes) {
    Result<void> r =
        impl_->Scan(prefix, prefix, nullptr, [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
          batch.impl_->batch.Delete(key);
          return true;
        });
    if (!r.ok()) return r;
  }
  batch.impl_->cleared_prefixes.clear();
  const rocksdb::Status s = impl_->db->Write(impl_->write, &batch.impl_->batch);
  if (!s.ok()) {
    Error e = Failed(s, "write");
    e.code = Errc::kUnavailable;
    return e;
  }
  return Ok();
}

Result<std::optional<Message>> EntryDb::Get(ConversationId conv, int64_t seq, const View* view) {
  std::string value;
  const rocksdb::Status s = impl_->db->Get(impl_->Read(view), EntryKey(conv, seq), &value);
  if (s.IsNotFound()) return std::optional<Message>();
  if (!s.ok()) return Failed(s, "get");
  Result<Message> m = DecodeEntry(value, conv, seq);
  if (!m.ok()) return std::move(m).error();
  return std::optional<Message>(std::move(m).value());
}

Result<std::optional<std::pair<ConversationId, int64_t>>> EntryDb::FindClientId(
    UserId sender, std::string_view client_msg_id) {
  using Out = std::optional<std::pair<ConversationId, int64_t>>;
  std::string value;
  const rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), ClientIdKey(sender, client_msg_id), &value);
  if (s.IsNotFound()) return Out();
  if (!s.ok()) return Failed(s, "get");
  ByteReader r(value);
  const auto conv = static_cast<int64_t>(r.Fixed());
  const auto seq = static_cast<int64_t>(r.Fixed());
  if (!r.ok()) return MakeError(Errc::kInternal, "entries: corrupt client id key");
  return Out(std::pair(ConversationId(conv), seq));
}

Result<std::vector<Message>> EntryDb::Page(ConversationId conv, std::optional<int64_t> before,
                                           std::optional<int64_t> after, int limit, const View* view) {
  std::vector<Message> out;
  if (limit <= 0) return out;
  const std::string prefix = Key('E', U(conv.value));
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(impl_->Read(view)));
  auto take = [&]() -> Result<void> {
    Result<Message> m =
        DecodeEntry(std::string_view(it->value().data(), it->value().size()), conv, FixedAt(it->key(), 9));
    if (!m.ok()) return std::move(m).error();
    out.push_back(std::move(m).value());
    return Ok();
  };
  if (after) {
    // Ascending from after + 1, below `before` when given.
    const int64_t from = std::max<int64_t>(*after, 0) + 1;
    for (it->Seek(Key('E', U(conv.value), U(from)));
         it->Valid() && StartsWith(it->key(), prefix) && static_cast<int>(out.size()) < limit; it->Next()) {
      if (before && FixedAt(it->key(), 9) >= *before) break;
      if (Result<void> r = take(); !r.ok()) return r.error();
    }
  } else {
    // Descending from below `before` (or the newest), then reversed.
    if (before && *before <= 1) return out;
    const uint64_t below = before ? U(*before - 1) : kMaxKey;
    for (it->SeekForPrev(Key('E', U(conv.value), below));
         it->Valid() && StartsWith(it->key(), prefix) && static_cast<int>(out.size()) < limit; it->Prev()) {
      if (Result<void> r = take(); !r.ok()) return r.error();
    }
    std::reverse(out.begin(), out.end());
  }
  if (!it->status().ok()) return Failed(it->status(), "page");
  return out;
}

Result<int64_t> EntryDb::LastSeq(ConversationId conv, const View* view) {
  const std::string prefix = Key('E', U(conv.value));
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(impl_->Read(view)));
  it->SeekForPrev(Key('E', U(conv.value), kMaxKey));
  if (!it->status().ok()) return Failed(it->status(), "last seq");
  if (!it->Valid() || !StartsWith(it->key(), prefix)) return int64_t{0};
  return FixedAt(it->key(), 9);
}

Result<int64_t> EntryDb::CountUnread(ConversationId conv, int64_t after, UserId viewer, const View* view) {
  int64_t n = 0;
  const std::string prefix = Key('U', U(conv.value));
  Result<void> r = impl_->Scan(prefix, Key('U', U(conv.value), U(std::max<int64_t>(after, 0) + 1)), view,
                               [&](const rocksdb::Slice&, const rocksdb::Slice& value) {
                                 ByteReader sender(std::string_view(value.data(), value.size()));
                                 if (static_cast<int64_t>(sender.Fixed()) != viewer.value) ++n;
                                 return true;
                               });
  if (!r.ok()) return r.error();
  return n;
}

Result<int64_t> EntryDb::CountMentions(ConversationId conv, UserId user, int64_t after, const View* view) {
  int64_t n = 0;
  const std::string prefix = Key('M', U(conv.value), U(user.value));
  Result<void> r =
      impl_->Scan(prefix, Key('M', U(conv.value), U(user.value), U(std::max<int64_t>(after, 0) + 1)), view,
                  [&](const rocksdb::Slice&, const rocksdb::Slice&) {
                    ++n;
                    return true;
                  });
  if (!r.ok()) return r.error();
  return n;
}

Result<std::vector<ConversationId>> EntryDb::ConversationsOf(UserId sender) {
  std::vector<ConversationId> out;
  const std::string prefix = Key('S', U(sender.value));
  Result<void> r =
      impl_->Scan(prefix, prefix, nullptr, [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
        out.emplace_back(FixedAt(key, 9));
        return true;
      });
  if (!r.ok()) return r.error();
  return out;
}

Result<std::vector<std::string>> EntryDb::Held(ConversationId conv, int64_t target, UserId user) {
  std::vector<std::string> out;
  const std::string prefix = Key('R', U(conv.value), U(target), U(user.value));
  Result<void> r =
      impl_->Scan(prefix, prefix, nullptr, [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
        out.emplace_back(key.data() + prefix.size(), key.size() - prefix.size());
        return true;
      });
  if (!r.ok()) return r.error();
  return out;
}

Result<std::optional<EmojiCount>> EntryDb::Count(ConversationId conv, int64_t target,
                                                 std::string_view emoji) {
  std::string value;
  const rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), CountKey(conv, target, emoji), &value);
  if (s.IsNotFound()) return std::optional<EmojiCount>();
  if (!s.ok()) return Failed(s, "get");
  ByteReader r(value);
  EmojiCount c;
  c.count = r.Signed();
  c.first_seq = r.Signed();
  if (!r.ok()) return MakeError(Errc::kInternal, "entries: corrupt reaction count");
  return std::optional<EmojiCount>(c);
}

Result<std::vector<int64_t>> EntryDb::EditsOf(ConversationId conv, int64_t target) {
  std::vector<int64_t> out;
  const std::string prefix = Key('X', U(conv.value), U(target));
  Result<void> r =
      impl_->Scan(prefix, prefix, nullptr, [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
        out.push_back(FixedAt(key, 17));
        return true;
      });
  if (!r.ok()) return r.error();
  return out;
}

Result<void> EntryDb::FoldReactions(ConversationId conv, UserId viewer, std::vector<Message>& page,
                                    const View* view) {
  if (page.empty()) return Ok();
  // Every count of the page's range, then per target in first-added order.
  std::map<int64_t, std::vector<std::pair<EmojiCount, std::string>>> by_target;
  const std::string prefix = Key('C', U(conv.value));
  const int64_t hi = page.back().seq;
  Result<void> r =
      impl_->Scan(prefix, Key('C', U(conv.value), U(page.front().seq)), view,
                  [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                    const int64_t target = FixedAt(key, 9);
                    if (target > hi) return false;
                    ByteReader v(std::string_view(value.data(), value.size()));
                    EmojiCount c;
                    c.count = v.Signed();
                    c.first_seq = v.Signed();
                    by_target[target].emplace_back(c, std::string(key.data() + 17, key.size() - 17));
                    return true;
                  });
  if (!r.ok()) return r;
  if (by_target.empty()) return Ok();
  std::vector<EmojiCountRow> rows;
  std::set<std::pair<int64_t, std::string>, std::less<>> mine;
  // Not structured bindings: clang before 16 cannot capture one.
  for (auto& entry : by_target) {
    const int64_t target = entry.first;
    auto& counts = entry.second;
    std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.first_seq, a.second) < std::tie(b.first.first_seq, b.second);
    });
    for (const auto& [count, emoji] : counts) rows.push_back(EmojiCountRow{target, emoji, count.count});
    if (!viewer.valid()) continue;
    const std::string held = Key('R', U(conv.value), U(target), U(viewer.value));
    Result<void> h = impl_->Scan(held, held, view, [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
      mine.emplace(target, std::string(key.data() + held.size(), key.size() - held.size()));
      return true;
    });
    if (!h.ok()) return h;
  }
  AttachReactions(page, rows, mine);
  return Ok();
}

Result<EntryDb::TopIds> EntryDb::Top() {
  TopIds top;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  // E and S keys begin with the conversation and the sender: the last key
  // of each table holds the largest.
  for (auto [table, out] : {std::pair{'E', &top.conv}, std::pair{'S', &top.sender}}) {
    it->SeekForPrev(Key(table, kMaxKey, kMaxKey));
    if (it->Valid() && it->key().size() >= 9 && it->key()[0] == table) *out = FixedAt(it->key(), 1);
  }
  if (!it->status().ok()) return Failed(it->status(), "top ids");
  return top;
}

Result<std::vector<std::string>> EntryDb::Works() {
  std::vector<std::string> out;
  Result<void> r = impl_->Scan("W", "W", nullptr, [&](const rocksdb::Slice&, const rocksdb::Slice& value) {
    out.emplace_back(value.data(), value.size());
    return true;
  });
  if (!r.ok()) return r.error();
  return out;
}

Result<void> EntryDb::ForEach(const std::function<Result<void>(const Message&)>& f) {
  std::optional<Error> failed;
  Result<void> r =
      impl_->Scan("E", "E", nullptr, [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
        Result<Message> m = DecodeEntry(std::string_view(value.data(), value.size()),
                                        ConversationId(FixedAt(key, 1)), FixedAt(key, 9));
        if (!m.ok()) {
          failed = m.error();
          return false;
        }
        if (Result<void> step = f(*m); !step.ok()) {
          failed = step.error();
          return false;
        }
        return true;
      });
  if (failed) return *failed;
  return r;
}

Result<int64_t> CopyEntries(const std::string& from, const std::string& to, const std::string& scratch) {
  rocksdb::Options o;
  o.max_open_files = -1;  // a secondary keeps every table file it reads open
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenAsSecondary(o, from, scratch, &raw);
  if (!s.ok()) return Failed(s, "cannot read '" + from + "'");
  std::unique_ptr<rocksdb::DB> source(raw);
  s = source->TryCatchUpWithPrimary();
  if (!s.ok()) return Failed(s, "cannot catch up with '" + from + "'");
  PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<EntryDb> dest,
                          EntryDb::Open(EntryDb::Options{.dir = to, .sync = false}));
  int64_t copied = 0;
  auto batch = std::make_unique<rocksdb::WriteBatch>();
  std::unique_ptr<rocksdb::Iterator> it(source->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    batch->Put(it->key(), it->value());
    ++copied;
    if (batch->Count() >= 20000) {
      if (s = dest->impl_->db->Write(rocksdb::WriteOptions(), batch.get()); !s.ok()) return Failed(s, "copy");
      batch = std::make_unique<rocksdb::WriteBatch>();
    }
  }
  if (!it->status().ok()) return Failed(it->status(), "copy");
  if (s = dest->impl_->db->Write(rocksdb::WriteOptions(), batch.get()); !s.ok()) return Failed(s, "copy");
  // Everything into table files, so the copy is whole without its WAL.
  if (s = dest->impl_->db->Flush(rocksdb::FlushOptions()); !s.ok()) return Failed(s, "flush");
  if (s = dest->impl_->db->Close(); !s.ok()) return Failed(s, "close");
  return copied;
}

}  // namespace parley::store::sqlite
