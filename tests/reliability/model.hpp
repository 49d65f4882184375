// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A reference model of the circuit-breaker rules, written for tests: one
/// thread, no atomics, no bit fields, every rule spelled out once. It is
/// written from the rules of issue 2 and the semantics documented in
/// `detail/state_word.hpp` and `circuit_breaker.hpp`, not from the code, so
/// that the differential test (`test_differential.cpp`) and the fuzzer
/// (`tests/fuzz/fuzz_breaker.cpp`) can compare the real breaker against it.
///
/// The rules, as modelled here (issue 8 changed rules 2, 4 and 7; the model
/// states them as the issue does, not as the state word implements them):
///  - Closed: a failure adds one to the run of consecutive failures, a success
///    ends the run. The breaker opens when the run reaches `failure_threshold`
///    and at least `minimum_request_threshold` outcomes (successes and
///    failures, not ignored ones) were recorded since it last closed, whatever
///    the minimum was while they were recorded (rule 4: the model counts them
///    all, without saturating). Creation and `reset()` count as closing.
///  - Open: every call is rejected. After `timeout_duration` (measured from the
///    moment it opened, with the config of that moment) it reads as half-open
///    in `state()`/`stats()`; the first caller after that turns it half-open
///    and is its first probe. `force_open()` opens it for good: it never
///    expires, only `reset()` closes it.
///  - Half-open (rule 7): a call is admitted while fewer than
///    `half_open_max_requests` probes admitted in the *current* half-open
///    episode are outstanding. Every episode starts from zero; a probe of an
///    earlier episode returns nothing to the current one. `success_threshold`
///    consecutive successful probes close it; a failed probe reopens it.
///  - Each transition starts a new epoch: `reset()` (unless the breaker is
///    closed with nothing to clear: no failure run, no outcome since it
///    closed) and `force_open()` (unless already forced open). An outcome of a
///    permit from an older epoch is stale (rule 2: however old; the model's
///    epoch never wraps): it counts in the totals only.
///  - Listeners hear of a transition when the state changes (reset() of a
///    closed breaker, force_open() of an open one are silent).
///  - Stats: `consecutive_failures` is the closed run, or in open the run that
///    opened it (1 after a failed probe, 0 when forced); `consecutive_successes`
///    is the half-open run, 0 elsewhere (also while an expired open breaker
///    reads as half-open before a caller arrives).
///
/// Issue 12 (core part), as docs/01-semantics.md states it:
///  - `disable()`: every call admitted, only totals (no durations, no runs),
///    never trips. `metrics_only()`: every call admitted and counted as in
///    closed (runs, volume, durations), never trips. Both leave by `reset()`
///    or another manual transition; repeating one is not a transition.
///  - `open_for(d)` / `open_until(t)`: a new open epoch (not forced) from every
///    state but forced open, half-open at now + d (or t); open -> open is not
///    a transition. The backoff level is kept.
///  - Open duration: fixed `timeout_duration`, or under exponential backoff
///    `timeout * multiplier^level` capped at `max_open_duration`, where the
///    level is 0 when the breaker opens from closed and grows by one with each
///    re-open after a failed half-open episode (failed probe, or maximum wait
///    passed); entering closed, disabled or metrics_only sets it back to 0.
///    Jitter draws the k-th jittered opening from the k-th number of
///    splitmix64(jitter_seed) (restarted when update_config changes the seed).
///  - Half-open maximum wait: an episode that started with a non-zero
///    `max_wait_in_half_open` reads as open once it has passed, and the next
///    acquire reopens it (rejected, a failed half-open).
///  - Success ratio: an episode that started under `success_ratio` admits
///    N = half_open_max_requests probes that report (ignored ones give their
///    slot back), closes at ceil(ratio N / 100) successes and reopens at more
///    than N minus that many failures.

#include <algorithm>
#include <breaker/config.hpp>
#include <breaker/state.hpp>
#include <breaker/stats.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace breaker::reliability {

/// What happened to an admitted call.
enum class ModelOutcome : std::uint8_t { success, failure, ignored };

