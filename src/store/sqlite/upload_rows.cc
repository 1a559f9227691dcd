#include "store/sqlite/upload_rows.h"

namespace parley::store::sqlite {
namespace {

constexpr std::string_view kInsertUpload =
    "INSERT INTO uploads(id, uploader, name, content_type, size, sha256, created_at) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
#define SQLITE_UPLOAD_COLUMNS "id, uploader, name, content_type, size, sha256, created_at"
constexpr std::string_view kSelectUpload = "SELECT " SQLITE_UPLOAD_COLUMNS " FROM uploads WHERE id = ?1";
// A live attachment: of a text entry that is not deleted.
#define SQLITE_LIVE_ATTACHMENT(upload) \
  "SELECT 1 FROM attachments a WHERE a.upload = " upload " AND a.live = 1"
constexpr std::string_view kUploadLinks =
    "SELECT EXISTS(SELECT 1 FROM attachments WHERE upload = ?1), "
    "       EXISTS(" SQLITE_LIVE_ATTACHMENT("?1") "), "
    "       EXISTS(" SQLITE_LIVE_ATTACHMENT("?1") " AND EXISTS(SELECT 1 FROM members mm "
    "              WHERE mm.conv = a.conv AND mm.user = ?2))";
constexpr std::string_view kUnattachedUploads =
    "SELECT " SQLITE_UPLOAD_COLUMNS
    " FROM uploads u WHERE u.created_at < ?1 "
    "AND NOT EXISTS(" SQLITE_LIVE_ATTACHMENT("u.id") ") ORDER BY u.created_at, u.id LIMIT ?2";
constexpr std::string_view kIsLive = "SELECT EXISTS(" SQLITE_LIVE_ATTACHMENT("?1") ")";
constexpr std::string_view kDeleteAttachments = "DELETE FROM attachments WHERE upload = ?1";
constexpr std::string_view kDeleteUpload = "DELETE FROM uploads WHERE id = ?1";
constexpr std::string_view kShaInUse = "SELECT EXISTS(SELECT 1 FROM uploads WHERE sha256 = ?1)";

UploadRecord UploadFromRow(const Query& q) {
  return UploadRecord{UploadId(q.Int(0)), UserId(q.Int(1)), q.Text(2), q.Text(3),
                      q.Int(4),           q.Text(5),        q.Int(6)};
}

}  // namespace

Result<void> InsertUpload(Connection& c, const UploadRecord& u) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kInsertUpload));
  q.Bind(1, u.id.value).Bind(2, u.uploader.value).Bind(3, u.name).Bind(4, u.content_type).Bind(5, u.size);
  q.Bind(6, u.sha256).Bind(7, u.created);
  if (Result<void> r = q.Run(); !r.ok()) {
    if (IsForeignKeyViolation(q.last_rc())) return MakeError(Errc::kNotFound, "no such user");
    if (r.error().code == Errc::kConflict) return MakeError(Errc::kConflict, "upload id taken");
    return r.error();
  }
  return Ok();
}

Result<UploadRecord> SelectUpload(Connection& c, UploadId id) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kSelectUpload));
  q.Bind(1, id.value);
  PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return MakeError(Errc::kNotFound, "no such upload");
  return UploadFromRow(q);
}

Result<UploadLinks> SelectUploadLinks(Connection& c, UploadId id, UserId viewer) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kUploadLinks));
  q.Bind(1, id.value).Bind(2, viewer.value);
  PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return MakeError(Errc::kInternal, "upload links: no row");
  return UploadLinks{q.Int(0) != 0, q.Int(1) != 0, q.Int(2) != 0};
}

Result<std::vector<UploadRecord>> SelectUnattachedUploads(Connection& c, TimeMs created_before, int limit) {
  PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(kUnattachedUploads));
  q.Bind(1, created_before).Bind(2, limit);
  std::vector<UploadRecord> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(UploadFromRow(q));
  }
}

Result<UploadRemoval> RemoveUnattachedUpload(Connection& c, UploadId id) {
  Result<UploadRecord> upload = SelectUpload(c, id);
  if (!upload.ok()) {
    if (upload.error().code == Errc::kNotFound) return UploadRemoval{};
    return std::move(upload).error();
  }
  {
    PARLEY_ASSIGN_OR_RETURN(Query live, c.Prepare(kIsLive));
    live.Bind(1, id.value);
    PARLEY_ASSIGN_OR_RETURN(bool row, live.Step());
    if (row && live.Int(0) != 0) return UploadRemoval{};
  }
  for (std::string_view sql : {kDeleteAttachments, kDeleteUpload}) {
    PARLEY_ASSIGN_OR_RETURN(Query q, c.Prepare(sql));
    q.Bind(1, id.value);
    if (Result<void> r = q.Run(); !r.ok()) return r.error();
  }
  PARLEY_ASSIGN_OR_RETURN(Query in_use, c.Prepare(kShaInUse));
  in_use.Bind(1, upload->sha256);
  PARLEY_ASSIGN_OR_RETURN(bool row, in_use.Step());
  return UploadRemoval{true, row && in_use.Int(0) != 0};
}

Result<std::vector<Attachment>> AttachmentsOf(Connection& c, const NewMessage& m) {
  std::vector<Attachment> out;
  out.reserve(m.attachments.size());
  for (UploadId id : m.attachments) {
    Result<UploadRecord> upload = SelectUpload(c, id);
    if (!upload.ok()) {
      if (upload.error().code == Errc::kNotFound) {
        return MakeError(Errc::kNotFound, "no such upload " + id.ToString());
      }
      return std::move(upload).error();
    }
    if (upload->uploader != m.sender) {
      return MakeError(Errc::kForbidden, "upload " + id.ToString() + " is someone else's");
    }
    out.push_back(Attachment{upload->id, upload->name, upload->content_type, upload->size});
  }
  return out;
}

}  // namespace parley::store::sqlite
