// SPDX-License-Identifier: Apache-2.0
// Must NOT compile: a fallback whose type does not match the operation's (issue 8, point 9).
#include "breaker/circuit_breaker.hpp"

#include <string>

asio::awaitable<int> use(breaker::CircuitBreaker<>& cb) {
  auto op = []() -> asio::awaitable<int> { co_return 1; };
  auto fallback = [] { return std::string("cached"); };
  co_return co_await cb.call_with_fallback(op, fallback);
}
