// SPDX-License-Identifier: Apache-2.0
// The coroutine interface: call, call_with_fallback, call_timeout, cancellation.
#include "breaker/breaker.hpp"
#include "run.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::State;
using breaker::testing::ManualClock;
using breaker::test::run;
using namespace std::chrono_literals;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;

CircuitBreakerConfig config(std::chrono::milliseconds call_timeout = 0ms) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(2)
      .success_threshold(1)
      .timeout_duration(5s)
      .half_open_max_requests(1)
      .minimum_request_threshold(0)
      .call_timeout(call_timeout)
      .build();
}

struct Boom : std::runtime_error {
  explicit Boom(int c) : std::runtime_error("boom"), code(c) {}
  int code;
};

asio::awaitable<int> answer() { co_return 42; }
asio::awaitable<int> explode() {
  throw Boom{7};
  co_return 0;
}
// Waits (in real time) far longer than any test: only cancellation ends it.
asio::awaitable<int> hang() {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
  co_await timer.async_wait(asio::use_awaitable);
  co_return 1;
}

void trip(Breaker& cb) {
  for (int i = 0; i < 2; ++i) {
    CHECK_THROWS_AS(run([&]() -> asio::awaitable<int> { co_return co_await cb.call(explode); }),
                    Boom);
  }
  REQUIRE(cb.state() == State::open);
}

}  // namespace

TEST_CASE("call returns the operation's value and records a success", "[coroutine][call]") {
  Breaker cb("svc", config(), ManualClock{});
  CHECK(run([&]() -> asio::awaitable<int> { co_return co_await cb.call(answer); }) == 42);
  run([&]() -> asio::awaitable<void> {
    co_await cb.call([]() -> asio::awaitable<void> { co_return; });
  });
  CHECK(cb.stats().successful_calls == 2);
}

TEST_CASE("call rethrows the operation's exception unchanged", "[coroutine][call]") {
  Breaker cb("svc", config(), ManualClock{});
  try {
    run([&]() -> asio::awaitable<int> { co_return co_await cb.call(explode); });
    FAIL("no exception");
  } catch (const Boom& e) {
    CHECK(e.code == 7);
  }
  CHECK(cb.stats().failed_calls == 1);
  CHECK(cb.stats().consecutive_failures == 1);
}

// A policy that fails while classifying (a value or an exception).
struct ThrowingPolicy {
  breaker::Outcome operator()(const int&) const { throw std::logic_error("policy: value"); }
  breaker::Outcome operator()(const std::exception_ptr&) const {
    throw std::logic_error("policy: exception");
  }
};

TEST_CASE("a policy that throws while classifying a call's outcome counts the call as ignored",
          "[coroutine][call][policy]") {
  for (const bool durations : {false, true}) {
    CircuitBreakerConfig c = config();
    c.record_call_durations = durations;
    Breaker cb("svc", c, ManualClock{});
    // The policy's exception reaches the caller, in place of the value...
    CHECK_THROWS_WITH(run([&]() -> asio::awaitable<int> {
                        co_return co_await cb.call(answer, ThrowingPolicy{});
                      }),
                      "policy: value");
    // ...and of the operation's exception.
    CHECK_THROWS_WITH(run([&]() -> asio::awaitable<int> {
                        co_return co_await cb.call(explode, ThrowingPolicy{});
                      }),
                      "policy: exception");
    const auto s = cb.stats();
    CHECK(s.total_calls == 2);
    CHECK(s.ignored_calls == 2);
    CHECK(s.successful_calls == 0);
    CHECK(s.failed_calls == 0);
    CHECK(cb.state() == State::closed);
    if (durations) CHECK(cb.call_durations().count == 2);
  }
}

TEST_CASE("an open breaker rejects calls without running them", "[coroutine][open]") {
  Breaker cb("inventory", config(), ManualClock{});
  trip(cb);
  int ran = 0;
  auto op = [&]() -> asio::awaitable<int> { co_return ++ran; };
  try {
    run([&]() -> asio::awaitable<int> { co_return co_await cb.call(op); });
    FAIL("no exception");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.code() == errc::open);
    CHECK(e.breaker_name() == "inventory");
  }
  CHECK(ran == 0);
  CHECK(cb.stats().rejected_calls == 1);
}

