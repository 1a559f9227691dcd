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
// A record whose delivery fails (brokers down past delivery_timeout_ms) was
// never stored, so it is never consumed and no `sent` comes for it: the client
// times out and retries with the same client_msg_id, which the store
// de-duplicates. Options::on_undelivered may answer such sends early.
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
  // Called on the producer's poll thread with each send Kafka did not store.
  std::function<void(const SendRequest&, const Error&)> on_undelivered;
};

// Connects, reads the topic's partition count (creating the topic with
// `partitions` when it does not exist and the brokers allow it), and starts
// the producer. kUnavailable when the brokers cannot be reached in time.
Result<std::unique_ptr<MessageLog>> Create(const Options& options);

}  // namespace parley::log::kafka
