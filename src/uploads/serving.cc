#include "uploads/serving.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "protocol/utf8.h"

namespace parley::uploads {
namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Unsafe(unsigned char c) { return c < 0x20 || c == 0x7f || c == '/' || c == '\\'; }

std::optional<int64_t> Number(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

Result<std::string> StoredName(std::string_view name) {
  if (name.empty()) return MakeError(Errc::kBadRequest, "query parameter 'name' must not be empty");
  if (!protocol::IsValidUtf8(name)) return MakeError(Errc::kBadRequest, "'name' must be valid UTF-8");
  std::string out;
  for (char c : name) {
    if (c == '\0') {
      out += "\xEF\xBF\xBD";
    } else {
      out += c;
    }
  }
  if (out.size() > kMaxNameBytes) {
    return MakeError(Errc::kBadRequest, "'name' must be at most " + std::to_string(kMaxNameBytes) + " bytes");
  }
  return out;
}

std::string StoredContentType(std::string_view header) {
  std::string_view type = Trim(header.substr(0, header.find(';')));
  size_t slash = type.find('/');
  const bool ok =
      slash != std::string_view::npos && slash > 0 && slash + 1 < type.size() &&
      std::all_of(type.begin(), type.begin() + static_cast<std::ptrdiff_t>(slash), IsTokenChar) &&
      std::all_of(type.begin() + static_cast<std::ptrdiff_t>(slash) + 1, type.end(), IsTokenChar) &&
      type.size() <= 127;
  if (!ok) return "application/octet-stream";
  std::string out(type);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

ServedType ServeAs(std::string_view stored_type) {
  const std::string type = StoredContentType(stored_type);
  const std::string_view t = type;
  const bool media = t.starts_with("image/") || t.starts_with("audio/") || t.starts_with("video/");
  // SVG is a document that runs scripts; so is anything that says xml.
  const bool scriptable = t.find("svg") != std::string_view::npos || t.find("xml") != std::string_view::npos;
  if (media && !scriptable) return ServedType{type, false};
  return ServedType{"application/octet-stream", true};
}

std::string ContentDisposition(bool attachment, std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string fallback;
  std::string encoded;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (Unsafe(c)) {
      fallback += '_';
      encoded += '_';
      continue;
    }
    fallback += (c >= 0x80 || c == '"' || c == '%') ? '_' : static_cast<char>(c);
    if (std::isalnum(c) != 0 ||
        std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  if (fallback.empty()) fallback = "download";
  std::string out = attachment ? "attachment" : "inline";
  out += "; filename=\"" + fallback + "\"";
  if (!encoded.empty()) out += "; filename*=UTF-8''" + encoded;
  return out;
}

RangeRequest ParseRange(std::string_view header, int64_t size) {
  RangeRequest whole;
  header = Trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size() || header.substr(0, kUnit.size()) != kUnit) return whole;
  std::string_view spec = Trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return whole;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view a = Trim(spec.substr(0, dash));
  std::string_view b = Trim(spec.substr(dash + 1));
  RangeRequest r;
  r.kind = RangeRequest::Kind::kPartial;
  if (a.empty()) {  // the last b bytes
    auto n = Number(b);
    if (!n) return whole;
    if (*n == 0 || size == 0) return RangeRequest{RangeRequest::Kind::kUnsatisfiable, 0, 0};
    r.first = std::max<int64_t>(0, size - *n);
    r.last = size - 1;
    return r;
  }
  auto first = Number(a);
  if (!first) return whole;
  std::optional<int64_t> last =
      b.empty() ? std::optional<int64_t>(std::max<int64_t>(*first, size - 1)) : Number(b);
  if (!last || *last < *first) return whole;
  if (*first >= size) return RangeRequest{RangeRequest::Kind::kUnsatisfiable, 0, 0};
  r.first = *first;
  r.last = std::min(*last, size - 1);
  return r;
}

}  // namespace parley::uploads
