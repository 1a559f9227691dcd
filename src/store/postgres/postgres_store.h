#pragma once
// The PostgreSQL backend of the store (store/store.h), for cluster mode:
// every node opens the same database. A small pool of libpq connections;
// CommitBatch is one transaction that locks the conversation rows it
// touches, so seqs stay gapless per conversation with several writers.
#include <memory>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace parley::store::postgres {

struct Options {
  std::string conninfo;  // libpq keyword/value string or URI
  int pool = 8;          // connections (at least 1)
};

// Connects, brings the schema up to date (migrations) and returns the store.
// kUnavailable with a clear message when the server cannot be reached or the
// schema cannot be migrated.
Result<std::unique_ptr<Store>> Open(const Options& options);

}  // namespace parley::store::postgres
