// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Error codes of the `breaker::notify` component.

#include <system_error>
#include <type_traits>

namespace breaker::notify {

/// Error conditions of the notify component, as `std::error_code` values of
/// `breaker::notify::error_category()` (name `"breaker.notify"`). Values start at 1.
enum class errc {
  /// An `Incident` misses a required field or has one out of range; the message names it.
  invalid_incident = 1,
  /// A sender or notifier option is invalid (empty URL, no recipient, zero capacity...);
  /// the message names the field.
  invalid_config,
  /// A spool file holds a record that cannot be read (other than a torn last record,
  /// which is dropped and counted); the message names the file and the line.
  spool_corrupt,
  /// Another notifier (in this or another process) holds the spool file's lock.
  spool_locked,
  /// The retry queue is full and the overflow rule refused the new notification.
  queue_full,
  /// The notifier was stopped (destroyed) before the notification's first attempt.
  stopped,
};

/// The category of `errc`. One object per process (defined in the compiled component).
/// Thread safety: any thread.
const std::error_category& error_category() noexcept;

/// Makes a `std::error_code` of `breaker::notify::error_category()`.
std::error_code make_error_code(errc e) noexcept;

}  // namespace breaker::notify

template <>
struct std::is_error_code_enum<breaker::notify::errc> : std::true_type {};
