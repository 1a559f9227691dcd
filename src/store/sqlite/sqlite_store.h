#pragma once
// The SQLite backend of the store (store/store.h): one database file in WAL
// mode, one writer connection behind a mutex and a small pool of reader
// connections. The embedded default of parleyd.
#include <memory>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace parley::store::sqlite {

struct Options {
  std::string path;              // the database file; created when missing (its folder must exist)
  bool synchronous_full = true;  // fsync every commit (FULL) or only at checkpoints (NORMAL)
  int readers = 4;               // reader connections (at least 1)
};

// Opens (creating, migrating) the database. kUnavailable with a clear message on failure.
Result<std::unique_ptr<Store>> Open(const Options& options);

// Bytes the embedded store holds in memory in this process: SQLite's heap
// (page caches, statements) and its entries' RocksDB (see EntriesMemoryUsed).
int64_t MemoryUsed();

}  // namespace parley::store::sqlite
