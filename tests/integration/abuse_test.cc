// Abuse: what hostile or broken clients can do to one parleyd, and that the
// server stays up, answers them as the protocol says, keeps its memory and
// file descriptors bounded, and keeps serving everyone else. Every test
// measures the server's VmRSS (and open files) before and after, prints the
// figures, and bounds the growth.
//
// limits_test.cc holds the single-client limit checks (rate_limited, 4008,
// 4001, 1009, 4009); this suite complements them with many clients, clients
// that never read, raw malformed framing, bad UTF-8, deep JSON nesting,
// connection floods, and memory measurement.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

using Clock = std::chrono::steady_clock;

int64_t Ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

// ---- memory and files ---------------------------------------------------------------

// Samples the server's /proc figures from construction (the baseline) until
// Finish(), keeping the peak RSS, and prints both in one line.
class ServerWatch {
 public:
  ServerWatch(pid_t pid, std::string what) : pid_(pid), what_(std::move(what)) {
    before_ = ReadProcStats(pid_);
    peak_rss_kb_ = before_.rss_kb;
    sampler_ = std::thread([this] {
      while (!stop_.load()) {
        ProcStats s = ReadProcStats(pid_);
        {
          std::lock_guard lock(mu_);
          peak_rss_kb_ = std::max(peak_rss_kb_, s.rss_kb);
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  ~ServerWatch() { Stop(); }

  // Stops sampling, reads the final figures and prints them.
  void Finish() {
    Stop();
    after_ = ReadProcStats(pid_);
    std::lock_guard lock(mu_);
    peak_rss_kb_ = std::max(peak_rss_kb_, after_.rss_kb);
    std::printf(
        "[ memory   ] %s: VmRSS before %lld kB, peak %lld kB (+%lld), after %lld kB (+%lld); "
        "fds before %d, after %d; server cpu %.2f s\n",
        what_.c_str(), static_cast<long long>(before_.rss_kb), static_cast<long long>(peak_rss_kb_),
        static_cast<long long>(peak_rss_kb_ - before_.rss_kb), static_cast<long long>(after_.rss_kb),
        static_cast<long long>(after_.rss_kb - before_.rss_kb), before_.fds, after_.fds,
        after_.cpu_s - before_.cpu_s);
    std::fflush(stdout);
    ::testing::Test::RecordProperty("rss_before_kb", std::to_string(before_.rss_kb));
    ::testing::Test::RecordProperty("rss_peak_kb", std::to_string(peak_rss_kb_));
    ::testing::Test::RecordProperty("rss_after_kb", std::to_string(after_.rss_kb));
  }

  const ProcStats& before() const { return before_; }
  const ProcStats& after() const { return after_; }
  int64_t growth_kb() const { return after_.rss_kb - before_.rss_kb; }
  int64_t peak_growth_kb() const { return peak_rss_kb_ - before_.rss_kb; }

 private:
  void Stop() {
    if (sampler_.joinable()) {
      stop_ = true;
      sampler_.join();
    }
  }

  pid_t pid_;
  std::string what_;
  ProcStats before_, after_;
  std::mutex mu_;
  int64_t peak_rss_kb_ = 0;
  std::atomic<bool> stop_{false};
  std::thread sampler_;
};

// Waits until the server holds at most `fds` open files (closed connections
// are released asynchronously); the last count read.
int WaitFdsAtMost(pid_t pid, int fds, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int now = ReadProcStats(pid).fds;
  while (now > fds && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    now = ReadProcStats(pid).fds;
  }
  return now;
}

// ---- a raw WebSocket client ----------------------------------------------------------

// A WebSocket over a plain POSIX socket that writes exactly the bytes it is
// given (parley_client would refuse to send malformed frames) and reads the
// server's frames only when asked (so it can play a client that never reads).
class RawWs {
 public:
  struct ServerFrame {
    uint8_t opcode = 0;
    std::string payload;
  };

  RawWs() = default;
  RawWs(const RawWs&) = delete;
  RawWs& operator=(const RawWs&) = delete;
  ~RawWs() { Reset(); }

  // TCP connect to 127.0.0.1:port; a small receive buffer when rcvbuf > 0.
  bool Connect(uint16_t port, int rcvbuf = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    return connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }

  // The opening handshake; true on `101`.
  bool Upgrade(std::chrono::milliseconds timeout = 5s) {
    if (!WriteAll("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
      return false;
    std::string head = ReadHttpHead(timeout);
    return head.rfind("HTTP/1.1 101", 0) == 0;
  }

  // Upgrade, hello, and the welcome answer.
  bool OpenAs(uint16_t port, const std::string& token, int rcvbuf = 0) {
    if (!Connect(port, rcvbuf) || !Upgrade()) return false;
    if (!WriteAll(Text(json::serialize(json::object{{"id", 1}, {"type", "hello"}, {"token", token}}))))
      return false;
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      auto f = ReadFrame(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!f) return false;
      if (f->opcode == 0x1 && f->payload.find("\"welcome\"") != std::string::npos) return true;
    }
    return false;
  }

  // The bytes of one client frame. `first` is the first header byte (FIN,
  // RSV1-3, opcode); `announced` overrides the payload length in the header.
  static std::string Frame(uint8_t first, std::string_view payload, bool masked = true,
                           std::optional<uint64_t> announced = std::nullopt) {
    uint64_t len = announced.value_or(payload.size());
    std::string f;
    f += static_cast<char>(first);
    uint8_t mask_bit = masked ? 0x80 : 0x00;
    if (len < 126) {
      f += static_cast<char>(mask_bit | len);
    } else if (len <= 0xFFFF) {
      f += static_cast<char>(mask_bit | 126);
      f += static_cast<char>((len >> 8) & 0xFF);
      f += static_cast<char>(len & 0xFF);
    } else {
      f += static_cast<char>(mask_bit | 127);
      for (int i = 7; i >= 0; --i) f += static_cast<char>((len >> (8 * i)) & 0xFF);
    }
    if (!masked) return f.append(payload);
    const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    f.append(reinterpret_cast<const char*>(key), 4);
    for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ key[i % 4]);
    return f;
  }
  static std::string Text(std::string_view payload) { return Frame(0x81, payload); }

  bool WriteAll(std::string_view s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Writes what the socket takes without blocking; the bytes written (-1
  // once the connection is gone).
  ssize_t WriteSome(std::string_view s) {
    ssize_t n = send(fd_, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return n;
  }

  // The next server frame; nullopt on timeout or at the end of the stream
  // (then eof() is true).
  std::optional<ServerFrame> ReadFrame(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      if (auto f = TakeFrame()) return f;
      if (eof_) return std::nullopt;
      auto left = Ms(deadline - Clock::now());
      if (left < 0) return std::nullopt;
      if (!Fill(static_cast<int>(std::min<int64_t>(left, 100)))) continue;
    }
  }

  // Reads (discarding data frames) until the server's close frame; its code,
  // 0 when the stream ended without one, -1 on timeout.
  int WaitClose(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto f = ReadFrame(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!f) {
        if (eof_) return 0;
        continue;
      }
      if (f->opcode == 0x8) {
        if (f->payload.size() < 2) return 1005;
        return (static_cast<uint8_t>(f->payload[0]) << 8) | static_cast<uint8_t>(f->payload[1]);
      }
    }
    return -1;
  }

  // Reads and discards until the server ends the stream; false on timeout.
  bool WaitEof(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (!eof_ && Clock::now() < deadline) {
      in_.clear();
      Fill(100);
    }
    return eof_;
  }

  // The first `n` bytes of what was read and not yet parsed (an HTTP answer).
  const std::string& unparsed() const { return in_; }
  std::string ReadHttpHead(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (in_.find("\r\n\r\n") == std::string::npos && !eof_ && Clock::now() < deadline) Fill(100);
    auto end = in_.find("\r\n\r\n");
    if (end == std::string::npos) return in_;
    std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    return head;
  }
  // Everything until the server closes (an HTTP body after the head).
  std::string ReadToEof(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (!eof_ && Clock::now() < deadline) Fill(100);
    return in_;
  }

  bool eof() const { return eof_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    in_.clear();
    eof_ = false;
  }

 private:
  // One poll + read; false when nothing came.
  bool Fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[65536];
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  std::optional<ServerFrame> TakeFrame() {
    if (in_.size() < 2) return std::nullopt;
    const auto* p = reinterpret_cast<const uint8_t*>(in_.data());
    uint64_t len = p[1] & 0x7F;
    size_t header = 2;
    if (len == 126) {
      if (in_.size() < 4) return std::nullopt;
      len = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (in_.size() < 10) return std::nullopt;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      header = 10;
    }
    if (in_.size() < header + len) return std::nullopt;
    ServerFrame f{static_cast<uint8_t>(p[0] & 0x0F), in_.substr(header, static_cast<size_t>(len))};
    in_.erase(0, header + static_cast<size_t>(len));
    return f;
  }

  int fd_ = -1;
  std::string in_;
  bool eof_ = false;
};

// ---- helpers --------------------------------------------------------------------------

json::object SendFrame(int64_t id, const std::string& conv, const std::string& cmid,
                       const std::string& body = "") {
  return {{"id", id},
          {"type", "send"},
          {"conv", conv},
          {"client_msg_id", cmid},
          {"body", body.empty() ? "b " + cmid : body}};
}

// One message from `from` reaches `to` (a `message` event with its body);
// the time it took, or nullopt (failure recorded).
std::optional<int64_t> ExchangeMs(WsClient& from, WsClient& to, const std::string& conv,
                                  const std::string& tag) {
  static std::atomic<int> n{0};
  std::string body = "probe " + tag + " " + std::to_string(n++);
  auto start = Clock::now();
  auto sent = from.Request(
      {{"type", "send"}, {"conv", conv}, {"client_msg_id", "probe-" + body}, {"body", body}}, 10s);
  if (!sent || !FieldIs(*sent, "type", "sent")) {
    ADD_FAILURE() << tag << ": probe not sent: " << Dump(sent) << " " << from.last_error();
    return std::nullopt;
  }
  auto got = to.WaitFor(
      [&](const json::object& o) { return FieldIs(o, "type", "message") && FieldIs(o, "body", body); }, 10s);
  if (!got) {
    ADD_FAILURE() << tag << ": probe not delivered (" << to.last_error() << ")";
    return std::nullopt;
  }
  to.ClearEvents();
  return Ms(Clock::now() - start);
}

// The answer to the last request, or an error without `re` (the answer to a
// frame whose id could not be read), skipping events such as presence.
std::optional<json::object> NextAnswer(WsClient& ws, std::chrono::milliseconds timeout = 5s) {
  return ws.WaitFor([](const json::object& o) { return o.contains("re") || FieldIs(o, "type", "error"); },
                    timeout);
}

// ==== send floods ========================================================================

class AbuseSendFloodTest : public ServerTest {
 protected:
  // Tolerance: 20/s x 10 = 200 sends per second per connection.
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "20", "--limits.send_burst", "40"};
  }
};

TEST_F(AbuseSendFloodTest, ManyFloodersAreRateLimitedThenClosed4008WhileOthersAreServed) {
  Session bystander = NewUser("by");
  Session friend_ = NewUser("fr");
  constexpr int kFlooders = 4;
  std::vector<Session> flooders;
  std::vector<std::string> names = {friend_.username};
  for (int i = 0; i < kFlooders; ++i) {
    flooders.push_back(NewUser("fl"));
    names.push_back(flooders.back().username);
  }
  std::string g = CreateGroup(bystander, "flooded", names);
  auto b = Open(bystander), f = Open(friend_);
  ASSERT_TRUE(b && f);
  ASSERT_TRUE(ExchangeMs(*b, *f, g, "warm-up"));
  std::vector<std::unique_ptr<WsClient>> ws;
  for (auto& s : flooders) {
    ws.push_back(Open(s));
    ASSERT_TRUE(ws.back());
  }
  ServerWatch watch(server().pid(), "4 flooders at 400 sends/s each");

  // Each flooder sends 4 frames every 10 ms (400/s, twice the tolerance and
  // 20 times the rate) for up to 8 s, without waiting for answers; the
  // bystander and a friend keep talking in the same group meanwhile.
  std::vector<int64_t> probe_ms;
  auto start = Clock::now();
  int64_t id = 10;
  auto next_probe = start;
  while (Clock::now() - start < 8s) {
    bool any_open = false;
    for (int i = 0; i < kFlooders; ++i) {
      if (!ws[i]->is_open()) continue;
      any_open = true;
      for (int k = 0; k < 4; ++k) {
        ws[i]->SendJson(SendFrame(id, g, "f" + std::to_string(i) + "-" + std::to_string(id)));
        ++id;
      }
    }
    if (Clock::now() >= next_probe) {
      if (auto ms = ExchangeMs(*b, *f, g, "during flood")) probe_ms.push_back(*ms);
      next_probe = Clock::now() + 500ms;
    }
    if (!any_open) break;
    std::this_thread::sleep_for(10ms);
  }
  for (int i = 0; i < kFlooders; ++i) {
    ASSERT_TRUE(ws[i]->WaitClosed(5s)) << "flooder " << i << " still open";
    EXPECT_EQ(ws[i]->close_code(), kCloseRateLimited) << "flooder " << i << ": " << ws[i]->last_error();
    // Before the close, the flooder was told: rate_limited with retry_after_ms.
    int limited = 0, sent = 0;
    bool retry_ok = true;
    while (auto frame = ws[i]->Receive(0ms)) {
      if (FieldIs(*frame, "type", "sent")) ++sent;
      if (FieldIs(*frame, "code", "rate_limited")) {
        ++limited;
        auto retry = GetInt(*frame, "retry_after_ms");
        retry_ok = retry_ok && retry && *retry > 0 && *retry <= 1000;
      }
    }
    EXPECT_GT(limited, 0) << "flooder " << i;
    EXPECT_TRUE(retry_ok) << "flooder " << i << ": rate_limited without a sane retry_after_ms";
    EXPECT_GE(sent, 30) << "the burst is accepted";
    std::printf("[ flood    ] flooder %d: %d sent, %d rate_limited, closed %d\n", i, sent, limited,
                ws[i]->close_code().value_or(-1));
  }
  EXPECT_LT(Ms(Clock::now() - start), 8000) << "the flooders were not closed in time";
  // Everyone else: still talking, promptly.
  for (int i = 0; i < 5; ++i) {
    if (auto ms = ExchangeMs(*b, *f, g, "after flood")) probe_ms.push_back(*ms);
  }
  ASSERT_FALSE(probe_ms.empty());
  std::sort(probe_ms.begin(), probe_ms.end());
  std::printf("[ flood    ] bystander round trips: %zu, median %lld ms, max %lld ms\n", probe_ms.size(),
              static_cast<long long>(probe_ms[probe_ms.size() / 2]), static_cast<long long>(probe_ms.back()));
  EXPECT_LT(probe_ms.back(), 1000) << "a bystander waited over a second during the flood";
  // The flooders can come back (their budget refilled).
  ws.clear();
  std::this_thread::sleep_for(2500ms);
  auto again = Open(flooders[0]);
  ASSERT_TRUE(again);
  auto ok = again->Request(SendFrame(99, g, "back-again"));
  EXPECT_TRUE(ok && FieldIs(*ok, "type", "sent")) << Dump(ok);
  watch.Finish();
  EXPECT_LT(watch.peak_growth_kb(), 24 * 1024);
}

TEST_F(AbuseSendFloodTest, FlooderThatNeverReadsIsClosedAndCostsBoundedMemory) {
  Session a = NewUser("nr");
  Session other = NewUser("nr");
  std::string g = CreateGroup(a, "t", {other.username});
  auto o = Open(other), o2 = Open(other);
  ASSERT_TRUE(o && o2);
  RawWs flooder;
  ASSERT_TRUE(flooder.OpenAs(server().port(), a.access_token, 4096));
  ServerWatch watch(server().pid(), "a flooder that never reads");
  // ~5,000 sends a second, never reading an answer, for up to 10 s: the
  // answers (mostly rate_limited) pile up on the server's side.
  auto start = Clock::now();
  int64_t written = 0;
  bool gone = false;
  std::string batch;
  for (int64_t i = 0; Clock::now() - start < 10s && !gone; ++i) {
    batch.clear();
    for (int k = 0; k < 50; ++k) {
      batch += RawWs::Text(json::serialize(SendFrame(i * 50 + k + 2, g, "nr-" + std::to_string(i * 50 + k))));
    }
    size_t off = 0;
    auto batch_deadline = Clock::now() + 500ms;
    while (off < batch.size() && Clock::now() < batch_deadline) {
      ssize_t n = flooder.WriteSome(std::string_view(batch).substr(off));
      if (n < 0) {
        gone = true;
        break;
      }
      off += static_cast<size_t>(n);
      if (n == 0) std::this_thread::sleep_for(1ms);
    }
    written += static_cast<int64_t>(off);
    std::this_thread::sleep_for(10ms);
  }
  auto took = Clock::now() - start;
  // Now read: the server has closed (4008 for the flood, or 4009 when its
  // answers outgrew the queue), or drops the stream.
  int code = flooder.WaitClose(15s);
  bool eof = flooder.WaitEof(10s);
  std::printf("[ flood    ] never-reading flooder: %lld bytes written in %lld ms, close code %d, eof %d\n",
              static_cast<long long>(written), static_cast<long long>(Ms(took)), code, eof ? 1 : 0);
  EXPECT_TRUE(code == kCloseRateLimited || code == kCloseSlowReader || code == 0) << "close code " << code;
  EXPECT_TRUE(eof) << "the server kept the flooder's connection";
  // The other user kept both connections and still talks.
  EXPECT_TRUE(o->is_open() && o2->is_open());
  auto ms = ExchangeMs(*o, *o2, g, "after never-reading flood");
  ASSERT_TRUE(ms);
  EXPECT_LT(*ms, 1000);
  watch.Finish();
  EXPECT_LT(watch.peak_growth_kb(), 32 * 1024);
}

// Requests other than send are not rate limited; their store work goes to
// the worker pool. A client pipelining tens of thousands of them must not
// take the server from everyone else.
TEST_F(AbuseSendFloodTest, PipelinedHistoryFloodDoesNotStarveOtherUsers) {
  Session a = NewUser("hf");
  Session b = NewUser("hf");
  Session c = NewUser("hf");
  std::string g = CreateGroup(a, "history flood", {b.username, c.username});
  auto aw = Open(a);
  ASSERT_TRUE(aw);
  SendMany(*aw, g, 40, "seed", 20s, std::string(200, 'h'));
  auto bw = Open(b);
  ASSERT_TRUE(bw);
  ServerWatch watch(server().pid(), "40,000 pipelined history requests");
  RawWs flooder;
  ASSERT_TRUE(flooder.OpenAs(server().port(), a.access_token, 4096));
  std::string burst;
  for (int i = 0; i < 40000; ++i) {
    burst += RawWs::Text(
        json::serialize(json::object{{"id", i + 2}, {"type", "history"}, {"conv", g}, {"limit", 50}}));
  }
  std::atomic<bool> done{false};
  std::thread writer([&] {
    size_t off = 0;
    auto deadline = Clock::now() + 20s;
    while (off < burst.size() && Clock::now() < deadline) {
      ssize_t n = flooder.WriteSome(std::string_view(burst).substr(off));
      if (n < 0) break;
      off += static_cast<size_t>(n);
      if (n == 0) std::this_thread::sleep_for(1ms);
    }
    done = true;
  });
  std::this_thread::sleep_for(300ms);
  // Meanwhile: another member's history and a fresh connection's hello.
  std::vector<int64_t> history_ms, hello_ms;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    auto h = bw->Request({{"type", "history"}, {"conv", g}, {"limit", 5}}, 30s);
    history_ms.push_back(Ms(Clock::now() - t0));
    EXPECT_TRUE(h && FieldIs(*h, "type", "history")) << Dump(h);
    t0 = Clock::now();
    auto cw = std::make_unique<WsClient>();
    ASSERT_TRUE(cw->Connect(server().host(), server().port()).ok());
    auto welcome = cw->Hello(c.access_token, nullptr, 30s);
    hello_ms.push_back(Ms(Clock::now() - t0));
    EXPECT_TRUE(welcome && FieldIs(*welcome, "type", "welcome")) << Dump(welcome);
    std::this_thread::sleep_for(200ms);
  }
  writer.join();
  int code = flooder.WaitClose(30s);
  std::printf("[ flood    ] history flood: flooder close code %d; other member's history ms:", code);
  for (auto v : history_ms) std::printf(" %lld", static_cast<long long>(v));
  std::printf("; fresh hello ms:");
  for (auto v : hello_ms) std::printf(" %lld", static_cast<long long>(v));
  std::printf("\n");
  EXPECT_LT(*std::max_element(history_ms.begin(), history_ms.end()), 1000)
      << "another user's history waited behind the flood";
  EXPECT_LT(*std::max_element(hello_ms.begin(), hello_ms.end()), 1000)
      << "a new connection's hello waited behind the flood";
  watch.Finish();
  EXPECT_LT(watch.peak_growth_kb(), 48 * 1024);
}

// ==== slow readers =======================================================================

class AbuseSlowReaderTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.max_queue_bytes", "2097152", "--limits.max_body_bytes", "32768",
            "--limits.send_rate_per_s", "100000",  "--limits.send_burst",     "100000"};
  }
};

