// SPDX-License-Identifier: Apache-2.0
//
// The breaker::prometheus collector.
//
// How the families get into a prometheus::Registry (prometheus-cpp 1.0.1):
// Registry::Collect() asks each of its families for their metrics through the
// virtual Family<T>::Collect(), but only ever creates plain Family<T> objects
// itself, and offers no way to register another Collectable. Refreshing plain
// Counter/Gauge objects would need a write per call (forbidden: metrics must
// not slow the call path) or a timer (stale values). So we add one object of
// our own to the registry's gauge families: a Family<Gauge> subclass whose
// Collect() reads the breakers and returns all seven families. The insertion
// goes through prometheus::detail::Builder, which Registry declares a friend
// (`template <typename T> friend class detail::Builder;`), specialised for a
// tag type of ours. Registry then owns, collects and destroys it like any
// family. A change of Registry's private members breaks the build, never runs.

#include "breaker/prometheus.hpp"

#include <algorithm>

#include <prometheus/check_names.h>
#include <prometheus/client_metric.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_type.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <cstddef>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace breaker::detail {

/// Tag naming our specialisation of prometheus::detail::Builder.
struct PrometheusRegistryAccess;

namespace {

// Family indexes, in exposition order.
enum FamilyIndex : std::size_t {
  state_family,
  calls_family,
  successful_family,
  failed_family,
  rejected_family,
  duration_family,
  transitions_family,
  family_count
};

struct FamilyInfo {
  const char* suffix;
  const char* help;
  prometheus::MetricType type;
};

constexpr std::array<FamilyInfo, family_count> family_info{{
    {"circuit_breaker_state",
     "Current state of the circuit breaker (0 = closed, 1 = open, 2 = half-open, 3 = disabled, "
     "4 = metrics-only)",
     prometheus::MetricType::Gauge},
    {"circuit_breaker_calls_total",
     "Calls through the circuit breaker, by status: allowed (admitted) or rejected",
     prometheus::MetricType::Counter},
    {"circuit_breaker_successful_calls_total", "Admitted calls that succeeded",
     prometheus::MetricType::Counter},
    {"circuit_breaker_failed_calls_total", "Admitted calls that failed",
     prometheus::MetricType::Counter},
    {"circuit_breaker_rejected_calls_total",
     "Calls rejected without running because the circuit was open (or half-open and full)",
     prometheus::MetricType::Counter},
    {"circuit_breaker_call_duration_seconds", "Duration of admitted calls, in seconds",
     prometheus::MetricType::Histogram},
    {"circuit_breaker_state_transitions_total", "State transitions of the circuit breaker",
     prometheus::MetricType::Counter},
}};

// The transitions a breaker can make, each exported from creation on (at 0).
constexpr std::array<std::pair<State, State>, 5> possible_transitions{{
    {State::closed, State::open},
    {State::open, State::half_open},
    {State::half_open, State::closed},
    {State::half_open, State::open},
    {State::open, State::closed},  // reset() of an open breaker
}};

constexpr std::size_t transition_index(State from, State to) noexcept {
  return static_cast<std::size_t>(from) * state_count + static_cast<std::size_t>(to);
}

std::string family_name(std::string_view prefix, const char* suffix) {
  std::string name;
  if (!prefix.empty()) {
    name.reserve(prefix.size() + 1 + std::char_traits<char>::length(suffix));
    name.append(prefix);
    name += '_';
  }
  name += suffix;
  return name;
}

std::array<std::string, family_count> family_names(std::string_view prefix) {
  std::array<std::string, family_count> names;
  for (std::size_t i = 0; i < family_count; ++i) {
    names[i] = family_name(prefix, family_info[i].suffix);
    if (!prometheus::CheckMetricName(names[i])) {
      throw std::invalid_argument("breaker: metrics prefix \"" + std::string(prefix) +
                                  "\" makes an invalid metric name: " + names[i]);
    }
  }
  return names;
}

prometheus::ClientMetric::Label name_label(const std::string& name) { return {"name", name}; }

prometheus::ClientMetric counter(std::vector<prometheus::ClientMetric::Label> labels,
                                 std::uint64_t value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = static_cast<double>(value);
  return m;
}

// The collector living in a prometheus::Registry (see the top of this file).
class CollectorFamily final : public prometheus::Family<prometheus::Gauge> {
 public:
  CollectorFamily(std::string prefix, const std::string& state_family_name,
                  std::shared_ptr<const MetricsSource> source)
      : Family(state_family_name, family_info[state_family].help, {}),
        prefix_(std::move(prefix)),
        source_(std::move(source)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::shared_ptr<const MetricsSource> source;
    {
      std::lock_guard lock(mutex_);
      source = source_;
    }
    if (source->expired()) return {};
    return source->collect(prefix_);
  }

