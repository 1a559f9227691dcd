#pragma once
// HttpAnswers: the answers to entries an HTTP request appended to the
// message log (an administrator's delete, PROTOCOL.md §7), which the
// sequencer sends, like a WebSocket's, as an Event::kSession to the entry's
// origin: through the fan-out, from whichever node committed it. An origin
// whose io_thread is kHttpIoThread names a waiting HTTP request rather than
// a connection; Gateway::Deliver hands such answers here, and the worker
// that runs the request waits for its own.
//
// Owned by the gateway, for its whole life. Thread-safe: Expect and Wait
// run on blocking workers, Take on whatever thread the fan-out delivers on.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "fanout/fanout.h"

namespace parley::gateway {

// The io_thread of an origin that is an HTTP request, not a connection.
inline constexpr uint32_t kHttpIoThread = std::numeric_limits<uint32_t>::max();

class HttpAnswers {
 public:
  // A new origin for a request of this node: its answer will be kept for
  // Wait. Ids are drawn from the top half of the range, apart from the
  // sessions' ids (which count up from 1), so no connection's hub takes it.
  uint64_t Expect();
  // The answer's frame (`sent` or `error`), or nullopt after `timeout`;
  // either way the id is forgotten.
  std::optional<std::string> Wait(uint64_t id, std::chrono::milliseconds timeout);
  // Keeps each answer of `batch` addressed to an expected request.
  void Take(const fanout::EventBatch& batch);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  // nullopt until the answer arrives.
  std::unordered_map<uint64_t, std::optional<std::string>> waiting_;
  std::atomic<size_t> expected_{0};  // waiting_.size(), read without the lock
  uint64_t next_ = uint64_t{1} << 63;
};

}  // namespace parley::gateway
