// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `CircuitBreakerStore<Store>`: a store (anything whose operations are
/// coroutines, e.g. a repository on `breaker::postgres::Connection`) whose every
/// operation runs through a circuit breaker classified by SQLSTATE.

#include "breaker/postgres/policy.hpp"

#include "breaker/circuit_breaker.hpp"
#include "breaker/config.hpp"
#include "breaker/error.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace breaker::postgres {

/// Wraps a store so that each operation is guarded by a `CircuitBreaker<Clock>`
/// with `CircuitBreakerConfig::for_database()` defaults and `SqlStatePolicy`:
/// lost or refused connections, timeouts, and SQLSTATE classes 08, 53, 57, 58
/// and XX count as failures; constraint violations (23), syntax and access
/// errors (42), other statement errors and "no rows" (an empty `std::optional`
/// or `errc::no_rows`) do not, so a buggy query never opens the circuit.
///
/// \tparam Store the wrapped store; its operations return `asio::awaitable<R>`.
/// \tparam Clock the breaker's clock (`breaker::testing::ManualClock` in tests).
///
/// Usage: `co_await store.call(&IncidentStore::get, id)` or
/// `co_await store.call([](IncidentStore& s, int id) { return s.get(id); }, id)`.
///
/// Thread safety: `call` may be used concurrently from any thread when the
/// store's operations may (the breaker is lock-free); the wrapper adds no lock.
/// Lifetime: the wrapper must outlive the calls it started.
template <class Store, class Clock = std::chrono::steady_clock>
class CircuitBreakerStore {
 public:
  using store_type = Store;
  using breaker_type = CircuitBreaker<Clock>;

  /// A store with its own breaker called `name`.
  /// \throws CircuitBreakerError(errc::invalid_config) when `config` is invalid.
  CircuitBreakerStore(Store store, std::string name,
                      CircuitBreakerConfig config = CircuitBreakerConfig::for_database(), Clock clock = {})
      : store_(std::move(store)),
        breaker_(std::make_shared<breaker_type>(std::move(name), config, std::move(clock))) {}

  /// A store guarded by an existing breaker (e.g. one from a `Registry`).
  /// \throws std::invalid_argument when `breaker` is null.
  CircuitBreakerStore(Store store, std::shared_ptr<breaker_type> breaker)
      : store_(std::move(store)), breaker_(std::move(breaker)) {
    if (!breaker_) throw std::invalid_argument("CircuitBreakerStore: null breaker");
  }

  /// Runs `std::invoke(f, store(), args...)` (a coroutine) under the breaker.
  /// `f` and `args` are copied into the call's frame.
  /// \returns the operation's value.
  /// \throws CircuitBreakerError(errc::open) when the breaker rejects the call
  ///   (the store is not touched); CircuitBreakerError(errc::timeout) when the
  ///   breaker's `call_timeout` passes first (the operation is cancelled);
  ///   whatever the operation throws, unchanged. Runs through
  ///   `CircuitBreaker::call(op, SqlStatePolicy{})`.
  /// Cancellation: forwarded to the operation; recorded as ignored.
  template <class F, class... Args>
    requires detail::is_awaitable_v<std::invoke_result_t<F&, Store&, Args&...>>
  std::invoke_result_t<F&, Store&, Args&...> call(F f, Args... args) {
    auto op = [this, f = std::move(f), ... args = std::move(args)]() mutable {
      return std::invoke(f, store_, args...);
    };
    return breaker_->call(std::move(op), SqlStatePolicy{});
  }

  /// Like `call`, but returns `fallback()` instead when the breaker rejects the
  /// call or the operation fails in a way `SqlStatePolicy` counts as a failure
  /// (database unreachable, overloaded, shutting down, timed out). Errors that are
  /// not failures (constraint violations, syntax errors...) and cancellations
  /// propagate: a fallback must not hide the caller's own mistakes.
  /// A `call_timeout` passed also selects the fallback
  /// (`CircuitBreaker::call_with_fallback(op, fallback, SqlStatePolicy{})`).
  /// \param fallback `() -> R` or `() -> asio::awaitable<R>`, or either taking
  ///   `const FallbackContext&`; its exceptions propagate.
  template <class F, class Fallback, class... Args>
    requires detail::is_awaitable_v<std::invoke_result_t<F&, Store&, Args&...>>
  std::invoke_result_t<F&, Store&, Args&...> call_with_fallback(F f, Fallback fallback, Args... args) {
    auto op = [this, f = std::move(f), ... args = std::move(args)]() mutable {
      return std::invoke(f, store_, args...);
    };
    return breaker_->call_with_fallback(std::move(op), std::move(fallback), SqlStatePolicy{});
  }

  /// The wrapped store (unguarded access).
  Store& store() noexcept { return store_; }
  const Store& store() const noexcept { return store_; }
  /// The breaker.
  breaker_type& breaker() noexcept { return *breaker_; }
  /// The breaker, shared (e.g. to add it to a `Registry`).
  std::shared_ptr<breaker_type> shared_breaker() const noexcept { return breaker_; }

 private:
  Store store_;
  std::shared_ptr<breaker_type> breaker_;
};

}  // namespace breaker::postgres
