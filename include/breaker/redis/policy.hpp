// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// What a Redis error means for a circuit breaker: pure functions, and
/// `CachePolicy`, the outcome policy `CircuitBreakerRedis` uses.

#include "breaker/redis/error.hpp"

#include "breaker/outcome.hpp"

#include <exception>
#include <string_view>

namespace breaker::redis {

/// Classifies a Redis error reply by its first word. Failures (the server cannot
/// serve now): LOADING (loading the dataset), BUSY (a script runs), MASTERDOWN,
/// TRYAGAIN, CLUSTERDOWN, OOM (maxmemory reached), MISCONF (cannot persist),
/// READONLY (a replica answered: failover under way), NOREPLICAS. Everything
/// else (ERR syntax / unknown command, WRONGTYPE, NOSCRIPT, NOAUTH, NOPERM,
/// EXECABORT...) is the caller's problem: a success for the breaker. Never throws.
Outcome classify_error_reply(std::string_view message) noexcept;

/// Classifies a `RedisError`: connection_failed, connection_lost, timeout are
/// failures; server_error by `classify_error_reply`; unexpected_reply (the
/// caller read a reply as the wrong type) and invalid_argument are successes.
Outcome classify_error(const RedisError& error) noexcept;

/// Classifies any exception: a `RedisError` by `classify_error`; a cancellation
/// (`std::system_error` with `asio::error::operation_aborted`) is ignored;
/// anything else is a failure; null is a success. Never throws.
Outcome classify_exception(const std::exception_ptr& error) noexcept;

/// The outcome policy of `CircuitBreakerRedis`: every value is a success (a
/// cache miss, nil or an empty `std::optional`, included); exceptions by
/// `classify_exception`. Copyable, stateless.
struct CachePolicy {
  Outcome operator()(const std::exception_ptr& error) const noexcept { return classify_exception(error); }
};

}  // namespace breaker::redis
