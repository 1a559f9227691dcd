#pragma once
// The errors both store backends answer with in the same words, so a
// client sees one message whichever backend runs.
#include <string>

#include "common/error.h"

namespace parley::store {

inline Error UsernameTaken(const std::string& username) {
  return MakeError(Errc::kConflict, "username '" + username + "' is already taken");
}
inline Error TooManyBots(int max_bots) {
  return MakeError(Errc::kBadRequest, "a user has at most " + std::to_string(max_bots) + " bots");
}
// One answer for a key that never existed and one revoked.
inline Error UnknownApiKey() { return MakeError(Errc::kUnauthorized, "unknown or revoked API key"); }

}  // namespace parley::store
