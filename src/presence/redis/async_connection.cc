#include "presence/redis/async_connection.h"

#include <boost/asio/posix/stream_descriptor.hpp>

#include "common/logging.h"

namespace parley::presence::redis {
namespace asio = boost::asio;

namespace {
std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("redis");
  return log;
}
}  // namespace

// The socket watch of one redisAsyncContext. hiredis holds a raw pointer to
// it (ev.data) until its cleanup hook; pending waits hold it alive by
// shared_ptr, so a wait completing after the context is gone finds `ac` null.
// The descriptor is released, never closed: hiredis owns the fd.
struct AsyncConnection::Watcher : std::enable_shared_from_this<Watcher> {
  Watcher(asio::io_context& ioc, redisAsyncContext* c, AsyncConnection* o)
      : ac(c), sd(ioc, c->c.fd), owner(o) {}
  ~Watcher() {
    if (sd.is_open()) sd.release();
  }

  void ArmRead() {
    if (reading || !want_read || ac == nullptr) return;
    reading = true;
    sd.async_wait(asio::posix::stream_descriptor::wait_read,
                  [self = shared_from_this()](boost::system::error_code ec) {
                    self->reading = false;
                    if (ec || self->ac == nullptr || !self->want_read) return;
                    redisAsyncHandleRead(self->ac);  // may free the context (cleanup nulls ac)
                    if (self->owner != nullptr) self->owner->AfterRead();
                    self->ArmRead();
                  });
  }
  void ArmWrite() {
    if (writing || !want_write || ac == nullptr) return;
    writing = true;
    sd.async_wait(asio::posix::stream_descriptor::wait_write,
                  [self = shared_from_this()](boost::system::error_code ec) {
                    self->writing = false;
                    if (ec || self->ac == nullptr || !self->want_write) return;
                    redisAsyncHandleWrite(self->ac);  // connects, flushes; may free the context
                    self->ArmWrite();
                  });
  }

  static void AddRead(void* p) {
    auto* w = static_cast<Watcher*>(p);
    w->want_read = true;
    w->ArmRead();
  }
  static void DelRead(void* p) { static_cast<Watcher*>(p)->want_read = false; }
  static void AddWrite(void* p) {
    auto* w = static_cast<Watcher*>(p);
    w->want_write = true;
    w->ArmWrite();
  }
  static void DelWrite(void* p) { static_cast<Watcher*>(p)->want_write = false; }
  static void Cleanup(void* p) {
    auto* w = static_cast<Watcher*>(p);
    w->ac = nullptr;
    w->want_read = w->want_write = false;
    // Cancels the waits and deregisters the fd before hiredis closes it.
    if (w->sd.is_open()) w->sd.release();
  }

  redisAsyncContext* ac;
  asio::posix::stream_descriptor sd;
  AsyncConnection* owner;
  bool want_read = false, want_write = false, reading = false, writing = false;
};

AsyncConnection::AsyncConnection(asio::io_context& ioc, std::string host, int port, std::string name,
                                 Callbacks callbacks, std::chrono::milliseconds max_backoff)
    : ioc_(ioc),
      host_(std::move(host)),
      port_(port),
      name_(std::move(name)),
      callbacks_(std::move(callbacks)),
      max_backoff_(std::max(max_backoff, std::chrono::milliseconds(50))),
      retry_(ioc) {}

AsyncConnection::~AsyncConnection() { Stop(); }

void AsyncConnection::Start() {
  stopped_ = false;
  Connect();
}

void AsyncConnection::Stop() {
  stopped_ = true;
  retry_.cancel();
  if (ac_ != nullptr) {
    redisAsyncContext* ac = ac_;
    redisAsyncFree(ac);  // runs OnDisconnect when connected, which sees stopped_
    ac_ = nullptr;
    connected_ = false;
  }
  if (watcher_) watcher_->owner = nullptr;
  watcher_.reset();
}

void AsyncConnection::Connect() {
  if (stopped_) return;
  if (watcher_) watcher_->owner = nullptr;
  watcher_.reset();
  redisAsyncContext* ac = redisAsyncConnect(host_.c_str(), port_);
  if (ac == nullptr || ac->err != 0) {
    if (!warned_)
      Log()->warn("{}: cannot connect to {}:{}: {}", name_, host_, port_, ac ? ac->errstr : "out of memory");
    warned_ = true;
    if (ac != nullptr) redisAsyncFree(ac);
    return Lost();
  }
  ac_ = ac;
  ac->data = this;
  watcher_ = std::make_shared<Watcher>(ioc_, ac, this);
  ac->ev.data = watcher_.get();
  ac->ev.addRead = &Watcher::AddRead;
  ac->ev.delRead = &Watcher::DelRead;
  ac->ev.addWrite = &Watcher::AddWrite;
  ac->ev.delWrite = &Watcher::DelWrite;
  ac->ev.cleanup = &Watcher::Cleanup;
  redisAsyncSetDisconnectCallback(ac, &AsyncConnection::OnDisconnect);
  redisAsyncSetConnectCallback(ac, &AsyncConnection::OnConnect);  // waits for writability
}

void AsyncConnection::Lost() {
  ac_ = nullptr;
  connected_ = false;
  if (stopped_) return;
  retry_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, max_backoff_);
  retry_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Connect();
  });
}

void AsyncConnection::AfterRead() {
  if (callbacks_.after_read) callbacks_.after_read();
}

void AsyncConnection::OnConnect(const redisAsyncContext* cac, int status) {
  auto* self = static_cast<AsyncConnection*>(cac->data);
  if (self == nullptr) return;
  if (status != REDIS_OK) {
    // hiredis frees the context when this returns.
    if (!self->warned_)
      Log()->warn("{}: cannot connect to {}:{}: {}", self->name_, self->host_, self->port_, cac->errstr);
    self->warned_ = true;
    return self->Lost();
  }
  auto* ac = const_cast<redisAsyncContext*>(cac);
  self->connected_ = true;
  self->backoff_ = std::chrono::milliseconds(50);
  if (self->warned_) Log()->info("{}: connected to {}:{}", self->name_, self->host_, self->port_);
  self->warned_ = false;
  redisEnableKeepAlive(&ac->c);
  if (self->callbacks_.on_connect) self->callbacks_.on_connect(ac);
}

void AsyncConnection::OnDisconnect(const redisAsyncContext* cac, int status) {
  auto* self = static_cast<AsyncConnection*>(cac->data);
  if (self == nullptr) return;
  bool was_connected = self->connected_;
  self->ac_ = nullptr;
  self->connected_ = false;
  if (self->stopped_) return;
  if (!self->warned_) {
    Log()->warn("{}: lost connection to {}:{} ({}); reconnecting", self->name_, self->host_, self->port_,
                status == REDIS_OK ? "closed" : cac->errstr);
  }
  self->warned_ = true;
  if (was_connected && self->callbacks_.on_disconnect) self->callbacks_.on_disconnect();
  self->Lost();
}

}  // namespace parley::presence::redis
