// The embedded backend's RocksDB side (entry_db.h) and the work each batch
// carries to SQLite (index_work.h): the codecs of their values, the pages
// and counts read from the keys, and copying a live database.
#include "store/sqlite/entry_db.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "store/sqlite/index_work.h"

namespace parley {

// Readable failures for the entries compared below.
static void PrintTo(const Message& m, std::ostream* os) {
  *os << "{conv " << m.conv.value << " seq " << m.seq << " id " << m.id.value << " sender " << m.sender.value
      << " kind " << static_cast<int>(m.kind) << " body '" << m.body << "' ts " << m.ts << " cid '"
      << m.client_msg_id << "' target " << m.target << " emoji '" << m.emoji << "' op "
      << static_cast<int>(m.op) << " reply_to " << (m.reply_to ? std::to_string(*m.reply_to) : "-")
      << " mentions " << m.mentions.size() << " edited_ts "
      << (m.edited_ts ? std::to_string(*m.edited_ts) : "-") << " deleted " << m.deleted << " state_seq "
      << m.state_seq << " attachments " << m.attachments.size() << " reactions " << m.reactions.size() << "}";
}

}  // namespace parley

namespace parley::store::sqlite {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

Message TextEntry(ConversationId conv, int64_t seq, UserId sender, const std::string& body) {
  Message m;
  m.conv = conv;
  m.seq = seq;
  m.id = MessageId(1000 + seq);
  m.sender = sender;
  m.body = body;
  m.ts = 1'700'000'000'000 + seq;
  m.client_msg_id = "c" + std::to_string(seq);
  m.kind = EntryKind::kText;
  m.state_seq = seq;
  return m;
}

Message ChangeEntry(ConversationId conv, int64_t seq, UserId sender, EntryKind kind, int64_t target) {
  Message m;
  m.conv = conv;
  m.seq = seq;
  m.id = MessageId(2000 + seq);
  m.sender = sender;
  m.ts = 1'700'000'000'000 + seq;
  m.client_msg_id = "x" + std::to_string(seq);
  m.kind = kind;
  m.target = target;
  return m;
}

// A text entry with every field the codec keeps set to something unusual.
Message FullTextEntry() {
  Message m = TextEntry(ConversationId(77), 12, UserId(5), "héllo\0world @bob");
  m.body = std::string("h\xc3\xa9llo\0world @bob", 17);  // an embedded NUL survives
  m.id = MessageId(kMax);
  m.ts = -5;  // zigzag: negative values round-trip
  m.client_msg_id = std::string(300, 'k');
  m.reply_to = 3;
  m.mentions = {UserId(2), UserId(9), UserId(kMax)};
  m.edited_ts = kMin;
  m.deleted = true;
  m.state_seq = 40;
  m.attachments = {Attachment{UploadId(9001), "plan.pdf", "application/pdf", 123456},
                   Attachment{UploadId(kMax), "", "image/png", 0}};
  return m;
}

void ExpectCorrupt(const Result<Message>& r, const std::string& what) {
  ASSERT_FALSE(r.ok()) << what << ": decoded as " << ::testing::PrintToString(r.value());
  EXPECT_EQ(r.error().code, Errc::kInternal) << what;
}

// --- the entry codec ------------------------------------------------------------

// A text entry with every field set decodes to the same entry, its conv and
// seq taken from the key.
TEST(EntryCodec, TextEntryWithEveryFieldRoundTrips) {
  const Message m = FullTextEntry();
  Result<Message> back = DecodeEntry(EncodeEntry(m), m.conv, m.seq);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, m);
  EXPECT_EQ(back->body.size(), 17u);
  ASSERT_EQ(back->attachments.size(), 2u);
  EXPECT_EQ(back->attachments[0].name, "plan.pdf");
  EXPECT_EQ(back->attachments[0].content_type, "application/pdf");
  EXPECT_EQ(back->attachments[0].size, 123456);
  EXPECT_EQ(back->attachments[1].id, UploadId(kMax));
  // conv and seq are the key's, not the value's.
  Result<Message> elsewhere = DecodeEntry(EncodeEntry(m), ConversationId(3), 4);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_EQ(elsewhere->conv, ConversationId(3));
  EXPECT_EQ(elsewhere->seq, 4);
}

// A plain text entry (no reply, no mentions, never edited) keeps its
// optionals empty rather than zero.
TEST(EntryCodec, PlainTextEntryKeepsItsOptionalsEmpty) {
  const Message m = TextEntry(ConversationId(1), 1, UserId(1), "");
  Result<Message> back = DecodeEntry(EncodeEntry(m), m.conv, m.seq);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, m);
  EXPECT_FALSE(back->reply_to.has_value());
  EXPECT_FALSE(back->edited_ts.has_value());
  EXPECT_FALSE(back->deleted);
}

