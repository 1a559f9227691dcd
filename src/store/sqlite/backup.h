#pragma once
// An online copy of a live SQLite store: what `parleyd backup` snapshots.
#include <string>

#include "common/result.h"

namespace parley::store::sqlite {

// Copies the database at `source_path` (in WAL mode, possibly written by a
// running parleyd in another process) into a new file `dest_path` with
// SQLite's online backup API, in one step: the copy is the database as of
// the moment the read snapshot was taken, so every transaction committed
// before this call is in it. Writers in the running server go on meanwhile
// (WAL readers do not block them); only checkpoints wait for the copy.
// kBadRequest when `dest_path` exists, kUnavailable when the source cannot
// be opened or read.
Result<void> BackupDatabase(const std::string& source_path, const std::string& dest_path);

}  // namespace parley::store::sqlite
