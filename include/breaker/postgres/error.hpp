// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Errors of the `breaker::postgres` component: `breaker::postgres::errc`, its
/// category, and `PostgresError`, which carries the server's SQLSTATE.

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace breaker::postgres {

/// What went wrong in a PostgreSQL operation, as `std::error_code` values of
/// `breaker::postgres::error_category()` (name `"breaker.postgres"`).
/// Values start at 1 so that 0 stays "no error".
enum class errc {
  /// No connection could be established (refused, reset during start-up,
  /// authentication failed, bad host address). SQLSTATE is the server's when it
  /// sent one, else "08001".
  connection_failed = 1,
  /// The connection broke while a query was under way (server stopped, killed,
  /// network reset). SQLSTATE is the server's when it sent one, else "08006".
  connection_lost,
  /// The server reported an error for the statement; `PostgresError::sqlstate()`
  /// says which (e.g. "23505" unique violation, "42601" syntax error).
  server_error,
  /// The operation did not finish within its timeout (`ConnectionConfig::
  /// connect_timeout` or `query_timeout`). The connection is closed.
  timeout,
  /// A statement expected to return a row returned none (used by stores).
  no_rows,
  /// A value from the caller was rejected before anything was sent (e.g. an
  /// invalid `ConnectionConfig` field, an SQL text with a NUL byte, too many
  /// parameters); the message says which.
  invalid_argument,
  /// The server returned a result libpq could not interpret (e.g. COPY, which
  /// this client does not support).
  unexpected_result,
};

/// The category of `breaker::postgres::errc`. One object per process.
/// Thread safety: safe from any thread.
const std::error_category& error_category() noexcept;

/// Makes a `std::error_code` of `breaker::postgres::error_category()`.
std::error_code make_error_code(errc e) noexcept;

/// The exception thrown by `breaker::postgres::Connection`. `code()` is one of
/// `breaker::postgres::errc`; `sqlstate()` is the five-character SQLSTATE
/// (the server's, or a client-side one for connection problems: "08001" could
/// not connect, "08006" connection lost; empty for timeouts and argument errors);
/// `server_message()` is the server's primary message when there was one.
class PostgresError : public std::system_error {
 public:
  PostgresError(errc code, std::string sqlstate, std::string message);

  /// The SQLSTATE, or empty.
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  /// `code()` as a `breaker::postgres::errc`.
  errc error() const noexcept { return static_cast<errc>(code().value()); }
  /// The message without the category prefix.
  const std::string& server_message() const noexcept { return message_; }

 private:
  std::string sqlstate_;
  std::string message_;
};

}  // namespace breaker::postgres

template <>
struct std::is_error_code_enum<breaker::postgres::errc> : std::true_type {};
