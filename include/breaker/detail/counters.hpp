// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Call counters that concurrent callers update without sharing a cache line.
///
/// Each thread claims one of `exclusive_slots` process-wide slot numbers the
/// first time it counts anything (and gives it back when it exits): a bit
/// per slot in one word, taken with a CAS and given back with a `fetch_and`
/// (`BasicSlotClaims`). A breaker keeps one cache line of counters per slot
/// number. The owner of an exclusive slot is its only writer, so it
/// increments with a plain load and store (no locked instruction); threads
/// beyond the exclusive slots share the last slot and use `fetch_add`.
/// Readers sum all slots with relaxed loads: each slot's counter only grows
/// and a thread's successive loads of one atomic never go back in its
/// modification order, so a reader's successive sums of one kind never
/// decrease (they are not a snapshot across slots or kinds).
///
/// `Atom` is the atomic template (`std::atomic`; the Relacy checks run this
/// very code on `rl::atomic`, with one or two exclusive slots, see
/// tests/relacy/relacy_lists.cpp). The x86 single-writer instructions below
/// are used only with `std::atomic`.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

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

/// The claims of `Exclusive` slot numbers by threads: bit i set while
/// exclusive slot i is owned by a live thread. `claim` returns a free slot,
/// now owned by the caller, or `Exclusive` (the shared slot) when all are
/// taken; `release` gives an owned slot back. The process has one of these
/// (src/thread_slot.cpp: claimed at a thread's first count, released by a
/// thread_local destructor when it exits); the Relacy checks run it on
/// `rl::atomic`. Thread-safe; noexcept.
template <template <class> class Atom = std::atomic, unsigned Exclusive = exclusive_slots>
class BasicSlotClaims {
  static_assert(Exclusive >= 1 && Exclusive < 32);

 public:
  unsigned claim() noexcept {
    constexpr std::uint32_t all = (std::uint32_t{1} << Exclusive) - 1;
    std::uint32_t used = in_use_.load(std::memory_order_relaxed);
    // CAS loop: acquire on success pairs with the release in `release` of the
    // slot's previous owner (its last plain writes to the slot's counters
    // happen before ours); relaxed on failure, we only retry.
    while ((used & all) != all) {
      const auto free_bit = static_cast<unsigned>(std::countr_one(used));
      if (in_use_.compare_exchange_weak(used, used | (std::uint32_t{1} << free_bit),
                                        std::memory_order_acquire, std::memory_order_relaxed)) {
        return free_bit;
      }
    }
    return Exclusive;
  }

  /// Precondition: the caller owns `slot` (< Exclusive).
  void release(unsigned slot) noexcept {
    // release: this thread's last plain writes to the slot's counters happen
    // before the next owner's (which claims with acquire).
    in_use_.fetch_and(~(std::uint32_t{1} << slot), std::memory_order_release);
  }

  /// Number of slots currently owned (for tests; relaxed).
  unsigned claimed() const noexcept {
    return static_cast<unsigned>(std::popcount(in_use_.load(std::memory_order_relaxed)));
  }

 private:
  Atom<std::uint32_t> in_use_{0};
};

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

/// The kinds of call counters (outside the template, so that every
/// instantiation spells them `CallCounters::admitted` etc.).
struct CallCounterKinds {
  /// `held`: calls recorded in the duration histogram with the slot's held
  /// duration and not yet folded into its buckets (see duration_histogram.hpp;
  /// exclusive slots only). Not a call count.
  enum Kind : unsigned { admitted, successful, failed, ignored, rejected, held, kinds };
};

/// The counters of one breaker: one line per slot, `Exclusive` exclusive
/// slots and the shared slot `Exclusive`.
template <template <class> class Atom = std::atomic, unsigned Exclusive = exclusive_slots>
class BasicCallCounters : public CallCounterKinds {
  // The fused x86 instructions act on the storage of a std::atomic only.
  static constexpr bool single_writer_asm =
      BREAKER_DETAIL_SINGLE_WRITER_ASM != 0 &&
      std::is_same_v<Atom<std::uint64_t>, std::atomic<std::uint64_t>>;

