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
/// The clean-window fast path (issue 12's cost target). A window that is
/// full (N outcomes of the epoch) and holds no failure and no slow call is
/// *clean*. Recording a fast success into it would evict a success and
/// insert a success: the counts do not change, and since every entry is
/// equal, which entry it replaced does not matter either (the ring's order
/// by ticket stays right: every entry older than the next failure is a
/// success). So `record` of a fast success into a clean window of its epoch
/// is one relaxed load of `clean_` and a compare: no ticket, no shared write
/// (it scales like the consecutive policy). A failure or a slow call records
/// normally, and first clears the flag.
///
/// `clean_` packs: bit 0 the flag; bits 1..27 the epoch it is set for; bits
/// 28..43 how many failure/slow records are in flight (`dirty_one` each);
/// bits 44..63 a version that every finished failure/slow record bumps.
/// Every write of it is a read-modify-write (so that each continues the
/// release sequence of the earlier ones):
///  - a failure/slow record *starts* with a CAS that adds one in flight and
///    clears the flag, before it takes its ticket; it *ends*, after its ring
///    entry and its slot's counts are written, with a release `fetch_add`
///    that removes it from the in-flight count and bumps the version;
///  - a record that may have made the window clean (it evicted a failure or
///    slow call of its epoch, or its ring position is 0: once per lap, so a
///    window that became full or clean while its check lost a race is found
///    clean within N records) loads `clean_` with acquire; when none is in
///    flight, it sums the counts and, when they say N calls, no failure, no
///    slow call, sets the flag with a CAS from the word it loaded.
/// Why the flag is never set while a failure (or slow call) is in the
/// window: take the setter's acquire load L and its CAS C. A failure record
/// F whose start comes after L in `clean_`'s modification order makes C
/// fail (the word changed). One whose start comes before L but whose end
/// comes after L is in flight at L: the setter does not try. One whose end
/// comes before L: L reads a value at or after F's release `fetch_add` in
/// the modification order, and every later write is a read-modify-write,
/// so L synchronises with F's end and the setter's count loads see F's
/// ring entry and slot counts (or later values). The ring entry is replaced
/// before the slot's counts change, so the counts the setter sums are never
/// below the failures in the ring at C: a zero is a real zero. (ABA: the
/// version is 20 bits; a setter would need exactly a multiple of 2^20
/// failure/slow records to finish between its two operations, with the
/// in-flight count back where it was.) The same argument gives "full".
/// Linearizability: a skipped success is ordered at its load of `clean_`;
/// a failure that clears the flag later in its modification order is
/// ordered after it, and a thread that saw the clear (or anything after it)
/// records normally. A skipped success changes nothing, which is what the
/// sequential window does with a success into a clean full window.
/// Rates: a clean full window has failure and slow rates 0 and, since
/// `minimum_request_threshold` <= N and the thresholds are > 0 (config
/// validation), cannot trip: a skipped success needs no re-check.
///
/// Limits: N in [1, max_size]; counts are 64-bit (no saturation). Epochs wrap
/// after 2^27 transitions (`StateWord::epoch_mask`): a slot left untouched
/// while the epoch moved by exactly a multiple of 2^27 could read as current;
/// an entry more than 2^26 epochs old may read as newer than a record and
/// hold its ring entry until overwritten by a newer epoch (not reachable in
/// practice: each epoch is a transition).
/// Threads beyond the exclusive slots share the overflow slot's counters
/// under a spinlock that only they take.
///
/// `Atom` is the atomic template (`std::atomic`; the Relacy checks run this
/// code on `rl::atomic`, see window_counts.hpp) and `Slots` the number of
/// thread slots (the last one is the overflow slot; the Relacy checks use
/// a few).

#include "breaker/detail/counters.hpp"
#include "breaker/detail/window_counts.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace breaker::detail {

template <template <class> class Atom = std::atomic, unsigned Slots = slot_count>
class BasicCountWindow {
  static_assert(Slots >= 2);
  static constexpr unsigned overflow_slot = Slots - 1;

 public:
  static constexpr std::uint32_t max_size = 1'000'000;

  /// \throws std::bad_alloc
  explicit BasicCountWindow(std::uint32_t size)
      : size_(size),
        ring_(std::make_unique<Atom<std::uint32_t>[]>(size)) {
    for (std::uint32_t i = 0; i < size; ++i) ring_[i].store(0, std::memory_order_relaxed);
  }
  BasicCountWindow(const BasicCountWindow&) = delete;
  BasicCountWindow& operator=(const BasicCountWindow&) = delete;

  std::uint32_t size() const noexcept { return size_; }

  /// Whether `epoch`'s window is clean (full, no failure, no slow call): a
  /// fast success recorded now changes nothing. One relaxed load: a hint
  /// that is exact in the sense of the header comment (a success skipped on
  /// it is ordered before any failure that clears it).
  [[gnu::always_inline]] bool clean(std::uint32_t epoch) const noexcept {
    // relaxed: the skipped success reads nothing else (see the header).
    return (clean_.load(std::memory_order_relaxed) & clean_key_mask) == clean_key(epoch);
  }

