#include "loadgen/runner.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "loadgen/codec.h"
#include "loadgen/rate_search.h"
#include "loadgen/setup.h"
#include "loadgen/tracker.h"
#include "loadgen/ws.h"
#include "protocol/client_frames.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace parley::loadgen {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
// Bound to the io_context's own executor type, not the type-erased
// any_io_executor: every completion of a run's hot path would otherwise copy
// and destroy a polymorphic executor.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
// The most queued frames one gathered write takes.
constexpr size_t kMaxGather = 64;
// The longest upgrade answer head accepted.
constexpr size_t kMaxUpgradeHead = 16 << 10;

int64_t NowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::chrono::steady_clock::time_point AtUs(int64_t us) {
  return std::chrono::steady_clock::time_point(std::chrono::microseconds(us));
}

void SleepUntilUs(int64_t us) {
  int64_t d = us - NowUs();
  if (d > 0) std::this_thread::sleep_for(std::chrono::microseconds(d));
}

struct StepParams {
  int64_t epoch = 0;
  int64_t from_us = 0;  // measurement window, by scheduled send time
  int64_t to_us = 0;
  bool InWindow(int64_t sched) const { return sched >= from_us && sched < to_us; }
};

struct ThreadStats {
  Histogram latency, ack, lag, history, handshake, resume;
  Histogram interval_latency;  // since the last --report-every line
  int64_t interval_sent = 0, interval_delivered = 0;
  int64_t churned = 0, clean_closes = 0, resumed = 0, reconnects_failed = 0, interval_churned = 0;
  int64_t sent = 0, sent_window = 0, delivered = 0, delivered_window = 0;
  int64_t acked = 0, errors = 0, stale = 0, seq_dups = 0, seq_gaps = 0;
  std::map<std::string, int64_t> codes;
  void ResetStep() {
    latency.Reset();
    ack.Reset();
    lag.Reset();
    history.Reset();
    sent = sent_window = delivered = delivered_window = 0;
    acked = errors = stale = seq_dups = seq_gaps = 0;
    codes.clear();
  }
  void Error(const std::string& code) {
    errors++;
    codes[code]++;
  }
};

class Runner;
struct ThreadCtx;

// One WebSocket (client side, framed by ws.h) with its buffers; replaced
// (not reused) on a reconnect, so handlers of a dropped one can still run
// safely. Owned by its Conn, on the Conn's thread.
struct Link {
  explicit Link(asio::io_context& ioc) : sock(ioc.get_executor()) {}
  Socket sock;
  WsReceiver rx;
  std::string key;                         // Sec-WebSocket-Key sent
  bool upgraded = false;                   // the 101 answer was read; frames follow
  std::deque<std::string> outq;            // whole frames (and the upgrade request), in order
  std::vector<asio::const_buffer> gather;  // the write in flight: the first `in_flight` of outq
  size_t in_flight = 0;
  bool writing = false;
};

class Conn {
 public:
  Conn(Runner* r, ThreadCtx* t, int index);
  void Start();
  void Drop();
  void Close();
  // Churn: closes this ready connection (cleanly with a close frame, or
  // abruptly) and reconnects it with hello.last_seq.
  void Churn(bool clean);
  void ResetReceive(int senders);
  void StartSending(int64_t first_us, int64_t period_us);
  void StopSending();
  void SendHistory(int64_t sched_us);
  bool ready() const { return state_ == State::kReady; }
  int group() const { return group_; }
  int slot() const { return slot_; }
  int64_t sent() const { return sent_; }
  const std::vector<StreamTracker>& streams() const { return streams_; }

 private:
  enum class State {
    kIdle,
    kConnecting,
    kAwaitWelcome,
    kAwaitOpen,
    kAwaitConnect,
    kAwaitJoin,
    kReady,
    kClosing,  // churn: our close frame is out, waiting for the server's
    kFailed
  };
  void OnConnected();
  void OnUpgraded();
  void DoRead(Link* l);
  void OnRead(Link* l);
  // Handles one event of the server's stream; false once the link is gone.
  bool OnFrame(Link* l, const WsReceiver::Event& e);
  // Our close frame was answered (or the connection ended meanwhile).
  void CloseDone(Link* l);
  // Queues this connection to connect again (resuming).
  void Reconnect();
  void SendText(std::string_view text);
  void SendControl(WsOpcode opcode, std::string_view payload);
  void WriteBytes(std::string bytes);
  void DoWrite(Link* l);
  void OnText(std::string_view text);
  void OnParley(std::string_view text);
  void OnSocketio(std::string_view text);
  void OnPayload(std::string_view body);
  void Ready();
  void Fail(const std::string& why);
  void Arm();
  void OnTick();
  void SendOne(int64_t sched, int64_t now);
  void SendFrameFor(int64_t id, int64_t counter, int64_t sched);

  Runner* r_;
  ThreadCtx* t_;
  int index_, group_, slot_;
  State state_ = State::kIdle;
  std::unique_ptr<Link> link_;
  // Links closed but perhaps with handlers still queued: kept (not reused at
  // the same address) until they are surely done, then freed, so a long run
  // with churn does not grow.
  std::deque<std::pair<int64_t, std::unique_ptr<Link>>> retired_;
  void Retire();
  bool resuming_ = false;
  Timer retry_timer_;  // churn: reconnect after a failure, close deadline
  int64_t connect_start_us_ = 0;
  // parley
  int64_t next_id_ = 2;  // 1 is hello
  int64_t last_seq_ = -1;
  struct Pending {
    int64_t id, counter, sched;
  };
  std::deque<Pending> pending_;
  std::vector<std::pair<int64_t, int64_t>> history_pending_;  // id, sched
  // sender
  Timer timer_;
  bool sending_ = false;
  uint64_t tick_gen_ = 0;
  int64_t period_us_ = 0, next_sched_ = 0, counter_ = 0, sent_ = 0;
  // receiver
  std::vector<StreamTracker> streams_;
};