  // Initialising again: same live registry -> nothing to do; the old registry
  // destroyed -> export the new one. Returns false for another live registry.
  bool rebind(std::shared_ptr<const MetricsSource> source) {
    std::lock_guard lock(mutex_);
    if (source_->same_registry(*source)) return true;
    if (!source_->expired()) return false;
    source_ = std::move(source);
    return true;
  }

 private:
  const std::string prefix_;
  mutable std::mutex mutex_;  // guards source_
  std::shared_ptr<const MetricsSource> source_;
};

}  // namespace
}  // namespace breaker::detail

namespace prometheus::detail {

// Registry befriends every specialisation of Builder; this one only inserts
// our collector family (under the registry's own lock).
template <>
class Builder<breaker::detail::PrometheusRegistryAccess> {
 public:
  static void attach(Registry& registry, std::string_view prefix,
                     std::shared_ptr<const breaker::detail::MetricsSource> source) {
    using breaker::detail::CollectorFamily;
    const auto names = breaker::detail::family_names(prefix);
    std::lock_guard lock(registry.mutex_);
    for (const auto& family : registry.gauges_) {
      if (family->GetName() != names[breaker::detail::state_family]) continue;
      auto* ours = dynamic_cast<CollectorFamily*>(family.get());
      if (ours == nullptr) throw_exists(names[breaker::detail::state_family]);
      if (!ours->rebind(std::move(source))) {
        throw std::invalid_argument("breaker: circuit breaker metrics with prefix \"" +
                                    std::string(prefix) +
                                    "\" are already exported from another breaker registry");
      }
      return;
    }
    for (const auto& name : names) {
      if (has_family(registry.counters_, name) || has_family(registry.gauges_, name) ||
          has_family(registry.histograms_, name) || has_family(registry.summaries_, name)) {
        throw_exists(name);
      }
    }
    registry.gauges_.push_back(std::make_unique<CollectorFamily>(
        std::string(prefix), names[breaker::detail::state_family], std::move(source)));
  }

 private:
  template <class Families>
  static bool has_family(const Families& families, const std::string& name) {
    for (const auto& family : families) {
      if (family->GetName() == name) return true;
    }
    return false;
  }

  [[noreturn]] static void throw_exists(const std::string& name) {
    throw std::invalid_argument("breaker: the prometheus registry already has a family named " +
                                name);
  }
};

}  // namespace prometheus::detail

