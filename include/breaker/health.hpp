// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `HealthReport` and the JSON a health endpoint serves: `to_json` of a report
/// or of per-breaker stats, and `json_escape` for names inside JSON strings.

#include "breaker/stats.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace breaker {

/// How many breakers of a registry are in each state, as seen by
/// `BasicRegistry::health_check()`. An open breaker whose open period is over
/// counts as half-open (it admits probes); a disabled or metrics-only breaker
/// counts as closed (it admits every call).
struct HealthReport {
  std::size_t total_breakers = 0;  ///< Breakers in the registry.
  std::size_t closed = 0;          ///< Breakers that are closed (or disabled, or metrics-only).
  std::size_t open = 0;            ///< Breakers that reject every call.
  std::size_t half_open = 0;       ///< Breakers admitting probe calls.
  bool healthy = true;             ///< `open == 0`.

  friend bool operator==(const HealthReport&, const HealthReport&) = default;
};

/// The report as compact JSON (no spaces), in this exact shape:
/// `{"status":"healthy"|"degraded","circuit_breakers":{"total":T,"closed":C,"open":O,"half_open":H}}`.
/// `status` is `"healthy"` when `report.healthy`, else `"degraded"`.
/// Thread safety: a pure function. Throws only `std::bad_alloc`.
std::string to_json(const HealthReport& report);

/// Per-breaker stats (as returned by `BasicRegistry::get_all_stats()`) as
/// compact JSON: one member per breaker, in map order, e.g.
/// `{"db":{"state":"open","consecutive_failures":5,"consecutive_successes":0,"total_calls":12,"successful_calls":4,"failed_calls":5,"rejected_calls":3,"ignored_calls":0}}`.
/// Names are escaped with `json_escape`. `state` is `to_string(State)`.
/// Thread safety: a pure function. Throws only `std::bad_alloc`.
std::string to_json(const std::map<std::string, Stats, std::less<>>& stats);

/// `text` escaped for use between the quotes of a JSON string: `"` -> `\"`,
/// `\` -> `\\`, newline -> `\n`, every other control character (U+0000..U+001F)
/// -> `\u00XX`. Well-formed UTF-8 is copied unchanged; each byte that is not part
/// of a well-formed UTF-8 sequence becomes `\ufffd` (so the result is always
/// valid JSON). Thread safety: a pure function. Throws only `std::bad_alloc`.
std::string json_escape(std::string_view text);

}  // namespace breaker
