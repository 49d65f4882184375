// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Function-level protection through a registry: `with_circuit_breaker(name,
/// config, op)` and `with_circuit_breaker_and_fallback(name, config, op,
/// fallback)` run `op` under the breaker called `name` (created with `config`
/// on first use) of `global_registry()`, or of a registry passed first.
///
/// \code
/// // Coroutine form: op returns asio::awaitable<R>; the result is co_awaited.
/// auto fetch = [&] { return client.fetch_alerts(10); };
/// std::vector<Alert> alerts =
///     co_await breaker::with_circuit_breaker("sentinel", CircuitBreakerConfig::for_llm_service(),
///                                            fetch);
/// // Synchronous form: op returns a plain value; runs at once.
/// int rows = breaker::with_circuit_breaker_and_fallback(
///     "orders-db", CircuitBreakerConfig::for_database(), [&] { return db.count(); },
///     [] { return -1; });
/// \endcode
///
/// The form is chosen by what `op()` returns: an `asio::awaitable<R, E>` gives
/// the coroutine form (`CircuitBreaker::call` / `call_with_fallback`), anything
/// else the synchronous form (`CircuitBreaker::execute` /
/// `execute_with_fallback`). Outcomes, rejections, timeouts, cancellation and
/// fallbacks follow those functions exactly.

#include "breaker/circuit_breaker.hpp"
#include "breaker/config.hpp"
#include "breaker/outcome.hpp"
#include "breaker/registry.hpp"

#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

