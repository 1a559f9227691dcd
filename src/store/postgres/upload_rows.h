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

// The attachments of text entry `m`, in its order, from the uploads table,
// their rows locked against the collector (FOR KEY SHARE) until the
// transaction ends: kNotFound for an upload that does not exist, kForbidden
// for another user's (both refuse only the entry).
Result<std::vector<Attachment>> AttachmentsOf(Connection& c, const NewMessage& m);

// The attachment rows of a batch, written in one statement over arrays.
class AttachmentRows {
 public:
  void Add(ConversationId conv, int64_t seq, const std::vector<Attachment>& attachments);
  bool empty() const { return upload_.empty(); }
  // The INSERT of every row added.
  Step Insert() const;

 private:
  IntArray conv_, seq_, position_, upload_;
};

// The statement reading the attachments of a page (conv, seqs lo..hi), and
// what it read put on the page's text entries that are not deleted.
Step PageAttachments(ConversationId conv, int64_t lo, int64_t hi);
void FillAttachments(const Rows& rows, std::vector<Message>& page);
// The attachments of entries anywhere (search results): `convs` and `seqs`
// are IntArray texts of the same length, pairwise; and FillAttachments for
// its rows, whatever the order of `entries`.
Step ResultAttachments(const std::string& convs, const std::string& seqs);
void FillResultAttachments(const Rows& rows, std::vector<Message>& entries);

}  // namespace parley::store::postgres
