#pragma once
// `parleyd backup` and `parleyd restore`: one self-checking file holding an
// embedded (SQLite) node's state, taken from a running server.
//
// The file: the line "PARLEY-BACKUP 1", a one-line JSON manifest (format,
// version, commit, creation time, and per file its path, size, mode and
// SHA-256), the files' bytes in manifest order, and the line
// "SHA256 <hex>" over everything before it. What it holds: the database
// (an online copy, see store/sqlite/backup.h), the data dir's secrets
// (`*.secret`: the access-token key) and its uploads folder when there is one.
#include <cstdint>
#include <string>

#include "common/result.h"

namespace parley::server {

struct ArchiveSummary {
  uint64_t bytes = 0;  // the backup file's size
  size_t files = 0;    // files in it
  double seconds = 0;  // wall time of the operation
};

// Writes the backup of `data_dir` (a parleyd data dir, its server running or
// not) to the new file `to`; every message acknowledged before the call is
// in it. Refuses an existing `to`; leaves nothing behind on failure.
Result<ArchiveSummary> Backup(const std::string& data_dir, const std::string& to);

// Checks `from` whole (header, then checksum) before writing anything, then
// recreates its files in `data_dir`, which must be missing or empty.
// kBadRequest for a foreign, damaged or unusable file or a non-empty
// directory; on failure `data_dir` is left as it was found.
Result<ArchiveSummary> Restore(const std::string& from, const std::string& data_dir);

// parleyd's `backup` and `restore` commands (argv[1] names one); the exit code.
int RunArchiveCommand(int argc, const char* const* argv);

// True when argv names one of those commands.
bool IsArchiveCommand(int argc, const char* const* argv);

}  // namespace parley::server
