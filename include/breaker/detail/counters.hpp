// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Call counters that concurrent callers update without sharing a cache line.
///
/// Each thread claims one of `exclusive_slots` process-wide slot numbers the
/// first time it counts anything (and gives it back when it exits). A breaker
/// keeps one cache line of counters per slot number. The owner of an exclusive
/// slot is its only writer, so it increments with a plain load and store (no
/// locked instruction); threads beyond the exclusive slots share the last slot
/// and use `fetch_add`. Readers sum all slots with relaxed loads.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace breaker::detail {

inline constexpr unsigned exclusive_slots = 6;
inline constexpr unsigned shared_slot = exclusive_slots;
inline constexpr unsigned slot_count = exclusive_slots + 1;
inline constexpr unsigned unassigned_slot = ~0u;

/// This thread's slot number, or `unassigned_slot` before its first count.
inline constinit thread_local unsigned current_thread_slot = unassigned_slot;

/// Claims a slot for the calling thread (defined in src/thread_slot.cpp).
unsigned claim_thread_slot() noexcept;

/// Number of exclusive slots currently owned by live threads (for tests).
unsigned claimed_thread_slots() noexcept;

inline unsigned thread_slot() noexcept {
  const unsigned slot = current_thread_slot;
  if (slot != unassigned_slot) [[likely]] return slot;
  return claim_thread_slot();
}

/// The counters of one breaker.
class CallCounters {
 public:
  enum Kind : unsigned { admitted, successful, failed, ignored, rejected, kinds };

  void add(Kind kind) noexcept { add_at(thread_slot(), kind); }
  /// Same as `add`, for a slot the caller already looked up. Returns the
  /// slot's new count of `kind` (the duration sampling numbers admissions so).
  std::uint64_t add_at(unsigned slot, Kind kind) noexcept {
    std::atomic<std::uint64_t>& value = slots_[slot].values[kind];
    if (slot != shared_slot) [[likely]] {
      // Single writer (this thread owns the slot; ownership passed to it with
      // acquire/release in claim_thread_slot), so a relaxed load and store
      // cannot lose an update and need no locked instruction.
      const std::uint64_t next = value.load(std::memory_order_relaxed) + 1;
      value.store(next, std::memory_order_relaxed);
      return next;
    }
    return value.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  std::uint64_t sum(Kind kind) const noexcept {
    std::uint64_t total = 0;
    for (const auto& slot : slots_) total += slot.values[kind].load(std::memory_order_relaxed);
    return total;
  }

 private:
  struct alignas(64) Slot {
    std::array<std::atomic<std::uint64_t>, kinds> values{};
  };
  std::array<Slot, slot_count> slots_{};
};

}  // namespace breaker::detail
