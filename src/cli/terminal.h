#pragma once
// Terminal helpers: TTY checks, password prompts without echo. (The chat's
// line editing is LineEditor's.)
#include <optional>
#include <string>

namespace parley::cli {

bool IsTty(int fd);

// Prints `prompt` on the terminal and reads one line with echo off.
// nullopt at end of input.
std::optional<std::string> ReadPassword(const std::string& prompt);

// Prints `prompt` and reads one line from stdin (echoed). nullopt at EOF.
std::optional<std::string> ReadLine(const std::string& prompt);

}  // namespace parley::cli
