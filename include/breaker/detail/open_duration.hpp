// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The length of an open period (`open_duration_policy`, backoff and jitter)
/// as a pure function, and the breaker's lock-free jitter generator.
///
/// Nothing here reads a clock or the state word: the breaker asks for the
/// duration of the open period it has just started (cold path: once per
/// opening) and publishes its end through `detail/open_deadline.hpp`.

#include "breaker/config.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>

namespace breaker::detail {

/// splitmix64's output function (Steele, Lea, Flood 2014).
constexpr std::uint64_t splitmix64_mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// A seedable, lock-free random generator: splitmix64 whose state is one
/// atomic. Each `next()` is one relaxed `fetch_add` (distinct callers get
/// distinct numbers) and a mix. Thread safety: any thread.
///
/// `Atom` is the atomic template holding the state (`std::atomic` in the
/// library; the Relacy checks in `tests/relacy/` pass an adapter over
/// `rl::atomic`, and check that concurrent openers draw distinct numbers of
/// the seed's sequence).
template <template <class> class Atom = std::atomic>
class BasicJitterGenerator {
 public:
  static constexpr std::uint64_t gamma = 0x9E3779B97F4A7C15ULL;

  explicit BasicJitterGenerator(std::uint64_t seed = 0) noexcept : state_(seed) {}

  /// The next number of the sequence of `seed`.
  std::uint64_t next() noexcept {
    // relaxed: only atomicity matters; nothing else is published through it.
    return splitmix64_mix(state_.fetch_add(gamma, std::memory_order_relaxed) + gamma);
  }

  /// Restarts the sequence of `seed`.
  void reseed(std::uint64_t seed) noexcept { state_.store(seed, std::memory_order_relaxed); }

 private:
  Atom<std::uint64_t> state_;
};

/// The library's generator.
using JitterGenerator = BasicJitterGenerator<>;

/// A uniform double in [0, 1) from 64 random bits (their top 53).
constexpr double unit_interval(std::uint64_t random) noexcept {
  return static_cast<double>(random >> 11) * (1.0 / 9007199254740992.0);
}

/// The open duration before jitter: `timeout_duration` (fixed), or
/// `timeout_duration * backoff_multiplier^level` capped at
/// `max_open_duration` (exponential_backoff). In nanoseconds, as a double.
inline double base_open_nanos(const CircuitBreakerConfig& c, std::uint32_t level) noexcept {
  const double base = static_cast<double>(c.timeout_duration.count()) * 1e6;
  if (c.open_duration_policy != OpenDurationPolicy::exponential_backoff) return base;
  const double cap = static_cast<double>(c.max_open_duration.count()) * 1e6;
  // pow of a multiplier > 1: grows without bound (to +inf) and is capped.
  const double grown = base * std::pow(c.backoff_multiplier, static_cast<double>(level));
  return std::min(grown, cap);
}

/// The length of an open period at backoff `level`, with the config's
/// jitter drawn from `random` (64 random bits; unused without jitter).
/// Bounds, with d = base_open_nanos(c, level):
///  - none: exactly d;
///  - full: in [0, d];
///  - proportional: in [d (1 - r), d (1 + r)], r = jitter_ratio;
///  - under exponential_backoff d is at most `max_open_duration` and so is
///    the jittered value (capped again): [cap (1 - r), cap] once the cap is
///    reached; never above `CircuitBreakerConfig::max_duration`.
/// The draw is uniform over [0, d) (resp. [d (1 - r), d (1 + r))) and then
/// rounded up to a whole microsecond, which closes the upper bound.
inline std::chrono::microseconds open_duration(const CircuitBreakerConfig& c, std::uint32_t level,
                                               std::uint64_t random) noexcept {
  const double d = base_open_nanos(c, level);
  double j = d;
  switch (c.open_duration_jitter) {
    case Jitter::none:
      break;
    case Jitter::full:
      j = d * unit_interval(random);
      break;
    case Jitter::proportional:
      j = d * (1.0 + c.jitter_ratio * (2.0 * unit_interval(random) - 1.0));
      break;
  }
  if (c.open_duration_policy == OpenDurationPolicy::exponential_backoff) {
    j = std::min(j, static_cast<double>(c.max_open_duration.count()) * 1e6);
  }
  j = std::clamp(j, 0.0, static_cast<double>(CircuitBreakerConfig::max_duration.count()) * 1e6);
  return std::chrono::microseconds{static_cast<std::chrono::microseconds::rep>(std::ceil(j / 1e3))};
}

/// The end of the breaker's own open period (the config's policy, backoff
/// and jitter) that starts at `t` at backoff `level`, in the clock unit
/// `Duration` (rounded up: never shorter than the policy's length). Draws one
/// number from `jitter` only when the config jitters. The fixed policy
/// without jitter is `timeout_duration` exactly. Cold: once per opening.
template <class Duration, class TimePoint, class Generator>
TimePoint open_period_end(const CircuitBreakerConfig& c, TimePoint t, std::uint32_t level,
                          Generator& jitter) noexcept {
  if (c.open_duration_policy == OpenDurationPolicy::fixed && c.open_duration_jitter == Jitter::none) {
    return t + std::chrono::ceil<Duration>(c.timeout_duration);
  }
  const std::uint64_t random = c.open_duration_jitter == Jitter::none ? 0 : jitter.next();
  return t + std::chrono::ceil<Duration>(open_duration(c, level, random));
}

}  // namespace breaker::detail