struct ThreadCtx {
  // One thread runs it; other threads only post to it (Runner::OnAll), so
  // the reactor's per-socket locks are off and the scheduler's stay on.
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::vector<std::unique_ptr<Conn>> conns;
  std::deque<Conn*> to_connect;
  int connecting = 0;
  int max_connecting = 64;
  ThreadStats stats;
  StepParams step;         // this thread's copy, set by Runner::RunStep
  protocol::SendReq send;  // the parley dialect's request, reused: its body is the payload
  std::string scratch;     // the socketio dialect's payload
  std::string text;        // a request's text before it is framed
  uint64_t mask_state = 0x9E3779B97F4A7C15ull;  // xorshift64: frame masks (RFC 6455 5.3)
  uint32_t NextMask() {
    mask_state ^= mask_state << 13;
    mask_state ^= mask_state >> 7;
    mask_state ^= mask_state << 17;
    return static_cast<uint32_t>(mask_state >> 16);
  }
  asio::steady_timer history_timer{ioc};
  bool history_on = false;
  size_t history_next = 0;
  int64_t history_period_us = 0, history_sched = 0;
  std::thread thread;

  void ConnectMore() {
    while (connecting < max_connecting && !to_connect.empty()) {
      Conn* c = to_connect.front();
      to_connect.pop_front();
      connecting++;
      c->Start();
    }
  }
  void OnConnectDone() {
    connecting--;
    ConnectMore();
  }
  void HistoryTick();

  // Churn: drops one ready connection of this thread every churn_period_us,
  // picked at random, alternating clean closes and abrupt drops.
  asio::steady_timer churn_timer{ioc};
  bool churn_on = false;
  int64_t churn_period_us = 0, churn_sched = 0;
  uint64_t churn_count = 0;
  std::mt19937_64 churn_rng{12345};
  void ChurnTick();
};

class Runner {
 public:
  Runner(const Options& o, Plan plan) : o_(o), plan_(std::move(plan)), shape_(plan_.shape) {
    endpoint_ = tcp::endpoint(asio::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host), o.port);
    host_header_ = o.host + ":" + std::to_string(o.port);
    for (const auto& ip : o.source_ips) source_ips_.push_back(asio::ip::make_address(ip));
    sent_.assign(shape_.groups, std::vector<int64_t>(std::max(shape_.senders, 1), 0));
  }

  int Run(BenchResult* result);

  const Options& o_;
  Plan plan_;
  Shape shape_;
  tcp::endpoint endpoint_;
  std::string host_header_;
  std::vector<asio::ip::address> source_ips_;
  StepParams step_;
  std::vector<std::vector<int64_t>> sent_;  // [group][slot]
  std::atomic<int> ready_{0}, failed_{0};
  std::atomic<int64_t> last_ready_us_{0};
  std::atomic<int64_t> delivered_total_{0};
  std::atomic<bool> churn_on_{false};
  std::vector<std::unique_ptr<ThreadCtx>> threads_;

  void OnReady(int64_t now) {
    ready_++;
    int64_t prev = last_ready_us_.load();
    while (prev < now && !last_ready_us_.compare_exchange_weak(prev, now)) {
    }
  }

 private:
  template <typename Fn>
  void OnAll(Fn fn) {
    std::latch done(static_cast<std::ptrdiff_t>(threads_.size()));
    for (auto& t : threads_) {
      ThreadCtx* tc = t.get();
      asio::post(tc->ioc, [tc, &fn, &done] {
        fn(*tc);
        done.count_down();
      });
    }
    done.wait();
  }
  bool WaitAllSettled(int total, double timeout_s);
  // Sleeps until `until_us`, writing an interval report every
  // --report-every seconds (from `start_us`) on the way.
  void ReportUntil(int64_t start_us, int64_t until_us, BenchResult* result);
  IntervalReport Report(int64_t start_us, int64_t since_us);
  StepResult RunStep(double rate, bool drop_midway, BenchResult* result);
  void Connect(BenchResult* result);

  int64_t next_report_us_ = 0;
  int64_t last_report_us_ = 0;
  double report_cpu_ = 0;
  std::optional<double> report_server_cpu_;
  FILE* report_csv_ = nullptr;
};

// ---- Conn ---------------------------------------------------------------------

Conn::Conn(Runner* r, ThreadCtx* t, int index)
    : r_(r), t_(t), index_(index), retry_timer_(t->ioc.get_executor()), timer_(t->ioc.get_executor()) {
  group_ = index / r->shape_.members;
  int member = index % r->shape_.members;
  slot_ = member < r->shape_.senders ? member : -1;
}

void Conn::Retire() {
  int64_t now = NowUs();
  while (!retired_.empty() && now - retired_.front().first > 10'000'000) retired_.pop_front();
  if (!link_) return;
  error_code ignored;
  link_->sock.close(ignored);
  retired_.emplace_back(now, std::move(link_));
}

void Conn::Start() {
  Retire();
  link_ = std::make_unique<Link>(t_->ioc);
  Link* l = link_.get();
  state_ = State::kConnecting;
  connect_start_us_ = NowUs();
  auto& sock = l->sock;
  error_code ec;
  sock.open(tcp::v4(), ec);
  if (!ec && !r_->source_ips_.empty()) {
    int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sock.bind(tcp::endpoint(r_->source_ips_[index_ % r_->source_ips_.size()], 0), ec);
  }
  if (ec) return Fail("socket: " + ec.message());
  sock.async_connect(r_->endpoint_, [this, l](error_code ec) {
    if (l != link_.get()) return;
    if (ec) return Fail("connect: " + ec.message());
    OnConnected();
  });
}

