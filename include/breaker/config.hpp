// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `CircuitBreakerConfig`, its builder, and the presets.

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

namespace breaker {

class CircuitBreakerConfigBuilder;

/// The settings of one circuit breaker. A plain aggregate: every member has a
/// default and a documented valid range; `validate()` checks them all. The
/// defaults equal the "default" preset.
struct CircuitBreakerConfig {
  /// Largest value a threshold may take (the state word keeps consecutive
  /// counts and the request volume in 16-bit fields).
  static constexpr std::uint32_t max_count = (1u << 16) - 1;
  /// Largest `half_open_max_requests` (probes in flight use a 12-bit field).
  static constexpr std::uint32_t max_half_open_requests = (1u << 12) - 1;
  /// Longest duration accepted for `timeout_duration` and `call_timeout` (365 days).
  static constexpr std::chrono::milliseconds max_duration{365LL * 24 * 60 * 60 * 1000};

  /// Consecutive failures (while closed) that open the breaker. Range 1..max_count.
  std::uint32_t failure_threshold = 5;
  /// Consecutive successful probes (while half-open) that close it. Range 1..max_count.
  std::uint32_t success_threshold = 2;
  /// How long the breaker stays open before it admits probes. Range (0, max_duration].
  std::chrono::milliseconds timeout_duration{60'000};
  /// Probe calls allowed in flight at once while half-open. Range 1..max_half_open_requests.
  std::uint32_t half_open_max_requests = 3;
  /// Whether a call that exceeded `call_timeout` counts as a failure (true) or
  /// is ignored (false).
  bool count_timeout_as_failure = true;
  /// Outcomes that must have been recorded since the breaker last closed before
  /// it may open. 0: no volume gate. Range 0..max_count.
  std::uint32_t minimum_request_threshold = 10;
  /// Per-call timeout of the coroutine `call`; 0 means none. Range [0, max_duration].
  std::chrono::milliseconds call_timeout{0};
  /// Whether admitted calls are recorded in the call-duration histogram,
  /// exported as `circuit_breaker_call_duration_seconds`. Costs one heap block
  /// of 1024 bytes per breaker (per-thread stripes), allocated while it is on.
  bool record_call_durations = true;
  /// Largest `duration_sample_every`.
  static constexpr std::uint32_t max_duration_sample_every = 1024;
  /// Which calls are timed while `record_call_durations` is on: on each
  /// thread, the 1st, (N+1)-th, (2N+1)-th... call of the breaker (two
  /// timestamps each: the CPU's invariant TSC where there is one, else
  /// `steady_clock`; a test clock's `now()` for a breaker on a test clock).
  /// Every call is still counted: an untimed call is recorded with the duration
  /// of the last timed call on its thread ("sample and hold"), so `_count` and
  /// the `+Inf` bucket are exact and `_sum` and the bucket shares are unbiased
  /// estimates when call durations do not depend on the call's position modulo N;
  /// with m timed calls a bucket's share is within about 2*sqrt(p(1-p)/m)
  /// (95%), e.g. +-0.01 for m = 10,000. 1 times every call (exact, two
  /// timestamps per call). Unit: calls. Range: a power of two in
  /// [1, max_duration_sample_every]. Default 64 (measured: 16 costs about 1 ns more per
  /// call than 64 on the benchmark machine, where a TSC read is 9.5 ns; see
  /// docs/performance.md).
  std::uint32_t duration_sample_every = 64;

  /// A builder starting from the defaults.
  static CircuitBreakerConfigBuilder builder();

  /// Preset for HTTP APIs: 5, 2, 30 s, 3, timeouts fail, 10.
  static CircuitBreakerConfig for_http_api();
  /// Preset for LLM services: 3, 2, 120 s, 2, timeouts fail, 5.
  static CircuitBreakerConfig for_llm_service();
  /// Preset for databases: 10, 3, 10 s, 5, timeouts fail, 20.
  static CircuitBreakerConfig for_database();
  /// Preset for notifiers: 10, 2, 60 s, 3, timeouts ignored, 15.
  static CircuitBreakerConfig for_notifications();
  /// Preset for caches: 8, 3, 20 s, 4, timeouts fail, 15.
  static CircuitBreakerConfig for_cache();

  /// Checks every field. Returns `errc::invalid_config` for the first field out
  /// of range and, when `message` is not null, a sentence naming that field.
  std::error_code validate(std::string* message = nullptr) const;

  friend bool operator==(const CircuitBreakerConfig&, const CircuitBreakerConfig&) = default;
};

/// Fluent builder of `CircuitBreakerConfig`: one setter per field, each
/// returning `*this`; `build()` validates.
class CircuitBreakerConfigBuilder {
 public:
  CircuitBreakerConfigBuilder() = default;
  /// Starts from an existing config (e.g. a preset).
  explicit CircuitBreakerConfigBuilder(const CircuitBreakerConfig& base) : config_(base) {}

  CircuitBreakerConfigBuilder& failure_threshold(std::uint32_t v) noexcept {
    config_.failure_threshold = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& success_threshold(std::uint32_t v) noexcept {
    config_.success_threshold = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& timeout_duration(std::chrono::milliseconds v) noexcept {
    config_.timeout_duration = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& half_open_max_requests(std::uint32_t v) noexcept {
    config_.half_open_max_requests = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& count_timeout_as_failure(bool v) noexcept {
    config_.count_timeout_as_failure = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& minimum_request_threshold(std::uint32_t v) noexcept {
    config_.minimum_request_threshold = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& call_timeout(std::chrono::milliseconds v) noexcept {
    config_.call_timeout = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& record_call_durations(bool v) noexcept {
    config_.record_call_durations = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& duration_sample_every(std::uint32_t v) noexcept {
    config_.duration_sample_every = v;
    return *this;
  }

  /// The validated config. Throws `CircuitBreakerError(errc::invalid_config)`
  /// whose `what()` names the offending field.
  CircuitBreakerConfig build() const;
  /// The validated config, without exceptions.
  ///
  /// \param ec cleared when every field is valid; otherwise set to
  ///   `errc::invalid_config` for the first invalid field (the order of
  ///   `CircuitBreakerConfig::validate`).
  /// \param message when not null: cleared on success; otherwise receives the
  ///   sentence `build()` would throw, naming the field, its valid range and
  ///   the value given (e.g. "failure_threshold must be in [1, 65535], got 0").
  /// \returns the config when valid, otherwise the defaults (never a config
  ///   with an invalid field).
  /// Never throws: should the message itself fail to allocate, `ec` is still
  ///   set and `*message` is left empty.
  /// \code
  /// std::error_code ec;
  /// std::string why;
  /// auto config = CircuitBreakerConfig::builder().failure_threshold(n).build(ec, &why);
  /// if (ec) log_error("bad breaker settings: " + why);
  /// \endcode
  CircuitBreakerConfig build(std::error_code& ec, std::string* message = nullptr) const noexcept;

 private:
  CircuitBreakerConfig config_{};
};

inline CircuitBreakerConfigBuilder CircuitBreakerConfig::builder() { return {}; }

/// Describes the first field, in declaration order, whose value differs
/// between `a` and `b`: its name and both values, `a`'s first, e.g.
/// `"failure_threshold (2 vs 5)"` or `"timeout_duration (10000 ms vs 60000 ms)"`.
/// \returns an empty string when `a == b`.
/// Used by the registry to say why a config conflicts with a breaker's.
/// Thread safety: pure function. Throws only `std::bad_alloc`.
std::string first_difference(const CircuitBreakerConfig& a, const CircuitBreakerConfig& b);

}  // namespace breaker
