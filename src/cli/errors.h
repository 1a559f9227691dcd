#pragma once
// Exit codes of `parley` and the error that carries one up to RunCli.
//
// Command code throws CliError; RunCli prints "parley: <message>" on stderr
// and exits with its code. Nothing else in the client throws on purpose.
#include <stdexcept>
#include <string>

#include "common/error.h"

namespace parley::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,        // bad arguments, ambiguous name, nothing to send
  kExitUnreachable = 2,  // bad server URL, server unreachable or lost, TLS certificate not trusted
  kExitAuth = 3,         // wrong password, not logged in, login expired
  kExitNotFound = 4,     // no such conversation/user/message, not a member or not yours (forbidden)
  kExitUnavailable = 5,  // rate limited, server unavailable (503)
  kExitRejected = 6,     // the server refused the input (400, 409, 413) or failed (500)
};

// The text of the "Exit codes" section of `parley --help`.
inline constexpr const char* kExitCodesHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  usage error (bad arguments, ambiguous conversation name, empty message)\n"
    "  2  bad server URL, server down or unreachable, its TLS certificate not trusted\n"
    "  3  authentication: wrong username or password, not logged in, login expired\n"
    "  4  not found or forbidden: unknown conversation, user or message, not a member,\n"
    "     someone else's message\n"
    "  5  rate limited or server unavailable; try again later\n"
    "  6  rejected by the server: invalid input, username taken, message or emoji too\n"
    "     large, a deleted message, a 21st emoji, or a server error\n";

class CliError : public std::runtime_error {
 public:
  CliError(int exit_code, const std::string& message) : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The exit code for an error code, read from an error body or frame (the
// code tables themselves are common/error.h's).
inline int ExitCodeForErrc(Errc code) {
  switch (code) {
    case Errc::kOk:
      return kExitOk;
    case Errc::kUnauthorized:
      return kExitAuth;
    case Errc::kForbidden:
    case Errc::kNotFound:
      return kExitNotFound;
    case Errc::kRateLimited:
    case Errc::kUnavailable:
      return kExitUnavailable;
    case Errc::kBadRequest:
    case Errc::kConflict:
    case Errc::kTooLarge:
    case Errc::kInternal:
      return kExitRejected;
  }
  return kExitRejected;
}

// The exit code for an HTTP status: 0 is a transport failure, 2xx success,
// and any other status the exit code of its Errc (one no code answers with,
// a proxy's 502, counts as a server failure).
inline int ExitCodeForStatus(int status) {
  if (status == 0) return kExitUnreachable;
  if (status >= 200 && status < 300) return kExitOk;
  return ExitCodeForErrc(ErrcFromHttpStatus(status).value_or(Errc::kInternal));
}

}  // namespace parley::cli
