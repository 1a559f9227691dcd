#include "cli/format.h"

#include <ctime>

#include <boost/json.hpp>

#include "protocol/frames.h"
#include "protocol/utf8.h"

namespace parley::cli {

std::string FormatTime(int64_t ms, const char* format) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char buffer[64];
  size_t n = std::strftime(buffer, sizeof buffer, format, &local);
  return std::string(buffer, n);
}

std::string Excerpt(std::string_view text, size_t max_bytes) {
  std::string_view kept = protocol::Utf8Prefix(text, max_bytes);
  return std::string(kept) + (kept.size() < text.size() ? "..." : "");
}

std::string JsonLine(const boost::json::value& v) { return boost::json::serialize(v); }

std::string MessageJson(const Message& msg, const std::string& sender_username) {
  boost::json::object out = protocol::ToJson(msg);
  out["sender_username"] = sender_username;
  return JsonLine(out);
}

}  // namespace parley::cli
