// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Error codes and the exception type of breaker.

#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

namespace breaker {

/// Error conditions reported by breaker, as `std::error_code` values of
/// `breaker::error_category()`. Values start at 1 so that 0 stays "no error".
enum class errc {
  /// The circuit is open (or half-open with every probe slot taken): the call
  /// was rejected without running the operation.
  open = 1,
  /// The protected operation failed (used by adapters that report failures as
  /// error codes rather than exceptions).
  operation_failed,
  /// The operation did not finish within `CircuitBreakerConfig::call_timeout`.
  timeout,
  /// A configuration value is out of range; the message names the field.
  invalid_config,
  /// No circuit breaker with the requested name exists in the registry.
  not_found,
  /// A registry already holds a breaker of that name, and the request cannot
  /// be served by it (`get_or_create` with a conflicting config, or `add`); the
  /// message names the breaker (and, for a config, the first differing field).
  already_exists,
};

/// The category of `breaker::errc`; `name()` is `"breaker"`. One object per
/// process (defined in the compiled library), so categories compare by address.
/// Thread safety: safe to call from any thread.
const std::error_category& error_category() noexcept;

/// Makes a `std::error_code` of `breaker::error_category()`.
std::error_code make_error_code(errc e) noexcept;

/// The exception thrown by breaker. `code()` is one of `breaker::errc`;
/// `breaker_name()` is the name of the breaker concerned (empty where no breaker
/// is concerned, e.g. a config builder error).
/// Exceptions thrown by the protected operation are never wrapped in this type:
/// they reach the caller unchanged.
class CircuitBreakerError : public std::system_error {
 public:
  /// \param code one of `errc`.
  /// \param breaker_name the breaker concerned, or empty.
  /// \param detail extra text appended to the message (may be empty).
  /// Allocates at most twice (the name when longer than the small-string
  /// buffer, and the `what()` text), so a throwing rejection stays cheap.
  CircuitBreakerError(errc code, std::string breaker_name, const std::string& detail = {});

  /// A rejection (`errc::open`) carrying the time left open.
  /// \param retry_after the time until the breaker's open period ends
  ///   (rounded up to a millisecond); empty when no open period ends by
  ///   itself (half-open with every probe slot taken, `force_open()`).
  CircuitBreakerError(errc code, std::string breaker_name, const std::string& detail,
                      std::optional<std::chrono::milliseconds> retry_after);

  /// "circuit breaker 'NAME': DETAIL: MESSAGE" (the parts that are empty are
  /// left out with their separator, as `std::system_error` composes it).
  const char* what() const noexcept override { return what_.c_str(); }

  /// The breaker concerned by the error (may be empty).
  const std::string& breaker_name() const noexcept { return breaker_name_; }

  /// `code()` as a `breaker::errc`.
  errc error() const noexcept { return static_cast<errc>(code().value()); }

  /// For a rejection: the time left until the breaker's open period ends
  /// (when a call may be admitted as a probe), rounded up to a millisecond,
  /// e.g. for an HTTP `Retry-After`. Empty for other errors and for
  /// rejections that no open period explains (half-open with every probe slot
  /// taken, forced open).
  std::optional<std::chrono::milliseconds> retry_after() const noexcept { return retry_after_; }

 private:
  std::string breaker_name_;
  std::string what_;
  std::optional<std::chrono::milliseconds> retry_after_;
};

}  // namespace breaker

template <>
struct std::is_error_code_enum<breaker::errc> : std::true_type {};
