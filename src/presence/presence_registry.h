#pragma once
// The presence registry: which users have live sessions, and on which node.
// A user is online while at least one session is registered. Thread-safe.
#include <cstdint>
#include <span>
#include <vector>

#include "common/ids.h"
#include "common/result.h"

namespace parley::presence {

struct SessionKey {
  int64_t node = 0;
  uint64_t session = 0;
};

class PresenceRegistry {
 public:
  virtual ~PresenceRegistry() = default;
  // Registers a session; true when it is the user's first (they came online).
  virtual bool AddSession(UserId user, SessionKey session) = 0;
  // Removes a session; true when it was the user's last (they went offline).
  virtual bool RemoveSession(UserId user, SessionKey session) = 0;
  // Whether each of `users` is online, in the same order.
  virtual std::vector<bool> Online(std::span<const UserId> users) = 0;
  virtual Result<void> Ping() = 0;
};

}  // namespace parley::presence