// An attachment's url is signed when served, never stored.
TEST(EntryCodec, AttachmentUrlIsNotStored) {
  Message m = TextEntry(ConversationId(1), 2, UserId(1), "file");
  m.attachments = {Attachment{UploadId(4), "a.txt", "text/plain", 3, "https://signed/url"}};
  Result<Message> back = DecodeEntry(EncodeEntry(m), m.conv, m.seq);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->attachments.size(), 1u);
  EXPECT_EQ(back->attachments[0].url, "");
  EXPECT_EQ(back->attachments[0], (Attachment{UploadId(4), "a.txt", "text/plain", 3}));
}

// Edit, delete and reaction (add and remove) entries decode as stored, with
// target, body, emoji and op.
TEST(EntryCodec, ChangeEntriesRoundTrip) {
  Message edit = ChangeEntry(ConversationId(8), 20, UserId(3), EntryKind::kEdit, 19);
  edit.body = "fixed text";
  Message del = ChangeEntry(ConversationId(8), 21, UserId(3), EntryKind::kDelete, 19);
  del.client_msg_id = "";
  Message add = ChangeEntry(ConversationId(8), 22, UserId(4), EntryKind::kReaction, 19);
  add.emoji = "\xf0\x9f\x91\x8d";
  add.op = ReactionOp::kAdd;
  Message remove = add;
  remove.seq = 23;
  remove.op = ReactionOp::kRemove;
  remove.target = kMax;
  for (const Message& m : {edit, del, add, remove}) {
    SCOPED_TRACE(::testing::PrintToString(m));
    Result<Message> back = DecodeEntry(EncodeEntry(m), m.conv, m.seq);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, m);
  }
  Result<Message> back = DecodeEntry(EncodeEntry(remove), remove.conv, remove.seq);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->op, ReactionOp::kRemove);
  EXPECT_EQ(back->target, kMax);
}

// Every strict prefix of an encoded entry, of every kind, is refused as
// corrupt (kInternal), never decoded into a shorter entry.
TEST(EntryCodec, DecodeRefusesEveryTruncation) {
  Message edit = ChangeEntry(ConversationId(8), 20, UserId(3), EntryKind::kEdit, 19);
  edit.body = "fixed";
  Message react = ChangeEntry(ConversationId(8), 22, UserId(4), EntryKind::kReaction, 19);
  react.emoji = "x";
  for (const Message& m : {FullTextEntry(), TextEntry(ConversationId(1), 1, UserId(1), "a"), edit, react}) {
    const std::string value = EncodeEntry(m);
    for (size_t n = 0; n < value.size(); ++n) {
      ExpectCorrupt(DecodeEntry(value.substr(0, n), m.conv, m.seq),
                    "prefix of " + std::to_string(n) + "/" + std::to_string(value.size()) + " bytes");
    }
  }
}

// Values that are not an entry: another format byte, an unknown kind,
// trailing bytes, a varint that never ends, random bytes.
TEST(EntryCodec, DecodeRefusesGarbage) {
  const Message m = TextEntry(ConversationId(1), 1, UserId(1), "hello");
  const std::string good = EncodeEntry(m);
  ASSERT_TRUE(DecodeEntry(good, m.conv, m.seq).ok());

  std::string other_format = good;
  other_format[0] = 2;
  ExpectCorrupt(DecodeEntry(other_format, m.conv, m.seq), "format 2");
  ExpectCorrupt(DecodeEntry(good + '\0', m.conv, m.seq), "a trailing byte");
  ExpectCorrupt(DecodeEntry(std::string(1, '\1') + std::string(20, '\xff'), m.conv, m.seq), "endless varint");
  ExpectCorrupt(DecodeEntry("garbage that is not an entry", m.conv, m.seq), "text");
  // Kind code 9 after id 1, sender 1, ts 1 (zigzag 2 each).
  ExpectCorrupt(DecodeEntry(std::string("\1\2\2\2\x09\0\0", 7), m.conv, m.seq), "kind 9");
  // A body length past the end of the value.
  ExpectCorrupt(DecodeEntry(std::string("\1\2\2\2\0\0\x7f"
                                        "abc",
                                        10),
                            m.conv, m.seq),
                "long body");
  Result<Message> r = DecodeEntry("", ConversationId(6), 7);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("7"), std::string::npos) << r.error().message;
}

// --- the batch work codec ---------------------------------------------------------

IndexWork FullWork() {
  IndexWork w;
  w.batch = 4242;
  w.advances = {{ConversationId(1), 10, 1'700'000'000'000}, {ConversationId(kMax), 1, -3}};
  w.read_marks = {{ConversationId(1), UserId(2), 10}, {ConversationId(3), UserId(kMax), 0}};
  w.texts = {{ConversationId(1), 9, 55, "new body", false, true},
             {ConversationId(1), 4, 66, "edited", false, false},
             {ConversationId(1), 2, 77, "", true, false},
             {ConversationId(2), 1, 88, std::string("a\0b", 3), true, true}};
  w.attachments = {{ConversationId(1), 9, {UploadId(5), UploadId(3), UploadId(kMax)}},
                   {ConversationId(2), 1, {}}};
  w.deleted = {{ConversationId(1), 2}, {ConversationId(kMax), kMax}};
  return w;
}

