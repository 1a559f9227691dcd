#include "cli/terminal.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

namespace parley::cli {

namespace {

// The mode to restore from a signal handler.
int g_raw_fd = -1;
termios g_raw_saved{};

void RestoreAndReraise(int sig) {
  if (g_raw_fd >= 0) tcsetattr(g_raw_fd, TCSAFLUSH, &g_raw_saved);
  signal(sig, SIG_DFL);
  raise(sig);
}

std::optional<std::string> ReadRawLine(int fd) {
  std::string line;
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return line.empty() ? std::nullopt : std::optional<std::string>(line);
    if (c == '\n') return line;
    if (c != '\r') line += c;
  }
}

}  // namespace

bool IsTty(int fd) { return ::isatty(fd) == 1; }

std::optional<std::string> ReadPassword(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  termios old{};
  bool changed = false;
  if (tcgetattr(STDIN_FILENO, &old) == 0) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    changed = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  auto line = ReadRawLine(STDIN_FILENO);
  if (changed) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  return line;
}

std::optional<std::string> ReadLine(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  return ReadRawLine(STDIN_FILENO);
}

RawMode::RawMode(int fd) : fd_(fd) {
  if (!IsTty(fd) || tcgetattr(fd, &saved_) != 0) return;
  termios raw = saved_;
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(fd, TCSAFLUSH, &raw) != 0) return;
  active_ = true;
  g_raw_fd = fd;
  g_raw_saved = saved_;
  signal(SIGINT, RestoreAndReraise);
  signal(SIGTERM, RestoreAndReraise);
  signal(SIGHUP, RestoreAndReraise);
}

RawMode::~RawMode() {
  if (!active_) return;
  tcsetattr(fd_, TCSAFLUSH, &saved_);
  g_raw_fd = -1;
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
}

}  // namespace parley::cli
