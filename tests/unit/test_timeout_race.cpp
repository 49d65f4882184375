// SPDX-License-Identifier: Apache-2.0
// Issue 8, point 1: call_timeout on a multi-threaded io_context without strands. The race between
// the operation and its timer is the library's own concurrency, so the library serialises it.
// Runs under ASan and TSan (label unit; see CMakePresets.json's asan and tsan test presets).
// Real steady_clock time here: the test is about the race, not about breaker time, and it is
// bounded by its call count.
#include "breaker/circuit_breaker.hpp"

#include <asio/cancellation_signal.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using breaker::CircuitBreaker;
using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;

namespace {

constexpr int calls = 4'000;
constexpr int threads = 4;
// 40 coroutines of 100 calls each: enough in flight at once for the threads to race, few enough
// that operations shorter than the timeout usually finish first.
constexpr int workers = 40;

struct Totals {
  std::atomic<int> succeeded{0}, timed_out{0}, other{0}, finished{0};
};

// A coroutine function, not a lambda: its parameters live in its frame (a coroutine lambda's
// captures live in the lambda object, which would be gone before the coroutine ends).
asio::awaitable<void> worker(std::shared_ptr<CircuitBreaker<>> cb, int w, Totals& totals) {
  for (int i = 0; i < calls / workers; ++i) {
    const auto delay = std::chrono::milliseconds((w + i) % 10);  // 0-9 ms, around 5 ms
    auto op = [delay]() -> asio::awaitable<int> {
      asio::steady_timer timer(co_await asio::this_coro::executor, delay);
      co_await timer.async_wait(asio::use_awaitable);
      co_return 1;
    };
    try {
      const int v = co_await cb->call(op);
      if (v == 1) totals.succeeded.fetch_add(1);
    } catch (const CircuitBreakerError& e) {
      if (e.code() == make_error_code(errc::timeout)) {
        totals.timed_out.fetch_add(1);
      } else {
        totals.other.fetch_add(1);
      }
    } catch (...) {
      totals.other.fetch_add(1);
    }
  }
}

}  // namespace

TEST_CASE("call_timeout is safe on a multi-threaded io_context without strands",
          "[breaker][timeout][concurrency][issue-8]") {
  auto cb = std::make_shared<CircuitBreaker<>>(
      "race", CircuitBreakerConfig::builder()
                  .call_timeout(5ms)
                  .failure_threshold(CircuitBreakerConfig::max_count)
                  .build());
  asio::io_context ctx(threads);
  Totals totals;
  for (int w = 0; w < workers; ++w) {
    asio::co_spawn(ctx.get_executor(), worker(cb, w, totals), [&totals](std::exception_ptr e) {
      if (!e) totals.finished.fetch_add(1);
    });
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&ctx] { ctx.run(); });
  for (auto& t : pool) t.join();

  // Exact totals; which calls time out depends on the machine's load, so no split is asserted.
  CHECK(totals.finished.load() == workers);
  CHECK(totals.other.load() == 0);
  CHECK(totals.succeeded.load() + totals.timed_out.load() == calls);
  const auto s = cb->stats();
  CHECK(s.total_calls == static_cast<std::uint64_t>(calls));
  CHECK(s.rejected_calls == 0);
  CHECK(s.successful_calls == static_cast<std::uint64_t>(totals.succeeded.load()));
  CHECK(s.failed_calls == static_cast<std::uint64_t>(totals.timed_out.load()));  // timeouts count
  CHECK(s.ignored_calls == 0);
}

TEST_CASE("a timed call forwards the caller's cancellation through its strand",
          "[breaker][timeout][cancellation][issue-8]") {
  auto cb = std::make_shared<CircuitBreaker<>>(
      "race", CircuitBreakerConfig::builder().call_timeout(10s).build());
  asio::io_context ctx(2);
  asio::cancellation_signal cancel;
  std::atomic<bool> cancelled{false};
  auto body = [cb, &cancelled]() -> asio::awaitable<void> {
    auto op = []() -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
      co_await timer.async_wait(asio::use_awaitable);
    };
    try {
      co_await cb->call(op);
    } catch (const std::system_error& e) {
      cancelled = e.code() == asio::error::operation_aborted;
    }
  };
  asio::co_spawn(ctx, body(), asio::bind_cancellation_slot(cancel.slot(), [](std::exception_ptr) {}));
  asio::steady_timer later(ctx, 5ms);
  later.async_wait([&](std::error_code) { cancel.emit(asio::cancellation_type::terminal); });
  std::thread second([&ctx] { ctx.run(); });
  ctx.run();
  second.join();
  CHECK(cancelled.load());
  CHECK(cb->stats().ignored_calls == 1);
  CHECK(cb->stats().failed_calls == 0);
}
