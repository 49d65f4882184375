// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::Outcome`: what an admitted call counts as.

#include <asio/error.hpp>

#include <cstdint>
#include <exception>
#include <system_error>

namespace breaker {

/// What an admitted call counts as: a success, a failure, or neither
/// (`ignored`, e.g. a cancellation).
enum class Outcome : std::uint8_t { success, failure, ignored };

namespace detail {

/// The name the state-word rules use.
using Outcome = breaker::Outcome;

/// Whether `code` means the operation was cancelled (ignored, not a failure).
inline bool is_cancellation(const std::error_code& code) noexcept {
  return code == asio::error::operation_aborted;
}

/// Whether `error` is a cancellation: a `std::system_error` carrying
/// `asio::error::operation_aborted`.
inline bool is_cancelled(const std::exception_ptr& error) noexcept {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    return is_cancellation(e.code());
  } catch (...) {
  }
  return false;
}

}  // namespace detail
}  // namespace breaker
