#include "store/postgres/upload_rows.h"

#include <map>

namespace parley::store::postgres {
namespace {

#define PG_UPLOAD_COLUMNS "id, uploader, name, content_type, size, sha256, created_at"
// A live attachment: of a text entry that is not deleted.
#define PG_LIVE_ATTACHMENT(upload)                                                    \
  "SELECT 1 FROM attachments a JOIN messages m ON m.conv = a.conv AND m.seq = a.seq " \
  "WHERE a.upload = " upload " AND m.kind = 0 AND NOT m.deleted"

constexpr Sql kInsertUpload{"upload_insert",
                            "INSERT INTO uploads(" PG_UPLOAD_COLUMNS ") VALUES($1, $2, $3, $4, $5, $6, $7)"};
constexpr Sql kSelectUpload{"upload_select", "SELECT " PG_UPLOAD_COLUMNS " FROM uploads WHERE id = $1"};
constexpr Sql kUploadLinks{
    "upload_links",
    "SELECT EXISTS(SELECT 1 FROM attachments WHERE upload = $1), "
    "       EXISTS(" PG_LIVE_ATTACHMENT("$1") "), "
    "       EXISTS(" PG_LIVE_ATTACHMENT("$1") " AND EXISTS(SELECT 1 FROM members mm "
    "              WHERE mm.conv = a.conv AND mm.user_id = $2))"};
constexpr Sql kUnattachedUploads{"uploads_unattached", "SELECT " PG_UPLOAD_COLUMNS
                                                       " FROM uploads u WHERE u.created_at < $1 "
                                                       "AND NOT EXISTS(" PG_LIVE_ATTACHMENT(
                                                           "u.id") ") ORDER BY u.created_at, u.id LIMIT $2"};
// Decides and removes in one statement. An entry committed meanwhile that
// attaches the upload holds a key-share lock on its row (the foreign key),
// so the removal waits for it and then fails on the foreign key rather than
// leave an entry attaching nothing; the collector tries again later.
constexpr Sql kRemoveUnattached{
    "upload_remove_unattached",
    "WITH target AS (SELECT id, sha256 FROM uploads WHERE id = $1 AND NOT EXISTS(" PG_LIVE_ATTACHMENT("$1") ")), "
    "gone_attachments AS (DELETE FROM attachments WHERE upload IN (SELECT id FROM target)), "
    "gone AS (DELETE FROM uploads WHERE id IN (SELECT id FROM target) RETURNING sha256) "
    "SELECT (SELECT count(*) FROM gone), "
    "       EXISTS(SELECT 1 FROM uploads x WHERE x.sha256 IN (SELECT sha256 FROM target) AND x.id <> $1)"};

constexpr Sql kAttachable{
    "uploads_attachable",
    "SELECT id, uploader, name, content_type, size FROM uploads WHERE id = ANY($1::bigint[]) "
    "FOR KEY SHARE"};
constexpr Sql kInsertAttachments{"attachments_insert",
                                 "INSERT INTO attachments(conv, seq, position, upload) "
                                 "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[])"};
constexpr Sql kPageAttachments{
    "attachments_page",
    "SELECT a.seq, u.id, u.name, u.content_type, u.size FROM attachments a "
    "JOIN uploads u ON u.id = a.upload WHERE a.conv = $1 AND a.seq BETWEEN $2 AND $3 "
    "ORDER BY a.seq, a.position"};
constexpr Sql kResultAttachments{
    "attachments_of_results",
    "SELECT a.conv, a.seq, u.id, u.name, u.content_type, u.size FROM attachments a "
    "JOIN unnest($1::bigint[], $2::bigint[]) AS r(conv, seq) ON a.conv = r.conv AND a.seq = r.seq "
    "JOIN uploads u ON u.id = a.upload ORDER BY a.conv, a.seq, a.position"};

UploadRecord UploadFromRow(const Rows& r, int i) {
  return UploadRecord{UploadId(r.Int(i, 0)), UserId(r.Int(i, 1)), r.Text(i, 2), r.Text(i, 3),
                      r.Int(i, 4),           r.Text(i, 5),        r.Int(i, 6)};
}

}  // namespace

Result<void> InsertUpload(Connection& c, const UploadRecord& u) {
  Result<Rows> rows = c.Run(kInsertUpload, Params()
                                               .Add(u.id.value)
                                               .Add(u.uploader.value)
                                               .Add(u.name)
                                               .Add(u.content_type)
                                               .Add(u.size)
                                               .Add(u.sha256)
                                               .Add(u.created));
  if (!rows.ok()) {
    if (c.last_sqlstate() == kForeignKeyViolation) return MakeError(Errc::kNotFound, "no such user");
    if (c.last_sqlstate() == kUniqueViolation) return MakeError(Errc::kConflict, "upload id taken");
    return std::move(rows).error();
  }
  return Ok();
}

Result<UploadRecord> SelectUpload(Connection& c, UploadId id) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kSelectUpload, Params().Add(id.value)));
  if (rows.empty()) return MakeError(Errc::kNotFound, "no such upload");
  return UploadFromRow(rows, 0);
}

