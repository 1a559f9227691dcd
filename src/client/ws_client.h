#pragma once
// WsClient: a synchronous-looking WebSocket client for the Parley protocol.
//
// Owns one connection (ws://, or wss:// with TlsOptions) and one background
// I/O thread. The I/O thread reads frames continuously into a queue (so
// server pings are answered even while the caller is not receiving) and
// performs writes one at a time. All public methods must be called from one
// caller thread; the frame queue is the only state shared with the I/O
// thread. Beast stays in ws_client.cc.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "client/tls.h"
#include "common/close_code.h"
#include "common/result.h"
#include "protocol/client_frames.h"

namespace parley::client {

// One frame as it came off the wire.
struct WsFrame {
  std::string text;
  bool binary = false;
};

class WsClient {
 public:
  using Clock = std::chrono::steady_clock;
  using Predicate = std::function<bool(const boost::json::object&)>;

  WsClient();
  ~WsClient();  // closes cleanly (1000) if still open, then stops the thread
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Opens TCP (and TLS over it when `tls` is set: wss://, the certificate
  // verified) and performs the WebSocket upgrade. On failure the error's
  // message names the step (an untrusted certificate starts with
  // kUntrustedCertificate), and `handshake_status()` holds the HTTP status
  // the server answered the upgrade with (0 if none).
  Result<void> Connect(const std::string& host, uint16_t port, const std::string& target = "/v1/ws",
                       std::chrono::milliseconds timeout = std::chrono::seconds(5),
                       const std::optional<TlsOptions>& tls = std::nullopt);

  // ---- typed: the frames of protocol/client_frames.h ----
  // Writes `request`, with "id" when `id` is set; false when the write failed.
  bool SendRequest(const protocol::Request& request, std::optional<int64_t> id = std::nullopt);
  // Sends `request` with the next id and returns its answer, typed (an
  // `error` answer is an ErrorAnswer, not an Error). Frames that arrive
  // meanwhile are kept in the event buffer, as Request does. Errors:
  // kUnavailable when the connection ends or nothing answers in `timeout`;
  // kBadRequest (naming the field) when the answer does not parse.
  Result<protocol::ServerFrame> Call(const protocol::Request& request,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // ---- raw: frames as JSON objects, for tests that put anything on the wire ----
  // Writes one frame; false when the connection is gone or the write failed.
  bool Send(std::string text);
  bool SendJson(const boost::json::object& obj);
  bool SendBinary(std::string bytes);

  // Next server frame as a JSON object: buffered events first (see Request),
  // then new frames. A frame that is not a JSON object comes back as
  // {"type":"__invalid__","raw":text}. nullopt on timeout or when closed.
  std::optional<boost::json::object> Receive(std::chrono::milliseconds timeout);
  // Next raw frame from the wire (skips the event buffer).
  std::optional<WsFrame> ReceiveFrame(std::chrono::milliseconds timeout);
  // The raw text of the last frame taken off the wire.
  const std::string& last_raw() const { return last_raw_; }

  // Sends `obj` with an `id` (assigned when absent) and returns the frame
  // whose `re` equals it. Frames that arrive meanwhile are kept in the event
  // buffer, in order, for Receive / WaitFor / events().
  std::optional<boost::json::object> Request(boost::json::object obj,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // The first frame (buffered, then new) for which `pred` holds; it is taken
  // out of the buffer, the others stay. nullopt on timeout.
  std::optional<boost::json::object> WaitFor(const Predicate& pred, std::chrono::milliseconds timeout);
  // Shorthand: the first frame of `type` (and of conversation `conv` if set).
  std::optional<boost::json::object> WaitForType(const std::string& type, std::chrono::milliseconds timeout,
                                                 std::optional<std::string> conv = std::nullopt);
  // Moves every frame that arrives within `period` into the buffer and
  // returns the whole buffer, emptying it.
  std::vector<boost::json::object> Drain(std::chrono::milliseconds period);

  const std::deque<boost::json::object>& events() const { return events_; }
  void ClearEvents() { events_.clear(); }

  // hello with `token` and `last_seq` as given (left out when null, so a
  // test can send values a typed HelloReq cannot); the answer or nullopt.
  std::optional<boost::json::object> Hello(const std::string& token, boost::json::value last_seq = nullptr,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Starts the closing handshake with `code` and waits for it to finish.
  void Close(int code = kCloseNormal, std::chrono::milliseconds timeout = std::chrono::seconds(3));
  // Drops the TCP connection without a closing handshake.
  void Abort();
  // Waits until the connection is closed (by either side); true if it is.
  bool WaitClosed(std::chrono::milliseconds timeout);

  bool is_open() const;
  // The close code/reason the peer sent, once closed by a close frame.
  std::optional<int> close_code() const;
  std::string close_reason() const;
  // Why the connection ended or failed, for messages.
  std::string last_error() const;
  int handshake_status() const;
  // WebSocket pings received from the server (answered automatically).
  int pings_received() const;
  int64_t next_id() const { return next_id_; }

 private:
  std::optional<boost::json::object> ReceiveNew(std::chrono::milliseconds timeout);
  // The frame whose `re` is `id`, buffering the others; nullopt at `deadline`.
  std::optional<boost::json::object> AwaitAnswer(int64_t id, Clock::time_point deadline);
  static boost::json::object ToObject(const std::string& text);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::deque<boost::json::object> events_;  // caller thread only
  std::string last_raw_;
  int64_t next_id_ = 1;
};

}  // namespace parley::client