namespace breaker {
namespace detail {

MetricFamiliesBuilder::MetricFamiliesBuilder(std::string_view prefix,
                                             std::size_t expected_breakers) {
  const auto names = family_names(prefix);
  families_.resize(family_count);
  for (std::size_t i = 0; i < family_count; ++i) {
    families_[i].name = names[i];
    families_[i].help = family_info[i].help;
    families_[i].type = family_info[i].type;
    const std::size_t per_breaker = i == calls_family         ? 2
                                    : i == transitions_family ? possible_transitions.size()
                                                              : 1;
    families_[i].metric.reserve(expected_breakers * per_breaker);
  }
}

void MetricFamiliesBuilder::add(const BreakerSample& breaker) {
  const std::string& name = *breaker.name;
  const Stats& stats = breaker.stats;

  prometheus::ClientMetric state;
  state.label = {name_label(name)};
  state.gauge.value = static_cast<double>(static_cast<unsigned>(stats.state));
  families_[state_family].metric.push_back(std::move(state));

  // total_calls counts admissions plus rejections, so allowed = admitted.
  const std::uint64_t allowed =
      stats.total_calls >= stats.rejected_calls ? stats.total_calls - stats.rejected_calls : 0;
  families_[calls_family].metric.push_back(
      counter({name_label(name), {"status", "allowed"}}, allowed));
  families_[calls_family].metric.push_back(
      counter({name_label(name), {"status", "rejected"}}, stats.rejected_calls));
  families_[successful_family].metric.push_back(
      counter({name_label(name)}, stats.successful_calls));
  families_[failed_family].metric.push_back(counter({name_label(name)}, stats.failed_calls));
  families_[rejected_family].metric.push_back(counter({name_label(name)}, stats.rejected_calls));

  prometheus::ClientMetric duration;
  duration.label = {name_label(name)};
  const CallDurations& d = breaker.durations;
  duration.histogram.bucket.reserve(d.bucket_counts.size());
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < d.bucket_counts.size(); ++i) {
    cumulative += d.bucket_counts[i];
    const double bound = i < CallDurations::bucket_bounds.size()
                             ? CallDurations::bucket_bounds[i]
                             : std::numeric_limits<double>::infinity();
    duration.histogram.bucket.push_back({cumulative, bound});
  }
  // The count is the +Inf bucket, so the two always agree in one scrape.
  duration.histogram.sample_count = cumulative;
  duration.histogram.sample_sum = d.sum_seconds;
  families_[duration_family].metric.push_back(std::move(duration));

  auto& transitions = families_[transitions_family].metric;
  const auto add_transition = [&](State from, State to) {
    // Labels in prometheus-cpp's own (sorted) order, as its families would print them.
    transitions.push_back(counter({{"from_state", std::string(to_string(from))},
                                   name_label(name),
                                   {"to_state", std::string(to_string(to))}},
                                  breaker.transitions[transition_index(from, to)]));
  };
  for (const auto& [from, to] : possible_transitions) add_transition(from, to);
  // Every other pair (closed->half-open cannot happen; those of disable() and
  // metrics_only() can) is shown once it has happened, in State order.
  for (std::size_t from = 0; from < state_count; ++from) {
    for (std::size_t to = 0; to < state_count; ++to) {
      const auto f = static_cast<State>(from);
      const auto t = static_cast<State>(to);
      if (from == to || breaker.transitions[transition_index(f, t)] == 0) continue;
      if (std::find(possible_transitions.begin(), possible_transitions.end(),
                    std::pair<State, State>{f, t}) != possible_transitions.end()) {
        continue;
      }
      add_transition(f, t);
    }
  }
}

std::vector<prometheus::MetricFamily> MetricFamiliesBuilder::finish() && {
  return std::move(families_);
}

void check_metrics_prefix(std::string_view prefix) { static_cast<void>(family_names(prefix)); }

void attach_metrics(prometheus::Registry& registry, std::string_view prefix,
                    std::shared_ptr<const MetricsSource> source) {
  prometheus::detail::Builder<PrometheusRegistryAccess>::attach(registry, prefix,
                                                                std::move(source));
}

}  // namespace detail

void init_circuit_breaker_metrics(prometheus::Registry& registry, const MetricsOptions& options) {
  Registry& breakers = options.breakers != nullptr ? *options.breakers : global_registry();
  init_circuit_breaker_metrics(registry, breakers, options.prefix);
}

std::string serialize_metrics_text(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

std::vector<prometheus::MetricFamily> CircuitBreakerCollectable::Collect() const {
  if (source_->expired()) return {};
  return source_->collect(prefix_);
}

std::shared_ptr<CircuitBreakerCollectable> make_circuit_breaker_collectable(
    const MetricsOptions& options) {
  const Registry& breakers = options.breakers != nullptr ? *options.breakers : global_registry();
  return make_circuit_breaker_collectable(breakers, options.prefix);
}

}  // namespace breaker
