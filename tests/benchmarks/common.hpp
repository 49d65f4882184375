// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// What the benchmark files share: the protected operations (the floor), the
/// configs each case needs, the allocation meter, and the registration hooks
/// that main.cpp calls in the order the report lists the cases.

#include "alloc_counter.hpp"

#include <breaker/circuit_breaker.hpp>
#include <breaker/config.hpp>
#include <breaker/detail/timestamp.hpp>

#include <benchmark/benchmark.h>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>

namespace breaker::bench {

// --- The protected operations ------------------------------------------------
// Defined in ops.cpp, a separate translation unit, and marked noinline: the
// bare case and every breaker case call the very same out-of-line function.

/// The bare operation: returns 42 through benchmark::DoNotOptimize.
__attribute__((noinline)) int bare_operation();
/// Throws std::runtime_error (a failing call; the int is never returned).
[[noreturn]] __attribute__((noinline)) int failing_operation();
/// Returns -1 (the fallback's value).
__attribute__((noinline)) int fallback_operation();
/// The bare coroutine operation: completes without suspending, returns 42.
asio::awaitable<int> coro_operation();
/// A coroutine operation that yields to the io_context once (so N of them
/// interleave), then returns 42.
asio::awaitable<int> yielding_coro_operation();

// --- Configs -------------------------------------------------------------------
/// Closed-state cases: no volume gate, durations as asked.
inline CircuitBreakerConfig closed_config(bool record_durations) {
  return CircuitBreakerConfig::builder()
      .minimum_request_threshold(0)
      .record_call_durations(record_durations)
      .build();
}

/// The library's defaults, untouched: durations recorded, every 64th call of
/// each thread timed (the headline configuration).
inline CircuitBreakerConfig default_config() { return CircuitBreakerConfig{}; }

/// Durations recorded with every call timed (duration_sample_every = 1).
inline CircuitBreakerConfig every_call_config() {
  CircuitBreakerConfig c = closed_config(true);
  c.duration_sample_every = 1;
  return c;
}

/// Opens on the first failure and stays open for an hour.
inline CircuitBreakerConfig open_config() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(1)
      .minimum_request_threshold(0)
      .timeout_duration(std::chrono::hours(1))
      .record_call_durations(false)
      .build();
}

/// Never opens in practice: for cases that record many failures.
inline CircuitBreakerConfig tolerant_config() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(CircuitBreakerConfig::max_count)
      .minimum_request_threshold(0)
      .record_call_durations(false)
      .build();
}

/// Trips `b` open with one recorded failure (needs `open_config()`).
template <class Clock>
void trip_open(CircuitBreaker<Clock>& b) {
  b.reset();
  b.try_acquire().record_failure();
}

// --- Allocation meter -------------------------------------------------------
/// Reports the operator new calls made by the calling thread between its
/// construction and `finish()` as the counter `allocs_per_iter` (summed over
/// threads, divided by the iterations of all threads).
class AllocationMeter {
 public:
  explicit AllocationMeter(benchmark::State& state) noexcept
      : state_(state), start_(test::thread_allocations()) {}
  void finish() {
    state_.counters["allocs_per_iter"] = benchmark::Counter(
        static_cast<double>(test::thread_allocations() - start_), benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& state_;
  std::uint64_t start_;
};

// --- Registration, in report order (main.cpp) ----------------------------------
void register_floor_benchmarks();
void register_reference_benchmarks();
void register_sync_benchmarks();
/// The sliding-window policies (bench_windows.cpp).
void register_window_benchmarks();
void register_coroutine_benchmarks();
void register_memory_benchmarks();
/// Cases that need breaker::prometheus / breaker::Registry; registers nothing
/// when those are not built.
void register_prometheus_benchmarks();

/// Settings every case gets: when the environment variable
/// BREAKER_BENCH_ITERATIONS is set, a fixed iteration count (the `instructions`
/// script runs each case under callgrind at N and 2N iterations and divides the
/// difference by N, which cancels every one-time cost).
benchmark::internal::Benchmark* common(benchmark::internal::Benchmark* b);

/// The sync cases' thread counts: 1 and 2, timed in wall-clock time so that the
/// reported time per call is the inverse of the total throughput.
inline benchmark::internal::Benchmark* with_threads(benchmark::internal::Benchmark* b) {
  return common(b)->Threads(1)->Threads(2)->UseRealTime();
}

}  // namespace breaker::bench
