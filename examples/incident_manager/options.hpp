// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The incident-manager demo's command line: `parse_options` turns argv into `DemoOptions`, or
/// into a message for the user (exit code 2), or a request for `--help`. Pure: no I/O.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace incident_manager {

/// What the demo was asked to do.
struct DemoOptions {
  /// TCP port of the demo's own HTTP server on 127.0.0.1 (0: a free port, printed at start).
  std::uint16_t port = 0;
  /// How long the demo runs before it prints its summary and exits.
  std::chrono::milliseconds duration{30'000};
  /// PostgreSQL connection string for the incident store; empty: the in-memory store.
  std::string postgres_url;
  /// Redis URL (redis://127.0.0.1:PORT) for the cache; empty: the in-memory cache.
  std::string redis_url;
  /// Live view in the terminal: `auto` redraws in place on a TTY and prints plain lines
  /// otherwise; `plain` always prints lines; `off` prints only transitions and the summary.
  enum class View { automatic, plain, off } view = View::automatic;
  /// Seed of the sentinel's alerts (which service, problem, severity; the schedule is fixed).
  std::uint64_t seed = 1;
};

/// `--help` was asked for.
struct HelpRequested {};
/// The command line was wrong; `message` says why (print it with the usage, exit 2).
struct UsageError {
  std::string message;
};

using ParseResult = std::variant<DemoOptions, HelpRequested, UsageError>;

/// Parses "30s", "1500ms", "2m", "1m30s" (a sequence of number + unit, units ms, s, m, h).
/// Returns nothing for an empty, malformed, zero or over-24-hour duration.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Parses the arguments after the program name. Accepts `--flag value` and `--flag=value`.
ParseResult parse_options(const std::vector<std::string>& args);

/// The text of `--help`: every flag with its default.
std::string usage(std::string_view program);

}  // namespace incident_manager