// IndexWork's own `operator== = default` is deleted (its nested structs
// have no operator==), so the tests compare field by field.
bool SameWork(const IndexWork& a, const IndexWork& b) {
  auto same = [](const auto& x, const auto& y, auto eq) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!eq(x[i], y[i])) return false;
    }
    return true;
  };
  return a.batch == b.batch &&
         same(a.advances, b.advances,
              [](const IndexWork::Advance& x, const IndexWork::Advance& y) {
                return x.conv == y.conv && x.last_seq == y.last_seq && x.last_ts == y.last_ts;
              }) &&
         same(a.read_marks, b.read_marks,
              [](const IndexWork::ReadMark& x, const IndexWork::ReadMark& y) {
                return x.conv == y.conv && x.user == y.user && x.seq == y.seq;
              }) &&
         same(a.texts, b.texts,
              [](const IndexWork::Text& x, const IndexWork::Text& y) {
                return x.conv == y.conv && x.seq == y.seq && x.ts == y.ts && x.body == y.body &&
                       x.deleted == y.deleted && x.fresh == y.fresh;
              }) &&
         same(a.attachments, b.attachments,
              [](const IndexWork::Attach& x, const IndexWork::Attach& y) {
                return x.conv == y.conv && x.seq == y.seq && x.uploads == y.uploads;
              }) &&
         a.deleted == b.deleted;
}

// A batch's work with every list filled (and every flag combination of a
// text) decodes to the same work; so does an empty one.
TEST(IndexWorkCodec, RoundTrips) {
  const IndexWork full = FullWork();
  Result<IndexWork> back = DecodeIndexWork(EncodeIndexWork(full));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(SameWork(*back, full));
  ASSERT_EQ(back->texts.size(), 4u);
  EXPECT_TRUE(back->texts[0].fresh);
  EXPECT_FALSE(back->texts[0].deleted);
  EXPECT_FALSE(back->texts[2].fresh);
  EXPECT_TRUE(back->texts[2].deleted);
  EXPECT_EQ(back->texts[3].body, std::string("a\0b", 3));
  ASSERT_EQ(back->attachments.size(), 2u);
  EXPECT_EQ(back->attachments[0].uploads, (std::vector<UploadId>{UploadId(5), UploadId(3), UploadId(kMax)}));

  IndexWork empty;
  empty.batch = 1;
  Result<IndexWork> none = DecodeIndexWork(EncodeIndexWork(empty));
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_TRUE(SameWork(*none, empty));
  EXPECT_FALSE(SameWork(*none, full));
}

// Every strict prefix, a trailing byte, another format and random bytes are
// refused with kInternal.
TEST(IndexWorkCodec, DecodeRefusesTruncationsAndGarbage) {
  const std::string value = EncodeIndexWork(FullWork());
  for (size_t n = 0; n < value.size(); ++n) {
    Result<IndexWork> r = DecodeIndexWork(value.substr(0, n));
    ASSERT_FALSE(r.ok()) << "a prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().code, Errc::kInternal);
  }
  for (const std::string& bad : {value + "x", std::string(1, '\2') + value.substr(1), std::string("W"),
                                 std::string(1, '\1') + std::string(12, '\x80')}) {
    Result<IndexWork> r = DecodeIndexWork(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kInternal);
  }
}

// --- EntryDb ---------------------------------------------------------------------------

