// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The demo's breaker settings: the seed's presets, with the two fields that are measured in
/// minutes of real traffic scaled down so that a run of `--duration` shows every breaker go
/// open -> half-open -> closed. Pure: no I/O.
///
/// Scaling rule (also printed by `--help`):
///   timeout_duration           = min(preset, max(500 ms, duration / 15))   (30 s run: 2 s)
///   minimum_request_threshold  = min(preset, 3)
/// Every other field (failure and success thresholds, half-open probes, timeout counting) is the
/// preset's own. The LLM's `call_timeout` (the preset has none) is set by `llm_call_timeout`;
/// the PagerDuty sink's breaker trips on a failure rate (`pagerduty_breaker_config`).

#include <breaker/config.hpp>

#include <chrono>

namespace incident_manager {

/// `preset` with `timeout_duration` and `minimum_request_threshold` scaled to a run of `duration`
/// (see the file comment). The result always passes `validate()`.
breaker::CircuitBreakerConfig scaled_for_demo(breaker::CircuitBreakerConfig preset,
                                              std::chrono::milliseconds duration);

/// The PagerDuty sink's breaker: `scaled_for_demo(for_notifications(), duration)` switched to
/// the failure-rate trip policy over a count-based window of the last 10 outcomes, opening at a
/// 50 % failure rate once the window holds 4 outcomes. The sink's trouble in the demo is
/// "recovering" (every other request fails), which the preset's consecutive rule (10 failures in
/// a row) never sees: the rate does.
breaker::CircuitBreakerConfig pagerduty_breaker_config(std::chrono::milliseconds duration);

/// The LLM summariser's `call_timeout`: 400 ms, well under the slow mode's 1.5 s answers.
inline constexpr std::chrono::milliseconds llm_call_timeout{400};

/// How often the service polls the sentinel, and how often the sentinel raises a new alert.
std::chrono::milliseconds poll_interval(std::chrono::milliseconds duration);
std::chrono::milliseconds alert_interval(std::chrono::milliseconds duration);

}  // namespace incident_manager
