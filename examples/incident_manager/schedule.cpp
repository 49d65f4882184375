// SPDX-License-Identifier: Apache-2.0
#include "schedule.hpp"

#include <stdexcept>

namespace incident_manager {

std::string_view to_string(FailureMode mode) noexcept {
  switch (mode) {
    case FailureMode::healthy:
      return "healthy";
    case FailureMode::erroring:
      return "erroring";
    case FailureMode::slow:
      return "slow";
    case FailureMode::down:
      return "down";
    case FailureMode::recovering:
      return "recovering";
  }
  return "unknown";
}

Schedule::Schedule(std::vector<Phase> phases, std::chrono::milliseconds run_duration)
    : phases_(std::move(phases)), run_duration_(run_duration) {
  if (phases_.empty()) throw std::invalid_argument("a schedule needs at least one phase");
  if (phases_.front().start != 0.0) throw std::invalid_argument("a schedule starts at 0");
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    const double start = phases_[i].start;
    if (!(start >= 0.0 && start < 1.0)) {
      throw std::invalid_argument("a phase starts at a fraction in [0, 1)");
    }
    if (i > 0 && !(start > phases_[i - 1].start)) {
      throw std::invalid_argument("phases must be in increasing order of start");
    }
  }
  if (run_duration_.count() <= 0) throw std::invalid_argument("the run needs a positive duration");
}

FailureMode Schedule::mode_at(std::chrono::milliseconds elapsed) const noexcept {
  const double fraction =
      static_cast<double>(elapsed.count()) / static_cast<double>(run_duration_.count());
  FailureMode mode = phases_.front().mode;
  for (const Phase& phase : phases_) {
    if (phase.start > fraction) break;
    mode = phase.mode;
  }
  return mode;
}

DemoSchedules demo_schedules(std::chrono::milliseconds d) {
  using M = FailureMode;
  // The sentinel's outage comes first (no new alerts while it lasts, then a backlog); the
  // others fail while alerts flow, so their breakers see traffic in trouble. All healthy from
  // 0.72 of the run: every breaker has time to probe and close.
  return DemoSchedules{
      Schedule({{0.0, M::healthy}, {0.10, M::erroring}, {0.25, M::recovering}, {0.35, M::healthy}}, d),
      Schedule({{0.0, M::healthy}, {0.40, M::slow}, {0.60, M::healthy}}, d),
      Schedule({{0.0, M::healthy}, {0.30, M::down}, {0.62, M::healthy}}, d),
      // PagerDuty fails every other request: its failure-rate breaker opens, a consecutive
      // rule would not.
      Schedule({{0.0, M::healthy}, {0.50, M::recovering}, {0.72, M::healthy}}, d),
  };
}

}  // namespace incident_manager
