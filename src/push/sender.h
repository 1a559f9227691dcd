#pragma once
// push::Sender: sends Web Push messages (PROTOCOL.md §8) for the text
// entries this node commits. The sequencer hands it each new entry
// (Committed: a copy into a bounded queue, never a wait); its own worker
// threads then read who may be pushed (the store: members other than the
// sender with subscriptions and a level that lets the entry through), ask
// the presence registry who has no open WebSocket anywhere, and POST one
// encrypted message (RFC 8291) with VAPID authorization (RFC 8292) to each
// of their subscriptions through the outbound request.
//
// Per subscription at most one POST is in flight. While one is, later
// entries wait as one pending push per conversation: a newer entry of the
// same conversation replaces the pending one (coalescing, counted), so a
// burst in one conversation costs one push after the one in flight. A 429
// holds the subscription back for its Retry-After (the pending push then
// goes, once); 404 and 410 remove the subscription; other failures and
// timeouts drop that push (no retry: a push is a notice, not the message,
// which the client reads from history). A push service that never answers
// holds one worker for push.timeout_ms and delays nothing else: not the
// commit, not fan-out, not other subscriptions while workers are free.
//
// While no user anywhere has a subscription, Committed() drops entries at
// once (no copy, no wake-up, no store read): a worker asks the store every
// kRecheck whether any exists, and Subscribed() (this node accepted one)
// turns the sender on at once. A subscription accepted by another node of a
// cluster is seen within kRecheck; its user has a client open then (the web
// client subscribes while it runs), and the open client is not pushed to.
//
// Lifetime: made by the server after the store, presence registry and VAPID
// key; Start() before the sequencer starts, Stop() after it stopped (pending
// pushes are dropped). Committed() is called on the sequencer thread; the
// rest runs on the sender's own threads.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/model.h"
#include "presence/presence_registry.h"
#include "push/options.h"
#include "push/vapid.h"
#include "store/store.h"

namespace parley::push {

// Observations for metrics, called on the sender's threads.
struct Observer {
  std::function<void()> on_planned;                  // an entry is looked up (a store read)
  std::function<void()> on_attempt;                  // a POST to a push service begins
  std::function<void()> on_failure;                  // it got no 2xx (answer, timeout, refusal)
  std::function<void()> on_removed;                  // a subscription removed (404, 410, refused)
  std::function<void(double seconds)> on_delivered;  // commit to the push service's 2xx
  std::function<void()> on_dropped;                  // an entry or push not sent: queue full
  std::function<void()> on_coalesced;                // a pending push replaced by a newer one
};

class Sender {
 public:
  Sender(store::Store& store, presence::PresenceRegistry& presence, const Vapid& vapid, Options options,
         Observer observer = {}, const Clock& clock = SystemClock::Instance());
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  void Start();
  void Stop();

  // A newly committed entry (sequencer thread; cheap). Only text entries
  // that are not deleted are pushed.
  void Committed(const Message& entry);
  // A push subscription was stored (any thread; cheap).
  void Subscribed();

  // How often the store is asked whether anyone has a subscription.
  static constexpr std::chrono::seconds kRecheck{5};

 private:
  struct Entry {
    Message message;
    std::chrono::steady_clock::time_point committed;
  };
  struct Delivery {
    store::PushSubscription subscription;
    ConversationId conv;
    std::string payload;
    std::chrono::steady_clock::time_point committed;
    int attempts = 0;
  };
  enum class Outcome { kDelivered, kFailed, kGone, kRetryLater };
  struct Attempt {
    Outcome outcome = Outcome::kFailed;
    std::chrono::seconds retry_after{0};
  };
  // One subscription's queue: `pending` holds at most one push per
  // conversation (by conversation id).
  struct EndpointState {
    bool busy = false;       // a POST is in flight
    bool scheduled = false;  // in ready_ or delayed_
    std::chrono::steady_clock::time_point not_before{};
    std::map<int64_t, Delivery> pending;
  };

  void Run();
  // Asks the store whether anyone has a subscription (a worker, unlocked).
  void Recheck();
  // Who is pushed for `entry`, and what (store and presence reads).
  std::vector<Delivery> Plan(const Entry& entry);
  Attempt Deliver(Delivery& delivery);
  // Under mu_.
  void Schedule(Delivery delivery);
  void Wake(const std::string& endpoint, EndpointState& state);
  void Finish(const std::string& endpoint, Delivery delivery, Attempt attempt);

  store::Store& store_;
  presence::PresenceRegistry& presence_;
  const Vapid& vapid_;
  Options options_;
  Observer observer_;
  const Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<Entry> entries_;
  std::deque<std::string> ready_;  // endpoints whose next push may go now
  std::multimap<std::chrono::steady_clock::time_point, std::string> delayed_;
  std::unordered_map<std::string, EndpointState> endpoints_;
  // Whether entries are planned at all; written under mu_, read without it.
  std::atomic<bool> anyone_subscribed_{true};
  uint64_t subscribed_count_ = 0;  // Subscribed() calls, so a stale "no" never wins
  std::chrono::steady_clock::time_point next_recheck_{};
  std::vector<std::thread> threads_;
};

}  // namespace parley::push
