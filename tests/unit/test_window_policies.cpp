// SPDX-License-Identifier: Apache-2.0
// The failure-rate and slow-call trip policies of a breaker (issue 12), with
// time moved only by ManualClock: thresholds, gates, wrap, expiry, slow calls,
// stale outcomes, live config changes and validation.
#include "breaker/breaker.hpp"
#include "breaker/testing/manual_clock.hpp"

#include <catch2/catch.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::State;
using breaker::TripPolicy;
using breaker::WindowType;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

CircuitBreakerConfig rate_config(std::uint32_t size, double threshold, std::uint32_t minimum) {
  return CircuitBreakerConfig::builder()
      .trip_policy(TripPolicy::failure_rate)
      .window_type(WindowType::count_based)
      .window_size(size)
      .failure_rate_threshold(threshold)
      .minimum_request_threshold(minimum)
      .failure_threshold(1)  // not used by the failure_rate policy
      .timeout_duration(10s)
      .build();
}

CircuitBreakerConfig time_config(std::chrono::milliseconds duration, std::uint32_t buckets,
                                 double threshold, std::uint32_t minimum) {
  return CircuitBreakerConfig::builder()
      .trip_policy(TripPolicy::failure_rate)
      .window_type(WindowType::time_based)
      .window_duration(duration)
      .window_buckets(buckets)
      .failure_rate_threshold(threshold)
      .minimum_request_threshold(minimum)
      .timeout_duration(10s)
      .build();
}

void ok(Breaker& cb) { CHECK(cb.execute([] { return 1; }) == 1); }
void fail(Breaker& cb) { CHECK_THROWS_AS(cb.execute([]() -> int { throw Boom{}; }), Boom); }
// A call that takes `d` on the manual clock.
void ok_taking(Breaker& cb, ManualClock& clock, std::chrono::milliseconds d) {
  CHECK(cb.execute([&] {
    clock.advance(d);
    return 1;
  }) == 1);
}
void fail_taking(Breaker& cb, ManualClock& clock, std::chrono::milliseconds d) {
  CHECK_THROWS_AS(cb.execute([&]() -> int {
    clock.advance(d);
    throw Boom{};
  }),
                  Boom);
}

}  // namespace

TEST_CASE("failure_rate: the breaker opens at exactly the threshold rate", "[window][rate]") {
  ManualClock clock;
  Breaker cb("rate", rate_config(4, 50.0, 4), clock);
  ok(cb);
  fail(cb);
  ok(cb);
  CHECK(cb.state() == State::closed);
  fail(cb);  // 2 of 4 = 50 %
  CHECK(cb.state() == State::open);
  CHECK(cb.transitions(State::closed, State::open) == 1);
  CHECK_THROWS_AS(cb.execute([] { return 1; }), CircuitBreakerError);
}

TEST_CASE("failure_rate: a rate below the threshold keeps the breaker closed", "[window][rate]") {
  ManualClock clock;
  Breaker cb("rate", rate_config(10, 50.0, 10), clock);
  for (int round = 0; round < 50; ++round) {
    ok(cb);
    ok(cb);
    fail(cb);  // 33 %
  }
  CHECK(cb.state() == State::closed);
}

TEST_CASE("failure_rate: consecutive failures alone do not trip it", "[window][rate]") {
  ManualClock clock;
  // failure_threshold 1 would open at the first failure under the consecutive policy.
  Breaker cb("rate", rate_config(100, 90.0, 10), clock);
  for (int i = 0; i < 9; ++i) ok(cb);
  fail(cb);
  fail(cb);
  CHECK(cb.state() == State::closed);
}

TEST_CASE("failure_rate: the minimum-calls gate holds the trip, and the call reaching it trips",
          "[window][rate][gate]") {
  ManualClock clock;
  Breaker cb("gate", rate_config(10, 50.0, 5), clock);
  for (int i = 0; i < 4; ++i) fail(cb);
  CHECK(cb.state() == State::closed);  // 100 %, but 4 < 5 outcomes
  ok(cb);                              // 5 outcomes, 80 %: this success trips it
  CHECK(cb.state() == State::open);
}

