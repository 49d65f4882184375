// SPDX-License-Identifier: Apache-2.0
// The protected operations, out of line in their own translation unit so that
// no benchmark can inline them or fold their result.

#include "common.hpp"

#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <stdexcept>

namespace breaker::bench {

__attribute__((noinline)) int bare_operation() {
  int value = 42;
  benchmark::DoNotOptimize(value);
  return value;
}

[[noreturn]] __attribute__((noinline)) int failing_operation() {
  throw std::runtime_error("operation failed");
}

__attribute__((noinline)) int fallback_operation() {
  int value = -1;
  benchmark::DoNotOptimize(value);
  return value;
}

asio::awaitable<int> coro_operation() {
  int value = 42;
  benchmark::DoNotOptimize(value);
  co_return value;
}

asio::awaitable<int> yielding_coro_operation() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  int value = 42;
  benchmark::DoNotOptimize(value);
  co_return value;
}

}  // namespace breaker::bench