// A temporary folder per test, removed with it.
class EntryDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "parley-entries-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    Result<std::unique_ptr<EntryDb>> db =
        EntryDb::Open(EntryDb::Options{.dir = dir_ + "/primary", .sync = false});
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(db).value();
  }
  void TearDown() override {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Write(EntryBatch& batch) {
    Result<void> r = db_->Write(batch);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // conv 5 holds text entries 1..10; its neighbours 4 and 6 hold entries of
  // their own on both sides of it (6 has seqs 1..12, 4 has 1..3); 8 holds
  // one, so 7 (empty) sits between two conversations with entries.
  void WriteConversations() {
    EntryBatch batch;
    for (int64_t seq = 1; seq <= 10; ++seq)
      batch.PutEntry(TextEntry(kConv, seq, UserId(1), Body(kConv, seq)));
    for (int64_t seq = 1; seq <= 12; ++seq)
      batch.PutEntry(TextEntry(kNext, seq, UserId(1), Body(kNext, seq)));
    for (int64_t seq = 1; seq <= 3; ++seq) batch.PutEntry(TextEntry(kPrev, seq, UserId(1), Body(kPrev, seq)));
    batch.PutEntry(TextEntry(ConversationId(8), 1, UserId(1), Body(ConversationId(8), 1)));
    Write(batch);
  }

  static std::string Body(ConversationId conv, int64_t seq) {
    return "conv " + conv.ToString() + " seq " + std::to_string(seq);
  }

  // The seqs of a page of conv, checking each entry is conv's own.
  std::vector<int64_t> PageSeqs(ConversationId conv, std::optional<int64_t> before,
                                std::optional<int64_t> after, int limit,
                                const EntryDb::View* view = nullptr) {
    Result<std::vector<Message>> page = db_->Page(conv, before, after, limit, view);
    EXPECT_TRUE(page.ok()) << page.error().message;
    std::vector<int64_t> seqs;
    if (!page.ok()) return seqs;
    for (const Message& m : *page) {
      EXPECT_EQ(m.conv, conv);
      EXPECT_EQ(m.body, Body(conv, m.seq));
      seqs.push_back(m.seq);
    }
    return seqs;
  }

  static constexpr ConversationId kPrev{4};
  static constexpr ConversationId kConv{5};
  static constexpr ConversationId kNext{6};

  std::string dir_;
  std::unique_ptr<EntryDb> db_;
};

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

// The shapes of Store::History, spelled out on conv 5 (seqs 1..10).
TEST_F(EntryDbTest, PageServesEachBeforeAfterLimitShape) {
  WriteConversations();
  // Neither bound: the newest `limit`.
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, std::nullopt, 3), Range(8, 10));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, std::nullopt, 50), Range(1, 10));
  // Before only: the `limit` just below it.
  EXPECT_EQ(PageSeqs(kConv, 5, std::nullopt, 3), Range(2, 4));
  EXPECT_EQ(PageSeqs(kConv, 3, std::nullopt, 5), Range(1, 2));
  EXPECT_EQ(PageSeqs(kConv, 2, std::nullopt, 5), Range(1, 1));
  EXPECT_EQ(PageSeqs(kConv, 1, std::nullopt, 5), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, 0, std::nullopt, 5), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, -7, std::nullopt, 5), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, 11, std::nullopt, 2), Range(9, 10));
  EXPECT_EQ(PageSeqs(kConv, kMax, std::nullopt, 2), Range(9, 10));
  // After only: after+1 .. after+limit.
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, 0, 3), Range(1, 3));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, 7, 5), Range(8, 10));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, 9, 1), Range(10, 10));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, 10, 5), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, 500, 5), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, -4, 2), Range(1, 2));  // a negative after reads like 0
  // Both: the first `limit` above after and below before.
  EXPECT_EQ(PageSeqs(kConv, 8, 2, 10), Range(3, 7));
  EXPECT_EQ(PageSeqs(kConv, 8, 2, 2), Range(3, 4));
  EXPECT_EQ(PageSeqs(kConv, 6, 5, 10), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, 3, 7, 10), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, 100, 8, 10), Range(9, 10));
  // No limit, no page.
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, std::nullopt, 0), Range(1, 0));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, 0, -1), Range(1, 0));
}

// Every combination of bounds and limits equals the definition of
// Store::History computed on the seqs 1..10, whatever the neighbours hold.
TEST_F(EntryDbTest, PageEqualsTheDefinitionForEveryShape) {
  WriteConversations();
  const std::vector<std::optional<int64_t>> befores = {std::nullopt, kMin, -1, 0, 1, 2, 5, 10, 11, 13, kMax};
  const std::vector<std::optional<int64_t>> afters = {std::nullopt, kMin, -1, 0,       1, 4, 9,
                                                      10,           11,   13, kMax - 1};
  for (const auto& before : befores) {
    for (const auto& after : afters) {
      for (int limit : {1, 2, 3, 9, 10, 11, 500}) {
        std::vector<int64_t> in;
        for (int64_t s = 1; s <= 10; ++s) {
          if ((!before || s < *before) && (!after || s > *after)) in.push_back(s);
        }
        std::vector<int64_t> want;
        if (after) {
          want.assign(in.begin(), in.begin() + std::min<size_t>(in.size(), limit));
        } else {
          want.assign(in.end() - std::min<size_t>(in.size(), limit), in.end());
        }
        EXPECT_EQ(PageSeqs(kConv, before, after, limit), want)
            << "before " << (before ? std::to_string(*before) : "-") << " after "
            << (after ? std::to_string(*after) : "-") << " limit " << limit;
      }
    }
  }
}

