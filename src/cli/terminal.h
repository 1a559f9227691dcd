#pragma once
// Terminal helpers: TTY checks, password prompts without echo, raw mode.
#include <optional>
#include <string>

#include <termios.h>

namespace parley::cli {

bool IsTty(int fd);

// Prints `prompt` on the terminal and reads one line with echo off.
// nullopt at end of input.
std::optional<std::string> ReadPassword(const std::string& prompt);

// Prints `prompt` and reads one line from stdin (echoed). nullopt at EOF.
std::optional<std::string> ReadLine(const std::string& prompt);

// Non-canonical, no-echo input on `fd` for the life of the object (signals
// stay on, so Ctrl-C still interrupts); the old mode is restored at exit,
// also when the process dies of SIGINT/SIGTERM/SIGHUP.
class RawMode {
 public:
  explicit RawMode(int fd);
  ~RawMode();
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;
  bool active() const { return active_; }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

}  // namespace parley::cli
