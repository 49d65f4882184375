// SPDX-License-Identifier: Apache-2.0
// Must NOT compile: execute() given a callable that returns an awaitable (issue 8, point 9).
#include "breaker/circuit_breaker.hpp"

asio::awaitable<int> some_coroutine() { co_return 1; }

asio::awaitable<int> use(breaker::CircuitBreaker<>& cb) {
  co_return co_await cb.execute([] { return some_coroutine(); });
}