TEST_CASE("failure_rate: a gate left behind by successes needs a new failure", "[window][rate][gate]") {
  ManualClock clock;
  Breaker cb("gate", rate_config(10, 50.0, 6), clock);
  fail(cb);
  fail(cb);
  ok(cb);
  ok(cb);
  ok(cb);  // 2 of 5: below
  ok(cb);  // 2 of 6: below at the gate
  CHECK(cb.state() == State::closed);
  fail(cb);
  fail(cb);  // 4 of 8
  CHECK(cb.state() == State::open);
}

TEST_CASE("failure_rate: the count window wraps, old outcomes leave it", "[window][rate][wrap]") {
  ManualClock clock;
  Breaker cb("wrap", rate_config(4, 50.0, 4), clock);
  fail(cb);
  ok(cb);
  ok(cb);
  ok(cb);  // F S S S: 25 %
  ok(cb);  // S S S S (the failure left)
  fail(cb);  // S S S F: 25 %
  CHECK(cb.state() == State::closed);
  fail(cb);  // S S F F: 50 %
  CHECK(cb.state() == State::open);
}

TEST_CASE("failure_rate: the window is cleared when the breaker closes", "[window][rate][close]") {
  ManualClock clock;
  auto config = rate_config(10, 50.0, 4);
  config.success_threshold = 1;
  Breaker cb("close", config, clock);
  for (int i = 0; i < 4; ++i) fail(cb);
  REQUIRE(cb.state() == State::open);
  clock.advance(10s);
  ok(cb);  // the probe closes it
  REQUIRE(cb.state() == State::closed);
  // The 4 failures are gone: 3 failures of 4 outcomes would be 75 %, but
  // the gate needs 4 outcomes of this closed period.
  fail(cb);
  fail(cb);
  fail(cb);
  CHECK(cb.state() == State::closed);
  ok(cb);  // 3 of 4
  CHECK(cb.state() == State::open);
}

TEST_CASE("failure_rate: reset() empties the window", "[window][rate][close]") {
  ManualClock clock;
  Breaker cb("reset", rate_config(10, 50.0, 4), clock);
  fail(cb);
  fail(cb);
  fail(cb);
  cb.reset();
  ok(cb);
  ok(cb);
  ok(cb);
  fail(cb);  // 1 of 4 in the new period
  CHECK(cb.state() == State::closed);
}

TEST_CASE("failure_rate: a stale outcome never trips or counts", "[window][rate][stale]") {
  ManualClock clock;
  Breaker cb("stale", rate_config(4, 50.0, 2), clock);
  auto p1 = cb.try_acquire();
  auto p2 = cb.try_acquire();
  REQUIRE(p1);
  REQUIRE(p2);
  ok(cb);
  cb.reset();  // a new epoch (there was an outcome to clear)
  p1.record_failure();
  p2.record_failure();
  CHECK(cb.state() == State::closed);
  ok(cb);
  fail(cb);  // 1 of 2 = 50 % in the new epoch: only now
  CHECK(cb.state() == State::open);
}

TEST_CASE("failure_rate: ignored calls are not outcomes", "[window][rate]") {
  ManualClock clock;
  Breaker cb("ignored", rate_config(4, 50.0, 2), clock);
  for (int i = 0; i < 10; ++i) {
    auto p = cb.try_acquire();
    p.record_ignored();
  }
  fail(cb);
  CHECK(cb.state() == State::closed);  // 1 outcome < 2
  ok(cb);                              // 1 of 2
  CHECK(cb.state() == State::open);
}

