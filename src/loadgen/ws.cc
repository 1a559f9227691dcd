#include "loadgen/ws.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace parley::loadgen {
namespace {

std::string Base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value holds `token` (any case).
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (IEquals(Trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string WsUpgradeRequest(std::string_view host, std::string_view path, std::string_view key) {
  std::string r;
  r.reserve(160 + host.size() + path.size());
  r.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

std::string WsKeyFrom(uint64_t seed_a, uint64_t seed_b) {
  unsigned char bytes[16];
  std::memcpy(bytes, &seed_a, 8);
  std::memcpy(bytes + 8, &seed_b, 8);
  return Base64(bytes, sizeof(bytes));
}

std::optional<std::string> CheckWsUpgradeResponse(std::string_view head, std::string_view key) {
  size_t eol = head.find("\r\n");
  std::string_view status = head.substr(0, eol);
  // "HTTP/1.1 101 Switching Protocols"
  if (!status.starts_with("HTTP/1.1 101")) return "handshake: " + std::string(status.substr(0, 80));
  bool upgrade = false, connection = false, accepted = false;
  std::string want = ws::AcceptKey(key);
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
    if (IEquals(name, "upgrade")) upgrade = IEquals(value, "websocket");
    if (IEquals(name, "connection")) connection = HasToken(value, "upgrade");
    if (IEquals(name, "sec-websocket-accept")) accepted = value == want;
  }
  if (!upgrade) return std::string("handshake: no Upgrade: websocket");
  if (!connection) return std::string("handshake: no Connection: upgrade");
  if (!accepted) return std::string("handshake: wrong Sec-WebSocket-Accept");
  return std::nullopt;
}

void AppendWsClientFrame(WsOpcode opcode, std::string_view payload, uint32_t mask_key, std::string* out) {
  const size_t n = payload.size();
  out->push_back(static_cast<char>(0x80 | static_cast<uint8_t>(opcode)));
  if (n < 126) {
    out->push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out->push_back(static_cast<char>(0x80 | 126));
    out->push_back(static_cast<char>(n >> 8));
    out->push_back(static_cast<char>(n & 0xFF));
  } else {
    out->push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  unsigned char key[4] = {static_cast<unsigned char>(mask_key >> 24),
                          static_cast<unsigned char>(mask_key >> 16),
                          static_cast<unsigned char>(mask_key >> 8), static_cast<unsigned char>(mask_key)};
  out->append(reinterpret_cast<const char*>(key), 4);
  size_t start = out->size();
  out->append(payload);
  char* p = out->data() + start;
  // Eight bytes at a time with the key repeated, then the tail.
  uint64_t key8;
  unsigned char k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  std::memcpy(&key8, k8, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= key8;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ key[i % 4]);
}

WsReceiver::WsReceiver(size_t initial_bytes, size_t max_message_bytes)
    : buf_(std::max<size_t>(initial_bytes, 16), '\0'),
      initial_(buf_.size()),
      max_message_(max_message_bytes) {}

void WsReceiver::PrepareRead() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // A big message made the buffer grow; give the memory back between them.
    if (buf_.size() > 4 * initial_) std::string(initial_, '\0').swap(buf_);
  } else if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (need_ > buf_.size()) {
    buf_.resize(need_);
  } else if (buf_.size() - end_ < 256) {
    buf_.resize(buf_.size() * 2);
  }
}

bool WsReceiver::Next(Event* e, std::optional<std::string>* error) {
  for (;;) {
    const size_t avail = end_ - begin_;
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + begin_);
    need_ = 2;
    if (avail < 2) return false;
    const bool fin = (p[0] & 0x80) != 0;
    const unsigned op = p[0] & 0x0F;
    if ((p[0] & 0x70) != 0) {
      *error = "reserved bits set in a frame (no extension was agreed)";
      return false;
    }
    if ((p[1] & 0x80) != 0) {
      *error = "a server frame is masked";
      return false;
    }
    size_t header = 2;
    uint64_t len = p[1] & 0x7F;
    if (len == 126) {
      header = 4;
    } else if (len == 127) {
      header = 10;
    }
    need_ = header;
    if (avail < header) return false;
    if (header == 4) {
      len = (uint64_t{p[2]} << 8) | p[3];
    } else if (header == 10) {
      len = 0;
      for (int i = 2; i < 10; ++i) len = (len << 8) | p[i];
    }
    if (op >= 0x8 && (!fin || len > 125)) {
      *error = "a control frame is fragmented or over 125 bytes";
      return false;
    }
    if (len > max_message_) {
      *error = "a frame of " + std::to_string(len) + " bytes is over the limit";
      return false;
    }
    need_ = header + static_cast<size_t>(len);
    if (avail < need_) return false;
    std::string_view payload(buf_.data() + begin_ + header, static_cast<size_t>(len));
    begin_ += need_;
    need_ = 0;
    switch (op) {
      case 0x8:
      case 0x9:
      case 0xA:
        *e = Event{static_cast<WsOpcode>(op), payload};
        return true;
      case 0x1:
      case 0x2:
        if (in_fragments_) {
          *error = "a new message inside a fragmented one";
          return false;
        }
        if (fin) {
          *e = Event{static_cast<WsOpcode>(op), payload};
          return true;
        }
        in_fragments_ = true;
        fragments_opcode_ = static_cast<WsOpcode>(op);
        fragments_.assign(payload);
        continue;
      case 0x0:
        if (!in_fragments_) {
          *error = "a continuation frame without a first one";
          return false;
        }
        if (fragments_.size() + payload.size() > max_message_) {
          *error = "a fragmented message over the limit";
          return false;
        }
        fragments_.append(payload);
        if (!fin) continue;
        in_fragments_ = false;
        *e = Event{fragments_opcode_, fragments_};
        return true;
      default:
        *error = "unknown opcode " + std::to_string(op);
        return false;
    }
  }
}

}  // namespace parley::loadgen
