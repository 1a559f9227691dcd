#pragma once
// The presence registry: which users have live sessions, and on which node.
// A user is online while at least one session is registered. Thread-safe.
#include <cstdint>
#include <functional>
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
  // Where a cluster backend reports users whose sessions all died with their
  // nodes (no RemoveSession came), each once: the caller publishes their
  // `offline` presence and sets last_seen. Called on a backend thread that
  // may block briefly. Backends with nothing to report ignore it.
  virtual void SetOfflineListener(std::function<void(std::vector<UserId>)> /*listener*/) {}
};

}  // namespace parley::presence
