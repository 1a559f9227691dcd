// The WebSocket transport, and the io thread's flushes and sweep.
#include "gateway/ws_connection.h"

#include <algorithm>
#include <iterator>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "common/logging.h"
#include "websocket/frame.h"

namespace parley::gateway {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("gateway");
  return log;
}

}  // namespace

// ---- IoThread: flushes, the sweep, the cut -------------------------------------

void IoThread::ScheduleFlush(std::shared_ptr<WsConnection> c) {
  to_flush.push_back(std::move(c));
  if (flush_posted) return;
  flush_posted = true;
  asio::post(ioc, [this] {
    flush_posted = false;
    // Flush() may queue more (a close after a failed write): swap first.
    std::vector<std::shared_ptr<WsConnection>> batch;
    batch.swap(to_flush);
    for (auto& c : batch) c->Flush();
    if (to_flush.empty() && to_flush.capacity() < batch.capacity()) {
      batch.clear();
      to_flush.swap(batch);  // keep the grown capacity for the next batch
    }
  });
}

void PoolWorker::Run(std::function<Continuation()> work) {
  pending_.push_back(std::move(work));
  // The first call of a turn posts the submission behind the handlers
  // already queued, so the rest of the turn's calls join it.
  if (pending_.size() == 1) asio::post(ioc_, [this] { Submit(); });
}

void PoolWorker::Detach(std::function<void()> work) {
  Run([work = std::move(work)]() -> Continuation {
    work();
    return nullptr;
  });
}

void PoolWorker::Submit() {
  std::vector<std::function<Continuation()>> all;
  all.swap(pending_);
  // As many chunks as the pool has threads (all of them busy when there is
  // enough to do), none larger than kChunk.
  const size_t chunk = std::clamp<size_t>((all.size() + pool_threads_ - 1) / pool_threads_, 1, kChunk);
  for (size_t from = 0; from < all.size(); from += chunk) {
    const size_t to = std::min(all.size(), from + chunk);
    std::vector<std::function<Continuation()>> calls(std::make_move_iterator(all.begin() + from),
                                                     std::make_move_iterator(all.begin() + to));
    asio::post(pool_, [&ioc = ioc_, calls = std::move(calls)]() mutable {
      std::vector<Continuation> done;
      done.reserve(calls.size());
      for (auto& call : calls) {
        if (Continuation then = call()) done.push_back(std::move(then));
      }
      if (done.empty()) return;
      asio::post(ioc, [done = std::move(done)]() mutable {
        for (auto& then : done) then();
      });
    });
  }
}

void IoThread::Sweep(std::chrono::milliseconds period) {
  sweep.expires_after(period);
  sweep.async_wait([this, period](beast::error_code ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    // Tick may tear a connection down, which unlinks it: hold the due ones
    // (few; a busy thread's 10,000 others are only looked at).
    std::vector<std::shared_ptr<WsConnection>> due;
    for (WsConnection* c = connections; c != nullptr; c = c->next_in_thread) {
      if (!c->Due(now)) continue;
      if (auto p = c->weak_from_this().lock()) due.push_back(std::move(p));
    }
    for (auto& c : due) c->Tick(now);
    Sweep(period);
  });
}

void IoThread::CutAll() {
  std::vector<std::shared_ptr<WsConnection>> all;
  for (WsConnection* c = connections; c != nullptr; c = c->next_in_thread) {
    if (auto p = c->weak_from_this().lock()) all.push_back(std::move(p));
  }
  for (auto& c : all) c->Teardown();
}

// ---- WsConnection: the upgrade ----------------------------------------------------

void StartWebSocket(Gateway::Impl& gw, IoThread& io, Transport transport,
                    http::request<http::string_body> request, std::string leftover) {
  std::make_shared<WsConnection>(gw, io, std::move(transport))
      ->Start(std::move(request), std::move(leftover));
}

WsConnection::WsConnection(Gateway::Impl& gw, IoThread& io, Transport transport)
    : gw_(gw),
      io_(io),
      transport_(std::move(transport)),
      session_(io.env, *this, gw.next_session++),
      last_rx_(std::chrono::steady_clock::now()) {  // the sweep must not see a silent peer before the upgrade
  ++gw_.open_connections;
  ++gw_.ws_connections;
  gw_.metrics.connections.Increment();
  gw_.metrics.connections_total.Increment();
  next_in_thread = io_.connections;
  if (next_in_thread != nullptr) next_in_thread->prev_in_thread = this;
  io_.connections = this;
}

