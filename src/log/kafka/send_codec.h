#pragma once
// The record value of the Kafka log: a compact binary form of a SendRequest.
//
//   byte 0        version (kSendCodecVersion)
//   varint        conv            (zigzag int64)
//   varint        sender          (zigzag int64)
//   varint + n    client_msg_id   (length, then bytes)
//   varint + n    body            (length, then bytes)
//   varint        origin.node     (zigzag int64)
//   varint        origin.io_thread    (uint32)
//   varint        origin.session  (uint64)
//   varint        origin.request_id (zigzag int64)
// and, in version 2 only (an edit, a delete or a reaction, or a send with
// reply_to; a plain send stays version 1 so older nodes keep reading it):
//   byte          kind            (0 text, 1 edit, 2 delete, 3 reaction;
//                                  high bit: by a server administrator)
//   varint        target          (zigzag int64)
//   varint + n    emoji
//   byte          op              (0 add, 1 remove)
//   varint        reply_to + 1    (0: none)
// and, appended to version 2 when a send attaches uploads (PROTOCOL.md §6;
// also written for a send with only attachments):
//   varint        count           (1..kMaxAttachments)
//   varint        upload id, count times
//
// Varints are LEB128 (7 bits a byte, low first, at most 10 bytes). A version-1
// reader ignores bytes after the last field, so a later writer may append
// optional fields without a version bump; an incompatible layout takes a new
// version byte, which older readers refuse. Decoding never trusts a length:
// hostile or truncated input is an error, never a crash or a huge allocation.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "log/message_log.h"

namespace parley::log::kafka {

inline constexpr uint8_t kSendCodecVersion = 1;
inline constexpr uint8_t kEntryCodecVersion = 2;

std::string EncodeSendRequest(const SendRequest& request);

// kBadRequest on an unknown version, an unknown kind or op, a truncated
// field, a varint over 10 bytes, a length past the end, or an io thread over
// 32 bits.
Result<SendRequest> DecodeSendRequest(std::string_view bytes);

}  // namespace parley::log::kafka
