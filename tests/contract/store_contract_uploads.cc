// The store's promises for the metadata of uploads (PROTOCOL.md §6), run for
// every backend with the rest of StoreContract.
#include <string>
#include <vector>

#include "store_contract.h"

namespace parley::store::contract {
namespace {

UploadRecord NewUpload(int64_t id, UserId uploader, const std::string& sha, TimeMs created,
                       const std::string& name = "photo.png") {
  return UploadRecord{UploadId(id), uploader, name, "image/png", 1234, sha, created};
}

const std::string kShaA(64, 'a');
const std::string kShaB(64, 'b');

}  // namespace

TEST_P(StoreContract, UploadsAreStoredAndReadBack) {
  UserId a = NewUser("a");
  // Path separators and control characters are the user's name, kept as given.
  UploadRecord up = NewUpload(7'000'000'000'001, a, kShaA, 500, "../x\r\n\t\"y\".html");
  ASSERT_OK(store_->CreateUpload(up));
  Result<UploadRecord> got = store_->GetUpload(up.id);
  ASSERT_OK(got);
  EXPECT_EQ(*got, up);
  EXPECT_ERRC(store_->GetUpload(UploadId(5)), Errc::kNotFound);
  // The same id again: a conflict; an unknown uploader: not found.
  EXPECT_ERRC(store_->CreateUpload(NewUpload(7'000'000'000'001, a, kShaB, 600)), Errc::kConflict);
  EXPECT_ERRC(store_->CreateUpload(NewUpload(8, UserId(999'999), kShaB, 600)), Errc::kNotFound);
  EXPECT_ERRC(store_->GetUpload(UploadId(8)), Errc::kNotFound);
}

TEST_P(StoreContract, UploadsSurviveARestart) {
  if (!GetParam().reopen) GTEST_SKIP() << "backend cannot reopen";
  UserId a = NewUser("a");
  UploadRecord up = NewUpload(11, a, kShaA, 500);
  ASSERT_OK(store_->CreateUpload(up));
  Reopen();
  Result<UploadRecord> got = store_->GetUpload(up.id);
  ASSERT_OK(got);
  EXPECT_EQ(*got, up);
}

TEST_P(StoreContract, AnUploadNothingAttachesHasNoLinks) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->CreateUpload(NewUpload(1, a, kShaA, 500)));
  for (UserId viewer : {a, b, UserId()}) {
    Result<UploadLinks> links = store_->GetUploadLinks(UploadId(1), viewer);
    ASSERT_OK(links);
    EXPECT_FALSE(links->attached);
    EXPECT_FALSE(links->live);
    EXPECT_FALSE(links->member);
  }
  Result<UploadLinks> unknown = store_->GetUploadLinks(UploadId(99), a);
  ASSERT_OK(unknown);
  EXPECT_FALSE(unknown->attached);
}

TEST_P(StoreContract, UnattachedUploadsAreListedOldestFirstBeforeTheCutoff) {
  UserId a = NewUser("a");
  ASSERT_OK(store_->CreateUpload(NewUpload(3, a, kShaA, 300)));
  ASSERT_OK(store_->CreateUpload(NewUpload(1, a, kShaA, 100)));
  ASSERT_OK(store_->CreateUpload(NewUpload(2, a, kShaB, 200)));
  ASSERT_OK(store_->CreateUpload(NewUpload(4, a, kShaB, 400)));
  Result<std::vector<UploadRecord>> old = store_->UnattachedUploads(300, 10);
  ASSERT_OK(old);
  ASSERT_EQ(old->size(), 2u);
  EXPECT_EQ((*old)[0].id, UploadId(1));
  EXPECT_EQ((*old)[1].id, UploadId(2));
  Result<std::vector<UploadRecord>> one = store_->UnattachedUploads(1000, 1);
  ASSERT_OK(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].id, UploadId(1));
}

TEST_P(StoreContract, DeletingAnUploadSaysWhetherItsBlobIsStillNamed) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->CreateUpload(NewUpload(1, a, kShaA, 100)));
  ASSERT_OK(store_->CreateUpload(NewUpload(2, b, kShaA, 200)));
  ASSERT_OK(store_->CreateUpload(NewUpload(3, a, kShaB, 300)));
  Result<UploadRemoval> first = store_->DeleteUnattachedUpload(UploadId(1));
  ASSERT_OK(first);
  EXPECT_TRUE(first->removed);
  EXPECT_TRUE(first->blob_in_use);  // upload 2 has the same bytes
  EXPECT_ERRC(store_->GetUpload(UploadId(1)), Errc::kNotFound);
  Result<UploadRemoval> second = store_->DeleteUnattachedUpload(UploadId(2));
  ASSERT_OK(second);
  EXPECT_TRUE(second->removed);
  EXPECT_FALSE(second->blob_in_use);
  Result<UploadRemoval> again = store_->DeleteUnattachedUpload(UploadId(2));
  ASSERT_OK(again);
  EXPECT_FALSE(again->removed);
  // The others are untouched.
  ASSERT_OK(store_->GetUpload(UploadId(3)));
  Result<std::vector<UploadRecord>> left = store_->UnattachedUploads(1000, 10);
  ASSERT_OK(left);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].id, UploadId(3));
}

}  // namespace parley::store::contract