// The neighbours' keys never leak: an empty conversation between two with
// entries reads nothing, and each neighbour reads only its own entries.
TEST_F(EntryDbTest, PageNeverReadsAnotherConversation) {
  WriteConversations();
  const ConversationId empty(7);
  EXPECT_EQ(PageSeqs(empty, std::nullopt, std::nullopt, 10), Range(1, 0));
  EXPECT_EQ(PageSeqs(empty, 5, std::nullopt, 10), Range(1, 0));
  EXPECT_EQ(PageSeqs(empty, std::nullopt, 0, 10), Range(1, 0));
  EXPECT_EQ(PageSeqs(empty, kMax, 0, 10), Range(1, 0));
  EXPECT_EQ(PageSeqs(kNext, std::nullopt, std::nullopt, 500), Range(1, 12));
  EXPECT_EQ(PageSeqs(kNext, std::nullopt, 0, 500), Range(1, 12));
  EXPECT_EQ(PageSeqs(kPrev, std::nullopt, std::nullopt, 500), Range(1, 3));
  EXPECT_EQ(PageSeqs(kPrev, 20, 0, 500), Range(1, 3));
  EXPECT_EQ(PageSeqs(ConversationId(8), std::nullopt, std::nullopt, 500), Range(1, 1));
  Result<int64_t> last = db_->LastSeq(kConv);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 10);
  ASSERT_TRUE((last = db_->LastSeq(empty)).ok());
  EXPECT_EQ(*last, 0);
  ASSERT_TRUE((last = db_->LastSeq(kNext)).ok());
  EXPECT_EQ(*last, 12);
  ASSERT_TRUE((last = db_->LastSeq(ConversationId(9))).ok());
  EXPECT_EQ(*last, 0);
}

// A page read through a View sees the entries as they were when the view
// was taken; without one it sees the latest write.
TEST_F(EntryDbTest, PageThroughAViewIgnoresLaterWrites) {
  WriteConversations();
  EntryDb::View view(*db_);
  EntryBatch more;
  more.PutEntry(TextEntry(kConv, 11, UserId(2), Body(kConv, 11)));
  Write(more);
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, std::nullopt, 3, &view), Range(8, 10));
  EXPECT_EQ(PageSeqs(kConv, std::nullopt, std::nullopt, 3), Range(9, 11));
  Result<int64_t> last = db_->LastSeq(kConv, &view);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 10);
}

// Unread counts the U keys of conv above `after` by others than the viewer,
// none of another conversation's, and a deleted key no more.
TEST_F(EntryDbTest, CountUnreadExcludesTheViewersOwnAndRespectsAfter) {
  const UserId alice(1), bob(2), carol(3);
  EntryBatch batch;
  // seq: 1 alice, 2 bob, 3 alice, 4 carol, 5 bob, 6 alice (7 is a change entry: no key).
  const std::vector<UserId> senders = {alice, bob, alice, carol, bob, alice};
  for (size_t i = 0; i < senders.size(); ++i) batch.PutUnread(kConv, static_cast<int64_t>(i + 1), senders[i]);
  // Keys in the neighbours, by others than alice.
  for (int64_t seq = 1; seq <= 4; ++seq) {
    batch.PutUnread(kNext, seq, bob);
    batch.PutUnread(kPrev, seq + 10, carol);
  }
  Write(batch);
  auto unread = [&](int64_t after, UserId viewer) {
    Result<int64_t> n = db_->CountUnread(kConv, after, viewer);
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(unread(0, alice), 3);  // 2, 4, 5
  EXPECT_EQ(unread(0, bob), 4);    // 1, 3, 4, 6
  EXPECT_EQ(unread(0, UserId(99)), 6);
  EXPECT_EQ(unread(-3, alice), 3);
  EXPECT_EQ(unread(2, alice), 2);  // 4, 5
  EXPECT_EQ(unread(4, alice), 1);  // 5
  EXPECT_EQ(unread(4, bob), 1);    // 6
  EXPECT_EQ(unread(5, alice), 0);
  EXPECT_EQ(unread(6, carol), 0);
  EXPECT_EQ(unread(kMax - 1, carol), 0);
  // A deleted entry's key goes: it no longer counts.
  EntryBatch del;
  del.DeleteUnread(kConv, 4);
  Write(del);
  EXPECT_EQ(unread(0, alice), 2);
  EXPECT_EQ(unread(0, carol), 5);
  Result<int64_t> empty = db_->CountUnread(ConversationId(7), 0, alice);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, 0);
}

