// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::FallbackContext`: why a fallback runs, passed to fallbacks that
/// take it.

#include "breaker/state.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <ostream>
#include <string_view>

namespace breaker {

/// Why the fallback was chosen.
enum class FallbackReason : std::uint8_t {
  rejected,   ///< The breaker did not admit the call (open, or half-open and full).
  failed,     ///< The operation failed: it threw a failure, or its value was classified as one.
  timed_out,  ///< The operation exceeded `call_timeout` (coroutine calls only).
};

/// The reason's name: "rejected", "failed", "timed_out".
constexpr std::string_view to_string(FallbackReason reason) noexcept {
  switch (reason) {
    case FallbackReason::rejected:
      return "rejected";
    case FallbackReason::failed:
      return "failed";
    case FallbackReason::timed_out:
      return "timed_out";
  }
  return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, FallbackReason reason) {
  return os << to_string(reason);
}

/// What a fallback taking `const FallbackContext&` is told.
///
/// Lifetimes: valid until the fallback returns, or for a coroutine fallback
/// until its awaitable completes (`breaker_name` views the breaker's name;
/// copy it to keep it longer).
struct FallbackContext {
  FallbackReason reason;     ///< Why the fallback runs.
  std::exception_ptr error;  ///< The exception when there was one: the operation's, or the
                             ///< `CircuitBreakerError(errc::timeout)`; null for `rejected` and
                             ///< for a value classified as a failure.
  std::string_view breaker_name;  ///< The breaker's name.
  State state;                    ///< The breaker's state when the fallback was chosen.
  /// The time left until the breaker's open period ends (rounded up to a
  /// millisecond) when the breaker was open when the fallback was chosen
  /// (a rejection, or a failure that opened it); empty otherwise, and for a
  /// forced-open breaker (see `CircuitBreakerError::retry_after`).
  std::optional<std::chrono::milliseconds> retry_after{};
};

}  // namespace breaker
