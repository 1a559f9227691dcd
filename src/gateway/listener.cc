// The HTTP half of the gateway: acceptors (one per io thread, SO_REUSEPORT),
// HTTP sessions, WebSocket upgrade, and the Gateway's lifecycle.
#include <future>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>

#include "common/close_code.h"
#include "common/logging.h"
#include "gateway/gateway_impl.h"
#include "gateway/ws_connection.h"

namespace parley::gateway {
namespace {

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("gateway");
  return log;
}

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// One HTTP connection: reads requests one at a time (keep-alive), answers API
// calls from a blocking worker, and hands a WebSocket upgrade to WsConnection.
// `Stream` is a plain socket or TLS over one; a deadline timer bounds the
// TLS handshake and each request read (slow clients hold nothing for long).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  HttpSession(Gateway::Impl& gw, IoThread& io, std::unique_ptr<Stream> stream, bool over_limit)
      : gw_(gw), io_(io), stream_(std::move(stream)), deadline_(io.ioc), over_limit_(over_limit) {
    ++gw_.open_connections;
  }
  ~HttpSession() { --gw_.open_connections; }

  void Run() {
    if constexpr (kTls) {
      Arm();
      stream_->async_handshake(asio::ssl::stream_base::server,
                               [self = this->shared_from_this()](beast::error_code ec) {
                                 if (ec) return self->Drop();  // not TLS, bad version, timeout
                                 self->DoRead();
                               });
    } else {
      DoRead();
    }
  }

 private:
  tcp::socket& Socket() {
    if constexpr (kTls) {
      return stream_->next_layer();
    } else {
      return *stream_;
    }
  }

