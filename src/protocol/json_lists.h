#pragma once
// Private to protocol/: reading nested values and arrays of them with
// errors that name their place. Included only by .cc files, which pay for
// <boost/json.hpp> anyway.
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "protocol/json.h"

namespace parley::protocol {

// The value `parse` reads from `o[key]`; errors name the key ("user: ...").
template <class T>
Result<T> ParseField(const boost::json::object& o, std::string_view key,
                     Result<T> (*parse)(const boost::json::value&)) {
  const boost::json::value* v = o.if_contains(key);
  if (!v) return MakeError(Errc::kBadRequest, "missing field '" + std::string(key) + "'");
  auto r = parse(*v);
  if (!r) return WithContext(key, std::move(r).error());
  return r;
}

// Every element of the array `o[key]` read by `parse`; an element's error
// names its place ("members: [2]: missing field 'role'").
template <class T>
Result<std::vector<T>> ParseList(const boost::json::object& o, std::string_view key,
                                 Result<T> (*parse)(const boost::json::value&)) {
  PARLEY_ASSIGN_OR_RETURN(const boost::json::array* arr, RequireArray(o, key));
  std::vector<T> out;
  out.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    auto item = parse((*arr)[i]);
    if (!item) {
      return WithContext(std::string(key) + ": [" + std::to_string(i) + "]", std::move(item).error());
    }
    out.push_back(std::move(item).value());
  }
  return out;
}

}  // namespace parley::protocol
