// SPDX-License-Identifier: Apache-2.0
// Issue 12 (core part): the states disabled and metrics_only, open_for /
// open_until, the open-duration policies (backoff, jitter), the half-open
// maximum wait and success-ratio close, retry_after, events and their live
// config changes. Time moves only through ManualClock.
#include "breaker/breaker.hpp"
#include "breaker/detail/open_duration.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>
#include <stdexcept>
#include <string>
#include <vector>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::CircuitBreakerEvent;
using breaker::errc;
using breaker::EventType;
using breaker::FallbackContext;
using breaker::FallbackReason;
using breaker::HalfOpenClose;
using breaker::Jitter;
using breaker::OpenDurationPolicy;
using breaker::State;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;

CircuitBreakerConfig base_config() {
  CircuitBreakerConfig c;
  c.failure_threshold = 2;
  c.success_threshold = 1;
  c.timeout_duration = 1s;
  c.half_open_max_requests = 1;
  c.minimum_request_threshold = 0;
  return c;
}

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

void fail(Breaker& cb) { CHECK_THROWS_AS(cb.execute([]() -> int { throw Boom{}; }), Boom); }
void succeed(Breaker& cb) { CHECK(cb.execute([] { return 1; }) == 1); }

void trip(Breaker& cb) {
  for (std::uint32_t i = 0; i < cb.config().failure_threshold; ++i) fail(cb);
  REQUIRE(cb.state() == State::open);
}

// The length of the open period that has just started (clock not moved).
std::chrono::nanoseconds open_period(const Breaker& cb) {
  const auto left = cb.time_until_half_open();
  REQUIRE(left.has_value());
  return *left;
}

// Moves to the end of the open period and lets one probe fail.
void fail_probe(Breaker& cb, ManualClock& clock) {
  clock.advance(open_period(cb));
  REQUIRE(cb.state() == State::half_open);
  fail(cb);
  REQUIRE(cb.state() == State::open);
}

void close_through_probe(Breaker& cb, ManualClock& clock) {
  clock.advance(open_period(cb));
  succeed(cb);
  REQUIRE(cb.state() == State::closed);
}

}  // namespace

// --- states ----------------------------------------------------------------

TEST_CASE("the new states have their pinned values and names", "[issue12][states]") {
  CHECK(static_cast<int>(State::disabled) == 3);
  CHECK(static_cast<int>(State::metrics_only) == 4);
  CHECK(breaker::to_string(State::disabled) == "disabled");
  CHECK(breaker::to_string(State::metrics_only) == "metrics-only");
  CHECK(breaker::to_string(State::half_open) == "half-open");
}

TEST_CASE("a disabled breaker admits every call, records only totals and never trips",
          "[issue12][states][disabled]") {
  ManualClock clock;
  auto c = base_config();
  c.duration_sample_every = 1;
  Breaker cb("svc", c, clock);
  std::vector<breaker::StateTransition> heard;
  cb.on_state_change([&](const breaker::StateTransition& t) { heard.push_back(t); });
  cb.disable();
  CHECK(cb.state() == State::disabled);
  REQUIRE(heard.size() == 1);
  CHECK(heard[0].from == State::closed);
  CHECK(heard[0].to == State::disabled);
  for (int i = 0; i < 10; ++i) fail(cb);
  succeed(cb);
  auto permit = cb.try_acquire();
  REQUIRE(permit);
  CHECK(permit.admitted_in() == State::disabled);
  permit.record_failure();
  CHECK(cb.state() == State::disabled);
  const auto s = cb.stats();
  CHECK(s.state == State::disabled);
  CHECK(s.failed_calls == 11);
  CHECK(s.successful_calls == 1);
  CHECK(s.rejected_calls == 0);
  CHECK(s.total_calls == 12);
  CHECK(s.consecutive_failures == 0);   // no consecutive counts
  CHECK(cb.call_durations().count == 0);  // no durations
  CHECK(cb.transitions(State::closed, State::disabled) == 1);
  cb.disable();  // already disabled: not a transition
  CHECK(heard.size() == 1);
}

TEST_CASE("a metrics-only breaker records everything and never trips",
          "[issue12][states][metrics-only]") {
  ManualClock clock;
  auto c = base_config();
  c.duration_sample_every = 1;
  Breaker cb("svc", c, clock);
  cb.metrics_only();
  CHECK(cb.state() == State::metrics_only);
  for (int i = 0; i < 7; ++i) fail(cb);
  CHECK(cb.state() == State::metrics_only);
  auto s = cb.stats();
  CHECK(s.consecutive_failures == 7);  // counted as in closed
  CHECK(s.failed_calls == 7);
  CHECK(cb.call_durations().count == 7);  // durations recorded
  succeed(cb);
  s = cb.stats();
  CHECK(s.consecutive_failures == 0);
  CHECK(s.successful_calls == 1);
  CHECK(cb.call_durations().count == 8);
  auto permit = cb.try_acquire();
  REQUIRE(permit);
  CHECK(permit.admitted_in() == State::metrics_only);
  permit.record_success();
  CHECK(cb.transitions(State::closed, State::metrics_only) == 1);
  // reset() returns to closed with clean counts; the rules act again.
  cb.reset();
  CHECK(cb.state() == State::closed);
  CHECK(cb.stats().consecutive_failures == 0);
  trip(cb);
}

