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

#include "common/model.h"
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

// An entry of a recent-entries window (recent_entries.h) as Redis holds it:
// its seq in decimal and ':' (what the window's script reads), then
//   byte 0   version (kEntryVersion)
//   byte 1   kind (0 text, 1 edit, 2 delete, 3 reaction) | op << 2 |
//            has reply_to << 3 | has edited_ts << 4 | deleted << 5
//   then     conv, id, sender, ts, target, state_seq (zigzag varints),
//            reply_to, edited_ts (zigzag, when flagged), body,
//            client_msg_id, emoji (varint length + bytes), mentions (count +
//            zigzag ids), attachments (count + id, name, content_type,
//            size). Nothing after. Reactions are not kept: a window's
//            entries are raw, as committed.
inline constexpr uint8_t kEntryVersion = 1;
std::string EncodeEntry(const Message& entry);
// Nullopt unless `bytes` are exactly one valid encoding.
std::optional<Message> DecodeEntry(std::string_view bytes);

}  // namespace parley::presence::redis