WsConnection::~WsConnection() {
  if (!torn_down_) {  // its io_context is being destroyed: no more handlers
    torn_down_ = true;
    session_.OnClosed();
    CloseSocket();
  }
  if (prev_in_thread != nullptr) {
    prev_in_thread->next_in_thread = next_in_thread;
  } else {
    io_.connections = next_in_thread;
  }
  if (next_in_thread != nullptr) next_in_thread->prev_in_thread = prev_in_thread;
  --gw_.open_connections;
  --gw_.ws_connections;
  gw_.metrics.connections.Decrement();
}

tcp::socket& WsConnection::socket() {
  if (auto* plain = std::get_if<tcp::socket>(&transport_)) return *plain;
  return std::get<1>(transport_)->next_layer();
}

void WsConnection::Start(http::request<http::string_body> request, std::string leftover) {
  // The opening handshake (RFC 6455 section 4.2): version 13 and a key.
  auto key = request[http::field::sec_websocket_key];
  auto version = request[http::field::sec_websocket_version];
  auto res = std::make_shared<http::response<http::empty_body>>();
  res->version(11);
  res->set(http::field::server, "parley");
  bool ok = version == "13" && !key.empty() && key.size() <= 64;
  if (!ok) {
    res->result(http::status::bad_request);
    res->set(http::field::sec_websocket_version, "13");
    res->prepare_payload();
  } else {
    res->result(http::status::switching_protocols);
    res->set(http::field::upgrade, "websocket");
    res->set(http::field::connection, "Upgrade");
    res->set(http::field::sec_websocket_accept, ws::AcceptKey(std::string(key)));
    rx_ = std::move(leftover);  // frames the client sent right behind its request
  }
  auto done = [self = shared_from_this(), res, ok](beast::error_code ec, size_t) {
    if (ec || !ok) return self->Teardown();
    self->last_rx_ = std::chrono::steady_clock::now();
    self->deadline_ = Deadline::kHello;
    self->deadline_at_ = self->last_rx_ + std::chrono::milliseconds(self->gw_.options.hello_timeout_ms);
    beast::error_code ignored;
    self->socket().non_blocking(true, ignored);
    self->ReadMore();
  };
  std::visit(
      [&](auto& stream) {
        if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, tcp::socket>) {
          http::async_write(stream, *res, std::move(done));
        } else {
          http::async_write(*stream, *res, std::move(done));
        }
      },
      transport_);
}

// ---- deadlines and the heartbeat ---------------------------------------------------

// The io thread's sweep calls this every quarter heartbeat (at most 250 ms).
// Server pings keep a quiet connection alive through proxies: a ping after a
// heartbeat of silence, which a live peer answers at once. A peer silent for
// 1.75 heartbeats is dropped, so a dead connection is gone (and its user
// offline) within two heartbeats.
bool WsConnection::Due(std::chrono::steady_clock::time_point now) const {
  if (deadline_ != Deadline::kNone && now >= deadline_at_) return true;
  return !torn_down_ && now - last_rx_ >= std::chrono::milliseconds(gw_.options.heartbeat_ms);
}

void WsConnection::Tick(std::chrono::steady_clock::time_point now) {
  if (torn_down_) {
    if (deadline_ == Deadline::kTlsShutdown && now >= deadline_at_) CloseSocket();
    return;
  }
  if (deadline_ != Deadline::kNone && now >= deadline_at_) {
    Deadline d = deadline_;
    deadline_ = Deadline::kNone;
    if (d == Deadline::kHello) return session_.OnHelloDeadline();
    if (d == Deadline::kClose) return Teardown();
  }
  auto idle = now - last_rx_;
  auto beat = std::chrono::milliseconds(gw_.options.heartbeat_ms);
  if (idle >= beat * 7 / 4) {
    Log()->info("session {} silent for two heartbeats: dropped", session_.id());
    return Teardown();
  }
  // Silent for a heartbeat: ping, again every quarter heartbeat.
  if (idle >= beat && !closing_ && now - last_ping_ >= beat / 4) {
    last_ping_ = now;
    EnqueueControl(ws::kPing, "");
  }
}

