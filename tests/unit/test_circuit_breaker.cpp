// SPDX-License-Identifier: Apache-2.0
// The breaker's rules through its synchronous and permit interfaces, with time
// moved only by ManualClock.
#include "breaker/breaker.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::State;
using breaker::StateTransition;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;

CircuitBreakerConfig small_config() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(3)
      .success_threshold(2)
      .timeout_duration(10s)
      .half_open_max_requests(2)
      .minimum_request_threshold(0)
      .build();
}

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

void fail(Breaker& cb) {
  CHECK_THROWS_AS(cb.execute([]() -> int { throw Boom{}; }), Boom);
}
int succeed(Breaker& cb) { return cb.execute([] { return 1; }); }

void trip(Breaker& cb) {
  for (std::uint32_t i = 0; i < cb.config().failure_threshold; ++i) fail(cb);
  REQUIRE(cb.state() == State::open);
}

}  // namespace

TEST_CASE("a new breaker is closed with zero counts", "[breaker][closed]") {
  Breaker cb("svc", small_config(), ManualClock{});
  CHECK(cb.name() == "svc");
  CHECK(cb.state() == State::closed);
  const auto s = cb.stats();
  CHECK(s.state == State::closed);
  CHECK(s.total_calls == 0);
  CHECK(s.consecutive_failures == 0);
  CHECK(cb.config() == small_config());
}

TEST_CASE("closed: failures count up, a success resets them", "[breaker][closed]") {
  Breaker cb("svc", small_config(), ManualClock{});
  fail(cb);
  fail(cb);
  CHECK(cb.stats().consecutive_failures == 2);
  CHECK(succeed(cb) == 1);
  CHECK(cb.stats().consecutive_failures == 0);
  fail(cb);
  fail(cb);
  CHECK(cb.state() == State::closed);
  fail(cb);
  CHECK(cb.state() == State::open);
  CHECK(cb.stats().consecutive_failures == 3);
}

TEST_CASE("closed: the minimum request threshold gates opening", "[breaker][closed]") {
  auto config = small_config();
  config.minimum_request_threshold = 5;
  Breaker cb("svc", config, ManualClock{});
  succeed(cb);
  fail(cb);
  fail(cb);
  fail(cb);
  CHECK(cb.state() == State::closed);  // 4 outcomes so far
  fail(cb);
  CHECK(cb.state() == State::open);  // 5 outcomes, 4 consecutive failures
}

TEST_CASE("the volume gate counts from the last close", "[breaker][closed]") {
  auto config = small_config();
  config.minimum_request_threshold = 4;
  config.success_threshold = 1;
  ManualClock clock;
  Breaker cb("svc", config, clock);
  for (int i = 0; i < 4; ++i) fail(cb);
  REQUIRE(cb.state() == State::open);
  clock.advance(10s);
  succeed(cb);  // the probe closes it
  REQUIRE(cb.state() == State::closed);
  for (int i = 0; i < 3; ++i) fail(cb);
  CHECK(cb.state() == State::closed);
  fail(cb);
  CHECK(cb.state() == State::open);

  SECTION("reset() also counts as closing") {
    cb.reset();
    for (int i = 0; i < 3; ++i) fail(cb);
    CHECK(cb.state() == State::closed);
  }
}

TEST_CASE("open: calls are rejected with errc::open naming the breaker", "[breaker][open]") {
  Breaker cb("payments", small_config(), ManualClock{});
  trip(cb);
  int ran = 0;
  try {
    cb.execute([&] { return ++ran; });
    FAIL("an open breaker ran the call");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.code() == errc::open);
    CHECK(e.breaker_name() == "payments");
  }
  CHECK(ran == 0);
  CHECK_FALSE(cb.try_acquire());
  CHECK(cb.execute_with_fallback([&] { return ++ran; }, [] { return -1; }) == -1);
  CHECK(ran == 0);
  CHECK(cb.stats().rejected_calls == 3);
}

TEST_CASE("open turns half-open after timeout_duration, visible without a call",
          "[breaker][open][half-open]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  trip(cb);
  clock.advance(9999ms);
  CHECK(cb.state() == State::open);
  clock.advance(1ms);
  CHECK(cb.state() == State::half_open);
  CHECK(cb.stats().state == State::half_open);
  CHECK(cb.stats().consecutive_failures == 0);
}

