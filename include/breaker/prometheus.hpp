// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The `breaker::prometheus` component: exports every breaker of a registry as
/// Prometheus metrics, read from the breakers at scrape time.
///
/// Families (shown with an empty prefix; prefix `P` gives `P_circuit_breaker_...`),
/// in this order, each with the label `name` = breaker name:
///
/// - `circuit_breaker_state`: gauge, the `State` value: 0 closed, 1 open,
///   2 half-open, 3 disabled, 4 metrics-only.
/// - `circuit_breaker_calls_total`: counter, extra label `status` = `allowed`
///   (admitted calls, `total_calls - rejected_calls`) or `rejected`.
/// - `circuit_breaker_successful_calls_total`: counter.
/// - `circuit_breaker_failed_calls_total`: counter.
/// - `circuit_breaker_rejected_calls_total`: counter.
/// - `circuit_breaker_call_duration_seconds`: histogram, buckets
///   `CallDurations::bucket_bounds` (0.001 ... 60) and +Inf.
/// - `circuit_breaker_state_transitions_total`: counter, extra labels
///   `from_state`, `to_state` (`closed`, `open`, `half-open`, `disabled`,
///   `metrics-only`).
///
/// Every breaker has every series from the moment it is in the registry (at
/// zero): both `status` values, the empty histogram, and the five transitions
/// a breaker can make (`closed`->`open`, `open`->`half-open`,
/// `half-open`->`closed`, `half-open`->`open`, `open`->`closed`); any other
/// pair (those of `disable()`, `metrics_only()`) appears once it has happened; a breaker
/// removed from the registry loses its series at the next scrape.
///
/// Cost: nothing on the call path. Each scrape takes a snapshot of the
/// registry (shared lock, one reference count per breaker) and reads each
/// breaker's counters.
///
/// Three ways to export, all with the same families:
///
/// - **Recommended**: `make_circuit_breaker_collectable(registry)`, a public
///   `prometheus::Collectable`, registered with prometheus-cpp's
///   `exposer.RegisterCollectable(collectable)` (or merged into any collector of
///   your own). It uses only prometheus-cpp's public interface.
/// - `init_circuit_breaker_metrics(prometheus::Registry&, ...)` (the seed's
///   way): the families appear in an existing `prometheus::Registry`.
/// - `circuit_breaker_metrics_text(registry)`: the text exposition as a string,
///   for a `/metrics` route of a server you already run (e.g. the
///   `breaker::restinio` component's `metrics_handler`), with no second HTTP
///   stack.
///
/// What a metrics service links (CMake targets):
///
/// - `breaker::prometheus` (brings `prometheus-cpp::core`): the collectable,
///   `init_circuit_breaker_metrics`, `circuit_breaker_metrics_text`.
/// - `prometheus-cpp::pull`: prometheus-cpp's `Exposer` (its own HTTP server,
///   civetweb inside). Nothing more is needed to serve `/metrics` with it.
/// - `civetweb::civetweb-cpp` (Debian `libcivetweb-dev`): only when the service
///   adds routes of its own to the Exposer's civetweb server (`CivetServer`,
///   `CivetHandler`, e.g. a `/health` next to `/metrics`): `prometheus-cpp::pull`
///   links civetweb only privately, so code of yours that uses it must link it.

#include "breaker/registry.hpp"
#include "breaker/state.hpp"
#include "breaker/stats.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace breaker {

/// Options of `init_circuit_breaker_metrics`.
struct MetricsOptions {
  /// Prepended with `_` to every family name: `""` gives `circuit_breaker_state`,
  /// `"llm_incident_manager"` gives `llm_incident_manager_circuit_breaker_state`.
  /// Must make valid metric names (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or be empty.
  std::string prefix;
  /// The registry whose breakers are exported; nullptr: `global_registry()`.
  Registry* breakers = nullptr;
};

