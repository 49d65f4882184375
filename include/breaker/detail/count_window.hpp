// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The count-based sliding window: the last N outcomes of the current closed
/// period.
///
/// Storage: a ring of N 32-bit entries (outcome bits + the epoch that wrote
/// it) and, per thread slot, the slot's share of the counts (one 64-byte
/// line each). Recording an outcome:
///  1. takes a ticket, the ring position it writes, from one shared counter
///     (`fetch_add`). This is the window's one shared write per outcome: with
///     two threads recording, the counter's cache line moves between their
///     cores (the cost is measured in docs/performance.md). Tickets taken in
///     blocks per thread would avoid it, but a block's unused tickets leave
///     holes, so the window would hold fewer than the last N outcomes
///     (measured: 144 of 40,000 lost with blocks of 64): exactness wins.
///  2. swaps the new entry into the ring with a CAS (uncontended unless two
///     threads a full lap apart hit one entry);
///  3. adds the new outcome and subtracts the evicted one (when it belongs to
///     the same epoch) on its own slot's counters, plain stores.
/// Reading (`counts`) sums the slots tagged with the epoch: O(slots), never
/// O(N). Whatever order concurrent records interleave in, every entry in the
/// ring is counted exactly once after they finished: each swap adds what it
/// wrote and subtracts what it replaced. A slot's share may be negative (it
/// evicted another slot's outcomes); only the sum means something.
///
/// Epochs: an entry or a slot tagged with an older epoch counts as empty, so
/// the window of a new closed period starts empty without being cleared. An
/// outcome of an older epoch than the entry it would replace (a stale record)
/// is dropped.
///
/// Limits: N in [1, max_size]; counts are 64-bit (no saturation). Epochs wrap
/// after 2^27 transitions (`StateWord::epoch_mask`): a slot left untouched
/// while the epoch moved by exactly a multiple of 2^27 could read as current;
/// an entry more than 2^26 epochs old may read as newer than a record and
/// hold its ring entry until overwritten by a newer epoch (not reachable in
/// practice: each epoch is a transition).
/// Threads beyond the exclusive slots share the overflow slot's counters
/// under a spinlock that only they take.

#include "breaker/detail/counters.hpp"
#include "breaker/detail/window_counts.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace breaker::detail {

class CountWindow {
 public:
  static constexpr std::uint32_t max_size = 1'000'000;

  /// \throws std::bad_alloc
  explicit CountWindow(std::uint32_t size)
      : size_(size),
        ring_(std::make_unique<std::atomic<std::uint32_t>[]>(size)) {
    for (std::uint32_t i = 0; i < size; ++i) ring_[i].store(0, std::memory_order_relaxed);
  }
  CountWindow(const CountWindow&) = delete;
  CountWindow& operator=(const CountWindow&) = delete;

  std::uint32_t size() const noexcept { return size_; }

  /// Records one outcome of `epoch` from thread slot `slot`.
  void record(unsigned slot, std::uint32_t epoch, bool failure, bool slow) noexcept {
    if (slot != shared_slot) [[likely]] {
      record_on(slot, epoch, failure, slow);
    } else {
      std::lock_guard guard(overflow_);
      record_on(slot, epoch, failure, slow);
    }
  }

  /// The counts of `epoch`'s window (the last N outcomes of that epoch).
  WindowCounts counts(std::uint32_t epoch) const noexcept {
    WindowCounts total;
    const std::uint64_t want = tag_of(epoch);
    for (const Slot& s : slots_) {
      std::uint64_t tag = 0;
      WindowCounts c;
      if (!s.counts.read(tag, c) || tag != want) continue;
      total.calls += c.calls;
      total.failures += c.failures;
      total.slow += c.slow;
    }
    // Sums of two's complement shares: while records run they may be
    // transiently off, never after.
    if (static_cast<std::int64_t>(total.calls) < 0) total.calls = 0;
    total.failures = std::min(total.failures, total.calls);
    total.slow = std::min(total.slow, total.calls);
    if (static_cast<std::int64_t>(total.failures) < 0) total.failures = 0;
    if (static_cast<std::int64_t>(total.slow) < 0) total.slow = 0;
    return total;
  }