void Conn::OnConnected() {
  Link* l = link_.get();
  error_code ignored;
  l->sock.set_option(tcp::no_delay(true), ignored);
  const bool parley = r_->o_.dialect == Dialect::kParley;
  l->key =
      WsKeyFrom(t_->mask_state + static_cast<uint64_t>(index_), static_cast<uint64_t>(connect_start_us_));
  WriteBytes(WsUpgradeRequest(r_->host_header_, parley ? "/v1/ws" : kEioPath, l->key));
  DoRead(l);
}

void Conn::OnUpgraded() {
  if (r_->o_.dialect == Dialect::kParley) {
    state_ = State::kAwaitWelcome;
    protocol::HelloReq hello{r_->plan_.tokens[index_], {}, false};
    if (resuming_ && !r_->plan_.conv_ids.empty()) {
      hello.last_seq.emplace_back(r_->plan_.conv_ids[group_], std::max<int64_t>(last_seq_, 0));
    }
    SendText(protocol::BuildRequest(hello, 1));
  } else {
    state_ = State::kAwaitOpen;
  }
}

void Conn::DoRead(Link* l) {
  l->rx.PrepareRead();
  l->sock.async_read_some(asio::buffer(l->rx.space(), l->rx.space_size()),
                          [this, l](error_code ec, size_t n) {
                            if (l != link_.get()) return;
                            if (ec) {
                              if (state_ == State::kClosing)
                                return CloseDone(l);  // the server ended it under our close frame
                              if (!l->upgraded) return Fail("handshake: " + ec.message());
                              if (state_ == State::kReady || state_ == State::kAwaitWelcome)
                                return Fail("closed: " + ec.message());
                              return Fail("read: " + ec.message());
                            }
                            l->rx.Commit(n);
                            OnRead(l);
                          });
}

void Conn::OnRead(Link* l) {
  if (!l->upgraded) {
    std::string_view in = l->rx.pending();
    size_t end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (in.size() > kMaxUpgradeHead) return Fail("handshake: answer head too long");
      return DoRead(l);
    }
    if (auto why = CheckWsUpgradeResponse(in.substr(0, end + 4), l->key)) return Fail(*why);
    l->rx.Consume(end + 4);
    l->upgraded = true;
    OnUpgraded();
    if (l != link_.get()) return;
  }
  auto error = l->rx.Drain([this, l](const WsReceiver::Event& e) { return OnFrame(l, e); });
  if (l != link_.get()) return;  // dropped, failed or closed meanwhile
  if (error) return Fail("websocket: " + *error);
  if (state_ != State::kFailed) DoRead(l);
}

bool Conn::OnFrame(Link* l, const WsReceiver::Event& e) {
  switch (e.opcode) {
    case WsOpcode::kText:
    case WsOpcode::kBinary:
      OnText(e.payload);
      break;
    case WsOpcode::kPing:
      SendControl(WsOpcode::kPong, e.payload);
      break;
    case WsOpcode::kClose: {
      if (state_ == State::kClosing) {
        CloseDone(l);
        return false;
      }
      // The server closes: answer (RFC 6455 5.5.1) and count why.
      SendControl(WsOpcode::kClose, e.payload.substr(0, 2));
      std::string why = "closed";
      if (e.payload.size() >= 2) {
        auto code = (static_cast<unsigned>(static_cast<unsigned char>(e.payload[0])) << 8) |
                    static_cast<unsigned char>(e.payload[1]);
        why += " " + std::to_string(code);
      }
      Fail(state_ == State::kReady || state_ == State::kAwaitWelcome ? why : "read: " + why);
      return false;
    }
    default:
      break;
  }
  return l == link_.get() && state_ != State::kFailed;
}

void Conn::SendText(std::string_view text) { SendControl(WsOpcode::kText, text); }

void Conn::SendControl(WsOpcode opcode, std::string_view payload) {
  std::string frame;
  frame.reserve(payload.size() + 14);
  AppendWsClientFrame(opcode, payload, t_->NextMask(), &frame);
  WriteBytes(std::move(frame));
}

void Conn::WriteBytes(std::string bytes) {
  Link* l = link_.get();
  if (!l) return;
  l->outq.push_back(std::move(bytes));
  if (!l->writing) DoWrite(l);
}

// Everything queued (up to kMaxGather frames) leaves in one gathered write.
void Conn::DoWrite(Link* l) {
  l->writing = true;
  l->in_flight = std::min(l->outq.size(), kMaxGather);
  l->gather.clear();
  for (size_t i = 0; i < l->in_flight; ++i) l->gather.push_back(asio::buffer(l->outq[i]));
  asio::async_write(l->sock, l->gather, [this, l](error_code ec, size_t) {
    if (l != link_.get()) return;
    l->writing = false;
    if (ec && state_ == State::kClosing) return;
    if (ec) return Fail("write: " + ec.message());
    l->outq.erase(l->outq.begin(), l->outq.begin() + static_cast<std::ptrdiff_t>(l->in_flight));
    if (!l->outq.empty()) DoWrite(l);
  });
}

void Conn::Fail(const std::string& why) {
  bool was_connecting = state_ != State::kReady && state_ != State::kFailed && state_ != State::kIdle;
  state_ = State::kFailed;
  t_->stats.Error(why);
  Retire();
  if (was_connecting) {
    r_->failed_++;
    if (resuming_) t_->stats.reconnects_failed++;
    t_->OnConnectDone();
  }
  // With churn, a client that lost its connection comes back, as a real one
  // would (after a pause, resuming).
  if (r_->o_.churn_per_s > 0 && r_->churn_on_.load(std::memory_order_relaxed)) {
    resuming_ = true;
    retry_timer_.expires_after(std::chrono::milliseconds(500));
    retry_timer_.async_wait([this](error_code ec) {
      if (ec || state_ != State::kFailed || !r_->churn_on_.load(std::memory_order_relaxed)) return;
      state_ = State::kIdle;
      Reconnect();
    });
  }
}