TEST_CASE("reset() returns to closed from every state", "[issue12][states][reset]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  const auto check_reset = [&](State from) {
    REQUIRE(cb.state() == from);
    cb.reset();
    CHECK(cb.state() == State::closed);
    CHECK(cb.stats().consecutive_failures == 0);
    CHECK(cb.transitions(from, State::closed) >= 1);
  };
  SECTION("open") {
    trip(cb);
    check_reset(State::open);
  }
  SECTION("half-open") {
    trip(cb);
    clock.advance(1s);
    auto probe = cb.try_acquire();
    REQUIRE(probe.admitted_in() == State::half_open);
    check_reset(State::half_open);
    probe.record_failure();  // stale: the breaker stays closed
    CHECK(cb.state() == State::closed);
  }
  SECTION("forced open") {
    cb.force_open();
    check_reset(State::open);
  }
  SECTION("open_for") {
    cb.open_for(5s);
    check_reset(State::open);
  }
  SECTION("disabled") {
    cb.disable();
    check_reset(State::disabled);
  }
  SECTION("metrics-only") {
    cb.metrics_only();
    fail(cb);
    check_reset(State::metrics_only);
  }
  SECTION("closed with a failure run") {
    fail(cb);
    cb.reset();
    CHECK(cb.stats().consecutive_failures == 0);
  }
}

TEST_CASE("manual transitions move between the new states", "[issue12][states]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  cb.disable();
  cb.metrics_only();
  CHECK(cb.state() == State::metrics_only);
  CHECK(cb.transitions(State::disabled, State::metrics_only) == 1);
  cb.force_open();
  CHECK(cb.state() == State::open);
  cb.disable();  // a manual transition leaves forced open too
  CHECK(cb.state() == State::disabled);
  cb.open_for(2s);  // opens a disabled breaker (manual control wins)
  CHECK(cb.state() == State::open);
  clock.advance(2s);
  CHECK(cb.state() == State::half_open);
}

// --- open_for / open_until ---------------------------------------------------

TEST_CASE("open_for opens now, not forced, and turns half-open after exactly the duration",
          "[issue12][open_for]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  cb.open_for(30s);  // longer than timeout_duration (1 s) and than nothing else
  CHECK(cb.state() == State::open);
  CHECK(cb.time_until_half_open() == std::optional<std::chrono::nanoseconds>{30s});
  CHECK_FALSE(cb.try_acquire());
  clock.advance(30s - 1ns);
  CHECK(cb.state() == State::open);
  CHECK_FALSE(cb.try_acquire());
  clock.advance(1ns);
  CHECK(cb.state() == State::half_open);
  auto probe = cb.try_acquire();
  REQUIRE(probe);
  CHECK(probe.admitted_in() == State::half_open);
  probe.record_success();
  CHECK(cb.state() == State::closed);
}

TEST_CASE("open_for is neither capped nor jittered, and a shorter one replaces an open period",
          "[issue12][open_for]") {
  ManualClock clock;
  auto c = base_config();
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.max_open_duration = 2s;
  c.open_duration_jitter = Jitter::full;
  Breaker cb("svc", c, clock);
  cb.open_for(1h);
  CHECK(open_period(cb) == 1h);
  cb.open_for(100ms);  // an open breaker takes the new period
  CHECK(open_period(cb) == 100ms);
  CHECK(cb.transitions(State::closed, State::open) == 1);  // open -> open is not a transition
  cb.open_for(-5s);  // negative: zero
  CHECK(cb.state() == State::half_open);
}

TEST_CASE("open_until opens until a time point of the breaker's clock", "[issue12][open_for]") {
  ManualClock clock;
  clock.advance(100s);
  Breaker cb("svc", base_config(), clock);
  cb.open_until(ManualClock::time_point{} + 107s);
  CHECK(cb.state() == State::open);
  CHECK(open_period(cb) == 7s);
  clock.advance(7s);
  CHECK(cb.state() == State::half_open);
  SECTION("a time in the past: half-open at the next call") {
    cb.open_until(ManualClock::time_point{} + 1s);
    auto probe = cb.try_acquire();
    REQUIRE(probe);
    CHECK(probe.admitted_in() == State::half_open);
  }
}

TEST_CASE("open_for leaves a forced-open breaker forced", "[issue12][open_for]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  cb.force_open();
  cb.open_for(1s);
  clock.advance(1h);
  CHECK(cb.state() == State::open);
  CHECK_FALSE(cb.time_until_half_open());  // forced: no period ends by itself
  CHECK_FALSE(cb.try_acquire());
}

TEST_CASE("open_for from half-open ends the episode: its probes become stale",
          "[issue12][open_for]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  trip(cb);
  clock.advance(1s);
  auto probe = cb.try_acquire();
  REQUIRE(probe.admitted_in() == State::half_open);
  cb.open_for(3s);
  CHECK(cb.state() == State::open);
  probe.record_success();  // stale
  CHECK(cb.state() == State::open);
  CHECK(open_period(cb) == 3s);
  CHECK(cb.transitions(State::half_open, State::open) == 1);
}

// --- rejections carry the time left open ------------------------------------

TEST_CASE("a rejection carries the time left open, rounded up to a millisecond",
          "[issue12][retry_after]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  trip(cb);
  clock.advance(250ms + 300us);
  try {
    cb.execute([] { return 1; });
    FAIL("not rejected");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == errc::open);
    REQUIRE(e.retry_after().has_value());
    CHECK(*e.retry_after() == 750ms);  // 749.7 ms rounded up
  }
  FallbackContext seen{};
  const int v = cb.execute_with_fallback([] { return 1; },
                                         [&](const FallbackContext& ctx) {
                                           seen = ctx;
                                           return 2;
                                         });
  CHECK(v == 2);
  CHECK(seen.reason == FallbackReason::rejected);
  CHECK(seen.retry_after == std::optional<std::chrono::milliseconds>{750ms});
}