TEST_CASE("half-open: probes in flight are limited and return their permits",
          "[breaker][half-open]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  trip(cb);
  clock.advance(10s);
  auto p1 = cb.try_acquire();
  auto p2 = cb.try_acquire();
  REQUIRE(p1);
  REQUIRE(p2);
  CHECK(p1.admitted_in() == State::half_open);
  CHECK(cb.probes_in_flight() == 2);
  CHECK_FALSE(cb.try_acquire());
  CHECK_THROWS_AS(cb.execute([] { return 0; }), CircuitBreakerError);
  p1.record_success();
  CHECK(cb.probes_in_flight() == 1);
  CHECK(cb.stats().consecutive_successes == 1);
  auto p3 = cb.try_acquire();
  CHECK(p3);
  p2.record_success();
  CHECK(cb.state() == State::closed);
  p3.record_failure();  // stale: admitted before the close
  CHECK(cb.state() == State::closed);
  CHECK(cb.probes_in_flight() == 0);
}

TEST_CASE("half-open: any failure reopens for a fresh timeout", "[breaker][half-open]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  trip(cb);
  clock.advance(10s);
  succeed(cb);
  fail(cb);
  CHECK(cb.state() == State::open);
  clock.advance(9s);
  CHECK(cb.state() == State::open);
  clock.advance(1s);
  CHECK(cb.state() == State::half_open);
}

TEST_CASE("half-open never gets stuck, even with success_threshold above the probe limit",
          "[breaker][half-open]") {
  auto config = small_config();
  config.success_threshold = 5;
  config.half_open_max_requests = 1;
  ManualClock clock;
  Breaker cb("svc", config, clock);
  trip(cb);
  clock.advance(10s);
  for (int i = 0; i < 5; ++i) {
    CHECK(cb.state() == State::half_open);
    succeed(cb);
  }
  CHECK(cb.state() == State::closed);

  SECTION("abandoned permits are released") {
    trip(cb);
    clock.advance(10s);
    { auto p = cb.try_acquire(); REQUIRE(p); }  // destroyed without a record
    CHECK(cb.probes_in_flight() == 0);
    CHECK(cb.try_acquire());
  }
}

TEST_CASE("stale outcomes count in totals but never drive transitions", "[breaker][stale]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  succeed(cb);  // something for reset() to clear, so it starts a new epoch
  std::vector<Breaker::Permit> old;
  for (int i = 0; i < 3; ++i) old.push_back(cb.try_acquire());
  cb.reset();  // the three calls are now stale
  for (auto& p : old) p.record_failure();
  CHECK(cb.state() == State::closed);
  CHECK(cb.stats().consecutive_failures == 0);
  CHECK(cb.stats().failed_calls == 3);

  SECTION("a success admitted before opening does not count as a probe") {
    auto before = cb.try_acquire();
    trip(cb);
    clock.advance(10s);
    before.record_success();
    CHECK(cb.state() == State::half_open);
    CHECK(cb.stats().consecutive_successes == 0);
  }
}

TEST_CASE("force_open stays open until reset", "[breaker][manual]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  std::vector<StateTransition> seen;
  cb.on_state_change([&](const StateTransition& t) { seen.push_back(t); });
  cb.force_open();
  CHECK(cb.state() == State::open);
  clock.advance(24h);
  CHECK(cb.state() == State::open);
  CHECK_FALSE(cb.try_acquire());
  cb.force_open();  // no second transition
  cb.reset();
  CHECK(cb.state() == State::closed);
  CHECK(succeed(cb) == 1);
  cb.reset();  // already closed: no transition
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].from == State::closed);
  CHECK(seen[0].to == State::open);
  CHECK(seen[0].breaker_name == "svc");
  CHECK(seen[1].from == State::open);
  CHECK(seen[1].to == State::closed);
}

TEST_CASE("reset clears consecutive counts", "[breaker][manual]") {
  Breaker cb("svc", small_config(), ManualClock{});
  fail(cb);
  fail(cb);
  cb.reset();
  CHECK(cb.stats().consecutive_failures == 0);
  fail(cb);
  fail(cb);
  CHECK(cb.state() == State::closed);
}

TEST_CASE("listeners hear each transition once, and a throwing listener is harmless",
          "[breaker][listeners]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  std::vector<std::pair<State, State>> seen;
  cb.on_state_change([](const StateTransition&) { throw std::runtime_error("listener"); });
  const auto id = cb.on_state_change(
      [&](const StateTransition& t) { seen.emplace_back(t.from, t.to); });
  trip(cb);
  clock.advance(10s);
  succeed(cb);
  succeed(cb);
  const std::vector<std::pair<State, State>> expected{{State::closed, State::open},
                                                      {State::open, State::half_open},
                                                      {State::half_open, State::closed}};
  CHECK(seen == expected);
  CHECK(cb.transitions(State::closed, State::open) == 1);
  CHECK(cb.transitions(State::open, State::half_open) == 1);
  CHECK(cb.transitions(State::half_open, State::closed) == 1);
  CHECK(cb.remove_listener(id));
  CHECK_FALSE(cb.remove_listener(id));
  trip(cb);
  CHECK(seen.size() == 3);
}