// A healthy member on its own thread: receives every `message` event of the
// conversation and measures how long each took from its send time (stamped
// in the body as "t=<microseconds since the steady clock's epoch>;").
class TimedReader {
 public:
  explicit TimedReader(std::unique_ptr<WsClient> ws) : ws_(std::move(ws)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~TimedReader() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits until `n` messages arrived or the timeout passed.
  bool WaitFor(int n, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (received_.load() < n && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
    return received_.load() >= n;
  }
  int received() const { return received_.load(); }
  bool in_order() const { return in_order_.load(); }
  bool open() const { return ws_->is_open(); }
  std::vector<int64_t> latencies_ms() {
    std::lock_guard lock(mu_);
    auto v = latencies_;
    std::sort(v.begin(), v.end());
    return v;
  }

 private:
  void Run() {
    int64_t last_seq = 0;
    while (!stop_) {
      auto frame = ws_->Receive(50ms);
      if (!frame || !FieldIs(*frame, "type", "message")) continue;
      auto body = GetString(*frame, "body");
      auto seq = GetInt(*frame, "seq").value_or(-1);
      if (seq != last_seq + 1) in_order_ = false;
      last_seq = seq;
      if (body.rfind("t=", 0) == 0) {
        int64_t sent_us = std::strtoll(body.c_str() + 2, nullptr, 10);
        int64_t now_us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
        std::lock_guard lock(mu_);
        latencies_.push_back((now_us - sent_us) / 1000);
      }
      ++received_;
    }
  }

  std::unique_ptr<WsClient> ws_;
  std::atomic<bool> stop_{false};
  std::atomic<int> received_{0};
  std::atomic<bool> in_order_{true};
  std::mutex mu_;
  std::vector<int64_t> latencies_;
  std::thread thread_;
};

TEST_F(AbuseSlowReaderTest, StalledReadersAreDroppedMemoryStaysBoundedAndOthersKeepUp) {
  constexpr int kStalled = 3;
  constexpr int kMessages = 1600;  // 1600 x 32 KB = 50 MB toward each stalled reader
  constexpr size_t kBody = 32000;
  Session sender = NewUser("sr");
  Session healthy1 = NewUser("sr"), healthy2 = NewUser("sr");
  std::vector<Session> slow;
  std::vector<std::string> names = {healthy1.username, healthy2.username};
  for (int i = 0; i < kStalled; ++i) {
    slow.push_back(NewUser("slow"));
    names.push_back(slow.back().username);
  }
  std::string g = CreateGroup(sender, "slow readers", names);
  auto sw = Open(sender);
  ASSERT_TRUE(sw);
  TimedReader r1(Open(healthy1)), r2(Open(healthy2));
  // First the same traffic without stalled readers: the store, the log, the
  // fan-out and the allocator's arenas reach their working size for it, so
  // what the baseline below sees grow is what the stalled readers cost.
  for (int round = 0; round < kMessages / 10 && !HasFailure(); ++round) {
    SendMany(*sw, g, 10, "w" + std::to_string(round), 20s, "w;" + std::string(kBody, 'w'));
    sw->ClearEvents();
  }
  ASSERT_TRUE(r1.WaitFor(kMessages, 20s) && r2.WaitFor(kMessages, 20s));
  std::vector<std::unique_ptr<RawWs>> stalled;
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(std::make_unique<RawWs>());
    ASSERT_TRUE(stalled.back()->OpenAs(server().port(), slow[i].access_token, 4096)) << i;
  }
  ServerWatch watch(server().pid(), "3 stalled readers, 50 MB of fan-out toward each");
  auto start = Clock::now();
  for (int round = 0; round < kMessages / 10 && !HasFailure(); ++round) {
    int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
    std::string body = "t=" + std::to_string(now_us) + ";";
    body.resize(kBody, 's');
    SendMany(*sw, g, 10, "s" + std::to_string(round), 20s, body);
    sw->ClearEvents();
  }
  auto flood_ms = Ms(Clock::now() - start);
  EXPECT_TRUE(r1.WaitFor(2 * kMessages, 20s)) << r1.received();
  EXPECT_TRUE(r2.WaitFor(2 * kMessages, 20s)) << r2.received();
  // The stalled readers were dropped: closed with 4009 when the close frame
  // fits, otherwise the connection is cut after the 5 s close deadline.
  for (int i = 0; i < kStalled; ++i) {
    EXPECT_TRUE(stalled[i]->WaitEof(15s)) << "stalled reader " << i << " still connected";
  }
  watch.Finish();
  for (TimedReader* r : {&r1, &r2}) {
    auto lat = r->latencies_ms();
    ASSERT_FALSE(lat.empty());
    int64_t p50 = lat[lat.size() / 2], p99 = lat[lat.size() * 99 / 100], max = lat.back();
    std::printf(
        "[ slow     ] healthy reader: %d messages in order=%d, latency p50 %lld ms p99 %lld ms max %lld ms\n",
        r->received(), r->in_order() ? 1 : 0, static_cast<long long>(p50), static_cast<long long>(p99),
        static_cast<long long>(max));
    EXPECT_TRUE(r->in_order());
    EXPECT_TRUE(r->open());
    EXPECT_LT(p99, 500) << "a healthy member fell behind because of the stalled ones";
  }
  std::printf("[ slow     ] %d messages of %zu bytes sent in %lld ms\n", kMessages, kBody,
              static_cast<long long>(flood_ms));
  // Unbounded queues would hold ~50 MB more (the frames are shared between
  // the three); the bound is 2 MiB queued plus one gathered write (at most
  // 512 KiB) per connection.
  EXPECT_LT(watch.peak_growth_kb(), 3 * 2560 + 8 * 1024);
  EXPECT_LT(watch.growth_kb(), 3 * 2560 + 8 * 1024);
  r1.Stop();
  r2.Stop();
}

// ==== connection floods ==================================================================

class AbuseConnectionFloodTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override { return {"--limits.max_connections", "30"}; }
};

