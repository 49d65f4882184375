// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `ClientWithBreaker<Client>`: one circuit breaker around every call of a
/// client object.
///
/// \code
/// breaker::ClientWithBreaker<SentinelClient> sentinel{
///     SentinelClient{config}, "sentinel", breaker::CircuitBreakerConfig::for_llm_service()};
/// auto alerts = co_await sentinel.call(&SentinelClient::fetch_alerts, 10);  // coroutine member
/// bool up = sentinel.call(&SentinelClient::ping);                           // plain member
///
/// // With an outcome policy: a response with status >= 500 is a failure (and still returned).
/// auto policy = breaker::record_result([](const Response& r) { return r.status >= 500; });
/// breaker::ClientWithBreaker api{HttpLikeClient{}, registry.get_or_create("api"), policy};
/// \endcode

#include "breaker/circuit_breaker.hpp"
#include "breaker/config.hpp"
#include "breaker/error.hpp"
#include "breaker/outcome.hpp"
#include "breaker/registry.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

namespace breaker {

/// Protects every call of a client object through one circuit breaker.
///
/// `call(f, args...)` runs `std::invoke(f, client(), args...)` under the
/// breaker; `f` is usually a pointer to a member function of `Client`
/// (`&Client::fetch_alerts`), but any callable taking the client first works.
/// When `f` returns an `asio::awaitable<R, E>` the call is a coroutine
/// (`co_await protected.call(...)`, through `CircuitBreaker::call`); otherwise
/// it runs at once (`CircuitBreaker::execute`). Outcomes follow those
/// functions: a value is a success, an exception a failure (rethrown
/// unchanged), a cancellation is ignored, a rejection throws
/// `CircuitBreakerError(errc::open)`.
///
/// \tparam Client the client, held by value. To share a client, or to protect
///   one owned elsewhere, use `std::shared_ptr<C>` or `std::reference_wrapper<C>`
///   as `Client` (member pointers of `C` work through both).
/// \tparam Clock the breaker's clock (tests use `breaker::testing::ManualClock`).
/// \tparam Policy the outcome policy applied to every call (`<breaker/outcome.hpp>`);
///   `DefaultOutcomePolicy` (the default) keeps the breaker's default rules at
///   no cost. With class template argument deduction it is deduced from the
///   constructor's last argument.
///
/// Thread safety: `call` may be called concurrently from any thread as far as
/// the breaker is concerned; whether the client's members may run concurrently
/// is the client's business. Accessors are const and never throw.
/// Lifetimes: the wrapper must outlive every coroutine call it started (the
/// call refers to the client inside it); it shares ownership of the breaker.
template <class Client, class Clock = std::chrono::steady_clock,
          class Policy = DefaultOutcomePolicy>
class ClientWithBreaker {
 public:
  using client_type = Client;
  using breaker_type = CircuitBreaker<Clock>;
  using policy_type = Policy;

  /// Protects `client` with `breaker` (e.g. one made with `std::make_shared`,
  /// or one from a registry); several wrappers may share one breaker.
  /// \throws CircuitBreakerError(errc::invalid_config) when `breaker` is null.
  ClientWithBreaker(Client client, std::shared_ptr<breaker_type> breaker, Policy policy = {})
      : client_(std::move(client)), breaker_(std::move(breaker)), policy_(std::move(policy)) {
    if (!breaker_) {
      throw CircuitBreakerError(errc::invalid_config, {},
                                "ClientWithBreaker needs a circuit breaker, not a null pointer");
    }
  }

  /// Protects `client` with `registry.get_or_create(name, config)`.
  /// \throws what `BasicRegistry::get_or_create` throws.
  ClientWithBreaker(BasicRegistry<Clock>& registry, Client client, std::string_view name,
                    const CircuitBreakerConfig& config, Policy policy = {})
      : ClientWithBreaker(std::move(client), registry.get_or_create(name, config),
                          std::move(policy)) {}

  /// Protects `client` with `registry.get_or_create(name)` (the existing
  /// breaker whatever its config, else one with the defaults).
  ClientWithBreaker(BasicRegistry<Clock>& registry, Client client, std::string_view name)
      : ClientWithBreaker(std::move(client), registry.get_or_create(name)) {}

  /// Protects `client` with `get_circuit_breaker(name, config)` (the global
  /// registry). \throws what `BasicRegistry::get_or_create` throws.
  ClientWithBreaker(Client client, std::string_view name, const CircuitBreakerConfig& config,
                    Policy policy = {})
    requires std::is_same_v<Clock, std::chrono::steady_clock>
      : ClientWithBreaker(std::move(client), get_circuit_breaker(name, config), std::move(policy)) {}

