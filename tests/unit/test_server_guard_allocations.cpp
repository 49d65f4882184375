// SPDX-License-Identifier: Apache-2.0
// The server guard's admission path allocates nothing while the breaker is closed: admit(), the
// decision, the admission and record_status() add no allocation to try_acquire(). (Linked into
// breaker_alloc_tests, whose operator new counts per thread.) Not timing-based.

#include "breaker/server_guard.hpp"

#include "breaker/circuit_breaker.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>

TEST_CASE("admitting and settling through a closed server guard allocates nothing",
          "[allocations][server-guard]") {
  using breaker::testing::ManualClock;
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  auto b = std::make_shared<breaker::CircuitBreaker<ManualClock>>(
      "guarded",
      breaker::CircuitBreakerConfig::builder()
          .minimum_request_threshold(0)
          .record_call_durations(durations)
          .build(),
      clock);
  breaker::BasicServerGuard<ManualClock> guard(b, clock);

  const std::uint64_t before = breaker::test::thread_allocations();
  for (int i = 0; i < 1000; ++i) {
    auto decision = guard.admit();
    decision.admission().record_status(i % 2 == 0 ? 200 : 404);
  }
  CHECK(breaker::test::thread_allocations() - before == 0);
  CHECK(b->stats().successful_calls == 1000);
}