namespace parley::store::contract {

// PROTOCOL.md §6: a text entry attaches its sender's uploads; the store
// checks them in the commit, serves them with the entry until it is deleted,
// and says who the upload reaches through it.
TEST_P(StoreContract, ATextEntryAttachesItsSendersUploads) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  ConversationId g = NewGroup(a, {b});
  ASSERT_OK(store_->CreateUpload(UploadRecord{UploadId(71), a, "one.png", "image/png", 10, kShaA, 100}));
  ASSERT_OK(
      store_->CreateUpload(UploadRecord{UploadId(72), a, "two.pdf", "application/pdf", 20, kShaB, 100}));
  NewMessage m = Text(g, a, "with-files", "");
  m.attachments = {UploadId(72), UploadId(71)};
  Result<Committed> sent = Commit(m);
  ASSERT_OK(sent);
  const std::vector<Attachment> want = {Attachment{UploadId(72), "two.pdf", "application/pdf", 20},
                                        Attachment{UploadId(71), "one.png", "image/png", 10}};
  EXPECT_EQ(sent->message.attachments, want);
  EXPECT_EQ(sent->message.body, "");
  EXPECT_EQ(EntryAt(g, sent->message.seq, b).attachments, want);

  Result<UploadLinks> member = store_->GetUploadLinks(UploadId(71), b);
  ASSERT_OK(member);
  EXPECT_TRUE(member->attached);
  EXPECT_TRUE(member->live);
  EXPECT_TRUE(member->member);
  Result<UploadLinks> outsider = store_->GetUploadLinks(UploadId(71), c);
  ASSERT_OK(outsider);
  EXPECT_TRUE(outsider->live);
  EXPECT_FALSE(outsider->member);
  // Attached: not the collector's, and not removable.
  Result<std::vector<UploadRecord>> unattached = store_->UnattachedUploads(1'000'000, 10);
  ASSERT_OK(unattached);
  EXPECT_TRUE(unattached->empty());
  Result<UploadRemoval> kept = store_->DeleteUnattachedUpload(UploadId(71));
  ASSERT_OK(kept);
  EXPECT_FALSE(kept->removed);
  ASSERT_OK(store_->GetUpload(UploadId(71)));
}

TEST_P(StoreContract, AMissingOrSomeoneElsesUploadRefusesTheEntry) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(a, {b});
  ASSERT_OK(store_->CreateUpload(UploadRecord{UploadId(81), b, "bs.png", "image/png", 10, kShaA, 100}));
  const int64_t before = Send(g, a, "first");
  NewMessage missing = Text(g, a, "missing");
  missing.attachments = {UploadId(404)};
  EXPECT_ERRC(Commit(missing), Errc::kNotFound);
  NewMessage others = Text(g, a, "others");
  others.attachments = {UploadId(81)};
  EXPECT_ERRC(Commit(others), Errc::kForbidden);
  // Neither used a seq, and b's upload stays unattached.
  EXPECT_EQ(Send(g, a, "next"), before + 1);
  Result<UploadLinks> links = store_->GetUploadLinks(UploadId(81), a);
  ASSERT_OK(links);
  EXPECT_FALSE(links->attached);
}

TEST_P(StoreContract, ADeletedEntryAttachesNothingAnyMore) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(a, {b});
  ASSERT_OK(store_->CreateUpload(UploadRecord{UploadId(91), a, "x.png", "image/png", 10, kShaA, 100}));
  NewMessage m = Text(g, a, "pic", "look");
  m.attachments = {UploadId(91)};
  Result<Committed> sent = Commit(m);
  ASSERT_OK(sent);
  ASSERT_OK(Commit(Delete(g, a, "del", sent->message.seq)));
  Message gone = EntryAt(g, sent->message.seq, b);
  EXPECT_TRUE(gone.deleted);
  EXPECT_TRUE(gone.attachments.empty());
  Result<UploadLinks> links = store_->GetUploadLinks(UploadId(91), b);
  ASSERT_OK(links);
  EXPECT_TRUE(links->attached);
  EXPECT_FALSE(links->live);
  EXPECT_FALSE(links->member);
  // Now the collector's: removed with the attachment rows of the deleted entry.
  Result<std::vector<UploadRecord>> unattached = store_->UnattachedUploads(1'000'000, 10);
  ASSERT_OK(unattached);
  ASSERT_EQ(unattached->size(), 1u);
  Result<UploadRemoval> removed = store_->DeleteUnattachedUpload(UploadId(91));
  ASSERT_OK(removed);
  EXPECT_TRUE(removed->removed);
  EXPECT_FALSE(removed->blob_in_use);
  EXPECT_ERRC(store_->GetUpload(UploadId(91)), Errc::kNotFound);
}

}  // namespace parley::store::contract