TEST_CASE("rejections no open period explains carry no retry_after", "[issue12][retry_after]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  SECTION("forced open") {
    cb.force_open();
  }
  SECTION("half-open with its probe slot taken") {
    trip(cb);
    clock.advance(1s);
    auto probe = cb.try_acquire();
    REQUIRE(probe);
    try {
      cb.execute([] { return 1; });
      FAIL("not rejected");
    } catch (const CircuitBreakerError& e) {
      CHECK_FALSE(e.retry_after());
    }
    return;
  }
  try {
    cb.execute([] { return 1; });
    FAIL("not rejected");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == errc::open);
    CHECK_FALSE(e.retry_after());
  }
  // Other errors carry none either.
  CHECK_FALSE(CircuitBreakerError(errc::timeout, "svc").retry_after());
}

// --- open-duration policy ------------------------------------------------------

TEST_CASE("the fixed policy opens for timeout_duration every time", "[issue12][backoff]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  trip(cb);
  CHECK(open_period(cb) == 1s);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 1s);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 1s);
}

TEST_CASE("exponential backoff grows with each failed half-open, caps, and resets once closed",
          "[issue12][backoff]") {
  ManualClock clock;
  auto c = base_config();
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.backoff_multiplier = 2.0;
  c.max_open_duration = 5s;
  Breaker cb("svc", c, clock);
  trip(cb);
  CHECK(open_period(cb) == 1s);  // level 0
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 2s);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 4s);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 5s);  // capped (8 s)
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 5s);
  close_through_probe(cb, clock);
  trip(cb);
  CHECK(open_period(cb) == 1s);  // reset once closed
  SECTION("reset() resets the level too") {
    fail_probe(cb, clock);
    CHECK(open_period(cb) == 2s);
    cb.reset();
    trip(cb);
    CHECK(open_period(cb) == 1s);
  }
  SECTION("open_for keeps the level and the next failed probe grows it") {
    fail_probe(cb, clock);
    CHECK(open_period(cb) == 2s);
    cb.open_for(10ms);
    fail_probe(cb, clock);
    CHECK(open_period(cb) == 4s);
  }
}

TEST_CASE("a non-integer multiplier grows geometrically", "[issue12][backoff]") {
  ManualClock clock;
  auto c = base_config();
  c.timeout_duration = 1000ms;
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.backoff_multiplier = 1.5;
  Breaker cb("svc", c, clock);
  trip(cb);
  CHECK(open_period(cb) == 1000ms);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 1500ms);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 2250ms);
}

TEST_CASE("open_duration: the pure rule's bounds for the extreme random values",
          "[issue12][jitter]") {
  using breaker::detail::open_duration;
  auto c = base_config();
  c.timeout_duration = 1000ms;
  constexpr std::uint64_t lowest = 0;
  constexpr std::uint64_t highest = ~std::uint64_t{0};
  CHECK(open_duration(c, 0, highest) == 1000ms);  // no jitter: exact
  c.open_duration_jitter = Jitter::full;
  CHECK(open_duration(c, 0, lowest) == 0ms);
  CHECK(open_duration(c, 0, highest) == 1000ms);  // just below d, rounded up to a microsecond
  CHECK(open_duration(c, 0, std::uint64_t{1} << 63) == 500ms);
  c.open_duration_jitter = Jitter::proportional;
  c.jitter_ratio = 0.25;
  CHECK(open_duration(c, 0, lowest) == 750ms);
  CHECK(open_duration(c, 0, highest) == 1250ms);  // just below, rounded up
  CHECK(open_duration(c, 0, std::uint64_t{1} << 63) == 1000ms);
  // Under backoff the base is capped at max_open_duration, then jittered, then
  // capped again: [cap * (1 - r), cap].
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.max_open_duration = 3s;
  CHECK(open_duration(c, 1, lowest) == 1500ms);  // 2 s - 25 %
  CHECK(open_duration(c, 1, highest) == 2500ms);  // 2 s + 25 %
  CHECK(open_duration(c, 2, highest) == 3s);      // 3 s + 25 %: capped
  CHECK(open_duration(c, 2, lowest) == 2250ms);   // 3 s - 25 %
  CHECK(open_duration(c, 1000, lowest) == 2250ms);  // pow overflows to inf: capped first
}

TEST_CASE("full jitter draws each open period in [0, d] from the seeded generator",
          "[issue12][jitter]") {
  auto c = base_config();
  c.open_duration_jitter = Jitter::full;
  c.jitter_seed = 42;
  const auto periods = [&](std::uint64_t seed) {
    ManualClock clock;
    auto config = c;
    config.jitter_seed = seed;
    Breaker cb("svc", config, clock);
    std::vector<std::chrono::nanoseconds> out;
    trip(cb);
    out.push_back(open_period(cb));
    for (int i = 0; i < 50; ++i) {
      fail_probe(cb, clock);
      out.push_back(open_period(cb));
    }
    return out;
  };
  const auto a = periods(42);
  CHECK(a == periods(42));  // equal seeds, equal durations
  CHECK(a != periods(43));
  std::set<std::chrono::nanoseconds> distinct(a.begin(), a.end());
  CHECK(distinct.size() > 40);
  for (auto d : a) {
    CHECK(d >= 0ns);
    CHECK(d <= 1s);
  }
  // The breaker's draws are splitmix64's sequence for the seed.
  breaker::detail::JitterGenerator g(42);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto expected = std::chrono::ceil<std::chrono::microseconds>(
        std::chrono::duration<double, std::nano>(1e9 * breaker::detail::unit_interval(g.next())));
    CHECK(a[i] == expected);
  }
}

