#pragma once
// Gateway internals shared by its two Beast translation units (listener.cc:
// accept + HTTP; ws_session.cc: WebSocket). Not part of the public API.
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
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
using TlsStream = asio::ssl::stream<tcp::socket>;

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

// One io thread: its io_context, acceptor, hub, and what its sessions share:
// the read buffer (a plain connection owns no buffer while idle), the list
// of sessions whose queued frames go out once the current handler is done
// (one gathered write per socket per batch of events), and the sweep that
// keeps every session's deadlines (one timer per shard, none per session).
struct Shard {
  Shard(uint32_t i, presence::FanOut& fanout)
      : index(i), acceptor(ioc), hub(fanout), sweep(ioc), accept_pause(ioc) {}
  // Runs every queued flush; posted once per batch of Enqueue calls.
  void ScheduleFlush(std::shared_ptr<WsSession> s);
  void Sweep(std::chrono::milliseconds period);

  uint32_t index;
  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  Hub hub;
  std::array<char, 64 * 1024> read_buffer;
  std::vector<std::shared_ptr<WsSession>> to_flush;
  bool flush_posted = false;
  WsSession* sessions = nullptr;  // intrusive list of every live session
  asio::steady_timer sweep;
  asio::steady_timer accept_pause;  // after a failed accept (EMFILE)
  std::chrono::steady_clock::time_point last_accept_error;
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

  // Loads the certificate and key of Options::tls (no-op without them).
  Result<void> SetUpTls();

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
  std::unique_ptr<asio::ssl::context> tls;  // set when serving https/wss
  asio::thread_pool blocking;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<int> open_connections{0};  // HTTP and WebSocket
  std::atomic<int> ws_connections{0};
  std::atomic<uint64_t> next_session{1};
  std::atomic<bool> stopping{false};
};

// The IP address of a connected socket's peer ("" when it cannot be read):
// what the listener puts in ApiRequest::peer_address.
inline std::string PeerAddressOf(tcp::socket& socket) {
  beast::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  return ec ? std::string() : endpoint.address().to_string();
}

// A WebSocket's byte stream: a plain socket, or TLS over one.
using Transport = std::variant<tcp::socket, std::unique_ptr<TlsStream>>;

// Starts the WebSocket session of an upgrade request; `leftover` holds bytes
// the HTTP reader had already taken from the socket past the request.
void StartWebSocket(Gateway::Impl& gw, Shard& shard, Transport transport,
                    http::request<http::string_body> request, std::string leftover);

namespace ws {
struct ParsedFrame;
}

