// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Recognising `asio::awaitable<T, Executor>` and the void/non-void split.

#include <asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace breaker::detail {

template <class T>
struct awaitable_traits : std::false_type {};
template <class T, class Executor>
struct awaitable_traits<asio::awaitable<T, Executor>> : std::true_type {
  using value_type = T;
  using executor_type = Executor;
};

template <class T>
inline constexpr bool is_awaitable_v = awaitable_traits<std::remove_cvref_t<T>>::value;

/// The value type of the awaitable an operation `Op` returns.
template <class Op>
using awaited_t = typename awaitable_traits<std::invoke_result_t<Op&>>::value_type;

/// The one place where "the operation returns a value" and "returns void"
/// differ: holds the value of a finished call (nothing for void) so that the
/// code around it is written once. `take()` returns it (void for void), so
/// `return slot.take();` and `co_return slot.take();` work for both.
template <class R>
class Returned {
 public:
  /// Calls `f()` and keeps its value.
  template <class F>
  void invoke(F& f) {
    value_.emplace(f());
  }
  /// Keeps `value` (the result of `co_await op()`).
  void set(R&& value) { value_.emplace(std::move(value)); }
  bool has_value() const noexcept { return value_.has_value(); }
  const R& value() const noexcept { return *value_; }
  R take() { return std::move(*value_); }

 private:
  std::optional<R> value_;
};

/// A reference result: keeps the address.
template <class R>
  requires std::is_reference_v<R>
class Returned<R> {
 public:
  template <class F>
  void invoke(F& f) {
    R result = f();
    value_ = std::addressof(result);
  }
  bool has_value() const noexcept { return value_ != nullptr; }
  const std::remove_reference_t<R>& value() const noexcept { return *value_; }
  R take() noexcept { return static_cast<R>(*value_); }

 private:
  std::remove_reference_t<R>* value_ = nullptr;
};

template <>
class Returned<void> {
 public:
  template <class F>
  void invoke(F& f) {
    f();
    done_ = true;
  }
  void set() noexcept { done_ = true; }
  bool has_value() const noexcept { return done_; }
  void take() noexcept {}

 private:
  bool done_ = false;
};

}  // namespace breaker::detail