TEST_F(AbuseConnectionFloodTest, FloodPastMaxConnectionsIsRefused503AndExistingUsersKeepTalking) {
  Session a = NewUser("cf"), b = NewUser("cf");
  std::string g = CreateGroup(a, "t", {b.username});
  auto aw = Open(a), bw = Open(b);
  ASSERT_TRUE(aw && bw);
  // Fill up to the limit: aw, bw and 28 more idle WebSockets of b (the
  // fixture's HTTP connection is closed first).
  http().Disconnect();
  std::vector<std::unique_ptr<WsClient>> held;
  for (int i = 0; i < 28; ++i) {
    held.push_back(Open(b));
    ASSERT_TRUE(held.back()) << i;
  }
  std::this_thread::sleep_for(200ms);  // the server has dropped the HTTP connection
  ServerWatch watch(server().pid(), "300 connections past max_connections");
  // 200 upgrade requests and 100 plain HTTP requests past the limit: each is
  // answered 503 unavailable and closed.
  int refused = 0, other = 0;
  std::string example;
  for (int i = 0; i < 300; ++i) {
    RawWs c;
    ASSERT_TRUE(c.Connect(server().port()));
    if (i % 3 == 2) {
      c.WriteAll("GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    } else {
      c.WriteAll(
          "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    }
    std::string all = c.ReadToEof(5s);
    bool ok503 = all.rfind("HTTP/1.1 503", 0) == 0 && all.find("\"unavailable\"") != std::string::npos;
    refused += ok503;
    if (!ok503) {
      ++other;
      if (example.empty()) example = all.substr(0, 200);
    }
    EXPECT_TRUE(c.eof()) << "an over-limit connection was kept open";
  }
  EXPECT_EQ(refused, 300) << "not refused cleanly: " << other << ", e.g. " << example;
  // 200 idle connections past the limit held open while the users talk.
  std::vector<std::unique_ptr<RawWs>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<RawWs>());
    ASSERT_TRUE(idle.back()->Connect(server().port()));
  }
  for (int i = 0; i < 5; ++i) {
    auto ms = ExchangeMs(*aw, *bw, g, "while flooded");
    ASSERT_TRUE(ms);
    EXPECT_LT(*ms, 1000);
  }
  // The idle ones are refused too once they speak.
  for (int i = 0; i < 200; i += 20) {
    idle[i]->WriteAll("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(idle[i]->ReadHttpHead(5s).rfind("HTTP/1.1 503", 0), 0u) << i;
  }
  int fds_flooded = ReadProcStats(server().pid()).fds;
  idle.clear();
  // Room again once connections go: a new user gets in.
  held.resize(20);
  std::this_thread::sleep_for(300ms);
  Session c = NewUser("cf");
  auto cw = Open(c);
  EXPECT_TRUE(cw) << "no connection accepted after the flood left";
  int fds_after = WaitFdsAtMost(server().pid(), watch.before().fds + 2, 10s);
  watch.Finish();
  std::printf("[ conns    ] refused %d of 300 with 503; fds with 200 idle over the limit %d, after %d\n",
              refused, fds_flooded, fds_after);
  EXPECT_LE(fds_after, watch.before().fds + 2) << "file descriptors not released";
  EXPECT_LT(watch.peak_growth_kb(), 16 * 1024);
}

// The process runs out of file descriptors (its limit is far below
// limits.max_connections): the acceptor must neither spin nor flood the
// log, and the users already connected must keep talking.
class AbuseFdExhaustionTest : public ServerTest {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ParleydProcess>(ExtraFlags());
    server_->set_fd_limit(128);
    ASSERT_TRUE(server_->Start()) << server_->error() << "\n" << server_->LogTail();
    Reconnect();
  }
};

TEST_F(AbuseFdExhaustionTest, RunningOutOfFilesDoesNotSpinAndExistingUsersKeepTalking) {
  Session a = NewUser("fd"), b = NewUser("fd");
  std::string g = CreateGroup(a, "t", {b.username});
  auto aw = Open(a), bw = Open(b);
  ASSERT_TRUE(aw && bw);
  ASSERT_TRUE(ExchangeMs(*aw, *bw, g, "before"));
  std::string log_path = server().data_dir() + "/parleyd.log";
  auto log_size = [&] {
    std::error_code ec;
    auto n = std::filesystem::file_size(log_path, ec);
    return ec ? int64_t{0} : static_cast<int64_t>(n);
  };
  ServerWatch watch(server().pid(), "connections past the process's file limit (128)");
  int64_t log_before = log_size();
  // 200 connections: the server runs out of descriptors part way; the rest
  // wait in the listen backlog.
  std::vector<std::unique_ptr<RawWs>> flood;
  for (int i = 0; i < 200; ++i) {
    flood.push_back(std::make_unique<RawWs>());
    ASSERT_TRUE(flood.back()->Connect(server().port())) << i;
  }
  ProcStats s0 = ReadProcStats(server().pid());
  std::this_thread::sleep_for(2s);
  ProcStats s1 = ReadProcStats(server().pid());
  double cpu_share = (s1.cpu_s - s0.cpu_s) / 2.0;
  int64_t log_growth = log_size() - log_before;
  std::printf("[ fds      ] out of files for 2 s: server fds %d, cpu %.0f%% of a core, log +%lld bytes\n",
              s1.fds, cpu_share * 100, static_cast<long long>(log_growth));
  // Talking still works while the process is out of files.
  auto ms = ExchangeMs(*aw, *bw, g, "out of files");
  EXPECT_TRUE(ms && *ms < 1000);
  EXPECT_LT(cpu_share, 0.5) << "the server spins while out of file descriptors";
  EXPECT_LT(log_growth, 256 * 1024) << "the server floods its log while out of file descriptors";
  if (log_growth > 1024 * 1024) {
    // Keep the evidence small: the log's head, a note, and its tail.
    std::string tail = server().LogTail(20);
    std::ifstream in(log_path);
    std::string head, line;
    for (int i = 0; i < 20 && std::getline(in, line); ++i) head += line + "\n";
    in.close();
    std::ofstream(log_path, std::ios::trunc)
        << head << "=== abuse_test: " << log_growth << " bytes of log written while out of files, cut here\n"
        << tail;
  }
  // The flood leaves; new connections are served again.
  flood.clear();
  std::this_thread::sleep_for(500ms);
  Session c = NewUser("fd");
  auto cw = Open(c);
  EXPECT_TRUE(cw) << "no connection accepted once descriptors were free again";
  watch.Finish();
  EXPECT_LT(watch.peak_growth_kb(), 16 * 1024);
}

// ==== framing ============================================================================

class AbuseFrameTest : public ServerTest {
 protected:
  // A short heartbeat, so a connection stuck mid-frame is dropped quickly.
  std::vector<std::string> ExtraFlags() const override { return {"--limits.heartbeat_ms", "1000"}; }

  // After the bad frames: the bystanders still talk within a second, no
  // descriptor is left behind, and memory grew less than 16 MiB at the peak
  // and 8 MiB at the end.
  void ExpectNoHarmDone(ServerWatch& watch, WsClient& a, WsClient& b, const std::string& conv,
                        const char* label) {
    auto ms = ExchangeMs(a, b, conv, label);
    EXPECT_TRUE(ms && *ms < 1000);
    int fds = WaitFdsAtMost(server().pid(), watch.before().fds + 1, 10s);
    watch.Finish();
    EXPECT_LE(fds, watch.before().fds + 1) << "connections leaked";
    EXPECT_LT(watch.peak_growth_kb(), 16 * 1024);
    EXPECT_LT(watch.growth_kb(), 8 * 1024);
  }
};

TEST_F(AbuseFrameTest, OversizedFramesClose1009WithoutBufferingThem) {
  Session a = NewUser("ov");
  Session b = NewUser("ov");
  std::string g = CreateGroup(a, "t", {b.username});
  auto aw = Open(a), bw = Open(b);
  ASSERT_TRUE(aw && bw);
  ServerWatch watch(server().pid(), "oversized frames x 200 connections");
  struct Case {
    const char* name;
    std::function<std::string()> bytes;
    bool answer_close;  // the frame was sent whole: the server reads our close after it
  };
  const std::vector<Case> cases = {
      // A header announcing 2^40 bytes, and 1 KB of it: refused at the header.
      // (The server would skip 2^40 bytes before reading a close: we hang up.)
      {"2^40-byte text frame header",
       [] { return RawWs::Frame(0x81, std::string(1024, 'x'), true, uint64_t{1} << 40); }, false},
      // Just over 64 KiB, sent in full.
      {"64 KiB + 1 text frame", [] { return RawWs::Frame(0x81, std::string(65537, 'x')); }, true},
      // Fragments of 40 KB each: the message is over the limit from the 2nd.
      {"fragmented message over the limit",
       [] {
         return RawWs::Frame(0x01, std::string(40000, 'x')) + RawWs::Frame(0x00, std::string(40000, 'x')) +
                RawWs::Frame(0x80, std::string(40000, 'x'));
       },
       true},
      // A binary frame over the limit.
      {"oversized binary frame", [] { return RawWs::Frame(0x82, std::string(70000, 'x')); }, true},
  };
  for (int round = 0; round < 50; ++round) {
    for (const auto& c : cases) {
      RawWs ws;
      ASSERT_TRUE(ws.OpenAs(server().port(), a.access_token)) << c.name;
      ws.WriteAll(c.bytes());
      int code = ws.WaitClose(5s);
      ASSERT_EQ(code, kCloseTooBig) << c.name;
      if (c.answer_close) {
        // The server answered with its close and now waits for ours.
        ws.WriteAll(RawWs::Frame(0x88, std::string("\x03\xf1", 2)));
        ASSERT_TRUE(ws.WaitEof(3s)) << c.name << ": not dropped after the close handshake";
      }
    }
  }
  // A frame just within the limit still passes.
  RawWs fits;
  ASSERT_TRUE(fits.OpenAs(server().port(), a.access_token));
  std::string big_ping = R"({"id":8,"type":"ping","pad":")" + std::string(65400, 'p') + R"("})";
  ASSERT_LE(big_ping.size(), 65536u);
  fits.WriteAll(RawWs::Text(big_ping));
  std::optional<RawWs::ServerFrame> pong;
  auto pong_deadline = Clock::now() + 5s;
  while (Clock::now() < pong_deadline) {  // skip presence events
    pong = fits.ReadFrame(1s);
    if (pong && pong->payload.find("\"re\":8") != std::string::npos) break;
  }
  ASSERT_TRUE(pong);
  EXPECT_NE(pong->payload.find("\"pong\""), std::string::npos) << pong->payload;
  ExpectNoHarmDone(watch, *aw, *bw, g, "after oversized frames");
}

TEST_F(AbuseFrameTest, MalformedFramesClose1002AndLeakNothing) {
  Session a = NewUser("mf");
  Session b = NewUser("mf");
  std::string g = CreateGroup(a, "t", {b.username});
  auto aw = Open(a), bw = Open(b);
  ASSERT_TRUE(aw && bw);
  const std::string ping = R"({"id":3,"type":"ping"})";
  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"unmasked text frame", RawWs::Frame(0x81, ping, false)},
      {"RSV1 set", RawWs::Frame(0xC1, ping)},
      {"RSV2 set", RawWs::Frame(0xA1, ping)},
      {"RSV3 set", RawWs::Frame(0x91, ping)},
      {"reserved data opcode 0x3", RawWs::Frame(0x83, ping)},
      {"reserved data opcode 0x7", RawWs::Frame(0x87, ping)},
      {"reserved control opcode 0xB", RawWs::Frame(0x8B, "x")},
      {"reserved control opcode 0xF", RawWs::Frame(0x8F, "")},
      {"fragmented ping", RawWs::Frame(0x09, "half") + RawWs::Frame(0x80, "half")},
      {"fragmented close", RawWs::Frame(0x08, std::string("\x03\xe8", 2))},
      {"ping over 125 bytes", RawWs::Frame(0x89, std::string(126, 'p'))},
      {"continuation without a start", RawWs::Frame(0x80, ping)},
      {"new message inside a fragmented one", RawWs::Frame(0x01, "{\"id\":") + RawWs::Frame(0x81, ping)},
      {"64-bit length with the top bit set", RawWs::Frame(0x81, "", true, uint64_t{1} << 63)},
  };
  ServerWatch watch(server().pid(), "malformed frames x 560 connections");
  for (int round = 0; round < 20; ++round) {
    for (const auto& c : cases) {
      for (bool authed : {true, false}) {
        RawWs ws;
        if (authed) {
          ASSERT_TRUE(ws.OpenAs(server().port(), a.access_token)) << c.name;
        } else {
          ASSERT_TRUE(ws.Connect(server().port()) && ws.Upgrade()) << c.name;
        }
        ws.WriteAll(c.bytes);
        int code = ws.WaitClose(5s);
        ASSERT_EQ(code, 1002) << c.name << (authed ? " after hello" : " before hello");
        // Frames it cannot parse: the server hangs up at once; a sequence
        // error (continuation, nested message): it waits for our close.
        ws.WriteAll(RawWs::Frame(0x88, std::string("\x03\xea", 2)));
        ASSERT_TRUE(ws.WaitEof(3s)) << c.name << ": the server did not hang up after 1002";
      }
    }
  }
  // Truncated headers: the connection ends in the middle of a frame header
  // (the server just tears down), or stalls there (the heartbeat drops it).
  auto t0 = Clock::now();
  std::vector<std::unique_ptr<RawWs>> stuck;
  const std::vector<std::string> truncated = {
      std::string("\x81", 1),                  // one byte of header
      std::string("\x81\xFE\x01", 3),          // 16-bit length cut short
      std::string("\x81\xFF\x00\x00\x00", 5),  // 64-bit length cut short
      std::string("\x81\x85\x01\x02", 4),      // mask cut short
      RawWs::Frame(0x81, ping).substr(0, 10),  // payload cut short
  };
  for (int round = 0; round < 20; ++round) {
    for (const auto& t : truncated) {
      RawWs ws;
      ASSERT_TRUE(ws.OpenAs(server().port(), a.access_token));
      ws.WriteAll(t);
    }  // closed by the client mid-frame
  }
  for (const auto& t : truncated) {
    stuck.push_back(std::make_unique<RawWs>());
    ASSERT_TRUE(stuck.back()->OpenAs(server().port(), a.access_token));
    stuck.back()->WriteAll(t);
  }
  // A silent peer is pinged after one heartbeat and dropped after two.
  for (size_t i = 0; i < stuck.size(); ++i) {
    EXPECT_TRUE(stuck[i]->WaitEof(6s)) << "a connection stuck mid-header was kept: case " << i;
  }
  std::printf("[ frames   ] stuck mid-frame connections dropped after %lld ms\n",
              static_cast<long long>(Ms(Clock::now() - t0)));
  // Nobody else noticed.
  EXPECT_TRUE(aw->is_open() && bw->is_open());
  ExpectNoHarmDone(watch, *aw, *bw, g, "after malformed frames");
}

