#pragma once
// The wire form of a fan-out Event on a Redis channel: compact, versioned,
// and safe to decode from anything (a channel is writable by any client of
// the Redis server, so a payload is untrusted input).
//
//   byte 0   version (kCodecVersion)
//   byte 1   target (bits 0-1) | subscription (bits 2-3) | has_frame (bit 4)
//   then     conv, seq, exclude, subject (zigzag varints), user count + users
//            (varint + zigzag varints), origin node (zigzag), shard (varint,
//            fits 32 bits), session (varint), request_id (zigzag), and when
//            has_frame: frame length (varint) + frame bytes. Nothing after.
#include <optional>
#include <string>
#include <string_view>

#include "presence/fanout.h"

namespace parley::presence::redis {

// 2: the presence subject. Nodes of a cluster run one version (a rolling
// upgrade across a codec change drops fan-out events between the two for
// its duration; clients fill the gaps from the store).
inline constexpr uint8_t kCodecVersion = 2;

// Appends the encoding of `event` to `*out`.
void EncodeEvent(const Event& event, std::string* out);
inline std::string EncodeEvent(const Event& event) {
  std::string out;
  EncodeEvent(event, &out);
  return out;
}

// The event `bytes` encodes, or nullopt when they are not exactly one valid
// encoding (unknown version, truncated, out-of-range value, trailing bytes).
// `max_users` bounds the user list a payload may claim.
std::optional<Event> DecodeEvent(std::string_view bytes, size_t max_users = 1 << 20);

}  // namespace parley::presence::redis
