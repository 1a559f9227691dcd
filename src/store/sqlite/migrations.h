#pragma once
// The schema of the SQLite store as an ordered list of migrations. Migration
// i (0-based) takes the database from user_version i to i + 1.
#include <span>
#include <string_view>

#include "common/result.h"

namespace parley::store::sqlite {

class Connection;

// Every migration, oldest first. Append only: never edit a shipped entry.
std::span<const std::string_view> Migrations();

// Brings the database behind `conn` (the writer) to the latest version, one
// transaction per migration. kUnavailable when the file was written by a newer
// binary (its user_version is past the last migration known here).
Result<void> Migrate(Connection& conn);

}  // namespace parley::store::sqlite
