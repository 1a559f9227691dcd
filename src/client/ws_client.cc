// The only translation unit of parley_client that compiles Beast's WebSocket
// code.
#include "client/ws_client.h"

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>
#include <variant>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json/serialize.hpp>

#include "client/tls_context.h"
#include "protocol/json.h"

namespace parley::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {
constexpr size_t kReadMessageMax = 16 * 1024 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(10);
}  // namespace

struct WsClient::Impl {
  struct Outgoing {
    std::string data;
    bool binary = false;
    std::shared_ptr<std::promise<beast::error_code>> done;
  };

  using PlainWs = websocket::stream<beast::tcp_stream>;
  using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  // wss:// needs the context for as long as the stream lives.
  std::shared_ptr<asio::ssl::context> ssl_context;
  // Made by Connect: ws:// or wss://. Every use goes through Visit.
  std::variant<std::monostate, PlainWs, TlsWs> ws;
  beast::flat_buffer read_buffer;
  std::thread thread;
  bool running = false;  // caller thread: the I/O thread is started

  // I/O thread only.
  std::deque<Outgoing> outgoing;
  bool writing = false;

  // Shared, under mu.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<WsFrame> incoming;
  bool closed = false;
  std::optional<int> close_code;
  std::string close_reason;
  std::string error;
  int handshake_status = 0;
  std::atomic<int> pings{0};

  // Calls `f` with the WebSocket stream; nothing before Connect made one.
  template <class F>
  void Visit(F&& f) {
    std::visit(
        [&f](auto& stream) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(stream)>, std::monostate>) f(stream);
        },
        ws);
  }

  void CloseSocket() {
    Visit([](auto& stream) {
      beast::error_code ignored;
      beast::get_lowest_layer(stream).socket().close(ignored);
    });
  }

  template <class Start>
  beast::error_code RunHere(Start start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void StartRead() {
    Visit([this](auto& stream) { ReadOn(stream); });
  }

  template <class Stream>
  void ReadOn(Stream& stream) {
    stream.async_read(read_buffer, [this, &stream](beast::error_code ec, size_t) {
      if (ec) {
        OnEnd(ec, stream.reason());
        return;
      }
      WsFrame frame{beast::buffers_to_string(read_buffer.data()), stream.got_binary()};
      read_buffer.consume(read_buffer.size());
      {
        std::lock_guard lock(mu);
        incoming.push_back(std::move(frame));
      }
      cv.notify_all();
      ReadOn(stream);
    });
  }

  void OnEnd(beast::error_code ec, const websocket::close_reason& reason) {
    {
      std::lock_guard lock(mu);
      closed = true;
      // The peer's close frame may have been read even when the stream then
      // failed (e.g. echoing the close to a peer that already hung up).
      if (ec == websocket::error::closed || reason.code != websocket::close_code::none) {
        close_code = static_cast<int>(reason.code);
        close_reason = std::string(reason.reason.c_str());
        error = "closed by close frame " + std::to_string(*close_code) +
                (ec == websocket::error::closed ? "" : " (then " + ec.message() + ")");
      } else if (error.empty()) {
        error = ec.message();
      }
    }
    cv.notify_all();
    CloseSocket();
  }

  void DoWrite() {
    if (outgoing.empty()) {
      writing = false;
      return;
    }
    writing = true;
    Outgoing& out = outgoing.front();
    Visit([this, &out](auto& stream) {
      stream.binary(out.binary);
      stream.async_write(asio::buffer(out.data), [this](beast::error_code ec, size_t) {
        Outgoing done = std::move(outgoing.front());
        outgoing.pop_front();
        done.done->set_value(ec);
        DoWrite();
      });
    });
  }

  // Connects `stream`, shakes hands (TLS first for wss://) and sets it up
  // for the client; the caller thread runs the I/O until the I/O thread starts.
  template <class Stream>
  Result<void> Open(Stream& stream, const tcp::resolver::results_type& results, const std::string& host,
                    uint16_t port, const std::string& target, std::chrono::milliseconds timeout) {
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(timeout);
    beast::error_code ec = RunHere([&](auto handler) { lowest.async_connect(results, std::move(handler)); });
    if (ec) return MakeError(Errc::kUnavailable, "connect: " + ec.message());
    lowest.socket().set_option(tcp::no_delay(true), ec);
    if constexpr (std::is_same_v<Stream, TlsWs>) {
      ec = RunHere([&](auto handler) {
        stream.next_layer().async_handshake(asio::ssl::stream_base::client, std::move(handler));
      });
      if (ec) {
        return MakeError(Errc::kUnavailable,
                         detail::DescribeHandshakeError(ec, stream.next_layer().native_handle()));
      }
    }
    lowest.expires_never();

    websocket::stream_base::timeout opts{};
    opts.handshake_timeout = timeout;
    opts.idle_timeout = websocket::stream_base::none();
    opts.keep_alive_pings = false;
    stream.set_option(opts);
    stream.read_message_max(kReadMessageMax);
    stream.auto_fragment(false);
    stream.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "parley-client"); }));
    stream.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) pings.fetch_add(1);
    });

    websocket::response_type response;
    std::string host_header = host + ":" + std::to_string(port);
    ec = RunHere(
        [&](auto handler) { stream.async_handshake(response, host_header, target, std::move(handler)); });
    handshake_status = static_cast<int>(response.result_int());
    if (ec) {
      return MakeError(Errc::kUnavailable,
                       "handshake: " + ec.message() + " (HTTP " + std::to_string(handshake_status) + ")");
    }
    return Ok();
  }

  bool Write(std::string data, bool binary) {
    if (!running) return false;
    {
      std::lock_guard lock(mu);
      if (closed) return false;
    }
    auto done = std::make_shared<std::promise<beast::error_code>>();
    auto future = done->get_future();
    asio::post(ioc, [this, data = std::move(data), binary, done]() mutable {
      outgoing.push_back(Outgoing{std::move(data), binary, std::move(done)});
      if (!writing) DoWrite();
    });
    if (future.wait_for(kWriteTimeout) != std::future_status::ready) return false;
    try {
      return !future.get();
    } catch (const std::future_error&) {
      return false;
    }
  }

  void Stop() {
    if (!running) return;
    asio::post(ioc, [this] { CloseSocket(); });
    work.reset();
    // The read loop ends once the socket is closed; bound the wait anyway.
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(2), [this] { return closed; });
    lock.unlock();
    ioc.stop();
    if (thread.joinable()) thread.join();
    running = false;
    std::lock_guard relock(mu);
    closed = true;
  }
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}

