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

/// What opens a closed breaker (see docs/01-semantics.md, "Trip policies").
enum class TripPolicy : std::uint8_t {
  /// `failure_threshold` consecutive failures (once `minimum_request_threshold`
  /// outcomes were recorded since the breaker closed). The default.
  consecutive_failures = 0,
  /// The failure rate over a sliding window reaching `failure_rate_threshold`
  /// once the window holds `minimum_request_threshold` outcomes.
  failure_rate = 1,
};

/// The sliding window of the `failure_rate` policy and of the slow-call rule.
enum class WindowType : std::uint8_t {
  /// The last `window_size` outcomes.
  count_based = 0,
  /// The outcomes of the last `window_duration`, in `window_buckets` buckets.
  time_based = 1,
};

/// How long each open period lasts (see `CircuitBreakerConfig`).
enum class OpenDurationPolicy : std::uint8_t {
  fixed = 0,                ///< `timeout_duration` every time (the default).
  exponential_backoff = 1,  ///< `timeout_duration * backoff_multiplier^k`, capped.
};

/// Random variation of each open period.
enum class Jitter : std::uint8_t {
  none = 0,          ///< The duration as computed.
  full = 1,          ///< Uniform in [0, d] (drawn in [0, d), rounded up to a microsecond).
  proportional = 2,  ///< Uniform in [d * (1 - jitter_ratio), d * (1 + jitter_ratio)].
};

/// How a half-open episode decides to close.
enum class HalfOpenClose : std::uint8_t {
  consecutive_successes = 0,  ///< `success_threshold` successful probes in a row (the default).
  success_ratio = 1,          ///< `half_open_success_ratio` percent of the episode's probes.
};

/// `"fixed"`, `"exponential_backoff"`.
constexpr const char* to_string(OpenDurationPolicy p) noexcept {
  return p == OpenDurationPolicy::fixed                 ? "fixed"
         : p == OpenDurationPolicy::exponential_backoff ? "exponential_backoff"
                                                        : "unknown";
}
/// `"none"`, `"full"`, `"proportional"`.
constexpr const char* to_string(Jitter j) noexcept {
  return j == Jitter::none ? "none" : j == Jitter::full ? "full" : j == Jitter::proportional ? "proportional" : "unknown";
}
/// `"consecutive_successes"`, `"success_ratio"`.
constexpr const char* to_string(HalfOpenClose h) noexcept {
  return h == HalfOpenClose::consecutive_successes ? "consecutive_successes"
         : h == HalfOpenClose::success_ratio       ? "success_ratio"
                                                   : "unknown";
}