/// One admission as the model sees it.
struct ModelPermit {
  bool admitted = false;
  State admitted_in = State::closed;
  std::uint64_t epoch = 0;    ///< Full epoch (the real breaker keeps its low 27 bits).
  bool tracked = false;       ///< `record_call_durations` was on at admission.
  bool timed = false;         ///< Tracked and a timed sample (`duration_sample_every`).
  std::int64_t start_ns = 0;  ///< Clock time of the admission.
};

/// One listener notification as the model predicts it.
struct ModelEvent {
  State from;
  State to;
  std::uint64_t epoch;  ///< The epoch after the transition.
  friend bool operator==(const ModelEvent&, const ModelEvent&) = default;
};

/// The reference model. Time is passed in by the caller (nanoseconds on the
/// same scale as the real breaker's clock).
class Model {
 public:
  explicit Model(const CircuitBreakerConfig& config, std::int64_t now_ns)
      : config_(config), now_ns_(now_ns) {}

  // --- inputs ---------------------------------------------------------------

  void set_now(std::int64_t now_ns) { now_ns_ = now_ns; }
  std::int64_t now() const { return now_ns_; }

  ModelPermit acquire() {
    ModelPermit permit;
    if (state_ == State::half_open && waiting_ && now_ns_ >= half_open_until_ns_) {
      open_after_failed_half_open(0);  // the maximum wait has passed
      reject();
      return permit;
    }
    if (state_ == State::open) {
      if (forced_ || !open_period_over()) {
        reject();
        return permit;
      }
      // The first caller after the open period makes the breaker half-open
      // and, when a probe slot is free, is its first probe.
      enter(State::half_open);
    }
    if (state_ == State::half_open &&
        probes_of_this_episode_ >=
            (ratio_episode_ ? std::min<std::uint32_t>(config_.half_open_max_requests, 255)
                            : config_.half_open_max_requests)) {
      reject();
      return permit;
    }
    ++total_;
    permit.admitted = true;
    permit.admitted_in = state_;
    permit.epoch = epoch_;
    // Sample and hold (detail/duration_histogram.hpp): the 1st, (N+1)-th...
    // admission of the thread is timed; the others take the last timed duration.
    ++admissions_;
    // The slow-call rule (windows12) times every call and fills the histogram.
    const bool slow_rule = config_.slow_call_duration_threshold.count() > 0;
    permit.tracked = (config_.record_call_durations || slow_rule) && state_ != State::disabled;
    permit.timed = permit.tracked &&
                   (slow_rule || ((admissions_ - 1) & (config_.duration_sample_every - 1)) == 0);
    permit.start_ns = now_ns_;
    if (state_ == State::half_open) ++probes_of_this_episode_;
    return permit;
  }

