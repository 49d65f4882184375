// SPDX-License-Identifier: Apache-2.0
// The floor, the mutex reference design and the synchronous cases. Every sync
// case runs at 1 and 2 threads on one shared breaker (the statics below).

#include "common.hpp"
#include "reference_breaker.hpp"

#include <breaker/error.hpp>
#include <breaker/testing/manual_clock.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace breaker::bench {
namespace {

using Breaker = CircuitBreaker<>;
using ManualBreaker = CircuitBreaker<testing::ManualClock>;

// --- Floor ------------------------------------------------------------------

void floor_steady_clock_now(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}

// The timestamp the duration histogram uses (the TSC where it is invariant).
void floor_timestamp(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(detail::fast_timestamp());
}

void floor_bare_call(benchmark::State& state) {
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(bare_operation());
  meter.finish();
}

// --- Reference design ---------------------------------------------------------

MutexBreaker& shared_mutex_breaker() {
  static MutexBreaker b(5, std::chrono::milliseconds(60'000));
  return b;
}

void reference_execute_closed(benchmark::State& state) {
  MutexBreaker& b = shared_mutex_breaker();
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(b.execute(bare_operation));
  meter.finish();
}

void reference_try_acquire_open(benchmark::State& state) {
  static MutexBreaker b(1, std::chrono::milliseconds(3'600'000));
  if (state.thread_index() == 0) {
    b.reset();
    if (b.try_acquire()) b.record_failure();
  }
  for (auto _ : state) benchmark::DoNotOptimize(b.try_acquire());
}

// --- breaker: closed-state success -----------------------------------------------

Breaker& closed_breaker() {
  static Breaker b("bench-closed", closed_config(false));
  return b;
}

Breaker& default_breaker() {
  static Breaker b("bench-default", default_config());
  return b;
}

Breaker& every_call_breaker() {
  static Breaker b("bench-every-call", every_call_config());
  return b;
}

// The default config with every 16th call timed instead of every 64th.
Breaker& sample_16_breaker() {
  static Breaker b("bench-sample-16", [] {
    CircuitBreakerConfig c = default_config();
    c.duration_sample_every = 16;
    return c;
  }());
  return b;
}

void execute_closed(benchmark::State& state, Breaker& b) {
  const std::uint64_t recorded_before = b.call_durations().count;
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(b.execute(bare_operation));
  meter.finish();
  if (state.threads() == 1) {
    // 1 when the histogram records every call (the default), 0 when off.
    state.counters["recorded_per_call"] = benchmark::Counter(
        static_cast<double>(b.call_durations().count - recorded_before),
        benchmark::Counter::kAvgIterations);
  }
}

void try_acquire_record_closed(benchmark::State& state, Breaker& b) {
  AllocationMeter meter(state);
  for (auto _ : state) {
    auto permit = b.try_acquire();
    if (permit) {
      benchmark::DoNotOptimize(bare_operation());
      permit.record_success();
    }
  }
  meter.finish();
}

void execute_with_fallback_closed(benchmark::State& state, Breaker& b) {
  AllocationMeter meter(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.execute_with_fallback(bare_operation, fallback_operation));
  }
  meter.finish();
}

// --- breaker: rejection while open -------------------------------------------------

Breaker& open_breaker() {
  static Breaker b("bench-open", open_config());
  return b;
}

// Thread 0 trips the breaker before the timing starts (the loop's start is a
// barrier for all threads).
void ensure_open(benchmark::State& state, Breaker& b) {
  if (state.thread_index() == 0) trip_open(b);
}

void try_acquire_open(benchmark::State& state) {
  Breaker& b = open_breaker();
  ensure_open(state, b);
  AllocationMeter meter(state);
  for (auto _ : state) {
    auto permit = b.try_acquire();
    benchmark::DoNotOptimize(static_cast<bool>(permit));
  }
  meter.finish();
  if (b.state() != State::open) state.SkipWithError("breaker was not open");
}

void execute_with_fallback_open(benchmark::State& state) {
  Breaker& b = open_breaker();
  ensure_open(state, b);
  AllocationMeter meter(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.execute_with_fallback(bare_operation, fallback_operation));
  }
  meter.finish();
}

void execute_open_throwing(benchmark::State& state) {
  Breaker& b = open_breaker();
  ensure_open(state, b);
  AllocationMeter meter(state);
  for (auto _ : state) {
    try {
      benchmark::DoNotOptimize(b.execute(bare_operation));
    } catch (const CircuitBreakerError& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
  meter.finish();
}

void state_read(benchmark::State& state, bool open) {
  Breaker& b = open ? open_breaker() : closed_breaker();
  if (open) ensure_open(state, b);
  for (auto _ : state) benchmark::DoNotOptimize(b.state());
}

// --- breaker: failures, fallback, transitions ----------------------------------------

Breaker& tolerant_breaker() {
  static Breaker b("bench-tolerant", tolerant_config());
  return b;
}

// The op throws, the failure is recorded, the fallback's value is returned.
// Every 4096 iterations the breaker is reset so that the consecutive-failure
// count (saturating at max_count) never opens it.
void execute_with_fallback_failure(benchmark::State& state) {
  Breaker& b = tolerant_breaker();
  AllocationMeter meter(state);
  std::uint32_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.execute_with_fallback(failing_operation, fallback_operation));
    if ((++i & 4095) == 0) b.reset();
  }
  meter.finish();
}

// One call in ten fails (recorded through the permit, no exception).
void mixed_try_acquire(benchmark::State& state) {
  static Breaker b("bench-mixed", CircuitBreakerConfig::builder()
                                      .failure_threshold(1000)
                                      .minimum_request_threshold(0)
                                      .record_call_durations(false)
                                      .build());
  AllocationMeter meter(state);
  std::uint32_t i = 0;
  for (auto _ : state) {
    auto permit = b.try_acquire();
    benchmark::DoNotOptimize(bare_operation());
    if (++i == 10) {
      i = 0;
      permit.record_failure();
    } else {
      permit.record_success();
    }
  }
  meter.finish();
}

// One call in ten throws through execute (the original's mixed benchmark).
void mixed_execute(benchmark::State& state) {
  static Breaker b("bench-mixed-execute", CircuitBreakerConfig::builder()
                                              .failure_threshold(1000)
                                              .minimum_request_threshold(0)
                                              .record_call_durations(false)
                                              .build());
  AllocationMeter meter(state);
  std::uint32_t i = 0;
  for (auto _ : state) {
    try {
      if (++i == 10) {
        i = 0;
        benchmark::DoNotOptimize(b.execute(failing_operation));
      } else {
        benchmark::DoNotOptimize(b.execute(bare_operation));
      }
    } catch (const std::runtime_error& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
  meter.finish();
}

// Closed -> open: reset, then failure_threshold (5) recorded failures.
void closed_to_open(benchmark::State& state) {
  static Breaker b("bench-transition", CircuitBreakerConfig::builder()
                                           .failure_threshold(5)
                                           .minimum_request_threshold(0)
                                           .record_call_durations(false)
                                           .build());
  const std::uint64_t opens_before = b.transitions(State::closed, State::open);
  AllocationMeter meter(state);
  for (auto _ : state) {
    b.reset();
    for (int i = 0; i < 5; ++i) b.try_acquire().record_failure();
  }
  meter.finish();
  if (state.thread_index() == 0) {
    state.counters["opens_per_iter"] = benchmark::Counter(
        static_cast<double>(b.transitions(State::closed, State::open) - opens_before),
        benchmark::Counter::kAvgIterations);
  }
}

// Half-open probing on a ManualClock (never sleeps): one failure opens the
// breaker, the clock moves past the open period, the next call is admitted as
// the probe and its success closes the breaker again.
void half_open_probe_cycle(benchmark::State& state) {
  static testing::ManualClock clock;
  static ManualBreaker b("bench-half-open",
                         CircuitBreakerConfig::builder()
                             .failure_threshold(1)
                             .success_threshold(1)
                             .half_open_max_requests(1)
                             .minimum_request_threshold(0)
                             .timeout_duration(std::chrono::milliseconds(1))
                             .record_call_durations(false)
                             .build(),
                         clock);
  const std::uint64_t closes_before = b.transitions(State::half_open, State::closed);
  AllocationMeter meter(state);
  for (auto _ : state) {
    b.try_acquire().record_failure();  // closed -> open
    clock.advance(std::chrono::milliseconds(1));
    b.try_acquire().record_success();  // open -> half-open (probe) -> closed
  }
  meter.finish();
  if (state.thread_index() == 0) {
    state.counters["closes_per_iter"] = benchmark::Counter(
        static_cast<double>(b.transitions(State::half_open, State::closed) - closes_before),
        benchmark::Counter::kAvgIterations);
  }
}

}  // namespace

void register_floor_benchmarks() {
  with_threads(benchmark::RegisterBenchmark("floor/steady_clock_now", floor_steady_clock_now));
  with_threads(benchmark::RegisterBenchmark("floor/timestamp", floor_timestamp));
  with_threads(benchmark::RegisterBenchmark("floor/bare_call", floor_bare_call));
}

void register_reference_benchmarks() {
  with_threads(
      benchmark::RegisterBenchmark("reference/mutex/execute_closed", reference_execute_closed));
  with_threads(
      benchmark::RegisterBenchmark("reference/mutex/try_acquire_open", reference_try_acquire_open));
}

void register_sync_benchmarks() {
  // Headline: the default config (durations recorded, sampled).
  with_threads(benchmark::RegisterBenchmark(
      "sync/execute_closed/default", [](benchmark::State& s) { execute_closed(s, default_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "sync/execute_closed", [](benchmark::State& s) { execute_closed(s, closed_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "sync/execute_closed/sample_every_16",
      [](benchmark::State& s) { execute_closed(s, sample_16_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "sync/execute_closed/every_call",
      [](benchmark::State& s) { execute_closed(s, every_call_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "sync/try_acquire_record_closed/default",
      [](benchmark::State& s) { try_acquire_record_closed(s, default_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "sync/try_acquire_record_closed",
      [](benchmark::State& s) { try_acquire_record_closed(s, closed_breaker()); }));
  with_threads(benchmark::RegisterBenchmark(
      "sync/execute_with_fallback_closed",
      [](benchmark::State& s) { execute_with_fallback_closed(s, closed_breaker()); }));
  with_threads(benchmark::RegisterBenchmark("sync/try_acquire_open", try_acquire_open));
  with_threads(
      benchmark::RegisterBenchmark("sync/execute_with_fallback_open", execute_with_fallback_open));
  with_threads(benchmark::RegisterBenchmark("sync/execute_open_throwing", execute_open_throwing));
  with_threads(benchmark::RegisterBenchmark("sync/execute_with_fallback_failure",
                                            execute_with_fallback_failure));
  with_threads(benchmark::RegisterBenchmark("sync/closed_to_open", closed_to_open));
  with_threads(benchmark::RegisterBenchmark("sync/half_open_probe_cycle", half_open_probe_cycle));
  with_threads(benchmark::RegisterBenchmark("sync/state_closed",
                                            [](benchmark::State& s) { state_read(s, false); }));
  with_threads(benchmark::RegisterBenchmark("sync/state_open",
                                            [](benchmark::State& s) { state_read(s, true); }));
  with_threads(
      benchmark::RegisterBenchmark("sync/mixed_10pct_failures/try_acquire", mixed_try_acquire));
  with_threads(benchmark::RegisterBenchmark("sync/mixed_10pct_failures/execute", mixed_execute));
}

}  // namespace breaker::bench
