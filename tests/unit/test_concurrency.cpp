// SPDX-License-Identifier: Apache-2.0
// Threads racing on one breaker. Bounded by iteration counts, never by time.
#include "breaker/breaker.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::StateTransition;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {
using Breaker = breaker::CircuitBreaker<ManualClock>;
constexpr int thread_count = 4;
}  // namespace

TEST_CASE("concurrent closed successes are all counted", "[concurrency][closed]") {
  Breaker cb("svc", CircuitBreakerConfig::builder().record_call_durations(false).build(),
             ManualClock{});
  constexpr int per_thread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {  // more threads than exclusive counter slots
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) (void)cb.execute([] { return 1; });
    });
  }
  for (auto& t : threads) t.join();
  const auto s = cb.stats();
  CHECK(s.successful_calls == 8u * per_thread);
  CHECK(s.total_calls == s.successful_calls);
  CHECK(cb.state() == State::closed);
}

TEST_CASE("half-open never has more probes in flight than allowed, under threads",
          "[concurrency][half-open]") {
  const auto config = CircuitBreakerConfig::builder()
                          .failure_threshold(2)
                          .success_threshold(3)
                          .half_open_max_requests(3)
                          .minimum_request_threshold(0)
                          .timeout_duration(1s)
                          .build();
  ManualClock clock;
  Breaker cb("svc", config, clock);
  std::atomic<int> in_flight{0};
  std::atomic<int> max_seen{0};
  std::atomic<int> listener_calls{0};
  cb.on_state_change([&](const StateTransition&) { listener_calls.fetch_add(1); });

  constexpr int iterations = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) + 1);
      for (int i = 0; i < iterations; ++i) {
        if (t == 0 && i % 50 == 0) clock.advance(1s);  // let open periods end
        auto permit = cb.try_acquire();
        if (!permit) continue;
        if (permit.admitted_in() == State::half_open) {
          const int now = in_flight.fetch_add(1) + 1;
          int seen = max_seen.load();
          while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
          }
          in_flight.fetch_sub(1);
        }
        switch (rng() % 4) {
          case 0:
            permit.record_failure();
            break;
          case 1:
            break;  // destroyed: ignored
          default:
            permit.record_success();
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  CHECK(max_seen.load() <= 3);
  CHECK(max_seen.load() >= 1);  // the test did exercise half-open
  CHECK(cb.probes_in_flight() == 0);
  const auto s = cb.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(s.total_calls == static_cast<std::uint64_t>(thread_count) * iterations);
  std::uint64_t transitions = 0;
  for (auto from : {State::closed, State::open, State::half_open})
    for (auto to : {State::closed, State::open, State::half_open}) transitions += cb.transitions(from, to);
  CHECK(transitions > 0);
  CHECK(static_cast<std::uint64_t>(listener_calls.load()) == transitions);
}