  void Arm() {
    deadline_.expires_after(std::chrono::seconds(30));
    deadline_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->Drop();
    });
  }

  void Drop() {
    beast::error_code ec;
    Socket().close(ec);
  }

  // The header first, so that an upload (PROTOCOL.md §6) can be streamed
  // instead of read whole; every other request then reads its body with
  // the usual limit.
  void DoRead() {
    header_parser_.emplace();
    header_parser_->header_limit(16 * 1024);
    header_parser_->body_limit(boost::none);  // decided once the header says what the request is
    Arm();
    http::async_read_header(
        *stream_, buffer_, *header_parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    deadline_.cancel();
    if (ec == http::error::end_of_stream) return Shutdown();
    if (ec) return;  // timeout, reset, garbage: just drop the connection
    const auto& header = header_parser_->get();
    version_ = header.version();
    if (!over_limit_ && HttpApi::IsUpload(header.method_string(), header.target())) return BeginUpload();
    const auto limit = static_cast<uint64_t>(gw_.options.max_http_body_bytes);
    if (header_parser_->content_length() && *header_parser_->content_length() > limit) {
      return Refuse(Errc::kTooLarge, "request body too large");
    }
    parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    parser_->body_limit(limit);
    Arm();
    http::async_read(*stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    deadline_.cancel();
    if (ec == http::error::end_of_stream) return Shutdown();
    if (ec == http::error::body_limit) {
      return Refuse(Errc::kTooLarge, "request body too large");
    }
    if (ec) return;  // timeout, reset, garbage: just drop the connection
    http::request<http::string_body> req = parser_->release();
    version_ = req.version();
    if (over_limit_) {
      return Refuse(Errc::kUnavailable, "server at its connection limit; try again later");
    }
    if (beast::websocket::is_upgrade(req)) {
      auto url = boost::urls::parse_origin_form(req.target());
      if (url && url->path() == "/v1/ws") {
        std::string leftover = beast::buffers_to_string(buffer_.data());
        Transport transport = [this]() -> Transport {
          if constexpr (kTls) {
            return Transport(std::in_place_index<1>, std::move(stream_));
          } else {
            return Transport(std::in_place_index<0>, std::move(*stream_));
          }
        }();
        return StartWebSocket(gw_, io_, std::move(transport), std::move(req), std::move(leftover));
      }
      return Refuse(Errc::kNotFound, "WebSocket endpoint is /v1/ws");
    }
    ApiRequest api{std::string(req.method_string()),
                   std::string(req.target()),
                   std::move(req.body()),
                   std::string(req[http::field::authorization]),
                   PeerAddressOf(Socket()),
                   std::string(req["X-Forwarded-For"]),
                   std::string(req[http::field::range]),
                   std::string(req[http::field::content_type])};
    bool keep_alive = req.keep_alive() && !gw_.stopping.load();
    bool head = req.method() == http::verb::head;
    Gateway::Impl& gw = gw_;
    gw_.Blocking(
        io_, [&gw, api = std::move(api)] { return gw.api.Handle(api); },
        [self = this->shared_from_this(), keep_alive, head](ApiResponse r) {
          if (r.stream && !head) return self->ReplyInPieces(std::move(r), keep_alive);
          if (head) r.body.clear();
          self->Reply(r.status, std::move(r.body), keep_alive, r.content_type, r.headers,
                      head ? r.content_length : std::nullopt);
        });
  }

  // ---- POST /v1/uploads: the body streamed to storage (PROTOCOL.md §6) ----
  //
  // The header goes to HttpApi::BeginUpload (on a blocking worker: it checks
  // the token and opens the blob), then the body is read into `piece_`, one
  // buffer of kUploadPieceBytes, and each piece is handed to the sink on a
  // blocking worker before the next is read. So an upload of any size costs
  // this connection one piece of memory, and a slow disk or database holds
  // back only this client (TCP flow control), never an io thread.
  static constexpr size_t kUploadPieceBytes = 256 * 1024;

  void BeginUpload() {
    const auto& header = header_parser_->get();
    ApiRequest api{std::string(header.method_string()),
                   std::string(header.target()),
                   std::string(),
                   std::string(header[http::field::authorization]),
                   PeerAddressOf(Socket()),
                   std::string(header["X-Forwarded-For"]),
                   std::string(),
                   std::string(header[http::field::content_type])};
    std::optional<uint64_t> length;
    if (header_parser_->content_length()) length = *header_parser_->content_length();
    const bool chunked = header_parser_->chunked();
    if (!length && !chunked) {
      // No body at all (neither a length nor chunks): the same answer as an empty one.
      length = 0;
    }
    upload_keep_alive_ = header.keep_alive();
    expect_continue_ = beast::iequals(header[http::field::expect], "100-continue");
    Gateway::Impl& gw = gw_;
    gw_.Blocking(
        io_,
        [&gw, api = std::move(api), length] {
          return std::make_shared<HttpApi::UploadStart>(gw.api.BeginUpload(api, length));
        },
        [self = this->shared_from_this()](std::shared_ptr<HttpApi::UploadStart> start) {
          if (!start->sink) return self->RefuseUpload(std::move(start->refusal));
          self->upload_ = std::shared_ptr<chat::UploadSink>(std::move(start->sink));
          self->upload_parser_.emplace(std::move(*self->header_parser_));
          self->header_parser_.reset();
          // The sink counts against limits.max_upload_bytes; a chunked body
          // is cut by the parser just past it, so a liar's extra bytes are
          // never even buffered.
          self->upload_parser_->body_limit(static_cast<uint64_t>(self->upload_->limit()) + 1);
          self->piece_.resize(kUploadPieceBytes);
          if (!self->expect_continue_) return self->ReadUploadPiece();
          auto go_on =
              std::make_shared<http::response<http::empty_body>>(http::status::continue_, self->version_);
          self->Arm();
          http::async_write(*self->stream_, *go_on, [self, go_on](beast::error_code ec, size_t) {
            self->deadline_.cancel();
            if (ec) return self->ReleaseUpload();
            self->ReadUploadPiece();
          });
        });
  }

  void ReadUploadPiece() {
    auto& body = upload_parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    Arm();
    http::async_read(
        *stream_, buffer_, *upload_parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnUploadPiece(ec); });
  }

  void OnUploadPiece(beast::error_code ec) {
    deadline_.cancel();
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      return FailUpload(
          MakeError(Errc::kTooLarge, "uploads are at most " + std::to_string(upload_->limit()) + " bytes"));
    }
    if (ec) return ReleaseUpload();  // the client went away or stalled: nothing is kept
    const size_t got = piece_.size() - upload_parser_->get().body().size;
    const bool done = upload_parser_->is_done();
    Gateway::Impl& gw = gw_;
    gw_.Blocking(
        io_,
        [sink = upload_, bytes = std::string_view(piece_.data(), got), &gw, done]() -> Result<ApiResponse> {
          if (auto ok = sink->Write(bytes); !ok) return ok.error();
          if (!done) return ApiResponse{};
          return gw.api.FinishUpload(*sink);
        },
        [self = this->shared_from_this(), done](Result<ApiResponse> r) {
          if (!r.ok()) return self->FailUpload(r.error());
          if (!done) return self->ReadUploadPiece();
          self->ReleaseUpload();
          ApiResponse answer = std::move(r).value();
          // The whole body is read: the connection can go on, unless the
          // upload failed at the end (then whatever the client still sends
          // is not worth reading).
          self->Reply(answer.status, std::move(answer.body),
                      self->upload_keep_alive_ && answer.status < 400 && !self->gw_.stopping.load(),
                      answer.content_type, answer.headers);
        });
  }

  // An upload refused before its body was read (token, name, declared size).
  void RefuseUpload(ApiResponse refusal) {
    header_parser_.reset();
    piece_.clear();
    ReplyAndLinger(std::move(refusal));
  }

  // An upload refused while its body was arriving (over the limit, storage
  // failure): nothing of it is kept.
  void FailUpload(const Error& error) {
    ReleaseUpload();
    ReplyAndLinger(gw_.api.UploadFailed(error));
  }

  // Answers and closes, but reads (and drops) what the client still sends
  // for a while first: closing a socket with unread bytes resets it, and a
  // reset can reach the client before it has read the answer.
  void ReplyAndLinger(ApiResponse r) {
    auto res =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version_);
    SetCommonHeaders(*res, r.content_type, r.headers);
    res->body() = std::move(r.body);
    res->keep_alive(false);
    res->prepare_payload();
    Arm();
    http::async_write(*stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
      self->deadline_.cancel();
      if (ec) return;
      self->Shutdown();
      self->linger_.resize(16 * 1024);
      self->Linger();
    });
  }

  void Linger() {
    Arm();  // at most 30 s without a byte, as for any read
    stream_->async_read_some(asio::buffer(linger_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               self->deadline_.cancel();
                               if (!ec) self->Linger();
                             });
  }

  // Drops the upload being received, on a blocking worker: discarding a
  // blob may touch the disk or the database, which an io thread must not.
  void ReleaseUpload() {
    upload_parser_.reset();
    piece_ = {};
    if (upload_) asio::post(gw_.blocking, [sink = std::move(upload_)] {});
    upload_.reset();
  }

  // A body produced a piece at a time (ApiResponse::stream), sent with
  // chunked transfer encoding: the next piece is asked for (on a blocking
  // worker) only once the last one is written, so a client that reads
  // slowly holds one piece in memory, not the document.
  using Pieces = std::function<Result<std::string>()>;

  // With ApiResponse::content_length the pieces are written as they are,
  // after a Content-Length, instead of as chunks.
  void ReplyInPieces(ApiResponse r, bool keep_alive) {
    auto res =
        std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(r.status), version_);
    SetCommonHeaders(*res, r.content_type, r.headers);
    chunked_ = !r.content_length.has_value();
    if (chunked_) {
      res->chunked(true);
    } else {
      res->content_length(static_cast<uint64_t>(*r.content_length));
    }
    res->keep_alive(keep_alive);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    Arm();
    http::async_write_header(*stream_, *sr,
                             [self = this->shared_from_this(), res, sr, pieces = std::move(r.stream),
                              keep_alive](beast::error_code ec, size_t) mutable {
                               self->deadline_.cancel();
                               if (ec) return;
                               self->NextPiece(std::move(pieces), keep_alive);
                             });
  }

  void NextPiece(Pieces pieces, bool keep_alive) {
    auto source = std::make_shared<Pieces>(std::move(pieces));
    gw_.Blocking(
        io_, [source] { return (*source)(); },
        [self = this->shared_from_this(), source, keep_alive](Result<std::string> piece) {
          if (!piece) {
            // Too late for an error status: end the connection without the
            // last chunk, so the client sees an unfinished body.
            Log()->warn("streamed response aborted: {}: {}", ErrcName(piece.error().code),
                        piece.error().message);
            return self->Drop();
          }
          auto data = std::make_shared<std::string>(std::move(piece).value());
          const bool last = data->empty();
          if (!self->chunked_) {
            if (last) {
              if (!keep_alive) return self->Shutdown();
              return self->DoRead();
            }
            self->Arm();
            asio::async_write(*self->stream_, asio::buffer(*data),
                              [self, source, data, keep_alive](beast::error_code ec, size_t) {
                                self->deadline_.cancel();
                                if (ec) return;
                                self->NextPiece(std::move(*source), keep_alive);
                              });
            return;
          }
          auto done = [self, source, data, keep_alive, last](beast::error_code ec, size_t) {
            self->deadline_.cancel();
            if (ec) return;
            if (!last) return self->NextPiece(std::move(*source), keep_alive);
            if (!keep_alive) return self->Shutdown();
            self->DoRead();
          };
          self->Arm();  // a client that stops reading is dropped, as for any answer
          if (last) {
            asio::async_write(*self->stream_, http::make_chunk_last(), std::move(done));
          } else {
            asio::async_write(*self->stream_, http::make_chunk(asio::buffer(*data)), std::move(done));
          }
        });
  }

  template <class Response>
  void SetCommonHeaders(Response& res, const std::string& type,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
    res.set(http::field::server, "parley");
    if (!type.empty() && res.result_int() != 204) res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : headers) res.set(name, value);
    if constexpr (kTls) res.set(http::field::strict_transport_security, "max-age=31536000");
  }

  // An error answered here, before the API: then the connection closes.
  void Refuse(Errc code, const char* message) {
    ApiResponse r = gw_.api.Refuse(code, message);
    Reply(r.status, std::move(r.body), false, r.content_type, r.headers);
  }

  // `head_length`: the Content-Length a HEAD answer states for the body it
  // leaves out.
  void Reply(int status, std::string body, bool keep_alive, const std::string& type = "application/json",
             const std::vector<std::pair<std::string, std::string>>& headers = {},
             std::optional<int64_t> head_length = std::nullopt) {
    auto res =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), version_);
    SetCommonHeaders(*res, type, headers);
    res->body() = std::move(body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    if (head_length) res->content_length(static_cast<uint64_t>(*head_length));
    Arm();  // a client that never reads its answer is dropped too
    http::async_write(*stream_, *res,
                      [self = this->shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        self->deadline_.cancel();
                        if (ec) return;
                        if (!keep_alive) return self->Shutdown();
                        self->DoRead();
                      });
  }

  void Shutdown() {
    beast::error_code ec;
    Socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  Gateway::Impl& gw_;
  IoThread& io_;
  std::unique_ptr<Stream> stream_;
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  unsigned version_ = 11;
  bool over_limit_;
  bool chunked_ = true;  // the streamed answer being written is chunked
  // An upload being received (POST /v1/uploads).
  std::optional<http::request_parser<http::buffer_body>> upload_parser_;
  std::shared_ptr<chat::UploadSink> upload_;
  std::vector<char> piece_;   // the one buffer of its body
  std::vector<char> linger_;  // what a refused client still sends, dropped
  bool upload_keep_alive_ = false;
  bool expect_continue_ = false;
};

}  // namespace