/// Adds the seven circuit-breaker families to `registry`: from then on every
/// `registry.Collect()` (and so every scrape of an `Exposer` that registered
/// `registry`) reports the current values of every breaker in
/// `*options.breakers`, including breakers created later.
///
/// Calling it again with the same prefix and breaker registry does nothing
/// (no duplicate families). Different prefixes add separate sets of families.
/// A prefix whose breaker registry has been destroyed may be given a new one.
///
/// Lifetimes: `registry` keeps a weak reference to the breaker registry; if
/// that is destroyed first, the families become empty (nothing dangles).
///
/// \throws std::invalid_argument when the prefix makes invalid metric names,
///   when `registry` already has a family with one of the seven names (of any
///   type, or exported from a different breaker registry that is still alive).
///   `registry` is unchanged then.
/// Thread safety: any thread; it takes `registry`'s lock like a family builder.
///
/// Implementation note: prometheus-cpp 1.0.1's `Registry` only collects
/// families it created itself. The collector is a `prometheus::Family<Gauge>`
/// (named like the state family) whose virtual `Collect()` returns
/// all seven families, inserted through `prometheus::detail::Builder`'s
/// friendship with `Registry`. It is therefore tied to prometheus-cpp 1.0.x's
/// `Registry` members (a renamed member fails to compile; the unit tests
/// check that `Registry::Collect()` reaches the collector).
/// A family later built in `registry` with one of the six other names would be
/// exported twice: do not build families with these names yourself.
void init_circuit_breaker_metrics(prometheus::Registry& registry,
                                  const MetricsOptions& options = {});

/// Like the overload above, for a registry of any clock (e.g. a
/// `BasicRegistry<testing::ManualClock>` in tests).
template <class Clock>
void init_circuit_breaker_metrics(prometheus::Registry& registry,
                                  const BasicRegistry<Clock>& breakers,
                                  std::string_view prefix = {});

/// The seven families for the breakers of `breakers` as they are now, without a
/// `prometheus::Registry` (e.g. to serialize with `prometheus::TextSerializer`
/// or to merge into another collectable).
/// \throws std::invalid_argument for an invalid prefix; `std::bad_alloc`.
/// Thread safety: any thread.
template <class Clock>
std::vector<prometheus::MetricFamily> collect_circuit_breaker_metrics(
    const BasicRegistry<Clock>& breakers, std::string_view prefix = {});

/// `families` in the Prometheus text exposition format (version 0.0.4), as
/// prometheus-cpp's `TextSerializer` writes it. Thread safety: a pure function.
std::string serialize_metrics_text(const std::vector<prometheus::MetricFamily>& families);

/// The seven families of `breakers` as they are now, as Prometheus text
/// (version 0.0.4; serve it with `Content-Type: text/plain; version=0.0.4;
/// charset=utf-8`). For a `/metrics` route of a server you already have.
/// \throws std::invalid_argument for an invalid prefix; `std::bad_alloc`.
/// Thread safety: any thread.
template <class Clock>
std::string circuit_breaker_metrics_text(const BasicRegistry<Clock>& breakers,
                                         std::string_view prefix = {}) {
  return serialize_metrics_text(collect_circuit_breaker_metrics(breakers, prefix));
}

namespace detail {
class MetricsSource;
/// \throws std::invalid_argument when `prefix` makes invalid metric names.
void check_metrics_prefix(std::string_view prefix);
}  // namespace detail

/// The breakers of one registry as a `prometheus::Collectable`, the public
/// prometheus-cpp extension point: register it with
/// `exposer.RegisterCollectable(collectable)` (the Exposer keeps a
/// `std::weak_ptr`: keep the `std::shared_ptr` alive as long as it should be
/// scraped). Each `Collect()` returns the seven families (see the top of this
/// file) read from the breakers at that moment, breakers created later
/// included.
///
/// Lifetimes: holds a weak reference to the breaker registry; once that is
/// destroyed, `Collect()` returns no families (nothing dangles).
/// Thread safety: `Collect()` may run concurrently with itself and with any use
/// of the breakers (the Exposer scrapes from its own threads).
class CircuitBreakerCollectable final : public prometheus::Collectable {
 public:
  /// Exports `breakers` with family names prefixed by `prefix` (see
  /// `MetricsOptions::prefix`).
  /// \throws std::invalid_argument when the prefix makes invalid metric names;
  ///   `std::bad_alloc`.
  template <class Clock>
  explicit CircuitBreakerCollectable(const BasicRegistry<Clock>& breakers,
                                     std::string_view prefix = {});

  /// The seven families now (none once the breaker registry is destroyed).
  std::vector<prometheus::MetricFamily> Collect() const override;

  /// The prefix of the family names.
  const std::string& prefix() const noexcept { return prefix_; }

 private:
  std::string prefix_;
  std::shared_ptr<const detail::MetricsSource> source_;
};