 public:
  static constexpr unsigned exclusive = Exclusive;
  static constexpr unsigned slots = Exclusive + 1;

  /// One slot's counters: one cache line.
  struct alignas(64) Line {
    std::array<Atom<std::uint64_t>, kinds> values{};

    /// Adds 1 to `kind` and returns the new count. Only for the line of an
    /// exclusive slot, by its owner: the single writer (ownership passed to
    /// it with acquire/release in BasicSlotClaims), so a load and a store
    /// that are each atomic cannot lose an update and need no locked
    /// instruction.
    [[gnu::always_inline]] std::uint64_t bump(Kind kind) noexcept {
      if constexpr (single_writer_asm) {
        // One unlocked xadd: an atomic 8-byte load and an atomic 8-byte store
        // of the aligned counter (what the relaxed load and store below compile
        // to), fused into one instruction.
        std::uint64_t old = 1;
        __asm__("xaddq %0, %1" : "+r"(old), "+m"(raw(kind)));
        return old + 1;
      } else {
        // release (a plain store on x86): the duration histogram's sequence
        // lock needs a reader that sees a `held` count written after a fold to
        // see that fold's end (see duration_histogram.hpp); the asm above has it
        // from x86's store order.
        Atom<std::uint64_t>& value = values[kind];
        const std::uint64_t next = value.load(std::memory_order_relaxed) + 1;
        value.store(next, std::memory_order_release);
        return next;
      }
    }
    /// `bump` without the result.
    [[gnu::always_inline]] void increment(Kind kind) noexcept {
      if constexpr (single_writer_asm) {
        __asm__("addq $1, %0" : "+m"(raw(kind)));  // unlocked: see bump()
      } else {
        (void)bump(kind);
      }
    }

   private:
    // The counter's storage, for the single writer's fused instructions.
    std::uint64_t& raw(Kind kind) noexcept {
      static_assert(sizeof(std::atomic<std::uint64_t>) == sizeof(std::uint64_t) &&
                    std::atomic<std::uint64_t>::is_always_lock_free);
      return *reinterpret_cast<std::uint64_t*>(&values[kind]);
    }
  };

  void add(Kind kind) noexcept { add_at(thread_slot(), kind); }
  /// Same as `add`, for a slot the caller already looked up. Returns the
  /// slot's new count of `kind` (the duration sampling numbers admissions so).
  [[gnu::always_inline]] std::uint64_t add_at(unsigned slot, Kind kind) noexcept {
    if (slot < Exclusive) [[likely]] return slots_[slot].bump(kind);
    // The shared slot: several writers.
    return slots_[slot].values[kind].fetch_add(1, std::memory_order_relaxed) + 1;
  }

  /// `add_at` without the result (one instruction fewer on the exclusive path).
  [[gnu::always_inline]] void count_at(unsigned slot, Kind kind) noexcept {
    if (slot < Exclusive) [[likely]] {
      slots_[slot].increment(kind);
      return;
    }
    slots_[slot].values[kind].fetch_add(1, std::memory_order_relaxed);
  }

  /// The counter line of exclusive slot `slot` (< Exclusive), for its
  /// owner's `bump`s.
  [[gnu::always_inline]] Line& exclusive_line(std::size_t slot) noexcept { return slots_[slot]; }

  /// One slot's counter of `kind` (for the duration histogram's held calls).
  Atom<std::uint64_t>& at(unsigned slot, Kind kind) noexcept { return slots_[slot].values[kind]; }
  const Atom<std::uint64_t>& at(unsigned slot, Kind kind) const noexcept {
    return slots_[slot].values[kind];
  }

  std::uint64_t sum(Kind kind) const noexcept {
    std::uint64_t total = 0;
    for (const auto& slot : slots_) total += slot.values[kind].load(std::memory_order_relaxed);
    return total;
  }

 private:
  std::array<Line, slots> slots_{};
};

/// The counters of a breaker.
using CallCounters = BasicCallCounters<>;

}  // namespace breaker::detail
