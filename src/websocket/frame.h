#pragma once
// RFC 6455 framing, server side, as pure functions: no sockets, no
// allocation beyond the payload. The gateway owns its WebSocket framing so
// that every frame queued while a write was in flight leaves in one gathered
// write (writev), which is where fan-out speed comes from; Beast's websocket
// stream writes one message per operation.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/close_code.h"

namespace parley::ws {

enum Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes of the RFC used by the framing itself. 1002 is the framing's
// own; the others are Parley's table (common/close_code.h).
inline constexpr uint16_t kCloseNormal = parley::kCloseNormal;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseTooBig = parley::kCloseTooBig;

struct ParsedFrame {
  enum class Status { kIncomplete, kFrame, kError };
  Status status = Status::kIncomplete;
  size_t consumed = 0;  // bytes of input this frame took (kFrame), or to skip (kError 1009)
  bool fin = false;
  uint8_t opcode = 0;
  std::string payload;       // unmasked
  uint16_t error_close = 0;  // kError: the close code to answer with
  const char* error = "";    // kError: why
};

// Parses one client frame from the front of `data`. Client frames must be
// masked; control frames must be final and at most 125 bytes; a data frame
// whose payload exceeds `max_payload` is an error (1009) as soon as its
// header is read, before any of it is buffered, and `consumed` then says how
// many bytes the whole frame spans, so the reader can skip it and stay in
// step with the peer (to read its answer to our close).
ParsedFrame ParseClientFrame(std::string_view data, uint64_t max_payload);

// Writes the header of an unmasked server frame into `out`; returns its size
// (2, 4 or 10 bytes).
size_t EncodeHeader(uint8_t opcode, uint64_t payload_size, std::array<uint8_t, 10>& out);

// The payload of a close frame: the code (big-endian) and a reason cut to
// fit the 125-byte control frame limit (123 bytes of reason), on a UTF-8
// character boundary, so a valid UTF-8 reason stays valid.
std::string ClosePayload(uint16_t code, std::string_view reason);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string AcceptKey(std::string_view client_key);

}  // namespace parley::ws
