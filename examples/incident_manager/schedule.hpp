// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// When each of the demo's flaky dependencies is healthy, erroring, slow, down or recovering.
/// A schedule is a list of phases, each starting at a fraction of the run's duration, so that a
/// run of any length shows every mode. Pure: the servers ask `mode_at(elapsed)`.

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

namespace incident_manager {

/// How a flaky dependency behaves.
enum class FailureMode : std::uint8_t {
  healthy,     ///< answers correctly, quickly
  erroring,    ///< answers 503 at once
  slow,        ///< answers correctly, but slower than its client's call timeout
  down,        ///< refuses connections (its listener is closed)
  recovering,  ///< every other request fails: the breaker's probes see a mixed picture
};

std::string_view to_string(FailureMode mode) noexcept;

/// One phase: `mode` from `start` (a fraction of the run, 0 <= start < 1) until the next phase.
struct Phase {
  double start;
  FailureMode mode;
};

/// The phases of one dependency, in order of `start`; the first starts at 0.
class Schedule {
 public:
  /// \throws std::invalid_argument when `phases` is empty, does not start at 0, is not in
  ///   increasing order of start, or has a start outside [0, 1).
  Schedule(std::vector<Phase> phases, std::chrono::milliseconds run_duration);

  /// The mode at `elapsed` since the start of the run (the last phase lasts past the end).
  FailureMode mode_at(std::chrono::milliseconds elapsed) const noexcept;

  const std::vector<Phase>& phases() const noexcept { return phases_; }

 private:
  std::vector<Phase> phases_;
  std::chrono::milliseconds run_duration_;
};

/// The demo's dependencies and their schedules: each goes through trouble at its own time, and
/// every one is healthy again for the last fifth of the run, so every breaker can close.
struct DemoSchedules {
  Schedule sentinel;   ///< the alert source the service polls
  Schedule llm;        ///< the LLM that summarises each alert (slow: call_timeout fires)
  Schedule slack;      ///< the Slack webhook (down: notifications queue, then drain)
  Schedule pagerduty;  ///< the PagerDuty events sink
};

DemoSchedules demo_schedules(std::chrono::milliseconds run_duration);

}  // namespace incident_manager