TEST_CASE("call_with_fallback returns the fallback on rejection and failure",
          "[coroutine][fallback]") {
  ManualClock clock;
  Breaker cb("svc", config(), clock);
  SECTION("plain fallback on failure, outcome recorded") {
    const int v = run([&]() -> asio::awaitable<int> {
      co_return co_await cb.call_with_fallback(explode, [] { return -1; });
    });
    CHECK(v == -1);
    CHECK(cb.stats().failed_calls == 1);
  }
  SECTION("coroutine fallback on rejection") {
    trip(cb);
    const int v = run([&]() -> asio::awaitable<int> {
      co_return co_await cb.call_with_fallback(answer, []() -> asio::awaitable<int> { co_return -2; });
    });
    CHECK(v == -2);
    CHECK(cb.stats().rejected_calls == 1);
  }
  SECTION("the operation's value when it succeeds") {
    const int v = run([&]() -> asio::awaitable<int> {
      co_return co_await cb.call_with_fallback(answer, [] { return -1; });
    });
    CHECK(v == 42);
  }
  SECTION("void operations") {
    bool fell_back = false;
    trip(cb);
    run([&]() -> asio::awaitable<void> {
      co_await cb.call_with_fallback([]() -> asio::awaitable<void> { co_return; },
                                     [&] { fell_back = true; });
    });
    CHECK(fell_back);
  }
}

TEST_CASE("a probe that succeeds through call closes the breaker", "[coroutine][half-open]") {
  ManualClock clock;
  Breaker cb("svc", config(), clock);
  trip(cb);
  clock.advance(5s);
  CHECK(cb.state() == State::half_open);
  CHECK(run([&]() -> asio::awaitable<int> { co_return co_await cb.call(answer); }) == 42);
  CHECK(cb.state() == State::closed);
}

TEST_CASE("call_timeout cancels a slow operation and throws errc::timeout",
          "[coroutine][timeout]") {
  ManualClock clock;
  asio::io_context ctx;
  SECTION("counted as a failure by default") {
    Breaker cb("slow", config(100ms), clock);
    std::exception_ptr error;
    bool done = false;
    asio::co_spawn(ctx, cb.call(hang), [&](std::exception_ptr e, int) {
      error = e;
      done = true;
    });
    ctx.poll();  // starts the call; the operation now waits
    CHECK_FALSE(done);
    clock.advance(99ms);
    ctx.run_for(20ms);
    CHECK_FALSE(done);
    clock.advance(1ms);  // the breaker's clock passes the deadline
    ctx.run();
    REQUIRE(done);
    REQUIRE(error);
    try {
      std::rethrow_exception(error);
    } catch (const CircuitBreakerError& e) {
      CHECK(e.code() == errc::timeout);
      CHECK(e.breaker_name() == "slow");
    }
    CHECK(cb.stats().failed_calls == 1);
    CHECK(cb.stats().consecutive_failures == 1);
  }
  SECTION("ignored when count_timeout_as_failure is false; fallback used") {
    auto c = config(100ms);
    c.count_timeout_as_failure = false;
    Breaker cb("slow", c, clock);
    int value = 0;
    asio::co_spawn(ctx, cb.call_with_fallback(hang, [] { return -1; }),
                   [&](std::exception_ptr, int v) { value = v; });
    ctx.poll();
    clock.advance(100ms);
    ctx.run();
    CHECK(value == -1);
    CHECK(cb.stats().ignored_calls == 1);
    CHECK(cb.stats().failed_calls == 0);
  }
  SECTION("a fast operation is not affected") {
    Breaker cb("fast", config(100ms), clock);
    CHECK(run(ctx, [&]() -> asio::awaitable<int> { co_return co_await cb.call(answer); }) == 42);
    CHECK_THROWS_AS(run(ctx, [&]() -> asio::awaitable<int> { co_return co_await cb.call(explode); }),
                    Boom);
    CHECK(cb.stats().successful_calls == 1);
    CHECK(cb.stats().failed_calls == 1);
  }
}

TEST_CASE("call_timeout with the real steady clock", "[coroutine][timeout]") {
  breaker::CircuitBreaker<> cb("real", config(20ms));
  CHECK_THROWS_MATCHES(
      run([&]() -> asio::awaitable<int> { co_return co_await cb.call(hang); }), CircuitBreakerError,
      Catch::Predicate<CircuitBreakerError>([](const auto& e) { return e.code() == errc::timeout; }));
  CHECK(cb.stats().failed_calls == 1);
}

