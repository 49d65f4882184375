// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The call-duration histogram (Prometheus bucket layout), written without any
/// shared cache line: one stripe per thread slot (see counters.hpp).
///
/// Sampling ("sample and hold"). Reading a clock twice per call costs more
/// than the whole closed-state call, so by default only a deterministic sample
/// of calls is timed: on each thread, the 1st, (N+1)-th, (2N+1)-th... call of
/// a breaker (N = `CircuitBreakerConfig::duration_sample_every`, a power of
/// two; the numbering is the thread slot's admission count). Every tracked
/// call is still recorded: an untimed call is recorded with the duration of
/// the last timed call of its thread slot (0 before the first one). So
///  - `_count` (and the `+Inf` bucket) is exact: every call counts once;
///  - buckets are cumulative and `+Inf == _count` by construction, and every
///    series only grows (a valid Prometheus histogram, `rate()` works);
///  - each timed call stands for itself and the next N-1 calls of its thread
///    (weight N, applied as those calls finish), so a bucket's share and
///    `_sum` are unbiased estimates whenever a call's duration does not depend
///    on its position modulo N in its thread's sequence of calls. With m timed
///    calls the share p of a bucket is known to within about
///    2*sqrt(p(1-p)/m) (95%); e.g. 10,000 timed calls (160,000 calls at N=16):
///    every cumulative share within +-0.01, checked by
///    tests/unit/test_duration_histogram.cpp with a known distribution.
///  - N = 1 times every call: exact buckets and `_sum`.
///
/// Writes: the owner of an exclusive slot is the only writer of its stripe, so
/// it updates with plain relaxed loads and stores (no locked instruction);
/// threads beyond the exclusive slots share the last stripe with `fetch_add`.
/// Readers (`snapshot`) sum the stripes with relaxed loads.
///
/// Memory: the stripes (7 x 136 bytes, one 64-byte-aligned block of 960
/// bytes) are allocated by `enable()`, only for breakers that record
/// durations; the histogram object itself is one pointer.

#include "breaker/detail/counters.hpp"
#include "breaker/detail/timestamp.hpp"
#include "breaker/stats.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace breaker::detail {

/// How an admitted call is recorded in the duration histogram (kept by the
/// call path or its `Permit` from admission to outcome).
enum class CallTiming : std::uint8_t {
  none,   ///< durations off: not recorded
  held,   ///< recorded with its thread slot's last timed duration (not timed)
  timed,  ///< timed: a timestamp at admission and one at the outcome
};

class DurationHistogram {
 public:
  /// Bucket upper bounds in nanoseconds, matching `CallDurations::bucket_bounds`.
  static constexpr std::array<std::int64_t, 14> bounds_ns{
      1'000'000,   5'000'000,     10'000'000,    25'000'000,    50'000'000,
      100'000'000, 250'000'000,   500'000'000,   1'000'000'000, 2'500'000'000,
      5'000'000'000, 10'000'000'000, 30'000'000'000, 60'000'000'000};
  static constexpr std::size_t bucket_count = bounds_ns.size() + 1;  // + the +Inf bucket

  DurationHistogram() = default;
  DurationHistogram(const DurationHistogram&) = delete;
  DurationHistogram& operator=(const DurationHistogram&) = delete;
  ~DurationHistogram() { delete stripes_.load(std::memory_order_acquire); }

  /// Allocates the stripes (once; later calls do nothing) and calibrates the
  /// timestamp source so that no call pays for it. Thread-safe.
  /// \throws std::bad_alloc (the histogram is then unchanged).
  void enable() {
    (void)timestamp_scale();
    if (stripes_.load(std::memory_order_acquire) != nullptr) return;
    auto* fresh = new Stripes{};
    Stripes* expected = nullptr;
    // CAS (one attempt: either we install ours or someone else's is there):
    // release on success publishes the zeroed stripes to every acquire load of
    // the pointer; acquire on failure to use the winner's.
    if (!stripes_.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
      delete fresh;
    }
  }

  /// Whether `enable()` has run.
  bool enabled() const noexcept { return stripes_.load(std::memory_order_acquire) != nullptr; }

  /// Whether the `n`-th admission (1-based, counted per thread slot) of a
  /// breaker sampling every `every`-th call (a power of two) is timed.
  static bool is_sampled(std::uint64_t n, std::uint32_t every) noexcept {
    return ((n - 1) & (every - 1)) == 0;
  }
  /// The same with the breaker's `duration_sample_every` (set_sample_every).
  bool is_sampled(std::uint64_t n) const noexcept {
    return ((n - 1) & sample_mask_.load(std::memory_order_relaxed)) == 0;
  }
  /// Sets `duration_sample_every` (a power of two). Relaxed: a call that sees
  /// the old value while the config changes only samples by the old rule.
  void set_sample_every(std::uint32_t every) noexcept {
    sample_mask_.store(every - 1, std::memory_order_relaxed);
  }

