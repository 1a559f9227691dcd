#include "server/backup.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "common/build_info.h"
#include "store/sqlite/backup.h"
#include "store/sqlite/entry_db.h"

namespace parley::server {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kMagic = "PARLEY-BACKUP 1\n";
constexpr std::string_view kTrailerPrefix = "SHA256 ";
constexpr size_t kTrailerBytes = 7 + 64 + 1;  // "SHA256 " + hex + "\n"
constexpr size_t kMaxManifestBytes = 4 << 20;
constexpr size_t kChunk = 1 << 20;
constexpr const char* kDatabase = "parley.db";
constexpr const char* kUploads = "uploads";

// Incremental SHA-256 (libsodium). Owned by one function call.
class Sha256 {
 public:
  Sha256() {
    if (sodium_init() < 0) std::abort();  // cannot happen after the first success; never recoverable
    crypto_hash_sha256_init(&state_);
  }
  void Update(const char* data, size_t n) {
    crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(data), n);
  }
  std::string Hex() {
    std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
    crypto_hash_sha256_final(&state_, out.data());
    std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex{};
    sodium_bin2hex(hex.data(), hex.size(), out.data(), out.size());
    return std::string(hex.data());
  }

 private:
  crypto_hash_sha256_state state_;
};

// A FILE* closed on scope exit. Owned by one function call.
struct File {
  std::FILE* f = nullptr;
  ~File() {
    if (f != nullptr) std::fclose(f);
  }
};

Error Failed(const std::string& what, const std::string& path) {
  return MakeError(Errc::kUnavailable, what + " '" + path + "': " + std::strerror(errno));
}

// Flushes `file` to disk and closes it.
Result<void> SyncClose(File& file, const std::string& path) {
  if (std::fflush(file.f) != 0 || fsync(fileno(file.f)) != 0) return Failed("cannot write", path);
  const int rc = std::fclose(file.f);
  file.f = nullptr;
  if (rc != 0) return Failed("cannot write", path);
  return {};
}

void SyncDir(const fs::path& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

// Copies `n` bytes (all of it when n is npos) from `in` to `out` (when not
// null), feeding every byte to the hashers given.
Result<uint64_t> Copy(std::FILE* in, std::FILE* out, uint64_t n, Sha256* a, Sha256* b,
                      const std::string& from, const std::string& to) {
  std::vector<char> buf(kChunk);
  uint64_t done = 0;
  while (done < n) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, n - done));
    const size_t got = std::fread(buf.data(), 1, want, in);
    if (got == 0) {
      if (std::ferror(in)) return Failed("cannot read", from);
      break;  // end of file
    }
    if (a != nullptr) a->Update(buf.data(), got);
    if (b != nullptr) b->Update(buf.data(), got);
    if (out != nullptr && std::fwrite(buf.data(), 1, got, out) != got) return Failed("cannot write", to);
    done += got;
  }
  return done;
}

struct Entry {
  std::string path;  // inside the archive and the data dir, '/'-separated
  fs::path source;   // where backup reads it
  uint64_t size = 0;
  unsigned mode = 0600;
  std::string sha256;  // hex

  static Entry Of(std::string path, fs::path source) {
    Entry e;
    e.path = std::move(path);
    e.source = std::move(source);
    return e;
  }
};

// Size and digest of a file as it is now.
Result<void> Measure(Entry& e) {
  File in{std::fopen(e.source.c_str(), "rb")};
  if (in.f == nullptr) return Failed("cannot read", e.source.string());
  Sha256 hash;
  auto n = Copy(in.f, nullptr, UINT64_MAX, &hash, nullptr, e.source.string(), "");
  if (!n) return std::move(n).error();
  e.size = *n;
  e.sha256 = hash.Hex();
  std::error_code ec;
  e.mode = static_cast<unsigned>(fs::status(e.source, ec).permissions()) & 0777;
  return {};
}

