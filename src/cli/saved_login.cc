#include "cli/saved_login.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "cli/errors.h"
#include "protocol/json.h"

namespace parley::cli {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// Creates `dir` (and parents) when missing; the last level gets mode 0700.
void EnsureDir(const std::string& dir) {
  if (dir.empty()) throw CliError(kExitUsage, "no config directory: set PARLEY_CONFIG_DIR or HOME");
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  fs::path parent = fs::path(dir).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw CliError(kExitUsage, "cannot create " + dir + ": " + std::strerror(errno));
  }
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string ConfigDir(const EnvLookup& env) {
  auto get = [&](const char* name) -> std::string {
    auto v = env(name);
    return v ? *v : std::string();
  };
  if (std::string dir = get("PARLEY_CONFIG_DIR"); !dir.empty()) return dir;
  if (std::string xdg = get("XDG_CONFIG_HOME"); !xdg.empty()) return xdg + "/parley";
  if (std::string home = get("HOME"); !home.empty()) return home + "/.config/parley";
  return "";
}

std::string LoginPath(const std::string& dir) { return dir + "/config.json"; }

std::optional<SavedLogin> LoadLogin(const std::string& dir) {
  std::string path = LoginPath(dir);
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT || !fs::exists(path)) return std::nullopt;
    throw CliError(kExitUsage, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto obj = protocol::ParseObject(text.str());
  if (!obj) {
    throw CliError(kExitAuth, path + " is not valid JSON; run 'parley login' again");
  }
  SavedLogin c;
  c.server = protocol::GetString(*obj, "server");
  c.username = protocol::GetString(*obj, "username");
  c.user_id = protocol::GetString(*obj, "user_id");
  c.access_token = protocol::GetString(*obj, "access_token");
  c.refresh_token = protocol::GetString(*obj, "refresh_token");
  c.access_expires_at_ms = protocol::GetInt(*obj, "access_expires_at_ms").value_or(0);
  c.ca_file = protocol::GetString(*obj, "cacert");
  return c;
}

void SaveLogin(const std::string& dir, const SavedLogin& c) {
  EnsureDir(dir);
  json::object obj{{"server", c.server},
                   {"username", c.username},
                   {"user_id", c.user_id},
                   {"access_token", c.access_token},
                   {"refresh_token", c.refresh_token},
                   {"access_expires_at_ms", c.access_expires_at_ms}};
  if (!c.ca_file.empty()) obj["cacert"] = c.ca_file;
  std::string text = json::serialize(obj) + "\n";
  std::string path = LoginPath(dir);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw CliError(kExitUsage, "cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  size_t done = 0;
  bool ok = true;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (ok && ::fsync(fd) != 0) ok = false;
  int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) saved_errno = errno;
    ::unlink(tmp.c_str());
    throw CliError(kExitUsage, "cannot write " + path + ": " + std::strerror(saved_errno));
  }
}

bool RemoveLogin(const std::string& dir) {
  std::error_code ec;
  return fs::remove(LoginPath(dir), ec);
}

LoginLock::LoginLock(const std::string& dir) {
  EnsureDir(dir);
  fd_ = ::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ >= 0) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
}

LoginLock::~LoginLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace parley::cli