TEST_CASE("failure_rate: permits and coroutine calls feed the window too", "[window][rate]") {
  ManualClock clock;
  Breaker cb("paths", rate_config(4, 75.0, 4), clock);
  {
    auto p = cb.try_acquire();
    p.record_failure();
  }
  {
    auto p = cb.try_acquire();
    p.record_success();
  }
  asio::io_context io;
  bool done = false;
  auto failing = []() -> asio::awaitable<int> { throw Boom{}; };
  auto body = [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      try {
        co_await cb.call(failing);
      } catch (const Boom&) {
      }
    }
    done = true;
  };
  asio::co_spawn(io, body, asio::detached);
  io.run();
  REQUIRE(done);
  CHECK(cb.state() == State::open);  // 3 of 4 = 75 %
}

TEST_CASE("time_based: outcomes expire a bucket at a time", "[window][time]") {
  ManualClock clock;
  Breaker cb("time", time_config(1000ms, 10, 50.0, 4), clock);
  fail(cb);
  fail(cb);
  fail(cb);
  clock.advance(1000ms);  // the three failures left the window
  ok(cb);
  ok(cb);
  ok(cb);
  fail(cb);  // 1 of 4
  CHECK(cb.state() == State::closed);
  clock.advance(950ms);  // still inside: the bucket started at 1000 ms lives until 2000 ms
  fail(cb);              // 2 of 5
  CHECK(cb.state() == State::closed);
  fail(cb);  // 3 of 6
  CHECK(cb.state() == State::open);
}

TEST_CASE("time_based: expiry can raise the rate, and the next success trips it",
          "[window][time]") {
  ManualClock clock;
  Breaker cb("expiry", time_config(1000ms, 10, 50.0, 4), clock);
  for (int i = 0; i < 6; ++i) ok(cb);  // bucket 0
  clock.advance(500ms);
  for (int i = 0; i < 4; ++i) fail(cb);  // bucket 5: 4 of 10
  CHECK(cb.state() == State::closed);
  clock.advance(600ms);  // 1100 ms: the successes expired, the failures remain
  ok(cb);                // 4 of 5 = 80 %
  CHECK(cb.state() == State::open);
}