WsClient::~WsClient() {
  if (impl_->running && is_open()) Close(kCloseNormal, std::chrono::seconds(1));
  impl_->Stop();
}

Result<void> WsClient::Connect(const std::string& host, uint16_t port, const std::string& target,
                               std::chrono::milliseconds timeout, const std::optional<TlsOptions>& tls) {
  Impl& im = *impl_;
  if (im.running) return MakeError(Errc::kBadRequest, "already connected");
  tcp::resolver resolver(im.ioc);
  beast::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return MakeError(Errc::kUnavailable, "resolve: " + ec.message());
  if (tls) {
    auto context = detail::MakeClientContext(*tls);
    if (!context) return context.error();
    im.ssl_context = std::move(*context);
    auto& stream = im.ws.emplace<Impl::TlsWs>(im.ioc, *im.ssl_context);
    if (auto prepared = detail::PrepareSsl(stream.next_layer().native_handle(), host); !prepared) {
      return prepared.error();
    }
  } else {
    im.ws.emplace<Impl::PlainWs>(im.ioc);
  }
  Result<void> opened = Ok();
  im.Visit([&](auto& stream) { opened = im.Open(stream, results, host, port, target, timeout); });
  if (!opened) {
    im.CloseSocket();
    return opened;
  }

  im.ioc.restart();
  im.work.emplace(asio::make_work_guard(im.ioc));
  im.StartRead();
  im.running = true;
  im.thread = std::thread([&im] { im.ioc.run(); });
  return Ok();
}

bool WsClient::SendRequest(const protocol::Request& request, std::optional<int64_t> id) {
  return impl_->Write(protocol::BuildRequest(request, id), false);
}

Result<protocol::ServerFrame> WsClient::Call(const protocol::Request& request,
                                             std::chrono::milliseconds timeout) {
  int64_t id = next_id_++;
  if (!SendRequest(request, id)) {
    return MakeError(Errc::kUnavailable, "cannot send " + std::string(protocol::RequestType(request)) + ": " +
                                             (is_open() ? "write failed" : "connection closed"));
  }
  auto answer = AwaitAnswer(id, Clock::now() + timeout);
  if (!answer) {
    return MakeError(Errc::kUnavailable, "no answer to " + std::string(protocol::RequestType(request)) +
                                             (is_open() ? " in time" : ": connection closed"));
  }
  return protocol::ParseServerFrame(*answer);
}

bool WsClient::Send(std::string text) { return impl_->Write(std::move(text), false); }

bool WsClient::SendJson(const json::object& obj) { return impl_->Write(json::serialize(obj), false); }

bool WsClient::SendBinary(std::string bytes) { return impl_->Write(std::move(bytes), true); }

std::optional<WsFrame> WsClient::ReceiveFrame(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  std::unique_lock lock(im.mu);
  im.cv.wait_for(lock, timeout, [&im] { return !im.incoming.empty() || im.closed; });
  if (im.incoming.empty()) return std::nullopt;
  WsFrame frame = std::move(im.incoming.front());
  im.incoming.pop_front();
  last_raw_ = frame.text;
  return frame;
}

json::object WsClient::ToObject(const std::string& text) {
  if (auto obj = protocol::ParseObject(text)) return std::move(*obj);
  json::object invalid;
  invalid["type"] = "__invalid__";
  invalid["raw"] = text;
  return invalid;
}