  /// Records the outcome of an admitted permit (each permit exactly once).
  void record(const ModelPermit& permit, ModelOutcome outcome) {
    if (!permit.admitted) return;
    switch (outcome) {
      case ModelOutcome::success:
        ++successful_;
        break;
      case ModelOutcome::failure:
        ++failed_;
        break;
      case ModelOutcome::ignored:
        ++ignored_;
        break;
    }
    if (permit.timed) {
      held_ns_ = std::max<std::int64_t>(now_ns_ - permit.start_ns, 0);
      record_duration(held_ns_);
    } else if (permit.tracked) {
      record_duration(held_ns_);
    }

    const bool stale = permit.epoch != epoch_;
    if (stale) return;  // nothing at all, not even a probe slot (rule 7)
    if (state_ == State::disabled) return;  // totals only
    if (permit.admitted_in == State::half_open && ratio_episode_) {
      record_ratio_probe(outcome);
      return;
    }
    if (permit.admitted_in == State::half_open) --probes_of_this_episode_;
    if (outcome == ModelOutcome::ignored) return;

    // The sliding window (windows12): the outcomes of this closed (or
    // metrics-only) period, with their times and slowness.
    const bool windowed = config_.uses_window();
    // Only a timed call has a duration: one admitted before the rule was on
    // is slow only when the duration sampling happened to time it.
    const bool slow = permit.timed && config_.slow_call_duration_threshold.count() > 0 &&
                      now_ns_ - permit.start_ns > config_.slow_call_duration_threshold.count() * 1'000'000;
    if (windowed && (state_ == State::closed || state_ == State::metrics_only)) {
      window_.push_back(WindowEntry{now_ns_, outcome == ModelOutcome::failure, slow});
      if (config_.window_type == WindowType::count_based && window_.size() > config_.window_size) {
        window_.erase(window_.begin());
      }
    }

    if (state_ == State::metrics_only) {
      ++outcomes_since_closed_;
      if (outcome == ModelOutcome::success) {
        failures_in_a_row_ = 0;
      } else if (failures_in_a_row_ < CircuitBreakerConfig::max_count) {
        ++failures_in_a_row_;
      }
      return;
    }

    if (state_ == State::closed) {
      ++outcomes_since_closed_;
      if (outcome == ModelOutcome::failure && failures_in_a_row_ < CircuitBreakerConfig::max_count) {
        ++failures_in_a_row_;
      }
      if (outcome == ModelOutcome::success) failures_in_a_row_ = 0;
      // A rate over the window opens it (checked after every outcome, as
      // Resilience4j does), before the consecutive rule.
      if (windowed && window_rate_reached()) {
        open(failures_in_a_row_);
        return;
      }
      if (outcome == ModelOutcome::success) return;
      if (config_.trip_policy == TripPolicy::consecutive_failures &&
          failures_in_a_row_ >= config_.failure_threshold &&
          outcomes_since_closed_ >= config_.minimum_request_threshold) {
        const std::uint32_t run = failures_in_a_row_;
        open(run);
      }
      return;
    }

    // A probe of the current half-open episode.
    if (outcome == ModelOutcome::failure) {
      open_after_failed_half_open(1);
      return;
    }
    ++successes_in_a_row_;
    if (successes_in_a_row_ >= config_.success_threshold) enter(State::closed);
  }

  /// `reset()`: a new closed epoch; in-flight calls become stale. A closed
  /// breaker with nothing to clear is left alone (rule 2).
  void reset() {
    if (state_ == State::closed && failures_in_a_row_ == 0 && outcomes_since_closed_ == 0) return;
    const State from = state_;
    enter_silently(State::closed);
    if (from != State::closed) note_transition(from, State::closed);
  }

  /// `force_open()`: open until `reset()`.
  void force_open() {
    if (state_ == State::open && forced_) return;
    const State from = state_;
    enter_silently(State::open);
    forced_ = true;
    if (from != State::open) note_transition(from, State::open);
  }

  void update_config(const CircuitBreakerConfig& config) {
    if (config == config_) return;
    update_window(config);
    if (config.jitter_seed != config_.jitter_seed) jitter_state_ = config.jitter_seed;
    config_ = config;
  }

  /// `disable()`.
  void disable() { manual_enter(State::disabled); }
  /// `metrics_only()`.
  void metrics_only() { manual_enter(State::metrics_only); }

  /// `open_for()` / `open_until()`: open until `end_ns`.
  void open_until_time(std::int64_t end_ns) {
    if (state_ == State::open && forced_) return;
    const State from = state_;
    enter_silently(State::open);
    open_until_ns_ = end_ns;
    if (from != State::open) note_transition(from, State::open);
  }

  // --- observations ---------------------------------------------------------

  State state() const {
    if (state_ == State::open && !forced_ && open_period_over()) return State::half_open;
    if (state_ == State::half_open && waiting_ && now_ns_ >= half_open_until_ns_) return State::open;
    return state_;
  }