// ==== invalid UTF-8 ======================================================================

// Text frames must be UTF-8 (RFC 6455 5.6). The protocol's rule for a frame
// that is not JSON applies (JSON text is UTF-8 by definition): an `error`
// (bad_request, no `re`), the connection stays open, and three in a row
// close it with 1008; as the first frame, 4001.
TEST_F(AbuseFrameTest, InvalidUtf8InTextFramesIsABadFrameNotACrash) {
  Session a = NewUser("u8");
  Session b = NewUser("u8");
  std::string g = CreateGroup(a, "t", {b.username});
  auto bw = Open(b);
  ASSERT_TRUE(bw);
  ServerWatch watch(server().pid(), "invalid UTF-8 text frames");
  auto send_with_body = [&](const std::string& raw_body) {
    return R"({"id":5,"type":"send","conv":")" + g + R"(","client_msg_id":"u8-x","body":")" + raw_body +
           R"("})";
  };
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"lone continuation byte", send_with_body("a\x80z")},
      {"0xFF byte", send_with_body("\xff")},
      {"overlong '/' (C0 AF)", send_with_body("\xc0\xaf")},
      {"overlong NUL (E0 80 80)", send_with_body("\xe0\x80\x80")},
      {"UTF-16 surrogate (ED A0 80)", send_with_body("\xed\xa0\x80")},
      {"code point over U+10FFFF (F4 90 80 80)", send_with_body("\xf4\x90\x80\x80")},
      {"sequence cut by the closing quote (E2 82)", send_with_body("\xe2\x82")},
      {"invalid byte outside any string", std::string("{\"id\":5,\xff\"type\":\"ping\"}")},
      {"lone surrogate as a JSON escape", send_with_body("\\ud800")},
  };
  int stored_before = static_cast<int>(History(a, g).size());
  for (const auto& [name, text] : cases) {
    auto ws = Open(a);
    ASSERT_TRUE(ws) << name;
    ASSERT_TRUE(ws->Send(text)) << name;
    auto answer = NextAnswer(*ws);
    ASSERT_TRUE(answer) << name << ": no answer, close " << ws->close_code().value_or(-1);
    EXPECT_TRUE(FieldIs(*answer, "type", "error")) << name << ": " << Dump(answer);
    EXPECT_TRUE(FieldIs(*answer, "code", "bad_request")) << name << ": " << Dump(answer);
    // Still open, and working.
    auto pong = ws->Request({{"type", "ping"}});
    EXPECT_TRUE(pong && FieldIs(*pong, "type", "pong")) << name << ": " << Dump(pong);
  }
  EXPECT_EQ(static_cast<int>(History(a, g).size()), stored_before) << "a message with bad UTF-8 was stored";
  // Three in a row: 1008.
  {
    auto ws = Open(a);
    ASSERT_TRUE(ws);
    for (int i = 0; i < 3; ++i) ws->Send(send_with_body("\xff\xfe"));
    ASSERT_TRUE(ws->WaitClosed(5s));
    EXPECT_EQ(ws->close_code(), kCloseNotJson) << ws->last_error();
  }
  // As the first frame (a hello with a bad token string): 4001.
  {
    auto ws = RawSocket();
    ASSERT_TRUE(ws);
    ws->Send(std::string("{\"id\":1,\"type\":\"hello\",\"token\":\"\xc3\x28\"}"));
    ASSERT_TRUE(ws->WaitClosed(5s));
    EXPECT_EQ(ws->close_code(), kCloseNoHello) << ws->last_error();
  }
  // Over HTTP: 400.
  auto r = http().Request("POST", "/v1/auth/register",
                          std::string("{\"username\":\"u8_x\",\"password\":\"pass\xff\xfeword\"}"));
  EXPECT_TRUE(IsHttpError(r, 400, "bad_request")) << r.Describe();
  // The reader in the conversation got nothing from it and still works.
  auto aw = Open(a);
  ASSERT_TRUE(aw);
  auto ms = ExchangeMs(*aw, *bw, g, "after bad UTF-8");
  EXPECT_TRUE(ms && *ms < 1000);
  watch.Finish();
  EXPECT_LT(watch.peak_growth_kb(), 16 * 1024);
}

