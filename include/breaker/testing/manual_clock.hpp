// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::testing::ManualClock`: a clock that moves only when told to.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace breaker::testing {

/// A clock for tests: `now()` starts at the epoch and changes only through
/// `advance()` or `set()`. Copies share one time, so a test keeps a copy and
/// advances the clock the breaker holds. Meets the needs of
/// `CircuitBreaker<Clock>` (a non-static `now()` is enough).
///
/// Thread safety: every member may be called concurrently from any thread; the
/// time is one atomic shared by all copies. Time never goes backwards through
/// `advance()` (negative durations are ignored); `set()` may move it anywhere.
class ManualClock {
 public:
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<ManualClock, duration>;
  static constexpr bool is_steady = true;

  /// A new clock at `time_point{}`; copies made from it share its time.
  ManualClock() : now_(std::make_shared<std::atomic<rep>>(0)) {}

  /// The current time.
  time_point now() const noexcept { return time_point{duration{now_->load(std::memory_order_acquire)}}; }

  /// Moves the time forward by `d` (a negative `d` is ignored).
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> d) noexcept {
    const auto ns = std::chrono::duration_cast<duration>(d).count();
    if (ns > 0) now_->fetch_add(ns, std::memory_order_acq_rel);
  }

  /// Sets the time.
  void set(time_point t) noexcept { now_->store(t.time_since_epoch().count(), std::memory_order_release); }

 private:
  std::shared_ptr<std::atomic<rep>> now_;
};

}  // namespace breaker::testing
