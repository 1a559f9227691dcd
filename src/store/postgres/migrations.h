#pragma once
// The PostgreSQL schema as numbered migrations, applied in order at start-up.
#include <span>
#include <string_view>

#include "common/result.h"
#include "store/postgres/connection.h"

namespace parley::store::postgres {

// Every migration, oldest first; migration N is Migrations()[N - 1].
std::span<const std::string_view> Migrations();

// Brings the schema (of the connection's search_path) to the latest
// version. Each migration runs in its own transaction holding a
// transaction-scoped advisory lock, so several nodes starting together apply
// it once; applied versions are rows of `schema_migrations`. kUnavailable
// when the database is newer than this binary or a migration fails.
Result<void> Migrate(Connection& conn);

}  // namespace parley::store::postgres
