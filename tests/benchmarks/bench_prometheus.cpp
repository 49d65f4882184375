// SPDX-License-Identifier: Apache-2.0
// Cases that need the Prometheus component and the Registry: the closed-state
// call with the collector attached, and scraping a registry of 10,000
// breakers. Built only when CMake finds breaker::prometheus
// (BREAKER_BENCH_HAVE_PROMETHEUS=1); otherwise they register nothing.

#include "common.hpp"

#if defined(BREAKER_BENCH_HAVE_PROMETHEUS) && BREAKER_BENCH_HAVE_PROMETHEUS

#include <breaker/prometheus.hpp>
#include <breaker/registry.hpp>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace breaker::bench {
namespace {

/// One breaker registry exported through one Prometheus registry, as a
/// program that serves /metrics sets it up.
struct Exported {
  Registry breakers;
  prometheus::Registry metrics;

  Exported() { init_circuit_breaker_metrics(metrics, MetricsOptions{"bench", &breakers}); }
};

Exported& exported() {
  static Exported e;
  return e;
}

void execute_closed_exported(benchmark::State& state, bool durations) {
  static const auto plain = exported().breakers.get_or_create("exported", closed_config(false));
  static const auto timed =
      exported().breakers.get_or_create("exported-default", default_config());
  CircuitBreaker<>& b = durations ? *timed : *plain;
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(b.execute(bare_operation));
  meter.finish();
}

constexpr std::size_t scraped_breakers = 10'000;

/// 10,000 breakers, each with some traffic, exported under one prefix.
struct Large {
  Registry breakers;
  prometheus::Registry metrics;
  std::uint64_t bytes_per_breaker = 0;

  Large() {
    const std::uint64_t before = test::thread_allocated_bytes();
    for (std::size_t i = 0; i < scraped_breakers; ++i) {
      // Names of the form "service-01234" (13 bytes, in the small-string buffer).
      std::string name = "service-" + std::to_string(100000 + i).substr(1);
      auto b = breakers.get_or_create(name, default_config());
      b->execute(bare_operation);
    }
    bytes_per_breaker = (test::thread_allocated_bytes() - before) / scraped_breakers;
    init_circuit_breaker_metrics(metrics, MetricsOptions{"bench", &breakers});
  }
};

Large& large() {
  static Large l;
  return l;
}

// Registry::Collect(): what every scrape does before it serializes.
void collect_large(benchmark::State& state) {
  Large& l = large();
  std::size_t families = 0;
  for (auto _ : state) {
    auto collected = l.metrics.Collect();
    families = collected.size();
    benchmark::DoNotOptimize(collected.data());
  }
  state.counters["breakers"] = static_cast<double>(scraped_breakers);
  state.counters["families"] = static_cast<double>(families);
  state.counters["registry_bytes_per_breaker"] = static_cast<double>(l.bytes_per_breaker);
}

// A whole scrape: Collect() plus the text exposition format.
void scrape_large(benchmark::State& state) {
  Large& l = large();
  const prometheus::TextSerializer serializer;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = serializer.Serialize(l.metrics.Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["breakers"] = static_cast<double>(scraped_breakers);
  state.counters["exposition_bytes"] = static_cast<double>(bytes);
}

}  // namespace

void register_prometheus_benchmarks() {
  with_threads(benchmark::RegisterBenchmark(
      "prometheus/execute_closed", [](benchmark::State& s) { execute_closed_exported(s, false); }));
  with_threads(
      benchmark::RegisterBenchmark("prometheus/execute_closed/default",
                                   [](benchmark::State& s) { execute_closed_exported(s, true); }));
  common(benchmark::RegisterBenchmark("prometheus/collect_10000_breakers", collect_large))
      ->Unit(benchmark::kMillisecond);
  common(benchmark::RegisterBenchmark("prometheus/scrape_10000_breakers", scrape_large))
      ->Unit(benchmark::kMillisecond);
}

}  // namespace breaker::bench

#else

namespace breaker::bench {

void register_prometheus_benchmarks() {}

}  // namespace breaker::bench

#endif