TEST_CASE("proportional jitter stays within +-jitter_ratio and under the backoff cap",
          "[issue12][jitter]") {
  ManualClock clock;
  auto c = base_config();
  c.timeout_duration = 1000ms;
  c.open_duration_jitter = Jitter::proportional;
  c.jitter_ratio = 0.1;
  c.jitter_seed = 7;
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.backoff_multiplier = 2;
  c.max_open_duration = 3s;
  Breaker cb("svc", c, clock);
  trip(cb);
  auto d = open_period(cb);
  CHECK(d >= 900ms);
  CHECK(d < 1100ms);
  fail_probe(cb, clock);
  d = open_period(cb);
  CHECK(d >= 1800ms);
  CHECK(d < 2200ms);
  for (int i = 0; i < 20; ++i) {
    fail_probe(cb, clock);
    d = open_period(cb);
    CHECK(d >= 2700ms);  // the cap is reached before jitter (3 s - 10 %)
    CHECK(d <= 3s);
  }
}

// --- half-open maximum wait ---------------------------------------------------

TEST_CASE("a half-open episode that is undecided after max_wait_in_half_open goes back to open",
          "[issue12][half-open][max-wait]") {
  ManualClock clock;
  auto c = base_config();
  c.max_wait_in_half_open = 500ms;
  Breaker cb("svc", c, clock);
  trip(cb);
  clock.advance(1s);
  auto probe = cb.try_acquire();  // a probe that never reports in time
  REQUIRE(probe.admitted_in() == State::half_open);
  clock.advance(499ms);
  CHECK(cb.state() == State::half_open);
  CHECK_FALSE(cb.try_acquire());  // its slot is taken
  clock.advance(1ms);
  CHECK(cb.state() == State::open);  // observers see it at once
  CHECK(cb.transitions(State::half_open, State::open) == 0);  // made lazily...
  CHECK_FALSE(cb.try_acquire());  // ...by the next acquire, rejected
  CHECK(cb.transitions(State::half_open, State::open) == 1);
  CHECK(open_period(cb) == 1s);  // a fresh open period
  probe.record_success();  // stale now
  CHECK(cb.state() == State::open);
  clock.advance(1s);
  auto again = cb.try_acquire();  // probes again after the next open period
  REQUIRE(again.admitted_in() == State::half_open);
  again.record_success();
  CHECK(cb.state() == State::closed);
}

TEST_CASE("max_wait_in_half_open counts as a failed half-open for the backoff",
          "[issue12][half-open][max-wait][backoff]") {
  ManualClock clock;
  auto c = base_config();
  c.max_wait_in_half_open = 100ms;
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  Breaker cb("svc", c, clock);
  trip(cb);
  clock.advance(1s);
  auto probe = cb.try_acquire();
  REQUIRE(probe);
  clock.advance(100ms);
  CHECK_FALSE(cb.try_acquire());
  CHECK(open_period(cb) == 2s);
}

TEST_CASE("without max_wait_in_half_open a half-open episode waits forever (as before)",
          "[issue12][half-open][max-wait]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  trip(cb);
  clock.advance(1s);
  auto probe = cb.try_acquire();
  REQUIRE(probe);
  clock.advance(24h);
  CHECK(cb.state() == State::half_open);
  probe.record_success();
  CHECK(cb.state() == State::closed);
}

// --- half-open success ratio -----------------------------------------------------

namespace {
CircuitBreakerConfig ratio_config(std::uint32_t probes, double ratio) {
  auto c = base_config();
  c.half_open_max_requests = probes;
  c.half_open_close = HalfOpenClose::success_ratio;
  c.half_open_success_ratio = ratio;
  c.success_threshold = 100;  // unused by the ratio rule
  return c;
}
}  // namespace

TEST_CASE("ratio_required_successes is ceil(ratio * N / 100), at least 1",
          "[issue12][half-open][ratio]") {
  using breaker::detail::ratio_required_successes;
  CHECK(ratio_required_successes(50, 4) == 2);
  CHECK(ratio_required_successes(75, 4) == 3);
  CHECK(ratio_required_successes(60, 4) == 3);  // 2.4 -> 3
  CHECK(ratio_required_successes(100, 7) == 7);
  CHECK(ratio_required_successes(0.1, 3) == 1);
  CHECK(ratio_required_successes(100.0 / 3.0, 3) == 1);
}

TEST_CASE("a success-ratio episode closes as soon as enough of its N probes succeeded",
          "[issue12][half-open][ratio]") {
  ManualClock clock;
  Breaker cb("svc", ratio_config(4, 75), clock);  // 3 of 4
  trip(cb);
  clock.advance(1s);
  std::vector<Breaker::Permit> probes;
  for (int i = 0; i < 4; ++i) {
    probes.push_back(cb.try_acquire());
    REQUIRE(probes.back().admitted_in() == State::half_open);
  }
  CHECK_FALSE(cb.try_acquire());  // exactly N
  probes[0].record_success();
  probes[1].record_failure();  // one failure is allowed (4 - 3)
  CHECK(cb.state() == State::half_open);
  CHECK_FALSE(cb.try_acquire());  // reported probes keep their slots: still exactly N
  CHECK(cb.stats().consecutive_successes == 1);
  CHECK(cb.probes_in_flight() == 2);
  probes[2].record_success();
  CHECK(cb.state() == State::half_open);
  probes[3].record_success();
  CHECK(cb.state() == State::closed);
}