  /// Protects `client` with `get_circuit_breaker(name)` (the global registry).
  ClientWithBreaker(Client client, std::string_view name)
    requires std::is_same_v<Clock, std::chrono::steady_clock>
      : ClientWithBreaker(std::move(client), get_circuit_breaker(name)) {}

  /// Runs `std::invoke(f, client(), args...)` under the breaker.
  ///
  /// Coroutine form (`f` returns `asio::awaitable<R, E>`): returns that
  /// awaitable type; `f` and the arguments are decay-copied into the call (it
  /// runs when awaited, perhaps after the caller's temporaries are gone) and
  /// passed to `f` as rvalues; pass `std::ref(x)` to pass a reference. `f` is
  /// invoked only when the call is admitted. Errors, cancellation, timeouts:
  /// as `CircuitBreaker::call`.
  ///
  /// Synchronous form (anything else): runs at once, the arguments forwarded
  /// unchanged; returns `f`'s result. As `CircuitBreaker::execute`.
  template <class F, class... Args>
  decltype(auto) call(F f, Args&&... args) {
    static_assert(std::is_invocable_v<F&, Client&, Args&&...>,
                  "ClientWithBreaker::call(f, args...): f must be callable as "
                  "std::invoke(f, client, args...), e.g. &Client::member and its arguments");
    if constexpr (detail::is_awaitable_v<std::invoke_result_t<F&, Client&, Args&&...>>) {
      return with_policy([&](auto&&... policy) {
        return breaker_->call(bind(std::move(f), std::forward<Args>(args)...), policy...);
      });
    } else {
      auto invoke = [&]() -> decltype(auto) {
        return std::invoke(f, client_, std::forward<Args>(args)...);
      };
      return with_policy([&](auto&&... policy) -> decltype(auto) {
        return breaker_->execute(invoke, policy...);
      });
    }
  }

  /// Like `call`, but on rejection, failure or timeout returns the fallback's
  /// value instead (the outcome is still recorded; a cancellation is not
  /// replaced): `CircuitBreaker::call_with_fallback` or
  /// `execute_with_fallback`. `fallback` is `() -> R` or, for a coroutine
  /// member, `() -> asio::awaitable<R, E>`; it is moved into the call.
  template <class F, class Fallback, class... Args>
  decltype(auto) call_with_fallback(F f, Fallback fallback, Args&&... args) {
    static_assert(std::is_invocable_v<F&, Client&, Args&&...>,
                  "ClientWithBreaker::call_with_fallback(f, fallback, args...): f must be "
                  "callable as std::invoke(f, client, args...)");
    if constexpr (detail::is_awaitable_v<std::invoke_result_t<F&, Client&, Args&&...>>) {
      return with_policy([&](auto&&... policy) {
        return breaker_->call_with_fallback(bind(std::move(f), std::forward<Args>(args)...),
                                            std::move(fallback), policy...);
      });
    } else {
      auto invoke = [&]() -> decltype(auto) {
        return std::invoke(f, client_, std::forward<Args>(args)...);
      };
      return with_policy([&](auto&&... policy) -> decltype(auto) {
        return breaker_->execute_with_fallback(invoke, std::move(fallback), policy...);
      });
    }
  }

  /// The protected client (calls through it bypass the breaker).
  Client& client() noexcept { return client_; }
  /// The protected client.
  const Client& client() const noexcept { return client_; }

  /// The breaker (never null): its state, stats, listeners, `update_config`.
  const std::shared_ptr<breaker_type>& breaker() const noexcept { return breaker_; }

  /// The outcome policy applied to every call.
  const Policy& policy() const noexcept { return policy_; }

 private:
  // Calls `g()` without a policy for the default one (the breaker's own
  // zero-cost path), else `g(policy_)`.
  template <class G>
  decltype(auto) with_policy(G&& g) const {
    if constexpr (std::is_same_v<Policy, DefaultOutcomePolicy>) {
      return g();
    } else {
      return g(policy_);
    }
  }

  // The operation of a coroutine call: owns f and copies of the arguments
  // (invoked once, so it passes them on as rvalues).
  template <class F, class... Args>
  auto bind(F f, Args&&... args) {
    static_assert(std::is_invocable_v<F&, Client&, std::decay_t<Args>&&...>,
                  "ClientWithBreaker::call: a coroutine member receives copies of the arguments "
                  "as rvalues (the call runs when awaited); pass std::ref(x) for a reference");
    return [this, f = std::move(f), ... copies = std::forward<Args>(args)]() mutable {
      return std::invoke(f, client_, std::move(copies)...);
    };
  }

  Client client_;
  std::shared_ptr<breaker_type> breaker_;
  Policy policy_;
};

}  // namespace breaker