void Conn::Close() {
  StopSending();
  retry_timer_.cancel();
  state_ = State::kIdle;
  Retire();
}

void Conn::Drop() {
  resuming_ = true;
  state_ = State::kIdle;
  Retire();  // closed abruptly, as a lost network would
}

void Conn::Churn(bool clean) {
  if (state_ != State::kReady || !link_) return;
  t_->stats.churned++;
  t_->stats.interval_churned++;
  if (!clean) {
    Drop();
    return Reconnect();
  }
  t_->stats.clean_closes++;
  resuming_ = true;
  state_ = State::kClosing;
  Link* l = link_.get();
  const char normal[2] = {0x03, static_cast<char>(0xE8)};  // 1000
  SendControl(WsOpcode::kClose, std::string_view(normal, 2));
  // A server that never answers our close: give up on it after 3 s.
  retry_timer_.expires_after(std::chrono::seconds(3));
  retry_timer_.async_wait([this, l](error_code ec) {
    if (ec || l != link_.get() || state_ != State::kClosing) return;
    t_->stats.Error("close handshake timed out");
    state_ = State::kIdle;
    Retire();
    Reconnect();
  });
}

void Conn::CloseDone(Link* l) {
  if (l != link_.get() || state_ != State::kClosing) return;
  retry_timer_.cancel();
  state_ = State::kIdle;
  Retire();
  Reconnect();
}

void Conn::Reconnect() {
  t_->to_connect.push_back(this);
  t_->ConnectMore();
}

void Conn::Ready() {
  state_ = State::kReady;
  int64_t now = NowUs();
  if (resuming_) {
    t_->stats.resume.Record(now - connect_start_us_);
    t_->stats.resumed++;
    // Retry every unanswered send with its client_msg_id (PROTOCOL.md 2).
    for (auto& p : pending_) {
      p.id = next_id_++;
      SendFrameFor(p.id, p.counter, p.sched);
    }
  } else {
    t_->stats.handshake.Record(now - connect_start_us_);
  }
  r_->OnReady(now);
  t_->OnConnectDone();
  // A sender waits for this (Arm does nothing while the connection is down):
  // what fell due meanwhile goes out now, with its scheduled times.
  if (sending_) {
    ++tick_gen_;
    Arm();
  }
}

void Conn::OnText(std::string_view text) {
  if (r_->o_.dialect == Dialect::kParley) {
    OnParley(text);
  } else {
    OnSocketio(text);
  }
}

void Conn::OnParley(std::string_view text) {
  ParleyFrame f = ScanParleyFrame(text);
  ThreadStats& st = t_->stats;
  switch (f.kind) {
    case ParleyFrame::Kind::kMessage: {
      if (last_seq_ >= 0 && f.seq <= last_seq_) {
        st.seq_dups++;
        return;
      }
      if (last_seq_ >= 0 && f.seq > last_seq_ + 1) st.seq_gaps++;
      last_seq_ = f.seq;
      if (!f.change) OnPayload(f.body);
      return;
    }
    case ParleyFrame::Kind::kSent: {
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->id != f.re) continue;
        if (t_->step.InWindow(it->sched)) st.ack.Record(NowUs() - it->sched);
        st.acked++;
        pending_.erase(it);
        break;
      }
      return;
    }
    case ParleyFrame::Kind::kWelcome:
      if (state_ == State::kAwaitWelcome && f.re == 1) Ready();
      return;
    case ParleyFrame::Kind::kHistory: {
      for (auto it = history_pending_.begin(); it != history_pending_.end(); ++it) {
        if (it->first != f.re) continue;
        if (t_->step.InWindow(it->second)) st.history.Record(NowUs() - it->second);
        history_pending_.erase(it);
        break;
      }
      return;
    }
    case ParleyFrame::Kind::kError: {
      if (state_ == State::kAwaitWelcome) return Fail("hello error: " + std::string(f.code));
      st.Error("error frame: " + std::string(f.code));
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->id == f.re) {
          pending_.erase(it);
          break;
        }
      }
      return;
    }
    case ParleyFrame::Kind::kInvalid:
      st.Error("unparsed frame");
      return;
    default:
      return;
  }
}

void Conn::OnSocketio(std::string_view text) {
  EioPacket p = ParseEioPacket(text);
  switch (p.kind) {
    case EioPacket::Kind::kOpen:
      if (state_ == State::kAwaitOpen) {
        state_ = State::kAwaitConnect;
        SendText(kEioConnect);
      }
      return;
    case EioPacket::Kind::kPing:
      SendText(kEioPong);
      return;
    case EioPacket::Kind::kConnect:
      if (state_ == State::kAwaitConnect) {
        if (r_->plan_.convs.empty()) return Ready();
        state_ = State::kAwaitJoin;
        std::string& join = t_->text;
        join.clear();
        AppendEioJoin(1, r_->plan_.convs[group_], &join);
        SendText(join);
      }
      return;
    case EioPacket::Kind::kAck:
      if (state_ == State::kAwaitJoin && p.ack_id == 1) Ready();
      return;
    case EioPacket::Kind::kEvent:
      if (p.event == "chat") OnPayload(p.payload);
      return;
    case EioPacket::Kind::kConnectError:
      return Fail("socket.io connect_error");
    case EioPacket::Kind::kClose:
      return Fail("engine.io close");
    default:
      return;
  }
}