  Stats stats() const {
    Stats s{};
    s.state = state();
    if (s.state == State::closed || s.state == State::metrics_only)
      s.consecutive_failures = failures_in_a_row_;
    if (s.state == State::open && state_ == State::open) s.consecutive_failures = opening_run_;
    if (state_ == State::half_open && s.state == State::half_open)
      s.consecutive_successes = successes_in_a_row_;
    s.total_calls = total_;
    s.successful_calls = successful_;
    s.failed_calls = failed_;
    s.rejected_calls = rejected_;
    s.ignored_calls = ignored_;
    return s;
  }

  std::uint32_t probes_in_flight() const {
    if (state_ != State::half_open) return 0;
    if (!ratio_episode_) return probes_of_this_episode_;
    return probes_of_this_episode_ - successes_in_a_row_ - ratio_failures_;
  }
  /// Half-open with a maximum wait: when it ends.
  bool half_open_waiting() const { return state_ == State::half_open && waiting_; }
  std::int64_t half_open_until() const { return half_open_until_ns_; }
  std::uint64_t epoch() const { return epoch_; }
  State internal_state() const { return state_; }
  bool forced() const { return forced_; }
  /// When the current open period ends (meaningful while open and not forced).
  std::int64_t open_until() const { return open_until_ns_; }
  const CircuitBreakerConfig& config() const { return config_; }

  std::uint64_t transitions(State from, State to) const {
    return transitions_[index(from) * 5 + index(to)];
  }
  const std::vector<ModelEvent>& events() const { return events_; }

  /// The duration histogram: calls per bucket (bounds as in `CallDurations`,
  /// "value <= bound"), count and sum in nanoseconds.
  const std::array<std::uint64_t, 15>& duration_buckets() const { return duration_buckets_; }
  std::uint64_t duration_count() const { return duration_count_; }
  std::uint64_t duration_sum_ns() const { return duration_sum_ns_; }

 private:
  static std::size_t index(State s) { return static_cast<std::size_t>(s); }

  bool open_period_over() const { return now_ns_ >= open_until_ns_; }

  void reject() {
    ++total_;
    ++rejected_;
  }

  // A new epoch in state `to` with every run and the volume cleared.
  void enter_silently(State to) {
    state_ = to;
    forced_ = false;
    failures_in_a_row_ = 0;
    successes_in_a_row_ = 0;
    opening_run_ = 0;
    outcomes_since_closed_ = 0;
    probes_of_this_episode_ = 0;
    ratio_failures_ = 0;
    ratio_episode_ = false;
    waiting_ = false;
    if (to == State::closed || to == State::disabled || to == State::metrics_only) level_ = 0;
    window_.clear();  // a window holds one closed (or metrics-only) period
    ++epoch_;
  }

  // disable() / metrics_only().
  void manual_enter(State to) {
    if (state_ == to) return;
    const State from = state_;
    enter_silently(to);
    note_transition(from, to);
  }

  void open_after_failed_half_open(std::uint32_t run) {
    ++level_;
    open(run);
  }

  void record_ratio_probe(ModelOutcome outcome) {
    const std::uint32_t n = std::min<std::uint32_t>(config_.half_open_max_requests, 255);
    const std::uint32_t required = required_successes(n);
    switch (outcome) {
      case ModelOutcome::ignored:
        --probes_of_this_episode_;
        return;
      case ModelOutcome::success:
        ++successes_in_a_row_;
        if (successes_in_a_row_ >= required) enter(State::closed);
        return;
      case ModelOutcome::failure:
        ++ratio_failures_;
        if (ratio_failures_ > n - required) open_after_failed_half_open(ratio_failures_);
        return;
    }
  }

  // ceil(ratio * n / 100) in [1, n], computed with a tolerance against
  // floating-point error (50 % of 4 is 2).
  std::uint32_t required_successes(std::uint32_t n) const {
    const double exact = config_.half_open_success_ratio * n / 100.0;
    std::uint32_t r = static_cast<std::uint32_t>(std::ceil(exact - 1e-9));
    return std::clamp<std::uint32_t>(r, 1, n);
  }

