// SPDX-License-Identifier: Apache-2.0
#include "demo_config.hpp"

#include <algorithm>

namespace incident_manager {

breaker::CircuitBreakerConfig scaled_for_demo(breaker::CircuitBreakerConfig preset,
                                              std::chrono::milliseconds duration) {
  using std::chrono::milliseconds;
  const milliseconds open_for = std::max(milliseconds(500), duration / 15);
  preset.timeout_duration = std::min(preset.timeout_duration, open_for);
  preset.minimum_request_threshold = std::min<std::uint32_t>(preset.minimum_request_threshold, 3);
  return preset;
}

breaker::CircuitBreakerConfig pagerduty_breaker_config(std::chrono::milliseconds duration) {
  breaker::CircuitBreakerConfig config =
      scaled_for_demo(breaker::CircuitBreakerConfig::for_notifications(), duration);
  config.trip_policy = breaker::TripPolicy::failure_rate;
  config.window_type = breaker::WindowType::count_based;
  config.window_size = 10;
  config.failure_rate_threshold = 50.0;
  config.minimum_request_threshold = 4;
  return config;
}

std::chrono::milliseconds poll_interval(std::chrono::milliseconds duration) {
  return std::clamp(duration / 60, std::chrono::milliseconds(100), std::chrono::milliseconds(500));
}

std::chrono::milliseconds alert_interval(std::chrono::milliseconds duration) {
  return std::clamp(duration / 30, std::chrono::milliseconds(200), std::chrono::milliseconds(2000));
}

}  // namespace incident_manager
