#include "log/kafka/send_codec.h"

#include <limits>

namespace parley::log::kafka {
namespace {

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutBytes(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

// Reads fields off the front of a byte string; every read checks the bounds.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ >= in_.size()) return false;
      auto byte = static_cast<uint8_t>(in_[pos_++]);
      if (shift == 63 && byte > 1) return false;  // more than 64 bits
      v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  bool Signed(int64_t& v) {
    uint64_t u;
    if (!Varint(u)) return false;
    v = UnZigZag(u);
    return true;
  }

  bool Bytes(std::string& s) {
    uint64_t n;
    if (!Varint(n) || n > in_.size() - pos_) return false;
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }

  bool AtEnd() const { return pos_ >= in_.size(); }

  bool Byte(uint8_t& b) {
    if (pos_ >= in_.size()) return false;
    b = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// Set in the kind byte of an entry record for SendRequest::by_server_admin.
constexpr uint8_t kByServerAdmin = 0x80;

}  // namespace

std::string EncodeSendRequest(const SendRequest& r) {
  std::string out;
  out.reserve(1 + 4 * 10 + 2 * 5 + r.client_msg_id.size() + r.body.size() + 20);
  const bool entry = r.kind != EntryKind::kText || r.reply_to.has_value() || !r.attachments.empty();
  out.push_back(static_cast<char>(entry ? kEntryCodecVersion : kSendCodecVersion));
  PutVarint(out, ZigZag(r.conv.value));
  PutVarint(out, ZigZag(r.sender.value));
  PutBytes(out, r.client_msg_id);
  PutBytes(out, r.body);
  PutVarint(out, ZigZag(r.origin.node));
  PutVarint(out, r.origin.io_thread);
  PutVarint(out, r.origin.session);
  PutVarint(out, ZigZag(r.origin.request_id));
  if (entry) {
    // The kind's high bit: a delete by a server administrator.
    out.push_back(static_cast<char>(static_cast<uint8_t>(r.kind) | (r.by_server_admin ? kByServerAdmin : 0)));
    PutVarint(out, ZigZag(r.target));
    PutBytes(out, r.emoji);
    out.push_back(static_cast<char>(r.op));
    PutVarint(out, r.reply_to ? static_cast<uint64_t>(*r.reply_to) + 1 : 0);
    if (!r.attachments.empty()) {
      PutVarint(out, r.attachments.size());
      for (UploadId id : r.attachments) PutVarint(out, static_cast<uint64_t>(id.value));
    }
  }
  return out;
}

Result<SendRequest> DecodeSendRequest(std::string_view bytes) {
  Reader in(bytes);
  uint8_t version = 0;
  if (!in.Byte(version)) return MakeError(Errc::kBadRequest, "send record: empty");
  if (version != kSendCodecVersion && version != kEntryCodecVersion) {
    return MakeError(Errc::kBadRequest, "send record: unknown version " + std::to_string(version));
  }
  SendRequest r;
  uint64_t io_thread = 0;
  if (!in.Signed(r.conv.value) || !in.Signed(r.sender.value) || !in.Bytes(r.client_msg_id) ||
      !in.Bytes(r.body) || !in.Signed(r.origin.node) || !in.Varint(io_thread) ||
      !in.Varint(r.origin.session) || !in.Signed(r.origin.request_id)) {
    return MakeError(Errc::kBadRequest, "send record: truncated or malformed");
  }
  if (io_thread > std::numeric_limits<uint32_t>::max())
    return MakeError(Errc::kBadRequest, "send record: bad io thread");
  r.origin.io_thread = static_cast<uint32_t>(io_thread);
  if (version == kEntryCodecVersion) {
    uint8_t kind = 0, op = 0;
    uint64_t reply_to = 0;
    if (!in.Byte(kind) || !in.Signed(r.target) || !in.Bytes(r.emoji) || !in.Byte(op) ||
        !in.Varint(reply_to)) {
      return MakeError(Errc::kBadRequest, "send record: truncated or malformed entry fields");
    }
    r.by_server_admin = (kind & kByServerAdmin) != 0;
    kind &= static_cast<uint8_t>(~kByServerAdmin);
    if (kind > static_cast<uint8_t>(EntryKind::kReaction) || op > static_cast<uint8_t>(ReactionOp::kRemove)) {
      return MakeError(Errc::kBadRequest, "send record: unknown entry kind or op");
    }
    r.kind = static_cast<EntryKind>(kind);
    r.op = static_cast<ReactionOp>(op);
    if (reply_to > 0) r.reply_to = static_cast<int64_t>(reply_to - 1);
    if (!in.AtEnd()) {  // attachments, appended to version 2 (PROTOCOL.md §6)
      uint64_t count = 0;
      if (!in.Varint(count) || count > kMaxAttachments) {
        return MakeError(Errc::kBadRequest, "send record: malformed attachments");
      }
      for (uint64_t i = 0; i < count; ++i) {
        uint64_t id = 0;
        if (!in.Varint(id) || id == 0 || id > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return MakeError(Errc::kBadRequest, "send record: malformed attachments");
        }
        r.attachments.emplace_back(static_cast<int64_t>(id));
      }
    }
  }
  return r;
}

}  // namespace parley::log::kafka