  /// Calls `f(failure, slow)` for `epoch`'s entries, newest ticket first, at
  /// most `limit` of them (used when a window is resized). Not synchronised
  /// with concurrent records: an outcome recorded meanwhile may be missed.
  template <class F>
  void for_each_newest(std::uint32_t epoch, std::uint32_t limit, F&& f) const {
    const std::uint64_t end = next_ticket_.load(std::memory_order_acquire);
    const std::uint64_t span = std::min<std::uint64_t>(end, size_);
    std::uint32_t given = 0;
    for (std::uint64_t k = 0; k < span && given < limit; ++k) {
      const std::uint32_t e = ring_[position(static_cast<std::uint32_t>(end - 1 - k))].load(std::memory_order_relaxed);
      if ((e & present_bit) == 0 || (e >> epoch_shift) != epoch) continue;
      f((e & failure_bit) != 0, (e & slow_bit) != 0);
      ++given;
    }
  }

 private:
  static constexpr std::uint32_t present_bit = 1;
  static constexpr std::uint32_t failure_bit = 2;
  static constexpr std::uint32_t slow_bit = 4;
  static constexpr unsigned epoch_shift = 4;
  static_assert(window_epoch_mask <= (0xFFFF'FFFFu >> epoch_shift));

  // Bit 62 marks a slot in use (a fresh slot's tag is 0); bit 0 is the busy bit.
  static constexpr std::uint64_t tag_of(std::uint32_t epoch) noexcept {
    return std::uint64_t{1} << 62 | std::uint64_t{epoch & window_epoch_mask} << 1;
  }

  struct alignas(64) Slot {
    SlotCounts counts;
  };

  void record_on(unsigned slot_index, std::uint32_t epoch, bool failure, bool slow) noexcept {
    Slot& s = slots_[slot_index];
    epoch &= window_epoch_mask;
    // The slot's counts belong to one epoch: a newer epoch starts them at 0,
    // an older one (a stale record) is dropped.
    std::uint64_t tag = s.counts.tag.load(std::memory_order_relaxed);
    const std::uint64_t want = tag_of(epoch);
    if (tag != want) {
      if (tag != 0 && !epoch_newer(epoch, static_cast<std::uint32_t>(tag >> 1) & window_epoch_mask))
        return;
      s.counts.reset(want, 0, 0, 0);
      tag = want;
    }
    // 1. A ticket. relaxed: the counter orders nothing but itself (the ring
    // entry's CAS below is what the slot's counts depend on).
    const std::uint64_t ticket = next_ticket_.fetch_add(1, std::memory_order_relaxed);
    std::atomic<std::uint32_t>& entry = ring_[position(static_cast<std::uint32_t>(ticket))];
    // 2. Swap the entry in. CAS loop, relaxed both ways: the ring entry is the
    // only data it publishes (each slot's counters are its own), and the
    // swap's atomicity is all exactness needs.
    const std::uint32_t fresh = present_bit | (failure ? failure_bit : 0) | (slow ? slow_bit : 0) |
                                (epoch << epoch_shift);
    std::uint32_t old = entry.load(std::memory_order_relaxed);
    do {
      if ((old & present_bit) != 0 && epoch_newer(old >> epoch_shift, epoch)) return;
    } while (!entry.compare_exchange_weak(old, fresh, std::memory_order_relaxed,
                                          std::memory_order_relaxed));
    // 3. Count the new outcome, uncount the evicted one of the same epoch.
    std::uint64_t dc = 1, df = failure ? 1 : 0, ds = slow ? 1 : 0;
    if ((old & present_bit) != 0 && (old >> epoch_shift) == epoch) {
      dc -= 1;
      df -= (old & failure_bit) != 0 ? 1 : 0;
      ds -= (old & slow_bit) != 0 ? 1 : 0;
    }
    if (dc != 0 || df != 0 || ds != 0) s.counts.add(dc, df, ds);
  }

  const std::uint32_t size_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> ring_;
  // ticket % size_ without a division (Lemire's fastmod: two multiplies).
  // The position uses the ticket's low 32 bits: when they wrap (every 2^32 outcomes) the ring
  // position jumps once unless N divides 2^32; counts stay exact, only the
  // order of the last N is off for that one lap.
  std::uint32_t position(std::uint32_t ticket) const noexcept {
    const std::uint64_t low = fastmod_m_ * ticket;
    // The high 64 bits of low * size_ (a 64 x 32-bit product).
    const std::uint64_t high = (low >> 32) * size_;
    const std::uint64_t rest = (low & 0xFFFF'FFFF) * size_;
    return static_cast<std::uint32_t>((high + (rest >> 32)) >> 32);
  }
  const std::uint64_t fastmod_m_ = ~std::uint64_t{0} / size_ + 1;
  alignas(64) std::atomic<std::uint64_t> next_ticket_{0};
  std::array<Slot, slot_count> slots_{};
  OverflowLock overflow_;
};

}  // namespace breaker::detail