// ---- reading ---------------------------------------------------------------------

// The session held reading back (WantsInput was false) and wants more now.
// Posted, never run inside the caller: the caller may be delivering a batch
// of events, and parsing could end this connection under it.
void WsConnection::ContinueReading() {
  if (read_posted_ || torn_down_) return;
  read_posted_ = true;
  asio::post(io_.ioc, [self = shared_from_this()] {
    self->read_posted_ = false;
    self->ReadMore();
  });
}

// Handles every complete message already buffered, then waits for more.
// While the session wants no input (a hello being admitted, a resume being
// sent, or too many store requests out) nothing more is parsed or read: the
// client's own TCP window then holds it back, and one client cannot queue
// unbounded work ahead of everyone else's.
void WsConnection::ReadMore() {
  if (parsing_) return;  // called from a frame's handler: the parse loop goes on
  if (!rx_.empty()) {
    size_t used = ParseFrames(rx_);
    if (torn_down_) return;
    rx_.erase(0, used);
  }
  if (rx_.empty() && rx_.capacity() > 1024) std::string().swap(rx_);  // idle: give it back
  if (torn_down_ || Blocked() || reading_) return;
  reading_ = true;
  if (auto* plain = std::get_if<tcp::socket>(&transport_)) {
    // Wait for bytes, then read them into the io thread's buffer: no buffer
    // is held by a connection while it is quiet.
    plain->async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->reading_ = false;
      if (ec) return self->Teardown(/*abrupt=*/!self->closing_);
      self->OnReadable();
    });
    return;
  }
  // TLS decrypts into the buffer as the read completes: a buffer of its own.
  constexpr size_t kTlsRead = 16 * 1024;
  if (!tls_read_buffer_) tls_read_buffer_ = std::make_unique<char[]>(kTlsRead);
  std::get<1>(transport_)
      ->async_read_some(asio::buffer(tls_read_buffer_.get(), kTlsRead),
                        [self = shared_from_this()](beast::error_code ec, size_t n) {
                          self->reading_ = false;
                          if (ec) return self->Teardown(/*abrupt=*/!self->closing_);
                          self->OnBytes(self->tls_read_buffer_.get(), n);
                        });
}