/// A collectable of `breakers`, ready for `exposer.RegisterCollectable(...)`.
/// \throws std::invalid_argument for an invalid prefix; `std::bad_alloc`.
template <class Clock>
std::shared_ptr<CircuitBreakerCollectable> make_circuit_breaker_collectable(
    const BasicRegistry<Clock>& breakers, std::string_view prefix = {}) {
  return std::make_shared<CircuitBreakerCollectable>(breakers, prefix);
}

/// A collectable of `*options.breakers` (nullptr: `global_registry()`) with
/// `options.prefix`. \throws std::invalid_argument for an invalid prefix.
std::shared_ptr<CircuitBreakerCollectable> make_circuit_breaker_collectable(
    const MetricsOptions& options = {});

namespace detail {

/// Transition counts indexed by `from * state_count + to` (State values).
using TransitionCounts = std::array<std::uint64_t, state_count * state_count>;

/// What the collector reads from one breaker.
struct BreakerSample {
  const std::string* name;
  Stats stats;
  TransitionCounts transitions;
  CallDurations durations;
};

/// Reads a breaker for the collector.
template <class Clock>
BreakerSample sample(const CircuitBreaker<Clock>& breaker) noexcept {
  BreakerSample s{&breaker.name(), breaker.stats(), {}, breaker.call_durations()};
  for (std::size_t from = 0; from < state_count; ++from) {
    for (std::size_t to = 0; to < state_count; ++to) {
      s.transitions[from * state_count + to] =
          breaker.transitions(static_cast<State>(from), static_cast<State>(to));
    }
  }
  return s;
}

/// Builds the seven families from breaker samples (src/prometheus/collector.cpp).
class MetricFamiliesBuilder {
 public:
  /// \throws std::invalid_argument when `prefix` makes invalid metric names.
  MetricFamiliesBuilder(std::string_view prefix, std::size_t expected_breakers);
  /// Adds the series of one breaker.
  void add(const BreakerSample& breaker);
  /// The families (each present even with no breaker).
  std::vector<prometheus::MetricFamily> finish() &&;

 private:
  std::vector<prometheus::MetricFamily> families_;
};

/// The type-erased source of a collector: one breaker registry of any clock.
class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  /// The families for the breakers as they are now.
  virtual std::vector<prometheus::MetricFamily> collect(std::string_view prefix) const = 0;
  /// Whether this source reads the same registry as `other`.
  virtual bool same_registry(const MetricsSource& other) const noexcept = 0;
  /// Whether the registry has been destroyed.
  virtual bool expired() const noexcept = 0;
};

template <class Clock>
class RegistryMetricsSource final : public MetricsSource {
 public:
  explicit RegistryMetricsSource(typename BasicRegistry<Clock>::WeakView view)
      : view_(std::move(view)) {}

  std::vector<prometheus::MetricFamily> collect(std::string_view prefix) const override {
    const auto breakers = view_.snapshot();
    MetricFamiliesBuilder builder(prefix, breakers.size());
    for (const auto& breaker : breakers) builder.add(sample(*breaker));
    return std::move(builder).finish();
  }

  bool same_registry(const MetricsSource& other) const noexcept override {
    const auto* same_type = dynamic_cast<const RegistryMetricsSource*>(&other);
    return same_type != nullptr && same_type->view_ == view_;
  }

  bool expired() const noexcept override { return view_.expired(); }

 private:
  typename BasicRegistry<Clock>::WeakView view_;
};

/// Adds (or keeps) the collector of `source` in `registry` (src/prometheus/collector.cpp).
void attach_metrics(prometheus::Registry& registry, std::string_view prefix,
                    std::shared_ptr<const MetricsSource> source);

}  // namespace detail

template <class Clock>
CircuitBreakerCollectable::CircuitBreakerCollectable(const BasicRegistry<Clock>& breakers,
                                                     std::string_view prefix)
    : prefix_(prefix),
      source_(std::make_shared<detail::RegistryMetricsSource<Clock>>(breakers.weak_view())) {
  detail::check_metrics_prefix(prefix_);
}

template <class Clock>
void init_circuit_breaker_metrics(prometheus::Registry& registry,
                                  const BasicRegistry<Clock>& breakers, std::string_view prefix) {
  detail::attach_metrics(
      registry, prefix,
      std::make_shared<detail::RegistryMetricsSource<Clock>>(breakers.weak_view()));
}

template <class Clock>
std::vector<prometheus::MetricFamily> collect_circuit_breaker_metrics(
    const BasicRegistry<Clock>& breakers, std::string_view prefix) {
  return detail::RegistryMetricsSource<Clock>(breakers.weak_view()).collect(prefix);
}

}  // namespace breaker
