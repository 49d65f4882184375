// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Errors of the `breaker::redis` component: `breaker::redis::errc`, its
/// category, and `RedisError`.

#include <string>
#include <system_error>
#include <type_traits>

namespace breaker::redis {

/// What went wrong in a Redis command, as `std::error_code` values of
/// `breaker::redis::error_category()` (name `"breaker.redis"`). Values start at 1.
enum class errc {
  /// No connection could be established (refused, reset, unreachable).
  connection_failed = 1,
  /// The connection broke before the reply arrived (server shut down or killed,
  /// connection closed by `close()` or by another command's timeout).
  connection_lost,
  /// The server answered with an error reply (`RedisError::server_message()`,
  /// e.g. "WRONGTYPE Operation against a key holding the wrong kind of value").
  server_error,
  /// No reply within `ConnectionConfig::command_timeout` (or no connection
  /// within `connect_timeout`). The connection is closed.
  timeout,
  /// The reply had a type the caller did not expect (e.g. `Value::str()` of an integer).
  unexpected_reply,
  /// Rejected before anything was sent (empty command, invalid config field).
  invalid_argument,
};

/// The category of `breaker::redis::errc`. One object per process. Thread safe.
const std::error_category& error_category() noexcept;

/// Makes a `std::error_code` of `breaker::redis::error_category()`.
std::error_code make_error_code(errc e) noexcept;

/// The exception thrown by `breaker::redis::Connection` and `Value`.
class RedisError : public std::system_error {
 public:
  RedisError(errc code, std::string message);

  /// `code()` as a `breaker::redis::errc`.
  errc error() const noexcept { return static_cast<errc>(code().value()); }
  /// The server's error reply, or the client-side description.
  const std::string& server_message() const noexcept { return message_; }

 private:
  std::string message_;
};

}  // namespace breaker::redis

template <>
struct std::is_error_code_enum<breaker::redis::errc> : std::true_type {};
