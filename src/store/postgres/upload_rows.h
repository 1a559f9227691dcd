#pragma once
// The uploads part of the PostgreSQL store (PROTOCOL.md §6): the statements
// behind Store's upload methods, each on a connection the store lends.
// Internal to the PostgreSQL backend; kept apart from postgres_store.cc so
// the upload rules read on one screen.
#include <vector>

#include "common/result.h"
#include "store/postgres/connection.h"
#include "store/store.h"

namespace parley::store::postgres {

Result<void> InsertUpload(Connection& c, const UploadRecord& upload);
Result<UploadRecord> SelectUpload(Connection& c, UploadId id);
Result<UploadLinks> SelectUploadLinks(Connection& c, UploadId id, UserId viewer);
Result<std::vector<UploadRecord>> SelectUnattachedUploads(Connection& c, TimeMs created_before, int limit);
// One statement: decides and removes atomically.
Result<UploadRemoval> RemoveUnattachedUpload(Connection& c, UploadId id);

}  // namespace parley::store::postgres