// ==== deeply nested JSON =================================================================

class AbuseNestingTest : public ServerTest {
 protected:
  // Room for 1 MB documents over both transports.
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.max_frame_bytes", "1048576", "--limits.max_http_body_bytes", "1048576"};
  }
};

std::string Nested(size_t depth, const std::string& open = "[", const std::string& close = "]",
                   bool closed = true) {
  std::string s;
  s.reserve(depth * (open.size() + close.size()));
  for (size_t i = 0; i < depth; ++i) s += open;
  if (closed) {
    for (size_t i = 0; i < depth; ++i) s += close;
  }
  return s;
}

TEST_F(AbuseNestingTest, DeeplyNestedJsonOverWebSocketIsABadRequestQuickly) {
  Session a = NewUser("nj");
  Session b = NewUser("nj");
  std::string g = CreateGroup(a, "t", {b.username});
  auto aw = Open(a), bw = Open(b);
  ASSERT_TRUE(aw && bw);
  ServerWatch watch(server().pid(), "deeply nested JSON over WebSocket");
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"100,000 '['", Nested(100000)},
      {"100,000 '[' never closed", Nested(100000, "[", "]", false)},
      {"150,000 '{\"a\":'", Nested(150000, "{\"a\":", "}")},
      {"a send whose body is 100,000 '['", R"({"id":9,"type":"send","conv":")" + g +
                                               R"(","client_msg_id":"deep","body":)" + Nested(100000) + "}"},
      {"a send nested 17 deep (one past the limit)", R"({"id":9,"type":"send","conv":")" + g +
                                                         R"(","client_msg_id":"deep","body":"x","x":)" +
                                                         Nested(16) + "}"},
  };
  for (const auto& [name, text] : cases) {
    auto t0 = Clock::now();
    ASSERT_TRUE(aw->Send(text)) << name;
    auto answer = NextAnswer(*aw);
    auto took = Ms(Clock::now() - t0);
    ASSERT_TRUE(answer) << name << ": no answer; close " << aw->close_code().value_or(-1);
    EXPECT_TRUE(FieldIs(*answer, "type", "error") && FieldIs(*answer, "code", "bad_request"))
        << name << ": " << Dump(answer);
    EXPECT_LT(took, 1000) << name;
    std::printf("[ nesting  ] ws %s: %s in %lld ms\n", name, GetString(*answer, "code").c_str(),
                static_cast<long long>(took));
    // A valid frame in between keeps the three-in-a-row rule from closing us.
    auto pong = aw->Request({{"type", "ping"}});
    ASSERT_TRUE(pong && FieldIs(*pong, "type", "pong")) << name << ": " << Dump(pong);
  }
  // Within the documented depth a nested extra field is fine.
  auto sent = aw->Request({{"type", "send"},
                           {"conv", g},
                           {"client_msg_id", "shallow"},
                           {"body", "ok"},
                           {"x", json::parse(Nested(10))}});
  EXPECT_TRUE(sent && FieldIs(*sent, "type", "sent")) << Dump(sent);
  // As the first frame: 4001, quickly.
  auto raw = RawSocket();
  ASSERT_TRUE(raw);
  raw->Send(Nested(100000));
  ASSERT_TRUE(raw->WaitClosed(5s));
  EXPECT_EQ(raw->close_code(), kCloseNoHello);
  auto ms = ExchangeMs(*aw, *bw, g, "after nesting");
  EXPECT_TRUE(ms && *ms < 1000);
  watch.Finish();
  EXPECT_LT(watch.peak_growth_kb(), 32 * 1024);
}