  /// Records one outcome of `epoch` from thread slot `slot`.
  void record(unsigned slot, std::uint32_t epoch, bool failure, bool slow) noexcept {
    if (!failure && !slow && clean(epoch)) [[likely]] return;
    record_outcome(slot, epoch, failure, slow);
  }

  /// `record` without the clean-window test (the caller made it). Out of
  /// line: the fast path's callers stay small (and GCC's inlining budget of
  /// a translation unit is not spent on it).
  [[gnu::noinline]] void record_outcome(unsigned slot, std::uint32_t epoch, bool failure, bool slow) noexcept {
    const bool dirty = failure || slow;
    if (dirty) start_dirty();
    bool maybe_clean;
    if (slot != overflow_slot) [[likely]] {
      maybe_clean = record_on(slot, epoch, failure, slow);
    } else {
      std::lock_guard guard(overflow_);
      maybe_clean = record_on(slot, epoch, failure, slow);
    }
    if (dirty) {
      end_dirty();
    } else if (maybe_clean) [[unlikely]] {
      try_set_clean(epoch);
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
    // transiently off, never after. A negative sum (a slot's eviction of
    // another slot's failure seen before that slot added it) reads as 0,
    // *then* the clamp to `calls`: in the other order a -1 became `calls`,
    // a 100 % failure rate that could trip the breaker (found by the Relacy
    // check's snapshot invariant, tests/relacy/relacy_windows.cpp).
    if (static_cast<std::int64_t>(total.calls) < 0) total.calls = 0;
    if (static_cast<std::int64_t>(total.failures) < 0) total.failures = 0;
    if (static_cast<std::int64_t>(total.slow) < 0) total.slow = 0;
    total.failures = std::min(total.failures, total.calls);
    total.slow = std::min(total.slow, total.calls);
    return total;
  }

  /// Calls `f(failure, slow)` for `epoch`'s entries, newest ticket first, at
  /// most `limit` of them (used when a window is resized). Not synchronised
  /// with concurrent records: an outcome recorded meanwhile may be missed.
  /// (Successes skipped on a clean window hold no entry; the ring then holds
  /// N successes, so the newest `limit` are still `limit` successes.)
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

  /// The raw entry at ring position `i` (tests and the Relacy checks).
  std::uint32_t entry_at(std::uint32_t i) const noexcept {
    return ring_[i].load(std::memory_order_relaxed);
  }
  static constexpr bool entry_present(std::uint32_t e) noexcept { return (e & present_bit) != 0; }
  static constexpr bool entry_failure(std::uint32_t e) noexcept { return (e & failure_bit) != 0; }
  static constexpr bool entry_slow(std::uint32_t e) noexcept { return (e & slow_bit) != 0; }
  static constexpr std::uint32_t entry_epoch(std::uint32_t e) noexcept { return e >> epoch_shift; }

  /// The atomics themselves (the Relacy checks read their ghosts).
  const Atom<std::uint32_t>& ring_atomic(std::uint32_t i) const noexcept { return ring_[i]; }
  const Atom<std::uint64_t>& clean_atomic() const noexcept { return clean_; }

  /// The clean word (tests and the Relacy checks) and its fields.
  std::uint64_t clean_word() const noexcept { return clean_.load(std::memory_order_relaxed); }
  static constexpr bool clean_word_set_for(std::uint64_t w, std::uint32_t epoch) noexcept {
    return (w & clean_key_mask) == clean_key(epoch);
  }
  static constexpr std::uint64_t clean_word_in_flight(std::uint64_t w) noexcept {
    return (w >> dirty_shift) & dirty_mask;
  }

 private:
  static constexpr std::uint32_t present_bit = 1;
  static constexpr std::uint32_t failure_bit = 2;
  static constexpr std::uint32_t slow_bit = 4;
  static constexpr unsigned epoch_shift = 4;
  static_assert(window_epoch_mask <= (0xFFFF'FFFFu >> epoch_shift));

  // clean_: bit 0 flag, bits 1..27 epoch, bits 28..43 dirty records in
  // flight, bits 44..63 version (see the header).
  static constexpr std::uint64_t clean_bit = 1;
  static constexpr std::uint64_t clean_key_mask = (std::uint64_t{window_epoch_mask} << 1) | clean_bit;
  static constexpr unsigned dirty_shift = 28;
  static constexpr std::uint64_t dirty_mask = 0xFFFF;
  static constexpr std::uint64_t dirty_one = std::uint64_t{1} << dirty_shift;
  static constexpr std::uint64_t version_one = std::uint64_t{1} << 44;
  static_assert((std::uint64_t{window_epoch_mask} << 1 >> dirty_shift) == 0);
  static constexpr std::uint64_t clean_key(std::uint32_t epoch) noexcept {
    return (std::uint64_t{epoch & window_epoch_mask} << 1) | clean_bit;
  }

  // Bit 62 marks a slot in use (a fresh slot's tag is 0); bit 0 is the busy bit.
  static constexpr std::uint64_t tag_of(std::uint32_t epoch) noexcept {
    return std::uint64_t{1} << 62 | std::uint64_t{epoch & window_epoch_mask} << 1;
  }

  struct alignas(64) Slot {
    BasicSlotCounts<Atom> counts;
  };

  // A failure/slow record starts: one more in flight, the flag cleared.
  void start_dirty() noexcept {
    std::uint64_t w = clean_.load(std::memory_order_relaxed);
    // CAS loop, relaxed both ways: what orders the setter's reads is this
    // record's end (release) and the word's change (a setter's CAS from an
    // older word fails); the record's own writes come after it in program
    // order and nothing of another thread's is read here.
    while (!clean_.compare_exchange_weak(w, (w + dirty_one) & ~clean_bit, std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
    }
  }
  // ... and ends, after its ring entry and slot counts: release, so that a
  // setter whose acquire load reads this value or a later one sees them.
  void end_dirty() noexcept {
    clean_.fetch_add(version_one - dirty_one, std::memory_order_release);
  }

  // The window may be clean now: set the flag if it is (see the header).
  [[gnu::noinline]] void try_set_clean(std::uint32_t epoch) noexcept {
    // acquire: synchronises with the end of every failure/slow record before
    // it in the modification order (all writes are read-modify-writes).
    std::uint64_t w = clean_.load(std::memory_order_acquire);
    if ((w & clean_key_mask) == clean_key(epoch) || ((w >> dirty_shift) & dirty_mask) != 0) return;
    const WindowCounts c = counts(epoch);
    if (c.calls != size_ || c.failures != 0 || c.slow != 0) return;
    // One CAS, relaxed: it fails when any failure/slow record started or
    // ended since the load (the word changed), and then the window is not
    // known clean (a later record checks again). Relaxed: a reader of the
    // flag reads nothing through it (a skipped success only returns).
    clean_.compare_exchange_strong(w, (w & ~clean_key_mask) | clean_key(epoch),
                                   std::memory_order_relaxed, std::memory_order_relaxed);
  }

  // Returns whether the window may have become clean (this record evicted a
  // failure/slow call of its epoch, or it wrote ring position 0).
  bool record_on(unsigned slot_index, std::uint32_t epoch, bool failure, bool slow) noexcept {
    Slot& s = slots_[slot_index];
    epoch &= window_epoch_mask;
    // The slot's counts belong to one epoch: a newer epoch starts them at 0,
    // an older one (a stale record) is dropped.
    std::uint64_t tag = s.counts.tag.load(std::memory_order_relaxed);
    const std::uint64_t want = tag_of(epoch);
    if (tag != want) {
      if (tag != 0 && !epoch_newer(epoch, static_cast<std::uint32_t>(tag >> 1) & window_epoch_mask))
        return false;
      s.counts.reset(want, 0, 0, 0);
      tag = want;
    }
    // 1. A ticket. relaxed: the counter orders nothing but itself (the ring
    // entry's CAS below is what the slot's counts depend on).
    const std::uint64_t ticket = next_ticket_.fetch_add(1, std::memory_order_relaxed);
    const std::uint32_t at = position(static_cast<std::uint32_t>(ticket));
    Atom<std::uint32_t>& entry = ring_[at];
    // 2. Swap the entry in. CAS loop, relaxed both ways: the ring entry is the
    // only data it publishes (each slot's counters are its own), and the
    // swap's atomicity is all exactness needs.
    const std::uint32_t fresh = present_bit | (failure ? failure_bit : 0) | (slow ? slow_bit : 0) |
                                (epoch << epoch_shift);
    std::uint32_t old = entry.load(std::memory_order_relaxed);
    do {
      if ((old & present_bit) != 0 && epoch_newer(old >> epoch_shift, epoch)) return false;
    } while (!entry.compare_exchange_weak(old, fresh, std::memory_order_relaxed,
                                          std::memory_order_relaxed));
    // 3. Count the new outcome, uncount the evicted one of the same epoch.
    std::uint64_t dc = 1, df = failure ? 1 : 0, ds = slow ? 1 : 0;
    bool evicted_dirty = false;
    if ((old & present_bit) != 0 && (old >> epoch_shift) == epoch) {
      dc -= 1;
      evicted_dirty = (old & (failure_bit | slow_bit)) != 0;
      df -= (old & failure_bit) != 0 ? 1 : 0;
      ds -= (old & slow_bit) != 0 ? 1 : 0;
    }
    if (dc != 0 || df != 0 || ds != 0) s.counts.add(dc, df, ds);
    return evicted_dirty || at == 0;
  }

  const std::uint32_t size_;
  std::unique_ptr<Atom<std::uint32_t>[]> ring_;
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
  // Read by every success (the fast path), written only by failure/slow
  // records and the setter: its own line, away from the ticket's.
  alignas(64) Atom<std::uint64_t> clean_{0};
  alignas(64) Atom<std::uint64_t> next_ticket_{0};
  std::array<Slot, Slots> slots_{};
  BasicOverflowLock<Atom> overflow_;
};

using CountWindow = BasicCountWindow<>;

}  // namespace breaker::detail
