#pragma once
// Human-readable and JSON output helpers.
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

#include "common/model.h"

namespace parley::cli {

// `ms` (Unix epoch) in local time with strftime `format`.
std::string FormatTime(int64_t ms, const char* format = "%Y-%m-%d %H:%M:%S");

// At most `max_bytes` of `text`, cut on a character boundary, with "..."
// after it when something was cut.
std::string Excerpt(std::string_view text, size_t max_bytes);

// One line of JSON (no trailing newline).
std::string JsonLine(const boost::json::value& v);

// A message as the server writes it (protocol::ToJson: a text entry folded,
// a change entry as stored) plus "sender_username", as one JSON line.
std::string MessageJson(const Message& msg, const std::string& sender_username);

}  // namespace parley::cli
