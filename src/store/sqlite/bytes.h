#pragma once
// Compact binary values of the embedded backend's RocksDB keys and values:
// big-endian fixed integers for keys (byte order is numeric order), varints
// and length-prefixed strings for values. Internal to the SQLite backend.
#include <cstdint>
#include <string>
#include <string_view>

namespace parley::store::sqlite {

inline void PutFixed(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Signed values zigzag-encoded, so small negatives stay short.
inline void PutSigned(std::string& out, int64_t v) {
  PutVarint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

inline void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

// Reads what the Put functions wrote; any read past the end, or a malformed
// varint, sets `failed` and yields zeros (the caller checks ok() once).
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  uint64_t Fixed() {
    if (in_.size() < 8) return Fail();
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in_[i]);
    in_.remove_prefix(8);
    return v;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return Fail();
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    return Fail();
  }
  int64_t Signed() {
    const uint64_t v = Varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  std::string String() {
    const uint64_t n = Varint();
    if (n > in_.size()) {
      Fail();
      return {};
    }
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  std::string_view Rest() const { return in_; }
  bool ok() const { return !failed_; }
  bool done() const { return in_.empty(); }

 private:
  uint64_t Fail() {
    failed_ = true;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool failed_ = false;
};

}  // namespace parley::store::sqlite