void Gateway::Impl::Accept(IoThread& io) {
  io.acceptor.async_accept(io.ioc, [this, &io](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !io.acceptor.is_open()) return;
      // Out of file descriptors (or memory): the pending connection stays in
      // the backlog and accept would fail again at once. Pause instead of
      // spinning, and say so once per episode, not once per attempt.
      auto now = std::chrono::steady_clock::now();
      if (now - io.last_accept_error > std::chrono::seconds(10)) {
        Log()->warn("accept failed: {}; pausing accepts for 100 ms at a time", ec.message());
      }
      io.last_accept_error = now;
      io.accept_pause.expires_after(std::chrono::milliseconds(100));
      io.accept_pause.async_wait([this, &io](beast::error_code ec) {
        if (!ec) Accept(io);
      });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    bool over = open_connections.load() >= options.max_connections;
    if (tls) {
      auto stream = std::make_unique<TlsStream>(std::move(socket), *tls);
      std::make_shared<HttpSession<TlsStream>>(*this, io, std::move(stream), over)->Run();
    } else {
      auto stream = std::make_unique<tcp::socket>(std::move(socket));
      std::make_shared<HttpSession<tcp::socket>>(*this, io, std::move(stream), over)->Run();
    }
    Accept(io);
  });
}

Gateway::Gateway(Options options, chat::Service& service, fanout::FanOut& fanout, metrics::Metrics& metrics,
                 ReadyProbe ready)
    : impl_(std::make_unique<Impl>(std::move(options), service, fanout, metrics, std::move(ready))) {}

