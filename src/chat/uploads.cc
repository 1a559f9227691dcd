// Uploads (PROTOCOL.md §6): who may store, read and hold an upload, and the
// collector of those nothing attaches. The bytes go to the blob store given
// in Deps, the metadata to the store; neither is named here.
#include "chat/uploads.h"

#include <random>

#include "chat/service.h"
#include "common/logging.h"
#include "uploads/serving.h"

namespace parley::chat {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("uploads");
  return log;
}

// A new upload id: 63 random bits, so ids say nothing of how many uploads
// there are and cannot be walked.
UploadId NewUploadId() {
  static thread_local std::random_device device;  // the kernel's getrandom
  for (;;) {
    uint64_t v = (static_cast<uint64_t>(device()) << 32) ^ device();
    v &= 0x7fff'ffff'ffff'ffffULL;
    if (v != 0) return UploadId(static_cast<int64_t>(v));
  }
}

Error NoUpload() { return MakeError(Errc::kNotFound, "no such upload"); }

// Uploads the collector takes per round trip to the store.
constexpr int kCollectBatch = 500;

}  // namespace

UploadSink::UploadSink(store::Store& store, std::unique_ptr<uploads::BlobWriter> writer,
                       store::UploadRecord pending, int64_t limit)
    : store_(store), writer_(std::move(writer)), upload_(std::move(pending)), limit_(limit) {}

Result<void> UploadSink::Write(std::string_view piece) {
  if (too_large_) return MakeError(Errc::kTooLarge, "upload over the limit");
  if (!writer_) return MakeError(Errc::kInternal, "upload written after it finished");
  if (upload_.size + static_cast<int64_t>(piece.size()) > limit_) {
    too_large_ = true;
    writer_.reset();  // discards what was written
    return MakeError(Errc::kTooLarge, "uploads are at most " + std::to_string(limit_) + " bytes");
  }
  if (auto ok = writer_->Append(piece); !ok) {
    writer_.reset();
    return ok;
  }
  sha_.Update(piece);
  upload_.size += static_cast<int64_t>(piece.size());
  return Ok();
}

Result<store::UploadRecord> UploadSink::Finish() {
  if (too_large_)
    return MakeError(Errc::kTooLarge, "uploads are at most " + std::to_string(limit_) + " bytes");
  if (!writer_) return MakeError(Errc::kInternal, "upload finished twice or after a failure");
  if (upload_.size == 0) {
    writer_.reset();
    return MakeError(Errc::kBadRequest, "the upload is empty: send its bytes as the request body");
  }
  upload_.sha256 = sha_.HexDigest();
  // The blob first: metadata never names bytes that are not stored. A
  // crash in between leaves a blob nothing names, which the collector
  // removes once it is old enough.
  Result<void> stored = writer_->Commit(upload_.sha256, upload_.created);
  writer_.reset();
  if (!stored.ok()) return stored.error();
  Result<void> saved = store_.CreateUpload(upload_);
  if (!saved.ok() && saved.error().code == Errc::kConflict) {
    upload_.id = NewUploadId();  // 63 random bits met an existing id: draw again
    saved = store_.CreateUpload(upload_);
  }
  if (!saved.ok()) return saved.error();
  return upload_;
}

Result<std::unique_ptr<UploadSink>> Service::BeginUpload(UserId uploader, std::string_view name,
                                                         std::string_view content_type) {
  if (d_.blobs == nullptr) return MakeError(Errc::kUnavailable, "uploads are not configured on this server");
  PARLEY_ASSIGN_OR_RETURN(std::string stored_name, uploads::StoredName(name));
  PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<uploads::BlobWriter> writer, d_.blobs->Create());
  store::UploadRecord pending{
      NewUploadId(),   uploader, std::move(stored_name), uploads::StoredContentType(content_type), 0, "",
      d_.clock.NowMs()};
  return std::make_unique<UploadSink>(d_.store, std::move(writer), std::move(pending),
                                      options_.max_upload_bytes);
}

Result<store::UploadRecord> Service::UploadForUser(UserId viewer, UploadId id) {
  Result<store::UploadRecord> upload = d_.store.GetUpload(id);
  if (!upload.ok()) return upload;
  if (upload->uploader == viewer) return upload;
  PARLEY_ASSIGN_OR_RETURN(store::UploadLinks links, d_.store.GetUploadLinks(id, viewer));
  if (!links.member) return NoUpload();
  return upload;
}

Result<store::UploadRecord> Service::UploadForUrl(UploadId id, std::string_view exp, std::string_view sig) {
  if (d_.url_signer == nullptr)
    return MakeError(Errc::kUnavailable, "uploads are not configured on this server");
  if (auto ok = d_.url_signer->Check(id, exp, sig, d_.clock.NowMs()); !ok) return ok.error();
  Result<store::UploadRecord> upload = d_.store.GetUpload(id);
  if (!upload.ok()) return upload;
  PARLEY_ASSIGN_OR_RETURN(store::UploadLinks links, d_.store.GetUploadLinks(id, UserId()));
  if (links.attached && !links.live) return NoUpload();
  return upload;
}

Result<std::string> Service::ReadUpload(const store::UploadRecord& upload, int64_t offset, size_t max_bytes) {
  if (d_.blobs == nullptr) return MakeError(Errc::kUnavailable, "uploads are not configured on this server");
  Result<std::string> bytes = d_.blobs->Read(upload.sha256, offset, max_bytes);
  if (!bytes.ok() && bytes.error().code == Errc::kNotFound) {
    // Metadata without its blob is a bug or a damaged store, not a 404.
    return MakeError(Errc::kInternal, "upload " + upload.id.ToString() + " has no blob " + upload.sha256);
  }
  return bytes;
}

std::string Service::UploadUrl(UploadId id) const {
  if (d_.url_signer == nullptr) return {};
  return d_.url_signer->Url(id, uploads::UrlSigner::ExpiryFor(d_.clock.NowMs()));
}

void Service::SignAttachments(Message& entry) const {
  for (Attachment& a : entry.attachments) a.url = UploadUrl(a.id);
}

void Service::SignAttachments(std::vector<Message>& entries) const {
  for (Message& m : entries) SignAttachments(m);
}

Result<int64_t> Service::CollectUploads() {
  if (d_.blobs == nullptr) return int64_t{0};
  const TimeMs cutoff = d_.clock.NowMs() - options_.upload_collect_after_s * 1000;
  int64_t removed = 0;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<store::UploadRecord> batch,
                            d_.store.UnattachedUploads(cutoff, kCollectBatch));
    int64_t removed_now = 0;
    for (const store::UploadRecord& upload : batch) {
      PARLEY_ASSIGN_OR_RETURN(store::UploadRemoval removal, d_.store.DeleteUnattachedUpload(upload.id));
      if (!removal.removed) continue;
      ++removed_now;
      if (!removal.blob_in_use) {
        if (auto gone = d_.blobs->Remove(upload.sha256, cutoff); !gone.ok()) return gone.error();
      }
    }
    removed += removed_now;
    // A batch where nothing could go (attached meanwhile) ends the round:
    // the next one tries again.
    if (batch.size() < static_cast<size_t>(kCollectBatch) || removed_now == 0) break;
  }
  if (auto abandoned = d_.blobs->RemoveAbandoned(cutoff); !abandoned.ok()) {
    Log()->warn("collecting abandoned upload writes failed: {}", abandoned.error().message);
  }
  if (removed > 0) Log()->info("collected {} unattached upload(s)", removed);
  return removed;
}

}  // namespace parley::chat
