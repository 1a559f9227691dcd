#pragma once
// What a client session needs from the world around it, as two small
// interfaces: the connection that carries its frames (Link), and a way to
// run blocking work off its thread (Worker). The gateway implements both
// over sockets and a thread pool; the tests implement them with plain
// vectors, so the session's logic runs without a socket.
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "fanout/fanout.h"

namespace parley::session {

using protocol::Frame;

// The connection as its session sees it: a bounded queue of outgoing text
// frames and a way to end it. Every call comes from the session's thread.
class Link {
 public:
  virtual ~Link() = default;

  // Queues a text frame. A `counted` frame counts against the slow-reader
  // bound (the connection closes with 4009 past it); an uncounted one is
  // what the server chose to send (the resume), which it paces itself with
  // QueuedBytes(). Ignored once the connection is closing.
  virtual void Send(Frame frame, bool counted = true) = 0;
  // Queues a close frame with `code` and `reason` (after what is queued
  // when `keep_queued`, else instead of it) and ends the connection once the
  // peer answers, or after a grace period.
  virtual void Close(uint16_t code, std::string_view reason, bool keep_queued = false) = 0;
  // Bytes queued and not yet written, counted or not.
  virtual int64_t QueuedBytes() const = 0;
  // True once the connection is closing (by either side) or gone: frames
  // sent now are dropped.
  virtual bool Closing() const = 0;
  // Reading was held back by the session (ClientSession::WantsInput was
  // false): look at the buffered bytes again and read on.
  virtual void ContinueReading() = 0;
  // Keeps the connection, and so the session it holds, alive while a
  // blocking call is out.
  virtual std::shared_ptr<void> KeepAlive() = 0;
};

// Runs blocking work (the store, password hashing) on a worker thread and
// what it returns on the session's thread.
class Worker {
 public:
  using Continuation = std::function<void()>;
  virtual ~Worker() = default;
  // Runs `work` off the session's thread, then the continuation it returns
  // on the session's thread.
  virtual void Run(std::function<Continuation()> work) = 0;
  // Runs `work` off the session's thread; nothing comes back.
  virtual void Detach(std::function<void()> work) = 0;
};

}  // namespace parley::session
