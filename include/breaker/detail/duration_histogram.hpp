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
///
/// Held calls, counted and folded (exclusive slots). An untimed call adds 1 to
/// its slot's `CallCounters::held` count, on the counter line the call writes
/// anyway (one increment, no stripe access); the slot's next timed call folds
/// that count into the held bucket and `_sum` (count x held duration) before
/// it records itself and changes the held duration. So every held call still
/// ends up in the bucket of the duration held when it finished, exactly as if
/// it had been added there. A snapshot adds each slot's pending count to its
/// held bucket. The fold runs under a per-stripe sequence lock (odd while the
/// owner folds; readers retry), so a snapshot never sees a count both pending
/// and folded, or neither: `_count` stays exact and every series monotonic.
/// The shared slot's calls (several writers) go straight to its buckets.
///
/// Memory: the stripes (7 x 144 bytes, one 64-byte-aligned block of 1024
/// bytes) are allocated by `enable()`, only for breakers that record
/// durations; the histogram object itself is one pointer.

#include "breaker/detail/counters.hpp"
#include "breaker/detail/timestamp.hpp"
#include "breaker/stats.hpp"

#include <array>
#include <atomic>
#include <thread>
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
  /// it becomes the duration held for the slot's untimed calls. On an
  /// exclusive slot (called by its owner) it first folds the slot's pending
  /// held calls (`counters`' `held` count) into the previous held bucket.
  /// Precondition: `enabled()`.
  void record_timed(unsigned slot, std::int64_t ns, CallCounters& counters) noexcept {
    if (ns < 0) ns = 0;
    if (ns > max_held_ns) ns = max_held_ns;
    const std::size_t bucket = bucket_of(ns);
    const std::uint64_t next_held = (static_cast<std::uint64_t>(ns) << bucket_bits) | bucket;
    Stripe& s = stripe(slot);
    if (slot >= exclusive_slots) {
      // Shared stripe: several writers, no fold (its held calls are added
      // directly); the held word is any recent one.
      s.held.store(next_held, std::memory_order_relaxed);
      s.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
      s.sum_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
      return;
    }
    // Single writer (the slot's owner): relaxed loads of its own values.
    std::atomic<std::uint64_t>& pending = counters.at(slot, CallCounters::held);
    const std::uint64_t calls = pending.load(std::memory_order_relaxed);
    const std::uint64_t held = s.held.load(std::memory_order_relaxed);
    const std::uint64_t seq = s.seq.load(std::memory_order_relaxed);
    // Sequence lock, writer side, without fences (ThreadSanitizer does not
    // model them): the odd sequence first, then every write of the fold with
    // release, so a reader whose (acquire) load sees any of them also sees
    // the odd or a later sequence when it reads the sequence again, and
    // retries. All of them are plain stores on x86.
    s.seq.store(seq + 1, std::memory_order_relaxed);
    if (calls != 0) {
      bump(s.buckets[held & bucket_mask], calls);
      // Modulo 2^64 like `calls` separate additions would be.
      bump(s.sum_ns, calls * (held >> bucket_bits));
      pending.store(0, std::memory_order_release);
    }
    bump(s.buckets[bucket], 1);
    bump(s.sum_ns, static_cast<std::uint64_t>(ns));
    s.held.store(next_held, std::memory_order_release);
    // release: the reader that loads this even sequence (acquire) sees the
    // whole fold.
    s.seq.store(seq + 2, std::memory_order_release);
  }

  /// Records an untimed call of an exclusive slot (called by its owner): one
  /// more call pending in the slot's held count, folded by its next timed call.
  /// Precondition: `slot < exclusive_slots`.
  [[gnu::always_inline]] static void record_held_exclusive(unsigned slot,
                                                           CallCounters& counters) noexcept {
    counters.exclusive_line(slot).increment(CallCounters::held);
  }

  /// Records an untimed call on `slot` with the held duration.
  /// Precondition: `enabled()`.
  void record_held(unsigned slot, CallCounters& counters) noexcept {
    if (slot < exclusive_slots) [[likely]] {
      record_held_exclusive(slot, counters);
      return;
    }
    record_held_shared(slot);
  }

  /// `record_held` of the shared slot: out of line (what GCC's partial
  /// inlining made of it before the counters became a template, which tipped
  /// its estimate into inlining it into every caller: one more instruction on
  /// the closed success path; docs/reliability.md, "The counters and the
  /// listener lists under Relacy").
  [[gnu::noinline]] void record_held_shared(unsigned slot) noexcept {
    Stripe& s = stripe(slot);
    const std::uint64_t held = s.held.load(std::memory_order_relaxed);
    s.buckets[held & bucket_mask].fetch_add(1, std::memory_order_relaxed);
    s.sum_ns.fetch_add(held >> bucket_bits, std::memory_order_relaxed);
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

  /// The histogram summed over the stripes and the pending held calls
  /// (empty before `enable()`).
  CallDurations snapshot(const CallCounters& counters) const noexcept {
    CallDurations out;
    const Stripes* all = stripes_.load(std::memory_order_acquire);
    if (all == nullptr) return out;
    std::uint64_t sum_ns = 0;
    for (unsigned slot = 0; slot < slot_count; ++slot) {
      const Stripe& s = all->stripes[slot];
      std::array<std::uint64_t, bucket_count> buckets{};
      std::uint64_t stripe_sum = 0;
      for (unsigned attempt = 0;; ++attempt) {
        // Sequence lock, reader side: an even sequence, the values, the same
        // sequence again. acquire on every load: the reload of the sequence
        // cannot move before them, and a value written by a fold makes the
        // fold's odd sequence visible to it.
        const std::uint64_t seq = s.seq.load(std::memory_order_acquire);
        if ((seq & 1) == 0) {
          for (std::size_t i = 0; i < bucket_count; ++i) {
            buckets[i] = s.buckets[i].load(std::memory_order_acquire);
          }
          stripe_sum = s.sum_ns.load(std::memory_order_acquire);
          if (slot < exclusive_slots) {
            const std::uint64_t calls =
                counters.at(slot, CallCounters::held).load(std::memory_order_acquire);
            const std::uint64_t held = s.held.load(std::memory_order_acquire);
            buckets[held & bucket_mask] += calls;
            stripe_sum += calls * (held >> bucket_bits);
          }
          if (s.seq.load(std::memory_order_relaxed) == seq) break;
        }
        // The owner is folding (a few dozen instructions), or was preempted
        // while it did.
        if (attempt >= 64) std::this_thread::yield();
      }
      for (std::size_t i = 0; i < bucket_count; ++i) out.bucket_counts[i] += buckets[i];
      sum_ns += stripe_sum;
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

  // Written by timed calls only (untimed calls of exclusive slots write their
  // counter line). Stripes are packed (144 bytes); a cache line shared by two
  // stripes holds one stripe's first fields and the other's buckets for calls
  // longer than 1 s.
  struct Stripe {
    std::atomic<std::uint64_t> seq{0};   // sequence lock of the fold: odd while it runs
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

  // Single writer (the owner of an exclusive slot, inside the fold), so a
  // load and a store cannot lose an update and need no locked instruction;
  // release for the sequence lock (see record_timed).
  static void bump(std::atomic<std::uint64_t>& value, std::uint64_t by) noexcept {
    value.store(value.load(std::memory_order_relaxed) + by, std::memory_order_release);
  }

  std::atomic<Stripes*> stripes_{nullptr};
  std::atomic<std::uint32_t> sample_mask_{0};  // duration_sample_every - 1
};

}  // namespace breaker::detail