/// The settings of one circuit breaker. A plain aggregate: every member has a
/// default and a documented valid range; `validate()` checks them all. The
/// defaults equal the "default" preset.
///
/// Memory per breaker (x86-64; docs/02-design.md, "Memory", has the table):
/// the breaker object is 896 bytes with one (packed) copy of its config inside; the
/// fields that cost heap are `record_call_durations` (1,024 bytes while on,
/// the default), the window rules (`trip_policy = failure_rate` or
/// `slow_call_duration_threshold > 0`: a window sized by `window_size` or
/// `window_buckets`), and the first `update_config` (104 bytes, a second
/// config slot, reused by later updates). So 896 bytes with durations off,
/// 1,920 with the defaults.
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
  /// Largest `window_size`.
  static constexpr std::uint32_t max_window_size = 1'000'000;
  /// Largest `window_buckets`.
  static constexpr std::uint32_t max_window_buckets = 1000;
  /// What opens the breaker while closed. With `failure_rate`,
  /// `failure_threshold` is not used while closed (it still validates) and
  /// the breaker keeps a sliding window (`window_type`), allocated only then
  /// (or when the slow-call rule is on). Default: consecutive failures.
  TripPolicy trip_policy = TripPolicy::consecutive_failures;
  /// The window's kind, when there is one (`trip_policy == failure_rate` or
  /// `slow_call_duration_threshold > 0`).
  WindowType window_type = WindowType::count_based;
  /// Count-based window: the last N outcomes (successes and failures; ignored
  /// calls are not outcomes). Range 1..max_window_size. With a count-based
  /// window, `minimum_request_threshold` must not exceed it.
  std::uint32_t window_size = 100;
  /// Time-based window: the outcomes of the last T. Range [1 ms,
  /// max_duration], a multiple of `window_buckets` milliseconds.
  std::chrono::milliseconds window_duration{60'000};
  /// Time-based window: buckets T is split into (outcomes leave the window a
  /// bucket at a time). Range 1..max_window_buckets.
  std::uint32_t window_buckets = 10;
  /// `failure_rate` policy: opens when failures / outcomes * 100 >= this.
  /// Percent, range (0, 100].
  double failure_rate_threshold = 50.0;
  /// A call taking longer than this is slow (success or failure). 0: the
  /// slow-call rule is off. With it on, every admitted call is timed (two
  /// timestamps; recorded in the duration histogram too, exactly). Range
  /// [0, max_duration].
  std::chrono::milliseconds slow_call_duration_threshold{0};
  /// Slow-call rule: opens when slow calls / outcomes * 100 >= this (over the
  /// window, once it holds `minimum_request_threshold` outcomes). Percent,
  /// range (0, 100].
  double slow_call_rate_threshold = 100.0;
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

  // --- open duration (see docs/01-semantics.md, "Open duration") ------------

  /// How long each open period lasts. `fixed`: `timeout_duration`.
  /// `exponential_backoff`: the k-th re-open in a row after a failed half-open
  /// episode (a failed probe or `max_wait_in_half_open` running out) lasts
  /// `timeout_duration * backoff_multiplier^k`, at most `max_open_duration`;
  /// k goes back to 0 once the breaker closes (or is reset). `open_for` /
  /// `open_until` set their own period and leave k as it is.
  OpenDurationPolicy open_duration_policy = OpenDurationPolicy::fixed;
  /// Growth factor of `exponential_backoff`. Range (1, 1000].
  double backoff_multiplier = 2.0;
  /// Cap of `exponential_backoff`, jitter included. Range (0, max_duration];
  /// under `exponential_backoff` at least `timeout_duration`. Default 30 min.
  std::chrono::milliseconds max_open_duration{1'800'000};
  /// Random variation of each open period computed by the breaker (not of
  /// `open_for`/`open_until`): `full` draws it uniformly from [0, d],
  /// `proportional` from [d * (1 - jitter_ratio), d * (1 + jitter_ratio)],
  /// where d is the fixed or backed-off (capped) duration; under
  /// `exponential_backoff` the result is capped again at `max_open_duration`.
  /// Draws are rounded up to a microsecond. Note that jitter can make an open
  /// period shorter than `timeout_duration`.
  Jitter open_duration_jitter = Jitter::none;
  /// The spread of `proportional` jitter. Range [0, 1].
  double jitter_ratio = 0.2;
  /// Seed of the breaker's jitter generator (splitmix64, one atomic per
  /// breaker, lock-free). Equal seeds and equal sequences of openings give
  /// equal durations. Any value.
  std::uint64_t jitter_seed = 0;

  // --- half-open (see docs/01-semantics.md, "Half-open") ---------------------

  /// The longest a half-open episode may stay undecided (neither closed nor
  /// reopened, e.g. because a probe never reports): once it has passed, the
  /// next call (rejected) or observation finds the breaker open again, for a
  /// new open period (a failed half-open: it counts for the backoff). 0: no
  /// limit (the default). Range [0, max_duration].
  std::chrono::milliseconds max_wait_in_half_open{0};
  /// How a half-open episode closes: `consecutive_successes` (the default,
  /// `success_threshold` successes in a row, any failure reopens), or
  /// `success_ratio`: the episode admits exactly N = `half_open_max_requests`
  /// probes that report (an ignored probe gives its slot to another call),
  /// and closes once ceil(`half_open_success_ratio` * N / 100) of them have
  /// succeeded, reopening once that can no longer happen (more than N minus
  /// that many failed): the decision waiting for all N would make, made as
  /// soon as it is certain.
  HalfOpenClose half_open_close = HalfOpenClose::consecutive_successes;
  /// Largest `half_open_max_requests` under `success_ratio` (its counts are
  /// 8-bit fields of the state word).
  static constexpr std::uint32_t max_ratio_half_open_requests = 255;
  /// The success ratio, in percent, of `success_ratio`. Range (0, 100].
  double half_open_success_ratio = 100.0;

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

  /// Whether the breaker keeps a sliding window: `failure_rate` policy or the
  /// slow-call rule on.
  constexpr bool uses_window() const noexcept {
    return trip_policy == TripPolicy::failure_rate || slow_call_duration_threshold.count() > 0;
  }

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
  CircuitBreakerConfigBuilder& trip_policy(TripPolicy v) noexcept {
    config_.trip_policy = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& window_type(WindowType v) noexcept {
    config_.window_type = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& window_size(std::uint32_t v) noexcept {
    config_.window_size = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& window_duration(std::chrono::milliseconds v) noexcept {
    config_.window_duration = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& window_buckets(std::uint32_t v) noexcept {
    config_.window_buckets = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& failure_rate_threshold(double v) noexcept {
    config_.failure_rate_threshold = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& slow_call_duration_threshold(std::chrono::milliseconds v) noexcept {
    config_.slow_call_duration_threshold = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& slow_call_rate_threshold(double v) noexcept {
    config_.slow_call_rate_threshold = v;
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
  CircuitBreakerConfigBuilder& open_duration_policy(OpenDurationPolicy v) noexcept {
    config_.open_duration_policy = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& backoff_multiplier(double v) noexcept {
    config_.backoff_multiplier = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& max_open_duration(std::chrono::milliseconds v) noexcept {
    config_.max_open_duration = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& open_duration_jitter(Jitter v) noexcept {
    config_.open_duration_jitter = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& jitter_ratio(double v) noexcept {
    config_.jitter_ratio = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& jitter_seed(std::uint64_t v) noexcept {
    config_.jitter_seed = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& max_wait_in_half_open(std::chrono::milliseconds v) noexcept {
    config_.max_wait_in_half_open = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& half_open_close(HalfOpenClose v) noexcept {
    config_.half_open_close = v;
    return *this;
  }
  CircuitBreakerConfigBuilder& half_open_success_ratio(double v) noexcept {
    config_.half_open_success_ratio = v;
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
