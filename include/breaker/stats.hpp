// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `Stats` and `CallDurations`: snapshots of a breaker's counts.

#include "breaker/state.hpp"

#include <array>
#include <cstdint>

namespace breaker {

/// A snapshot of a breaker. Counts are read one by one without a lock: while
/// calls are in flight they may be mutually inconsistent; once every call has
/// finished, `total_calls == successful_calls + failed_calls + ignored_calls +
/// rejected_calls` (total counts admissions and rejections as they happen,
/// the others count outcomes as they are recorded).
struct Stats {
  State state;                        ///< As `state()` reports it.
  std::uint32_t consecutive_failures;   ///< Closed: current run of failures; open: the run that opened it.
  std::uint32_t consecutive_successes;  ///< Half-open: successful probes so far.
  std::uint64_t total_calls;            ///< Admitted plus rejected calls.
  std::uint64_t successful_calls;
  std::uint64_t failed_calls;
  std::uint64_t rejected_calls;
  std::uint64_t ignored_calls;          ///< Cancelled, timed out when not counted, or recorded as ignored.

  friend bool operator==(const Stats&, const Stats&) = default;
};

/// The call-duration histogram of a breaker, in the Prometheus bucket layout.
struct CallDurations {
  /// Upper bounds (seconds) of the finite buckets.
  static constexpr std::array<double, 14> bucket_bounds{0.001, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,   0.25,  0.5,  1,     2.5,
                                                        5,     10,    30,   60};
  /// Calls per bucket, NOT cumulative; the last entry is the +Inf bucket.
  std::array<std::uint64_t, 15> bucket_counts{};
  std::uint64_t count = 0;   ///< Sum of `bucket_counts`.
  double sum_seconds = 0;    ///< Total recorded time.
};

}  // namespace breaker
