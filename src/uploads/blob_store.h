#pragma once
// Where the bytes of uploads live (PROTOCOL.md §6): a small interface with
// one backend per deployment, picked in server/. The metadata of an upload
// (who, name, type, size) is in store::Store; a blob is only bytes, named by
// the lowercase hex SHA-256 of its content, so the same bytes are kept once
// however often they are uploaded.
//
// Backends: files in the data directory (FileBlobStore, one node) and the
// cluster's PostgreSQL (uploads/postgres/, every node serves every upload).
//
// Every method blocks (disk or network): call it from a blocking worker,
// never from an io thread. A BlobStore is safe to use from many threads; a
// BlobWriter belongs to one upload and is used by one thread at a time.
//
// Errors: kNotFound as documented; kUnavailable when the backend cannot
// answer now (retryable); kInternal for a bug or corrupt data.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/result.h"

namespace parley::uploads {

// One blob being written: bytes are appended in order, then Commit makes
// them durable under their digest. Destroyed without a successful Commit,
// it discards what was written (nothing of it is ever served).
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Appends the next bytes. The writer holds at most one piece in memory.
  virtual Result<void> Append(std::string_view bytes) = 0;
  // Makes the bytes durable as blob `sha256` (the caller computed it over
  // exactly the appended bytes) and marks the blob as linked at `now`. When
  // the blob exists already, the written bytes are dropped and the existing
  // blob is kept (and marked linked at `now`). After Commit the writer is
  // spent.
  virtual Result<void> Commit(const std::string& sha256, TimeMs now) = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Starts a new blob.
  virtual Result<std::unique_ptr<BlobWriter>> Create() = 0;
  // Up to `max_bytes` bytes of blob `sha256` from `offset` on; fewer (or
  // none) at its end. kNotFound when there is no such blob.
  virtual Result<std::string> Read(const std::string& sha256, int64_t offset, size_t max_bytes) = 0;
  // Removes blob `sha256` when it was last linked (Commit) before `cutoff`;
  // returns whether it was removed. The cutoff closes the race with an
  // upload of the same bytes committed meanwhile: its Commit marks the blob
  // linked now, so a collector that decided from older metadata leaves it.
  virtual Result<bool> Remove(const std::string& sha256, TimeMs cutoff) = 0;
  // Removes what writers left unfinished (a crash mid-upload) that was
  // started before `cutoff`; returns how many were removed.
  virtual Result<int64_t> RemoveAbandoned(TimeMs cutoff) = 0;
};

// Whether `s` is a blob name: 64 lowercase hex digits.
bool IsBlobName(std::string_view s);

}  // namespace parley::uploads
