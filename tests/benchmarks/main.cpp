// SPDX-License-Identifier: Apache-2.0
// The benchmark driver: registers the cases in report order (floor, reference,
// sync, coroutine, memory, Prometheus last) and records the build in the JSON
// context.

#include "common.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>

#ifndef BREAKER_BENCH_COMPILER
#define BREAKER_BENCH_COMPILER "unknown"
#endif
#ifndef BREAKER_BENCH_FLAGS
#define BREAKER_BENCH_FLAGS "unknown"
#endif

namespace breaker::bench {

benchmark::internal::Benchmark* common(benchmark::internal::Benchmark* b) {
  if (const char* fixed = std::getenv("BREAKER_BENCH_ITERATIONS"); fixed && *fixed) {
    b->Iterations(std::strtoll(fixed, nullptr, 10));
  }
  return b;
}

}  // namespace breaker::bench

int main(int argc, char** argv) {
  using namespace breaker::bench;
  register_floor_benchmarks();
  register_reference_benchmarks();
  register_sync_benchmarks();
  register_window_benchmarks();
  register_coroutine_benchmarks();
  register_memory_benchmarks();
  register_prometheus_benchmarks();

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("breaker_compiler", BREAKER_BENCH_COMPILER);
  benchmark::AddCustomContext("breaker_cxx_flags", BREAKER_BENCH_FLAGS);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
