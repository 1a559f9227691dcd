#pragma once
// Human-readable and JSON output helpers.
#include <cstdint>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace parley::cli {

// `ms` (Unix epoch) in local time with strftime `format`.
std::string FormatTime(int64_t ms, const char* format = "%Y-%m-%d %H:%M:%S");

// "[2024-05-01 14:03:12] #7 alice: hello" (`with_seq`), or with a short
// time "[14:03] alice: hello". Newlines in the body are indented.
std::string FormatMessage(const boost::json::object& msg, const std::string& sender, bool long_form);

// One line of JSON (no trailing newline).
std::string JsonLine(const boost::json::value& v);

}  // namespace parley::cli
