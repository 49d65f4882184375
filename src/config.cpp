// SPDX-License-Identifier: Apache-2.0
#include "breaker/config.hpp"

#include "breaker/error.hpp"

#include <fmt/format.h>

#include <cmath>

namespace breaker {
namespace {

const char* name_of(TripPolicy p) noexcept {
  return p == TripPolicy::failure_rate ? "failure_rate" : "consecutive_failures";
}
const char* name_of(WindowType t) noexcept {
  return t == WindowType::time_based ? "time_based" : "count_based";
}

CircuitBreakerConfig preset(std::uint32_t failures, std::uint32_t successes, std::int64_t seconds,
                            std::uint32_t half_open, bool timeout_fails, std::uint32_t minimum) {
  CircuitBreakerConfig c;
  c.failure_threshold = failures;
  c.success_threshold = successes;
  c.timeout_duration = std::chrono::seconds(seconds);
  c.half_open_max_requests = half_open;
  c.count_timeout_as_failure = timeout_fails;
  c.minimum_request_threshold = minimum;
  return c;
}

}  // namespace

CircuitBreakerConfig CircuitBreakerConfig::for_http_api() { return preset(5, 2, 30, 3, true, 10); }
CircuitBreakerConfig CircuitBreakerConfig::for_llm_service() {
  return preset(3, 2, 120, 2, true, 5);
}
CircuitBreakerConfig CircuitBreakerConfig::for_database() { return preset(10, 3, 10, 5, true, 20); }
CircuitBreakerConfig CircuitBreakerConfig::for_notifications() {
  return preset(10, 2, 60, 3, false, 15);
}
CircuitBreakerConfig CircuitBreakerConfig::for_cache() { return preset(8, 3, 20, 4, true, 15); }

std::error_code CircuitBreakerConfig::validate(std::string* message) const {
  auto fail = [&](std::string text) {
    if (message != nullptr) *message = std::move(text);
    return make_error_code(errc::invalid_config);
  };
  const auto count = [](std::uint32_t value, std::uint32_t min, std::uint32_t max = max_count) {
    return value >= min && value <= max;
  };
  const auto count_error = [](const char* field, std::uint32_t value, std::uint32_t min,
                              std::uint32_t max = max_count) {
    return fmt::format("{} must be in [{}, {}], got {}", field, min, max, value);
  };
  if (!count(failure_threshold, 1))
    return fail(count_error("failure_threshold", failure_threshold, 1));
  if (!count(success_threshold, 1))
    return fail(count_error("success_threshold", success_threshold, 1));
  if (!count(half_open_max_requests, 1, max_half_open_requests))
    return fail(count_error("half_open_max_requests", half_open_max_requests, 1,
                            max_half_open_requests));
  if (!count(minimum_request_threshold, 0))
    return fail(count_error("minimum_request_threshold", minimum_request_threshold, 0));
  if (trip_policy != TripPolicy::consecutive_failures && trip_policy != TripPolicy::failure_rate)
    return fail(fmt::format("trip_policy must be consecutive_failures (0) or failure_rate (1), got {}",
                            static_cast<unsigned>(trip_policy)));
  if (window_type != WindowType::count_based && window_type != WindowType::time_based)
    return fail(fmt::format("window_type must be count_based (0) or time_based (1), got {}",
                            static_cast<unsigned>(window_type)));
  if (!count(window_size, 1, max_window_size))
    return fail(count_error("window_size", window_size, 1, max_window_size));
  if (window_duration.count() < 1 || window_duration > max_duration)
    return fail(fmt::format("window_duration must be in [1 ms, {} ms], got {} ms",
                            max_duration.count(), window_duration.count()));
  if (!count(window_buckets, 1, max_window_buckets))
    return fail(count_error("window_buckets", window_buckets, 1, max_window_buckets));
  if (window_duration.count() % window_buckets != 0)
    return fail(fmt::format("window_duration must be a multiple of window_buckets milliseconds "
                            "(buckets of whole milliseconds), got {} ms for {} buckets",
                            window_duration.count(), window_buckets));
  // !(x > 0 && x <= 100) also rejects NaN.
  if (!(failure_rate_threshold > 0.0 && failure_rate_threshold <= 100.0))
    return fail(fmt::format("failure_rate_threshold must be in (0, 100] percent, got {}",
                            failure_rate_threshold));
  if (slow_call_duration_threshold.count() < 0 || slow_call_duration_threshold > max_duration)
    return fail(fmt::format(
        "slow_call_duration_threshold must be in [0 ms, {} ms] (0: off), got {} ms",
        max_duration.count(), slow_call_duration_threshold.count()));
  if (!(slow_call_rate_threshold > 0.0 && slow_call_rate_threshold <= 100.0))
    return fail(fmt::format("slow_call_rate_threshold must be in (0, 100] percent, got {}",
                            slow_call_rate_threshold));
  if (uses_window()) {
    // A gate the window can never reach would make the rates silently inert.
    if (window_type == WindowType::count_based && minimum_request_threshold > window_size)
      return fail(fmt::format("minimum_request_threshold must be <= window_size ({}) with a "
                              "count_based window (the window never holds more), got {}",
                              window_size, minimum_request_threshold));
    // The state word's volume stops one short of saturation with a window
    // (see detail/state_word.hpp), so the consecutive rule's gate must fit.
    if (minimum_request_threshold > max_count - 1)
      return fail(fmt::format("minimum_request_threshold must be in [0, {}] with a sliding "
                              "window, got {}",
                              max_count - 1, minimum_request_threshold));
  }
  if (timeout_duration.count() <= 0 || timeout_duration > max_duration)
    return fail(fmt::format("timeout_duration must be in (0 ms, {} ms], got {} ms",
                            max_duration.count(), timeout_duration.count()));
  if (call_timeout.count() < 0 || call_timeout > max_duration)
    return fail(fmt::format("call_timeout must be in [0 ms, {} ms] (0: none), got {} ms",
                            max_duration.count(), call_timeout.count()));
  if (duration_sample_every < 1 || duration_sample_every > max_duration_sample_every ||
      (duration_sample_every & (duration_sample_every - 1)) != 0)
    return fail(fmt::format("duration_sample_every must be a power of two in [1, {}], got {}",
                            max_duration_sample_every, duration_sample_every));
  if (open_duration_policy != OpenDurationPolicy::fixed &&
      open_duration_policy != OpenDurationPolicy::exponential_backoff)
    return fail(fmt::format(
        "open_duration_policy must be fixed (0) or exponential_backoff (1), got {}",
        static_cast<unsigned>(open_duration_policy)));
  if (!std::isfinite(backoff_multiplier) || backoff_multiplier <= 1.0 || backoff_multiplier > 1000.0)
    return fail(fmt::format("backoff_multiplier must be in (1, 1000], got {}", backoff_multiplier));
  if (max_open_duration.count() <= 0 || max_open_duration > max_duration)
    return fail(fmt::format("max_open_duration must be in (0 ms, {} ms], got {} ms",
                            max_duration.count(), max_open_duration.count()));
  if (open_duration_policy == OpenDurationPolicy::exponential_backoff &&
      max_open_duration < timeout_duration)
    return fail(fmt::format(
        "max_open_duration must be at least timeout_duration ({} ms) under exponential_backoff, "
        "got {} ms",
        timeout_duration.count(), max_open_duration.count()));
  if (open_duration_jitter != Jitter::none && open_duration_jitter != Jitter::full &&
      open_duration_jitter != Jitter::proportional)
    return fail(fmt::format(
        "open_duration_jitter must be none (0), full (1) or proportional (2), got {}",
        static_cast<unsigned>(open_duration_jitter)));
  if (!std::isfinite(jitter_ratio) || jitter_ratio < 0.0 || jitter_ratio > 1.0)
    return fail(fmt::format("jitter_ratio must be in [0, 1], got {}", jitter_ratio));
  if (max_wait_in_half_open.count() < 0 || max_wait_in_half_open > max_duration)
    return fail(fmt::format("max_wait_in_half_open must be in [0 ms, {} ms] (0: none), got {} ms",
                            max_duration.count(), max_wait_in_half_open.count()));
  if (half_open_close != HalfOpenClose::consecutive_successes &&
      half_open_close != HalfOpenClose::success_ratio)
    return fail(fmt::format(
        "half_open_close must be consecutive_successes (0) or success_ratio (1), got {}",
        static_cast<unsigned>(half_open_close)));
  if (!std::isfinite(half_open_success_ratio) || half_open_success_ratio <= 0.0 ||
      half_open_success_ratio > 100.0)
    return fail(fmt::format("half_open_success_ratio must be in (0, 100] percent, got {}",
                            half_open_success_ratio));
  if (half_open_close == HalfOpenClose::success_ratio &&
      half_open_max_requests > max_ratio_half_open_requests)
    return fail(fmt::format(
        "half_open_max_requests must be in [1, {}] when half_open_close is success_ratio "
        "(the state word counts the episode's probes in 8 bits), got {}",
        max_ratio_half_open_requests, half_open_max_requests));
  return {};
}

CircuitBreakerConfig CircuitBreakerConfigBuilder::build() const {
  std::string message;
  if (config_.validate(&message)) throw CircuitBreakerError(errc::invalid_config, {}, message);
  return config_;
}

CircuitBreakerConfig CircuitBreakerConfigBuilder::build(std::error_code& ec,
                                                        std::string* message) const noexcept {
  try {
    if (message != nullptr) message->clear();
    ec = config_.validate(message);
  } catch (...) {  // only a failed allocation of the message could throw, and only when invalid
    ec = make_error_code(errc::invalid_config);
    if (message != nullptr) message->clear();  // clear() never allocates
  }
  return ec ? CircuitBreakerConfig{} : config_;
}

std::string first_difference(const CircuitBreakerConfig& a, const CircuitBreakerConfig& b) {
  if (a == b) return {};
  const auto differ = [](const char* field, const auto& x, const auto& y) {
    return fmt::format("{} ({} vs {})", field, x, y);
  };
  const auto differ_ms = [](const char* field, std::chrono::milliseconds x,
                            std::chrono::milliseconds y) {
    return fmt::format("{} ({} ms vs {} ms)", field, x.count(), y.count());
  };
  if (a.failure_threshold != b.failure_threshold)
    return differ("failure_threshold", a.failure_threshold, b.failure_threshold);
  if (a.success_threshold != b.success_threshold)
    return differ("success_threshold", a.success_threshold, b.success_threshold);
  if (a.timeout_duration != b.timeout_duration)
    return differ_ms("timeout_duration", a.timeout_duration, b.timeout_duration);
  if (a.half_open_max_requests != b.half_open_max_requests)
    return differ("half_open_max_requests", a.half_open_max_requests, b.half_open_max_requests);
  if (a.count_timeout_as_failure != b.count_timeout_as_failure)
    return differ("count_timeout_as_failure", a.count_timeout_as_failure,
                  b.count_timeout_as_failure);
  if (a.minimum_request_threshold != b.minimum_request_threshold)
    return differ("minimum_request_threshold", a.minimum_request_threshold,
                  b.minimum_request_threshold);
  if (a.trip_policy != b.trip_policy)
    return differ("trip_policy", name_of(a.trip_policy), name_of(b.trip_policy));
  if (a.window_type != b.window_type)
    return differ("window_type", name_of(a.window_type), name_of(b.window_type));
  if (a.window_size != b.window_size) return differ("window_size", a.window_size, b.window_size);
  if (a.window_duration != b.window_duration)
    return differ_ms("window_duration", a.window_duration, b.window_duration);
  if (a.window_buckets != b.window_buckets)
    return differ("window_buckets", a.window_buckets, b.window_buckets);
  if (a.failure_rate_threshold != b.failure_rate_threshold)
    return differ("failure_rate_threshold", a.failure_rate_threshold, b.failure_rate_threshold);
  if (a.slow_call_duration_threshold != b.slow_call_duration_threshold)
    return differ_ms("slow_call_duration_threshold", a.slow_call_duration_threshold,
                     b.slow_call_duration_threshold);
  if (a.slow_call_rate_threshold != b.slow_call_rate_threshold)
    return differ("slow_call_rate_threshold", a.slow_call_rate_threshold,
                  b.slow_call_rate_threshold);
  if (a.call_timeout != b.call_timeout)
    return differ_ms("call_timeout", a.call_timeout, b.call_timeout);
  if (a.record_call_durations != b.record_call_durations)
    return differ("record_call_durations", a.record_call_durations, b.record_call_durations);
  if (a.duration_sample_every != b.duration_sample_every)
    return differ("duration_sample_every", a.duration_sample_every, b.duration_sample_every);
  if (a.open_duration_policy != b.open_duration_policy)
    return differ("open_duration_policy", to_string(a.open_duration_policy),
                  to_string(b.open_duration_policy));
  if (a.backoff_multiplier != b.backoff_multiplier)
    return differ("backoff_multiplier", a.backoff_multiplier, b.backoff_multiplier);
  if (a.max_open_duration != b.max_open_duration)
    return differ_ms("max_open_duration", a.max_open_duration, b.max_open_duration);
  if (a.open_duration_jitter != b.open_duration_jitter)
    return differ("open_duration_jitter", to_string(a.open_duration_jitter),
                  to_string(b.open_duration_jitter));
  if (a.jitter_ratio != b.jitter_ratio) return differ("jitter_ratio", a.jitter_ratio, b.jitter_ratio);
  if (a.jitter_seed != b.jitter_seed) return differ("jitter_seed", a.jitter_seed, b.jitter_seed);
  if (a.max_wait_in_half_open != b.max_wait_in_half_open)
    return differ_ms("max_wait_in_half_open", a.max_wait_in_half_open, b.max_wait_in_half_open);
  if (a.half_open_close != b.half_open_close)
    return differ("half_open_close", to_string(a.half_open_close), to_string(b.half_open_close));
  if (a.half_open_success_ratio != b.half_open_success_ratio)
    return differ("half_open_success_ratio", a.half_open_success_ratio, b.half_open_success_ratio);
  // A field added to CircuitBreakerConfig without a line above: still a difference.
  return "a field first_difference does not know yet";
}

}  // namespace breaker
