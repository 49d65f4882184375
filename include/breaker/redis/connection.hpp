// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::redis::Connection`: an asynchronous Redis client for Asio
/// coroutines on hiredis' async API (hiredis parses the protocol; this file's
/// adapter drives hiredis' socket through Asio), with its reply type `Value`.

#include "breaker/redis/error.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace breaker::redis {

/// Where and how to connect. A plain aggregate; `validate()` checks it.
struct ConnectionConfig {
  /// Numeric IPv4 or IPv6 address of the server (no name lookup on the io thread).
  std::string host = "127.0.0.1";
  /// TCP port, 1..65535.
  std::uint16_t port = 6379;
  /// Longest time to establish a connection; > 0, at most one day.
  std::chrono::milliseconds connect_timeout{2'000};
  /// Longest time a command may wait for its reply (including the connect when
  /// one is needed); 0 means no limit; at most one day.
  std::chrono::milliseconds command_timeout{1'000};

  /// Checks every field; returns `errc::invalid_argument` for the first bad one
  /// and, when `message` is not null, a sentence naming it.
  std::error_code validate(std::string* message = nullptr) const;
};

/// A Redis reply (converted from hiredis' `redisReply`; error replies are
/// thrown as `RedisError(errc::server_error)` instead). An ordinary value type.
class Value {
 public:
  enum class Type : std::uint8_t { nil, string, status, integer, array };

  /// Nil.
  Value() = default;
  static Value string(std::string s) { return Value(Type::string, std::move(s)); }
  static Value status(std::string s) { return Value(Type::status, std::move(s)); }
  static Value integer(std::int64_t i) {
    Value v;
    v.type_ = Type::integer;
    v.integer_ = i;
    return v;
  }
  static Value array(std::vector<Value> elements) {
    Value v;
    v.type_ = Type::array;
    v.elements_ = std::move(elements);
    return v;
  }

  Type type() const noexcept { return type_; }
  bool is_nil() const noexcept { return type_ == Type::nil; }
  /// The text of a string or status reply. \throws RedisError(unexpected_reply) otherwise.
  const std::string& str() const;
  /// An integer reply. \throws RedisError(unexpected_reply) otherwise.
  std::int64_t as_integer() const;
  /// The elements of an array reply. \throws RedisError(unexpected_reply) otherwise.
  const std::vector<Value>& elements() const;
  /// Nil as `std::nullopt`, a string as its text. \throws RedisError(unexpected_reply) otherwise.
  std::optional<std::string> as_optional_string() const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  Value(Type t, std::string s) : type_(t), text_(std::move(s)) {}
  Type type_ = Type::nil;
  std::string text_;
  std::int64_t integer_ = 0;
  std::vector<Value> elements_;
};

/// An asynchronous Redis connection.
///
/// Connects on first use and again on the next command after the connection
/// broke (server shut down, timeout, `close()`): after the server comes back,
/// the next command reconnects. A failed command is never retried by the
/// connection. `connection_attempts()` counts the connects begun.
///
/// An idle connection keeps no operation pending on the io_context (so
/// `io_context::run()` returns once the work is done); a connection that broke
/// while idle is noticed by the next command, which then fails with
/// `connection_lost` (the one after it reconnects). Pub/sub is not supported.
///
/// Commands are pipelined: several may be in flight; replies come back in order
/// (hiredis matches them). Arguments are binary-safe (`redisAsyncCommandArgv`).
///
/// Timeouts run on Asio timers: when a command's reply does not arrive within
/// `command_timeout`, it fails with `errc::timeout` and the connection is closed
/// (hiredis cannot drop a single pending reply), which fails the other commands
/// in flight on it with `errc::connection_lost`.
///
/// Thread safety: every member may be called from any thread and commands may be
/// awaited from coroutines on any executor, including a multi-threaded
/// `io_context`: all hiredis calls run on a strand the connection owns.
///
/// Cancellation: a command awaited with a cancellation slot fails with
/// `std::system_error(asio::error::operation_aborted)` when cancelled; its reply,
/// if it comes, is discarded; the connection stays usable.
///
/// Lifetime: the object may be destroyed with commands outstanding (they fail
/// with `connection_lost`); it must be destroyed before its io_context.
class Connection {
 public:
  using executor_type = asio::strand<asio::any_io_executor>;

  /// \throws RedisError(errc::invalid_argument) when `config` is invalid.
  Connection(asio::any_io_executor executor, ConnectionConfig config);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Sends one command (`args[0]` is the command name) and returns its reply.
  /// \throws RedisError: `server_error` for an error reply, `connection_failed`,
  ///   `connection_lost`, `timeout`, `invalid_argument` (empty `args`);
  ///   `std::system_error(operation_aborted)` when cancelled.
  asio::awaitable<Value> command(std::vector<std::string> args);

  /// `command` with each argument converted to text (strings as they are, numbers in decimal).
  template <class... Args>
  asio::awaitable<Value> execute(std::string name, const Args&... args) {
    std::vector<std::string> argv;
    argv.reserve(1 + sizeof...(Args));
    argv.push_back(std::move(name));
    (argv.push_back(to_arg(args)), ...);
    return command(std::move(argv));
  }

  /// GET: the value, or `std::nullopt` on a miss.
  asio::awaitable<std::optional<std::string>> get(std::string key);
  /// SET, with an expiry (PX) when `ttl` > 0.
  asio::awaitable<void> set(std::string key, std::string value,
                            std::chrono::milliseconds ttl = std::chrono::milliseconds(0));
  /// DEL: how many keys were removed.
  asio::awaitable<std::int64_t> del(std::string key);

  /// Closes the connection (on the strand); commands in flight fail with
  /// `connection_lost`; the next command connects again.
  void close();
  /// Whether a connection is established (a snapshot).
  bool is_connected() const noexcept;
  /// Connection attempts begun so far.
  std::uint64_t connection_attempts() const noexcept;
  /// The strand all hiredis work runs on.
  executor_type get_executor() const noexcept;

  struct Impl;  // src/redis/connection.cpp

 private:
  static std::string to_arg(std::string_view s) { return std::string(s); }
  static std::string to_arg(const std::string& s) { return s; }
  static std::string to_arg(const char* s) { return std::string(s); }
  template <class T>
    requires std::is_arithmetic_v<T>
  static std::string to_arg(T v) {
    return std::to_string(v);
  }

  std::shared_ptr<Impl> impl_;
};

}  // namespace breaker::redis
