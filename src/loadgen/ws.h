#pragma once
// The client side of RFC 6455 as the load generator speaks it, without I/O:
// the upgrade request and the check of its answer, masked client frames, and
// WsReceiver, which reassembles a server's frames in place. The generator
// reads every delivery of a run on one core, so its receive path is its own
// (one read into a buffer the frames are parsed from, no per-frame copy or
// composed operation); loadgen_test checks it with RFC 6455's examples and
// every read size.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "websocket/frame.h"

namespace parley::loadgen {

// The opcodes and the handshake's accept key are the RFC's, shared with the
// gateway (websocket/frame.h).
using WsOpcode = ws::Opcode;

// "GET PATH HTTP/1.1" with the upgrade headers; `key` is the base64 of 16
// random bytes (Sec-WebSocket-Key).
std::string WsUpgradeRequest(std::string_view host, std::string_view path, std::string_view key);
// base64 of 16 bytes taken from `seed` (a key need only be unique per connection).
std::string WsKeyFrom(uint64_t seed_a, uint64_t seed_b);
// Checks the server's answer head (status line and headers, up to and with
// the empty line): nullopt when it accepted the upgrade, else why not.
std::optional<std::string> CheckWsUpgradeResponse(std::string_view head, std::string_view key);

// Appends one final client frame: `payload` masked with `mask_key`.
void AppendWsClientFrame(WsOpcode opcode, std::string_view payload, uint32_t mask_key, std::string* out);

// WsReceiver: what one connection has read of a server's WebSocket stream
// and not handed on yet. Owned by the connection's link; one thread. Bytes
// are read straight into Space() and Commit()ed; Drain() then hands on each
// complete message (fragments joined) and control frame as a view into its
// own buffer, valid until the next call, and keeps a partial frame for the
// next read. Server frames must be unmasked (RFC 6455 5.1).
class WsReceiver {
 public:
  struct Event {
    WsOpcode opcode;  // kText/kBinary: a whole message; kClose/kPing/kPong: a control frame
    std::string_view payload;
  };
  explicit WsReceiver(size_t initial_bytes = 2048, size_t max_message_bytes = size_t{64} << 20);

  // Before each read: moves a partial frame to the front and makes room for
  // at least what it still needs (and a few hundred bytes in any case).
  void PrepareRead();
  // Room for the next read, filled by the caller and then Commit()ed.
  char* space() { return buf_.data() + end_; }
  size_t space_size() const { return buf_.size() - end_; }
  void Commit(size_t n) { end_ += n; }
  // Bytes read but not drained (the upgrade answer before the first frame).
  std::string_view pending() const { return std::string_view(buf_.data() + begin_, end_ - begin_); }
  void Consume(size_t n) { begin_ += n; }

  // Calls on_event(const Event&) -> bool for each complete event in order;
  // stops early when it returns false. Returns why the stream is broken
  // (a protocol error) or nullopt; a partial frame waits for PrepareRead().
  template <typename OnEvent>
  std::optional<std::string> Drain(OnEvent&& on_event) {
    for (;;) {
      Event e{};
      std::optional<std::string> error;
      if (!Next(&e, &error)) return error;
      if (!on_event(static_cast<const Event&>(e))) return std::nullopt;
    }
  }

 private:
  // The next event, if a whole one is buffered; sets *error on a protocol error.
  bool Next(Event* e, std::optional<std::string>* error);

  std::string buf_;
  size_t initial_;
  size_t begin_ = 0, end_ = 0;
  size_t need_ = 0;  // bytes the partial frame at begin_ needs in all (0: unknown yet)
  size_t max_message_;
  std::string fragments_;  // a fragmented message so far
  WsOpcode fragments_opcode_ = WsOpcode::kText;
  bool in_fragments_ = false;
};

}  // namespace parley::loadgen
