#pragma once
// The uploads part of the SQLite store (PROTOCOL.md §6): the statements
// behind Store's upload methods, each run on a connection the store lends
// (the writer inside its transaction, or a reader). Internal to the SQLite
// backend; kept apart from sqlite_store.cc so the upload rules read on one
// screen.
#include <vector>

#include "common/result.h"
#include "store/sqlite/connection.h"
#include "store/store.h"

namespace parley::store::sqlite {

Result<void> InsertUpload(Connection& c, const UploadRecord& upload);
Result<UploadRecord> SelectUpload(Connection& c, UploadId id);
Result<UploadLinks> SelectUploadLinks(Connection& c, UploadId id, UserId viewer);
Result<std::vector<UploadRecord>> SelectUnattachedUploads(Connection& c, TimeMs created_before, int limit);
// Run by the writer inside its transaction.
Result<UploadRemoval> RemoveUnattachedUpload(Connection& c, UploadId id);

// The attachments of text entry `m`, in its order, from the uploads table:
// kNotFound for an upload that does not exist, kForbidden for another
// user's (both refuse only the entry; any other error is the store's).
Result<std::vector<Attachment>> AttachmentsOf(Connection& c, const NewMessage& m);
// The attachment rows are written by a batch's SQLite work (index_work.h).

}  // namespace parley::store::sqlite
