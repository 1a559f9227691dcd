// Fuzzes the RFC 6455 frame decoder of src/websocket/ (ws::ParseClientFrame)
// the way a session reads a stream: parse frames off the front of the input
// until it is incomplete or an error, skipping a too-big frame as the reader
// does. The first input byte picks the payload limit. Also round-trips the
// server-side helpers (EncodeHeader, ClosePayload) on input-derived values;
// a close reason cut from valid UTF-8 stays valid UTF-8.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "websocket/frame.h"
#include "protocol/frames.h"

using namespace parley;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // Small limits reach the 1009 path; 64 KiB is parleyd's default.
  static constexpr uint64_t kLimits[4] = {0, 125, 1024, 64 * 1024};
  const uint64_t max_payload = kLimits[data[0] & 3];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  for (int frames = 0; frames < 1000 && !rest.empty(); ++frames) {
    ws::ParsedFrame f = ws::ParseClientFrame(rest, max_payload);
    if (f.status == ws::ParsedFrame::Status::kIncomplete) break;
    if (f.status == ws::ParsedFrame::Status::kError) {
      Check(f.error_close == ws::kCloseProtocolError || f.error_close == ws::kCloseTooBig);
      Check(f.error != nullptr && *f.error != '\0');
      if (f.error_close == ws::kCloseTooBig) {
        Check(f.consumed > 0);
        if (f.consumed >= rest.size()) break;  // the reader would skip past what it has
        rest.remove_prefix(f.consumed);
        continue;
      }
      break;
    }
    Check(f.consumed > 0 && f.consumed <= rest.size());
    const bool control = (f.opcode & 0x08) != 0;
    Check(control ? f.payload.size() <= 125 && f.fin : f.payload.size() <= max_payload);
    // The masked payload sits at the end of the frame: unmasking twice gives it back.
    std::string_view raw = rest.substr(f.consumed - f.payload.size(), f.payload.size());
    std::string_view mask = rest.substr(f.consumed - f.payload.size() - 4, 4);
    for (size_t i = 0; i < raw.size(); ++i) Check(static_cast<char>(f.payload[i] ^ mask[i & 3]) == raw[i]);

    // Server side: a header for this payload, and a close frame from it.
    std::array<uint8_t, 10> header{};
    size_t n = ws::EncodeHeader(f.opcode, f.payload.size(), header);
    Check(n == 2 || n == 4 || n == 10);
    Check(header[0] == (0x80 | f.opcode));
    std::string close = ws::ClosePayload(ws::kCloseNormal, f.payload);
    Check(close.size() >= 2 && close.size() <= 125);
    // The reason is cut on a character boundary: UTF-8 in, UTF-8 out.
    if (parley::protocol::IsValidUtf8(f.payload)) Check(parley::protocol::IsValidUtf8(close.substr(2)));
    rest.remove_prefix(f.consumed);
  }

  // EncodeHeader on arbitrary sizes: decoding the length back must agree.
  if (size >= 9) {
    uint64_t len = 0;
    for (int i = 1; i < 9; ++i) len = (len << 8) | data[i];
    std::array<uint8_t, 10> h{};
    size_t n = ws::EncodeHeader(ws::kBinary, len, h);
    uint64_t back = h[1] & 0x7F;
    if (back == 126) {
      back = (uint64_t{h[2]} << 8) | h[3];
    } else if (back == 127) {
      back = 0;
      for (int i = 0; i < 8; ++i) back = (back << 8) | h[2 + i];
    }
    Check(back == len && n == (len < 126 ? 2u : len <= 0xFFFF ? 4u : 10u));
  }
  if (size <= 256) {
    std::string key(reinterpret_cast<const char*>(data), size);
    Check(ws::AcceptKey(key).size() == 28);
  }
  return 0;
}
