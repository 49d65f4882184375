// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The states of a circuit breaker.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string_view>

namespace breaker {

/// The state of a circuit breaker. The numeric values are the ones exported by
/// the `circuit_breaker_state` gauge.
enum class State : std::uint8_t {
  closed = 0,     ///< Calls pass through; failures are counted.
  open = 1,       ///< Calls are rejected at once.
  half_open = 2,  ///< A limited number of probe calls test the dependency.
  /// Entered only by `disable()`: every call is admitted, only the totals
  /// are recorded (no consecutive counts, no durations, no windows), nothing
  /// trips. Left by `reset()` (or another manual transition).
  disabled = 3,
  /// Entered only by `metrics_only()`: every call is admitted and recorded
  /// (counts, durations, windows) as in closed, but nothing ever trips. Left
  /// by `reset()` (or another manual transition).
  metrics_only = 4,
};

/// Number of `State` values (for tables indexed by state).
inline constexpr std::size_t state_count = 5;

/// `"closed"`, `"open"`, `"half-open"`, `"disabled"` or `"metrics-only"`.
/// Thread safety: any thread.
std::string_view to_string(State state) noexcept;

/// Writes `to_string(state)`.
std::ostream& operator<<(std::ostream& os, State state);

}  // namespace breaker
