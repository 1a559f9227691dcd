// codec_bench: Google Benchmark micro-benchmarks of the wire codec on the hot
// path of a message: parsing a client `send` frame and serializing the
// `message` event (once per message, shared by every recipient), and the
// user-space half of fan-out per recipient.
#include <sys/uio.h>

#include <array>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "websocket/frame.h"
#include "fanout/fanout.h"
#include "protocol/frames.h"

namespace {

using namespace parley;

std::string SendText(size_t body_bytes) {
  return R"({"id":12345,"type":"send","conv":"9876543","client_msg_id":"e1-123456","body":")" +
         std::string(body_bytes, 'x') + R"("})";
}

void BM_ParseClientFrame_Send(benchmark::State& state) {
  std::string text = SendText(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto parsed = protocol::ParseClientFrame(text);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ParseClientFrame_Send)->Arg(64)->Arg(1024)->Arg(4096);

void BM_ParseClientFrame_Hello(benchmark::State& state) {
  std::string text = R"({"id":1,"type":"hello","token":")" + std::string(400, 'a') +
                     R"(","last_seq":{"1":17,"2":99,"3":1000}})";
  for (auto _ : state) {
    auto parsed = protocol::ParseClientFrame(text);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseClientFrame_Hello);

void BM_ParseClientFrame_NotJson(benchmark::State& state) {
  std::string text = "this is not json at all";
  for (auto _ : state) {
    auto parsed = protocol::ParseClientFrame(text);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseClientFrame_NotJson);

void BM_MessageEvent(benchmark::State& state) {
  Message m;
  m.conv = ConversationId(9876543);
  m.seq = 123456;
  m.id = MessageId(7234567890123456789);
  m.sender = UserId(4242);
  m.body = std::string(static_cast<size_t>(state.range(0)), 'x');
  m.ts = 1764290000000;
  m.client_msg_id = "e1-123456";
  for (auto _ : state) {
    std::string frame = protocol::MessageEvent(m);
    benchmark::DoNotOptimize(frame);
  }
}
BENCHMARK(BM_MessageEvent)->Arg(64)->Arg(1024)->Arg(4096);

void BM_SentFrame(benchmark::State& state) {
  Message m;
  m.conv = ConversationId(9876543);
  m.seq = 123456;
  m.id = MessageId(7234567890123456789);
  m.ts = 1764290000000;
  for (auto _ : state) {
    std::string frame = protocol::SentFrame(12345, m);
    benchmark::DoNotOptimize(frame);
  }
}
BENCHMARK(BM_SentFrame);

// The user-space half of fan-out, per recipient: the event is serialized
// once and shared; each recipient's queue takes a reference, and its write
// encodes a frame header and gathers header + shared payload for writev
// (what WsConnection::Send and DoWrite do, without Asio and the syscall).
void BM_FanOutGather(benchmark::State& state) {
  const size_t recipients = static_cast<size_t>(state.range(0));
  Message m;
  m.conv = ConversationId(9876543);
  m.seq = 123456;
  m.id = MessageId(7234567890123456789);
  m.sender = UserId(4242);
  m.body = std::string(64, 'x');
  m.ts = 1764290000000;
  m.client_msg_id = "e1-123456";
  struct Recipient {
    std::vector<protocol::Frame> queue;
    std::array<uint8_t, 10> header;
    std::vector<struct iovec> iov;
  };
  std::vector<Recipient> to(recipients);
  for (auto& r : to) {
    r.queue.reserve(4);
    r.iov.reserve(8);
  }
  for (auto _ : state) {
    protocol::Frame frame = protocol::MakeFrame(protocol::MessageEvent(m));
    for (auto& r : to) r.queue.push_back(frame);
    for (auto& r : to) {
      for (const auto& f : r.queue) {
        size_t n = ws::EncodeHeader(ws::kText, f->size(), r.header);
        r.iov.push_back({r.header.data(), n});
        r.iov.push_back({const_cast<char*>(f->data()), f->size()});
      }
      benchmark::DoNotOptimize(r.iov.data());
      r.iov.clear();
      r.queue.clear();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * recipients));
}
BENCHMARK(BM_FanOutGather)->Arg(10)->Arg(5000);

}  // namespace

BENCHMARK_MAIN();
