// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The differential harness: one sequence of steps applied to the real
/// `CircuitBreaker<testing::ManualClock>` and to the reference `Model` at the
/// same time, comparing every admission decision, `state()`, every field of
/// `stats()`, the probes in flight, the transition counters, the listener
/// calls, the duration histogram and the config after every step. Used by the
/// differential test and by the fuzzer, so it depends on neither Catch2 nor
/// libFuzzer: a mismatch comes back as a `Failure` value.
///
/// A step names its permit by an index taken modulo the number of permits
/// outstanding at that moment, so any subsequence of a sequence is again a
/// valid sequence: that is what lets `shrink()` remove steps freely.

#include "model.hpp"

#include <breaker/circuit_breaker.hpp>
#include <breaker/config.hpp>
#include <breaker/error.hpp>
#include <breaker/testing/manual_clock.hpp>

#include <asio/error.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace breaker::reliability {

/// The operations a sequence is made of.
enum class Op : std::uint8_t {
  acquire,                ///< try_acquire(); an admitted permit joins the pool
  record_success,         ///< pool[a].record_success()
  record_failure,         ///< pool[a].record_failure()
  record_ignored,         ///< pool[a].record_ignored()
  drop,                   ///< destroy pool[a] without a record (counts as ignored)
  move_assign,            ///< pool[a] = std::move(pool[b]) (pool[a]'s own call is ignored)
  record_again,           ///< record on a permit already recorded: no effect
  advance,                ///< clock += small step (whole microseconds)
  advance_to_deadline,    ///< clock to the end of the open period (-1 us, 0, +1 us, or later)
  reset,                  ///< reset()
  force_open,             ///< force_open()
  reset_burst,            ///< force_open(); reset() many times in a row (thousands of epochs)
  update_config,          ///< update_config(a valid random config)
  update_config_invalid,  ///< update_config(an invalid config): throws, changes nothing
  execute_success,        ///< execute(f) where f returns a value
  execute_failure,        ///< execute(f) where f throws a test exception
  execute_cancelled,      ///< execute(f) where f throws operation_aborted (ignored)
  execute_with_fallback,  ///< execute_with_fallback(f, fallback), f fails when b is odd
  disable,                ///< disable()
  metrics_only,           ///< metrics_only()
  open_for,               ///< open_for(a % (3 timeouts) microseconds)
  open_until,             ///< open_until(now + a % (2 timeouts) - timeout / 2)
  count_                  ///< number of operations (not an operation)
};

inline const char* to_string(Op op) {
  switch (op) {
    case Op::acquire:
      return "acquire";
    case Op::record_success:
      return "record_success";
    case Op::record_failure:
      return "record_failure";
    case Op::record_ignored:
      return "record_ignored";
    case Op::drop:
      return "drop";
    case Op::move_assign:
      return "move_assign";
    case Op::record_again:
      return "record_again";
    case Op::advance:
      return "advance";
    case Op::advance_to_deadline:
      return "advance_to_deadline";
    case Op::reset:
      return "reset";
    case Op::force_open:
      return "force_open";
    case Op::reset_burst:
      return "reset_burst";
    case Op::update_config:
      return "update_config";
    case Op::update_config_invalid:
      return "update_config_invalid";
    case Op::execute_success:
      return "execute_success";
    case Op::execute_failure:
      return "execute_failure";
    case Op::execute_cancelled:
      return "execute_cancelled";
    case Op::execute_with_fallback:
      return "execute_with_fallback";
    case Op::disable:
      return "disable";
    case Op::metrics_only:
      return "metrics_only";
    case Op::open_for:
      return "open_for";
    case Op::open_until:
      return "open_until";
    case Op::count_:
      break;
  }
  return "?";
}

struct Step {
  Op op = Op::acquire;
  std::uint32_t a = 0;
  std::uint32_t b = 0;
};

/// A complete test input: the breaker's config, the clock's start and the steps.
struct Sequence {
  std::string config_name;
  CircuitBreakerConfig config;
  std::int64_t start_ns = 0;
  std::vector<Step> steps;
};

/// Where and how the real breaker and the model disagreed.
struct Failure {
  std::size_t step =
      0;  ///< Index of the step after which they disagreed (steps.size(): final drain).
  std::string message;
};

/// How to run a sequence.
struct RunOptions {
  /// Stop a sequence once this many epochs have passed. Past 2^16 (where the
  /// 16-bit epoch of the first milestone wrapped and a stale outcome could
  /// drive a transition: rule 2 has no exception for old calls) and well
  /// below 2^27, the documented limit of the state word's epoch.
  std::uint64_t max_epochs = 140'000;
  /// Most force_open(); reset() pairs one reset_burst step makes (before the
  /// max_epochs cap); each pair passes two epochs.
  std::uint32_t max_burst = 40'000;
  /// When set, the model runs with this config instead of the breaker's: a
  /// deliberately wrong model, to prove the harness and the shrinker catch it.
  std::optional<CircuitBreakerConfig> model_config;
};