// What a data dir holds besides the database: its secrets and its uploads,
// in a stable order.
std::vector<Entry> OtherFiles(const fs::path& dir) {
  std::vector<Entry> out;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(dir, ec)) {
    if (item.is_regular_file(ec) && item.path().extension() == ".secret")
      out.push_back(Entry::Of(item.path().filename().string(), item.path()));
  }
  if (fs::is_directory(dir / kUploads, ec)) {
    for (const auto& item : fs::recursive_directory_iterator(dir / kUploads, ec)) {
      // uploads/tmp holds uploads still being received: not data yet, and
      // still growing while they would be copied.
      if (item.path().parent_path() == dir / kUploads / "tmp") continue;
      if (item.is_regular_file(ec))
        out.push_back(Entry::Of(fs::relative(item.path(), dir, ec).generic_string(), item.path()));
    }
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return out;
}

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Removes a path on scope exit unless released.
struct Cleanup {
  fs::path path;
  ~Cleanup() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

// A manifest path a restore may write: relative, no "..", nothing odd.
bool SafePath(const std::string& p) {
  if (p.empty() || p.front() == '/' || p.find('\0') != std::string::npos) return false;
  for (const auto& part : fs::path(p)) {
    if (part == ".." || part == "." || part.empty()) return false;
  }
  return true;
}

Result<std::vector<Entry>> ParseManifest(const std::string& line, const std::string& from) {
  auto damaged = [&](const std::string& why) {
    return MakeError(Errc::kBadRequest, "restore: '" + from + "' has a bad manifest: " + why);
  };
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) return damaged("not a JSON object");
  const auto& o = v.as_object();
  const auto* format = o.if_contains("format");
  if (format == nullptr || !format->is_int64() || format->as_int64() != 1)
    return damaged("format is not 1 (a newer parleyd wrote it?)");
  const auto* files = o.if_contains("files");
  if (files == nullptr || !files->is_array()) return damaged("no files list");
  std::vector<Entry> out;
  bool has_db = false;
  for (const auto& f : files->as_array()) {
    const auto* obj = f.if_object();
    if (obj == nullptr) return damaged("a file entry is not an object");
    const auto* path = obj->if_contains("path");
    const auto* size = obj->if_contains("size");
    const auto* mode = obj->if_contains("mode");
    const auto* sha = obj->if_contains("sha256");
    if (path == nullptr || !path->is_string() || size == nullptr || !size->is_int64() ||
        size->as_int64() < 0 || mode == nullptr || !mode->is_int64() || sha == nullptr || !sha->is_string() ||
        sha->as_string().size() != 64)
      return damaged("a file entry lacks path, size, mode or sha256");
    Entry e;
    e.path = std::string(path->as_string());
    if (!SafePath(e.path)) return damaged("unsafe path '" + e.path + "'");
    e.size = static_cast<uint64_t>(size->as_int64());
    e.mode = static_cast<unsigned>(mode->as_int64()) & 0777;
    e.sha256 = std::string(sha->as_string());
    has_db = has_db || e.path == kDatabase;
    out.push_back(std::move(e));
  }
  if (!has_db) return damaged("no parley.db in it");
  return out;
}

}  // namespace

