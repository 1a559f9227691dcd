#pragma once
// Pure wire helpers of the load generator: the message payload every sender
// stamps, a fast scanner of Parley server frames, and the raw Engine.IO v4 /
// Socket.IO framing of the `socketio` dialect (see BENCH.md). No I/O.
// Parley requests are built by protocol/client_frames.h; the scanner stays
// here because it reads only what the load generator counts, without a
// DOM, on its hot path (loadgen_test checks it against the full parser).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::loadgen {

// ---- payload: "<epoch>:<slot>:<counter>:<sched_us>:" padded with 'x' -------
struct Payload {
  int64_t epoch = 0;     // which run (find-max step) sent it
  int64_t slot = 0;      // the sender's index among its conversation's senders
  int64_t counter = 0;   // 0, 1, 2, ... per sender and epoch
  int64_t sched_us = 0;  // scheduled send time, CLOCK_MONOTONIC microseconds
};
// Appends the payload to `out`, padded to at least `body_bytes` bytes.
void AppendPayload(const Payload& p, int body_bytes, std::string* out);
std::optional<Payload> DecodePayload(std::string_view text);

// ---- Parley protocol v1 ------------------------------------------------------
struct ParleyFrame {
  enum class Kind { kMessage, kSent, kHistory, kWelcome, kError, kOtherAnswer, kOtherEvent, kInvalid };
  Kind kind = Kind::kInvalid;
  int64_t re = -1;        // answers
  int64_t seq = -1;       // message
  std::string_view conv;  // message
  std::string_view body;  // message (raw JSON string contents, escapes left as is)
  std::string_view code;  // error
  // message: a change entry (PROTOCOL 5: kind edit, delete or reaction). It
  // takes a seq like any entry but delivers no workload payload.
  bool change = false;
};
// Scans a server text frame without building a DOM. Works on the frames
// parleyd writes (compact JSON); anything else comes back kInvalid/kOther*.
ParleyFrame ScanParleyFrame(std::string_view text);

// ---- Engine.IO v4 + Socket.IO v5 over a raw WebSocket --------------------------
struct EioPacket {
  enum class Kind { kOpen, kPing, kPong, kConnect, kEvent, kAck, kConnectError, kClose, kOther, kInvalid };
  Kind kind = Kind::kInvalid;
  int64_t ack_id = -1;       // "42N[...]" / "43N[...]"
  std::string_view event;    // first array element of an event
  std::string_view room;     // second element (a string)
  std::string_view payload;  // third element (a string, escapes left as is)
  std::string_view data;     // the JSON after the type/ack digits
};
EioPacket ParseEioPacket(std::string_view text);

inline constexpr std::string_view kEioPath = "/socket.io/?EIO=4&transport=websocket";
inline constexpr std::string_view kEioConnect = "40";
inline constexpr std::string_view kEioPong = "3";
// 42<ack>["join","ROOM"]
void AppendEioJoin(int64_t ack_id, std::string_view room, std::string* out);
// 42["chat","ROOM","PAYLOAD"]
void AppendEioChat(std::string_view room, std::string_view payload, std::string* out);

}  // namespace parley::loadgen
