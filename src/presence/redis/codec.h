#pragma once
// The wire form of a fan-out Event on a Redis channel: compact, versioned,
// and safe to decode from anything (a channel is writable by any client of
// the Redis server, so a payload is untrusted input).
//
//   byte 0   version (kCodecVersion)
//   byte 1   target (bits 0-1) | subscription (bits 2-3) | has_frame (bit 4) |
//            has_revoke_epoch (bit 5)
//   then     the publishing node (zigzag varint), conv, seq, exclude, subject (zigzag varints), user count +
//   users
//            (varint + zigzag varints), origin node (zigzag), io thread (varint,
//            fits 32 bits), session (varint), request_id (zigzag), when
//            has_revoke_epoch: the epoch (zigzag, > 0), and when has_frame:
//            frame length (varint) + frame bytes. Nothing after.
#include <optional>
#include <string>
#include <string_view>

#include "fanout/fanout.h"

namespace parley::presence::redis {

// 2: the presence subject. 3: the publishing node (a node delivers its own
// events to its connections directly and skips its copies from Redis).
// Nodes of a cluster run one version (a rolling upgrade across a codec
// change drops fan-out events between the two for its duration; clients
// fill the gaps from the store).
inline constexpr uint8_t kCodecVersion = 3;

// An event as it travels: what it is, and which node published it.
struct Envelope {
  int64_t publisher = 0;
  fanout::Event event;
};

// Appends the encoding of `event`, published by node `publisher`, to `*out`.
void EncodeEvent(const fanout::Event& event, int64_t publisher, std::string* out);
inline std::string EncodeEvent(const fanout::Event& event, int64_t publisher) {
  std::string out;
  EncodeEvent(event, publisher, &out);
  return out;
}

// What `bytes` encodes, or nullopt when they are not exactly one valid
// encoding (unknown version, truncated, out-of-range value, trailing bytes).
// `max_users` bounds the user list a payload may claim.
std::optional<Envelope> DecodeEvent(std::string_view bytes, size_t max_users = 1 << 20);

}  // namespace parley::presence::redis