TEST_CASE("a success-ratio episode reopens as soon as the ratio cannot be reached",
          "[issue12][half-open][ratio]") {
  ManualClock clock;
  Breaker cb("svc", ratio_config(4, 75), clock);
  trip(cb);
  clock.advance(1s);
  auto a = cb.try_acquire();
  auto b = cb.try_acquire();
  auto c = cb.try_acquire();
  a.record_failure();
  CHECK(cb.state() == State::half_open);
  b.record_failure();  // 2 failures > 4 - 3
  CHECK(cb.state() == State::open);
  c.record_success();  // stale
  CHECK(cb.state() == State::open);
}

TEST_CASE("an ignored probe of a success-ratio episode gives its slot to another call",
          "[issue12][half-open][ratio]") {
  ManualClock clock;
  Breaker cb("svc", ratio_config(2, 100), clock);
  trip(cb);
  clock.advance(1s);
  auto a = cb.try_acquire();
  auto b = cb.try_acquire();
  CHECK_FALSE(cb.try_acquire());
  a.record_ignored();
  auto c = cb.try_acquire();
  REQUIRE(c);
  b.record_success();
  CHECK(cb.state() == State::half_open);
  c.record_success();
  CHECK(cb.state() == State::closed);
}

TEST_CASE("ratio 100 with one probe behaves like one consecutive success",
          "[issue12][half-open][ratio]") {
  ManualClock clock;
  Breaker cb("svc", ratio_config(1, 100), clock);
  trip(cb);
  clock.advance(1s);
  fail(cb);
  CHECK(cb.state() == State::open);
  clock.advance(1s);
  succeed(cb);
  CHECK(cb.state() == State::closed);
}

// --- live config changes ---------------------------------------------------------

TEST_CASE("changing the open-duration policy while open keeps the running period",
          "[issue12][update_config]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  trip(cb);
  auto c = cb.config();
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.backoff_multiplier = 3;
  cb.update_config(c);
  CHECK(cb.state() == State::open);
  CHECK(open_period(cb) == 1s);  // the running period keeps its end
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 3s);  // the level counted under fixed is kept
  c.open_duration_policy = OpenDurationPolicy::fixed;
  cb.update_config(c);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 1s);
  c.open_duration_jitter = Jitter::full;
  cb.update_config(c);
  fail_probe(cb, clock);
  CHECK(open_period(cb) < 1s);
}

TEST_CASE("a new backoff_multiplier or max_open_duration applies from the next period, at the current level",
          "[issue12][update_config][backoff]") {
  ManualClock clock;
  auto c = base_config();
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.max_open_duration = 1h;
  Breaker cb("svc", c, clock);
  trip(cb);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 2s);  // level 1
  c.backoff_multiplier = 10;
  cb.update_config(c);
  CHECK(open_period(cb) == 2s);  // the running period keeps its end
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 100s);  // level 2 under the new multiplier
  c.max_open_duration = 30s;
  cb.update_config(c);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 30s);  // the new cap
  c.jitter_ratio = 0.5;  // unused without jitter: nothing changes
  cb.update_config(c);
  fail_probe(cb, clock);
  CHECK(open_period(cb) == 30s);
}

TEST_CASE("a new half_open_success_ratio applies at once to a running success-ratio episode",
          "[issue12][update_config][ratio]") {
  ManualClock clock;
  Breaker cb("svc", ratio_config(4, 100), clock);
  trip(cb);
  clock.advance(1s);
  auto a = cb.try_acquire();
  auto b = cb.try_acquire();
  a.record_success();
  CHECK(cb.state() == State::half_open);  // 1 success of the 4 needed
  auto c = cb.config();
  c.half_open_success_ratio = 50;  // 2 of 4
  cb.update_config(c);
  b.record_success();
  CHECK(cb.state() == State::closed);
}

TEST_CASE("a new jitter_seed restarts the jitter sequence", "[issue12][update_config][jitter]") {
  ManualClock clock;
  auto c = base_config();
  c.open_duration_jitter = Jitter::full;
  c.jitter_seed = 1;
  Breaker cb("svc", c, clock);
  trip(cb);
  const auto first = open_period(cb);
  c.jitter_seed = 2;
  cb.update_config(c);
  c.jitter_seed = 1;
  cb.update_config(c);  // back to seed 1: the sequence starts again
  fail_probe(cb, clock);
  CHECK(open_period(cb) == first);
}

TEST_CASE("changing the half-open rules keeps a running episode's rule and wait",
          "[issue12][update_config][half-open]") {
  ManualClock clock;
  Breaker cb("svc", ratio_config(3, 100), clock);
  trip(cb);
  clock.advance(1s);
  auto a = cb.try_acquire();
  auto c = cb.config();
  c.half_open_close = HalfOpenClose::consecutive_successes;
  c.success_threshold = 1;
  c.max_wait_in_half_open = 10ms;
  cb.update_config(c);
  CHECK(cb.state() == State::half_open);
  a.record_success();  // still the ratio episode: 1 of 3 is not enough
  CHECK(cb.state() == State::half_open);
  clock.advance(1h);  // the new wait does not apply to the running episode
  CHECK(cb.state() == State::half_open);
  auto b = cb.try_acquire();
  clock.advance(1h);  // taking a probe slot does not start a wait either
  CHECK(cb.state() == State::half_open);
  auto d = cb.try_acquire();
  b.record_success();
  d.record_success();
  CHECK(cb.state() == State::closed);
  // The next episode uses the new rules: one success closes, and it may wait 10 ms.
  trip(cb);
  clock.advance(1s);
  auto e = cb.try_acquire();
  clock.advance(10ms);
  CHECK(cb.state() == State::open);
  e.record_success();  // stale
  clock.advance(1s);
  succeed(cb);
  CHECK(cb.state() == State::closed);
}

