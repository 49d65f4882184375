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

// The single writer of an exclusive slot's counters updates them with one
// unlocked x86-64 instruction (an atomic load and an atomic store fused, no
// lock prefix), instead of a relaxed load, an add and a relaxed store. Not
// under ThreadSanitizer, which does not see inside asm (it checks the
// portable relaxed load and store instead).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BREAKER_DETAIL_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define BREAKER_DETAIL_TSAN 1
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(BREAKER_DETAIL_TSAN)
#define BREAKER_DETAIL_SINGLE_WRITER_ASM 1
#else
#define BREAKER_DETAIL_SINGLE_WRITER_ASM 0
#endif

namespace breaker::detail {

inline constexpr unsigned exclusive_slots = 6;
inline constexpr unsigned shared_slot = exclusive_slots;
inline constexpr unsigned slot_count = exclusive_slots + 1;
inline constexpr unsigned unassigned_slot = ~0u;

/// This thread's slot number, or `unassigned_slot` before its first count.
/// 64-bit, so that the hot path indexes with it without a zero extension.
inline constinit thread_local std::size_t current_thread_slot = unassigned_slot;

/// Claims a slot for the calling thread (defined in src/thread_slot.cpp).
unsigned claim_thread_slot() noexcept;

/// Number of exclusive slots currently owned by live threads (for tests).
unsigned claimed_thread_slots() noexcept;

/// This thread's slot, claimed at its first call.
[[gnu::always_inline]] inline unsigned thread_slot() noexcept {
  const std::size_t slot = current_thread_slot;
  if (slot != unassigned_slot) [[likely]] return static_cast<unsigned>(slot);
  return claim_thread_slot();
}

/// The slow half of `exclusive_thread_slot`, out of line: the shared slot, or
/// a slot claimed for a thread that has none.
[[gnu::noinline]] inline unsigned thread_slot_slow() noexcept {
  const std::size_t slot = current_thread_slot;
  return slot != unassigned_slot ? static_cast<unsigned>(slot) : claim_thread_slot();
}

/// This thread's slot with one test on the hot path: a thread that owns an
/// exclusive slot (every thread but the first claim and the threads beyond
/// `exclusive_slots`) gets it from one TLS load and one compare, and the
/// caller then knows `slot < exclusive_slots` (so `add_at` needs no second
/// test for the shared slot once inlined).
[[gnu::always_inline]] inline unsigned exclusive_thread_slot() noexcept {
  const std::size_t slot = current_thread_slot;
  if (slot < exclusive_slots) [[likely]] return static_cast<unsigned>(slot);
  return thread_slot_slow();
}

/// The counters of one breaker.
class CallCounters {
 public:
  /// `held`: calls recorded in the duration histogram with the slot's held
  /// duration and not yet folded into its buckets (see duration_histogram.hpp;
  /// exclusive slots only). Not a call count.
  enum Kind : unsigned { admitted, successful, failed, ignored, rejected, held, kinds };

  /// One slot's counters: one cache line.
  struct alignas(64) Line {
    std::array<std::atomic<std::uint64_t>, kinds> values{};

    /// Adds 1 to `kind` and returns the new count. Only for the line of an
    /// exclusive slot, by its owner: the single writer (ownership passed to
    /// it with acquire/release in claim_thread_slot), so a load and a store
    /// that are each atomic cannot lose an update and need no locked
    /// instruction.
    [[gnu::always_inline]] std::uint64_t bump(Kind kind) noexcept {
#if BREAKER_DETAIL_SINGLE_WRITER_ASM
      // One unlocked xadd: an atomic 8-byte load and an atomic 8-byte store
      // of the aligned counter (what the relaxed load and store below compile
      // to), fused into one instruction.
      std::uint64_t old = 1;
      __asm__("xaddq %0, %1" : "+r"(old), "+m"(raw(kind)));
      return old + 1;
#else
      // release (a plain store on x86): the duration histogram's sequence
      // lock needs a reader that sees a `held` count written after a fold to
      // see that fold's end (see duration_histogram.hpp); the asm above has it
      // from x86's store order.
      std::atomic<std::uint64_t>& value = values[kind];
      const std::uint64_t next = value.load(std::memory_order_relaxed) + 1;
      value.store(next, std::memory_order_release);
      return next;
#endif
    }
    /// `bump` without the result.
    [[gnu::always_inline]] void increment(Kind kind) noexcept {
#if BREAKER_DETAIL_SINGLE_WRITER_ASM
      __asm__("addq $1, %0" : "+m"(raw(kind)));  // unlocked: see bump()
#else
      (void)bump(kind);
#endif
    }

   private:
#if BREAKER_DETAIL_SINGLE_WRITER_ASM
    // The counter's storage, for the single writer's fused instructions.
    std::uint64_t& raw(Kind kind) noexcept {
      static_assert(sizeof(std::atomic<std::uint64_t>) == sizeof(std::uint64_t) &&
                    std::atomic<std::uint64_t>::is_always_lock_free);
      return *reinterpret_cast<std::uint64_t*>(&values[kind]);
    }
#endif
  };

  void add(Kind kind) noexcept { add_at(thread_slot(), kind); }
  /// Same as `add`, for a slot the caller already looked up. Returns the
  /// slot's new count of `kind` (the duration sampling numbers admissions so).
  [[gnu::always_inline]] std::uint64_t add_at(unsigned slot, Kind kind) noexcept {
    if (slot < exclusive_slots) [[likely]] return slots_[slot].bump(kind);
    // The shared slot: several writers.
    return slots_[slot].values[kind].fetch_add(1, std::memory_order_relaxed) + 1;
  }

  /// `add_at` without the result (one instruction fewer on the exclusive path).
  [[gnu::always_inline]] void count_at(unsigned slot, Kind kind) noexcept {
    if (slot < exclusive_slots) [[likely]] {
      slots_[slot].increment(kind);
      return;
    }
    slots_[slot].values[kind].fetch_add(1, std::memory_order_relaxed);
  }

  /// The counter line of exclusive slot `slot` (< exclusive_slots), for its
  /// owner's `bump`s.
  [[gnu::always_inline]] Line& exclusive_line(std::size_t slot) noexcept { return slots_[slot]; }

  /// One slot's counter of `kind` (for the duration histogram's held calls).
  std::atomic<std::uint64_t>& at(unsigned slot, Kind kind) noexcept {
    return slots_[slot].values[kind];
  }
  const std::atomic<std::uint64_t>& at(unsigned slot, Kind kind) const noexcept {
    return slots_[slot].values[kind];
  }

  std::uint64_t sum(Kind kind) const noexcept {
    std::uint64_t total = 0;
    for (const auto& slot : slots_) total += slot.values[kind].load(std::memory_order_relaxed);
    return total;
  }

 private:
  std::array<Line, slot_count> slots_{};
};

}  // namespace breaker::detail