TEST_CASE("user exceptions pass through unchanged and count as failures", "[breaker][outcomes]") {
  Breaker cb("svc", small_config(), ManualClock{});
  struct Custom {
    int code;
  };
  try {
    cb.execute([]() -> int { throw Custom{42}; });
    FAIL("no exception");
  } catch (const Custom& c) {
    CHECK(c.code == 42);
  }
  CHECK(cb.stats().failed_calls == 1);
  CHECK(cb.execute_with_fallback([]() -> std::string { throw Custom{1}; },
                                 [] { return std::string("fallback"); }) == "fallback");
  CHECK(cb.stats().failed_calls == 2);
  cb.execute([] {});  // void operations work too
  CHECK(cb.stats().successful_calls == 1);
}

TEST_CASE("a permit records exactly once, on every path", "[breaker][permit]") {
  Breaker cb("svc", small_config(), ManualClock{});
  SECTION("success") {
    auto p = cb.try_acquire();
    p.record_success();
    p.record_failure();  // ignored: already recorded
    CHECK(cb.stats().successful_calls == 1);
    CHECK(cb.stats().failed_calls == 0);
  }
  SECTION("failure") {
    auto p = cb.try_acquire();
    p.record_failure();
    CHECK(cb.stats().failed_calls == 1);
  }
  SECTION("explicitly ignored") {
    auto p = cb.try_acquire();
    p.record_ignored();
    CHECK(cb.stats().ignored_calls == 1);
  }
  SECTION("destroyed without a record") {
    { auto p = cb.try_acquire(); }
    CHECK(cb.stats().ignored_calls == 1);
  }
  SECTION("moved, then destroyed") {
    auto p = cb.try_acquire();
    auto q = std::move(p);
    CHECK_FALSE(p);  // NOLINT(bugprone-use-after-move): checking the moved-from state
    CHECK(q);
    q = cb.try_acquire();  // the first permit is released as ignored
    CHECK(cb.stats().ignored_calls == 1);
  }
  SECTION("exception through execute") {
    CHECK_THROWS(cb.execute([]() -> int { throw 1; }));
    CHECK(cb.stats().failed_calls == 1);
  }
  const auto s = cb.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
}

TEST_CASE("totals add up", "[breaker][stats]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  succeed(cb);
  trip(cb);
  CHECK_FALSE(cb.try_acquire());
  clock.advance(10s);
  { auto p = cb.try_acquire(); }
  const auto s = cb.stats();
  CHECK(s.successful_calls == 1);
  CHECK(s.failed_calls == 3);
  CHECK(s.rejected_calls == 1);
  CHECK(s.ignored_calls == 1);
  CHECK(s.total_calls == 6);
}

TEST_CASE("call durations are recorded from the breaker's clock", "[breaker][durations]") {
  ManualClock clock;
  auto every_call = small_config();
  every_call.duration_sample_every = 1;  // time every call (the default samples)
  Breaker cb("svc", every_call, clock);
  cb.execute([&] { clock.advance(7ms); });
  cb.execute([&] { clock.advance(2s); });
  const auto d = cb.call_durations();
  CHECK(d.count == 2);
  CHECK(d.bucket_counts[2] == 1);  // 0.005 < 0.007 <= 0.01
  CHECK(d.bucket_counts[9] == 1);  // 1 < 2 <= 2.5
  CHECK(d.sum_seconds == Approx(2.007));

  auto off = small_config();
  off.record_call_durations = false;
  Breaker quiet("quiet", off, clock);
  quiet.execute([&] { clock.advance(1s); });
  CHECK(quiet.call_durations().count == 0);
}

TEST_CASE("update_config keeps state and applies the new thresholds", "[breaker][config]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  fail(cb);
  fail(cb);
  auto looser = small_config();
  looser.failure_threshold = 5;
  cb.update_config(looser);
  CHECK(cb.config().failure_threshold == 5);
  CHECK(cb.stats().consecutive_failures == 2);
  fail(cb);
  CHECK(cb.state() == State::closed);
  auto bad = looser;
  bad.failure_threshold = 0;
  CHECK_THROWS_AS(cb.update_config(bad), CircuitBreakerError);
  CHECK(cb.config() == looser);
}

namespace {
// A clock that counts how often it is read; time moves only when told.
struct CountingClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<CountingClock, duration>;
  static constexpr bool is_steady = true;
  static inline std::atomic<int> reads{0};
  static inline std::atomic<rep> ticks{0};
  static time_point now() noexcept {
    reads.fetch_add(1);
    return time_point{duration{ticks.load()}};
  }
};
}  // namespace