TEST_CASE("a call cancelled by its parent is ignored and its permit released",
          "[coroutine][cancellation]") {
  ManualClock clock;
  Breaker cb("svc", config(), clock);
  trip(cb);
  clock.advance(5s);  // half-open, one probe slot
  asio::io_context ctx;
  asio::cancellation_signal signal;
  std::exception_ptr error;
  asio::co_spawn(ctx, cb.call(hang),
                 asio::bind_cancellation_slot(signal.slot(),
                                              [&](std::exception_ptr e, int) { error = e; }));
  ctx.poll();
  CHECK(cb.probes_in_flight() == 1);
  signal.emit(asio::cancellation_type::terminal);
  ctx.run();
  REQUIRE(error);
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    CHECK(e.code() == asio::error::operation_aborted);
  }
  CHECK(cb.stats().ignored_calls == 1);
  CHECK(cb.probes_in_flight() == 0);
  CHECK(cb.state() == State::half_open);
}

TEST_CASE("a call whose frame is destroyed releases its permit as ignored",
          "[coroutine][cancellation]") {
  ManualClock clock;
  Breaker cb("svc", config(), clock);
  trip(cb);
  clock.advance(5s);
  {
    asio::io_context ctx;
    asio::co_spawn(ctx, cb.call(hang), asio::detached);
    ctx.poll();
    CHECK(cb.probes_in_flight() == 1);
  }  // the context and every suspended frame in it are destroyed
  CHECK(cb.probes_in_flight() == 0);
  CHECK(cb.stats().ignored_calls == 1);
  CHECK(cb.try_acquire());
}

TEST_CASE("a closed-state call (fast path) whose frame is destroyed counts as ignored",
          "[coroutine][cancellation][closed]") {
  auto c = config();
  c.record_call_durations = false;  // the closed fast path of call()
  Breaker cb("svc", c, ManualClock{});
  {
    asio::io_context ctx;
    asio::co_spawn(ctx, cb.call(hang), asio::detached);
    ctx.poll();
    CHECK(cb.stats().total_calls == 1);
  }
  const auto s = cb.stats();
  CHECK(s.ignored_calls == 1);
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(cb.state() == State::closed);
}

TEST_CASE("closed-state calls resumed on other threads are all counted",
          "[coroutine][concurrency][closed]") {
  auto c = config();
  c.record_call_durations = false;
  c.failure_threshold = 1000;
  Breaker cb("svc", c, ManualClock{});
  asio::thread_pool pool(4);
  constexpr int calls = 2000;
  std::atomic<int> finished{0};
  for (int i = 0; i < calls; ++i) {
    asio::co_spawn(pool, [&, i]() -> asio::awaitable<void> {
      auto op = [&, i]() -> asio::awaitable<int> {
        // Resume on whichever pool thread runs the posted continuation.
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        if (i % 10 == 0) throw Boom{i};
        co_return i;
      };
      try {
        (void)co_await cb.call(op);
      } catch (const Boom&) {
      }
      finished.fetch_add(1);
    }, asio::detached);
  }
  pool.join();
  CHECK(finished.load() == calls);
  const auto s = cb.stats();
  CHECK(s.successful_calls == calls - calls / 10);
  CHECK(s.failed_calls == calls / 10);
  CHECK(s.total_calls == calls);
}

TEST_CASE("the closed fast path of call (durations off) keeps every rule",
          "[coroutine][closed][fast-path]") {
  auto c = config();
  c.record_call_durations = false;
  ManualClock clock;
  Breaker cb("fast", c, clock);
  SECTION("failures count and open the breaker") {
    trip(cb);
    CHECK(cb.stats().consecutive_failures == 2);
  }
  SECTION("a success that arrives after the breaker opened does not close it") {
    auto opens_then_succeeds = [&]() -> asio::awaitable<int> {
      for (int i = 0; i < 2; ++i) cb.try_acquire().record_failure();
      co_return 5;
    };
    CHECK(run([&]() -> asio::awaitable<int> { co_return co_await cb.call(opens_then_succeeds); }) ==
          5);
    CHECK(cb.state() == State::open);
    CHECK(cb.stats().successful_calls == 1);
  }
  SECTION("a failure that arrives after reset() is stale") {
    run([&]() -> asio::awaitable<void> {
      co_await cb.call([]() -> asio::awaitable<void> { co_return; });
    });
    auto resets_then_fails = [&]() -> asio::awaitable<int> {
      cb.reset();
      throw Boom{1};
      co_return 0;
    };
    CHECK_THROWS_AS(
        run([&]() -> asio::awaitable<int> { co_return co_await cb.call(resets_then_fails); }), Boom);
    CHECK(cb.stats().consecutive_failures == 0);
    CHECK(cb.stats().failed_calls == 1);
  }
}
