// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::postgres::Connection`: an asynchronous PostgreSQL connection for
/// Asio coroutines on libpq's non-blocking API, with `Result` and
/// `ConnectionConfig`.

#include "breaker/postgres/error.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/strand.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace breaker::postgres {

/// Where and how to connect. A plain aggregate; `validate()` checks it.
struct ConnectionConfig {
  /// Numeric IPv4 or IPv6 address of the server (libpq's `hostaddr`, so the
  /// connect never resolves a name on the io thread). Must not be empty.
  std::string hostaddr = "127.0.0.1";
  /// TCP port, 1..65535.
  std::uint16_t port = 5432;
  /// Role name (empty: libpq's default, the OS user name).
  std::string user;
  /// Password (empty: none).
  std::string password;
  /// Database name (empty: same as the user).
  std::string dbname;
  /// Reported in `pg_stat_activity`.
  std::string application_name = "breaker";
  /// libpq `sslmode` ("disable", "allow", "prefer", "require", ...).
  std::string sslmode = "prefer";
  /// Longest time a connection attempt may take; > 0, at most one day.
  std::chrono::milliseconds connect_timeout{5'000};
  /// Longest time a query may take, including its wait for the connection and,
  /// when it has to connect first, the connect; 0 means no limit; at most one day.
  std::chrono::milliseconds query_timeout{30'000};

  /// Checks every field; returns `errc::invalid_argument` for the first bad one
  /// and, when `message` is not null, a sentence naming it.
  std::error_code validate(std::string* message = nullptr) const;
};

/// One query parameter in text format; `std::nullopt` is SQL NULL.
using Param = std::optional<std::string>;

/// Converts a value to a `Param`: strings as they are, integers and floating
/// point numbers in decimal, `bool` as "true"/"false", `std::nullopt` as NULL.
inline Param param(std::string_view s) { return std::string(s); }
inline Param param(const char* s) { return s ? Param(std::string(s)) : std::nullopt; }
inline Param param(std::string s) { return Param(std::move(s)); }
inline Param param(std::nullopt_t) { return std::nullopt; }
inline Param param(bool b) { return std::string(b ? "true" : "false"); }
template <class T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>)
Param param(T v) {
  return std::to_string(v);
}
template <class T>
Param param(const std::optional<T>& v) {
  return v ? param(*v) : std::nullopt;
}

/// The rows of a finished statement, copied out of libpq (a `Result` owns its
/// data and is an ordinary value: copyable, movable, usable on any thread).
class Result {
 public:
  Result() = default;

  /// Number of rows (0 for statements that return none).
  std::size_t rows() const noexcept { return rows_; }
  /// Number of columns.
  std::size_t columns() const noexcept { return names_.size(); }
  /// The name of column `column`. \throws std::out_of_range.
  const std::string& column_name(std::size_t column) const;
  /// The index of the column called `name`. \throws std::out_of_range when none is.
  std::size_t column_index(std::string_view name) const;
  /// Whether the value at (`row`, `column`) is NULL. \throws std::out_of_range.
  bool is_null(std::size_t row, std::size_t column) const;
  /// The value at (`row`, `column`) in text format, or `std::nullopt` for NULL.
  /// \throws std::out_of_range.
  std::optional<std::string> get(std::size_t row, std::size_t column) const;
  /// Same, by column name. \throws std::out_of_range.
  std::optional<std::string> get(std::size_t row, std::string_view column) const;
  /// Rows affected by INSERT/UPDATE/DELETE/SELECT... (libpq's `PQcmdTuples`; 0 when none).
  std::uint64_t affected_rows() const noexcept { return affected_rows_; }
  /// The command tag, e.g. "INSERT 0 1".
  const std::string& command_tag() const noexcept { return command_tag_; }

 private:
  friend struct ResultBuilder;
  std::size_t rows_ = 0;
  std::vector<std::string> names_;
  std::vector<std::optional<std::string>> values_;  // row-major
  std::uint64_t affected_rows_ = 0;
  std::string command_tag_;
};

/// An asynchronous PostgreSQL connection.
///
/// The connection is made on first use (or by `connect()`) and made again by
/// the next operation after it broke, timed out or was closed; a failed query is
/// never retried by the connection itself (retrying is the caller's or the
/// breaker's decision). `connection_attempts()` counts the connects begun.
///
/// Queries are parameterised only (`$1`, `$2`, ... with `Param`s, sent with
/// `PQsendQueryParams`), one statement per call.
///
/// Thread safety: every member may be called from any thread, and operations
/// may be started from coroutines on any executor, including a multi-threaded
/// `io_context`: the connection runs all its work on a strand it owns and
/// resumes the caller on the caller's executor. A connection runs one query at
/// a time; queries started while one is running wait in FIFO order (the wait
/// counts towards their `query_timeout`). For parallel queries use several
/// connections.
///
/// Timeouts: on `connect_timeout` / `query_timeout` the operation fails with
/// `errc::timeout` and the connection is closed (libpq 15 has no non-blocking
/// cancel; the server notices the closed socket), so the next operation connects
/// anew.
///
/// Cancellation: an operation supports cancellation through the awaiting
/// coroutine's cancellation slot (terminal: the connection is closed when a
/// query was under way) and fails with `std::system_error(asio::error::operation_aborted)`.
///
/// Lifetime: the `Connection` object may be destroyed while operations are
/// outstanding; its state is shared with them and freed after the last one
/// finished. Destroying it closes the connection.
class Connection {
 public:
  using executor_type = asio::strand<asio::any_io_executor>;

  /// A closed connection. \throws PostgresError(errc::invalid_argument) when
  /// `config` is invalid (the message names the field).
  Connection(asio::any_io_executor executor, ConnectionConfig config);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects (or does nothing when connected).
  /// \throws PostgresError(`connection_failed` or `timeout`); `std::system_error`
  ///   with `operation_aborted` when cancelled.
  asio::awaitable<void> connect();

  /// Runs one parameterised statement and returns its rows.
  /// \param sql one SQL statement with `$n` placeholders.
  /// \param params the values of `$1`, `$2`, ... in order (at most 65535).
  /// \throws PostgresError: `server_error` with the SQLSTATE for an error the
  ///   server reported, `connection_failed`, `connection_lost`, `timeout`,
  ///   `invalid_argument`, `unexpected_result`; `std::system_error` with
  ///   `operation_aborted` when cancelled.
  asio::awaitable<Result> query(std::string sql, std::vector<Param> params = {});

  /// `query` with the parameters converted by `param()`: `co_await c.execute("... $1 $2", 7, "x")`.
  template <class... Args>
  asio::awaitable<Result> execute(std::string sql, const Args&... args) {
    std::vector<Param> params;
    params.reserve(sizeof...(Args));
    (params.push_back(param(args)), ...);
    return query(std::move(sql), std::move(params));
  }

  /// Closes the connection (asynchronously, on the strand). A query under way
  /// fails with `errc::connection_lost`. The next operation connects again.
  void close();

  /// Whether the connection is currently established (a snapshot).
  bool is_connected() const noexcept;
  /// Connection attempts begun so far (each `PQconnectStart`).
  std::uint64_t connection_attempts() const noexcept;
  /// The strand all of the connection's work runs on.
  executor_type get_executor() const noexcept;
  /// The config given at construction.
  const ConnectionConfig& config() const noexcept;

  struct Impl;  // in src/postgres/connection.cpp

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace breaker::postgres
