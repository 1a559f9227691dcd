#include "uploads/file_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "uploads/sha256.h"

namespace parley::uploads {
namespace {
namespace fs = std::filesystem;

Error IoError(const std::string& what, int err) {
  return MakeError(Errc::kUnavailable, "blob store: " + what + ": " + std::strerror(err));
}

// Closes a file descriptor on destruction. Owned by one thread.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now; false (errno set) when close fails (a write-back error).
  bool Reset() {
    if (fd_ < 0) return true;
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0;
  }

 private:
  int fd_;
};

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  return Hex(raw);
}

Result<void> FsyncDir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return IoError("open " + dir.string(), errno);
  if (::fsync(fd.get()) != 0) return IoError("fsync " + dir.string(), errno);
  return Ok();
}

// Sets a file's modification time to `ms` since the epoch.
Result<void> SetLinkedTime(const fs::path& file, TimeMs ms) {
  struct timespec times[2];
  times[0].tv_sec = ms / 1000;
  times[0].tv_nsec = (ms % 1000) * 1'000'000;
  times[1] = times[0];
  if (::utimensat(AT_FDCWD, file.c_str(), times, 0) != 0) return IoError("utimensat " + file.string(), errno);
  return Ok();
}

TimeMs ModifiedMs(const struct stat& st) {
  return static_cast<TimeMs>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(fs::path root, fs::path tmp, int fd)
      : root_(std::move(root)), tmp_(std::move(tmp)), fd_(fd) {}
  ~FileBlobWriter() override {
    if (!committed_) {
      fd_.Reset();
      ::unlink(tmp_.c_str());
    }
  }

  Result<void> Append(std::string_view bytes) override {
    if (committed_) return MakeError(Errc::kInternal, "blob store: append after commit");
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("write", errno);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return Ok();
  }

  Result<void> Commit(const std::string& sha256, TimeMs now) override {
    if (committed_) return MakeError(Errc::kInternal, "blob store: committed twice");
    if (!IsBlobName(sha256)) return MakeError(Errc::kInternal, "blob store: bad blob name");
    if (::fsync(fd_.get()) != 0) return IoError("fsync", errno);
    if (!fd_.Reset()) return IoError("close", errno);
    const fs::path dir = root_ / sha256.substr(0, 2);
    const fs::path target = dir / sha256;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return IoError("mkdir " + dir.string(), ec.value());
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0) {
      // The same bytes are stored already: keep that blob, mark it linked.
      if (ModifiedMs(st) < now) {
        if (auto ok = SetLinkedTime(target, now); !ok) return ok;
      }
      ::unlink(tmp_.c_str());
      committed_ = true;
      return Ok();
    }
    if (::rename(tmp_.c_str(), target.c_str()) != 0) return IoError("rename", errno);
    committed_ = true;
    if (auto ok = SetLinkedTime(target, now); !ok) return ok;
    return FsyncDir(dir);
  }

 private:
  fs::path root_;
  fs::path tmp_;
  Fd fd_;
  bool committed_ = false;
};

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(fs::path root) : root_(std::move(root)), tmp_(root_ / "tmp") {}

  Result<std::unique_ptr<BlobWriter>> Create() override {
    fs::path tmp = tmp_ / (RandomHex(16) + ".part");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return IoError("create " + tmp.string(), errno);
    return std::unique_ptr<BlobWriter>(std::make_unique<FileBlobWriter>(root_, std::move(tmp), fd));
  }

  Result<std::string> Read(const std::string& sha256, int64_t offset, size_t max_bytes) override {
    if (!IsBlobName(sha256) || offset < 0) return MakeError(Errc::kNotFound, "no such blob");
    const fs::path file = PathOf(sha256);
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) return MakeError(Errc::kNotFound, "no such blob");
      return IoError("open " + file.string(), errno);
    }
    std::string out(max_bytes, '\0');
    size_t got = 0;
    while (got < max_bytes) {
      ssize_t n = ::pread(fd.get(), out.data() + got, max_bytes - got,
                          static_cast<off_t>(offset) + static_cast<off_t>(got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("read " + file.string(), errno);
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }

  Result<bool> Remove(const std::string& sha256, TimeMs cutoff) override {
    if (!IsBlobName(sha256)) return false;
    const fs::path file = PathOf(sha256);
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      if (errno == ENOENT) return false;
      return IoError("stat " + file.string(), errno);
    }
    if (ModifiedMs(st) >= cutoff) return false;
    if (::unlink(file.c_str()) != 0) {
      if (errno == ENOENT) return false;
      return IoError("unlink " + file.string(), errno);
    }
    return true;
  }

  Result<int64_t> RemoveAbandoned(TimeMs cutoff) override {
    std::error_code ec;
    int64_t removed = 0;
    for (fs::directory_iterator it(tmp_, ec), end; !ec && it != end; it.increment(ec)) {
      struct stat st {};
      if (::stat(it->path().c_str(), &st) != 0 || ModifiedMs(st) >= cutoff) continue;
      if (::unlink(it->path().c_str()) == 0) ++removed;
    }
    if (ec) return IoError("list " + tmp_.string(), ec.value());
    return removed;
  }

 private:
  fs::path PathOf(const std::string& sha256) const { return root_ / sha256.substr(0, 2) / sha256; }

  fs::path root_;
  fs::path tmp_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root) {
  std::error_code ec;
  fs::create_directories(fs::path(root) / "tmp", ec);
  if (ec) return IoError("create " + root, ec.value());
  if (::access((fs::path(root) / "tmp").c_str(), W_OK) != 0) return IoError("write to " + root, errno);
  return std::unique_ptr<BlobStore>(std::make_unique<FileBlobStore>(fs::path(root)));
}

}  // namespace parley::uploads
