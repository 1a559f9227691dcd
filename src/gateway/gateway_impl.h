#pragma once
// Gateway internals shared by its translation units (listener.cc: accept,
// HTTP and the lifecycle; ws_connection.cc: the WebSocket transport). Not
// part of the public API.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "chat/service.h"
#include "gateway/gateway.h"
#include "gateway/http_api.h"
#include "metrics/metrics.h"
#include "session/client_session.h"
#include "session/hub.h"

namespace parley::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

class WsConnection;

// The session's Worker over the gateway's blocking pool: the work runs on
// the pool, its continuation back on the io thread. Hand-offs are batched
// (DESIGN.md, hot-path rules): what the handlers of one turn of the
// io_context ask for leaves as one post per pool thread (chunks of at most
// kChunk calls, so one slow call holds back few others), and what a chunk
// returns comes back as one handler. A storm of hellos then costs each side
// a wake-up per chunk, not per connection. Used only on its io thread.
class PoolWorker final : public session::Worker {
 public:
  static constexpr size_t kChunk = 16;
  PoolWorker(asio::thread_pool& pool, size_t pool_threads, asio::io_context& ioc)
      : pool_(pool), pool_threads_(std::max<size_t>(1, pool_threads)), ioc_(ioc) {}
  void Run(std::function<Continuation()> work) override;
  void Detach(std::function<void()> work) override;
  // Hands what this turn asked for to the pool now (posted by the first
  // call of a turn; called by the shutdown, which then joins the pool).
  void Submit();

 private:
  asio::thread_pool& pool_;
  size_t pool_threads_;
  asio::io_context& ioc_;
  std::vector<std::function<Continuation()>> pending_;  // asked for in this turn
};

// One io thread: its io_context, acceptor, hub, and what its connections
// share: the read buffer (a plain connection owns no buffer while idle),
// the list of connections whose queued frames go out once the current
// handler is done (one gathered write per socket per batch of events), and
// the sweep that keeps every connection's deadlines (one timer per thread,
// none per connection).
//
// Member order matters at destruction: what connections touch when they
// die (the hub, the session environment, the list of connections) is
// declared before the io_context, so it outlives the handlers that the
// io_context destroys, which may hold the last reference to a connection.
struct IoThread {
  IoThread(uint32_t i, asio::thread_pool& pool, size_t pool_threads, chat::Service& service,
           fanout::FanOut& fanout, metrics::Metrics& metrics, session::SessionOptions opts)
      : index(i),
        hub(fanout),
        session_options(std::move(opts)),
        worker(pool, pool_threads, ioc),
        env{service, hub, worker, metrics, session_options},
        acceptor(ioc),
        sweep(ioc),
        accept_pause(ioc) {}
  ~IoThread() { to_flush.clear(); }
  // Runs every queued flush; posted once per batch of RequestFlush calls.
  void ScheduleFlush(std::shared_ptr<WsConnection> c);
  void Sweep(std::chrono::milliseconds period);
  // Ends every connection of this thread now (after the shutdown's grace).
  void CutAll();

  uint32_t index;
  session::Hub hub;
  session::SessionOptions session_options;
  PoolWorker worker;  // holds a reference to `ioc`, used only once running
  session::SessionEnv env;
  WsConnection* connections = nullptr;  // intrusive list of every live WebSocket
  std::vector<std::shared_ptr<WsConnection>> to_flush;
  bool flush_posted = false;
  std::array<char, 64 * 1024> read_buffer;
  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  asio::steady_timer sweep;
  asio::steady_timer accept_pause;  // after a failed accept (EMFILE)
  std::chrono::steady_clock::time_point last_accept_error;
  std::thread thread;
};

struct Gateway::Impl {
  Impl(Options o, chat::Service& s, fanout::FanOut& f, metrics::Metrics& m, ReadyProbe r)
      : options(std::move(o)),
        service(s),
        fanout(f),
        metrics(m),
        api(s, m, std::move(r), options.web_root, NodeInfo{options.node_id, &answers}),
        blocking_threads(static_cast<size_t>(std::max(1, options.blocking_threads))),
        blocking(blocking_threads) {}

  // Loads the certificate and key of Options::tls (no-op without them).
  Result<void> SetUpTls();
  // What every session of an io thread is configured with.
  session::SessionOptions SessionOptionsFor(uint32_t io_thread) const;

  void Accept(IoThread& io);
  // Runs `work` on a blocking worker; its result comes back on `io`.
  template <class Work, class Done>
  void Blocking(IoThread& io, Work work, Done done) {
    asio::post(blocking, [&io, work = std::move(work), done = std::move(done)]() mutable {
      auto result = work();
      asio::post(io.ioc,
                 [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    });
  }

  Options options;
  chat::Service& service;
  fanout::FanOut& fanout;
  metrics::Metrics& metrics;
  HttpAnswers answers;  // before `api`, which points at it
  HttpApi api;
  std::unique_ptr<asio::ssl::context> tls;  // set when serving https/wss
  const size_t blocking_threads;            // the pool's threads (Options::blocking_threads, at least 1)
  asio::thread_pool blocking;
  std::vector<std::unique_ptr<IoThread>> io_threads;
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

// Starts the WebSocket connection of an upgrade request; `leftover` holds
// bytes the HTTP reader had already taken from the socket past the request.
void StartWebSocket(Gateway::Impl& gw, IoThread& io, Transport transport,
                    http::request<http::string_body> request, std::string leftover);

}  // namespace parley::gateway
