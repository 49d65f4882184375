// SPDX-License-Identifier: Apache-2.0
// Memory per breaker: sizeof plus every byte requested from operator new while
// one breaker is constructed (the time is the construction cost).

#include "common.hpp"

#include <cstdint>
#include <memory>

namespace breaker::bench {
namespace {

void memory_per_breaker(benchmark::State& state, const CircuitBreakerConfig& config) {
  std::uint64_t bytes = 0;
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    const std::uint64_t bytes_before = test::thread_allocated_bytes();
    const std::uint64_t allocations_before = test::thread_allocations();
    // A name of 12 characters fits the std::string small buffer, as most do.
    auto b = std::make_unique<CircuitBreaker<>>("payments-api", config);
    bytes = test::thread_allocated_bytes() - bytes_before;
    allocations = test::thread_allocations() - allocations_before;
    benchmark::DoNotOptimize(b.get());
  }
  const auto object = sizeof(CircuitBreaker<>);
  state.counters["sizeof_bytes"] = static_cast<double>(object);
  // make_unique puts the object itself on the heap: the rest is owned storage.
  state.counters["owned_heap_bytes"] = static_cast<double>(bytes - object);
  state.counters["bytes_per_breaker"] = static_cast<double>(bytes);
  state.counters["allocs_per_breaker"] = static_cast<double>(allocations);
}

}  // namespace

void register_memory_benchmarks() {
  common(benchmark::RegisterBenchmark("memory/construct_breaker/default", [](benchmark::State& s) {
    memory_per_breaker(s, default_config());
  }));
  common(benchmark::RegisterBenchmark("memory/construct_breaker", [](benchmark::State& s) {
    memory_per_breaker(s, closed_config(false));
  }));
}

}  // namespace breaker::bench