Gateway::~Gateway() { Shutdown(std::chrono::milliseconds(0)); }

Result<void> Gateway::Impl::SetUpTls() {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) return Ok();
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return MakeError(Errc::kBadRequest, "TLS needs both a certificate file and a key file");
  }
  // TLS 1.2 and 1.3 only, the server's cipher order; OpenSSL's defaults
  // otherwise (Mozilla "intermediate").
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  beast::error_code ec;
  ctx->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec)
    return MakeError(Errc::kBadRequest, "TLS certificate " + options.tls_cert_file + ": " + ec.message());
  ctx->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) return MakeError(Errc::kBadRequest, "TLS key " + options.tls_key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return MakeError(Errc::kBadRequest,
                     "TLS key " + options.tls_key_file + " does not match the certificate");
  }
  tls = std::move(ctx);
  return Ok();
}

Result<uint16_t> Gateway::Start() {
  Impl& gw = *impl_;
  if (auto ok = gw.SetUpTls(); !ok) return ok.error();
  int threads = gw.options.threads > 0 ? gw.options.threads : 1;
  beast::error_code ec;
  auto address = asio::ip::make_address(gw.options.host, ec);
  if (ec) return MakeError(Errc::kBadRequest, "bad listen address '" + gw.options.host + "'");
  uint16_t port = gw.options.port;
  for (int i = 0; i < threads; ++i) {
    auto io =
        std::make_unique<IoThread>(static_cast<uint32_t>(i), gw.blocking, gw.blocking_threads, gw.service,
                                   gw.fanout, gw.metrics, gw.SessionOptionsFor(static_cast<uint32_t>(i)));
    tcp::endpoint ep(address, port);
    auto& a = io->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.set_option(ReusePort(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return MakeError(Errc::kUnavailable, "cannot listen on " + gw.options.host + ":" +
                                               std::to_string(port) + ": " + ec.message());
    }
    port = a.local_endpoint().port();  // with port 0, the next io threads share the chosen one
    gw.io_threads.push_back(std::move(io));
  }
  // Deadlines and heartbeats of every connection: one sweep per io thread.
  auto period = std::chrono::milliseconds(std::clamp(gw.options.heartbeat_ms / 4, 10, 250));
  for (auto& io : gw.io_threads) {
    io->Sweep(period);
    gw.Accept(*io);
    io->thread = std::thread([io = io.get()] {
      auto guard = asio::make_work_guard(io->ioc);
      io->ioc.run();
    });
  }
  return port;
}

session::SessionOptions Gateway::Impl::SessionOptionsFor(uint32_t io_thread) const {
  session::SessionOptions o;
  o.node_id = options.node_id;
  o.io_thread = io_thread;
  o.heartbeat_ms = options.heartbeat_ms;
  o.send_rate_per_s = options.send_rate_per_s;
  o.abuse_factor = options.abuse_factor;
  o.max_queue_bytes = options.max_queue_bytes;
  return o;
}

// Two phases: close every WebSocket with 1001 and give them `grace` to go;
// then cut what is left, on its own io thread, so that every session leaves
// its hub and the presence registry while both still exist; only then stop
// the blocking pool (which runs those departures) and the io threads.
void Gateway::Shutdown(std::chrono::milliseconds grace) {
  Impl& gw = *impl_;
  if (gw.stopping.exchange(true)) return;
  for (auto& io : gw.io_threads) {
    asio::post(io->ioc, [io = io.get()] {
      beast::error_code ec;
      io->acceptor.close(ec);
      io->accept_pause.cancel();
      for (WsConnection* c = io->connections; c != nullptr; c = c->next_in_thread) {
        c->Close(kCloseGoingAway, "server going away");
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (gw.ws_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& io : gw.io_threads) {
    if (!io->thread.joinable()) continue;
    std::promise<void> cut;
    asio::post(io->ioc, [io = io.get(), &cut] {
      io->CutAll();
      io->worker.Submit();  // the departures, before the pool is joined
      cut.set_value();
    });
    cut.get_future().wait();
  }
  gw.blocking.join();
  for (auto& io : gw.io_threads) io->ioc.stop();
  for (auto& io : gw.io_threads) {
    if (io->thread.joinable()) io->thread.join();
  }
}

void Gateway::Deliver(std::shared_ptr<const fanout::EventBatch> batch) {
  impl_->answers.Take(*batch);  // answers to HTTP requests (an administrator's delete)
  // One posted task per io thread per batch, never one per recipient.
  for (auto& io : impl_->io_threads) {
    asio::post(io->ioc, [batch, io = io.get()] { io->hub.Dispatch(*batch); });
  }
}

void Gateway::Resync() {
  for (auto& io : impl_->io_threads) {
    asio::post(io->ioc, [io = io.get()] { io->hub.CatchUpAll(); });
  }
}

}  // namespace parley::gateway