std::optional<json::object> WsClient::ReceiveNew(std::chrono::milliseconds timeout) {
  auto frame = ReceiveFrame(timeout);
  if (!frame) return std::nullopt;
  return ToObject(frame->text);
}

std::optional<json::object> WsClient::Receive(std::chrono::milliseconds timeout) {
  if (!events_.empty()) {
    json::object obj = std::move(events_.front());
    events_.pop_front();
    return obj;
  }
  return ReceiveNew(timeout);
}

std::optional<json::object> WsClient::Request(json::object obj, std::chrono::milliseconds timeout) {
  int64_t id;
  auto it = obj.find("id");
  if (it != obj.end() && protocol::AsInt(it->value())) {
    id = *protocol::AsInt(it->value());
  } else {
    id = next_id_++;
    obj["id"] = id;
  }
  if (!SendJson(obj)) return std::nullopt;
  return AwaitAnswer(id, Clock::now() + timeout);
}

std::optional<json::object> WsClient::AwaitAnswer(int64_t id, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto frame = ReceiveNew(left);
    if (!frame) return std::nullopt;
    auto re = frame->find("re");
    if (re != frame->end() && protocol::AsInt(re->value()) == id) return frame;
    events_.push_back(std::move(*frame));
  }
  return std::nullopt;
}

std::optional<json::object> WsClient::WaitFor(const Predicate& pred, std::chrono::milliseconds timeout) {
  for (auto it = events_.begin(); it != events_.end(); ++it) {
    if (pred(*it)) {
      json::object obj = std::move(*it);
      events_.erase(it);
      return obj;
    }
  }
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto now = Clock::now();
    auto left = now < deadline ? std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)
                               : std::chrono::milliseconds(0);
    auto frame = ReceiveNew(left);
    if (!frame) return std::nullopt;
    if (pred(*frame)) return frame;
    events_.push_back(std::move(*frame));
    if (Clock::now() >= deadline) return std::nullopt;
  }
}

std::optional<json::object> WsClient::WaitForType(const std::string& type, std::chrono::milliseconds timeout,
                                                  std::optional<std::string> conv) {
  return WaitFor(
      [&](const json::object& o) {
        return protocol::FieldIs(o, "type", type) && (!conv || protocol::FieldIs(o, "conv", *conv));
      },
      timeout);
}

std::vector<json::object> WsClient::Drain(std::chrono::milliseconds period) {
  auto deadline = Clock::now() + period;
  while (true) {
    auto now = Clock::now();
    if (now >= deadline) break;
    auto frame = ReceiveNew(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (!frame) {
      if (!is_open()) break;
      continue;
    }
    events_.push_back(std::move(*frame));
  }
  // Frames already queued are taken too.
  while (auto frame = ReceiveNew(std::chrono::milliseconds(0))) events_.push_back(std::move(*frame));
  std::vector<json::object> out(std::make_move_iterator(events_.begin()),
                                std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

std::optional<json::object> WsClient::Hello(const std::string& token, json::value last_seq,
                                            std::chrono::milliseconds timeout) {
  json::object hello;
  hello["type"] = "hello";
  hello["token"] = token;
  if (!last_seq.is_null()) hello["last_seq"] = std::move(last_seq);
  return Request(std::move(hello), timeout);
}

void WsClient::Close(int code, std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  if (!im.running) return;
  {
    std::lock_guard lock(im.mu);
    if (im.closed) return;
  }
  asio::post(im.ioc, [&im, code] {
    im.Visit([code](auto& stream) {
      stream.async_close(websocket::close_reason(static_cast<uint16_t>(code)), [](beast::error_code) {});
    });
  });
  WaitClosed(timeout);
  if (is_open()) Abort();
}

void WsClient::Abort() {
  Impl& im = *impl_;
  if (!im.running) return;
  asio::post(im.ioc, [&im] {
    im.Visit([](auto& stream) {
      beast::error_code ignored;
      auto& socket = beast::get_lowest_layer(stream).socket();
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    });
  });
  WaitClosed(std::chrono::seconds(2));
}

bool WsClient::WaitClosed(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  std::unique_lock lock(im.mu);
  return im.cv.wait_for(lock, timeout, [&im] { return im.closed || !im.running; });
}

bool WsClient::is_open() const {
  std::lock_guard lock(impl_->mu);
  return impl_->running && !impl_->closed;
}

std::optional<int> WsClient::close_code() const {
  std::lock_guard lock(impl_->mu);
  return impl_->close_code;
}

std::string WsClient::close_reason() const {
  std::lock_guard lock(impl_->mu);
  return impl_->close_reason;
}

std::string WsClient::last_error() const {
  std::lock_guard lock(impl_->mu);
  return impl_->error;
}

int WsClient::handshake_status() const { return impl_->handshake_status; }

int WsClient::pings_received() const { return impl_->pings.load(); }

}  // namespace parley::client
