#pragma once
// The blob store of a cluster: blobs in the cluster's PostgreSQL, in rows
// of kChunkBytes, so every node serves every upload (PROTOCOL.md §6). The
// tables (blobs, blob_chunks, blob_staging) come with the store's schema
// (store/postgres/migrations.cc): open the store first.
//
// A writer stores each chunk as it fills, in its own short statement under
// a staging key, so neither a slow upload nor a big one holds a connection
// or a transaction open; Commit moves the chunks to the digest in one
// transaction (or drops them when the same bytes are stored already).
#include <memory>
#include <string>

#include "common/result.h"
#include "uploads/blob_store.h"

namespace parley::uploads::postgres {

inline constexpr size_t kChunkBytes = 256 * 1024;

struct Options {
  std::string conninfo;  // libpq keyword/value string or URI (store.postgres_url)
  int pool = 2;          // connections of the blob store's own pool
};

// Connects (lazily, as the pool does) and returns the store.
Result<std::unique_ptr<BlobStore>> Open(const Options& options);

}  // namespace parley::uploads::postgres
