// SPDX-License-Identifier: Apache-2.0
// The sliding-window policies (issue 12): the closed-state success path with a
// count-based and a time-based failure-rate window, and with the slow-call
// rule, at 1 and 2 threads on one shared breaker, beside the consecutive
// policy with the same settings (durations off in all of them, so the
// difference is the window alone; the slow-call case times every call by
// definition). docs/performance.md, "Sliding windows", reads these.

#include "common.hpp"

#include <breaker/circuit_breaker.hpp>
#include <breaker/config.hpp>

#include <benchmark/benchmark.h>

#include <chrono>

namespace breaker::bench {
namespace {

using Breaker = CircuitBreaker<>;

CircuitBreakerConfig window_config(WindowType type) {
  return CircuitBreakerConfig::builder()
      .trip_policy(TripPolicy::failure_rate)
      .window_type(type)
      .window_size(100)
      .window_duration(std::chrono::seconds(60))
      .window_buckets(60)
      .failure_rate_threshold(50.0)
      .minimum_request_threshold(10)
      .record_call_durations(false)
      .build();
}

Breaker& consecutive_breaker() {
  static Breaker b("bench-window-consecutive", closed_config(false));
  return b;
}
Breaker& count_breaker() {
  static Breaker b("bench-window-count", window_config(WindowType::count_based));
  return b;
}
Breaker& time_breaker() {
  static Breaker b("bench-window-time", window_config(WindowType::time_based));
  return b;
}
Breaker& slow_breaker() {
  static Breaker b("bench-window-slow", [] {
    CircuitBreakerConfig c = window_config(WindowType::count_based);
    c.trip_policy = TripPolicy::consecutive_failures;
    c.slow_call_duration_threshold = std::chrono::seconds(1);
    c.slow_call_rate_threshold = 100.0;
    return c;
  }());
  return b;
}

void execute_closed(benchmark::State& state, Breaker& b) {
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(b.execute(bare_operation));
  meter.finish();
  if (state.thread_index() == 0 && b.state() != State::closed) state.SkipWithError("breaker opened");
}

}  // namespace

void register_window_benchmarks() {
  with_threads(benchmark::RegisterBenchmark(
      "windows/execute_closed/consecutive", [](benchmark::State& s) { execute_closed(s, consecutive_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "windows/execute_closed/count_based", [](benchmark::State& s) { execute_closed(s, count_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "windows/execute_closed/time_based", [](benchmark::State& s) { execute_closed(s, time_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "windows/execute_closed/slow_calls", [](benchmark::State& s) { execute_closed(s, slow_breaker()); }));
}

}  // namespace breaker::bench