TEST_F(AbuseNestingTest, DeeplyNestedJsonOverHttpIs400Quickly) {
  Session a = NewUser("nh");
  ServerWatch watch(server().pid(), "deeply nested JSON over HTTP");
  struct Case {
    const char* name;
    const char* target;
    std::string body;
    bool auth;
  };
  const std::vector<Case> cases = {
      {"register, 100,000 '['", "/v1/auth/register", Nested(100000), false},
      {"login, 500,000 '[' never closed", "/v1/auth/login", Nested(500000, "[", "]", false), false},
      {"register, a field nested 100,000 deep", "/v1/auth/register",
       R"({"username":"nested_user","password":"correct-horse-1","display_name":)" + Nested(100000) + "}",
       false},
      {"create group, 150,000 '{\"a\":'", "/v1/conversations", Nested(150000, "{\"a\":", "}"), true},
      {"dm, members nested", "/v1/conversations/dm", R"({"username":)" + Nested(200000) + "}", true},
  };
  for (const auto& c : cases) {
    auto t0 = Clock::now();
    auto r = http().Request("POST", c.target, c.body,
                            c.auth ? std::optional<std::string>(a.access_token) : std::nullopt);
    auto took = Ms(Clock::now() - t0);
    EXPECT_TRUE(IsHttpError(r, 400, "bad_request")) << c.name << ": " << r.Describe().substr(0, 300);
    EXPECT_LT(took, 1000) << c.name;
    std::printf("[ nesting  ] http %s: %d in %lld ms\n", c.name, r.status, static_cast<long long>(took));
  }
  // The server is fine.
  auto me = Get("/v1/me", a.access_token);
  EXPECT_EQ(me.status, 200) << me.Describe();
  watch.Finish();
  EXPECT_LT(watch.peak_growth_kb(), 32 * 1024);
}

}  // namespace
}  // namespace parley::testing