/// Totals over runs, for the figures in docs/reliability.md.
struct RunCounts {
  std::uint64_t sequences = 0;
  std::uint64_t steps = 0;
  std::uint64_t admissions = 0;
  std::uint64_t transitions = 0;
};

// --- configs -----------------------------------------------------------------

inline std::string describe(const CircuitBreakerConfig& c) {
  std::ostringstream os;
  os << "{failure_threshold=" << c.failure_threshold
     << ", success_threshold=" << c.success_threshold
     << ", timeout_duration=" << c.timeout_duration.count() << "ms"
     << ", half_open_max_requests=" << c.half_open_max_requests
     << ", count_timeout_as_failure=" << c.count_timeout_as_failure
     << ", minimum_request_threshold=" << c.minimum_request_threshold
     << ", call_timeout=" << c.call_timeout.count() << "ms"
     << ", record_call_durations=" << c.record_call_durations
     << ", duration_sample_every=" << c.duration_sample_every
     << ", open_duration_policy=" << to_string(c.open_duration_policy)
     << ", backoff_multiplier=" << c.backoff_multiplier
     << ", max_open_duration=" << c.max_open_duration.count() << "ms"
     << ", open_duration_jitter=" << to_string(c.open_duration_jitter)
     << ", jitter_ratio=" << c.jitter_ratio << ", jitter_seed=" << c.jitter_seed
     << ", max_wait_in_half_open=" << c.max_wait_in_half_open.count() << "ms"
     << ", half_open_close=" << to_string(c.half_open_close)
     << ", half_open_success_ratio=" << c.half_open_success_ratio
     << ", trip_policy=" << (c.trip_policy == TripPolicy::failure_rate ? "failure_rate" : "consecutive_failures")
     << ", window_type=" << (c.window_type == WindowType::time_based ? "time_based" : "count_based")
     << ", window_size=" << c.window_size << ", window_duration=" << c.window_duration.count() << "ms"
     << ", window_buckets=" << c.window_buckets
     << ", failure_rate_threshold=" << c.failure_rate_threshold
     << ", slow_call_duration_threshold=" << c.slow_call_duration_threshold.count() << "ms"
     << ", slow_call_rate_threshold=" << c.slow_call_rate_threshold << "}";
  return os.str();
}

/// SplitMix64: a tiny generator for deriving configs from one number (cheaper
/// to seed than std::mt19937_64, which matters to the fuzzer).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t operator()() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

