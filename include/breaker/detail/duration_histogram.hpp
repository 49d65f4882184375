// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Lock-free histogram of call durations (Prometheus bucket layout).

#include "breaker/stats.hpp"

#include <array>
#include <atomic>
#include <cstdint>

namespace breaker::detail {

class DurationHistogram {
 public:
  /// Bucket upper bounds in nanoseconds, matching `CallDurations::bucket_bounds`.
  static constexpr std::array<std::int64_t, 14> bounds_ns{
      1'000'000,   5'000'000,     10'000'000,    25'000'000,    50'000'000,
      100'000'000, 250'000'000,   500'000'000,   1'000'000'000, 2'500'000'000,
      5'000'000'000, 10'000'000'000, 30'000'000'000, 60'000'000'000};

  void record(std::int64_t ns) noexcept {
    if (ns < 0) ns = 0;
    std::size_t i = 0;
    while (i < bounds_ns.size() && ns > bounds_ns[i]) ++i;  // le: value <= bound
    // Relaxed: independent counters; readers only need each value to be atomic.
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  }

  CallDurations snapshot() const noexcept {
    CallDurations out;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      out.bucket_counts[i] = buckets_[i].load(std::memory_order_relaxed);
      out.count += out.bucket_counts[i];
    }
    out.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, 15> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace breaker::detail
