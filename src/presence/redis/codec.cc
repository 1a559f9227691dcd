#include "presence/redis/codec.h"

#include <charconv>
#include <limits>

namespace parley::presence::redis {
namespace {

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void PutSigned(int64_t v, std::string* out) { PutVarint(ZigZag(v), out); }

// Reads from a byte range; every getter fails (returns false) rather than
// read past the end or accept an over-long varint.
class Reader {
 public:
  explicit Reader(std::string_view b) : p_(b.data()), end_(b.data() + b.size()) {}

  bool Byte(uint8_t* v) {
    if (p_ == end_) return false;
    *v = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      uint8_t b = static_cast<uint8_t>(*p_++);
      // The tenth byte may carry only the top bit of 64.
      if (shift == 63 && b > 1) return false;
      // Canonical form only (no trailing zero groups): one encoding per value.
      if (shift > 0 && b == 0) return false;
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Signed(int64_t* v) {
    uint64_t u = 0;
    if (!Varint(&u)) return false;
    *v = UnZigZag(u);
    return true;
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool Bytes(size_t n, std::string_view* v) {
    if (n > remaining()) return false;
    *v = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  // A length-prefixed string.
  bool String(std::string* v) {
    uint64_t n = 0;
    std::string_view bytes;
    if (!Varint(&n) || n > remaining() || !Bytes(static_cast<size_t>(n), &bytes)) return false;
    v->assign(bytes);
    return true;
  }

 private:
  const char* p_;
  const char* end_;
};

void PutString(std::string_view v, std::string* out) {
  PutVarint(v.size(), out);
  out->append(v);
}

}  // namespace

void EncodeEvent(const fanout::Event& e, int64_t publisher, std::string* out) {
  size_t frame_size = e.frame ? e.frame->size() : 0;
  out->reserve(out->size() + 32 + e.users.size() * 5 + frame_size);
  out->push_back(static_cast<char>(kCodecVersion));
  uint8_t flags =
      static_cast<uint8_t>(e.target) | static_cast<uint8_t>(static_cast<uint8_t>(e.subscription) << 2) |
      static_cast<uint8_t>(e.frame ? 0x10 : 0) | static_cast<uint8_t>(e.revoke_epoch > 0 ? 0x20 : 0);
  out->push_back(static_cast<char>(flags));
  PutSigned(publisher, out);
  PutSigned(e.conv.value, out);
  PutSigned(e.seq, out);
  PutSigned(e.exclude.value, out);
  PutSigned(e.subject.value, out);
  PutVarint(e.users.size(), out);
  for (UserId u : e.users) PutSigned(u.value, out);
  PutSigned(e.origin.node, out);
  PutVarint(e.origin.io_thread, out);
  PutVarint(e.origin.session, out);
  PutSigned(e.origin.request_id, out);
  if (e.revoke_epoch > 0) PutSigned(e.revoke_epoch, out);
  if (e.frame) {
    PutVarint(e.frame->size(), out);
    out->append(*e.frame);
  }
}

std::optional<Envelope> DecodeEvent(std::string_view bytes, size_t max_users) {
  Reader r(bytes);
  uint8_t version = 0, flags = 0;
  if (!r.Byte(&version) || version != kCodecVersion) return std::nullopt;
  if (!r.Byte(&flags) || (flags & 0xc0) != 0) return std::nullopt;
  uint8_t target = flags & 0x03, subscription = (flags >> 2) & 0x03;
  if (target > static_cast<uint8_t>(fanout::Event::Target::kSession)) return std::nullopt;
  if (subscription > static_cast<uint8_t>(fanout::Event::Subscription::kUnsubscribe)) return std::nullopt;

  Envelope env;
  if (!r.Signed(&env.publisher)) return std::nullopt;
  fanout::Event& e = env.event;
  e.target = static_cast<fanout::Event::Target>(target);
  e.subscription = static_cast<fanout::Event::Subscription>(subscription);
  if (!r.Signed(&e.conv.value) || !r.Signed(&e.seq) || !r.Signed(&e.exclude.value) ||
      !r.Signed(&e.subject.value)) {
    return std::nullopt;
  }
  uint64_t n = 0;
  // Each user takes at least one byte: a count beyond what is left is a lie.
  if (!r.Varint(&n) || n > r.remaining() || n > max_users) return std::nullopt;
  e.users.resize(static_cast<size_t>(n));
  for (UserId& u : e.users) {
    if (!r.Signed(&u.value)) return std::nullopt;
  }
  uint64_t io_thread = 0;
  if (!r.Signed(&e.origin.node) || !r.Varint(&io_thread) ||
      io_thread > std::numeric_limits<uint32_t>::max() || !r.Varint(&e.origin.session) ||
      !r.Signed(&e.origin.request_id)) {
    return std::nullopt;
  }
  e.origin.io_thread = static_cast<uint32_t>(io_thread);
  // One encoding per event: a revocation's epoch is positive.
  if ((flags & 0x20) && (!r.Signed(&e.revoke_epoch) || e.revoke_epoch <= 0)) return std::nullopt;
  if (flags & 0x10) {
    uint64_t len = 0;
    std::string_view frame;
    if (!r.Varint(&len) || !r.Bytes(static_cast<size_t>(std::min<uint64_t>(len, SIZE_MAX)), &frame)) {
      return std::nullopt;
    }
    e.frame = protocol::MakeFrame(std::string(frame));
  }
  if (r.remaining() != 0) return std::nullopt;
  return env;
}

std::string EncodeEntry(const Message& m) {
  std::string out = std::to_string(m.seq);
  out.push_back(':');
  out.reserve(out.size() + 48 + m.body.size() + m.client_msg_id.size() + m.mentions.size() * 4);
  out.push_back(static_cast<char>(kEntryVersion));
  const uint8_t flags =
      static_cast<uint8_t>(static_cast<uint8_t>(m.kind) | (m.op == ReactionOp::kRemove ? 0x04 : 0) |
                           (m.reply_to ? 0x08 : 0) | (m.edited_ts ? 0x10 : 0) | (m.deleted ? 0x20 : 0));
  out.push_back(static_cast<char>(flags));
  for (int64_t v : {m.conv.value, m.id.value, m.sender.value, m.ts, m.target, m.state_seq})
    PutSigned(v, &out);
  if (m.reply_to) PutSigned(*m.reply_to, &out);
  if (m.edited_ts) PutSigned(*m.edited_ts, &out);
  PutString(m.body, &out);
  PutString(m.client_msg_id, &out);
  PutString(m.emoji, &out);
  PutVarint(m.mentions.size(), &out);
  for (UserId u : m.mentions) PutSigned(u.value, &out);
  PutVarint(m.attachments.size(), &out);
  for (const Attachment& a : m.attachments) {
    PutSigned(a.id.value, &out);
    PutString(a.name, &out);
    PutString(a.content_type, &out);
    PutSigned(a.size, &out);
  }
  return out;
}

std::optional<Message> DecodeEntry(std::string_view bytes) {
  Message m;
  const size_t colon = bytes.find(':');
  // Canonical decimal: no sign, no leading zero.
  if (colon == std::string_view::npos || colon == 0 || colon > 19 || bytes[0] == '0') return std::nullopt;
  const auto [end, ec] = std::from_chars(bytes.data(), bytes.data() + colon, m.seq);
  if (ec != std::errc() || end != bytes.data() + colon || m.seq < 1) return std::nullopt;
  Reader r(bytes.substr(colon + 1));
  uint8_t version = 0, flags = 0;
  if (!r.Byte(&version) || version != kEntryVersion || !r.Byte(&flags) || (flags & 0xc0) != 0) {
    return std::nullopt;
  }
  m.kind = static_cast<EntryKind>(flags & 0x03);
  m.op = (flags & 0x04) ? ReactionOp::kRemove : ReactionOp::kAdd;
  m.deleted = (flags & 0x20) != 0;
  for (int64_t* v : {&m.conv.value, &m.id.value, &m.sender.value, &m.ts, &m.target, &m.state_seq}) {
    if (!r.Signed(v)) return std::nullopt;
  }
  if (flags & 0x08) {
    int64_t v = 0;
    if (!r.Signed(&v)) return std::nullopt;
    m.reply_to = v;
  }
  if (flags & 0x10) {
    int64_t v = 0;
    if (!r.Signed(&v)) return std::nullopt;
    m.edited_ts = v;
  }
  if (!r.String(&m.body) || !r.String(&m.client_msg_id) || !r.String(&m.emoji)) return std::nullopt;
  uint64_t n = 0;
  // Each id takes at least one byte: a count beyond what is left is a lie.
  if (!r.Varint(&n) || n > r.remaining()) return std::nullopt;
  m.mentions.resize(static_cast<size_t>(n));
  for (UserId& u : m.mentions) {
    if (!r.Signed(&u.value)) return std::nullopt;
  }
  if (!r.Varint(&n) || n > r.remaining()) return std::nullopt;
  m.attachments.resize(static_cast<size_t>(n));
  for (Attachment& a : m.attachments) {
    if (!r.Signed(&a.id.value) || !r.String(&a.name) || !r.String(&a.content_type) || !r.Signed(&a.size)) {
      return std::nullopt;
    }
  }
  if (r.remaining() != 0) return std::nullopt;
  return m;
}

}  // namespace parley::presence::redis
