// The promises of every blob store (uploads/blob_store.h).
#include "blob_contract.h"

#include <limits>
#include <string>

#include "uploads/sha256.h"

namespace parley::uploads::contract {

void BlobStoreContract::SetUp() {
  blobs_ = GetParam().make();
  ASSERT_NE(blobs_, nullptr);
}

std::string BlobStoreContract::Put(const std::string& bytes, TimeMs now, size_t piece) {
  Sha256 sha;
  sha.Update(bytes);
  const std::string digest = sha.HexDigest();
  auto writer = blobs_->Create();
  if (!writer.ok()) {
    ADD_FAILURE() << "Create: " << writer.error().message;
    return "";
  }
  for (size_t i = 0; i < bytes.size(); i += piece) {
    if (auto ok = (*writer)->Append(std::string_view(bytes).substr(i, piece)); !ok) {
      ADD_FAILURE() << "Append: " << ok.error().message;
      return "";
    }
  }
  if (auto ok = (*writer)->Commit(digest, now); !ok) {
    ADD_FAILURE() << "Commit: " << ok.error().message;
    return "";
  }
  return digest;
}

namespace {

// Bytes that differ at every position, so a piece read from the wrong
// offset cannot pass.
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return s;
}

}  // namespace

TEST_P(BlobStoreContract, WrittenBytesReadBackAtAnyOffset) {
  // More than two chunks of the PostgreSQL backend, written in pieces that
  // do not line up with them.
  const std::string bytes = Pattern(600 * 1024 + 123);
  const std::string sha = Put(bytes, 1000, 100 * 1024 + 7);
  ASSERT_FALSE(sha.empty());
  auto whole = blobs_->Read(sha, 0, bytes.size() + 10);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_TRUE(*whole == bytes);
  for (int64_t offset : {0, 1, 256 * 1024 - 3, 256 * 1024, 512 * 1024 + 5, 600 * 1024 + 100}) {
    auto piece = blobs_->Read(sha, offset, 10'000);
    ASSERT_TRUE(piece.ok()) << offset;
    EXPECT_TRUE(*piece == bytes.substr(static_cast<size_t>(offset), 10'000)) << "offset " << offset;
  }
  auto end = blobs_->Read(sha, static_cast<int64_t>(bytes.size()), 10);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, "");
}

TEST_P(BlobStoreContract, UnknownBlobIsNotFound) {
  EXPECT_EQ(blobs_->Read(std::string(64, 'a'), 0, 10).error().code, Errc::kNotFound);
  EXPECT_EQ(blobs_->Read("not-a-digest", 0, 10).error().code, Errc::kNotFound);
  auto removed = blobs_->Remove(std::string(64, 'a'), 1'000'000);
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
}

TEST_P(BlobStoreContract, SameBytesAreKeptOnceAndLinkedAtTheLatestCommit) {
  const std::string sha = Put("the same bytes", 1000);
  ASSERT_FALSE(sha.empty());
  EXPECT_EQ(Put("the same bytes", 5000), sha);
  EXPECT_EQ(Put("the same bytes", 3000), sha);  // an older commit does not move it back
  EXPECT_EQ(*blobs_->Read(sha, 0, 100), "the same bytes");
  // Linked at 5000: a collector deciding from before that leaves it.
  auto early = blobs_->Remove(sha, 5000);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(*early);
  EXPECT_EQ(*blobs_->Read(sha, 0, 100), "the same bytes");
  auto removed = blobs_->Remove(sha, 5001);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_EQ(blobs_->Read(sha, 0, 100).error().code, Errc::kNotFound);
  auto again = blobs_->Remove(sha, 5001);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

TEST_P(BlobStoreContract, AWriterDroppedBeforeCommitLeavesNothing) {
  {
    auto writer = blobs_->Create();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(Pattern(300 * 1024)).ok());
  }
  Sha256 sha;
  sha.Update(Pattern(300 * 1024));
  EXPECT_EQ(blobs_->Read(sha.HexDigest(), 0, 10).error().code, Errc::kNotFound);
  auto abandoned = blobs_->RemoveAbandoned(std::numeric_limits<TimeMs>::max());
  ASSERT_TRUE(abandoned.ok());
  EXPECT_EQ(*abandoned, 0);  // the writer cleaned up after itself
}

TEST_P(BlobStoreContract, AWriterCollectedAsAbandonedCannotCommit) {
  const std::string bytes = Pattern(1000);
  Sha256 sha;
  sha.Update(bytes);
  auto writer = blobs_->Create();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(bytes).ok());
  auto abandoned = blobs_->RemoveAbandoned(std::numeric_limits<TimeMs>::max());
  ASSERT_TRUE(abandoned.ok());
  EXPECT_EQ(*abandoned, 1);
  auto commit = (*writer)->Commit(sha.HexDigest(), 1000);
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(commit.error().code, Errc::kUnavailable);
  EXPECT_EQ(blobs_->Read(sha.HexDigest(), 0, 10).error().code, Errc::kNotFound);
}

TEST_P(BlobStoreContract, RecentWritersAreNotAbandoned) {
  auto writer = blobs_->Create();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("x").ok());
  auto abandoned = blobs_->RemoveAbandoned(0);  // started after the epoch
  ASSERT_TRUE(abandoned.ok());
  EXPECT_EQ(*abandoned, 0);
  Sha256 sha;
  sha.Update("x");
  const std::string digest = sha.HexDigest();
  ASSERT_TRUE((*writer)->Commit(digest, 1000).ok());
  EXPECT_EQ(*blobs_->Read(digest, 0, 10), "x");
}

}  // namespace parley::uploads::contract