TEST_CASE("update_config with any issue-12 field keeps disabled and metrics-only",
          "[issue12][update_config][states]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  cb.disable();
  auto c = cb.config();
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.half_open_close = HalfOpenClose::success_ratio;
  c.max_wait_in_half_open = 1s;
  cb.update_config(c);
  CHECK(cb.state() == State::disabled);
  cb.metrics_only();
  c.open_duration_jitter = Jitter::proportional;
  cb.update_config(c);
  CHECK(cb.state() == State::metrics_only);
}

// --- events ----------------------------------------------------------------------

TEST_CASE("event listeners hear transitions and rejected calls, and can be removed",
          "[issue12][events]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  std::vector<CircuitBreakerEvent> heard;
  const auto id = cb.on_event([&](const CircuitBreakerEvent& e) { heard.push_back(e); });
  trip(cb);
  REQUIRE(heard.size() == 1);
  CHECK(heard[0].type == EventType::state_transition);
  CHECK(heard[0].breaker_name == "svc");
  CHECK(heard[0].from == State::closed);
  CHECK(heard[0].to == State::open);
  CHECK(heard[0].state == State::open);
  CHECK_FALSE(cb.try_acquire());
  REQUIRE(heard.size() == 2);
  CHECK(heard[1].type == EventType::call_not_permitted);
  CHECK(heard[1].state == State::open);
  clock.advance(1s);
  auto probe = cb.try_acquire();
  CHECK_FALSE(cb.try_acquire());  // half-open, full
  REQUIRE(heard.size() == 4);
  CHECK(heard[2].type == EventType::state_transition);
  CHECK(heard[2].to == State::half_open);
  CHECK(heard[3].type == EventType::call_not_permitted);
  CHECK(heard[3].state == State::half_open);
  CHECK(cb.remove_event_listener(id));
  CHECK_FALSE(cb.remove_event_listener(id));
  probe.record_success();
  CHECK(heard.size() == 4);
  CHECK(breaker::to_string(EventType::slow_call_rate_exceeded) == "slow_call_rate_exceeded");
}

TEST_CASE("a throwing event listener does not affect the breaker", "[issue12][events]") {
  ManualClock clock;
  Breaker cb("svc", base_config(), clock);
  int calls = 0;
  cb.on_event([&](const CircuitBreakerEvent&) {
    ++calls;
    throw std::runtime_error("listener");
  });
  trip(cb);
  CHECK_FALSE(cb.try_acquire());
  CHECK(calls == 2);
  CHECK(cb.state() == State::open);
}

TEST_CASE("a registry-wide listener hears every breaker's events, present and future",
          "[issue12][events][registry]") {
  ManualClock clock;
  breaker::BasicRegistry<ManualClock> registry(clock);
  auto before = registry.get_or_create("before", base_config());
  std::vector<std::pair<std::string, EventType>> heard;
  const auto id = registry.on_event([&](const CircuitBreakerEvent& e) {
    heard.emplace_back(std::string(e.breaker_name), e.type);
  });
  auto after = registry.get_or_create("after", base_config());
  auto added = registry.add(std::make_shared<Breaker>("added", base_config(), clock));
  const auto second = registry.on_event([](const CircuitBreakerEvent&) {});  // no double forwarding
  before->force_open();
  after->disable();
  added->open_for(1s);
  CHECK_FALSE(added->try_acquire());
  const std::vector<std::pair<std::string, EventType>> expected{
      {"before", EventType::state_transition},
      {"after", EventType::state_transition},
      {"added", EventType::state_transition},
      {"added", EventType::call_not_permitted}};
  CHECK(heard == expected);
  CHECK(registry.remove_event_listener(id));
  CHECK(registry.remove_event_listener(second));
  CHECK_FALSE(registry.remove_event_listener(id));
  before->reset();
  CHECK(heard.size() == expected.size());
}

TEST_CASE("a breaker removed from the registry stops reporting to the registry's listeners",
          "[issue12][events][registry]") {
  ManualClock clock;
  breaker::BasicRegistry<ManualClock> registry(clock);
  auto early = registry.get_or_create("svc", base_config());  // attached by the first listener
  std::vector<std::string> heard;
  registry.on_event([&](const CircuitBreakerEvent& e) { heard.emplace_back(e.breaker_name); });
  auto late = registry.get_or_create("other", base_config());  // attached when created
  int own = 0;
  early->on_event([&](const CircuitBreakerEvent&) { ++own; });
  REQUIRE(registry.remove("svc"));
  REQUIRE(registry.remove("other"));
  early->force_open();
  late->force_open();
  CHECK(heard.empty());
  CHECK(own == 1);  // its own listeners still hear it
  auto fresh = registry.get_or_create("svc", base_config());
  CHECK(fresh != early);
  fresh->force_open();
  early->reset();
  CHECK(heard == std::vector<std::string>{"svc"});  // the new breaker only, once
}

TEST_CASE("the health report counts disabled and metrics-only breakers as closed",
          "[issue12][states][registry]") {
  breaker::BasicRegistry<ManualClock> registry{ManualClock{}};
  registry.get_or_create("a")->disable();
  registry.get_or_create("b")->metrics_only();
  registry.get_or_create("c")->force_open();
  const auto report = registry.health_check();
  CHECK(report.closed == 2);
  CHECK(report.open == 1);
  CHECK_FALSE(report.healthy);
}

