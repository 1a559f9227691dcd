#pragma once
// The blob store of one node: files under a folder of the data directory
// (PROTOCOL.md §6, "in the data directory on one node").
//
//   <root>/tmp/<random>.part    a blob being written
//   <root>/<ab>/<abcdef...>     a committed blob, named by its SHA-256
//
// A writer streams into a temporary file, fsyncs it and renames it to its
// digest, then fsyncs the folder: a crash leaves either the whole blob or
// only a temporary file (RemoveAbandoned), never a blob with missing bytes.
// A blob's modification time is when it was last linked (Commit).
#include <memory>
#include <string>

#include "common/result.h"
#include "uploads/blob_store.h"

namespace parley::uploads {

// Creates `root` (and its tmp/ folder) when missing. kUnavailable when it
// cannot be created or written.
Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root);

}  // namespace parley::uploads