  // The length of an open period the breaker computes itself, in ns.
  std::int64_t own_open_duration_ns() {
    const double timeout_ns = static_cast<double>(config_.timeout_duration.count()) * 1e6;
    const double cap_ns = static_cast<double>(config_.max_open_duration.count()) * 1e6;
    const bool backoff = config_.open_duration_policy == OpenDurationPolicy::exponential_backoff;
    if (!backoff && config_.open_duration_jitter == Jitter::none) {
      return static_cast<std::int64_t>(config_.timeout_duration.count()) * 1'000'000;
    }
    double d = timeout_ns;
    if (backoff) d = std::min(d * std::pow(config_.backoff_multiplier, level_), cap_ns);
    if (config_.open_duration_jitter != Jitter::none) {
      jitter_state_ += 0x9E3779B97F4A7C15ULL;
      std::uint64_t z = jitter_state_;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      const double u = static_cast<double>(z >> 11) / 9007199254740992.0;
      d = config_.open_duration_jitter == Jitter::full
              ? d * u
              : d * (1.0 + config_.jitter_ratio * (2.0 * u - 1.0));
      if (backoff) d = std::min(d, cap_ns);
    }
    // Never longer than the longest duration a config may hold.
    d = std::clamp(d, 0.0, static_cast<double>(CircuitBreakerConfig::max_duration.count()) * 1e6);
    return static_cast<std::int64_t>(std::ceil(d / 1e3)) * 1000;  // whole microseconds, up
  }

  void enter(State to) {
    const State from = state_;
    enter_silently(to);
    note_transition(from, to);
    if (to == State::half_open) {
      ratio_episode_ = config_.half_open_close == HalfOpenClose::success_ratio;
      if (config_.max_wait_in_half_open.count() > 0) {
        waiting_ = true;
        half_open_until_ns_ = now_ns_ + config_.max_wait_in_half_open.count() * 1'000'000;
      }
    }
  }

  void open(std::uint32_t run) {
    enter(State::open);
    opening_run_ = run;
    open_until_ns_ = now_ns_ + own_open_duration_ns();
  }

  void note_transition(State from, State to) {
    ++transitions_[index(from) * 5 + index(to)];
    events_.push_back(ModelEvent{from, to, epoch_});
  }

  void record_duration(std::int64_t ns) {
    static constexpr std::array<std::int64_t, 14> bounds_ms{
        1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
    std::size_t bucket = bounds_ms.size();  // +Inf
    for (std::size_t i = 0; i < bounds_ms.size(); ++i) {
      if (ns <= bounds_ms[i] * 1'000'000) {
        bucket = i;
        break;
      }
    }
    ++duration_buckets_[bucket];
    ++duration_count_;
    duration_sum_ns_ += static_cast<std::uint64_t>(ns);
  }

  // --- the sliding window (windows12) ---------------------------------------
  struct WindowEntry {
    std::int64_t at_ns;
    bool failure;
    bool slow;
  };
  static std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
  }
  static std::int64_t bucket_ns(const CircuitBreakerConfig& c) {
    return c.window_duration.count() * 1'000'000 / c.window_buckets;
  }
  // Whether an entry is inside the window now (count-based: always; the
  // list holds the last N).
  bool in_window(const WindowEntry& e, const CircuitBreakerConfig& c) const {
    if (c.window_type == WindowType::count_based) return true;
    const std::int64_t w = bucket_ns(c);
    return floor_div(now_ns_, w) - floor_div(e.at_ns, w) < static_cast<std::int64_t>(c.window_buckets);
  }

 public:
  /// The window's counts now (calls, failures, slow), as `window_stats()`.
  std::array<std::uint64_t, 3> window_counts() const {
    std::array<std::uint64_t, 3> n{};
    if (!config_.uses_window() || (state_ != State::closed && state_ != State::metrics_only)) return n;
    for (const WindowEntry& e : window_) {
      if (!in_window(e, config_)) continue;
      ++n[0];
      n[1] += e.failure ? 1 : 0;
      n[2] += e.slow ? 1 : 0;
    }
    return n;
  }

