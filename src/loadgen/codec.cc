#include "loadgen/codec.h"

#include <charconv>

#include "protocol/json.h"

namespace parley::loadgen {
namespace {

bool ParseInt(std::string_view s, size_t* pos, int64_t* out) {
  size_t start = *pos;
  auto [ptr, ec] = std::from_chars(s.data() + start, s.data() + s.size(), *out);
  if (ec != std::errc()) return false;
  *pos = static_cast<size_t>(ptr - s.data());
  return true;
}

// The contents of the JSON string starting at s[pos] == '"'; pos moves past
// its closing quote. Escapes are skipped over, not decoded.
bool ScanString(std::string_view s, size_t* pos, std::string_view* out) {
  if (*pos >= s.size() || s[*pos] != '"') return false;
  size_t i = *pos + 1;
  size_t start = i;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\') {
      i += 2;
      continue;
    }
    if (c == '"') {
      *out = s.substr(start, i - start);
      *pos = i + 1;
      return true;
    }
    ++i;
  }
  return false;
}

// Finds `"key":` and returns the position of its value.
std::optional<size_t> FindValue(std::string_view s, std::string_view quoted_key_colon, size_t from = 0) {
  size_t p = s.find(quoted_key_colon, from);
  if (p == std::string_view::npos) return std::nullopt;
  return p + quoted_key_colon.size();
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

ParleyFrame ScanParleyFrame(std::string_view s) {
  ParleyFrame f;
  if (s.size() < 2 || s[0] != '{') return f;
  if (s.starts_with("{\"re\":")) {
    size_t pos = 6;
    if (!ParseInt(s, &pos, &f.re)) return f;
    auto t = FindValue(s, "\"type\":", pos);
    std::string_view type;
    if (!t || !ScanString(s, &*t, &type)) return f;
    if (type == "sent") {
      f.kind = ParleyFrame::Kind::kSent;
      if (auto q = FindValue(s, "\"seq\":", *t)) {
        size_t qp = *q;
        ParseInt(s, &qp, &f.seq);
      }
    } else if (type == "history") {
      f.kind = ParleyFrame::Kind::kHistory;
    } else if (type == "welcome") {
      f.kind = ParleyFrame::Kind::kWelcome;
    } else if (type == "error") {
      f.kind = ParleyFrame::Kind::kError;
      if (auto c = FindValue(s, "\"code\":", *t)) {
        size_t cp = *c;
        ScanString(s, &cp, &f.code);
      }
    } else {
      f.kind = ParleyFrame::Kind::kOtherAnswer;
    }
    return f;
  }
  // Events. A message event carries "body" and "seq" and "type":"message".
  auto type_pos = FindValue(s, "\"type\":\"message\"");
  if (!type_pos) {
    auto t = FindValue(s, "\"type\":");
    std::string_view type;
    if (t && ScanString(s, &*t, &type) && type == "error") {
      f.kind = ParleyFrame::Kind::kError;
      if (auto c = FindValue(s, "\"code\":")) {
        size_t cp = *c;
        ScanString(s, &cp, &f.code);
      }
      return f;
    }
    f.kind = ParleyFrame::Kind::kOtherEvent;
    return f;
  }
  auto c = FindValue(s, "\"conv\":");
  auto q = FindValue(s, "\"seq\":");
  auto b = FindValue(s, "\"body\":");
  if (!c || !q || !b) return f;
  size_t cp = *c, qp = *q, bp = *b;
  if (!ScanString(s, &cp, &f.conv) || !ParseInt(s, &qp, &f.seq) || !ScanString(s, &bp, &f.body)) return f;
  f.kind = ParleyFrame::Kind::kMessage;
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
