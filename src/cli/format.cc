#include "cli/format.h"

#include <ctime>

#include <boost/json/serialize.hpp>

#include "client/json_util.h"

namespace parley::cli {

std::string FormatTime(int64_t ms, const char* format) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char buffer[64];
  size_t n = std::strftime(buffer, sizeof buffer, format, &local);
  return std::string(buffer, n);
}

std::string FormatMessage(const boost::json::object& msg, const std::string& sender, bool long_form) {
  int64_t ts = client::GetInt(msg, "ts").value_or(0);
  std::string body = client::GetString(msg, "body");
  std::string indented;
  indented.reserve(body.size());
  for (char c : body) {
    indented += c;
    if (c == '\n') indented += "    ";
  }
  if (long_form) {
    int64_t seq = client::GetInt(msg, "seq").value_or(0);
    return "[" + FormatTime(ts) + "] #" + std::to_string(seq) + " " + sender + ": " + indented;
  }
  return "[" + FormatTime(ts, "%H:%M") + "] " + sender + ": " + indented;
}

std::string JsonLine(const boost::json::value& v) { return boost::json::serialize(v); }

}  // namespace parley::cli