void Conn::OnPayload(std::string_view body) {
  ThreadStats& st = t_->stats;
  auto p = DecodePayload(body);
  if (!p) return st.Error("bad payload");
  const StepParams& step = t_->step;
  if (p->epoch != step.epoch) {
    st.stale++;
    return;
  }
  if (p->slot < 0 || p->slot >= static_cast<int64_t>(streams_.size())) return st.Error("bad slot");
  if (streams_[p->slot].Receive(p->counter) == StreamTracker::Outcome::kDuplicate) return;
  const int64_t latency = NowUs() - p->sched_us;
  st.delivered++;
  st.interval_delivered++;
  st.interval_latency.Record(latency);
  r_->delivered_total_.fetch_add(1, std::memory_order_relaxed);
  if (step.InWindow(p->sched_us)) {
    st.delivered_window++;
    st.latency.Record(latency);
  }
}

void Conn::ResetReceive(int senders) {
  streams_.assign(senders, StreamTracker());
  pending_.clear();
  history_pending_.clear();
}

void Conn::StartSending(int64_t first_us, int64_t period_us) {
  if (slot_ < 0) return;
  sending_ = true;
  period_us_ = period_us;
  next_sched_ = first_us;
  counter_ = 0;
  sent_ = 0;
  ++tick_gen_;
  Arm();
}

void Conn::StopSending() {
  sending_ = false;
  ++tick_gen_;
  timer_.cancel();
}

void Conn::Arm() {
  // Not connected: Ready() arms it again. (It used to look every 2 ms: with
  // 19,000 connections resuming at once, those timers took most of the
  // generator's core.)
  if (state_ != State::kReady) return;
  timer_.expires_at(AtUs(next_sched_));
  timer_.async_wait([this, g = tick_gen_](error_code ec) {
    if (ec || g != tick_gen_ || !sending_) return;
    OnTick();
  });
}

void Conn::OnTick() {
  int64_t now = NowUs();
  if (state_ == State::kReady) {
    int burst = 0;
    while (next_sched_ <= now && burst < 10000) {
      SendOne(next_sched_, now);
      next_sched_ += period_us_;
      ++burst;
    }
  }
  Arm();
}

void Conn::SendFrameFor(int64_t id, int64_t counter, int64_t sched) {
  const Payload payload{t_->step.epoch, slot_, counter, sched};
  std::string& text = t_->text;
  text.clear();
  if (r_->o_.dialect == Dialect::kParley) {
    protocol::SendReq& send = t_->send;
    send.conv = r_->plan_.conv_ids[group_];
    send.body.clear();
    AppendPayload(payload, r_->o_.body_bytes, &send.body);
    char cmid[64];
    int n = std::snprintf(cmid, sizeof(cmid), "%se%lld-%lld", r_->plan_.send_prefix.c_str(),
                          static_cast<long long>(t_->step.epoch), static_cast<long long>(counter));
    send.client_msg_id.assign(cmid, static_cast<size_t>(n));
    protocol::AppendRequest(send, id, &text);
  } else {
    std::string& body = t_->scratch;
    body.clear();
    AppendPayload(payload, r_->o_.body_bytes, &body);
    AppendEioChat(r_->plan_.convs[group_], body, &text);
  }
  SendText(text);
}

void Conn::SendOne(int64_t sched, int64_t now) {
  int64_t id = 0;
  if (r_->o_.dialect == Dialect::kParley) {
    id = next_id_++;
    pending_.push_back(Pending{id, counter_, sched});
  }
  SendFrameFor(id, counter_, sched);
  ++counter_;
  ++sent_;
  ThreadStats& st = t_->stats;
  st.sent++;
  st.interval_sent++;
  if (t_->step.InWindow(sched)) {
    st.sent_window++;
    st.lag.Record(now - sched);
  }
}

void Conn::SendHistory(int64_t sched_us) {
  if (state_ != State::kReady || r_->plan_.conv_ids.empty()) return;
  int64_t id = next_id_++;
  history_pending_.emplace_back(id, sched_us);
  SendText(protocol::BuildRequest(
      protocol::HistoryReq{r_->plan_.conv_ids[group_], std::nullopt, std::nullopt, 50}, id));
}

void ThreadCtx::HistoryTick() {
  if (!history_on || conns.empty()) return;
  int64_t now = NowUs();
  while (history_sched <= now) {
    // one request per group owner's connection, round robin
    for (size_t tries = 0; tries < conns.size(); ++tries) {
      Conn* c = conns[history_next++ % conns.size()].get();
      if (c->ready()) {
        c->SendHistory(history_sched);
        break;
      }
    }
    history_sched += history_period_us;
  }
  history_timer.expires_at(AtUs(history_sched));
  history_timer.async_wait([this](error_code ec) {
    if (!ec) HistoryTick();
  });
}

void ThreadCtx::ChurnTick() {
  if (!churn_on || conns.empty()) return;
  int64_t now = NowUs();
  while (churn_sched <= now) {
    // A ready connection, picked at random (a few tries: some are reconnecting).
    for (int tries = 0; tries < 8; ++tries) {
      Conn* c = conns[churn_rng() % conns.size()].get();
      if (!c->ready()) continue;
      c->Churn(churn_count++ % 2 == 1);
      break;
    }
    churn_sched += churn_period_us;
  }
  churn_timer.expires_at(AtUs(churn_sched));
  churn_timer.async_wait([this](error_code ec) {
    if (!ec) ChurnTick();
  });
}

// ---- Runner -------------------------------------------------------------------