TEST_CASE("time_based: a window larger than any run of calls behaves like a count window",
          "[window][time]") {
  ManualClock clock;
  Breaker cb("wide", time_config(60'000ms, 60, 50.0, 4), clock);
  ok(cb);
  fail(cb);
  clock.advance(30s);
  ok(cb);
  CHECK(cb.state() == State::closed);
  fail(cb);
  CHECK(cb.state() == State::open);
}

TEST_CASE("slow calls: a slow success counts in the slow-call rate", "[window][slow]") {
  ManualClock clock;
  auto config = CircuitBreakerConfig::builder()
                    .slow_call_duration_threshold(100ms)
                    .slow_call_rate_threshold(50.0)
                    .window_size(4)
                    .minimum_request_threshold(4)
                    .build();
  Breaker cb("slow", config, clock);
  ok_taking(cb, clock, 100ms);  // exactly the threshold: not slower
  ok_taking(cb, clock, 101ms);  // slow
  ok(cb);
  CHECK(cb.state() == State::closed);
  ok_taking(cb, clock, 5s);  // 2 of 4 slow
  CHECK(cb.state() == State::open);
}

TEST_CASE("slow calls: a slow failure counts once in each rate", "[window][slow]") {
  ManualClock clock;
  auto config = CircuitBreakerConfig::builder()
                    .trip_policy(TripPolicy::failure_rate)
                    .failure_rate_threshold(75.0)
                    .slow_call_duration_threshold(1s)
                    .slow_call_rate_threshold(75.0)
                    .window_size(4)
                    .minimum_request_threshold(4)
                    .build();
  SECTION("slow failures reach both rates") {
    Breaker cb("slowfail", config, clock);
    fail_taking(cb, clock, 2s);
    fail_taking(cb, clock, 2s);
    ok(cb);
    CHECK(cb.state() == State::closed);  // failures 2/3, slow 2/3; 3 < 4 calls
    fail_taking(cb, clock, 2s);          // 3 of 4 in each rate
    CHECK(cb.state() == State::open);
  }
  SECTION("a slow success and a fast failure add one to each rate only") {
    Breaker cb("mixed", config, clock);
    fail(cb);
    ok_taking(cb, clock, 2s);
    fail(cb);
    ok_taking(cb, clock, 2s);  // failures 2/4, slow 2/4
    CHECK(cb.state() == State::closed);
  }
}

TEST_CASE("slow calls with the consecutive policy: both rules apply", "[window][slow]") {
  ManualClock clock;
  auto config = CircuitBreakerConfig::builder()
                    .failure_threshold(3)
                    .minimum_request_threshold(0)
                    .slow_call_duration_threshold(1s)
                    .slow_call_rate_threshold(100.0)
                    .window_type(WindowType::time_based)
                    .window_duration(10s)
                    .window_buckets(10)
                    .build();
  SECTION("consecutive failures") {
    Breaker cb("consecutive", config, clock);
    fail(cb);
    fail(cb);
    CHECK(cb.state() == State::closed);
    fail(cb);
    CHECK(cb.state() == State::open);
  }
  SECTION("every call slow") {
    Breaker cb("allslow", config, clock);
    ok_taking(cb, clock, 2s);  // 1 of 1 slow, no gate
    CHECK(cb.state() == State::open);
  }
}

TEST_CASE("slow calls are timed through permits too", "[window][slow]") {
  ManualClock clock;
  auto config = CircuitBreakerConfig::builder()
                    .slow_call_duration_threshold(10ms)
                    .slow_call_rate_threshold(100.0)
                    .minimum_request_threshold(2)
                    .record_call_durations(false)
                    .build();
  Breaker cb("permits", config, clock);
  for (int i = 0; i < 2; ++i) {
    auto p = cb.try_acquire();
    clock.advance(20ms);
    p.record_success();
  }
  CHECK(cb.state() == State::open);
  // The slow-call rule times every call, so the histogram is exact.
  CHECK(cb.call_durations().count == 2);
}

TEST_CASE("live config change: resizing a count window keeps the newest outcomes",
          "[window][update]") {
  ManualClock clock;
  Breaker cb("resize", rate_config(10, 70.0, 5), clock);
  fail(cb);
  fail(cb);
  fail(cb);
  ok(cb);
  ok(cb);
  ok(cb);  // F F F S S S: 50 % < 70
  REQUIRE(cb.state() == State::closed);
  SECTION("shrink keeps the newest: S S S S") {
    cb.update_config(rate_config(4, 60.0, 4));
    fail(cb);  // S S S F
    fail(cb);  // S S F F
    CHECK(cb.state() == State::closed);
    fail(cb);  // S F F F: 75 %
    CHECK(cb.state() == State::open);
  }
  SECTION("grow keeps everything") {
    cb.update_config(rate_config(20, 60.0, 5));
    fail(cb);  // 4 of 7 = 57 %
    CHECK(cb.state() == State::closed);
    fail(cb);  // 5 of 8 = 62.5 %
    CHECK(cb.state() == State::open);
  }
  SECTION("a new threshold acts at the next outcome, on the same contents") {
    cb.update_config(rate_config(10, 50.0, 5));
    CHECK(cb.state() == State::closed);
    ok(cb);  // 3 of 7 = 43 %
    CHECK(cb.state() == State::closed);
    fail(cb);  // 4 of 8 = 50 %
    CHECK(cb.state() == State::open);
  }
}

TEST_CASE("live config change: switching window type", "[window][update]") {
  ManualClock clock;
  SECTION("count to time moves the outcomes into the current bucket") {
    Breaker cb("c2t", rate_config(10, 50.0, 4), clock);
    fail(cb);
    fail(cb);
    ok(cb);
    cb.update_config(time_config(1000ms, 10, 50.0, 4));
    ok(cb);  // 2 of 4
    CHECK(cb.state() == State::open);
  }
  SECTION("count to time: the moved outcomes expire a window later") {
    Breaker cb("c2t-expire", rate_config(10, 50.0, 4), clock);
    fail(cb);
    fail(cb);
    ok(cb);
    cb.update_config(time_config(1000ms, 10, 50.0, 4));
    clock.advance(1000ms);
    ok(cb);
    ok(cb);
    ok(cb);
    fail(cb);  // 1 of 4: the moved ones are gone
    CHECK(cb.state() == State::closed);
  }
  SECTION("time to count starts empty") {
    Breaker cb("t2c", time_config(1000ms, 10, 50.0, 4), clock);
    fail(cb);
    fail(cb);
    fail(cb);
    cb.update_config(rate_config(10, 50.0, 4));
    ok(cb);
    ok(cb);
    ok(cb);
    fail(cb);  // 1 of 4
    CHECK(cb.state() == State::closed);
  }
  SECTION("time to time re-buckets what is still inside the new window") {
    Breaker cb("t2t", time_config(1000ms, 10, 50.0, 4), clock);
    fail(cb);
    clock.advance(600ms);
    fail(cb);
    ok(cb);
    // 400 ms in 4 buckets: the failure of 600 ms ago is outside.
    cb.update_config(time_config(400ms, 4, 50.0, 4));
    ok(cb);
    ok(cb);  // 1 of 4
    CHECK(cb.state() == State::closed);
    fail(cb);  // 2 of 5
    fail(cb);  // 3 of 6
    CHECK(cb.state() == State::open);
  }
}

TEST_CASE("live config change: switching the rule on and off", "[window][update]") {
  ManualClock clock;
  auto consecutive = CircuitBreakerConfig::builder()
                         .failure_threshold(3)
                         .minimum_request_threshold(0)
                         .timeout_duration(10s)
                         .build();
  SECTION("consecutive to failure_rate: the window starts empty, a steady word is reached") {
    Breaker cb("on", consecutive, clock);
    for (int i = 0; i < 70'000; ++i) ok(cb);  // the word's volume saturates: steady
    fail(cb);
    fail(cb);
    cb.update_config(rate_config(4, 50.0, 4));
    ok(cb);
    ok(cb);
    fail(cb);
    CHECK(cb.state() == State::closed);
    fail(cb);  // 2 of 4 (the two failures before the switch are not in the window)
    CHECK(cb.state() == State::open);
  }
  SECTION("failure_rate to consecutive: the consecutive count goes on") {
    Breaker cb("off", rate_config(100, 90.0, 50), clock);
    fail(cb);
    fail(cb);
    cb.update_config(consecutive);
    fail(cb);  // the third consecutive failure
    CHECK(cb.state() == State::open);
  }
  SECTION("failure_rate to consecutive and back: a new, empty window") {
    auto lenient = consecutive;
    lenient.failure_threshold = 100;
    Breaker cb("back", rate_config(4, 50.0, 4), clock);
    fail(cb);
    fail(cb);
    ok(cb);  // 2 of 3
    cb.update_config(lenient);
    cb.update_config(rate_config(4, 50.0, 4));
    ok(cb);
    ok(cb);
    ok(cb);
    fail(cb);  // 1 of 4: the old failures are not back
    CHECK(cb.state() == State::closed);
  }
}

TEST_CASE("window fields are validated with messages naming the field and its range",
          "[window][config]") {
  const auto message = [](const CircuitBreakerConfig& c) {
    std::string m;
    CHECK(c.validate(&m) == breaker::make_error_code(errc::invalid_config));
    return m;
  };
  CircuitBreakerConfig c;
  c.trip_policy = static_cast<TripPolicy>(7);
  CHECK(message(c) == "trip_policy must be consecutive_failures (0) or failure_rate (1), got 7");
  c = {};
  c.window_type = static_cast<WindowType>(2);
  CHECK(message(c) == "window_type must be count_based (0) or time_based (1), got 2");
  c = {};
  c.window_size = 0;
  CHECK(message(c) == "window_size must be in [1, 1000000], got 0");
  c.window_size = CircuitBreakerConfig::max_window_size + 1;
  CHECK(message(c) == "window_size must be in [1, 1000000], got 1000001");
  c = {};
  c.window_duration = 0ms;
  CHECK(message(c).rfind("window_duration must be in [1 ms, ", 0) == 0);
  c = {};
  c.window_buckets = 0;
  CHECK(message(c) == "window_buckets must be in [1, 1000], got 0");
  c.window_buckets = 1001;
  CHECK(message(c) == "window_buckets must be in [1, 1000], got 1001");
  c = {};
  c.window_duration = 1000ms;
  c.window_buckets = 3;
  CHECK(message(c) ==
        "window_duration must be a multiple of window_buckets milliseconds (buckets of whole "
        "milliseconds), got 1000 ms for 3 buckets");
  c = {};
  c.failure_rate_threshold = 0.0;
  CHECK(message(c) == "failure_rate_threshold must be in (0, 100] percent, got 0");
  c.failure_rate_threshold = 100.5;
  CHECK(message(c) == "failure_rate_threshold must be in (0, 100] percent, got 100.5");
  c.failure_rate_threshold = std::numeric_limits<double>::quiet_NaN();
  CHECK(message(c).rfind("failure_rate_threshold must be in (0, 100] percent", 0) == 0);
  c = {};
  c.slow_call_rate_threshold = -1.0;
  CHECK(message(c) == "slow_call_rate_threshold must be in (0, 100] percent, got -1");
  c = {};
  c.slow_call_duration_threshold = -1ms;
  CHECK(message(c).rfind("slow_call_duration_threshold must be in [0 ms, ", 0) == 0);
  c = {};
  c.trip_policy = TripPolicy::failure_rate;
  c.window_size = 5;
  c.minimum_request_threshold = 6;
  CHECK(message(c) ==
        "minimum_request_threshold must be <= window_size (5) with a count_based window (the "
        "window never holds more), got 6");
  // Without a window the same numbers are fine (the window is not used).
  c.trip_policy = TripPolicy::consecutive_failures;
  CHECK_FALSE(c.validate());
  c = {};
  c.trip_policy = TripPolicy::failure_rate;
  c.window_type = WindowType::time_based;
  c.minimum_request_threshold = CircuitBreakerConfig::max_count;
  CHECK(message(c) == "minimum_request_threshold must be in [0, 65534] with a sliding window, got 65535");
  // The builder and the breaker report the same sentence.
  CHECK_THROWS_WITH(CircuitBreakerConfig::builder().window_size(0).build(),
                    Catch::Contains("window_size must be in [1, 1000000], got 0"));
  CircuitBreakerConfig bad;
  bad.window_buckets = 0;
  CHECK_THROWS_WITH(Breaker("bad", bad), Catch::Contains("window_buckets must be in [1, 1000], got 0"));
}

TEST_CASE("first_difference names the window fields", "[window][config]") {
  CircuitBreakerConfig a, b;
  b.trip_policy = TripPolicy::failure_rate;
  CHECK(breaker::first_difference(a, b) == "trip_policy (consecutive_failures vs failure_rate)");
  b = a;
  b.window_type = WindowType::time_based;
  CHECK(breaker::first_difference(a, b) == "window_type (count_based vs time_based)");
  b = a;
  b.window_size = 7;
  CHECK(breaker::first_difference(a, b) == "window_size (100 vs 7)");
  b = a;
  b.window_duration = 1000ms;
  CHECK(breaker::first_difference(a, b) == "window_duration (60000 ms vs 1000 ms)");
  b = a;
  b.window_buckets = 5;
  CHECK(breaker::first_difference(a, b) == "window_buckets (10 vs 5)");
  b = a;
  b.failure_rate_threshold = 25.5;
  CHECK(breaker::first_difference(a, b) == "failure_rate_threshold (50 vs 25.5)");
  b = a;
  b.slow_call_duration_threshold = 250ms;
  CHECK(breaker::first_difference(a, b) == "slow_call_duration_threshold (0 ms vs 250 ms)");
  b = a;
  b.slow_call_rate_threshold = 80.0;
  CHECK(breaker::first_difference(a, b) == "slow_call_rate_threshold (100 vs 80)");
}

TEST_CASE("the defaults and every preset keep the consecutive policy and no window",
          "[window][config]") {
  for (const CircuitBreakerConfig& c :
       {CircuitBreakerConfig{}, CircuitBreakerConfig::for_http_api(),
        CircuitBreakerConfig::for_llm_service(), CircuitBreakerConfig::for_database(),
        CircuitBreakerConfig::for_notifications(), CircuitBreakerConfig::for_cache()}) {
    CHECK(c.trip_policy == TripPolicy::consecutive_failures);
    CHECK_FALSE(c.uses_window());
    CHECK_FALSE(breaker::detail::Rules::from(c).windowed());
  }
}

TEST_CASE("a breaker's window counts are exact after 4 threads record concurrently",
          "[window][concurrency]") {
  // failure_rate never reached (threshold 100 %, some successes), so the
  // breaker stays closed while the threads run; the window's counts must
  // then equal what was recorded.
  ManualClock clock;
  constexpr int threads = 4;
  constexpr int per_thread = 10'000;
  // Each thread's first outcome but thread 0's is a success: no prefix of 2
  // outcomes is all failures, so the gate of 2 keeps the 100 % rule inert.
  Breaker cb("threads", rate_config(threads * per_thread, 100.0, 2), clock);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&cb, t] {
      for (int i = 0; i < per_thread; ++i) {
        if ((i + t) % 4 == 0) {
          try {
            cb.execute([]() -> int { throw Boom{}; });
          } catch (const Boom&) {
          }
        } else {
          (void)cb.execute([] { return 1; });
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(cb.state() == State::closed);
  const auto s = cb.stats();
  CHECK(s.failed_calls == threads * per_thread / 4);
  const std::optional<breaker::WindowStats> w = cb.window_stats();
  REQUIRE(w);
  CHECK(w->calls == threads * per_thread);
  CHECK(w->failures == threads * per_thread / 4);
  CHECK(w->slow_calls == 0);
  CHECK(w->failure_rate == Approx(25.0));
}

TEST_CASE("a rate trip raises failure_rate_exceeded or slow_call_rate_exceeded once, after the transition",
          "[window][events]") {
  ManualClock clock;
  std::vector<breaker::CircuitBreakerEvent> seen;
  SECTION("failure rate") {
    Breaker cb("events", rate_config(4, 50.0, 4), clock);
    cb.on_event([&](const breaker::CircuitBreakerEvent& e) { seen.push_back(e); });
    ok(cb);
    fail(cb);
    ok(cb);
    fail(cb);  // 50 %: trips
    CHECK_THROWS_AS(cb.execute([] { return 1; }), CircuitBreakerError);  // rejected
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].type == breaker::EventType::state_transition);
    CHECK(seen[0].from == State::closed);
    CHECK(seen[0].to == State::open);
    CHECK(seen[1].type == breaker::EventType::failure_rate_exceeded);
    CHECK(seen[1].rate == Approx(50.0));
    CHECK(seen[1].breaker_name == "events");
    CHECK(seen[2].type == breaker::EventType::call_not_permitted);
  }
  SECTION("slow-call rate") {
    auto config = CircuitBreakerConfig::builder()
                      .slow_call_duration_threshold(1s)
                      .slow_call_rate_threshold(50.0)
                      .window_size(4)
                      .minimum_request_threshold(2)
                      .build();
    Breaker cb("slow-events", config, clock);
    cb.on_event([&](const breaker::CircuitBreakerEvent& e) { seen.push_back(e); });
    ok(cb);
    ok_taking(cb, clock, 2s);  // 1 of 2 slow
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].type == breaker::EventType::slow_call_rate_exceeded);
    CHECK(seen[1].rate == Approx(50.0));
  }
  SECTION("no event while the rate stays below") {
    Breaker cb("quiet", rate_config(4, 75.0, 4), clock);
    cb.on_event([&](const breaker::CircuitBreakerEvent& e) { seen.push_back(e); });
    for (int i = 0; i < 20; ++i) {
      ok(cb);
      fail(cb);
    }
    CHECK(seen.empty());
  }
}

TEST_CASE("metrics_only records in the window and never trips, disabled records nothing",
          "[window][states]") {
  ManualClock clock;
  Breaker cb("states", rate_config(10, 50.0, 2), clock);
  cb.metrics_only();
  for (int i = 0; i < 5; ++i) fail(cb);
  CHECK(cb.state() == State::metrics_only);
  REQUIRE(cb.window_stats());
  CHECK(cb.window_stats()->calls == 5);
  CHECK(cb.window_stats()->failures == 5);
  CHECK(cb.window_stats()->failure_rate == Approx(100.0));
  cb.disable();
  for (int i = 0; i < 5; ++i) fail(cb);
  CHECK(cb.state() == State::disabled);
  CHECK(cb.window_stats()->calls == 0);
  // reset() closes in a new epoch: an empty window.
  cb.reset();
  CHECK(cb.window_stats()->calls == 0);
  fail(cb);
  ok(cb);  // 1 of 2: trips
  CHECK(cb.state() == State::open);
}

TEST_CASE("a breaker without a window policy has no window", "[window][config]") {
  ManualClock clock;
  Breaker cb("plain", CircuitBreakerConfig{}, clock);
  CHECK_FALSE(cb.window_stats());
  ok(cb);
  CHECK_FALSE(cb.window_stats());
}

TEST_CASE("failure_rate: a clean window (the fast path) trips at exactly the rate of the sequential rule",
          "[window][rate][clean]") {
  ManualClock clock;
  Breaker cb("clean", rate_config(10, 50.0, 10), clock);
  // 25 successes: the window is full and clean, and the later successes are skipped.
  for (int i = 0; i < 25; ++i) ok(cb);
  CHECK(cb.window_stats()->calls == 10);
  CHECK(cb.window_stats()->failures == 0);
  // Each failure evicts one success; the fifth makes 5 of 10.
  for (int i = 0; i < 4; ++i) {
    fail(cb);
    CHECK(cb.state() == State::closed);
    CHECK(cb.window_stats()->failures == static_cast<std::uint64_t>(i + 1));
    CHECK(cb.window_stats()->calls == 10);
  }
  // Successes in between evict the oldest entries (successes), never a failure early: the
  // window is S F F F F S S S S S.
  for (int i = 0; i < 5; ++i) ok(cb);
  CHECK(cb.window_stats()->failures == 4);
  CHECK(cb.state() == State::closed);
  fail(cb);  // evicts the oldest success: 5 of 10
  CHECK(cb.state() == State::open);
}

TEST_CASE("slow calls: a clean window still sees a slow success (timed calls skip only when fast)",
          "[window][slow][clean]") {
  ManualClock clock;
  auto config = CircuitBreakerConfig::builder()
                    .slow_call_duration_threshold(100ms)
                    .slow_call_rate_threshold(20.0)
                    .window_size(5)
                    .minimum_request_threshold(5)
                    .build();
  Breaker cb("slowclean", config, clock);
  for (int i = 0; i < 12; ++i) ok_taking(cb, clock, 1ms);
  CHECK(cb.window_stats()->calls == 5);
  CHECK(cb.window_stats()->slow_calls == 0);
  ok_taking(cb, clock, 200ms);  // 1 of 5 slow = 20 %
  CHECK(cb.state() == State::open);
}
