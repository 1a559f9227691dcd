#pragma once
// Fan-out: how committed messages and other events reach the connections of
// the members, wherever they are. Publishing costs one call per event, never
// one per member: a node delivers an event to its own local connections
// (DeliverySink, implemented by the gateway). Best-effort by design: a lost
// event never loses a message, because clients fill seq gaps from the store.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/ids.h"
#include "log/message_log.h"
#include "protocol/frame.h"

namespace parley::fanout {

struct Event {
  enum class Target : uint8_t {
    kConversation,  // every connection subscribed to `conv` (but `exclude`'s)
    kUsers,         // every connection of each of `users`
    kSession,       // the one connection `origin` names (answers to sends)
  };
  // What the target connections change in their subscriptions before the
  // frame is delivered (membership changes): subscribe to or drop `conv`.
  enum class Subscription : uint8_t { kNone, kSubscribe, kUnsubscribe };

  Target target = Target::kConversation;
  Subscription subscription = Subscription::kNone;
  ConversationId conv;
  int64_t seq = 0;            // for `message` events: lets a resuming connection drop overlaps
  UserId exclude;             // kConversation: skip this user's connections (typing)
  UserId subject;             // presence events: the user who came online or went offline
  std::vector<UserId> users;  // kUsers
  log::Origin origin;         // kSession
  protocol::Frame frame;      // may be null for a pure subscription change
  // kUsers, when > 0: the users' tokens issued under an epoch below this
  // one are revoked (password change, logout everywhere, deletion), so
  // every connection opened with one closes with 4003.
  int64_t revoke_epoch = 0;

  static Event ToConversation(ConversationId c, protocol::Frame f, int64_t seq = 0,
                              UserId exclude = UserId()) {
    Event e;
    e.conv = c;
    e.frame = std::move(f);
    e.seq = seq;
    e.exclude = exclude;
    return e;
  }
  static Event ToUsers(std::vector<UserId> u, protocol::Frame f) {
    Event e;
    e.target = Target::kUsers;
    e.users = std::move(u);
    e.frame = std::move(f);
    return e;
  }
  // Closes every connection of `user` whose token is older than `epoch`,
  // on every node that holds one.
  static Event Revoke(UserId user, int64_t epoch) {
    Event e = ToUsers({user}, nullptr);
    e.revoke_epoch = epoch;
    return e;
  }
  static Event ToSession(const log::Origin& o, protocol::Frame f) {
    Event e;
    e.target = Target::kSession;
    e.origin = o;
    e.frame = std::move(f);
    return e;
  }
};

using EventBatch = std::vector<Event>;

// Implemented by the gateway: delivers a batch to this node's connections.
// Called from any thread; must not block.
class DeliverySink {
 public:
  virtual ~DeliverySink() = default;
  virtual void Deliver(std::shared_ptr<const EventBatch> batch) = 0;
  // Events addressed to this node may have been lost (the cluster's fan-out
  // lost its connection and has it back): every local connection catches
  // up on its conversations from the store. Called from any thread.
  virtual void Resync() {}
};

// What a node follows: the events of a conversation, or those addressed to
// a user.
struct Interest {
  enum class Kind : uint8_t { kConversation, kUser };
  Kind kind = Kind::kConversation;
  int64_t id = 0;
  friend bool operator==(const Interest&, const Interest&) = default;
};

class FanOut {
 public:
  virtual ~FanOut() = default;
  // Where this node's share of every published event goes. Set once at start-up.
  virtual void SetSink(DeliverySink* sink) = 0;
  // Publishes a batch, in order. Thread-safe, non-blocking.
  virtual void Publish(EventBatch batch) = 0;
  // This node's interests. The gateway calls Follow when its first local
  // connection follows a conversation or a user connects here, and Unfollow
  // when the last one stops; calls come from several io threads, and a
  // backend reference-counts them. A backend that delivers every event to
  // every node (embedded: there is one node) ignores them. Events addressed
  // to a session (kSession) reach its node whatever it follows.
  virtual void Follow(Interest) {}
  virtual void Unfollow(Interest) {}
  // Blocks until events for every one of `interests` (followed before the
  // call) reach this node, or `timeout` passes; true when they do. A
  // connection's resume reads the store only after this, so no event falls
  // between what it reads and what it is sent live. For blocking workers
  // only. A backend that delivers everything to every node is always ready.
  virtual bool AwaitFollowing(std::span<const Interest> /*interests*/,
                              std::chrono::milliseconds /*timeout*/) {
    return true;
  }
};

}  // namespace parley::fanout
