#pragma once
// Presence, routing and fan-out on Redis, for a cluster of parleyd nodes.
//
// Fan-out: one pub/sub channel per conversation (parley:conv:<id>), per user
// (parley:user:<id>) and per node (parley:node:<id>, for answers to one
// session). Publishing an event costs one PUBLISH on its conversation's
// channel whatever the group's size; each node subscribes to the channels of
// what its gateway follows and delivers locally. Best-effort: an event lost
// while Redis is away never loses a message (clients fill gaps from the store).
//
// Presence: sessions are registered under their node, and a session is live
// while its node's lease (PX = 2 heartbeats, renewed by a timer) is: a dead
// node's users go offline within 2 heartbeats without anyone cleaning up.
// Every node sweeps expired nodes each half heartbeat; exactly one wins each
// dead node and reports the users it left offline to its offline listener.
//
// After Redis restarts (or the lease lapsed), each node subscribes again to
// every channel it follows and registers again every local session.
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/shared_limits.h"
#include "fanout/fanout.h"
#include "presence/presence_registry.h"
#include "store/recent_entries.h"

namespace parley::presence::redis {

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  // Unique among the live nodes sharing the Redis (> 0). A node restarting
  // with the same id drops the sessions its previous run left.
  int64_t node_id = 1;
  int heartbeat_ms = 25000;
  // Entries of each conversation kept in Redis for resumes
  // (recent_entries.h); 0: none.
  int recent_entries = 64;
};

// Both halves share one connection set and threads; either may be destroyed
// first. Destroying them does not clean up in Redis (a crash looks the same):
// the node's sessions die with its lease.
struct Backend {
  std::unique_ptr<PresenceRegistry> registry;
  std::unique_ptr<fanout::FanOut> fanout;
  // The counters of the limits the nodes share (send rate, login throttle),
  // on connections of their own with a short timeout.
  std::unique_ptr<SharedLimits> limits;
  // The newest entries of each conversation; null when
  // Options::recent_entries is 0.
  std::unique_ptr<store::RecentEntries> recent;
};

// Connects (fails with kUnavailable when Redis does not answer), drops what a
// previous run of this node id left, takes the lease, subscribes to the
// node's channel, and starts the backend's threads.
Result<Backend> Create(const Options& options);

}  // namespace parley::presence::redis