// --- validation -----------------------------------------------------------------

TEST_CASE("invalid issue-12 fields are refused with a message naming the field",
          "[issue12][config]") {
  const auto message_of = [](CircuitBreakerConfig c) {
    std::string message;
    const auto ec = c.validate(&message);
    CHECK(ec == errc::invalid_config);
    return message;
  };
  auto c = base_config();
  c.open_duration_policy = static_cast<OpenDurationPolicy>(9);
  CHECK(message_of(c) == "open_duration_policy must be fixed (0) or exponential_backoff (1), got 9");
  c = base_config();
  c.backoff_multiplier = 1.0;
  CHECK(message_of(c) == "backoff_multiplier must be in (1, 1000], got 1");
  c.backoff_multiplier = std::numeric_limits<double>::quiet_NaN();
  CHECK(message_of(c).rfind("backoff_multiplier must be in (1, 1000]", 0) == 0);
  c = base_config();
  c.max_open_duration = 0ms;
  CHECK(message_of(c) == "max_open_duration must be in (0 ms, 31536000000 ms], got 0 ms");
  c = base_config();
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.max_open_duration = 500ms;  // below timeout_duration (1 s)
  CHECK(message_of(c) ==
        "max_open_duration must be at least timeout_duration (1000 ms) under "
        "exponential_backoff, got 500 ms");
  c.open_duration_policy = OpenDurationPolicy::fixed;
  CHECK_FALSE(c.validate());  // the cap is unused under fixed
  c = base_config();
  c.open_duration_jitter = static_cast<Jitter>(3);
  CHECK(message_of(c) == "open_duration_jitter must be none (0), full (1) or proportional (2), got 3");
  c = base_config();
  c.jitter_ratio = 1.5;
  CHECK(message_of(c) == "jitter_ratio must be in [0, 1], got 1.5");
  c.jitter_ratio = -0.1;
  CHECK(message_of(c) == "jitter_ratio must be in [0, 1], got -0.1");
  c = base_config();
  c.max_wait_in_half_open = -1ms;
  CHECK(message_of(c) ==
        "max_wait_in_half_open must be in [0 ms, 31536000000 ms] (0: none), got -1 ms");
  c = base_config();
  c.half_open_close = static_cast<HalfOpenClose>(2);
  CHECK(message_of(c) ==
        "half_open_close must be consecutive_successes (0) or success_ratio (1), got 2");
  c = base_config();
  c.half_open_success_ratio = 0;
  CHECK(message_of(c) == "half_open_success_ratio must be in (0, 100] percent, got 0");
  c.half_open_success_ratio = 100.5;
  CHECK(message_of(c) == "half_open_success_ratio must be in (0, 100] percent, got 100.5");
  c = ratio_config(256, 50);
  CHECK(message_of(c) ==
        "half_open_max_requests must be in [1, 255] when half_open_close is success_ratio (the "
        "state word counts the episode's probes in 8 bits), got 256");
  c.half_open_close = HalfOpenClose::consecutive_successes;
  CHECK_FALSE(c.validate());  // 256 is fine for consecutive successes
  // The constructor and update_config refuse them too, naming the field.
  auto bad = base_config();
  bad.jitter_ratio = 2;
  CHECK_THROWS_WITH(Breaker("svc", bad, ManualClock{}), Catch::Contains("jitter_ratio"));
  Breaker cb("svc", base_config(), ManualClock{});
  CHECK_THROWS_WITH(cb.update_config(bad), Catch::Contains("jitter_ratio"));
}

TEST_CASE("the defaults of the issue-12 fields keep the earlier behaviour",
          "[issue12][config]") {
  const CircuitBreakerConfig c;
  CHECK(c.open_duration_policy == OpenDurationPolicy::fixed);
  CHECK(c.open_duration_jitter == Jitter::none);
  CHECK(c.max_wait_in_half_open == 0ms);
  CHECK(c.half_open_close == HalfOpenClose::consecutive_successes);
  CHECK(c.backoff_multiplier == 2.0);
  CHECK(c.jitter_ratio == 0.2);
  CHECK(c.jitter_seed == 0);
  CHECK(c.half_open_success_ratio == 100.0);
  CHECK(c.max_open_duration == 30min);
  CHECK_FALSE(c.validate());
}