bool Runner::WaitAllSettled(int total, double timeout_s) {
  int64_t deadline = NowUs() + static_cast<int64_t>(timeout_s * 1e6);
  while (ready_.load() + failed_.load() < total) {
    if (NowUs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void Runner::Connect(BenchResult* result) {
  int total = shape_.connections();
  ConnectResult& c = result->connect;
  c.attempted = total;
  if (o_.server_pid > 0) c.server_rss_before_kb = ProcRssKb(o_.server_pid);
  double cpu0 = SelfCpuSeconds();
  std::optional<double> srv0 = o_.server_pid > 0 ? ProcCpuSeconds(o_.server_pid) : std::nullopt;
  int64_t start = NowUs();
  OnAll([](ThreadCtx& t) {
    for (auto& conn : t.conns) t.to_connect.push_back(conn.get());
    t.ConnectMore();
  });
  if (!WaitAllSettled(total, 120 + total / 200.0)) result->errors["connect phase timed out"]++;
  c.ok = ready_.load();
  c.failed = failed_.load();
  c.seconds = static_cast<double>(last_ready_us_.load() - start) / 1e6;
  c.handshakes_per_s = c.seconds > 0 ? c.ok / c.seconds : 0;
  c.client_cpu_s = SelfCpuSeconds() - cpu0;
  if (srv0) {
    if (auto s1 = ProcCpuSeconds(o_.server_pid)) c.server_cpu_s = *s1 - *srv0;
  }
  std::mutex mu;
  OnAll([&](ThreadCtx& t) {
    std::lock_guard lock(mu);
    c.handshake.Merge(t.stats.handshake);
    for (const auto& [k, v] : t.stats.codes) result->errors["connect: " + k] += v;
    t.stats.codes.clear();
    t.stats.errors = 0;
  });
}

StepResult Runner::RunStep(double rate, bool drop_midway, BenchResult* result) {
  StepResult s;
  s.rate_per_sender = rate;
  const int senders_total = shape_.groups * shape_.senders;
  s.offered_per_s = rate * senders_total;
  const int64_t period = std::max<int64_t>(1, static_cast<int64_t>(1e6 / rate));
  const int64_t start = NowUs() + 100000;
  StepParams p;
  p.epoch = step_.epoch + 1;
  p.from_us = start + static_cast<int64_t>(o_.warmup_s * 1e6);
  p.to_us = p.from_us + static_cast<int64_t>(o_.duration_s * 1e6);
  delivered_total_ = 0;
  // First every receiver forgets the last step, then the senders start.
  OnAll([&](ThreadCtx& t) {
    t.stats.ResetStep();
    t.step = p;
    for (auto& c : t.conns) c->ResetReceive(shape_.senders);
  });
  step_ = p;
  OnAll([&](ThreadCtx& t) {
    std::mt19937_64 rng(static_cast<uint64_t>(start) ^ reinterpret_cast<uintptr_t>(&t));
    for (auto& c : t.conns)
      c->StartSending(start + static_cast<int64_t>(rng() % static_cast<uint64_t>(period)), period);
    // History pages are Parley requests; the Socket.IO peer has none.
    if (o_.workload == Workload::kHistory && o_.history_rate > 0 && o_.dialect == Dialect::kParley) {
      t.history_on = true;
      t.history_period_us =
          static_cast<int64_t>(1e6 * static_cast<double>(threads_.size()) / o_.history_rate);
      t.history_sched = start;
      t.HistoryTick();
    }
  });
  if (o_.churn_per_s > 0) {
    churn_on_ = true;
    OnAll([&](ThreadCtx& t) {
      t.churn_on = true;
      t.churn_period_us = static_cast<int64_t>(1e6 * static_cast<double>(threads_.size()) / o_.churn_per_s);
      t.churn_sched = p.from_us;  // after the warm-up
      t.ChurnTick();
    });
  }
  report_cpu_ = SelfCpuSeconds();
  report_server_cpu_ = o_.server_pid > 0 ? ProcCpuSeconds(o_.server_pid) : std::nullopt;
  OnAll([](ThreadCtx& t) {
    t.stats.interval_latency.Reset();
    t.stats.interval_sent = t.stats.interval_delivered = t.stats.interval_churned = 0;
  });
  ReportUntil(start, p.from_us, result);
  double cpu0 = SelfCpuSeconds();
  int64_t wall0 = NowUs();
  std::optional<double> wait0 = SelfRunqueueWaitSeconds();
  std::optional<double> srv0 = o_.server_pid > 0 ? ProcCpuSeconds(o_.server_pid) : std::nullopt;
  if (drop_midway) {
    SleepUntilUs(p.from_us + (p.to_us - p.from_us) / 3);
    ReconnectResult& rc = result->reconnect;
    rc.done = true;
    int before = ready_.load();
    ready_ = 0;
    failed_ = 0;
    last_ready_us_ = 0;
    int64_t t0 = NowUs();
    OnAll([](ThreadCtx& t) {
      for (auto& c : t.conns) {
        if (!c->ready()) continue;
        c->Drop();
        t.to_connect.push_back(c.get());
      }
      t.ConnectMore();
    });
    rc.dropped = before;
    WaitAllSettled(before, 120);
    rc.resumed = ready_.load();
    rc.resume_s = static_cast<double>(std::max(last_ready_us_.load(), t0) - t0) / 1e6;
    std::mutex mu;
    OnAll([&](ThreadCtx& t) {
      std::lock_guard lock(mu);
      rc.resume.Merge(t.stats.resume);
    });
  }
  ReportUntil(start, p.to_us, result);
  if (o_.churn_per_s > 0) {
    churn_on_ = false;
    OnAll([](ThreadCtx& t) {
      t.churn_on = false;
      t.churn_timer.cancel();
    });
  }
  s.client_cpu_s = SelfCpuSeconds() - cpu0;
  s.client_wall_s = static_cast<double>(NowUs() - wall0) / 1e6;
  s.client_cores = std::max(1, std::min(o_.threads, SelfCpusAllowed()));
  if (std::optional<double> wait1 = SelfRunqueueWaitSeconds(); wait0 && wait1)
    s.client_runqueue_wait_s = *wait1 - *wait0;
  if (srv0) {
    if (auto s1 = ProcCpuSeconds(o_.server_pid)) s.server_cpu_s = *s1 - *srv0;
    s.server_rss_kb = ProcRssKb(o_.server_pid);
  }
  OnAll([&](ThreadCtx& t) {
    t.history_on = false;
    t.history_timer.cancel();
    for (auto& c : t.conns) {
      c->StopSending();
      if (c->slot() >= 0) sent_[c->group()][c->slot()] = c->sent();
    }
  });
  int64_t expected = 0;
  for (const auto& g : sent_) {
    for (int64_t n : g) expected += n * shape_.members;
  }
  // Drain: wait for stragglers until everything due arrived, or delivery stalls.
  int64_t drain_deadline = NowUs() + static_cast<int64_t>(o_.drain_s * 1e6);
  int64_t last = -1;
  int64_t last_change = NowUs();
  while (NowUs() < drain_deadline) {
    int64_t d = delivered_total_.load();
    if (d >= expected) break;
    if (d != last) {
      last = d;
      last_change = NowUs();
    } else if (NowUs() - last_change > 1000000) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::mutex mu;
  OnAll([&](ThreadCtx& t) {
    StreamCounts counts;
    for (auto& c : t.conns) {
      const auto& streams = c->streams();
      for (size_t k = 0; k < streams.size(); ++k) counts += streams[k].Finish(sent_[c->group()][k]);
    }
    std::lock_guard lock(mu);
    ThreadStats& st = t.stats;
    s.latency.Merge(st.latency);
    s.ack_latency.Merge(st.ack);
    s.send_lag.Merge(st.lag);
    s.history.Merge(st.history);
    s.sent += st.sent;
    s.delivered += st.delivered;
    s.acked += st.acked;
    s.errors += st.errors;
    s.stale += st.stale;
    s.seq_duplicates += st.seq_dups;
    s.seq_gaps += st.seq_gaps;
    for (const auto& [k, v] : st.codes) s.error_codes[k] += v;
    s.lost += counts.lost;
    s.duplicated += counts.duplicated;
    result->churn.dropped += st.churned;
    result->churn.clean_closes += st.clean_closes;
    result->churn.resumed += st.resumed;
    result->churn.failed += st.reconnects_failed;
    s.reordered += counts.reordered;
    s.achieved_send_per_s += static_cast<double>(st.sent_window);
    s.delivered_per_s += static_cast<double>(st.delivered_window);
  });
  s.expected = expected;
  s.window_s = static_cast<double>(p.to_us - p.from_us) / 1e6;
  s.achieved_send_per_s /= s.window_s;
  s.delivered_per_s /= s.window_s;
  RunVerdictInput v;
  v.p99_ms = static_cast<double>(s.latency.Percentile(99)) / 1000.0;
  v.lost = s.lost;
  v.duplicated = s.duplicated;
  v.reordered = s.reordered;
  v.errors = s.errors;
  v.offered_per_s = s.offered_per_s;
  v.achieved_send_per_s = s.achieved_send_per_s;
  v.delivered = s.delivered;
  s.held = RunHeld(v, o_.p99_bound_ms);
  return s;
}

IntervalReport Runner::Report(int64_t start_us, int64_t since_us) {
  IntervalReport r;
  int64_t now = NowUs();
  double seconds = static_cast<double>(now - since_us) / 1e6;
  r.t_s = static_cast<double>(now - start_us) / 1e6;
  std::mutex mu;
  OnAll([&](ThreadCtx& t) {
    int connections = 0;
    int64_t missing = 0, duplicated = 0;
    for (auto& c : t.conns) {
      connections += c->ready() ? 1 : 0;
      for (const auto& st : c->streams()) {
        missing += st.missing();
        duplicated += st.counts().duplicated;
      }
    }
    ThreadStats& st = t.stats;
    std::lock_guard lock(mu);
    r.connections += connections;
    r.lost_so_far += missing;
    r.duplicated_so_far += duplicated;
    r.latency.Merge(st.interval_latency);
    r.sent += st.interval_sent;
    r.delivered += st.interval_delivered;
    r.churned += st.interval_churned;
    r.reconnects_failed_so_far += st.reconnects_failed;
    r.errors_so_far += st.errors;
    st.interval_latency.Reset();
    st.interval_sent = st.interval_delivered = st.interval_churned = 0;
  });
  double cpu = SelfCpuSeconds();
  if (seconds > 0) r.client_cpu_pct = 100.0 * (cpu - report_cpu_) / seconds;
  report_cpu_ = cpu;
  if (o_.server_pid > 0) {
    r.server_rss_kb = ProcRssKb(o_.server_pid);
    r.server_fds = ProcOpenFds(o_.server_pid);
    auto scpu = ProcCpuSeconds(o_.server_pid);
    if (scpu && report_server_cpu_ && seconds > 0)
      r.server_cpu_pct = 100.0 * (*scpu - *report_server_cpu_) / seconds;
    report_server_cpu_ = scpu;
  }
  return r;
}

void Runner::ReportUntil(int64_t start_us, int64_t until_us, BenchResult* result) {
  if (o_.report_every_s <= 0) return SleepUntilUs(until_us);
  const int64_t every = static_cast<int64_t>(o_.report_every_s * 1e6);
  if (next_report_us_ == 0) {
    next_report_us_ = start_us + every;
    last_report_us_ = start_us;
    if (!o_.report_csv.empty()) {
      report_csv_ = std::fopen(o_.report_csv.c_str(), "w");
      if (!report_csv_) {
        std::fprintf(stderr, "parley-bench: cannot write %s\n", o_.report_csv.c_str());
      } else {
        std::fputs(IntervalCsvHeader().c_str(), report_csv_);
        std::fflush(report_csv_);
      }
    }
  }
  while (next_report_us_ <= until_us) {
    SleepUntilUs(next_report_us_);
    IntervalReport r = Report(start_us, last_report_us_);
    last_report_us_ = NowUs();
    next_report_us_ += every;
    std::fprintf(stderr,
                 "parley-bench: t=%6.0fs rss %s kB fds %s conns %d sent %lld delivered %lld p50 %.2f ms p99 "
                 "%.2f ms lost %lld dup %lld churned %lld\n",
                 r.t_s, r.server_rss_kb ? std::to_string(*r.server_rss_kb).c_str() : "?",
                 r.server_fds ? std::to_string(*r.server_fds).c_str() : "?", r.connections,
                 static_cast<long long>(r.sent), static_cast<long long>(r.delivered),
                 static_cast<double>(r.latency.Percentile(50)) / 1000.0,
                 static_cast<double>(r.latency.Percentile(99)) / 1000.0,
                 static_cast<long long>(r.lost_so_far), static_cast<long long>(r.duplicated_so_far),
                 static_cast<long long>(r.churned));
    if (report_csv_) {
      std::fputs(IntervalCsvRow(r).c_str(), report_csv_);
      std::fflush(report_csv_);
    }
    result->intervals.push_back(std::move(r));
  }
  SleepUntilUs(until_us);
}

int Runner::Run(BenchResult* result) {
  int nthreads = o_.threads;
  for (int i = 0; i < nthreads; ++i) {
    auto t = std::make_unique<ThreadCtx>();
    t->max_connecting = std::max(1, o_.max_connecting / nthreads);
    threads_.push_back(std::move(t));
  }
  int total = shape_.connections();
  for (int i = 0; i < total; ++i) {
    ThreadCtx* t = threads_[i % nthreads].get();
    t->conns.push_back(std::make_unique<Conn>(this, t, i));
  }
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& t : threads_) {
    guards.push_back(asio::make_work_guard(t->ioc));
    ThreadCtx* tc = t.get();
    tc->thread = std::thread([tc] { tc->ioc.run(); });
  }
  // With churn, a connection that fails to open is retried like a dropped one.
  if (o_.churn_per_s > 0) churn_on_ = true;
  Connect(result);
  std::fprintf(stderr, "parley-bench: %d/%d connections ready in %.2f s (%d failed)\n", result->connect.ok,
               total, result->connect.seconds, result->connect.failed);
  if (o_.workload == Workload::kConnect) {
    // Hold the idle connections, then see how many are still open.
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(o_.duration_s * 1e6)));
    if (o_.server_pid > 0) result->connect.server_rss_after_kb = ProcRssKb(o_.server_pid);
    std::atomic<int> open{0};
    OnAll([&](ThreadCtx& t) {
      for (auto& c : t.conns) open += c->ready() ? 1 : 0;
      for (const auto& [k, v] : t.stats.codes) result->errors["hold: " + k] += v;
    });
    result->connect.still_open = open.load();
  } else if (result->connect.ok == 0) {
    result->fatal = "no connection could be opened";
  } else if (o_.find_max) {
    if (o_.server_pid > 0) result->connect.server_rss_after_kb = ProcRssKb(o_.server_pid);
    RateSearch search(o_.rate, 0.1, o_.max_steps);
    while (!search.Done()) {
      double rate = search.Current();
      StepResult s = RunStep(rate, false, result);
      std::fprintf(
          stderr,
          "parley-bench: step %.3f/s/sender offered %.0f/s delivered %.0f/s p99 %.2f ms lost %lld %s\n", rate,
          s.offered_per_s, s.delivered_per_s, s.latency.Percentile(99) / 1000.0,
          static_cast<long long>(s.lost), s.held ? "held" : "did not hold");
      search.Report(s.held);
      result->steps.push_back(std::move(s));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    for (size_t i = 0; i < result->steps.size(); ++i) {
      const auto& st = result->steps[i];
      if (st.held && (!result->best || st.offered_per_s > result->steps[*result->best].offered_per_s))
        result->best = i;
    }
  } else {
    if (o_.server_pid > 0) result->connect.server_rss_after_kb = ProcRssKb(o_.server_pid);
    result->steps.push_back(RunStep(o_.rate, o_.workload == Workload::kReconnect, result));
    if (result->steps.back().held) result->best = 0;
  }
  OnAll([](ThreadCtx& t) {
    for (auto& c : t.conns) c->Close();
  });
  guards.clear();
  for (auto& t : threads_) {
    t->ioc.stop();
    t->thread.join();
  }
  if (report_csv_) std::fclose(report_csv_);
  return 0;
}

}  // namespace

int RunBench(const Options& o, const auth::TokenSigner* signer, BenchResult* result) {
  int64_t t0 = NowUs();
  Plan plan;
  if (!BuildPlan(o, signer, &plan, &result->errors, &result->fatal)) return 1;
  result->setup_s = static_cast<double>(NowUs() - t0) / 1e6;
  std::fprintf(stderr, "parley-bench: setup of %d users, %zu conversations in %.2f s\n",
               plan.shape.connections(), plan.convs.size(), result->setup_s);
  Runner runner(o, std::move(plan));
  return runner.Run(result);
}

}  // namespace parley::loadgen