void WsConnection::OnReadable() {
  if (torn_down_) return;
  beast::error_code ec;
  size_t n = std::get<tcp::socket>(transport_).read_some(asio::buffer(io_.read_buffer), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return ReadMore();
  if (ec) return Teardown(/*abrupt=*/!closing_);  // the end of the stream without a close frame too
  OnBytes(io_.read_buffer.data(), n);
}

void WsConnection::OnBytes(const char* data, size_t n) {
  last_rx_ = std::chrono::steady_clock::now();
  if (rx_.empty() && !Blocked()) {
    // The common case: parse straight from the read buffer, keep the tail.
    size_t used = ParseFrames(std::string_view(data, n));
    if (torn_down_) return;
    rx_.assign(data + used, n - used);
  } else {
    rx_.append(data, n);
  }
  ReadMore();
}

// Parses and handles frames from the front of `data` until one is
// incomplete, the session wants no more input, or the connection ends;
// returns the bytes used.
size_t WsConnection::ParseFrames(std::string_view data) {
  size_t pos = 0;
  parsing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{parsing_};
  while (!Blocked() && !torn_down_) {
    if (skip_ > 0) {  // the rest of a frame too big to keep
      size_t n = std::min(skip_, data.size() - pos);
      pos += n;
      skip_ -= n;
      if (skip_ > 0) break;
    }
    ws::ParsedFrame f =
        ws::ParseClientFrame(data.substr(pos), static_cast<uint64_t>(gw_.options.max_frame_bytes));
    if (f.status == ws::ParsedFrame::Status::kIncomplete) break;
    if (f.status == ws::ParsedFrame::Status::kError) {
      Log()->debug("session {}: {}", session_.id(), f.error);
      if (f.error_close == ws::kCloseTooBig) {
        skip_ = f.consumed;
        Close(f.error_close, f.error);
        continue;
      }
      // Out of step with the peer: say why, then hang up.
      hang_up_after_close_ = true;
      Close(f.error_close, f.error);
      return data.size();
    }
    pos += f.consumed;
    OnFrame(f);
  }
  return pos;
}

void WsConnection::OnFrame(ws::ParsedFrame& f) {
  switch (f.opcode) {
    case ws::kPing:
      return EnqueueControl(ws::kPong, std::move(f.payload));
    case ws::kPong:
      return;
    case ws::kClose:
      if (closing_) return Teardown();  // the answer to our close: done
      // The peer closes: echo its code, then hang up once it is written.
      closing_ = true;
      close_code_ = f.payload.size() >= 2
                        ? static_cast<uint16_t>((uint8_t(f.payload[0]) << 8) | uint8_t(f.payload[1]))
                        : ws::kCloseNormal;
      hang_up_after_close_ = true;
      DropQueued();
      return EnqueueControl(ws::kClose, ws::ClosePayload(close_code_, ""));
    default:
      break;
  }
  if (closing_) return;  // after our close, data is read and dropped
  if (f.opcode == ws::kContinuation) {
    if (message_opcode_ == 0) return Close(ws::kCloseProtocolError, "continuation without a start");
    if (message_.size() + f.payload.size() > static_cast<size_t>(gw_.options.max_frame_bytes)) {
      return Close(ws::kCloseTooBig, "message too big");
    }
    message_ += f.payload;
  } else {
    if (message_opcode_ != 0) return Close(ws::kCloseProtocolError, "new message inside a fragmented one");
    message_opcode_ = f.opcode;
    message_ = std::move(f.payload);
  }
  if (!f.fin) return;
  bool binary = message_opcode_ == ws::kBinary;
  message_opcode_ = 0;
  std::string text = std::move(message_);
  message_.clear();
  session_.OnMessage(text, binary);
}

// ---- writing ---------------------------------------------------------------------

void WsConnection::Send(session::Frame frame, bool counted) {
  if (closing_ || !frame) return;
  int64_t size = static_cast<int64_t>(frame->size());
  if (counted && counted_bytes_ + size > gw_.options.max_queue_bytes) {
    gw_.metrics.slow_consumers.Increment();
    Log()->info("session {} of user {} closed: outbound queue over {} bytes", session_.id(),
                session_.user().value, gw_.options.max_queue_bytes);
    return Close(kCloseSlowReader, "too slow a reader");
  }
  queued_bytes_ += size;
  if (counted) counted_bytes_ += size;
  queue_.push_back(Outgoing{ws::kText, counted, std::move(frame)});
  RequestFlush();
}

void WsConnection::EnqueueControl(uint8_t opcode, std::string payload) {
  if (torn_down_) return;
  queue_.push_back(Outgoing{opcode, false, protocol::MakeFrame(std::move(payload))});
  RequestFlush();
}

// Frames queued by one handler (a batch of events, a page of the resume)
// leave together: the write starts once the handler is done, from the io
// thread's flush.
void WsConnection::RequestFlush() {
  if (writing_ || flush_requested_) return;
  flush_requested_ = true;
  io_.ScheduleFlush(shared_from_this());
}

void WsConnection::Flush() {
  flush_requested_ = false;
  if (!writing_ && !torn_down_) DoWrite();
}

// One gathered write of everything queued (bounded per call): the frames'
// headers and the shared payloads go out in one writev. TLS encrypts one
// buffer per record, so there the frames are copied into one buffer first.
void WsConnection::DoWrite() {
  constexpr size_t kMaxFrames = 256;
  constexpr size_t kMaxBytes = 512 * 1024;
  in_flight_.clear();
  buffers_.clear();
  size_t bytes = 0;
  while (queue_head_ < queue_.size() && in_flight_.size() < kMaxFrames && (bytes == 0 || bytes < kMaxBytes)) {
    in_flight_.push_back(std::move(queue_[queue_head_++]));
    bytes += in_flight_.back().payload->size();
  }
  if (queue_head_ == queue_.size()) {
    queue_.clear();
    queue_head_ = 0;
  } else if (queue_head_ >= 1024 && queue_head_ * 2 >= queue_.size()) {
    queue_.erase(queue_.begin(),
                 queue_.begin() + static_cast<ptrdiff_t>(queue_head_));  // a slow reader's backlog
    queue_head_ = 0;
  }
  if (in_flight_.empty()) return;
  // Metrics per gathered write, not per frame: shared atomics are costly on
  // the fan-out path.
  gw_.metrics.messages_out.Increment(static_cast<double>(in_flight_.size()));
  SyncQueueGauge();
  headers_.resize(in_flight_.size());
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    const Outgoing& o = in_flight_[i];
    size_t n = ws::EncodeHeader(o.opcode, o.payload->size(), headers_[i]);
    buffers_.emplace_back(headers_[i].data(), n);
    if (!o.payload->empty()) buffers_.emplace_back(o.payload->data(), o.payload->size());
  }
  writing_ = true;
  auto done = [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); };
  if (auto* plain = std::get_if<tcp::socket>(&transport_)) {
    asio::async_write(*plain, buffers_, std::move(done));
    return;
  }
  tls_out_.clear();
  for (const auto& b : buffers_) tls_out_.append(static_cast<const char*>(b.data()), b.size());
  asio::async_write(*std::get<1>(transport_), asio::buffer(tls_out_), std::move(done));
}

