// Fuzzes the configuration loader (config::Load): a TOML file, PARLEY_*
// environment variables and command-line flags, in their real precedence.
// Input: the TOML file's text, then optionally a NUL byte and lines, each
// either NAME=VALUE (an environment variable when NAME starts with PARLEY_)
// or one command-line argument. Flags that read other files or print help
// are dropped. Checks: errors name something; an accepted configuration
// printed with ToToml loads back to the same configuration.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

using namespace parley;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// One file per process, removed at exit (never destroyed before that).
const std::string& TomlPath() {
  static const std::string* path = [] {
    char p[] = "/tmp/parley-config-fuzz-XXXXXX";
    int fd = mkstemp(p);
    Check(fd >= 0);
    close(fd);
    auto* s = new std::string(p);
    std::atexit([] { unlink(TomlPath().c_str()); });
    return s;
  }();
  return *path;
}

void WriteFile(std::string_view text) {
  std::ofstream out(TomlPath(), std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  Check(static_cast<bool>(out));
}

Result<config::LoadResult> LoadWith(std::vector<std::string> args, const std::vector<std::string>& env) {
  args.insert(args.begin(), {"parleyd", "--config", TomlPath()});
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  std::vector<const char*> envp;
  for (const auto& e : env) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  return config::Load(static_cast<int>(args.size()), argv.data(), envp.data());
}

bool Dropped(std::string_view arg) {
  return arg.find("config") != std::string_view::npos || arg == "-h" || arg == "--help" ||
         arg == "--version" || arg.find('@') == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view toml = in.substr(0, nul);
  std::vector<std::string> args, env;
  if (nul != std::string_view::npos) {
    std::string_view rest = in.substr(nul + 1);
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string line(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (line.find('\0') != std::string::npos) continue;
      if (line.rfind("PARLEY_", 0) == 0 && line.find('=') != std::string::npos) {
        env.push_back(std::move(line));
      } else if (!Dropped(line) && args.size() < 64) {
        args.push_back(std::move(line));
      }
    }
  }

  WriteFile(toml);
  auto r = LoadWith(args, env);
  if (!r) {
    Check(r.error().code == Errc::kBadRequest && !r.error().message.empty());
    return 0;
  }
  if (r->exit_now) return 0;

  // What --print-config prints must load back to the same settings (the
  // secret is masked in that output, so it is left out of the comparison).
  // Its comment lines are left out of the reload: they are fixed text from
  // the settings table, and toml11 parses comments slowly.
  config::Config c = r->config;
  c.auth.jwt_secret.clear();
  const std::string printed = config::ToToml(c);
  std::string values;
  for (size_t at = 0; at < printed.size();) {
    size_t end = printed.find('\n', at);
    end = end == std::string::npos ? printed.size() : end + 1;
    if (printed[at] != '#') values.append(printed, at, end - at);
    at = end;
  }
  WriteFile(values);
  auto back = LoadWith({}, {});
  Check(back.ok());
  Check(config::ToToml(back->config) == printed);
  return 0;
}
