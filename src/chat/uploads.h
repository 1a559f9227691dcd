#pragma once
// An upload being received (PROTOCOL.md §6): the transport hands it the body
// a piece at a time as the piece arrives, and it hashes, counts and stores
// each piece at once, so a whole upload is never in memory. Created by
// chat::Service::BeginUpload; owned by the request that streams the body,
// which uses it from one thread at a time (each call blocks: run it on a
// blocking worker). Destroyed before Finish succeeds, it keeps nothing.
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/result.h"
#include "store/store.h"
#include "uploads/blob_store.h"
#include "uploads/sha256.h"

namespace parley::chat {

class UploadSink {
 public:
  // `pending` holds the id, uploader, name, type and creation time.
  UploadSink(store::Store& store, std::unique_ptr<uploads::BlobWriter> writer, store::UploadRecord pending,
             int64_t limit);
  UploadSink(const UploadSink&) = delete;
  UploadSink& operator=(const UploadSink&) = delete;

  // The most bytes an upload may have (limits.max_upload_bytes).
  int64_t limit() const { return limit_; }
  // Takes the next piece. kTooLarge once the upload passes the limit: the
  // sink is then spent, and nothing of the upload is kept.
  Result<void> Write(std::string_view piece);
  // Makes the upload durable (blob, then metadata) and returns it.
  // kBadRequest for an empty body; kTooLarge after a refused Write.
  Result<store::UploadRecord> Finish();

 private:
  store::Store& store_;
  std::unique_ptr<uploads::BlobWriter> writer_;  // null once spent
  store::UploadRecord upload_;
  int64_t limit_;
  uploads::Sha256 sha_;
  bool too_large_ = false;
};

}  // namespace parley::chat
