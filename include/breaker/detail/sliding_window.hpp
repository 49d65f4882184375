// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A breaker's sliding window: a count-based (`count_window.hpp`) or
/// time-based (`time_window.hpp`) window with the rate rules of the config,
/// as `CircuitBreaker` uses it. Exists only while the config uses a window
/// (`CircuitBreakerConfig::uses_window()`); a breaker with the default
/// consecutive policy allocates none.
///
/// Thread safety: `record`, `counts`, `rules` from any thread, lock-free
/// (see the two windows); `set_rules` and `copy_from` are called by
/// `update_config` only (serialised by the breaker).

#include "breaker/config.hpp"
#include "breaker/detail/count_window.hpp"
#include "breaker/detail/time_window.hpp"
#include "breaker/detail/timestamp.hpp"
#include "breaker/detail/window_counts.hpp"

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace breaker::detail {

/// The time a time-based window of a breaker on `Clock` uses, in nanoseconds
/// since the clock's epoch: `clock.now()` for a test clock (so
/// `ManualClock` drives the window exactly); for `steady_clock` and
/// `system_clock` the kernel's coarse variant of the same clock
/// (`CLOCK_MONOTONIC_COARSE` / `CLOCK_REALTIME_COARSE`: the same time at tick
/// resolution, a few milliseconds, for about a third of the cost of a precise
/// read on the benchmark machine), which buckets of at least 1 ms tolerate.
template <class Clock>
std::int64_t window_time_ns(const Clock& clock) noexcept {
#if defined(CLOCK_MONOTONIC_COARSE) && defined(CLOCK_REALTIME_COARSE)
  if constexpr (is_hardware_clock_v<Clock>) {
    (void)clock;
    timespec ts{};
    clock_gettime(Clock::is_steady ? CLOCK_MONOTONIC_COARSE : CLOCK_REALTIME_COARSE,
                  &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  } else
#endif
  {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now().time_since_epoch())
        .count();
  }
}

/// What a window stores: equal shapes can share contents unchanged.
struct WindowShape {
  WindowType type = WindowType::count_based;
  std::uint32_t size = 0;       // count_based
  std::int64_t width_ns = 0;    // time_based: bucket width
  std::uint32_t buckets = 0;    // time_based

  static WindowShape of(const CircuitBreakerConfig& c) noexcept {
    WindowShape s;
    s.type = c.window_type;
    if (c.window_type == WindowType::count_based) {
      s.size = c.window_size;
    } else {
      s.buckets = c.window_buckets;
      s.width_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(c.window_duration).count() /
                   c.window_buckets;
    }
    return s;
  }
  friend constexpr bool operator==(const WindowShape&, const WindowShape&) = default;
};

/// The rate rules a config gives its window.
inline RateRules rate_rules_of(const CircuitBreakerConfig& c) noexcept {
  RateRules r;
  if (c.trip_policy == TripPolicy::failure_rate) r.failure_rate_threshold = c.failure_rate_threshold;
  if (c.slow_call_duration_threshold.count() > 0) r.slow_call_rate_threshold = c.slow_call_rate_threshold;
  r.minimum_calls = c.minimum_request_threshold;
  return r;
}

class SlidingWindow {
 public:
  /// \throws std::bad_alloc
  SlidingWindow(const WindowShape& shape, const CircuitBreakerConfig& config) : shape_(shape) {
    if (shape.type == WindowType::count_based) {
      count_ = std::make_unique<CountWindow>(shape.size);
    } else {
      time_ = std::make_unique<TimeWindow>(shape.width_ns, shape.buckets);
    }
    set_rules(config);
  }

  const WindowShape& shape() const noexcept { return shape_; }

  /// Records an outcome of `epoch` (`now_ns` matters to a time window only).
  /// \returns whether the rates should be re-checked even for a fast success:
  ///   time moved on (expired outcomes) or a rate was over its threshold
  ///   with too few calls (`mark_under_minimum`).
  bool record(unsigned slot, std::uint32_t epoch, std::int64_t now_ns, bool failure,
              bool slow) noexcept {
    bool moved = false;
    if (count_) {
      // A fast success into a clean window changes nothing and cannot trip
      // (clean_count_window).
      if (!failure && !slow && count_->clean(epoch)) return false;
      count_->record_outcome(slot, epoch, failure, slow);
    } else {
      moved = time_->record(slot, epoch, now_ns, failure, slow);
    }
    // relaxed: a hint only; a missed hint delays a trip to the next outcome
    // that checks anyway (a failure or a slow call).
    return moved || under_minimum_.load(std::memory_order_relaxed) == hint_of(epoch);
  }

  /// Whether a call of `duration_ns` is slow (the slow-call rule on and the
  /// duration over its threshold).
  [[gnu::always_inline]] bool is_slow(std::int64_t duration_ns) const noexcept {
    const std::int64_t t = slow_ns();
    return t > 0 && duration_ns > t;
  }

  /// Whether this is a count window and `epoch`'s is clean (full, no
  /// failure, no slow call): a fast success recorded now would change
  /// nothing, and cannot trip (rates 0, thresholds > 0, minimum <= N), so
  /// the caller skips it. One relaxed load (count_window.hpp, "clean-window
  /// fast path").
  [[gnu::always_inline]] bool clean_count_window(std::uint32_t epoch) const noexcept {
    const CountWindow* const count = count_.get();
    return count != nullptr && count->clean(epoch);
  }

  /// Records a fast success of `epoch` at `now_ns` into a time window.
  /// \returns whether the rates should be re-checked (as `record`).
  bool record_time_success(unsigned slot, std::uint32_t epoch, std::int64_t now_ns) noexcept {
    const bool moved = time_->record(slot, epoch, now_ns, false, false);
    // relaxed: a hint (see record).
    return moved || under_minimum_.load(std::memory_order_relaxed) == hint_of(epoch);
  }

  /// The counts of `epoch`'s window at `now_ns`.
  WindowCounts counts(std::uint32_t epoch, std::int64_t now_ns) const noexcept {
    return count_ ? count_->counts(epoch) : time_->counts(epoch, now_ns);
  }

  /// Records that the last check of `epoch`'s window found a rate at or over
  /// its threshold without tripping (too few calls yet, or a config change
  /// that made it so) (`true`), or not (`false`): while set, successes
  /// re-check the rates (a success can be the call that reaches the minimum).
  void mark_under_minimum(std::uint32_t epoch, bool under) noexcept {
    const std::uint32_t want = under ? hint_of(epoch) : 0;
    // relaxed: a hint (see record); written only when it changes, so a steady
    // window writes no shared line.
    if (under_minimum_.load(std::memory_order_relaxed) != want) {
      under_minimum_.store(want, std::memory_order_relaxed);
    }
  }

  /// The rules (each field one relaxed atomic: an update races as old or new
  /// per field, never torn).
  RateRules rules() const noexcept {
    return {failure_rate_.load(std::memory_order_relaxed), slow_rate_.load(std::memory_order_relaxed),
            minimum_.load(std::memory_order_relaxed)};
  }
  /// The slow-call threshold in nanoseconds (0: off).
  std::int64_t slow_ns() const noexcept { return slow_ns_.load(std::memory_order_relaxed); }

  /// After a config change: marks the window for a re-check at the next
  /// outcome when its contents are already at or over a (new) threshold.
  void recheck_after_update(std::uint32_t epoch, std::int64_t now_ns) noexcept {
    const RateVerdict v = decide_rates(counts(epoch, now_ns), rules());
    mark_under_minimum(epoch, v != RateVerdict::below);
  }

  void set_rules(const CircuitBreakerConfig& config) noexcept {
    const RateRules r = rate_rules_of(config);
    failure_rate_.store(r.failure_rate_threshold, std::memory_order_relaxed);
    slow_rate_.store(r.slow_call_rate_threshold, std::memory_order_relaxed);
    minimum_.store(r.minimum_calls, std::memory_order_relaxed);
    slow_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       config.slow_call_duration_threshold)
                       .count(),
                   std::memory_order_relaxed);
  }

  /// Moves `old`'s contents of `epoch` into this (fresh) window, where they
  /// still make sense (docs/01-semantics.md, "Live config change"):
  ///  - count to count: the newest min(old N, new N) outcomes, newest kept;
  ///  - time to time: each live old bucket of age k (k periods before the
  ///    current one) is replayed at now - k * old width, into the new bucket
  ///    holding that time, when it is still inside the new window (a shorter
  ///    window drops the oldest);
  ///  - count to time: all of them into the current bucket (they are recent:
  ///    they leave the window one full window_duration from now);
  ///  - time to count: none (a time bucket does not say which of its
  ///    outcomes were the slow failures, so no ring of outcomes can be made):
  ///    the count window starts empty.
  /// Written from the updating thread's slot. Outcomes recorded into `old`
  /// while this runs are lost (the call path switches windows right after).
  [[gnu::cold, gnu::noinline]] void copy_from(const SlidingWindow& old, unsigned slot,
                                              std::uint32_t epoch, std::int64_t now_ns) noexcept {
    if (old.count_ && count_) {
      // Newest first from the old ring, so replay oldest first into the new.
      const std::uint32_t keep = std::min(old.count_->size(), count_->size());
      std::unique_ptr<std::uint8_t[]> kept(new (std::nothrow) std::uint8_t[keep]);
      if (!kept) return;
      std::uint32_t n = 0;
      old.count_->for_each_newest(epoch, keep, [&](bool failure, bool slow) {
        kept[n++] = static_cast<std::uint8_t>((failure ? 1 : 0) | (slow ? 2 : 0));
      });
      while (n > 0) {
        --n;
        count_->record(slot, epoch, (kept[n] & 1) != 0, (kept[n] & 2) != 0);
      }
    } else if (old.time_ && time_) {
      old.time_->for_each_bucket(epoch, now_ns, [&](std::uint64_t age, const WindowCounts& c) {
        const std::int64_t at = now_ns - static_cast<std::int64_t>(age) * old.time_->width_ns();
        const std::int64_t new_age =
            floor_div(now_ns, time_->width_ns()) - floor_div(at, time_->width_ns());
        if (new_age >= static_cast<std::int64_t>(time_->buckets())) return;
        replay(slot, epoch, at, c);
      });
    } else if (old.count_ && time_) {
      const WindowCounts c = old.count_->counts(epoch);
      replay(slot, epoch, now_ns, c);
    }
  }

 private:
  static constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
  }
  static constexpr std::uint32_t hint_of(std::uint32_t epoch) noexcept {
    return (epoch & window_epoch_mask) + 1;
  }

  // Records counts `c` into the time window at `at` (slow failures as slow
  // successes plus failures: the two rates' counts are what matters).
  void replay(unsigned slot, std::uint32_t epoch, std::int64_t at, const WindowCounts& c) noexcept {
    const std::uint64_t both = std::min(c.failures, c.slow);
    for (std::uint64_t i = 0; i < c.calls; ++i) {
      time_->record(slot, epoch, at, i < c.failures, i >= c.failures - both && i < c.failures - both + c.slow);
    }
  }

  WindowShape shape_;
  std::unique_ptr<CountWindow> count_;
  std::unique_ptr<TimeWindow> time_;
  std::atomic<double> failure_rate_{101.0};
  std::atomic<double> slow_rate_{101.0};
  std::atomic<std::uint64_t> minimum_{0};
  std::atomic<std::int64_t> slow_ns_{0};
  alignas(64) std::atomic<std::uint32_t> under_minimum_{0};  // epoch + 1, or 0
};

}  // namespace breaker::detail
