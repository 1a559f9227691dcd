#pragma once
// Gateway internals shared by its two Beast translation units (listener.cc:
// accept + HTTP; ws_session.cc: WebSocket). Not part of the public API.
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "chat/service.h"
#include "gateway/gateway.h"
#include "gateway/http_api.h"
#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

namespace parley::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class WsSession;
struct Shard;

// Which of this shard's connections follow which conversation and user.
// Touched only on the shard's io thread.
class Hub {
 public:
  explicit Hub(presence::FanOut& fanout) : fanout_(fanout) {}
  void Add(WsSession* s);
  void Remove(WsSession* s);
  void Subscribe(WsSession* s, ConversationId conv);
  void Unsubscribe(WsSession* s, ConversationId conv);
  void Dispatch(const presence::EventBatch& batch);
  std::vector<WsSession*> All() const;

 private:
  void DropFromConversation(WsSession* s, ConversationId conv);

  presence::FanOut& fanout_;
  std::unordered_map<uint64_t, WsSession*> by_id_;
  std::unordered_map<UserId, std::vector<WsSession*>> by_user_;
  std::unordered_map<ConversationId, std::vector<WsSession*>> by_conv_;
};

// One io thread: its io_context, acceptor, and hub.
struct Shard {
  Shard(uint32_t i, presence::FanOut& fanout) : index(i), acceptor(ioc), hub(fanout) {}
  uint32_t index;
  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  Hub hub;
  std::thread thread;
};

struct Gateway::Impl {
  Impl(Options o, chat::Service& s, presence::FanOut& f, metrics::Metrics& m, ReadyProbe r)
      : options(std::move(o)),
        service(s),
        fanout(f),
        metrics(m),
        api(s, m, std::move(r), options.web_root),
        blocking(options.blocking_threads > 0 ? options.blocking_threads : 1) {}

  void Accept(Shard& shard);
  // Runs `work` on a blocking worker; its result comes back on `shard`.
  template <class Work, class Done>
  void Blocking(Shard& shard, Work work, Done done) {
    asio::post(blocking, [&shard, work = std::move(work), done = std::move(done)]() mutable {
      auto result = work();
      asio::post(shard.ioc,
                 [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    });
  }

  Options options;
  chat::Service& service;
  presence::FanOut& fanout;
  metrics::Metrics& metrics;
  HttpApi api;
  asio::thread_pool blocking;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<int> open_connections{0};  // HTTP and WebSocket
  std::atomic<int> ws_connections{0};
  std::atomic<uint64_t> next_session{1};
  std::atomic<bool> stopping{false};
};

// Starts the WebSocket session of an upgrade request; `leftover` holds bytes
// the HTTP reader had already taken from the socket past the request.
void StartWebSocket(Gateway::Impl& gw, Shard& shard, tcp::socket socket,
                    http::request<http::string_body> request, std::string leftover);

namespace ws {
struct ParsedFrame;
}

// One WebSocket connection: one reader, one writer, one bounded queue of
// shared frames, written gathered. Lives on its shard's io thread for life;
// kept alive by its pending operations (shared_from_this), referenced by the
// hub while open. Beast parses the HTTP upgrade; the framing after it is
// ours (ws_frame.h).
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Gateway::Impl& gw, Shard& shard, tcp::socket socket);
  ~WsSession();

  void Start(http::request<http::string_body> request, std::string leftover);

  uint64_t id() const { return id_; }
  UserId user() const { return user_; }
  const std::unordered_set<ConversationId>& subscriptions() const { return subs_; }
  std::unordered_set<ConversationId>& subscriptions() { return subs_; }

  // Hub delivery: queues `frame` (or holds it while resuming).
  void DeliverEvent(const presence::Event& event);
  void Enqueue(presence::Frame frame);
  void Close(uint16_t code, const char* reason);

 private:
  struct Outgoing {
    uint8_t opcode;
    presence::Frame payload;
  };

  void ArmHeartbeat();
  void ContinueReading();
  void OnFrame(ws::ParsedFrame& frame);
  void HandleText(std::string_view text);
  void OnHello(int64_t re, protocol::HelloReq hello);
  void Admit(int64_t re, Result<auth::Claims> claims, protocol::HelloReq hello);
  void FinishResume(Result<chat::ResumePlan> plan);
  void Handle(std::optional<int64_t> id, protocol::Request& request);
  void Answer(std::optional<int64_t> re, Result<std::string> frame);
  bool FloodingPastTolerance(bool refused);
  void EnqueueControl(uint8_t opcode, std::string payload);
  void DoWrite();
  void OnWrite(beast::error_code ec);
  void DropQueued();
  // The shared queue-bytes gauge follows this session's queue once per
  // write, not once per frame.
  void SyncQueueGauge();
  void Teardown();

  Gateway::Impl& gw_;
  Shard& shard_;
  tcp::socket socket_;
  asio::steady_timer timer_;  // hello deadline, then the close deadline
  asio::steady_timer heartbeat_;
  uint64_t id_;
  UserId user_;
  // Reading.
  std::array<char, 16 * 1024> read_buffer_;
  std::string rx_;  // bytes read, not yet parsed from rx_pos_
  size_t rx_pos_ = 0;
  size_t skip_ = 0;      // bytes of an oversized frame still to drop
  std::string message_;  // a fragmented message being assembled
  uint8_t message_opcode_ = 0;
  bool reading_ = false;
  bool paused_ = false;
  std::chrono::steady_clock::time_point last_rx_;
  // State.
  bool hello_seen_ = false;
  bool authed_ = false;
  bool registered_ = false;
  bool resuming_ = false;
  bool closing_ = false;
  bool hang_up_after_close_ = false;
  bool torn_down_ = false;
  uint16_t close_code_ = 0;
  int bad_frames_in_row_ = 0;
  int64_t rate_window_start_ = 0;
  int sends_in_window_ = 0;
  bool refused_in_window_ = false;
  bool previous_window_over_ = false;
  std::unordered_set<ConversationId> subs_;
  // Writing: queue_ waits, in_flight_ is being written (headers_/buffers_
  // describe it to writev).
  std::deque<Outgoing> queue_;
  std::vector<Outgoing> in_flight_;
  std::vector<std::array<uint8_t, 10>> headers_;
  std::vector<asio::const_buffer> buffers_;
  bool writing_ = false;
  int64_t queued_bytes_ = 0;
  int64_t reported_queue_bytes_ = 0;
  // Live events that arrive while the resume is being sent.
  std::vector<std::pair<int64_t, presence::Frame>> held_;  // (seq, frame)
  std::vector<ConversationId> held_conv_;
};

}  // namespace parley::gateway
