// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// What a sliding window (`count_window.hpp`, `time_window.hpp`) answers, the
/// pieces both share (epoch tags, the per-slot seqlock and the overflow
/// slot's spinlock), and the pure rate rule that decides a trip from them.
///
/// Windows belong to one closed period of a breaker: every record carries the
/// breaker epoch of its permit, storage is tagged with it, and a window only
/// answers for one epoch. A breaker that closes enters a new epoch, so its
/// window starts empty without anyone clearing it (Resilience4j also clears
/// its window when it closes), and a stale outcome (an older epoch) is never
/// counted in the current window.

#include "breaker/detail/counters.hpp"
#include "breaker/detail/state_word.hpp"

#include <atomic>
#include <cstdint>

namespace breaker::detail {

/// The outcomes a window holds for one epoch. A slow failure counts in both
/// `failures` and `slow`. After concurrent records have finished the counts
/// are exact; while they run a snapshot may lag them (never `failures` or
/// `slow` above `calls`: the reader clamps).
struct WindowCounts {
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  std::uint64_t slow = 0;

  friend constexpr bool operator==(const WindowCounts&, const WindowCounts&) = default;
};

/// Breaker epochs are `StateWord::epoch_mask` wide (27 bits) and wrap: `a` is newer
/// than `b` when it is less than half the epoch space ahead.
inline constexpr std::uint32_t window_epoch_mask = static_cast<std::uint32_t>(StateWord::epoch_mask);
constexpr bool epoch_newer(std::uint32_t a, std::uint32_t b) noexcept {
  const std::uint32_t ahead = (a - b) & window_epoch_mask;
  return ahead != 0 && ahead < (window_epoch_mask + 1) / 2;
}

/// The rate rules of a breaker's window (percentages; a rule with threshold
/// above 100 is off, which is how a failure-rate-only or slow-only window is
/// expressed).
struct RateRules {
  double failure_rate_threshold = 101.0;
  double slow_call_rate_threshold = 101.0;
  std::uint64_t minimum_calls = 0;
};

/// Which rate a window's counts exceed, if any.
enum class RateVerdict : std::uint8_t { below, failure_rate, slow_call_rate, under_minimum };

/// Whether `c` trips a rule of `r`: at least `minimum_calls` outcomes (and at
/// least one) and a rate >= its threshold. The failure rate is checked first.
/// `under_minimum`: a rate is at or above its threshold but the window holds
/// too few calls yet (the breaker then re-checks on the next success too).
constexpr RateVerdict decide_rates(const WindowCounts& c, const RateRules& r) noexcept {
  if (c.calls == 0) return RateVerdict::below;
  const double calls = static_cast<double>(c.calls);
  const bool failure_hit = r.failure_rate_threshold <= 100.0 &&
                           100.0 * static_cast<double>(c.failures) >= r.failure_rate_threshold * calls;
  const bool slow_hit = r.slow_call_rate_threshold <= 100.0 &&
                        100.0 * static_cast<double>(c.slow) >= r.slow_call_rate_threshold * calls;
  if (!failure_hit && !slow_hit) return RateVerdict::below;
  if (c.calls < r.minimum_calls) return RateVerdict::under_minimum;
  return failure_hit ? RateVerdict::failure_rate : RateVerdict::slow_call_rate;
}

/// The failure and slow-call rates of `c` in percent (0 for an empty window).
constexpr double failure_rate_of(const WindowCounts& c) noexcept {
  return c.calls == 0 ? 0.0 : 100.0 * static_cast<double>(c.failures) / static_cast<double>(c.calls);
}
constexpr double slow_call_rate_of(const WindowCounts& c) noexcept {
  return c.calls == 0 ? 0.0 : 100.0 * static_cast<double>(c.slow) / static_cast<double>(c.calls);
}

/// Fences of the window code, for the atomic template `Atom` it runs on
/// (`std::atomic_thread_fence` for `std::atomic`; the Relacy checks
/// specialise it for their `rl::atomic` adapter, whose fences Relacy must see).
template <template <class> class Atom>
struct AtomicFence {
  static void fence(std::memory_order mo) noexcept { std::atomic_thread_fence(mo); }
};

/// One slot's counters of a window: written by the slot's owner only (plain
/// relaxed load + release store, no locked instruction), read by anyone.
/// `tag` says what the counts belong to (an epoch, and for a time bucket the
/// bucket's number); its lowest bit is set while the owner replaces the
/// counts for a new tag (a single-writer seqlock: readers retry).
///
/// `Atom` is the atomic template (folly's `Atom` idea, as in
/// `open_deadline.hpp`): `std::atomic` in the library; the Relacy checks
/// (`tests/relacy/relacy_windows.cpp`) run this very code on `rl::atomic`.
/// It must offer std::atomic's `load`, `store`, `exchange`, `fetch_add`,
/// `compare_exchange_weak` spelling.
template <template <class> class Atom = std::atomic>
struct alignas(32) BasicSlotCounts {
  Atom<std::uint64_t> tag{0};
  Atom<std::uint64_t> calls{0};
  Atom<std::uint64_t> failures{0};
  Atom<std::uint64_t> slow{0};