TEST_CASE("clock reads: none on the closed success path, at most one per rejection",
          "[breaker][clock]") {
  auto config = small_config();
  config.record_call_durations = false;
  breaker::CircuitBreaker<CountingClock> cb("svc", config);
  CountingClock::reads = 0;
  for (int i = 0; i < 10; ++i) CHECK(cb.execute([] { return 1; }) == 1);
  if (auto p = cb.try_acquire()) p.record_success();
  CHECK(CountingClock::reads == 0);

  for (int i = 0; i < 3; ++i) CHECK_THROWS(cb.execute([]() -> int { throw 1; }));
  REQUIRE(cb.state() == State::open);
  CountingClock::reads = 0;
  CHECK_FALSE(cb.try_acquire());
  CHECK(CountingClock::reads <= 1);
  CountingClock::reads = 0;
  CHECK(cb.execute_with_fallback([] { return 1; }, [] { return 2; }) == 2);
  CHECK(CountingClock::reads <= 1);

  cb.force_open();
  CountingClock::reads = 0;
  CHECK_FALSE(cb.try_acquire());
  CHECK(cb.state() == State::open);
  CHECK(CountingClock::reads == 0);  // forced open: no deadline to check
}

TEST_CASE("the closed fast path of execute (durations off) keeps every rule",
          "[breaker][closed][fast-path]") {
  auto config = small_config();
  config.record_call_durations = false;
  ManualClock clock;
  Breaker cb("fast", config, clock);

  fail(cb);
  fail(cb);
  CHECK(cb.stats().consecutive_failures == 2);
  CHECK(succeed(cb) == 1);  // a success after failures is not "steady": it must reset
  CHECK(cb.stats().consecutive_failures == 0);

  SECTION("a failure that arrives after reset() is stale") {
    CHECK_THROWS_AS(cb.execute([&]() -> int {
      cb.reset();
      throw Boom{};
    }),
                    Boom);
    CHECK(cb.stats().consecutive_failures == 0);
    CHECK(cb.stats().failed_calls == 3);
  }
  SECTION("a success that arrives after the breaker opened does not close it") {
    CHECK(cb.execute([&] {
      for (int i = 0; i < 3; ++i) cb.try_acquire().record_failure();
      return 7;
    }) == 7);
    CHECK(cb.state() == State::open);
    CHECK(cb.stats().successful_calls == 2);
  }
  SECTION("it opens at the threshold and then rejects") {
    trip(cb);
    CHECK_THROWS_AS(cb.execute([] { return 0; }), CircuitBreakerError);
  }
  const auto s = cb.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
}

TEST_CASE("time_until_half_open counts down the open period, empty when closed, half-open or forced",
          "[breaker][open][time-until-half-open]") {
  ManualClock clock;
  Breaker cb("svc", small_config(), clock);
  CHECK_FALSE(cb.time_until_half_open().has_value());  // closed

  trip(cb);
  REQUIRE(cb.time_until_half_open().has_value());
  CHECK(*cb.time_until_half_open() == 10s);
  clock.advance(3s);
  CHECK(*cb.time_until_half_open() == 7s);
  clock.advance(6999ms);
  CHECK(*cb.time_until_half_open() == 1ms);
  clock.advance(1ms);
  REQUIRE(cb.time_until_half_open().has_value());  // over, no call has moved it on yet
  CHECK(*cb.time_until_half_open() == ManualClock::duration::zero());
  clock.advance(5s);
  CHECK(*cb.time_until_half_open() == ManualClock::duration::zero());  // never negative

  // The first call after the period makes it half-open (a probe): no open period any more.
  auto probe = cb.try_acquire();
  REQUIRE(probe);
  REQUIRE(cb.state() == State::half_open);
  CHECK_FALSE(cb.time_until_half_open().has_value());

  // A failed probe opens it again for a fresh period.
  probe.record_failure();
  REQUIRE(cb.state() == State::open);
  REQUIRE(cb.time_until_half_open().has_value());
  CHECK(*cb.time_until_half_open() == 10s);

  SECTION("forced open: no period ends by itself") {
    cb.force_open();
    REQUIRE(cb.state() == State::open);
    CHECK_FALSE(cb.time_until_half_open().has_value());
    clock.advance(1h);
    CHECK_FALSE(cb.time_until_half_open().has_value());
    CHECK(cb.state() == State::open);
  }
  SECTION("reset closes it: empty") {
    cb.reset();
    CHECK_FALSE(cb.time_until_half_open().has_value());
  }
}
