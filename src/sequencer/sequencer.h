#pragma once
// The sequencer: the single writer of the conversations in the partitions it
// consumes. It polls the message log, commits each batch to the store in one
// transaction (group commit: one fsync for many messages; the store assigns
// gapless seqs and de-duplicates by (sender, client_msg_id)), and only then
// answers the senders and publishes one `message` event per new message.
//
// Owns one thread. Start() once, Stop() drains what was polled and joins.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "common/clock.h"
#include "common/error.h"
#include "log/message_log.h"
#include "fanout/fanout.h"
#include "store/store.h"

namespace parley::sequencer {

struct Options {
  size_t batch_max = 1000;
  int64_t node_id = 1;  // 1..1023, folded into message ids
};

// Observations for metrics, called on the sequencer thread.
struct Observer {
  std::function<void(size_t batch, double seconds)> on_commit;
  std::function<void()> on_commit_error;
  // Each entry newly committed (not a duplicate), after the batch's events
  // are published: what consumers of the stream on this node (Web Push)
  // take. Must not block.
  std::function<void(const Message&)> on_entry;
};

// The `error` answer to one send, for the connection that sent it (its
// origin): a send the store refused or could not commit, or one the message
// log accepted but could not store.
fanout::Event ErrorAnswer(const log::Origin& origin, const Error& error);

// Message ids: 41 bits of ms since 2024-01-01, 10 bits of node, 12 of counter.
// Unique per node, roughly time-ordered, positive int64.
class IdGenerator {
 public:
  explicit IdGenerator(int64_t node_id) : node_(node_id & 0x3FF) {}
  MessageId Next(TimeMs now);

 private:
  int64_t node_;
  TimeMs last_ms_ = 0;
  int64_t counter_ = 0;
};

class Sequencer {
 public:
  // `serve` puts on a committed text entry what it carries only when served
  // (the signed urls of its attachments, PROTOCOL.md §6) before its event
  // is made; called on the sequencer thread.
  Sequencer(log::MessageLog& log, store::Store& store, fanout::FanOut& fanout, const Clock& clock,
            Options options, Observer observer = {}, std::function<void(Message&)> serve = {});
  ~Sequencer();

  void Start();
  void Stop();

  // One poll-commit-publish round; returns how many records it handled.
  // Public for tests, which drive the sequencer without its thread.
  size_t RunOnce(std::chrono::milliseconds wait);

 private:
  log::MessageLog& log_;
  store::Store& store_;
  fanout::FanOut& fanout_;
  const Clock& clock_;
  Options options_;
  Observer observer_;
  std::function<void(Message&)> serve_;
  IdGenerator ids_;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace parley::sequencer
