// The upload rules of chat::Service (PROTOCOL.md §6) over a real SQLite
// store and the files blob store, with the clock in the test's hand: who
// may read an upload, its signed url, the limit, and the collector.
#include <filesystem>
#include <string>

#include "chat/service_fixture.h"
#include "uploads/sha256.h"

namespace parley::chat {
namespace {

class UploadsTest : public ServiceFixture {
 protected:
  void SetUp() override {
    Options o;
    o.max_upload_bytes = 1000;
    o.upload_collect_after_s = 3600;
    StartService(sink_, o);
    alice_ = Register("alice").user.id;
    bob_ = Register("bob").user.id;
  }

  // Uploads `bytes` in pieces of at most 7 bytes, as a stream would.
  Result<store::UploadRecord> Upload(UserId who, const std::string& bytes, const std::string& name = "f.png",
                                     const std::string& type = "image/png") {
    auto sink = service_->BeginUpload(who, name, type);
    if (!sink.ok()) return sink.error();
    for (size_t i = 0; i < bytes.size(); i += 7) {
      if (auto ok = (*sink)->Write(std::string_view(bytes).substr(i, 7)); !ok) return ok.error();
    }
    return (*sink)->Finish();
  }

  // The exp and sig of an upload's signed url.
  std::pair<std::string, std::string> UrlParts(UploadId id) {
    const std::string url = service_->UploadUrl(id);
    const size_t e = url.find("?exp=");
    const size_t s = url.find("&sig=");
    return {url.substr(e + 5, s - e - 5), url.substr(s + 5)};
  }

  size_t BlobFiles() {
    size_t n = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_ / "uploads")) {
      if (entry.is_regular_file() && entry.path().parent_path().filename() != "tmp") ++n;
    }
    return n;
  }

  RecordingSink sink_;
  UserId alice_;
  UserId bob_;
};

TEST_F(UploadsTest, StoresSizeDigestNameAndTypeAndReadsBack) {
  const std::string bytes = "\x89PNG\r\n\x1a\n and some more bytes";
  auto up = Upload(alice_, bytes, "../pic\n.png", "image/PNG; x=1");
  ASSERT_TRUE(up.ok()) << up.error().message;
  EXPECT_EQ(up->size, static_cast<int64_t>(bytes.size()));
  uploads::Sha256 sha;
  sha.Update(bytes);
  EXPECT_EQ(up->sha256, sha.HexDigest());
  EXPECT_EQ(up->name, "../pic\n.png");
  EXPECT_EQ(up->content_type, "image/png");
  EXPECT_EQ(up->uploader, alice_);

  auto mine = service_->UploadForUser(alice_, up->id);
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(*mine, *up);
  EXPECT_EQ(*service_->ReadUpload(*mine, 0, 1000), bytes);
  EXPECT_EQ(*service_->ReadUpload(*mine, 4, 3), bytes.substr(4, 3));
  EXPECT_EQ(*service_->ReadUpload(*mine, static_cast<int64_t>(bytes.size()), 10), "");
}

TEST_F(UploadsTest, SomeoneElsesUploadIsNotFound) {
  auto up = Upload(alice_, "secret");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(service_->UploadForUser(bob_, up->id).error().code, Errc::kNotFound);
  EXPECT_EQ(service_->UploadForUser(bob_, UploadId(12345)).error().code, Errc::kNotFound);
}

TEST_F(UploadsTest, OverTheLimitKeepsNothing) {
  auto sink = service_->BeginUpload(alice_, "big.bin", "");
  ASSERT_TRUE(sink.ok());
  EXPECT_TRUE((*sink)->Write(std::string(600, 'a')).ok());
  auto over = (*sink)->Write(std::string(401, 'a'));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kTooLarge);
  EXPECT_EQ((*sink)->Finish().error().code, Errc::kTooLarge);
  sink->reset();
  EXPECT_EQ(BlobFiles(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "uploads" / "tmp"));
  // Exactly the limit is fine.
  EXPECT_TRUE(Upload(alice_, std::string(1000, 'b')).ok());
}

TEST_F(UploadsTest, EmptyBodyAndBadNamesAreRefused) {
  EXPECT_EQ(Upload(alice_, "").error().code, Errc::kBadRequest);
  EXPECT_EQ(service_->BeginUpload(alice_, "", "text/plain").error().code, Errc::kBadRequest);
  EXPECT_EQ(service_->BeginUpload(alice_, "bad\xff", "text/plain").error().code, Errc::kBadRequest);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "uploads" / "tmp"));
}

TEST_F(UploadsTest, AbandonedUploadKeepsNothing) {
  {
    auto sink = service_->BeginUpload(alice_, "f", "");
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write("half of it").ok());
  }
  EXPECT_EQ(BlobFiles(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "uploads" / "tmp"));
}

TEST_F(UploadsTest, SignedUrlWorksForAnyoneUntilItExpires) {
  auto up = Upload(alice_, "bytes");
  ASSERT_TRUE(up.ok());
  auto [exp, sig] = UrlParts(up->id);
  auto got = service_->UploadForUrl(up->id, exp, sig);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->id, up->id);
  // Tampered: another id, another expiry, another signature.
  auto other = Upload(alice_, "other bytes");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(service_->UploadForUrl(other->id, exp, sig).error().code, Errc::kForbidden);
  EXPECT_EQ(service_->UploadForUrl(up->id, exp + "0", sig).error().code, Errc::kForbidden);
  EXPECT_EQ(service_->UploadForUrl(up->id, exp, std::string(64, '0')).error().code, Errc::kForbidden);
  // At least an hour later it still works; past its expiry it does not.
  clock_.Advance(3600 * 1000);
  EXPECT_TRUE(service_->UploadForUrl(up->id, exp, sig).ok());
  clock_.Advance(26 * 3600 * 1000);
  EXPECT_EQ(service_->UploadForUrl(up->id, exp, sig).error().code, Errc::kForbidden);
}

TEST_F(UploadsTest, SameBytesAreKeptOnceAndCollectedWhenNothingNamesThem) {
  auto first = Upload(alice_, "same bytes");
  ASSERT_TRUE(first.ok());
  clock_.Advance(1000);
  auto second = Upload(bob_, "same bytes");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->id, second->id);
  EXPECT_EQ(first->sha256, second->sha256);
  EXPECT_EQ(BlobFiles(), 1u);

  // Younger than the age: nothing goes.
  auto none = service_->CollectUploads();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  // Only the first is old enough: it goes, the blob stays for the second.
  clock_.Advance(3600 * 1000 - 500);
  auto one = service_->CollectUploads();
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(*one, 1);
  EXPECT_EQ(service_->UploadForUser(alice_, first->id).error().code, Errc::kNotFound);
  auto kept = service_->UploadForUser(bob_, second->id);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*service_->ReadUpload(*kept, 0, 100), "same bytes");
  EXPECT_EQ(BlobFiles(), 1u);
  // Then the second, and the blob with it.
  clock_.Advance(1000);
  auto two = service_->CollectUploads();
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, 1);
  EXPECT_EQ(BlobFiles(), 0u);
  auto [exp, sig] = UrlParts(second->id);
  EXPECT_EQ(service_->UploadForUrl(second->id, exp, sig).error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace parley::chat