// The sequencer's pattern on the memtable's insert hints (one per
// conversation for E and U keys): many batches, each touching conversations
// in a different order, some seqs of a conversation written in descending
// order within one batch, and the batch works pruned by a range deletion
// every batch. Every conversation reads back whole and in order, the unread
// counts are exact, and only the unpruned works remain. (With the works'
// tag inside the hints' domain, RocksDB 7.8 aborts here: a range
// tombstone's insert reuses a point key's hint.)
TEST_F(EntryDbTest, InterleavedBatchesWithPrunedWorksReadBackInOrder) {
  constexpr int kConvs = 40;
  constexpr int kBatches = 300;
  std::vector<int64_t> last(kConvs + 1, 0);
  for (int b = 1; b <= kBatches; ++b) {
    EntryBatch batch;
    for (int i = 0; i < kConvs; ++i) {
      const int c = 1 + (b % 2 == 0 ? i : (i * 7 + b) % kConvs);
      const ConversationId conv(c);
      // Two seqs, the larger first in every third batch.
      const int64_t first = last[c] + 1;
      const int64_t second = last[c] + 2;
      for (int64_t seq :
           b % 3 == 0 ? std::vector<int64_t>{second, first} : std::vector<int64_t>{first, second}) {
        batch.PutEntry(TextEntry(conv, seq, UserId(1 + seq % 2), Body(conv, seq)));
        batch.PutUnread(conv, seq, UserId(1 + seq % 2));
      }
      last[c] = second;
    }
    batch.PutWork(b, "work " + std::to_string(b));
    if (b > 2) batch.DeleteWorkThrough(b - 2);
    Write(batch);
  }
  for (int c = 1; c <= kConvs; ++c) {
    EXPECT_EQ(PageSeqs(ConversationId(c), std::nullopt, std::nullopt, 10000), Range(1, last[c]))
        << "conv " << c;
    Result<int64_t> unread = db_->CountUnread(ConversationId(c), 0, UserId(1));
    ASSERT_TRUE(unread.ok());
    EXPECT_EQ(*unread, last[c] / 2) << "conv " << c;  // the even seqs are UserId(1)'s own
  }
  Result<std::vector<std::string>> works = db_->Works();
  ASSERT_TRUE(works.ok());
  EXPECT_EQ(*works, (std::vector<std::string>{"work " + std::to_string(kBatches - 1),
                                              "work " + std::to_string(kBatches)}));
}

