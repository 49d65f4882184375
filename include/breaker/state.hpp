// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The three states of a circuit breaker.

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
};

/// `"closed"`, `"open"` or `"half-open"`. Thread safety: any thread.
std::string_view to_string(State state) noexcept;

/// Writes `to_string(state)`.
std::ostream& operator<<(std::ostream& os, State state);

}  // namespace breaker
