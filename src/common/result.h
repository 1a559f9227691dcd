#pragma once
// Result<T>: a value or an Error (std::expected is C++23; this is the subset we use).
#include <cassert>
#include <utility>
#include <variant>

#include "common/error.h"

namespace parley {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

}  // namespace parley

// PARLEY_ASSIGN_OR_RETURN(lhs, expr): evaluates the Result `expr`; on error
// returns that Error from the enclosing function (whose Result type may
// differ), else moves the value into `lhs` (a declaration or an lvalue).
#define PARLEY_RESULT_CONCAT_INNER(a, b) a##b
#define PARLEY_RESULT_CONCAT(a, b) PARLEY_RESULT_CONCAT_INNER(a, b)
#define PARLEY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).error();      \
  lhs = std::move(tmp).value()
#define PARLEY_ASSIGN_OR_RETURN(lhs, expr) \
  PARLEY_ASSIGN_OR_RETURN_IMPL(PARLEY_RESULT_CONCAT(parley_assign_, __LINE__), lhs, expr)
// PARLEY_RETURN_IF_ERROR(expr): evaluates the Result `expr`; on error returns
// that Error from the enclosing function (whose Result type may differ).
#define PARLEY_RETURN_IF_ERROR(expr)                                         \
  do {                                                                       \
    auto parley_return_if_error = (expr);                                    \
    if (!parley_return_if_error.ok()) return parley_return_if_error.error(); \
  } while (0)
