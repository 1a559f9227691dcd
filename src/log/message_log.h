#pragma once
// The message log: an ordered, partitioned append + consume, shaped after
// Kafka so the embedded queue is a faithful stand-in for a Kafka topic.
// Records are keyed by conversation id, so one conversation always lands in
// one partition and keeps its order. A consumer polls records of the
// partitions it owns and commits an offset once their effects are durable.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"

namespace parley::log {

// Where the answer to a send goes: the node, io thread and connection that
// asked, and the client's request id.
struct Origin {
  int64_t node = 0;
  uint32_t io_thread = 0;
  uint64_t session = 0;
  int64_t request_id = 0;
};

// What a gateway appends for one `send`, `edit`, `delete` or `react`
// (PROTOCOL.md §5): checked for shape and size, not yet for membership or
// the rules that depend on what is stored (the sequencer's store
// transaction decides those).
struct SendRequest {
  ConversationId conv;
  UserId sender;
  std::string client_msg_id;
  std::string body;
  Origin origin;
  EntryKind kind = EntryKind::kText;
  int64_t target = 0;                   // edit, delete, react
  std::string emoji{};                  // react
  ReactionOp op = ReactionOp::kAdd;     // react
  std::optional<int64_t> reply_to{};    // send
  std::vector<UploadId> attachments{};  // send (PROTOCOL.md §6)
  // A delete by a server administrator (store::NewMessage::by_server_admin).
  bool by_server_admin = false;
};

struct Record {
  int partition = 0;
  int64_t offset = 0;
  SendRequest request;
};

class MessageLog {
 public:
  virtual ~MessageLog() = default;

  virtual int partitions() const = 0;
  // The partition of a conversation (stable for a given partition count).
  int PartitionOf(ConversationId conv) const {
    return static_cast<int>(static_cast<uint64_t>(conv.value) % static_cast<uint64_t>(partitions()));
  }

  // Appends a send, keyed by its conversation. Thread-safe; never blocks an io
  // thread. kUnavailable when the log cannot take it now (full, or broker
  // down): nothing was appended and the client may retry.
  virtual Result<void> Append(SendRequest request) = 0;

  // Waits up to `wait` for records of the owned partitions and returns at most
  // `max` of them, each partition's in offset order. Empty on timeout or after
  // Close(). Called from the consumer's own thread only.
  virtual std::vector<Record> Poll(size_t max, std::chrono::milliseconds wait) = 0;

  // Marks `partition` processed up to and including `offset`.
  virtual void Commit(int partition, int64_t offset) = 0;

  // Wakes a blocked Poll; later Appends fail with kUnavailable.
  virtual void Close() = 0;

  // Liveness for /readyz.
  virtual Result<void> Ping() = 0;
};

}  // namespace parley::log
