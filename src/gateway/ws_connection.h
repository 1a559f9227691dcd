#pragma once
// WsConnection: the transport of one WebSocket. It knows frames, not
// requests: it finishes the upgrade, reads and parses RFC 6455 frames
// (ws_frame.h), keeps one bounded queue of shared frames and writes it
// gathered (one writev for everything queued by a handler), answers pings,
// keeps deadlines and the heartbeat, and closes. What the frames mean is
// the business of the session::ClientSession it carries, which sees it only
// as a session::Link.
//
// Lives on its io thread for life; kept alive by its pending operations and
// by blocking calls of its session (shared_from_this); listed in its io
// thread's intrusive list until destroyed. Memory is what an idle
// connection costs most of: a plain one holds no read buffer and no timer
// (the io thread has one of each), and gives its write buffers back once
// its queue drains.
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gateway/gateway_impl.h"
#include "session/client_session.h"
#include "session/link.h"

namespace parley::ws {
struct ParsedFrame;
}

namespace parley::gateway {

class WsConnection final : public std::enable_shared_from_this<WsConnection>, public session::Link {
 public:
  WsConnection(Gateway::Impl& gw, IoThread& io, Transport transport);
  ~WsConnection() override;

  // Answers the upgrade request, then reads frames.
  void Start(http::request<http::string_body> request, std::string leftover);

  // ---- session::Link ----------------------------------------------------------
  void Send(session::Frame frame, bool counted = true) override;
  void Close(uint16_t code, std::string_view reason, bool keep_queued = false) override;
  int64_t QueuedBytes() const override { return queued_bytes_; }
  bool Closing() const override { return closing_ || torn_down_; }
  void ContinueReading() override;
  std::shared_ptr<void> KeepAlive() override { return shared_from_this(); }

  // ---- the io thread ----------------------------------------------------------
  // Whether Tick has anything to do now (cheap: the sweep asks everyone).
  bool Due(std::chrono::steady_clock::time_point now) const;
  // Deadlines and the heartbeat.
  void Tick(std::chrono::steady_clock::time_point now);
  // Writes whatever is queued (the io thread's flush).
  void Flush();
  // Ends the connection now: leaves the hub, closes the socket. `abrupt`:
  // the peer's stream ended (or failed) without a closing handshake, so its
  // user may be back in a moment (Service::Disconnect).
  void Teardown(bool abrupt = false);

  WsConnection* next_in_thread = nullptr;
  WsConnection* prev_in_thread = nullptr;

 private:
  struct Outgoing {
    uint8_t opcode;
    bool counted;  // against the slow-reader bound
    session::Frame payload;
  };
  enum class Deadline : uint8_t { kNone, kHello, kClose, kTlsShutdown };

  bool tls() const { return transport_.index() == 1; }
  // No more input wanted now: the session is busy, unless closing (then
  // everything is read, to find the peer's close frame).
  bool Blocked() const { return !closing_ && !session_.WantsInput(); }
  tcp::socket& socket();
  void ReadMore();
  void OnReadable();
  void OnBytes(const char* data, size_t n);
  size_t ParseFrames(std::string_view data);
  void OnFrame(ws::ParsedFrame& frame);
  void EnqueueControl(uint8_t opcode, std::string payload);
  void RequestFlush();
  void DoWrite();
  void OnWrite(beast::error_code ec);
  void DropQueued();
  // The shared queue-bytes gauge follows this connection's queue once per
  // write, not once per frame.
  void SyncQueueGauge();
  void CloseSocket();

  Gateway::Impl& gw_;
  IoThread& io_;
  Transport transport_;
  session::ClientSession session_;
  std::chrono::steady_clock::time_point deadline_at_;
  std::chrono::steady_clock::time_point last_rx_;
  std::chrono::steady_clock::time_point last_ping_;
  Deadline deadline_ = Deadline::kNone;
  // Reading.
  bool reading_ = false;
  bool parsing_ = false;
  bool read_posted_ = false;
  std::string rx_;                           // bytes read, not yet parsed
  std::unique_ptr<char[]> tls_read_buffer_;  // TLS only: a pending read owns its buffer
  size_t skip_ = 0;                          // bytes of an oversized frame still to drop
  std::string message_;                      // a fragmented message being assembled
  uint8_t message_opcode_ = 0;
  // State.
  bool closing_ = false;
  bool hang_up_after_close_ = false;
  bool torn_down_ = false;
  bool writing_ = false;
  bool flush_requested_ = false;
  uint16_t close_code_ = 0;
  // Writing: queue_[queue_head_..] waits, in_flight_ is being written
  // (headers_/buffers_ describe it to writev; TLS copies it into tls_out_).
  std::vector<Outgoing> queue_;
  size_t queue_head_ = 0;
  std::vector<Outgoing> in_flight_;
  std::vector<std::array<uint8_t, 10>> headers_;
  std::vector<asio::const_buffer> buffers_;
  std::string tls_out_;
  int64_t queued_bytes_ = 0;   // text frames queued or being written
  int64_t counted_bytes_ = 0;  // the part that counts against the bound
  int64_t reported_queue_bytes_ = 0;
};

}  // namespace parley::gateway