Result<ArchiveSummary> Backup(const std::string& data_dir, const std::string& to) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  const fs::path dir(data_dir);
  if (!fs::is_directory(dir, ec))
    return MakeError(Errc::kBadRequest, "backup: data dir '" + data_dir + "' is not a directory");
  if (!fs::is_regular_file(dir / kDatabase, ec))
    return MakeError(Errc::kBadRequest,
                     "backup: '" + data_dir +
                         "' holds no parley.db: not an embedded parleyd data dir (a "
                         "PostgreSQL store is backed up with pg_dump, see docs/operations.md)");
  if (to.empty()) return MakeError(Errc::kBadRequest, "backup: --to needs a file name");
  if (fs::exists(to, ec)) return MakeError(Errc::kBadRequest, "backup: '" + to + "' already exists");

  // The database copy is staged beside the target, so it lands on the same
  // file system as the result and not in the live data dir.
  const std::string partial = to + ".partial";
  Cleanup staging{to + ".staging"};
  Cleanup partial_file{partial};
  fs::create_directory(staging.path, ec);
  if (ec)
    return MakeError(Errc::kUnavailable,
                     "backup: cannot create '" + staging.path.string() + "': " + ec.message());
  // The entries (RocksDB, store/sqlite/entry_db.h) are copied first, then
  // the database: the database may then hold conversations' last_seq past
  // the copied entries, never short of them, and the restored node's first
  // open brings it back in step (Reconcile in sqlite_store.cc).
  std::vector<Entry> entries;
  const fs::path entries_dir = store::sqlite::EntriesDir((dir / kDatabase).string());
  if (fs::is_directory(entries_dir, ec)) {
    const fs::path copy = staging.path / entries_dir.filename();
    if (auto r = store::sqlite::CopyEntries(entries_dir.string(), copy.string(),
                                            (staging.path / "scratch").string());
        !r.ok())
      return r.error();
    for (const auto& item : fs::directory_iterator(copy, ec)) {
      if (item.is_regular_file(ec))
        entries.push_back(
            Entry::Of(entries_dir.filename().string() + "/" + item.path().filename().string(), item.path()));
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  }
  Entry db = Entry::Of(kDatabase, staging.path / kDatabase);
  if (auto r = store::sqlite::BackupDatabase((dir / kDatabase).string(), db.source.string()); !r.ok())
    return r.error();
  entries.insert(entries.begin(), std::move(db));
  for (Entry& e : OtherFiles(dir)) entries.push_back(std::move(e));
  for (Entry& e : entries) {
    if (auto r = Measure(e); !r.ok()) return r.error();
  }
  entries.front().mode = 0600;

  json::array files;
  for (const Entry& e : entries) {
    files.push_back(json::object{{"path", e.path}, {"size", e.size}, {"mode", e.mode}, {"sha256", e.sha256}});
  }
  const std::string manifest = json::serialize(json::object{{"format", 1},
                                                            {"created_at", UtcNow()},
                                                            {"parley_version", PARLEY_VERSION},
                                                            {"commit", PARLEY_COMMIT},
                                                            {"files", std::move(files)}}) +
                               "\n";

  const int fd = open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Failed("backup: cannot create", partial);
  File out{fdopen(fd, "wb")};
  if (out.f == nullptr) {
    close(fd);
    return Failed("backup: cannot create", partial);
  }
  Sha256 whole;
  auto put = [&](std::string_view s) -> Result<void> {
    whole.Update(s.data(), s.size());
    if (std::fwrite(s.data(), 1, s.size(), out.f) != s.size()) return Failed("backup: cannot write", partial);
    return {};
  };
  if (auto r = put(kMagic); !r.ok()) return r.error();
  if (auto r = put(manifest); !r.ok()) return r.error();
  for (const Entry& e : entries) {
    File in{std::fopen(e.source.c_str(), "rb")};
    if (in.f == nullptr) return Failed("backup: cannot read", e.source.string());
    Sha256 again;
    auto n = Copy(in.f, out.f, e.size, &whole, &again, e.source.string(), partial);
    if (!n) return std::move(n).error();
    // A file that changed between measuring and copying (an upload being
    // replaced) would make a backup that fails its own check on restore.
    if (*n != e.size || again.Hex() != e.sha256)
      return MakeError(Errc::kUnavailable,
                       "backup: '" + e.source.string() + "' changed during the backup; run it again");
  }
  const std::string trailer = std::string(kTrailerPrefix) + whole.Hex() + "\n";
  if (std::fwrite(trailer.data(), 1, trailer.size(), out.f) != trailer.size())
    return Failed("backup: cannot write", partial);
  if (auto r = SyncClose(out, partial); !r.ok()) return r.error();
  fs::rename(partial, to, ec);
  if (ec) return MakeError(Errc::kUnavailable, "backup: cannot rename to '" + to + "': " + ec.message());
  partial_file.path.clear();
  SyncDir(fs::absolute(to, ec).parent_path());
  return ArchiveSummary{fs::file_size(to, ec), entries.size(), Since(start)};
}

