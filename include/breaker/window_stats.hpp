// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `WindowStats`: what a breaker's sliding window holds now
/// (`CircuitBreaker::window_stats()`).

#include <cstdint>

namespace breaker {

/// A snapshot of the sliding window of the current closed period (the
/// failure-rate policy and the slow-call rule decide on it). A slow failure
/// counts in both `failures` and `slow_calls`. Exact once concurrent calls
/// have finished; while they run it may lag them.
struct WindowStats {
  std::uint64_t calls = 0;       ///< outcomes in the window (successes + failures)
  std::uint64_t failures = 0;    ///< failures in the window
  std::uint64_t slow_calls = 0;  ///< slow calls (successes or failures) in the window
  double failure_rate = 0.0;     ///< failures / calls, percent (0 when empty)
  double slow_call_rate = 0.0;   ///< slow_calls / calls, percent (0 when empty)

  friend bool operator==(const WindowStats&, const WindowStats&) = default;
};

}  // namespace breaker