namespace breaker {

namespace detail {

/// Whether `op()` returns an `asio::awaitable` (the coroutine form).
template <class Op>
concept coroutine_operation =
    std::is_invocable_v<Op&> && is_awaitable_v<std::invoke_result_t<Op&>>;

/// Whether `op()` returns something else (the synchronous form).
template <class Op>
concept sync_operation = std::is_invocable_v<Op&> && !is_awaitable_v<std::invoke_result_t<Op&>>;

// The coroutine forms keep the breaker alive (shared_ptr in the frame) until
// the call has finished, whatever the registry does meanwhile.
// `policy...` is empty or one outcome policy.
template <class Breaker, class Op, class... Policy>
std::invoke_result_t<Op&> call_holding(std::shared_ptr<Breaker> breaker, Op op, Policy... policy) {
  co_return co_await breaker->call(std::move(op), std::move(policy)...);
}

template <class Breaker, class Op, class Fallback, class... Policy>
std::invoke_result_t<Op&> call_with_fallback_holding(std::shared_ptr<Breaker> breaker, Op op,
                                                     Fallback fallback, Policy... policy) {
  co_return co_await breaker->call_with_fallback(std::move(op), std::move(fallback),
                                                 std::move(policy)...);
}

}  // namespace detail

/// Runs the coroutine `op()` under `registry.get_or_create(name, config)`:
/// `co_await with_circuit_breaker(registry, name, config, op)`.
///
/// \param registry the registry holding (or receiving) the breaker.
/// \param name the breaker's name; only read during this call.
/// \param config the config the breaker is created with if `name` is new; an
///   existing breaker is used when `config` equals its creation or current
///   config (see `BasicRegistry::get_or_create`).
/// \param op a callable with no arguments returning `asio::awaitable<R, E>`,
///   moved into the returned coroutine and invoked once, only when admitted.
/// \returns an awaitable of `op`'s value (as `CircuitBreaker::call`).
/// \throws (from this call, before anything is awaited) what `get_or_create`
///   throws: CircuitBreakerError with `errc::already_exists` or
///   `errc::invalid_config`. (From the `co_await`) what `CircuitBreaker::call`
///   throws: `errc::open` when rejected, `errc::timeout`, or `op`'s own
///   exception unchanged.
/// Lifetimes: the returned awaitable owns the breaker (a `shared_ptr`) and
///   `op`; `name` and `config` need not outlive this call.
/// Cancellation, thread safety: as `CircuitBreaker::call`.
/// g++ 12: name a lambda that captures by value before the `co_await` (g++ 12
///   destroys the captures of a lambda written inside a `co_await` expression
///   twice): `auto op = [s] {...}; co_await with_circuit_breaker(n, c, op);`.
template <class Clock, detail::coroutine_operation Op>
std::invoke_result_t<Op&> with_circuit_breaker(BasicRegistry<Clock>& registry,
                                               std::string_view name,
                                               const CircuitBreakerConfig& config, Op op) {
  return detail::call_holding(registry.get_or_create(name, config), std::move(op));
}

/// Runs `f()` at once under `registry.get_or_create(name, config)` (the
/// synchronous form, `CircuitBreaker::execute`).
/// \returns `f()`'s value.
/// \throws what `get_or_create` throws; CircuitBreakerError(errc::open) when
///   rejected; whatever `f` throws, unchanged.
/// Thread safety: any thread.
template <class Clock, detail::sync_operation F>
std::invoke_result_t<F&> with_circuit_breaker(BasicRegistry<Clock>& registry,
                                              std::string_view name,
                                              const CircuitBreakerConfig& config, F&& f) {
  const auto breaker = registry.get_or_create(name, config);
  return breaker->execute(std::forward<F>(f));
}

/// Like `with_circuit_breaker(registry, name, config, op)`, but on rejection,
/// failure or timeout the result is the fallback's (`CircuitBreaker::
/// call_with_fallback` or `execute_with_fallback`; the outcome is still
/// recorded; a cancellation is not replaced). `fallback` is `() -> R` or, in
/// the coroutine form, `() -> asio::awaitable<R, E>`; it is moved into the
/// returned coroutine (coroutine form). Exceptions from `fallback` propagate.
/// \throws what `get_or_create` throws (from this call).
template <class Clock, detail::coroutine_operation Op, class Fallback>
std::invoke_result_t<Op&> with_circuit_breaker_and_fallback(BasicRegistry<Clock>& registry,
                                                            std::string_view name,
                                                            const CircuitBreakerConfig& config,
                                                            Op op, Fallback fallback) {
  return detail::call_with_fallback_holding(registry.get_or_create(name, config), std::move(op),
                                            std::move(fallback));
}

/// The synchronous form of `with_circuit_breaker_and_fallback`
/// (`CircuitBreaker::execute_with_fallback`): runs at once.
template <class Clock, detail::sync_operation F, class Fallback>
std::invoke_result_t<F&> with_circuit_breaker_and_fallback(BasicRegistry<Clock>& registry,
                                                           std::string_view name,
                                                           const CircuitBreakerConfig& config,
                                                           F&& f, Fallback&& fallback) {
  const auto breaker = registry.get_or_create(name, config);
  return breaker->execute_with_fallback(std::forward<F>(f), std::forward<Fallback>(fallback));
}

/// With an outcome policy (`<breaker/outcome.hpp>`: `record_exceptions<E...>()`,
/// `ignore_exceptions<E...>()`, `record_result(pred)`, `is_successful(pred)`,
/// `combine(...)` or your own): `policy` classifies `op`'s value and
/// exceptions (`CircuitBreaker::call(op, policy)` / `execute(f, policy)`). A
/// value classified as a failure is recorded as one and still returned.
/// Otherwise as the form without a policy; `policy` is copied into the call.
template <class Clock, detail::coroutine_operation Op, class Policy>
std::invoke_result_t<Op&> with_circuit_breaker(BasicRegistry<Clock>& registry,
                                               std::string_view name,
                                               const CircuitBreakerConfig& config, Op op,
                                               Policy policy) {
  return detail::call_holding(registry.get_or_create(name, config), std::move(op),
                              std::move(policy));
}

/// The synchronous form with an outcome policy (`CircuitBreaker::execute(f, policy)`).
template <class Clock, detail::sync_operation F, class Policy>
std::invoke_result_t<F&> with_circuit_breaker(BasicRegistry<Clock>& registry,
                                              std::string_view name,
                                              const CircuitBreakerConfig& config, F&& f,
                                              const Policy& policy) {
  const auto breaker = registry.get_or_create(name, config);
  return breaker->execute(std::forward<F>(f), policy);
}

/// `with_circuit_breaker_and_fallback` with an outcome policy: a value the
/// policy classifies as a failure also selects the fallback (reason
/// `FallbackReason::failed`, no exception).
template <class Clock, detail::coroutine_operation Op, class Fallback, class Policy>
std::invoke_result_t<Op&> with_circuit_breaker_and_fallback(BasicRegistry<Clock>& registry,
                                                            std::string_view name,
                                                            const CircuitBreakerConfig& config,
                                                            Op op, Fallback fallback,
                                                            Policy policy) {
  return detail::call_with_fallback_holding(registry.get_or_create(name, config), std::move(op),
                                            std::move(fallback), std::move(policy));
}

/// The synchronous form of `with_circuit_breaker_and_fallback` with an outcome
/// policy (`CircuitBreaker::execute_with_fallback(f, fallback, policy)`).
template <class Clock, detail::sync_operation F, class Fallback, class Policy>
std::invoke_result_t<F&> with_circuit_breaker_and_fallback(BasicRegistry<Clock>& registry,
                                                           std::string_view name,
                                                           const CircuitBreakerConfig& config,
                                                           F&& f, Fallback&& fallback,
                                                           const Policy& policy) {
  const auto breaker = registry.get_or_create(name, config);
  return breaker->execute_with_fallback(std::forward<F>(f), std::forward<Fallback>(fallback),
                                        policy);
}

/// `with_circuit_breaker(global_registry(), name, config, op)`: both forms
/// (coroutine when `op()` returns an awaitable, synchronous otherwise).
template <class Op>
  requires detail::coroutine_operation<Op> || detail::sync_operation<Op>
decltype(auto) with_circuit_breaker(std::string_view name, const CircuitBreakerConfig& config,
                                    Op&& op) {
  return with_circuit_breaker(global_registry(), name, config, std::forward<Op>(op));
}

/// `with_circuit_breaker_and_fallback(global_registry(), name, config, op,
/// fallback)`: both forms.
template <class Op, class Fallback>
  requires detail::coroutine_operation<Op> || detail::sync_operation<Op>
decltype(auto) with_circuit_breaker_and_fallback(std::string_view name,
                                                 const CircuitBreakerConfig& config, Op&& op,
                                                 Fallback&& fallback) {
  return with_circuit_breaker_and_fallback(global_registry(), name, config, std::forward<Op>(op),
                                           std::forward<Fallback>(fallback));
}

/// `with_circuit_breaker(global_registry(), name, config, op, policy)`.
template <class Op, class Policy>
  requires detail::coroutine_operation<Op> || detail::sync_operation<Op>
decltype(auto) with_circuit_breaker(std::string_view name, const CircuitBreakerConfig& config,
                                    Op&& op, Policy&& policy) {
  return with_circuit_breaker(global_registry(), name, config, std::forward<Op>(op),
                              std::forward<Policy>(policy));
}

/// `with_circuit_breaker_and_fallback(global_registry(), name, config, op,
/// fallback, policy)`.
template <class Op, class Fallback, class Policy>
  requires detail::coroutine_operation<Op> || detail::sync_operation<Op>
decltype(auto) with_circuit_breaker_and_fallback(std::string_view name,
                                                 const CircuitBreakerConfig& config, Op&& op,
                                                 Fallback&& fallback, Policy&& policy) {
  return with_circuit_breaker_and_fallback(global_registry(), name, config, std::forward<Op>(op),
                                           std::forward<Fallback>(fallback),
                                           std::forward<Policy>(policy));
}

}  // namespace breaker