  /// The bucket of a duration (le: a duration equal to a bound is in its bucket).
  static std::size_t bucket_of(std::int64_t ns) noexcept {
    std::size_t i = 0;
    while (i < bounds_ns.size() && ns > bounds_ns[i]) ++i;
    return i;
  }

  /// Records a timed call of `ns` nanoseconds (negative: 0) on `slot`'s stripe;
  /// it becomes the duration held for the slot's untimed calls.
  /// Precondition: `enabled()`.
  void record_timed(unsigned slot, std::int64_t ns) noexcept {
    if (ns < 0) ns = 0;
    if (ns > max_held_ns) ns = max_held_ns;
    const std::size_t bucket = bucket_of(ns);
    Stripe& s = stripe(slot);
    // Relaxed: only this stripe's later records read it (same thread for an
    // exclusive slot; any value is fine for the shared one).
    s.held.store((static_cast<std::uint64_t>(ns) << bucket_bits) | bucket,
                 std::memory_order_relaxed);
    add(slot, s.buckets[bucket], 1);
    add(slot, s.sum_ns, static_cast<std::uint64_t>(ns));
  }

  /// Records an untimed call on `slot`'s stripe with the held duration.
  /// Precondition: `enabled()`.
  void record_held(unsigned slot) noexcept {
    Stripe& s = stripe(slot);
    const std::uint64_t held = s.held.load(std::memory_order_relaxed);
    add(slot, s.buckets[held & bucket_mask], 1);
    add(slot, s.sum_ns, held >> bucket_bits);
  }

  /// The duration (ns) of `slot`'s last timed call: right after
  /// `record_timed(slot, ns)` on the slot's own thread, that `ns` (clamped to
  /// [0, 2^60)); the slow-call rule reads it so that the call path need not
  /// carry the duration. (The overflow slot's threads may read each other's.)
  /// Precondition: `enabled()`.
  std::int64_t last_timed_ns(unsigned slot) const noexcept {
    const Stripes* all = stripes_.load(std::memory_order_acquire);
    return static_cast<std::int64_t>(all->stripes[slot].held.load(std::memory_order_relaxed) >>
                                     bucket_bits);
  }

  /// The histogram summed over the stripes (empty before `enable()`).
  CallDurations snapshot() const noexcept {
    CallDurations out;
    const Stripes* all = stripes_.load(std::memory_order_acquire);
    if (all == nullptr) return out;
    std::uint64_t sum_ns = 0;
    for (const Stripe& s : all->stripes) {
      for (std::size_t i = 0; i < bucket_count; ++i) {
        out.bucket_counts[i] += s.buckets[i].load(std::memory_order_relaxed);
      }
      sum_ns += s.sum_ns.load(std::memory_order_relaxed);
    }
    for (const std::uint64_t c : out.bucket_counts) out.count += c;
    out.sum_seconds = static_cast<double>(sum_ns) / 1e9;
    return out;
  }

  /// Heap bytes owned (0 before `enable()`).
  std::size_t heap_bytes() const noexcept { return enabled() ? sizeof(Stripes) : 0; }

 private:
  static constexpr unsigned bucket_bits = 4;
  static constexpr std::uint64_t bucket_mask = (std::uint64_t{1} << bucket_bits) - 1;
  static constexpr std::int64_t max_held_ns = (std::int64_t{1} << (64 - bucket_bits)) - 1;
  static_assert(bucket_count <= bucket_mask + 1);

  // Hot fields first: a stripe's first line holds what an untimed call writes
  // for calls up to 50 ms. Stripes are packed (136 bytes); a cache line shared
  // by two stripes holds one stripe's first fields and the other's buckets for
  // calls longer than 1 s, which a thread writes at most once per second.
  struct Stripe {
    std::atomic<std::uint64_t> held{0};  // (ns << bucket_bits) | bucket of the last timed call
    std::atomic<std::uint64_t> sum_ns{0};
    std::array<std::atomic<std::uint64_t>, bucket_count> buckets{};
  };
  struct alignas(64) Stripes {
    std::array<Stripe, slot_count> stripes{};
  };

  Stripe& stripe(unsigned slot) noexcept {
    // Acquire: pairs with enable()'s CAS (free on x86; the caller already
    // synchronised through the config that told it durations are on).
    return stripes_.load(std::memory_order_acquire)->stripes[slot];
  }

  static void add(unsigned slot, std::atomic<std::uint64_t>& value, std::uint64_t by) noexcept {
    if (slot != shared_slot) [[likely]] {
      // Single writer (this thread owns the slot), so a relaxed load and store
      // cannot lose an update and need no locked instruction.
      value.store(value.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    } else {
      value.fetch_add(by, std::memory_order_relaxed);
    }
  }

  std::atomic<Stripes*> stripes_{nullptr};
  std::atomic<std::uint32_t> sample_mask_{0};  // duration_sample_every - 1
};

}  // namespace breaker::detail