void WsConnection::OnWrite(beast::error_code ec) {
  writing_ = false;
  bool sent_close = false;
  for (const Outgoing& o : in_flight_) {
    if (o.opcode == ws::kText) {
      queued_bytes_ -= static_cast<int64_t>(o.payload->size());
      if (o.counted) counted_bytes_ -= static_cast<int64_t>(o.payload->size());
    }
    sent_close = sent_close || o.opcode == ws::kClose;
  }
  in_flight_.clear();
  SyncQueueGauge();
  if (ec) return Teardown(/*abrupt=*/!closing_);
  if (sent_close && hang_up_after_close_) return Teardown();
  session_.OnWritten();  // a resume waiting for the queue to drain goes on
  if (queue_head_ < queue_.size()) return DoWrite();
  // Drained: an idle connection keeps no write buffers.
  if (in_flight_.capacity() > 16) {
    std::vector<Outgoing>().swap(in_flight_);
    std::vector<std::array<uint8_t, 10>>().swap(headers_);
    std::vector<asio::const_buffer>().swap(buffers_);
    std::vector<Outgoing>().swap(queue_);
  }
  if (tls_out_.capacity() > 4096) std::string().swap(tls_out_);
}

void WsConnection::DropQueued() {
  for (size_t i = queue_head_; i < queue_.size(); ++i) {
    if (queue_[i].opcode != ws::kText) continue;
    queued_bytes_ -= static_cast<int64_t>(queue_[i].payload->size());
    if (queue_[i].counted) counted_bytes_ -= static_cast<int64_t>(queue_[i].payload->size());
  }
  queue_.clear();
  queue_head_ = 0;
  SyncQueueGauge();
}

void WsConnection::SyncQueueGauge() {
  if (queued_bytes_ == reported_queue_bytes_) return;
  gw_.metrics.fanout_queue_bytes.Increment(static_cast<double>(queued_bytes_ - reported_queue_bytes_));
  reported_queue_bytes_ = queued_bytes_;
}

// ---- closing ---------------------------------------------------------------------

void WsConnection::Close(uint16_t code, std::string_view reason, bool keep_queued) {
  if (closing_ || torn_down_) return;
  closing_ = true;
  close_code_ = code;
  if (!keep_queued) DropQueued();
  EnqueueControl(ws::kClose, ws::ClosePayload(code, reason));
  // Wait for the peer's close frame (reading goes on whatever the session
  // wanted), but not forever: a peer that never reads would hold the
  // connection.
  deadline_ = Deadline::kClose;
  deadline_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  ContinueReading();
}

void WsConnection::Teardown(bool abrupt) {
  if (torn_down_) return;
  torn_down_ = true;
  closing_ = true;
  deadline_ = Deadline::kNone;
  session_.OnClosed(abrupt);
  DropQueued();
  beast::error_code ec;
  if (tls() && !writing_) {
    // TLS ends with close_notify both ways (a peer that never answers has
    // two seconds); the pending read, if any, is cancelled first.
    socket().cancel(ec);
    deadline_ = Deadline::kTlsShutdown;
    deadline_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    std::get<1>(transport_)->async_shutdown([self = shared_from_this()](beast::error_code) {
      self->CloseSocket();
    });
    return;
  }
  CloseSocket();
}

void WsConnection::CloseSocket() {
  deadline_ = Deadline::kNone;
  beast::error_code ec;
  socket().shutdown(tcp::socket::shutdown_both, ec);
  socket().close(ec);
}

}  // namespace parley::gateway
