#pragma once
// The client's saved login: server URL, user and tokens, in one file
// (config.json, mode 0600) in the user's config directory. Tokens never
// leave this file except in requests to the server. (Not to be confused
// with config::Config, the server's settings.)
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace parley::cli {

// Reads an environment variable; nullopt when unset. Injected for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// $PARLEY_CONFIG_DIR, else $XDG_CONFIG_HOME/parley, else $HOME/.config/parley.
// Empty values count as unset. "" when none can be found.
std::string ConfigDir(const EnvLookup& env);

struct SavedLogin {
  std::string server;  // canonical URL, "http://host:port" or "https://host:port"
  std::string username;
  std::string user_id;
  std::string access_token;
  std::string refresh_token;
  int64_t access_expires_at_ms = 0;  // wall clock; 0 when unknown
  // The private CA (--cacert) the login was made with, as an absolute path,
  // so later commands trust the same server; empty for the system store.
  std::string ca_file;

  bool logged_in() const { return !server.empty() && !refresh_token.empty(); }
};

// The login file inside `dir`.
std::string LoginPath(const std::string& dir);

// Reads DIR/config.json; nullopt when absent. Throws CliError when the file
// exists but cannot be read or parsed.
std::optional<SavedLogin> LoadLogin(const std::string& dir);

// Writes DIR/config.json atomically (temp file, mode 0600, rename), creating
// DIR (mode 0700) when needed. Throws CliError on failure.
void SaveLogin(const std::string& dir, const SavedLogin& login);

// Removes DIR/config.json; false when there was none.
bool RemoveLogin(const std::string& dir);

// An exclusive advisory lock on DIR/lock for the life of the object, so two
// `parley` processes never both spend the same (rotating) refresh token.
class LoginLock {
 public:
  explicit LoginLock(const std::string& dir);
  ~LoginLock();
  LoginLock(const LoginLock&) = delete;
  LoginLock& operator=(const LoginLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace parley::cli