Result<UploadLinks> SelectUploadLinks(Connection& c, UploadId id, UserId viewer) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kUploadLinks, Params().Add(id.value).Add(viewer.value)));
  if (rows.empty()) return MakeError(Errc::kInternal, "upload links: no row");
  return UploadLinks{rows.View(0, 0) == "t", rows.View(0, 1) == "t", rows.View(0, 2) == "t"};
}

Result<std::vector<UploadRecord>> SelectUnattachedUploads(Connection& c, TimeMs created_before, int limit) {
  PARLEY_ASSIGN_OR_RETURN(
      Rows rows, c.Run(kUnattachedUploads, Params().Add(created_before).Add(static_cast<int64_t>(limit))));
  std::vector<UploadRecord> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(UploadFromRow(rows, i));
  return out;
}

Result<UploadRemoval> RemoveUnattachedUpload(Connection& c, UploadId id) {
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kRemoveUnattached, Params().Add(id.value)));
  if (rows.empty()) return MakeError(Errc::kInternal, "upload removal: no row");
  return UploadRemoval{rows.Int(0, 0) > 0, rows.View(0, 1) == "t"};
}

Result<std::vector<Attachment>> AttachmentsOf(Connection& c, const NewMessage& m) {
  IntArray ids;
  for (UploadId id : m.attachments) ids.Add(id.value);
  PARLEY_ASSIGN_OR_RETURN(Rows rows, c.Run(kAttachable, Params().Add(ids.Finish())));
  std::vector<Attachment> out;
  out.reserve(m.attachments.size());
  for (UploadId id : m.attachments) {
    int found = -1;
    for (int i = 0; i < rows.size() && found < 0; ++i) {
      if (rows.Int(i, 0) == id.value) found = i;
    }
    if (found < 0) return MakeError(Errc::kNotFound, "no such upload " + id.ToString());
    if (rows.Int(found, 1) != m.sender.value) {
      return MakeError(Errc::kForbidden, "upload " + id.ToString() + " is someone else's");
    }
    out.push_back(Attachment{id, rows.Text(found, 2), rows.Text(found, 3), rows.Int(found, 4)});
  }
  return out;
}

void AttachmentRows::Add(ConversationId conv, int64_t seq, const std::vector<Attachment>& attachments) {
  for (size_t i = 0; i < attachments.size(); ++i) {
    conv_.Add(conv.value);
    seq_.Add(seq);
    position_.Add(static_cast<int64_t>(i));
    upload_.Add(attachments[i].id.value);
  }
}

Step AttachmentRows::Insert() const {
  return Step{&kInsertAttachments,
              Params().Add(conv_.Finish()).Add(seq_.Finish()).Add(position_.Finish()).Add(upload_.Finish())};
}

Step PageAttachments(ConversationId conv, int64_t lo, int64_t hi) {
  return Step{&kPageAttachments, Params().Add(conv.value).Add(lo).Add(hi)};
}

void FillAttachments(const Rows& rows, std::vector<Message>& page) {
  size_t i = 0;  // the page is ascending by seq, and so are the rows
  for (int r = 0; r < rows.size(); ++r) {
    const int64_t seq = rows.Int(r, 0);
    while (i < page.size() && page[i].seq < seq) ++i;
    if (i == page.size()) return;
    Message& m = page[i];
    if (m.seq != seq || m.kind != EntryKind::kText || m.deleted) continue;
    m.attachments.push_back(
        Attachment{UploadId(rows.Int(r, 1)), rows.Text(r, 2), rows.Text(r, 3), rows.Int(r, 4)});
  }
}

Step ResultAttachments(const std::string& convs, const std::string& seqs) {
  return Step{&kResultAttachments, Params().Add(convs).Add(seqs)};
}

void FillResultAttachments(const Rows& rows, std::vector<Message>& entries) {
  std::map<std::pair<int64_t, int64_t>, Message*> by_key;
  for (Message& m : entries) {
    if (m.kind == EntryKind::kText && !m.deleted) by_key[{m.conv.value, m.seq}] = &m;
  }
  for (int r = 0; r < rows.size(); ++r) {
    auto it = by_key.find({rows.Int(r, 0), rows.Int(r, 1)});
    if (it == by_key.end()) continue;
    it->second->attachments.push_back(
        Attachment{UploadId(rows.Int(r, 2)), rows.Text(r, 3), rows.Text(r, 4), rows.Int(r, 5)});
  }
}

}  // namespace parley::store::postgres
