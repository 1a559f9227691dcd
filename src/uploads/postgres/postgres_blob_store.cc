#include "uploads/postgres/postgres_blob_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>

#include "store/postgres/connection.h"
#include "store/postgres/pool.h"
#include "uploads/sha256.h"

namespace parley::uploads::postgres {
namespace {

using store::postgres::Connection;
using store::postgres::ConnectionPool;
using store::postgres::Params;
using store::postgres::Rows;
using store::postgres::Sql;

constexpr Sql kStage{"blob_stage", "INSERT INTO blob_staging(key, started_at) VALUES($1, $2)"};
constexpr Sql kPutChunk{"blob_put_chunk",
                        "INSERT INTO blob_chunks(blob, idx, data) VALUES($1, $2, $3::bytea)"};
constexpr Sql kLinkNew{
    "blob_link_new",
    "INSERT INTO blobs(sha256, size, linked_at) VALUES($1, $2, $3) ON CONFLICT (sha256) DO NOTHING"};
constexpr Sql kLinkOld{"blob_link_old",
                       "UPDATE blobs SET linked_at = greatest(linked_at, $2) WHERE sha256 = $1"};
constexpr Sql kMoveChunks{"blob_move_chunks", "UPDATE blob_chunks SET blob = $1 WHERE blob = $2"};
constexpr Sql kDropChunks{"blob_drop_chunks", "DELETE FROM blob_chunks WHERE blob = $1"};
constexpr Sql kUnstage{"blob_unstage", "DELETE FROM blob_staging WHERE key = $1"};
constexpr Sql kSize{"blob_size", "SELECT size FROM blobs WHERE sha256 = $1"};
constexpr Sql kChunks{
    "blob_chunks",
    "SELECT idx, data FROM blob_chunks WHERE blob = $1 AND idx BETWEEN $2 AND $3 ORDER BY idx"};
constexpr Sql kRemove{
    "blob_remove",
    "WITH gone AS (DELETE FROM blobs WHERE sha256 = $1 AND linked_at < $2 RETURNING sha256), "
    "chunks AS (DELETE FROM blob_chunks WHERE blob IN (SELECT sha256 FROM gone)) "
    "SELECT count(*) FROM gone"};
constexpr Sql kRemoveAbandoned{"blob_remove_abandoned",
                               "WITH gone AS (DELETE FROM blob_staging WHERE started_at < $1 RETURNING key), "
                               "chunks AS (DELETE FROM blob_chunks WHERE blob IN (SELECT key FROM gone)) "
                               "SELECT count(*) FROM gone"};

TimeMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// bytea in text format: "\x" and two hex digits a byte.
std::string ByteaLiteral(std::string_view bytes) { return "\\x" + Hex(bytes); }

Result<std::string> FromBytea(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
    return MakeError(Errc::kInternal, "blob store: unexpected bytea format");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    int hi = nibble(text[i]);
    int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return MakeError(Errc::kInternal, "blob store: bad bytea digit");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// Runs `f(connection)` on a pooled connection; a transaction it leaves
// open (after a failure) is rolled back when the lease ends.
template <class F>
auto WithConnection(ConnectionPool& pool, F&& f) -> decltype(f(std::declval<Connection&>())) {
  using R = decltype(f(std::declval<Connection&>()));
  Result<ConnectionPool::Lease> lease = pool.Acquire();
  if (!lease.ok()) return R(std::move(lease).error());
  return f(**lease);
}

class PostgresBlobWriter final : public BlobWriter {
 public:
  PostgresBlobWriter(std::shared_ptr<ConnectionPool> pool, std::string key)
      : pool_(std::move(pool)), key_(std::move(key)) {}

  ~PostgresBlobWriter() override {
    if (done_) return;
    // Best effort: what is left is removed by RemoveAbandoned.
    (void)WithConnection(*pool_, [&](Connection& c) -> Result<void> {
      if (auto r = c.Run(kDropChunks, Params().Add(key_)); !r.ok()) return std::move(r).error();
      if (auto r = c.Run(kUnstage, Params().Add(key_)); !r.ok()) return std::move(r).error();
      return Ok();
    });
  }

  Result<void> Append(std::string_view bytes) override {
    if (done_) return MakeError(Errc::kInternal, "blob store: append after commit");
    size_ += static_cast<int64_t>(bytes.size());
    while (!bytes.empty()) {
      size_t take = std::min(bytes.size(), kChunkBytes - pending_.size());
      pending_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (pending_.size() == kChunkBytes) {
        if (auto ok = Flush(); !ok) return ok;
      }
    }
    return Ok();
  }

  Result<void> Commit(const std::string& sha256, TimeMs now) override {
    if (done_) return MakeError(Errc::kInternal, "blob store: committed twice");
    if (!IsBlobName(sha256)) return MakeError(Errc::kInternal, "blob store: bad blob name");
    if (!pending_.empty()) {
      if (auto ok = Flush(); !ok) return ok;
    }
    Result<void> r = WithConnection(*pool_, [&](Connection& c) -> Result<void> {
      if (auto b = c.Exec("BEGIN"); !b.ok()) return std::move(b).error();
      // Still staged? The collector of abandoned writes may have taken it
      // (a writer stalled for longer than uploads are kept).
      Result<Rows> staged = c.Run(kUnstage, Params().Add(key_));
      if (!staged.ok()) return std::move(staged).error();
      if (staged->affected() != 1) {
        c.RollbackIfOpen();
        return MakeError(Errc::kUnavailable, "blob store: the upload was abandoned; send it again");
      }
      Result<Rows> fresh = c.Run(kLinkNew, Params().Add(sha256).Add(size_).Add(now));
      if (!fresh.ok()) return std::move(fresh).error();
      if (fresh->affected() == 1) {
        if (auto m = c.Run(kMoveChunks, Params().Add(sha256).Add(key_)); !m.ok()) return std::move(m).error();
      } else {
        // The same bytes are stored already: keep them, drop ours.
        if (auto l = c.Run(kLinkOld, Params().Add(sha256).Add(now)); !l.ok()) return std::move(l).error();
        if (auto d = c.Run(kDropChunks, Params().Add(key_)); !d.ok()) return std::move(d).error();
      }
      if (auto e = c.Exec("COMMIT"); !e.ok()) return std::move(e).error();
      return Ok();
    });
    if (r.ok()) done_ = true;
    return r;
  }

 private:
  Result<void> Flush() {
    const int64_t idx = next_index_;
    Result<void> r = WithConnection(*pool_, [&](Connection& c) -> Result<void> {
      Result<Rows> rows = c.Run(kPutChunk, Params().Add(key_).Add(idx).Add(ByteaLiteral(pending_)));
      if (!rows.ok()) return std::move(rows).error();
      return Ok();
    });
    if (!r.ok()) return r;
    ++next_index_;
    pending_.clear();
    return Ok();
  }

  std::shared_ptr<ConnectionPool> pool_;
  std::string key_;
  std::string pending_;  // at most one chunk
  int64_t next_index_ = 0;
  int64_t size_ = 0;
  bool done_ = false;
};

class PostgresBlobStore final : public BlobStore {
 public:
  explicit PostgresBlobStore(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  Result<std::unique_ptr<BlobWriter>> Create() override {
    std::string raw(16, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    std::string key = "tmp-" + Hex(raw);
    Result<void> staged = WithConnection(*pool_, [&](Connection& c) -> Result<void> {
      if (auto r = c.Run(kStage, Params().Add(key).Add(WallMs())); !r.ok()) return std::move(r).error();
      return Ok();
    });
    if (!staged.ok()) return staged.error();
    return std::unique_ptr<BlobWriter>(std::make_unique<PostgresBlobWriter>(pool_, std::move(key)));
  }

  Result<std::string> Read(const std::string& sha256, int64_t offset, size_t max_bytes) override {
    if (!IsBlobName(sha256) || offset < 0) return MakeError(Errc::kNotFound, "no such blob");
    return WithConnection(*pool_, [&](Connection& c) -> Result<std::string> {
      Result<Rows> size = c.Run(kSize, Params().Add(sha256));
      if (!size.ok()) return std::move(size).error();
      if (size->empty()) return MakeError(Errc::kNotFound, "no such blob");
      const int64_t total = size->Int(0, 0);
      if (offset >= total || max_bytes == 0) return std::string();
      const int64_t end = std::min<int64_t>(total, offset + static_cast<int64_t>(max_bytes));
      const int64_t chunk = static_cast<int64_t>(kChunkBytes);
      const int64_t first = offset / chunk;
      const int64_t last = (end - 1) / chunk;
      Result<Rows> rows = c.Run(kChunks, Params().Add(sha256).Add(first).Add(last));
      if (!rows.ok()) return std::move(rows).error();
      std::string out;
      out.reserve(static_cast<size_t>(end - offset));
      for (int i = 0; i < rows->size(); ++i) {
        const int64_t idx = rows->Int(i, 0);
        Result<std::string> data = FromBytea(rows->View(i, 1));
        if (!data.ok()) return std::move(data).error();
        const int64_t start = idx * chunk;
        const int64_t from = std::max(offset, start) - start;
        const int64_t to = std::min<int64_t>(end - start, static_cast<int64_t>(data->size()));
        if (from < to) out.append(*data, static_cast<size_t>(from), static_cast<size_t>(to - from));
      }
      if (static_cast<int64_t>(out.size()) != end - offset) {
        return MakeError(Errc::kInternal, "blob store: blob " + sha256 + " is missing chunks");
      }
      return out;
    });
  }

  Result<bool> Remove(const std::string& sha256, TimeMs cutoff) override {
    if (!IsBlobName(sha256)) return false;
    return WithConnection(*pool_, [&](Connection& c) -> Result<bool> {
      Result<Rows> rows = c.Run(kRemove, Params().Add(sha256).Add(cutoff));
      if (!rows.ok()) return std::move(rows).error();
      return rows->Int(0, 0) > 0;
    });
  }

  Result<int64_t> RemoveAbandoned(TimeMs cutoff) override {
    return WithConnection(*pool_, [&](Connection& c) -> Result<int64_t> {
      Result<Rows> rows = c.Run(kRemoveAbandoned, Params().Add(cutoff));
      if (!rows.ok()) return std::move(rows).error();
      return rows->Int(0, 0);
    });
  }

 private:
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> Open(const Options& options) {
  if (options.conninfo.empty())
    return MakeError(Errc::kBadRequest, "the postgres blob store needs a conninfo");
  auto pool = std::make_shared<ConnectionPool>(options.conninfo, std::max(1, options.pool));
  // Fail now, not at the first upload, when the server cannot be reached.
  Result<void> ping = WithConnection(*pool, [](Connection& c) -> Result<void> {
    if (auto r = c.Run(kSize, Params().Add(std::string(64, '0'))); !r.ok()) return std::move(r).error();
    return Ok();
  });
  if (!ping.ok()) return MakeError(Errc::kUnavailable, "postgres blob store: " + ping.error().message);
  return std::unique_ptr<BlobStore>(std::make_unique<PostgresBlobStore>(std::move(pool)));
}

}  // namespace parley::uploads::postgres