Result<ArchiveSummary> Restore(const std::string& from, const std::string& data_dir) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  if (data_dir.empty()) return MakeError(Errc::kBadRequest, "restore: --data-dir needs a directory");
  const fs::path dir(data_dir);
  const bool existed = fs::exists(dir, ec);
  if (existed && (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec)))
    return MakeError(Errc::kBadRequest, "restore: '" + data_dir +
                                            "' is not an empty directory; restore into a new one (a restore "
                                            "never overwrites data)");

  File in{std::fopen(from.c_str(), "rb")};
  if (in.f == nullptr) return Failed("restore: cannot open", from);
  const uint64_t size = fs::file_size(from, ec);
  if (ec) return Failed("restore: cannot read", from);
  std::string magic(kMagic.size(), '\0');
  if (size < kMagic.size() + kTrailerBytes ||
      std::fread(magic.data(), 1, magic.size(), in.f) != magic.size() || magic != kMagic)
    return MakeError(Errc::kBadRequest,
                     "restore: '" + from + "' is not a Parley backup (no PARLEY-BACKUP 1 header)");

  // The whole file is checked before anything is written.
  auto damaged = [&](const std::string& why) {
    return MakeError(Errc::kBadRequest,
                     "restore: '" + from + "' is damaged (" + why +
                         "): it was truncated or changed after the backup; nothing restored");
  };
  std::rewind(in.f);
  Sha256 whole;
  auto body = Copy(in.f, nullptr, size - kTrailerBytes, &whole, nullptr, from, "");
  if (!body) return std::move(body).error();
  std::string trailer(kTrailerBytes, '\0');
  if (std::fread(trailer.data(), 1, trailer.size(), in.f) != trailer.size() ||
      trailer.compare(0, kTrailerPrefix.size(), kTrailerPrefix) != 0 || trailer.back() != '\n')
    return damaged("no checksum line at the end");
  if (trailer.substr(kTrailerPrefix.size(), 64) != whole.Hex()) return damaged("checksum mismatch");

  std::fseek(in.f, static_cast<long>(kMagic.size()), SEEK_SET);
  std::string line;
  for (int c; (c = std::fgetc(in.f)) != EOF && c != '\n';) {
    if (line.size() >= kMaxManifestBytes) return damaged("manifest too long");
    line.push_back(static_cast<char>(c));
  }
  auto entries = ParseManifest(line, from);
  if (!entries) return std::move(entries).error();
  uint64_t total = kMagic.size() + line.size() + 1;
  for (const Entry& e : *entries) total += e.size;
  if (total != size - kTrailerBytes) return damaged("sizes in the manifest do not add up");

  // From here on, a failure takes back everything written.
  fs::create_directories(dir, ec);
  if (ec) return MakeError(Errc::kUnavailable, "restore: cannot create '" + data_dir + "': " + ec.message());
  if (!existed) fs::permissions(dir, fs::perms::owner_all, ec);
  auto undo = [&] {
    std::error_code ignored;
    if (existed) {
      for (const auto& item : fs::directory_iterator(dir, ignored)) fs::remove_all(item.path(), ignored);
    } else {
      fs::remove_all(dir, ignored);
    }
  };
  for (const Entry& e : *entries) {
    const fs::path target = dir / e.path;
    fs::create_directories(target.parent_path(), ec);
    const int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL, e.mode == 0 ? 0600 : e.mode);
    File out{fd >= 0 ? fdopen(fd, "wb") : nullptr};
    if (out.f == nullptr) {
      Error error = Failed("restore: cannot create", target.string());
      if (fd >= 0) close(fd);
      undo();
      return error;
    }
    Sha256 hash;
    auto n = Copy(in.f, out.f, e.size, &hash, nullptr, from, target.string());
    Result<void> synced = n ? SyncClose(out, target.string()) : Result<void>(n.error());
    if (!synced.ok() || *n != e.size || hash.Hex() != e.sha256) {
      undo();
      return synced.ok() ? damaged("'" + e.path + "' does not match its checksum") : synced.error();
    }
  }
  SyncDir(dir);
  return ArchiveSummary{size, entries->size(), Since(start)};
}

bool IsArchiveCommand(int argc, const char* const* argv) {
  if (argc < 2 || argv == nullptr || argv[1] == nullptr) return false;
  const std::string_view command = argv[1];
  return command == "backup" || command == "restore";
}

int RunArchiveCommand(int argc, const char* const* argv) {
  CLI::App app("parleyd backup/restore: one file holding an embedded node's database, secrets and uploads.",
               "parleyd");
  app.require_subcommand(1);
  std::string data_dir, file;
  CLI::App* backup = app.add_subcommand(
      "backup", "Write a consistent backup of DIR (its server may be running) to the new file FILE.");
  backup->add_option("--data-dir", data_dir, "The parleyd data dir to back up.")
      ->required()
      ->type_name("DIR");
  backup->add_option("--to", file, "The backup file to create (must not exist).")
      ->required()
      ->type_name("FILE");
  CLI::App* restore = app.add_subcommand(
      "restore",
      "Check FILE and recreate its data dir in DIR (missing or empty); then start parleyd on DIR.");
  restore->add_option("--from", file, "The backup file.")->required()->type_name("FILE");
  restore->add_option("--data-dir", data_dir, "Where to restore (missing or empty).")
      ->required()
      ->type_name("DIR");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, std::cout, std::cerr);
  }
  const bool is_backup = backup->parsed();
  auto done = is_backup ? Backup(data_dir, file) : Restore(file, data_dir);
  if (!done) {
    std::cerr << "parleyd: " << done.error().message << "\n";
    return 1;
  }
  std::cout << "parleyd " << (is_backup ? "backup: wrote " : "restore: restored ")
            << (is_backup ? file : data_dir) << " (" << done->files << " files, " << done->bytes
            << " bytes) in " << done->seconds << " s\n";
  return 0;
}

}  // namespace parley::server
