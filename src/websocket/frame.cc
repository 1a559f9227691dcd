#include "websocket/frame.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>

#include "protocol/utf8.h"

namespace parley::ws {

ParsedFrame ParseClientFrame(std::string_view data, uint64_t max_payload) {
  ParsedFrame f;
  auto fail = [&f](uint16_t code, const char* why) {
    f.status = ParsedFrame::Status::kError;
    f.error_close = code;
    f.error = why;
    return f;
  };
  if (data.size() < 2) return f;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  f.fin = (p[0] & 0x80) != 0;
  if ((p[0] & 0x70) != 0) return fail(kCloseProtocolError, "reserved bits set");
  f.opcode = p[0] & 0x0F;
  bool masked = (p[1] & 0x80) != 0;
  uint64_t len = p[1] & 0x7F;
  size_t header = 2;
  if (len == 126) {
    if (data.size() < 4) return f;
    len = (uint64_t{p[2]} << 8) | p[3];
    header = 4;
  } else if (len == 127) {
    if (data.size() < 10) return f;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    header = 10;
    if (len >> 63) return fail(kCloseProtocolError, "bad length");
  }
  bool control = (f.opcode & 0x08) != 0;
  if (control) {
    if (f.opcode != kClose && f.opcode != kPing && f.opcode != kPong)
      return fail(kCloseProtocolError, "bad opcode");
    if (!f.fin || len > 125) return fail(kCloseProtocolError, "bad control frame");
  } else if (f.opcode != kContinuation && f.opcode != kText && f.opcode != kBinary) {
    return fail(kCloseProtocolError, "bad opcode");
  }
  if (!masked) return fail(kCloseProtocolError, "client frames must be masked");
  header += 4;
  if (!control && len > max_payload) {
    // The stream stays in step: the caller skips the whole frame.
    fail(kCloseTooBig, "frame too big");
    f.consumed = header + static_cast<size_t>(len);
    return f;
  }
  if (data.size() < header + len) return f;
  const uint8_t* mask = p + header - 4;
  f.payload.resize(static_cast<size_t>(len));
  const uint8_t* src = p + header;
  for (size_t i = 0; i < len; ++i) f.payload[i] = static_cast<char>(src[i] ^ mask[i & 3]);
  f.consumed = header + static_cast<size_t>(len);
  f.status = ParsedFrame::Status::kFrame;
  return f;
}

size_t EncodeHeader(uint8_t opcode, uint64_t payload_size, std::array<uint8_t, 10>& out) {
  out[0] = static_cast<uint8_t>(0x80 | opcode);
  if (payload_size < 126) {
    out[1] = static_cast<uint8_t>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_size >> 8);
    out[3] = static_cast<uint8_t>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(payload_size >> (56 - 8 * i));
  return 10;
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  // RFC 6455 5.5.1: the reason is UTF-8, and the code leaves it 123 bytes.
  // A cut inside a character would make the peer fail the connection (1007),
  // so the cut drops a character that does not fit whole.
  constexpr size_t kMaxReason = 123;
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(protocol::Utf8Prefix(reason, kMaxReason));
  return out;
}

std::string AcceptKey(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(client_key);
  input.append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(n));
}

}  // namespace parley::ws