// Mentions count the M keys of (conv, user) above `after` only.
TEST_F(EntryDbTest, CountMentionsCountsOneUsersKeysAboveAfter) {
  EntryBatch batch;
  batch.PutMention(kConv, UserId(2), 3);
  batch.PutMention(kConv, UserId(2), 7);
  batch.PutMention(kConv, UserId(3), 5);
  batch.PutMention(kNext, UserId(2), 1);
  batch.PutMention(kConv, UserId(1), 9);
  Write(batch);
  auto mentions = [&](UserId user, int64_t after) {
    Result<int64_t> n = db_->CountMentions(kConv, user, after);
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(mentions(UserId(2), 0), 2);
  EXPECT_EQ(mentions(UserId(2), 3), 1);
  EXPECT_EQ(mentions(UserId(2), 7), 0);
  EXPECT_EQ(mentions(UserId(3), 0), 1);
  EXPECT_EQ(mentions(UserId(4), 0), 0);
  EntryBatch del;
  del.DeleteMention(kConv, UserId(2), 7);
  Write(del);
  EXPECT_EQ(mentions(UserId(2), 0), 1);
}

// DeleteReactionsOf clears the R and C keys of one text entry and nothing
// of the next target or another conversation.
TEST_F(EntryDbTest, DeleteReactionsOfClearsOnlyThatTarget) {
  const std::string up = "\xf0\x9f\x91\x8d";
  EntryBatch batch;
  for (int64_t target : {3, 4}) {
    for (UserId u : {UserId(1), UserId(2)}) {
      batch.PutHeld(kConv, target, u, up);
      batch.PutHeld(kNext, target, u, up);
    }
    batch.PutHeld(kConv, target, UserId(1), "x");
    batch.PutCount(kConv, target, up, EmojiCount{2, target + 10});
    batch.PutCount(kConv, target, "x", EmojiCount{1, target + 11});
    batch.PutCount(kNext, target, up, EmojiCount{2, target + 20});
  }
  Write(batch);
  Result<std::vector<std::string>> held = db_->Held(kConv, 3, UserId(1));
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(*held, (std::vector<std::string>{"x", up}));
  EntryBatch clear;
  clear.DeleteReactionsOf(kConv, 3);
  Write(clear);
  for (UserId u : {UserId(1), UserId(2)}) {
    ASSERT_TRUE((held = db_->Held(kConv, 3, u)).ok());
    EXPECT_TRUE(held->empty());
  }
  ASSERT_TRUE((held = db_->Held(kConv, 4, UserId(1))).ok());
  EXPECT_EQ(*held, (std::vector<std::string>{"x", up}));
  ASSERT_TRUE((held = db_->Held(kNext, 3, UserId(2))).ok());
  EXPECT_EQ(*held, (std::vector<std::string>{up}));
  Result<std::optional<EmojiCount>> count = db_->Count(kConv, 3, up);
  ASSERT_TRUE(count.ok());
  EXPECT_FALSE(count->has_value());
  ASSERT_TRUE((count = db_->Count(kConv, 4, up)).ok());
  ASSERT_TRUE(count->has_value());
  EXPECT_EQ((*count)->count, 2);
  EXPECT_EQ((*count)->first_seq, 14);
  ASSERT_TRUE((count = db_->Count(kNext, 3, up)).ok());
  ASSERT_TRUE(count->has_value());
  EXPECT_EQ((*count)->first_seq, 23);
}

// Everything one EntryDb holds, read back through its API (for comparing
// two databases).
struct Snapshot {
  std::vector<Message> entries;  // ForEach order
  std::vector<std::string> work;
  std::optional<std::pair<ConversationId, int64_t>> client_id;
  std::vector<ConversationId> convs_of_bob;
  std::vector<std::string> held;
  std::optional<int64_t> count;
  std::vector<int64_t> edits;
  int64_t unread = -1;
  int64_t mentions = -1;
  int64_t last_seq = -1;
  std::vector<Message> folded_page;

  bool operator==(const Snapshot&) const = default;
};

Snapshot Read(EntryDb& db, ConversationId conv) {
  Snapshot s;
  EXPECT_TRUE(db.ForEach([&](const Message& m) -> Result<void> {
                  s.entries.push_back(m);
                  return Ok();
                }).ok());
  if (auto w = db.Works(); w.ok()) s.work = *w;
  if (auto c = db.FindClientId(UserId(2), "c4"); c.ok()) s.client_id = *c;
  if (auto v = db.ConversationsOf(UserId(2)); v.ok()) s.convs_of_bob = *v;
  if (auto h = db.Held(conv, 2, UserId(3)); h.ok()) s.held = *h;
  if (auto c = db.Count(conv, 2, "ok"); c.ok() && c->has_value()) s.count = (*c)->count;
  if (auto e = db.EditsOf(conv, 2); e.ok()) s.edits = *e;
  if (auto n = db.CountUnread(conv, 0, UserId(1)); n.ok()) s.unread = *n;
  if (auto n = db.CountMentions(conv, UserId(3), 0); n.ok()) s.mentions = *n;
  if (auto n = db.LastSeq(conv); n.ok()) s.last_seq = *n;
  if (auto p = db.Page(conv, std::nullopt, std::nullopt, 100); p.ok()) {
    s.folded_page = *p;
    EXPECT_TRUE(db.FoldReactions(conv, UserId(3), s.folded_page).ok());
  }
  return s;
}

// CopyEntries reads a database its primary still has open (its last writes
// only in the WAL and memtable) and copies every key: the copy opens as an
// EntryDb and reads the same, and later writes to the primary stay out of it.
TEST_F(EntryDbTest, CopyEntriesCopiesEveryKeyOfAnOpenDatabase) {
  const ConversationId conv = kConv;
  const UserId alice(1), bob(2), carol(3);
  int64_t keys = 0;
  // Batch 1: three text entries with their keys.
  {
    EntryBatch b;
    for (int64_t seq = 1; seq <= 3; ++seq) {
      const UserId sender = seq == 2 ? bob : alice;
      Message m = TextEntry(conv, seq, sender, Body(conv, seq));
      if (seq == 2) m.mentions = {carol};
      if (seq == 3) m.attachments = {Attachment{UploadId(70), "f.txt", "text/plain", 9}};
      b.PutEntry(m);
      b.PutClientId(sender, m.client_msg_id, conv, seq);
      b.PutUnread(conv, seq, sender);
      b.PutSenderConversation(sender, conv);
      keys += 4;
    }
    b.PutMention(conv, carol, 2);
    b.PutWork(1, "work of batch 1");
    keys += 2;  // S alice is written twice: one key
    keys -= 1;
    ASSERT_NO_FATAL_FAILURE(Write(b));
  }
  // Batch 2: an edit of 2 and two reactions to it, in another conversation too.
  {
    EntryBatch b;
    Message edit = ChangeEntry(conv, 4, bob, EntryKind::kEdit, 2);
    edit.body = "edited";
    edit.client_msg_id = "c4";
    b.PutEntry(edit);
    b.PutClientId(bob, "c4", conv, 4);
    b.PutEdit(conv, 2, 4);
    Message react = ChangeEntry(conv, 5, carol, EntryKind::kReaction, 2);
    react.emoji = "ok";
    b.PutEntry(react);
    b.PutHeld(conv, 2, carol, "ok");
    b.PutCount(conv, 2, "ok", EmojiCount{1, 5});
    b.PutSenderConversation(carol, conv);
    b.PutEntry(TextEntry(kNext, 1, bob, Body(kNext, 1)));
    b.PutSenderConversation(bob, kNext);
    b.PutWork(2, "work of batch 2");
    keys += 3 + 4 + 3;
    ASSERT_NO_FATAL_FAILURE(Write(b));
  }
  const std::string copy = dir_ + "/copy";
  Result<int64_t> copied = CopyEntries(dir_ + "/primary", copy, dir_ + "/scratch");
  ASSERT_TRUE(copied.ok()) << copied.error().message;
  EXPECT_EQ(*copied, keys);
  // The primary goes on writing; the copy is as of the call.
  {
    EntryBatch b;
    b.PutEntry(TextEntry(conv, 6, alice, Body(conv, 6)));
    b.PutWork(3, "work of batch 3");
    ASSERT_NO_FATAL_FAILURE(Write(b));
  }
  Result<std::unique_ptr<EntryDb>> opened = EntryDb::Open(EntryDb::Options{.dir = copy, .sync = false});
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EntryDb& dest = **opened;
  Snapshot got = Read(dest, conv);
  EXPECT_EQ(got.entries.size(), 6u);
  EXPECT_EQ(got.work, (std::vector<std::string>{"work of batch 1", "work of batch 2"}));
  EXPECT_EQ(got.client_id, (std::optional<std::pair<ConversationId, int64_t>>(std::pair(conv, int64_t{4}))));
  EXPECT_EQ(got.convs_of_bob, (std::vector<ConversationId>{conv, kNext}));
  EXPECT_EQ(got.held, (std::vector<std::string>{"ok"}));
  EXPECT_EQ(got.count, std::optional<int64_t>(1));
  EXPECT_EQ(got.edits, (std::vector<int64_t>{4}));
  EXPECT_EQ(got.unread, 1);  // bob's 2
  EXPECT_EQ(got.mentions, 1);
  EXPECT_EQ(got.last_seq, 5);
  ASSERT_EQ(got.folded_page.size(), 5u);
  ASSERT_EQ(got.folded_page[1].reactions.size(), 1u);
  EXPECT_EQ(got.folded_page[1].reactions[0], (Reaction{"ok", 1, true}));
  EXPECT_EQ(got.folded_page[1].mentions, (std::vector<UserId>{carol}));
  EXPECT_EQ(got.folded_page[2].attachments.size(), 1u);
  // The primary, without batch 3's entry and work, reads the same.
  Snapshot primary = Read(*db_, conv);
  ASSERT_EQ(primary.work.size(), 3u);
  primary.work.pop_back();
  EXPECT_EQ(primary.last_seq, 6);
  ASSERT_FALSE(primary.entries.empty());
  primary.entries.erase(primary.entries.begin() + 5);  // (5, 6): after (5, 5), before (6, 1)
  primary.last_seq = 5;
  primary.folded_page.pop_back();
  EXPECT_TRUE(primary == got);
  // The copy is a database of its own: writing it leaves the primary alone.
  EntryBatch own;
  own.PutEntry(TextEntry(ConversationId(40), 1, alice, "only in the copy"));
  ASSERT_TRUE(dest.Write(own).ok());
  Result<int64_t> last = db_->LastSeq(ConversationId(40));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 0);
}

