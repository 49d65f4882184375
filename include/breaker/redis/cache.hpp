// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `CircuitBreakerRedis<Clock>`: runs cache operations (coroutines, typically
/// on a `breaker::redis::Connection`) through a circuit breaker with
/// `CircuitBreakerConfig::for_cache()` defaults and `CachePolicy`.

#include "breaker/redis/policy.hpp"

#include "breaker/circuit_breaker.hpp"
#include "breaker/config.hpp"
#include "breaker/error.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace breaker::redis {

/// The seed's `CircuitBreakerRedis`: `execute(op)` and `execute_with_fallback(op, fallback)`.
///
/// What counts: a value is a success, a cache miss included; lost or refused
/// connections, timeouts and "server cannot serve" replies (LOADING, BUSY, OOM,
/// MISCONF, READONLY, ...) are failures; other error replies (WRONGTYPE, syntax)
/// are successes (the cache works, the caller erred); cancellation is ignored.
/// See `classify_exception`.
///
/// \tparam Clock the breaker's clock (`breaker::testing::ManualClock` in tests).
///
/// Thread safety: any member from any thread concurrently (the breaker is
/// lock-free; the wrapper holds no other state). Lifetime: must outlive the calls
/// it started.
template <class Clock = std::chrono::steady_clock>
class CircuitBreakerRedis {
 public:
  using breaker_type = CircuitBreaker<Clock>;

  /// A wrapper with its own breaker called `name`.
  /// \throws CircuitBreakerError(errc::invalid_config) when `config` is invalid.
  explicit CircuitBreakerRedis(std::string name, CircuitBreakerConfig config = CircuitBreakerConfig::for_cache(),
                               Clock clock = {})
      : breaker_(std::make_shared<breaker_type>(std::move(name), config, std::move(clock))) {}

  /// A wrapper around an existing breaker. \throws std::invalid_argument when null.
  explicit CircuitBreakerRedis(std::shared_ptr<breaker_type> breaker) : breaker_(std::move(breaker)) {
    if (!breaker_) throw std::invalid_argument("CircuitBreakerRedis: null breaker");
  }

  /// Runs the coroutine `op()` under the breaker (`op` is moved into the call's frame).
  /// \returns the operation's value.
  /// \throws CircuitBreakerError(errc::open) when rejected (op is not called);
  ///   CircuitBreakerError(errc::timeout) when the breaker's `call_timeout`
  ///   passes first (op is cancelled); whatever `op` throws, unchanged. Runs
  ///   through `CircuitBreaker::call(op, CachePolicy{})`.
  template <class Op>
    requires detail::is_awaitable_v<std::invoke_result_t<Op&>>
  std::invoke_result_t<Op&> execute(Op op) {
    return breaker_->call(std::move(op), CachePolicy{});
  }

  /// Like `execute`, but when the breaker rejects the call, the breaker's
  /// `call_timeout` passes first, or `op` throws (anything but a cancellation),
  /// returns the fallback's value instead: the cache is bypassed and no error
  /// surfaces. Runs through `CircuitBreaker::call(op, CachePolicy{})`, so the
  /// outcome is recorded as `execute` records it (failures by `CachePolicy`
  /// count towards opening the breaker; an error reply the caller caused, e.g.
  /// WRONGTYPE, counts as a success and is still replaced by the fallback).
  /// \param fallback `() -> R` or `() -> asio::awaitable<R>`; its exceptions propagate.
  /// Cancellation: propagates (never replaced by the fallback), and is recorded
  ///   as ignored.
  template <class Op, class Fallback>
    requires detail::is_awaitable_v<std::invoke_result_t<Op&>>
  std::invoke_result_t<Op&> execute_with_fallback(Op op, Fallback fallback) {
    using R = typename detail::awaitable_traits<std::invoke_result_t<Op&>>::value_type;
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<R>) {
        co_await breaker_->call(std::move(op), CachePolicy{});
        co_return;
      } else {
        co_return co_await breaker_->call(std::move(op), CachePolicy{});
      }
    } catch (...) {
      error = std::current_exception();
    }
    if (breaker::detail::is_cancelled(error)) std::rethrow_exception(error);
    if constexpr (detail::is_awaitable_v<std::invoke_result_t<Fallback&>>) {
      if constexpr (std::is_void_v<R>) {
        co_await fallback();
        co_return;
      } else {
        co_return co_await fallback();
      }
    } else {
      if constexpr (std::is_void_v<R>) {
        fallback();
        co_return;
      } else {
        co_return static_cast<R>(fallback());
      }
    }
  }

  /// The breaker.
  breaker_type& breaker() noexcept { return *breaker_; }
  /// The breaker, shared (e.g. to add it to a `Registry`).
  std::shared_ptr<breaker_type> shared_breaker() const noexcept { return breaker_; }

 private:
  std::shared_ptr<breaker_type> breaker_;
};

}  // namespace breaker::redis