/// A random valid config with small thresholds (transitions are frequent) or,
/// one time in four, medium ones.
inline CircuitBreakerConfig random_valid_config(std::uint64_t seed) {
  SplitMix64 rng(seed);
  auto pick = [&](std::uint32_t lo, std::uint32_t hi) {
    return static_cast<std::uint32_t>(lo + rng() % (std::uint64_t{hi} - lo + 1));
  };
  CircuitBreakerConfig c;
  const bool medium = rng() % 4 == 0;
  c.failure_threshold = medium ? pick(1, 20) : pick(1, 4);
  c.success_threshold = medium ? pick(1, 10) : pick(1, 3);
  c.timeout_duration = std::chrono::milliseconds(medium ? pick(1, 120'000) : pick(1, 200));
  c.half_open_max_requests = medium ? pick(1, 8) : pick(1, 3);
  c.count_timeout_as_failure = rng() % 2 == 0;
  c.minimum_request_threshold = medium ? pick(0, 30) : pick(0, 5);
  c.call_timeout = std::chrono::milliseconds(rng() % 3 == 0 ? pick(1, 1000) : 0);
  c.record_call_durations = rng() % 2 == 0;
  c.duration_sample_every = std::uint32_t{1} << (rng() % 3 == 0 ? 0 : pick(1, 4));
  // Issue 12 (core): drawn from a generator of their own, so that the fields
  // above stay what they were for every seed.
  SplitMix64 more(seed ^ 0x12C0'12C0'12C0'12C0ULL);
  const auto more_pick = [&](std::uint32_t lo, std::uint32_t hi) {
    return static_cast<std::uint32_t>(lo + more() % (std::uint64_t{hi} - lo + 1));
  };
  if (more() % 3 == 0) {
    c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
    static constexpr double multipliers[] = {1.5, 2.0, 3.0, 1.01};
    c.backoff_multiplier = multipliers[more() % 4];
    c.max_open_duration = c.timeout_duration * more_pick(1, 8);
  }
  if (more() % 3 == 0) {
    c.open_duration_jitter = more() % 2 == 0 ? Jitter::full : Jitter::proportional;
    static constexpr double ratios[] = {0.0, 0.1, 0.5, 1.0};
    c.jitter_ratio = ratios[more() % 4];
    c.jitter_seed = more();
  }
  if (more() % 3 == 0) {
    c.max_wait_in_half_open =
        std::chrono::milliseconds(more_pick(1, static_cast<std::uint32_t>(
                                                   std::min<std::int64_t>(c.timeout_duration.count(), 100'000))));
  }
  if (more() % 3 == 0) {
    c.half_open_close = HalfOpenClose::success_ratio;
    static constexpr double ratios[] = {100.0, 50.0, 75.0, 33.4, 0.5};
    c.half_open_success_ratio = ratios[more() % 5];
  }
  // Issue 12 (windows): a generator of their own again.
  SplitMix64 win(seed ^ 0x3D0C'3D0C'3D0C'3D0CULL);
  const auto win_pick = [&](std::uint32_t lo, std::uint32_t hi) {
    return static_cast<std::uint32_t>(lo + win() % (std::uint64_t{hi} - lo + 1));
  };
  const bool rate = win() % 3 == 0;
  const bool slow = win() % 4 == 0;
  if (rate || slow) {
    if (rate) c.trip_policy = TripPolicy::failure_rate;
    static constexpr double thresholds[] = {50.0, 100.0, 25.0, 66.7, 0.5};
    c.failure_rate_threshold = thresholds[win() % 5];
    if (slow) {
      c.slow_call_duration_threshold = std::chrono::milliseconds(win_pick(1, 50));
      c.slow_call_rate_threshold = thresholds[win() % 5];
    }
    if (win() % 2 == 0) {
      c.window_type = WindowType::count_based;
      c.window_size = win_pick(1, 12);
      c.minimum_request_threshold = std::min(c.minimum_request_threshold, c.window_size);
    } else {
      c.window_type = WindowType::time_based;
      c.window_buckets = win_pick(1, 6);
      c.window_duration = std::chrono::milliseconds(c.window_buckets * win_pick(1, 100));
    }
  }
  return c;
}

/// A config with exactly one invalid field, chosen by `seed`; `field` gets the
/// field's name (the text `what()` must contain).
inline CircuitBreakerConfig random_invalid_config(std::uint64_t seed,
                                                  std::string* field = nullptr) {
  SplitMix64 rng(seed);
  CircuitBreakerConfig c = random_valid_config(rng());
  const auto big = [&](std::uint32_t max) {
    const std::uint32_t choices[] = {max + 1, max + 2, 0xFFFFFFFFu, 0x80000000u, max * 2 + 1};
    return choices[rng() % 5];
  };
  const auto too_long = [&] {
    const std::chrono::milliseconds choices[] = {
        CircuitBreakerConfig::max_duration + std::chrono::milliseconds(1),
        std::chrono::milliseconds(std::numeric_limits<std::int64_t>::max()),
        CircuitBreakerConfig::max_duration * 2};
    return choices[rng() % 3];
  };
  const auto negative = [&] {
    const std::chrono::milliseconds choices[] = {std::chrono::milliseconds(-1),
                                                 std::chrono::milliseconds(-60'000),
                                                 std::chrono::milliseconds::min()};
    return choices[rng() % 3];
  };
  std::string name;
  switch (rng() % 24) {
    case 0:
      c.failure_threshold = 0;
      name = "failure_threshold";
      break;
    case 1:
      c.failure_threshold = big(CircuitBreakerConfig::max_count);
      name = "failure_threshold";
      break;
    case 2:
      c.success_threshold = rng() % 2 ? 0 : big(CircuitBreakerConfig::max_count);
      name = "success_threshold";
      break;
    case 3:
      c.half_open_max_requests = 0;
      name = "half_open_max_requests";
      break;
    case 4:
      c.half_open_max_requests = big(CircuitBreakerConfig::max_half_open_requests);
      name = "half_open_max_requests";
      break;
    case 5:
      c.minimum_request_threshold = big(CircuitBreakerConfig::max_count);
      name = "minimum_request_threshold";
      break;
    case 6:
      c.timeout_duration = std::chrono::milliseconds(0);
      name = "timeout_duration";
      break;
    case 7:
      c.timeout_duration = rng() % 2 ? negative() : too_long();
      name = "timeout_duration";
      break;
    case 8:
      c.call_timeout = negative();
      name = "call_timeout";
      break;
    case 10:
      c.backoff_multiplier = rng() % 2 ? 1.0 : std::numeric_limits<double>::infinity();
      name = "backoff_multiplier";
      break;
    case 11:
      c.max_open_duration = rng() % 2 ? std::chrono::milliseconds(0) : too_long();
      name = "max_open_duration";
      break;
    case 12:
      c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
      c.max_open_duration = c.timeout_duration - std::chrono::milliseconds(1);
      if (c.max_open_duration.count() <= 0) c.max_open_duration = std::chrono::milliseconds(-5);
      name = "max_open_duration";
      break;
    case 13:
      c.jitter_ratio = rng() % 2 ? -0.5 : 1.5;
      name = "jitter_ratio";
      break;
    case 14:
      c.max_wait_in_half_open = rng() % 2 ? negative() : too_long();
      name = "max_wait_in_half_open";
      break;
    case 15:
      c.half_open_success_ratio = rng() % 2 ? 0.0 : std::numeric_limits<double>::quiet_NaN();
      name = "half_open_success_ratio";
      break;
    case 16:
      c.half_open_close = HalfOpenClose::success_ratio;
      c.half_open_max_requests = CircuitBreakerConfig::max_ratio_half_open_requests + 1;
      name = "half_open_max_requests";
      break;
    case 17:
      c.open_duration_jitter = static_cast<Jitter>(3 + rng() % 200);
      name = "open_duration_jitter";
      break;
    case 18:
      c.window_size = rng() % 2 ? 0 : big(CircuitBreakerConfig::max_window_size);
      name = "window_size";
      break;
    case 19:
      c.window_buckets = rng() % 2 ? 0 : big(CircuitBreakerConfig::max_window_buckets);
      name = "window_buckets";
      break;
    case 20:
      c.failure_rate_threshold = rng() % 2 ? 0.0 : std::numeric_limits<double>::quiet_NaN();
      name = "failure_rate_threshold";
      break;
    case 21:
      c.slow_call_rate_threshold = rng() % 2 ? -1.0 : 100.01;
      name = "slow_call_rate_threshold";
      break;
    case 22:
      c.slow_call_duration_threshold = rng() % 2 ? negative() : too_long();
      name = "slow_call_duration_threshold";
      break;
    case 23:
      c.window_buckets = 7;
      c.window_duration = std::chrono::milliseconds(7 * (1 + rng() % 100) + 1);
      name = "window_duration";
      break;
    default:
      c.call_timeout = too_long();
      name = "call_timeout";
      break;
  }
  if (field != nullptr) *field = name;
  return c;
}

/// The named configs the differential test starts from.
inline std::vector<std::pair<std::string, CircuitBreakerConfig>> preset_configs() {
  return {{"default", CircuitBreakerConfig{}},
          {"for_http_api", CircuitBreakerConfig::for_http_api()},
          {"for_llm_service", CircuitBreakerConfig::for_llm_service()},
          {"for_database", CircuitBreakerConfig::for_database()},
          {"for_notifications", CircuitBreakerConfig::for_notifications()},
          {"for_cache", CircuitBreakerConfig::for_cache()}};
}

// --- sequences -----------------------------------------------------------------

/// A random sequence of `length` steps. Each sequence draws its own mix of
/// operations (e.g. mostly failures, or clock-heavy) so that thresholds are
/// reached and passed in every state.
inline Sequence generate_sequence(std::uint64_t seed, std::size_t length) {
  std::mt19937_64 rng(seed);
  Sequence s;
  const std::uint64_t kind = rng() % 10;
  if (kind < 3) {
    auto presets = preset_configs();
    auto& chosen = presets[rng() % presets.size()];
    s.config_name = chosen.first;
    s.config = chosen.second;
  } else {
    s.config_name = "random";
    s.config = random_valid_config(rng());
  }
  s.start_ns = static_cast<std::int64_t>(rng() % 1'000'000'000'000ULL);

  // Weights of the operations for this sequence.
  const std::uint32_t failure_bias = static_cast<std::uint32_t>(1 + rng() % 9);  // of 10
  std::array<std::uint32_t, static_cast<std::size_t>(Op::count_)> weight{};
  auto w = [&](Op op, std::uint32_t v) { weight[static_cast<std::size_t>(op)] = v; };
  w(Op::acquire, 300);
  w(Op::record_success, 25 * (10 - failure_bias));
  w(Op::record_failure, 25 * failure_bias);
  w(Op::record_ignored, 15);
  w(Op::drop, 15);
  w(Op::move_assign, 10);
  w(Op::record_again, 5);
  w(Op::advance, 40 + static_cast<std::uint32_t>(rng() % 60));
  w(Op::advance_to_deadline, 30 + static_cast<std::uint32_t>(rng() % 60));
  w(Op::reset, 8);
  w(Op::force_open, 4);
  // Bursts in 1 sequence of 64 (125 of the dev stage's 8,000 cross 2^16 epochs): they are
  // cheap steps but many transitions, and in 1 of 8 they took 68 million transitions and most of
  // the CI time of the reliability suite.
  w(Op::reset_burst, rng() % 64 == 0 ? 2 : 0);
  w(Op::update_config, rng() % 4 == 0 ? 6 : 0);
  w(Op::update_config_invalid, 2);
  w(Op::execute_success, 4 * (10 - failure_bias));
  w(Op::execute_failure, 4 * failure_bias);
  w(Op::execute_cancelled, 5);
  w(Op::execute_with_fallback, 15);
  w(Op::disable, rng() % 4 == 0 ? 3 : 0);
  w(Op::metrics_only, rng() % 4 == 0 ? 3 : 0);
  w(Op::open_for, rng() % 3 == 0 ? 6 : 1);
  w(Op::open_until, rng() % 3 == 0 ? 4 : 1);
  std::discrete_distribution<std::size_t> choose(weight.begin(), weight.end());

  s.steps.reserve(length);
  for (std::size_t i = 0; i < length; ++i) {
    Step step;
    step.op = static_cast<Op>(choose(rng));
    step.a = static_cast<std::uint32_t>(rng());
    step.b = static_cast<std::uint32_t>(rng());
    s.steps.push_back(step);
  }
  return s;
}

// --- running -----------------------------------------------------------------

namespace detail_ {

/// The exception the test operations throw (must reach the caller unchanged).
struct OperationError {
  std::uint32_t id;
};

template <class T>
std::string str(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

inline std::string describe_stats(const Stats& s) {
  std::ostringstream os;
  os << "{state=" << s.state << " consecutive_failures=" << s.consecutive_failures
     << " consecutive_successes=" << s.consecutive_successes << " total=" << s.total_calls
     << " successful=" << s.successful_calls << " failed=" << s.failed_calls
     << " rejected=" << s.rejected_calls << " ignored=" << s.ignored_calls << "}";
  return os.str();
}

// The clock's offset from the breaker's creation must stay well inside the
// deadline's documented 48-bit microsecond range (8.9 years).
inline constexpr std::int64_t max_clock_offset_ns =
    std::int64_t{4} * 365 * 24 * 3600 * 1'000'000'000;

}  // namespace detail_

/// Runs `steps` from a fresh breaker and model; returns the first mismatch.
/// `counts`, when given, accumulates the steps run.
inline std::optional<Failure> run_sequence(const CircuitBreakerConfig& config,
                                           std::int64_t start_ns, const std::vector<Step>& steps,
                                           const RunOptions& options = {},
                                           RunCounts* counts = nullptr) {
  using namespace std::chrono;
  using Breaker = CircuitBreaker<testing::ManualClock>;
  using detail_::describe_stats;
  using detail_::str;
  // The real breaker reports the low bits of the model's (unbounded) epoch.
  constexpr std::uint64_t epoch_mask = breaker::detail::StateWord::epoch_mask;

  testing::ManualClock clock;
  clock.set(testing::ManualClock::time_point{nanoseconds{start_ns}});
  const std::string name = "differential \"breaker\"\n\xC3\xA9";  // quotes, newline, non-ASCII
  Breaker real(name, config, clock);
  Model model(options.model_config.value_or(config), start_ns);

  std::vector<ModelEvent> heard;
  std::string listener_error;
  // A throwing listener first: the breaker must carry on and call the next one.
  real.on_state_change([](const StateTransition&) { throw std::runtime_error("listener fails"); });
  real.on_state_change([&](const StateTransition& t) {
    heard.push_back(ModelEvent{t.from, t.to, t.epoch});
    // An open period that is already over when its listener runs (open_for(0),
    // open_until(a past time)) reads as half-open: that is state()'s rule.
    const bool over_already = t.to == State::open && real.state() == State::half_open &&
                              real.time_until_half_open() == std::optional<nanoseconds>{nanoseconds{0}};
    if (listener_error.empty() && real.state() != t.to && !over_already) {
      listener_error = "listener saw state() == " + str(real.state()) + " during " + str(t.from) +
                       " -> " + str(t.to);
    }
    if (listener_error.empty() && t.breaker_name != name)
      listener_error = "listener got a wrong breaker_name";
  });

  struct Slot {
    Breaker::Permit real;
    ModelPermit model;
  };
  std::vector<Slot> pool;
  std::vector<Slot> spent;  // recorded permits, kept to check that a second record does nothing

  std::size_t step_index = 0;
  std::size_t events_checked = 0;  // listener calls already compared
  auto fail = [&](std::string message) { return Failure{step_index, std::move(message)}; };

  auto check = [&]() -> std::optional<Failure> {
    if (!listener_error.empty()) return fail(listener_error);
    const Stats rs = real.stats();
    const Stats ms = model.stats();
    if (!(rs == ms))
      return fail("stats() " + describe_stats(rs) + " != model " + describe_stats(ms));
    if (real.state() != model.state())
      return fail("state() " + str(real.state()) + " != model " + str(model.state()));
    // The sliding window (windows12): what it holds, exactly.
    {
      const auto window = real.window_stats();
      const auto mw = model.window_counts();
      if (window.has_value() != model.config().uses_window())
        return fail(std::string("window_stats() ") + (window ? "present" : "absent") +
                    " != model");
      if (window && (window->calls != mw[0] || window->failures != mw[1] ||
                     window->slow_calls != mw[2]))
        return fail("window_stats() {" + str(window->calls) + ", " + str(window->failures) + ", " +
                    str(window->slow_calls) + "} != model {" + str(mw[0]) + ", " + str(mw[1]) +
                    ", " + str(mw[2]) + "}");
    }
    if (real.probes_in_flight() != model.probes_in_flight())
      return fail("probes_in_flight() " + str(real.probes_in_flight()) + " != model " +
                  str(model.probes_in_flight()));
    constexpr State all_states[] = {State::closed, State::open, State::half_open, State::disabled,
                                    State::metrics_only};
    for (State from : all_states) {
      for (State to : all_states) {
        if (real.transitions(from, to) != model.transitions(from, to))
          return fail("transitions(" + str(from) + ", " + str(to) + ") " +
                      str(real.transitions(from, to)) + " != model " +
                      str(model.transitions(from, to)));
      }
    }
    const auto& expected = model.events();
    if (heard.size() != expected.size())
      return fail("listener heard " + str(heard.size()) + " transitions, model made " +
                  str(expected.size()));
    for (std::size_t i = events_checked; i < heard.size(); ++i) {
      const ModelEvent& e = expected[i];
      if (heard[i].from != e.from || heard[i].to != e.to || heard[i].epoch != (e.epoch & epoch_mask))
        return fail("listener call " + str(i) + ": " + str(heard[i].from) + " -> " +
                    str(heard[i].to) + " epoch " + str(heard[i].epoch) + ", model " + str(e.from) +
                    " -> " + str(e.to) + " epoch " + str(e.epoch & epoch_mask));
    }
    events_checked = heard.size();
    const CallDurations d = real.call_durations();
    if (d.count != model.duration_count() ||
        !std::equal(d.bucket_counts.begin(), d.bucket_counts.end(),
                    model.duration_buckets().begin()) ||
        d.sum_seconds != static_cast<double>(model.duration_sum_ns()) / 1e9)
      return fail("call_durations() count " + str(d.count) + " sum " + str(d.sum_seconds) +
                  " != model count " + str(model.duration_count()) + " sum " +
                  str(static_cast<double>(model.duration_sum_ns()) / 1e9));
    if (!(real.config() == model.config())) return fail("config() differs from the model's");
    return std::nullopt;
  };

  auto advance_to = [&](std::int64_t target_ns) {
    if (target_ns <= model.now()) return;
    if (target_ns - start_ns > detail_::max_clock_offset_ns) return;
    clock.advance(nanoseconds{target_ns - model.now()});
    model.set_now(target_ns);
  };
  auto timeout_us = [&] {
    return std::max<std::int64_t>(
        1, duration_cast<microseconds>(model.config().timeout_duration).count());
  };
  auto record = [&](std::size_t i, ModelOutcome outcome) {
    Slot& slot = pool[i];
    switch (outcome) {
      case ModelOutcome::success:
        slot.real.record_success();
        break;
      case ModelOutcome::failure:
        slot.real.record_failure();
        break;
      case ModelOutcome::ignored:
        slot.real.record_ignored();
        break;
    }
    model.record(slot.model, outcome);
    spent.push_back(std::move(slot));
    if (spent.size() > 8) spent.erase(spent.begin());
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(i));
  };
  // execute*(): `kind` 0 success, 1 failure, 2 cancellation; returns a mismatch text.
  auto execute = [&](int kind, bool with_fallback, std::uint32_t id) -> std::string {
    const ModelPermit m = model.acquire();
    bool ran = false;
    auto body = [&]() -> int {
      ran = true;
      if (kind == 1) throw detail_::OperationError{id};
      if (kind == 2) throw std::system_error(asio::error::operation_aborted);
      return 7;
    };
    std::string problem;
    try {
      const int v =
          with_fallback ? real.execute_with_fallback(body, [] { return 9; }) : real.execute(body);
      const int want = with_fallback && (!m.admitted || kind == 1) ? 9 : 7;
      if (v != want) problem = "execute returned " + str(v) + ", expected " + str(want);
      if (!with_fallback && kind != 0) problem = "execute did not propagate the exception";
    } catch (const CircuitBreakerError& e) {
      if (with_fallback || m.admitted || e.code() != make_error_code(errc::open) ||
          e.breaker_name() != name)
        problem = std::string("unexpected CircuitBreakerError: ") + e.what();
    } catch (const detail_::OperationError& e) {
      if (with_fallback || kind != 1 || e.id != id) problem = "unexpected OperationError";
    } catch (const std::system_error& e) {
      if (kind != 2 || e.code() != asio::error::operation_aborted)
        problem = "unexpected system_error";
    }
    if (ran != m.admitted)
      problem = "execute ran the function: " + str(ran) + ", model admitted: " + str(m.admitted);
    if (m.admitted) {
      model.record(m, kind == 0   ? ModelOutcome::success
                      : kind == 1 ? ModelOutcome::failure
                                  : ModelOutcome::ignored);
    }
    return problem;
  };

  if (auto f = check()) return f;
  for (; step_index < steps.size(); ++step_index) {
    const Step& step = steps[step_index];
    if (counts != nullptr) ++counts->steps;
    switch (step.op) {
      case Op::acquire: {
        Breaker::Permit p = real.try_acquire();
        const ModelPermit m = model.acquire();
        if (counts != nullptr && m.admitted) ++counts->admissions;
        if (static_cast<bool>(p) != m.admitted)
          return fail("try_acquire() admitted " + str(static_cast<bool>(p)) + ", model " +
                      str(m.admitted));
        if (m.admitted) {
          if (p.admitted_in() != m.admitted_in)
            return fail("permit admitted in " + str(p.admitted_in()) + ", model " +
                        str(m.admitted_in));
          if (p.epoch() != (m.epoch & epoch_mask))
            return fail("permit epoch " + str(p.epoch()) + ", model " + str(m.epoch & epoch_mask));
          pool.push_back(Slot{std::move(p), m});
        }
        break;
      }
      case Op::record_success:
      case Op::record_failure:
      case Op::record_ignored:
        if (!pool.empty()) {
          const auto outcome = step.op == Op::record_success   ? ModelOutcome::success
                               : step.op == Op::record_failure ? ModelOutcome::failure
                                                               : ModelOutcome::ignored;
          record(step.a % pool.size(), outcome);
        }
        break;
      case Op::drop:
        if (!pool.empty()) {
          const std::size_t i = step.a % pool.size();
          model.record(pool[i].model, ModelOutcome::ignored);
          pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(i));  // ~Permit: ignored
        }
        break;
      case Op::move_assign:
        if (pool.size() == 1) {
          Breaker::Permit& p = pool[0].real;
          Breaker::Permit& same = p;
          p = std::move(same);  // self-move: no effect
          if (!p) return fail("self move-assignment emptied the permit");
        } else if (pool.size() >= 2) {
          const std::size_t i = step.a % pool.size();
          std::size_t j = step.b % pool.size();
          if (j == i) j = (i + 1) % pool.size();
          model.record(pool[i].model, ModelOutcome::ignored);  // the overwritten call
          pool[i].real = std::move(pool[j].real);
          pool[i].model = pool[j].model;
          if (pool[j].real) return fail("moved-from permit still reads as admitted");
          pool[j].real.record_failure();  // moved-from: no effect
          pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(j));
        }
        break;
      case Op::record_again:
        if (!spent.empty()) {
          Breaker::Permit& p = spent[step.a % spent.size()].real;
          if (p) return fail("a recorded permit still reads as admitted");
          if (step.b % 3 == 0)
            p.record_success();
          else if (step.b % 3 == 1)
            p.record_failure();
          else
            p.record_ignored();
        }
        break;
      case Op::advance:
        advance_to(model.now() +
                   1000 * static_cast<std::int64_t>(
                              1 + step.a % std::max<std::int64_t>(1, timeout_us() / 3)));
        break;
      case Op::advance_to_deadline:
        if (model.internal_state() == State::open && !model.forced()) {
          static constexpr std::int64_t deltas_us[] = {-1, 0, 1};
          const std::int64_t delta_us = step.b % 4 < 3
                                            ? deltas_us[step.b % 4]
                                            : static_cast<std::int64_t>(step.a % timeout_us());
          advance_to(model.open_until() + 1000 * delta_us);
        } else if (model.half_open_waiting()) {
          static constexpr std::int64_t deltas_us[] = {-1, 0, 1};
          const std::int64_t delta_us = step.b % 4 < 3
                                            ? deltas_us[step.b % 4]
                                            : static_cast<std::int64_t>(step.a % timeout_us());
          advance_to(model.half_open_until() + 1000 * delta_us);
        } else {
          advance_to(model.now() +
                     1000 * (timeout_us() + static_cast<std::int64_t>(step.a % 1000)));
        }
        break;
      case Op::reset:
        real.reset();
        model.reset();
        break;
      case Op::force_open:
        real.force_open();
        model.force_open();
        break;
      case Op::reset_burst: {
        std::uint64_t n = 1 + step.a % std::max<std::uint32_t>(1, options.max_burst);
        if (model.epoch() + 2 * n > options.max_epochs)
          n = model.epoch() + 2 < options.max_epochs ? (options.max_epochs - model.epoch()) / 2 : 0;
        for (std::uint64_t k = 0; k < n; ++k) {
          real.force_open();
          model.force_open();
          real.reset();
          model.reset();
        }
        break;
      }
      case Op::update_config: {
        const CircuitBreakerConfig c = random_valid_config(step.a);
        real.update_config(c);
        model.update_config(c);
        break;
      }
      case Op::update_config_invalid: {
        std::string field;
        const CircuitBreakerConfig c = random_invalid_config(step.a, &field);
        try {
          real.update_config(c);
          return fail("update_config accepted an invalid " + field + ": " + describe(c));
        } catch (const CircuitBreakerError& e) {
          if (e.code() != make_error_code(errc::invalid_config) ||
              std::string(e.what()).find(field) == std::string::npos || e.breaker_name() != name)
            return fail(std::string("update_config error does not name ") + field + ": " +
                        e.what());
        }
        break;
      }
      case Op::execute_success:
      case Op::execute_failure:
      case Op::execute_cancelled:
      case Op::execute_with_fallback: {
        const int kind = step.op == Op::execute_success     ? 0
                         : step.op == Op::execute_failure   ? 1
                         : step.op == Op::execute_cancelled ? 2
                                                            : static_cast<int>(step.b % 2);
        const std::string problem = execute(kind, step.op == Op::execute_with_fallback, step.a);
        if (!problem.empty()) return fail(problem);
        break;
      }
      case Op::disable:
        real.disable();
        model.disable();
        break;
      case Op::metrics_only:
        real.metrics_only();
        model.metrics_only();
        break;
      case Op::open_for: {
        const std::int64_t us = static_cast<std::int64_t>(step.a % (3 * timeout_us() + 1));
        real.open_for(microseconds{us});
        model.open_until_time(model.now() + 1000 * us);
        break;
      }
      case Op::open_until: {
        const std::int64_t us = static_cast<std::int64_t>(step.a % (2 * timeout_us() + 1)) -
                                timeout_us() / 2;
        const std::int64_t end_ns = model.now() + 1000 * us;
        real.open_until(testing::ManualClock::time_point{nanoseconds{end_ns}});
        model.open_until_time(end_ns);
        break;
      }
      case Op::count_:
        break;
    }
    // Keep every sequence well inside the 27-bit epoch (see max_epochs).
    if (model.epoch() >= options.max_epochs) break;
    if (auto f = check()) return f;
  }

  // Drain: every outstanding permit is destroyed (ignored); then every slot
  // is back and the totals add up.
  step_index = steps.size();
  for (Slot& slot : pool) model.record(slot.model, ModelOutcome::ignored);
  pool.clear();
  if (auto f = check()) return f;
  if (real.probes_in_flight() != 0) return fail("probes still in flight after the drain");
  const Stats s = real.stats();
  if (s.total_calls != s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls)
    return fail("totals do not add up after the drain: " + describe_stats(s));
  if (counts != nullptr) {
    ++counts->sequences;
    counts->transitions += model.events().size();
  }
  return std::nullopt;
}

inline std::optional<Failure> run_sequence(const Sequence& s, const RunOptions& options = {},
                                           RunCounts* counts = nullptr) {
  return run_sequence(s.config, s.start_ns, s.steps, options, counts);
}

/// The shortest failing subsequence found by greedy removal: first cut after
/// the failing step, then try removing chunks of halving size (down to single
/// steps) and keep every removal after which the run still fails. At most
/// `max_runs` replays.
inline std::vector<Step> shrink(const Sequence& s, const RunOptions& options = {},
                                std::size_t max_runs = 20'000) {
  std::vector<Step> steps = s.steps;
  std::size_t runs = 0;
  auto fails = [&](const std::vector<Step>& candidate) {
    ++runs;
    return run_sequence(s.config, s.start_ns, candidate, options).has_value();
  };
  if (auto f = run_sequence(s.config, s.start_ns, steps, options)) {
    if (f->step < steps.size()) steps.resize(f->step + 1);
  } else {
    return steps;  // does not fail: nothing to shrink
  }
  bool changed = true;
  while (changed && runs < max_runs) {
    changed = false;
    for (std::size_t chunk = std::max<std::size_t>(1, steps.size() / 2);
         chunk >= 1 && runs < max_runs; chunk /= 2) {
      for (std::size_t i = 0; i < steps.size() && runs < max_runs;) {
        std::vector<Step> candidate;
        candidate.reserve(steps.size());
        candidate.insert(candidate.end(), steps.begin(),
                         steps.begin() + static_cast<std::ptrdiff_t>(i));
        candidate.insert(
            candidate.end(),
            steps.begin() + static_cast<std::ptrdiff_t>(std::min(steps.size(), i + chunk)),
            steps.end());
        if (!candidate.empty() && fails(candidate)) {
          steps = std::move(candidate);
          changed = true;
        } else {
          i += chunk;
        }
      }
      if (chunk == 1) break;
    }
  }
  return steps;
}

/// A readable listing of a sequence, for failure reports.
inline std::string format_sequence(const Sequence& s, const std::vector<Step>& steps,
                                   const RunOptions& options = {}) {
  std::ostringstream os;
  os << "config " << s.config_name << " " << describe(s.config) << "\n";
  os << "clock starts at " << s.start_ns << " ns\n";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    os << "  #" << i << " " << to_string(st.op) << "(a=" << st.a << ", b=" << st.b << ")";
    switch (st.op) {
      case Op::record_success:
      case Op::record_failure:
      case Op::record_ignored:
      case Op::drop:
        os << "  // permit a % outstanding";
        break;
      case Op::reset_burst:
        os << "  // (force_open(); reset()) x " << 1 + st.a % std::max<std::uint32_t>(1, options.max_burst)
           << " (capped by max_epochs)";
        break;
      case Op::advance_to_deadline:
        os << "  // if open: to the deadline "
           << (st.b % 4 == 0   ? "- 1 us"
               : st.b % 4 == 1 ? "exactly"
               : st.b % 4 == 2 ? "+ 1 us"
                               : "+ a % timeout");
        break;
      case Op::update_config:
        os << "  // " << describe(random_valid_config(st.a));
        break;
      default:
        break;
    }
    os << "\n";
  }
  if (auto f = run_sequence(s.config, s.start_ns, steps, options)) {
    os << "fails after step #" << f->step << ": " << f->message << "\n";
  } else {
    os << "(passes)\n";
  }
  return os.str();
}

}  // namespace breaker::reliability
