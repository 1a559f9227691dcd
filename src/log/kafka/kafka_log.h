#pragma once
// The Kafka message log (librdkafka). One topic, keyed by conversation id; a
// consumer group over its partitions.
//
// Append: an idempotent producer (enable.idempotence, acks=all) sends each
// SendRequest to partition PartitionOf(conv) (conv % partitions, the same
// mapping as the embedded log, not Kafka's murmur2), with the decimal conv id
// as key. Append only enqueues in librdkafka and never blocks: a full local
// queue, a closed log or unreachable brokers answer kUnavailable.
//
// A record whose delivery fails (brokers down past delivery_timeout_ms) gets
// no `sent` from the sequencer. When librdkafka knows it was never stored, it
// is never consumed either, and Options::on_undelivered hears of it so that
// its sender can be answered now (parleyd answers `unavailable`). A record
// that timed out in flight may have been stored after all: it is only logged,
// since it may still be consumed and answered `sent`; otherwise the client
// times out and resends with the same client_msg_id, which the store
// de-duplicates.
//
// Poll/Commit: a consumer in group `group` (no auto commit; earliest offset on
// a new group). Commit marks an offset; the marks go to Kafka in one
// asynchronous OffsetCommit at the start of the next Poll, synchronously on a
// partition revocation and on Close. A record may therefore be redelivered to
// the next owner of its partition after a crash or rebalance; that is safe
// because the store de-duplicates by (sender, client_msg_id) and assigns seq in
// its transaction. The consumer joins the group at the first Poll, so a log
// used only to append never joins.
//
// The partition count is read from the topic's metadata at Create and must not
// change while Parley runs (a conversation would move to another partition).
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "log/message_log.h"

namespace parley::log::kafka {

struct Options {
  std::string brokers = "127.0.0.1:9092";  // bootstrap servers, "host:port,host:port"
  std::string topic = "parley.sends";
  std::string group = "parley-sequencers";
  int partitions =
      4;  // when Create must create the topic (a real Kafka; the mock's topics are made by parley-kafka-dev)
  std::string client_id;
  int session_timeout_ms = 6000;
  int delivery_timeout_ms = 30'000;  // message.timeout.ms: how long an append may wait for the brokers
  int max_pending = 100'000;         // appends waiting in librdkafka; over: kUnavailable
  int fetch_wait_max_ms = 100;       // broker long-poll of an empty fetch
  int connect_timeout_ms = 10'000;   // how long Create waits for the topic's metadata
  // Called with each send Kafka certainly did not store (kUnavailable), on
  // the producer's poll thread, and never once Close has begun: what it
  // refers to need only outlive the log's Close.
  std::function<void(const SendRequest&, const Error&)> on_undelivered;
};

// Connects, reads the topic's partition count (creating the topic with
// `partitions` when it does not exist and the brokers allow it), and starts
// the producer. kUnavailable when the brokers cannot be reached in time.
Result<std::unique_ptr<MessageLog>> Create(const Options& options);

}  // namespace parley::log::kafka