// A copy into a directory that holds a database already, or from one that
// does not exist, fails without touching either.
TEST_F(EntryDbTest, CopyEntriesFromNothingFails) {
  Result<int64_t> copied = CopyEntries(dir_ + "/no-such-db", dir_ + "/copy", dir_ + "/scratch");
  ASSERT_FALSE(copied.ok());
  EXPECT_NE(copied.error().message.find("no-such-db"), std::string::npos) << copied.error().message;
}

// ForEach walks every entry by conversation then seq, and stops at the
// first error its function returns.
TEST_F(EntryDbTest, ForEachWalksByConversationThenSeqAndStopsOnError) {
  WriteConversations();
  std::vector<std::pair<int64_t, int64_t>> seen;
  ASSERT_TRUE(db_->ForEach([&](const Message& m) -> Result<void> {
                   seen.emplace_back(m.conv.value, m.seq);
                   return Ok();
                 })
                  .ok());
  ASSERT_EQ(seen.size(), 3u + 10u + 12u + 1u);
  EXPECT_EQ(seen.front(), (std::pair<int64_t, int64_t>(4, 1)));
  EXPECT_EQ(seen[3], (std::pair<int64_t, int64_t>(5, 1)));
  EXPECT_EQ(seen[12], (std::pair<int64_t, int64_t>(5, 10)));
  EXPECT_EQ(seen[13], (std::pair<int64_t, int64_t>(6, 1)));
  EXPECT_EQ(seen.back(), (std::pair<int64_t, int64_t>(8, 1)));
  int calls = 0;
  Result<void> stopped = db_->ForEach([&](const Message&) -> Result<void> {
    if (++calls == 5) return MakeError(Errc::kUnavailable, "stop here");
    return Ok();
  });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code, Errc::kUnavailable);
  EXPECT_EQ(stopped.error().message, "stop here");
  EXPECT_EQ(calls, 5);
}

}  // namespace
}  // namespace parley::store::sqlite
