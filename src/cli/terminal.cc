#include "cli/terminal.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

namespace parley::cli {

namespace {

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

}  // namespace parley::cli
