// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// What a PostgreSQL error means for a circuit breaker: pure functions on
/// SQLSTATE codes and `PostgresError`s, and `SqlStatePolicy`, the outcome
/// policy `CircuitBreakerStore` uses.

#include "breaker/postgres/error.hpp"

#include "breaker/outcome.hpp"

#include <exception>
#include <string_view>

namespace breaker::postgres {

/// Classifies a SQLSTATE (five characters, e.g. "08006").
///
/// Failures (the database, not the statement, is in trouble):
/// - class 08 connection exception,
/// - class 53 insufficient resources (disk full, out of memory, too many connections),
/// - class 57 operator intervention (admin shutdown, crash shutdown, cannot connect now,
///   query canceled, e.g. by `statement_timeout`),
/// - class 58 system error (I/O error, undefined file),
/// - class XX internal error (data corrupted, index corrupted).
///
/// Everything else is a success for the breaker: the server answered, and
/// opening the circuit would not help (class 23 constraint violations, 42
/// syntax or access rule violations, 22 data exceptions, 40 transaction
/// rollbacks such as serialization failures, 02 no data...). A malformed code
/// (not five characters) is a failure: it did not come from a healthy server.
/// Never throws.
Outcome classify_sqlstate(std::string_view sqlstate) noexcept;

/// Classifies a `PostgresError`: `connection_failed`, `connection_lost`,
/// `timeout`, `unexpected_result` are failures; `server_error` goes by
/// `classify_sqlstate`; `no_rows` and `invalid_argument` (the caller's problem)
/// are successes.
Outcome classify_error(const PostgresError& error) noexcept;

/// Classifies any exception: a `PostgresError` by `classify_error`; a
/// cancellation (`std::system_error` with `asio::error::operation_aborted`) is
/// ignored; a `breaker::CircuitBreakerError` with `errc::timeout` (the breaker's
/// own `call_timeout`) is left to the breaker (failure); anything else is a failure.
/// A null pointer is a success. Never throws.
Outcome classify_exception(const std::exception_ptr& error) noexcept;

/// The outcome policy of `CircuitBreakerStore` (see `breaker/outcome.hpp`):
/// values are successes (an empty `std::optional`, "no rows", is a success too);
/// exceptions by `classify_exception`. Copyable, stateless.
struct SqlStatePolicy {
  Outcome operator()(const std::exception_ptr& error) const noexcept { return classify_exception(error); }
};

}  // namespace breaker::postgres
