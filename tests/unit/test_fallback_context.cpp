// SPDX-License-Identifier: Apache-2.0
// Issue 10, section 2: fallbacks that take a const FallbackContext& (reason, exception, breaker
// name and state), in every form: sync and coroutine, plain and awaitable, with and without a
// policy; and the no-argument forms still work.
#include "breaker/circuit_breaker.hpp"
#include "breaker/fallback_context.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using breaker::CircuitBreaker;
using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::FallbackContext;
using breaker::FallbackReason;
using breaker::State;
using breaker::testing::ManualClock;

namespace {

using Breaker = CircuitBreaker<ManualClock>;

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

CircuitBreakerConfig one_failure_opens(bool durations) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(1)
      .minimum_request_threshold(0)
      .record_call_durations(durations)
      .build();
}

struct Seen {
  int calls = 0;
  FallbackReason reason{};
  bool has_error = false;
  bool error_is_boom = false;
  bool error_is_timeout = false;
  std::string name;
  State state{};
  void take(const FallbackContext& c) {
    ++calls;
    reason = c.reason;
    has_error = static_cast<bool>(c.error);
    if (c.error) {
      try {
        std::rethrow_exception(c.error);
      } catch (const Boom&) {
        error_is_boom = true;
      } catch (const CircuitBreakerError& e) {
        error_is_timeout = e.code() == make_error_code(breaker::errc::timeout);
      } catch (...) {
      }
    }
    name = std::string(c.breaker_name);
    state = c.state;
  }
};

}  // namespace

TEST_CASE("a sync fallback taking the context hears of failures and rejections",
          "[fallback][context][execute]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  Breaker cb("orders", one_failure_opens(durations), clock);
  Seen seen;
  auto fallback = [&seen](const FallbackContext& c) {
    seen.take(c);
    return -1;
  };
  CHECK(cb.execute_with_fallback([]() -> int { throw Boom{}; }, fallback) == -1);
  CHECK(seen.reason == FallbackReason::failed);
  CHECK(seen.error_is_boom);
  CHECK(seen.name == "orders");
  CHECK(seen.state == State::open);  // the failure opened it before the fallback was chosen
  CHECK(cb.execute_with_fallback([] { return 1; }, fallback) == -1);
  CHECK(seen.calls == 2);
  CHECK(seen.reason == FallbackReason::rejected);
  CHECK_FALSE(seen.has_error);
  CHECK(seen.state == State::open);
}

TEST_CASE("a coroutine fallback taking the context hears of failures, rejections and timeouts",
          "[fallback][context][call]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  auto config = one_failure_opens(durations);
  config.failure_threshold = 2;
  Breaker cb("orders", config, clock);
  asio::io_context ctx;
  Seen seen;
  auto fallback = [&seen](const FallbackContext& c) -> asio::awaitable<int> {
    seen.take(c);
    co_return -1;
  };
  auto fails = []() -> asio::awaitable<int> { throw Boom{}; co_return 0; };
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(fails, fallback); }) == -1);
  CHECK(seen.reason == FallbackReason::failed);
  CHECK(seen.error_is_boom);
  CHECK(seen.state == State::closed);  // one failure of two
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(fails, fallback); }) == -1);
  CHECK(seen.state == State::open);
  auto ok = []() -> asio::awaitable<int> { co_return 1; };
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(ok, fallback); }) == -1);
  CHECK(seen.reason == FallbackReason::rejected);
  CHECK_FALSE(seen.has_error);
  CHECK(seen.name == "orders");
  CHECK(seen.calls == 3);
}

TEST_CASE("a fallback taking the context hears of a timeout with its error",
          "[fallback][context][timeout]") {
  // The operation moves the breaker's ManualClock past call_timeout and waits on a timer that
  // never fires, so the timeout fires without waiting for real time.
  ManualClock clock;
  Breaker cb("slow", CircuitBreakerConfig::builder().call_timeout(5ms).build(), clock);
  asio::io_context ctx;
  Seen seen;
  auto fallback = [&seen](const FallbackContext& c) {
    seen.take(c);
    return -1;
  };
  asio::steady_timer never(ctx, asio::steady_timer::time_point::max());
  auto op = [&never, clock]() mutable -> asio::awaitable<int> {
    clock.advance(1s);  // past call_timeout on the breaker's clock, then hang
    co_await never.async_wait(asio::use_awaitable);
    co_return 1;
  };
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(op, fallback); }) == -1);
  CHECK(seen.reason == FallbackReason::timed_out);
  CHECK(seen.error_is_timeout);
  CHECK(seen.name == "slow");
  CHECK(cb.stats().failed_calls == 1);
}

TEST_CASE("fallbacks without arguments still work in every form", "[fallback][context]") {
  ManualClock clock;
  Breaker cb("svc", one_failure_opens(false), clock);
  cb.force_open();
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<int> { co_return 1; };
  auto plain = [] { return 2; };
  auto coro = []() -> asio::awaitable<int> { co_return 3; };
  CHECK(cb.execute_with_fallback([] { return 1; }, plain) == 2);
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(op, plain); }) == 2);
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(op, coro); }) == 3);
  auto void_op = []() -> asio::awaitable<void> { co_return; };
  bool ran = false;
  auto void_fallback = [&ran](const FallbackContext& c) {
    ran = c.reason == FallbackReason::rejected;
  };
  breaker::test::run(ctx, [&] { return cb.call_with_fallback(void_op, void_fallback); });
  CHECK(ran);
  CHECK(cb.stats().rejected_calls == 4);
}

TEST_CASE("FallbackReason prints its name", "[fallback][context]") {
  std::ostringstream os;
  os << FallbackReason::rejected << ' ' << FallbackReason::failed << ' '
     << FallbackReason::timed_out;
  CHECK(os.str() == "rejected failed timed_out");
}