 private:
  bool window_rate_reached() const {
    const auto n = window_counts();
    if (n[0] == 0 || n[0] < config_.minimum_request_threshold) return false;
    const double calls = static_cast<double>(n[0]);
    if (config_.trip_policy == TripPolicy::failure_rate &&
        100.0 * static_cast<double>(n[1]) >= config_.failure_rate_threshold * calls) {
      return true;
    }
    return config_.slow_call_duration_threshold.count() > 0 &&
           100.0 * static_cast<double>(n[2]) >= config_.slow_call_rate_threshold * calls;
  }

  // update_config's rules for the window (docs/01-semantics.md, "Live config
  // changes of the window fields").
  void update_window(const CircuitBreakerConfig& next) {
    if (!next.uses_window() || !config_.uses_window()) {
      window_.clear();
      return;
    }
    const bool same_shape =
        next.window_type == config_.window_type &&
        (next.window_type == WindowType::count_based
             ? next.window_size == config_.window_size
             : bucket_ns(next) == bucket_ns(config_) && next.window_buckets == config_.window_buckets);
    if (same_shape) return;
    std::vector<WindowEntry> kept;
    for (const WindowEntry& e : window_) {
      if (in_window(e, config_)) kept.push_back(e);
    }
    if (config_.window_type == WindowType::count_based && next.window_type == WindowType::count_based) {
      if (kept.size() > next.window_size) kept.erase(kept.begin(), kept.end() - next.window_size);
    } else if (config_.window_type == WindowType::time_based &&
               next.window_type == WindowType::time_based) {
      const std::int64_t w_old = bucket_ns(config_), w_new = bucket_ns(next);
      std::vector<WindowEntry> moved;
      for (WindowEntry e : kept) {
        e.at_ns = now_ns_ - (floor_div(now_ns_, w_old) - floor_div(e.at_ns, w_old)) * w_old;
        if (floor_div(now_ns_, w_new) - floor_div(e.at_ns, w_new) <
            static_cast<std::int64_t>(next.window_buckets)) {
          moved.push_back(e);
        }
      }
      kept = std::move(moved);
    } else if (next.window_type == WindowType::time_based) {
      for (WindowEntry& e : kept) e.at_ns = now_ns_;  // count -> time: the current bucket
    } else {
      kept.clear();  // time -> count: empty
    }
    window_ = std::move(kept);
  }

  std::vector<WindowEntry> window_;

  CircuitBreakerConfig config_;
  std::int64_t now_ns_;

  State state_ = State::closed;
  bool forced_ = false;
  std::uint64_t epoch_ = 0;
  std::uint32_t failures_in_a_row_ = 0;   // closed
  std::uint32_t successes_in_a_row_ = 0;  // half-open
  std::uint32_t opening_run_ = 0;         // open
  std::uint64_t outcomes_since_closed_ = 0;  // closed: every outcome since closing (rule 4)
  std::int64_t open_until_ns_ = 0;
  std::uint32_t probes_of_this_episode_ = 0;  // half-open: admitted in this episode, outstanding
                                              // (ratio episode: admitted and not ignored)
  bool ratio_episode_ = false;                // half-open: the episode closes on a ratio
  std::uint32_t ratio_failures_ = 0;          // ratio episode: failed probes
  bool waiting_ = false;                      // half-open: with a maximum wait
  std::int64_t half_open_until_ns_ = 0;
  std::uint32_t level_ = 0;                   // backoff level
  std::uint64_t jitter_state_ = config_.jitter_seed;

  std::uint64_t total_ = 0, successful_ = 0, failed_ = 0, rejected_ = 0, ignored_ = 0;
  std::array<std::uint64_t, 25> transitions_{};
  std::vector<ModelEvent> events_;

  std::uint64_t admissions_ = 0;  // admitted calls (the real breaker's per-thread numbering)
  std::int64_t held_ns_ = 0;      // duration of the last timed call
  std::array<std::uint64_t, 15> duration_buckets_{};
  std::uint64_t duration_count_ = 0;
  std::uint64_t duration_sum_ns_ = 0;
};

}  // namespace breaker::reliability
