#include "loadgen/codec.h"

#include <algorithm>
#include <cstring>

#include "protocol/json.h"

namespace parley::loadgen {
namespace {

// A decimal integer (an optional '-', then 1 to 18 digits: every counter,
// time and id the generator reads fits) at s[pos]; pos moves past it. By
// hand rather than std::from_chars: it runs several times per frame read.
bool ParseInt(std::string_view s, size_t* pos, int64_t* out) {
  size_t i = *pos;
  bool negative = i < s.size() && s[i] == '-';
  if (negative) ++i;
  const size_t first = i;
  int64_t v = 0;
  while (i < s.size() && i - first < 18 && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
  if (i == first || (i < s.size() && s[i] >= '0' && s[i] <= '9')) return false;  // none, or too long
  *out = negative ? -v : v;
  *pos = i;
  return true;
}

// The contents of the JSON string starting at s[pos] == '"'; pos moves past
// its closing quote. Escapes are skipped over, not decoded. Keys and short
// values are walked byte by byte; past 32 bytes (a body) the closing quote is
// found with memchr: a quote is closing unless an odd run of backslashes
// precedes it.
bool ScanString(std::string_view s, size_t* pos, std::string_view* out) {
  if (*pos >= s.size() || s[*pos] != '"') return false;
  const size_t start = *pos + 1;
  size_t i = start;
  for (const size_t short_end = std::min(s.size(), start + 32); i < short_end; ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      *out = s.substr(start, i - start);
      *pos = i + 1;
      return true;
    }
  }
  while (i < s.size()) {
    const void* q = std::memchr(s.data() + i, '"', s.size() - i);
    if (!q) return false;
    size_t at = static_cast<size_t>(static_cast<const char*>(q) - s.data());
    size_t backslashes = 0;
    while (at - backslashes > start && s[at - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) {
      *out = s.substr(start, at - start);
      *pos = at + 1;
      return true;
    }
    i = at + 1;
  }
  return false;
}

// Moves pos past the JSON value at s[pos] (compact JSON, as parleyd writes
// it); false when it is not one.
bool SkipValue(std::string_view s, size_t* pos) {
  if (*pos >= s.size()) return false;
  std::string_view ignored;
  const char c = s[*pos];
  if (c == '"') return ScanString(s, pos, &ignored);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (*pos < s.size()) {
      const char d = s[*pos];
      if (d == '"') {
        if (!ScanString(s, pos, &ignored)) return false;
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') --depth;
      ++*pos;
      if (depth == 0) return true;
    }
    return false;
  }
  // A number, true, false or null: up to the next delimiter.
  size_t i = *pos;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']') ++i;
  if (i == *pos) return false;
  *pos = i;
  return true;
}

}  // namespace

void AppendPayload(const Payload& p, int body_bytes, std::string* out) {
  size_t start = out->size();
  protocol::AppendJsonInt(p.epoch, out);
  out->push_back(':');
  protocol::AppendJsonInt(p.slot, out);
  out->push_back(':');
  protocol::AppendJsonInt(p.counter, out);
  out->push_back(':');
  protocol::AppendJsonInt(p.sched_us, out);
  out->push_back(':');
  size_t len = out->size() - start;
  if (body_bytes > 0 && len < static_cast<size_t>(body_bytes))
    out->append(static_cast<size_t>(body_bytes) - len, 'x');
}

std::optional<Payload> DecodePayload(std::string_view text) {
  Payload p;
  size_t pos = 0;
  int64_t* fields[] = {&p.epoch, &p.slot, &p.counter, &p.sched_us};
  for (int64_t* f : fields) {
    if (!ParseInt(text, &pos, f)) return std::nullopt;
    if (pos >= text.size() || text[pos] != ':') return std::nullopt;
    ++pos;
  }
  return p;
}

// One pass over the top-level keys, in any order; only the values the
// generator counts are read, the others skipped (nested ones whole).
ParleyFrame ScanParleyFrame(std::string_view s) {
  ParleyFrame f;
  if (s.size() < 2 || s[0] != '{') return f;
  std::string_view type, conv, body, code, kind;
  bool has_re = false, has_seq = false, has_conv = false, has_body = false;
  int64_t re = -1, seq = -1;
  size_t pos = 1;
  while (pos < s.size() && s[pos] != '}') {
    std::string_view key;
    if (!ScanString(s, &pos, &key) || pos >= s.size() || s[pos] != ':') return f;
    ++pos;
    bool ok;
    if (key == "re") {
      ok = has_re = ParseInt(s, &pos, &re);
    } else if (key == "type") {
      ok = ScanString(s, &pos, &type);
    } else if (key == "seq") {
      ok = has_seq = ParseInt(s, &pos, &seq);
    } else if (key == "conv") {
      ok = has_conv = ScanString(s, &pos, &conv);
    } else if (key == "body") {
      ok = has_body = ScanString(s, &pos, &body);
    } else if (key == "code") {
      ok = ScanString(s, &pos, &code);
    } else if (key == "kind") {
      ok = ScanString(s, &pos, &kind);
    } else {
      ok = SkipValue(s, &pos);
    }
    if (!ok || pos >= s.size()) return f;
    if (s[pos] == ',') ++pos;
  }
  if (pos >= s.size()) return f;  // never closed
  if (has_re) {
    f.re = re;
    if (type == "sent") {
      f.kind = ParleyFrame::Kind::kSent;
      f.seq = seq;
    } else if (type == "history") {
      f.kind = ParleyFrame::Kind::kHistory;
    } else if (type == "welcome") {
      f.kind = ParleyFrame::Kind::kWelcome;
    } else if (type == "error") {
      f.kind = ParleyFrame::Kind::kError;
      f.code = code;
    } else if (!type.empty()) {
      f.kind = ParleyFrame::Kind::kOtherAnswer;
    }
    return f;
  }
  if (type == "message") {
    if (!has_conv || !has_seq || !has_body) return f;
    f.kind = ParleyFrame::Kind::kMessage;
    f.conv = conv;
    f.seq = seq;
    f.body = body;
    f.change = !kind.empty() && kind != "text";
  } else if (type == "error") {
    f.kind = ParleyFrame::Kind::kError;
    f.code = code;
  } else {
    f.kind = ParleyFrame::Kind::kOtherEvent;
  }
  return f;
}

EioPacket ParseEioPacket(std::string_view s) {
  EioPacket p;
  if (s.empty()) return p;
  switch (s[0]) {
    case '0':
      p.kind = EioPacket::Kind::kOpen;
      p.data = s.substr(1);
      return p;
    case '1':
      p.kind = EioPacket::Kind::kClose;
      return p;
    case '2':
      p.kind = EioPacket::Kind::kPing;
      return p;
    case '3':
      p.kind = EioPacket::Kind::kPong;
      return p;
    case '4':
      break;
    default:
      p.kind = EioPacket::Kind::kOther;
      return p;
  }
  if (s.size() < 2) return p;
  char sio = s[1];
  size_t pos = 2;
  // An optional namespace: "/name," (the default namespace has none).
  if (pos < s.size() && s[pos] == '/') {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) return p;
    pos = comma + 1;
  }
  if (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    if (!ParseInt(s, &pos, &p.ack_id)) return p;
  }
  p.data = s.substr(pos);
  switch (sio) {
    case '0':
      p.kind = EioPacket::Kind::kConnect;
      return p;
    case '4':
      p.kind = EioPacket::Kind::kConnectError;
      return p;
    case '3':
      p.kind = EioPacket::Kind::kAck;
      return p;
    case '2':
      break;
    default:
      p.kind = EioPacket::Kind::kOther;
      return p;
  }
  // ["event","room","payload"] (room and payload optional; only strings read)
  if (pos >= s.size() || s[pos] != '[') return p;
  ++pos;
  std::string_view* slots[] = {&p.event, &p.room, &p.payload};
  for (int i = 0; i < 3; ++i) {
    while (pos < s.size() && s[pos] == ' ') ++pos;
    if (pos < s.size() && s[pos] == '"') {
      if (!ScanString(s, &pos, slots[i])) return p;
    } else {
      break;
    }
    while (pos < s.size() && s[pos] == ' ') ++pos;
    if (pos < s.size() && s[pos] == ',') {
      ++pos;
      continue;
    }
    break;
  }
  if (p.event.empty()) return p;
  p.kind = EioPacket::Kind::kEvent;
  return p;
}

void AppendEioJoin(int64_t ack_id, std::string_view room, std::string* out) {
  out->append("42");
  protocol::AppendJsonInt(ack_id, out);
  out->append("[\"join\",");
  protocol::AppendJsonString(room, out);
  out->push_back(']');
}

void AppendEioChat(std::string_view room, std::string_view payload, std::string* out) {
  out->append("42[\"chat\",");
  protocol::AppendJsonString(room, out);
  out->push_back(',');
  protocol::AppendJsonString(payload, out);
  out->push_back(']');
}

}  // namespace parley::loadgen