  static constexpr std::uint64_t busy_bit = 1;

  /// Adds (two's complement: a count window subtracts evicted outcomes).
  /// Order calls, failures, slow, each a release store: a reader loading in
  /// the opposite order with acquire sees `calls` at least as new as the
  /// others (for a time bucket, which only grows, failures <= calls).
  void add(std::uint64_t dc, std::uint64_t df, std::uint64_t ds) noexcept {
    calls.store(calls.load(std::memory_order_relaxed) + dc, std::memory_order_release);
    failures.store(failures.load(std::memory_order_relaxed) + df, std::memory_order_release);
    slow.store(slow.load(std::memory_order_relaxed) + ds, std::memory_order_release);
  }

  /// Replaces the counts with (dc, df, ds) under `new_tag` (busy bit clear).
  void reset(std::uint64_t new_tag, std::uint64_t dc, std::uint64_t df, std::uint64_t ds) noexcept {
    // relaxed store of the busy tag, then a release fence: a reader that sees
    // any of the new counts (acquire) also sees the busy tag or the final one.
    tag.store(new_tag | busy_bit, std::memory_order_relaxed);
    AtomicFence<Atom>::fence(std::memory_order_release);
    calls.store(dc, std::memory_order_relaxed);
    failures.store(df, std::memory_order_relaxed);
    slow.store(ds, std::memory_order_relaxed);
    // release: a reader that loads the final tag (acquire) sees the counts.
    tag.store(new_tag, std::memory_order_release);
  }

  /// Reads a consistent (tag, counts); false when the owner kept it busy for
  /// the whole of a few retries (the caller then skips it: a transient
  /// undercount of a window that was just reset).
  bool read(std::uint64_t& out_tag, WindowCounts& out) const noexcept {
    for (int attempt = 0; attempt < 64; ++attempt) {
      // acquire: pairs with reset()'s final release store.
      const std::uint64_t t1 = tag.load(std::memory_order_acquire);
      if ((t1 & busy_bit) != 0) continue;
      const std::uint64_t s = slow.load(std::memory_order_acquire);
      const std::uint64_t f = failures.load(std::memory_order_acquire);
      const std::uint64_t c = calls.load(std::memory_order_acquire);
      // acquire fence: the re-read of the tag is not moved before the counts.
      AtomicFence<Atom>::fence(std::memory_order_acquire);
      if (tag.load(std::memory_order_relaxed) != t1) continue;
      out_tag = t1;
      out = WindowCounts{c, f, s};
      return true;
    }
    return false;
  }
};
using SlotCounts = BasicSlotCounts<>;

/// Guards the overflow slot (`shared_slot`, used by threads beyond the
/// exclusive slots), whose counters several threads write. Taken only by
/// those threads, never by a thread that owns an exclusive slot.
template <template <class> class Atom = std::atomic>
class BasicOverflowLock {
 public:
  void lock() noexcept {
    // acquire on success: the previous holder's writes are visible.
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  Atom<bool> locked_{false};
};
using OverflowLock = BasicOverflowLock<>;

}  // namespace breaker::detail