// One WebSocket connection: one reader, one writer, one bounded queue of
// shared frames, written gathered. Lives on its shard's io thread for life;
// kept alive by its pending operations (shared_from_this) and referenced by
// the hub while open. Beast parses the HTTP upgrade; the framing after it is
// ours (ws_frame.h). Memory is what an idle connection costs most of: a plain
// one holds no read buffer and no timer (the shard has one of each), and
// gives its write buffers back once its queue drains.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(Gateway::Impl& gw, Shard& shard, Transport transport);
  ~WsSession();

  void Start(http::request<http::string_body> request, std::string leftover);

  uint64_t id() const { return id_; }
  UserId user() const { return user_; }
  // The conversations this connection follows, sorted (most users follow a
  // few; a vector is smaller than a hash set and as quick to search).
  bool Follows(ConversationId conv) const;
  bool AddSubscription(ConversationId conv);
  bool RemoveSubscription(ConversationId conv);
  const std::vector<ConversationId>& subscriptions() const { return subs_; }

  // Hub delivery: queues `frame` (or holds it while resuming).
  void DeliverEvent(const presence::Event& event);
  void Enqueue(presence::Frame frame);
  // Queues a close frame (after what is queued when `keep_queued`, else
  // instead of it) and hangs up once the peer answers or in 5 s.
  void Close(uint16_t code, const char* reason, bool keep_queued = false);
  // The shard's sweep: deadlines and the heartbeat.
  // Whether Tick has anything to do now (cheap: the sweep asks everyone).
  bool Due(std::chrono::steady_clock::time_point now) const;
  void Tick(std::chrono::steady_clock::time_point now);
  // Writes whatever is queued (the shard's flush).
  void Flush();

  WsSession* next_in_shard = nullptr;
  WsSession* prev_in_shard = nullptr;

 private:
  struct Outgoing {
    uint8_t opcode;
    presence::Frame payload;
  };
  enum class Deadline : uint8_t { kNone, kHello, kClose, kTlsShutdown };

  static constexpr int kMaxInFlight = 8;  // store requests per connection
  bool tls() const { return transport_.index() == 1; }
  bool Blocked() const { return paused_ || in_flight_requests_ >= kMaxInFlight; }
  void RequestDone();
  tcp::socket& socket();
  void ContinueReading();
  void OnReadable();
  void OnBytes(const char* data, size_t n);
  size_t ParseFrames(std::string_view data);
  void OnFrame(ws::ParsedFrame& frame);
  void HandleText(std::string_view text);
  void OnHello(int64_t re, protocol::HelloReq hello);
  void Admit(int64_t re, Result<auth::Claims> claims, protocol::HelloReq hello);
  void FinishResume(Result<chat::ResumePlan> plan);
  void RaiseFloor(ConversationId conv, int64_t seq);
  bool Stale(ConversationId conv, int64_t seq);
  void Handle(std::optional<int64_t> id, protocol::Request& request);
  void Answer(std::optional<int64_t> re, Result<std::string> frame);
  bool FloodingPastTolerance(bool refused);
  void EnqueueControl(uint8_t opcode, std::string payload);
  void RequestFlush();
  void DoWrite();
  void OnWrite(beast::error_code ec);
  void DropQueued();
  // The shared queue-bytes gauge follows this session's queue once per
  // write, not once per frame.
  void SyncQueueGauge();
  void Teardown();
  void CloseSocket();

  Gateway::Impl& gw_;
  Shard& shard_;
  Transport transport_;
  uint64_t id_;
  UserId user_;
  std::chrono::steady_clock::time_point deadline_at_;
  std::chrono::steady_clock::time_point last_rx_;
  std::chrono::steady_clock::time_point last_ping_;
  Deadline deadline_ = Deadline::kNone;
  // Reading.
  bool reading_ = false;
  bool paused_ = false;
  bool parsing_ = false;
  std::string rx_;                           // bytes read, not yet parsed
  std::unique_ptr<char[]> tls_read_buffer_;  // TLS only: a pending read owns its buffer
  size_t skip_ = 0;                          // bytes of an oversized frame still to drop
  std::string message_;                      // a fragmented message being assembled
  uint8_t message_opcode_ = 0;
  // State.
  bool hello_seen_ = false;
  bool authed_ = false;
  bool registered_ = false;
  bool resuming_ = false;
  bool closing_ = false;
  bool hang_up_after_close_ = false;
  bool torn_down_ = false;
  bool writing_ = false;
  bool flush_requested_ = false;
  bool previous_window_over_ = false;
  bool refused_in_window_ = false;
  uint16_t close_code_ = 0;
  int bad_frames_in_row_ = 0;
  int in_flight_requests_ = 0;
  int sends_in_window_ = 0;
  int64_t rate_window_start_ = 0;
  std::vector<ConversationId> subs_;
  // Writing: queue_[queue_head_..] waits, in_flight_ is being written
  // (headers_/buffers_ describe it to writev; TLS copies it into tls_out_).
  std::vector<Outgoing> queue_;
  size_t queue_head_ = 0;
  std::vector<Outgoing> in_flight_;
  std::vector<std::array<uint8_t, 10>> headers_;
  std::vector<asio::const_buffer> buffers_;
  std::string tls_out_;
  int64_t queued_bytes_ = 0;
  int64_t reported_queue_bytes_ = 0;
  // Live events that arrive while the resume is being sent.
  std::vector<std::pair<int64_t, presence::Frame>> held_;  // (seq, frame)
  std::vector<ConversationId> held_conv_;
  // Per conversation, the newest seq this connection already has, sorted.
  std::vector<std::pair<ConversationId, int64_t>> floors_;
};

}  // namespace parley::gateway
