// SPDX-License-Identifier: Apache-2.0
//
// Directed regression tests for core bugs found by the reliability suite
// (see docs/reliability.md, "Bugs found"). Each one is the shortest
// reproduction of a bug first reported by the differential test or by a
// directed probe of the documented limits.

#include "support.hpp"

#include <breaker/breaker.hpp>
#include <breaker/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::testing::ManualClock;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;

CircuitBreakerConfig opens_on_first_failure(std::chrono::milliseconds timeout = 100ms) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(1)
      .success_threshold(1)
      .minimum_request_threshold(0)
      .timeout_duration(timeout)
      .build();
}

}  // namespace

// Found by the differential test (sequence seed 9922871935383222588, shrunk to
// two reset() bursts, nine outcomes and an advance past the deadline); fixed in
// 424873a. Every reset() starts an epoch; the open deadline used to be
// published only when its epoch tag was "newer" than the stored one by less
// than 2^15, so once 32,767 epochs had passed since the last (unforced)
// opening, the next opening never published its deadline and the breaker
// stayed open for good.
TEST_CASE("an open breaker turns half-open after timeout_duration however many epochs came before",
          "[reliability][regression][deadline]") {
  // Epochs passed before the opening (issue 8: a reset() of a clean closed breaker starts no
  // epoch, so each force_open(); reset() pair passes two).
  const std::uint32_t epochs = GENERATE(0u, 1'000u, 32'766u, 32'768u, 40'000u, 65'534u, 70'000u);
  INFO(epochs << " epochs before the breaker opens");
  ManualClock clock;
  Breaker b("epochs", opens_on_first_failure(), clock);
  for (std::uint32_t i = 0; i < epochs / 2; ++i) {
    b.force_open();
    b.reset();
  }
  b.try_acquire().record_failure();
  REQUIRE(b.state() == State::open);
  clock.advance(100ms);
  CHECK(b.state() == State::half_open);
  CHECK(b.try_acquire());
}

// Same root cause, other direction: when the breaker reopened at an epoch equal
// (mod 2^16) to that of an old, long-expired deadline, the new deadline was not
// published and the old one was trusted: the breaker was half-open at once.
TEST_CASE(
    "a breaker reopening at an epoch it used 65,536 epochs earlier waits out the new open period",
    "[reliability][regression][deadline]") {
  ManualClock clock;
  Breaker b("alias", opens_on_first_failure(), clock);
  b.try_acquire().record_failure();  // opens at epoch 1; deadline tagged 1
  clock.advance(100ms);
  b.reset();  // epoch 2
  // Up to epoch 65,536 (0 mod 2^16), so the next opening is at epoch 1 again (mod 2^16: the
  // epoch is 27 bits wide since issue 12 (28 since issue 8), the deadline's tag still 16).
  for (std::uint32_t i = 0; i < 32'767; ++i) {
    b.force_open();
    b.reset();
  }
  clock.advance(1h);
  b.try_acquire().record_failure();
  REQUIRE(b.stats().consecutive_failures == 1);
  CHECK(b.state() == State::open);
  CHECK_FALSE(b.try_acquire());
  clock.advance(100ms);
  CHECK(b.state() == State::half_open);
}

// Found by a directed probe of the deadline's microsecond resolution; fixed in
// 424873a. The opening time was rounded down to a whole microsecond and the
// current time too, so an open breaker could read half-open (and admit a
// probe) up to 1 us before timeout_duration had elapsed. Issue 2: "after
// timeout_duration the breaker is half-open".
TEST_CASE("an open breaker never turns half-open before timeout_duration has elapsed",
          "[reliability][regression][deadline]") {
  const std::int64_t offset_ns = GENERATE(0, 1, 500, 999, 1'000, 1'500, 123'456'789);
  INFO("opened " << offset_ns << " ns after the breaker was created");
  ManualClock clock;
  Breaker b("early", opens_on_first_failure(1ms), clock);
  clock.advance(std::chrono::nanoseconds(offset_ns));
  b.try_acquire().record_failure();
  REQUIRE(b.state() == State::open);
  clock.advance(1ms - 1ns);
  CHECK(b.state() == State::open);
  CHECK_FALSE(b.try_acquire());
  // Late by less than the deadline's resolution is fine.
  clock.advance(1us + 1ns);
  CHECK(b.state() == State::half_open);
}

// Found by the differential test extended for issue 12 (a random sequence of
// the default base seeds, shrunk to 11 steps: a half-open episode
// begun without a maximum wait, update_config adding one, a probe dropped and
// another admitted); fixed in 0862714. acquire_slow runs the post-change
// bookkeeping after every CAS, also after taking a probe slot in the same
// epoch, and that bookkeeping published a half-open wait: the breaker went
// back to open 14 ms later although the episode had begun with no wait.
TEST_CASE("taking a probe slot never starts a half-open maximum wait",
          "[reliability][regression][issue12]") {
  ManualClock clock;
  auto config = opens_on_first_failure();
  config.half_open_max_requests = 1;
  config.success_threshold = 2;
  Breaker b("probe-slot", config, clock);
  b.try_acquire().record_failure();
  clock.advance(100ms);
  auto first = b.try_acquire();  // half-open, no wait configured
  REQUIRE(first.admitted_in() == State::half_open);
  config.max_wait_in_half_open = 14ms;
  b.update_config(config);
  first.record_ignored();        // gives the slot back
  auto second = b.try_acquire();  // same episode, same epoch
  REQUIRE(second.admitted_in() == State::half_open);
  clock.advance(1h);
  CHECK(b.state() == State::half_open);
  second.record_success();
  CHECK(b.stats().consecutive_successes == 1);
}