TEST_CASE("builder setters and first_difference cover the issue-12 fields",
          "[issue12][config]") {
  const auto c = CircuitBreakerConfig::builder()
                     .open_duration_policy(OpenDurationPolicy::exponential_backoff)
                     .backoff_multiplier(3)
                     .max_open_duration(10min)
                     .open_duration_jitter(Jitter::proportional)
                     .jitter_ratio(0.5)
                     .jitter_seed(99)
                     .max_wait_in_half_open(2s)
                     .half_open_close(HalfOpenClose::success_ratio)
                     .half_open_success_ratio(80)
                     .build();
  CHECK(c.open_duration_policy == OpenDurationPolicy::exponential_backoff);
  CHECK(c.backoff_multiplier == 3);
  CHECK(c.max_open_duration == 10min);
  CHECK(c.open_duration_jitter == Jitter::proportional);
  CHECK(c.jitter_ratio == 0.5);
  CHECK(c.jitter_seed == 99);
  CHECK(c.max_wait_in_half_open == 2s);
  CHECK(c.half_open_close == HalfOpenClose::success_ratio);
  CHECK(c.half_open_success_ratio == 80);
  const CircuitBreakerConfig d;
  auto x = d;
  x.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  CHECK(breaker::first_difference(x, d) == "open_duration_policy (exponential_backoff vs fixed)");
  x = d;
  x.backoff_multiplier = 2.5;
  CHECK(breaker::first_difference(x, d) == "backoff_multiplier (2.5 vs 2)");
  x = d;
  x.max_open_duration = 1s;
  CHECK(breaker::first_difference(x, d) == "max_open_duration (1000 ms vs 1800000 ms)");
  x = d;
  x.open_duration_jitter = Jitter::full;
  CHECK(breaker::first_difference(x, d) == "open_duration_jitter (full vs none)");
  x = d;
  x.jitter_ratio = 0.3;
  CHECK(breaker::first_difference(x, d) == "jitter_ratio (0.3 vs 0.2)");
  x = d;
  x.jitter_seed = 5;
  CHECK(breaker::first_difference(x, d) == "jitter_seed (5 vs 0)");
  x = d;
  x.max_wait_in_half_open = 3s;
  CHECK(breaker::first_difference(x, d) == "max_wait_in_half_open (3000 ms vs 0 ms)");
  x = d;
  x.half_open_close = HalfOpenClose::success_ratio;
  CHECK(breaker::first_difference(x, d) == "half_open_close (success_ratio vs consecutive_successes)");
  x = d;
  x.half_open_success_ratio = 90;
  CHECK(breaker::first_difference(x, d) == "half_open_success_ratio (90 vs 100)");
}

// --- concurrency ------------------------------------------------------------------

TEST_CASE("the jitter generator hands out each number of its sequence once across threads",
          "[issue12][jitter][concurrency]") {
  constexpr int threads = 4;
  constexpr int draws = 2000;
  breaker::detail::JitterGenerator shared(1234);
  std::vector<std::vector<std::uint64_t>> got(threads);
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int i = 0; i < draws; ++i) got[t].push_back(shared.next());
      });
    }
    for (auto& th : pool) th.join();
  }
  std::multiset<std::uint64_t> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  breaker::detail::JitterGenerator alone(1234);
  std::multiset<std::uint64_t> expected;
  for (int i = 0; i < threads * draws; ++i) expected.insert(alone.next());
  CHECK(all == expected);  // the same numbers, none twice, none lost
}

TEST_CASE("concurrent open_for, disable, reset and calls leave a consistent breaker",
          "[issue12][concurrency]") {
  ManualClock clock;
  auto c = base_config();
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.open_duration_jitter = Jitter::proportional;
  c.max_wait_in_half_open = 1ms;
  Breaker cb("svc", c, clock);
  std::atomic<int> events{0};
  cb.on_event([&](const CircuitBreakerEvent&) { events.fetch_add(1, std::memory_order_relaxed); });
  constexpr int iterations = 3000;
  std::vector<std::thread> pool;
  pool.emplace_back([&] {
    for (int i = 0; i < iterations; ++i) {
      switch (i % 4) {
        case 0:
          cb.open_for(std::chrono::microseconds(i % 7));
          break;
        case 1:
          cb.disable();
          break;
        case 2:
          cb.metrics_only();
          break;
        default:
          cb.reset();
      }
      clock.advance(1us);
    }
  });
  for (int t = 0; t < 2; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < iterations; ++i) {
        if (auto p = cb.try_acquire()) {
          if ((i + t) % 3 == 0) p.record_failure(); else p.record_success();
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  cb.reset();
  const auto s = cb.stats();
  CHECK(s.state == State::closed);
  CHECK(cb.probes_in_flight() == 0);
  CHECK(s.total_calls == 2u * iterations);
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(events.load() > 0);
}

TEST_CASE("each pair of states has its own transition count and a state to itself has none",
          "[issue12][transitions]") {
  breaker::CircuitBreaker<breaker::testing::ManualClock> cb("pairs");
  cb.force_open();      // closed -> open
  cb.disable();         // open -> disabled
  cb.metrics_only();    // disabled -> metrics_only
  cb.reset();           // metrics_only -> closed
  cb.metrics_only();    // closed -> metrics_only
  cb.disable();         // metrics_only -> disabled
  cb.reset();           // disabled -> closed
  const State all[] = {State::closed, State::open, State::half_open, State::disabled,
                       State::metrics_only};
  std::set<std::pair<State, State>> made = {
      {State::closed, State::open},          {State::open, State::disabled},
      {State::disabled, State::metrics_only}, {State::metrics_only, State::closed},
      {State::closed, State::metrics_only},   {State::metrics_only, State::disabled},
      {State::disabled, State::closed}};
  for (State from : all) {
    for (State to : all) {
      INFO(breaker::to_string(from) << " -> " << breaker::to_string(to));
      CHECK(cb.transitions(from, to) == (made.count({from, to}) ? 1u : 0u));
    }
  }
}

TEST_CASE("listeners added and removed on a breaker that had none work from the first one",
          "[issue12][listeners]") {
  breaker::CircuitBreaker<breaker::testing::ManualClock> cb("lazy");
  CHECK_FALSE(cb.remove_listener(1));  // nothing allocated yet, nothing to remove
  int heard = 0;
  const auto id = cb.on_state_change([&heard](const breaker::StateTransition&) { ++heard; });
  cb.force_open();
  CHECK(heard == 1);
  CHECK(cb.remove_listener(id));
  cb.reset();
  CHECK(heard == 1);
}
