// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The time-based sliding window: the outcomes of the last T (the current
/// closed period only), in B buckets of T/B each.
///
/// Storage: per thread slot, B bucket counters (32 bytes each; a slot's
/// buckets start on their own cache line). Bucket k of a slot holds the
/// slot's outcomes of the time interval [n*w, (n+1)*w) for the bucket number
/// n = floor(now / w) with n mod B = k, and its tag names n and the breaker
/// epoch. Recording writes only the caller's own slot, with plain stores (no
/// locked instruction, no shared line): the same bucket again adds to it; a
/// new interval (or a new epoch) replaces the bucket's counts. Rotation is
/// lazy: nothing runs between calls; a reader ignores buckets whose number is
/// B or more intervals old, or whose epoch is not the current one, so a
/// bucket nobody rewrote simply stops counting once it expires.
///
/// Time comes from the caller (the breaker reads its `Clock`, so
/// `ManualClock` drives the window fully); each slot caches its current
/// interval's bounds, so a record in the same interval does no division.
/// Reading (`counts`) is O(slots x B).
///
/// Limits (validated by the config): w >= 1 ms and B <= max_buckets. Bucket
/// numbers are kept modulo 2^34 in the tag: a bucket untouched for exactly a
/// multiple of 2^34 intervals (198 days at w = 1 ms, longer for wider
/// buckets) while its epoch stays current would alias. Counts are 64-bit.
/// Epoch wrap as in `count_window.hpp`. A clock that goes back: a record
/// older than its bucket's interval is dropped. Threads beyond the exclusive
/// slots share the overflow slot under a spinlock that only they take.
///
/// `Atom` is the atomic template (`std::atomic`; see window_counts.hpp) and
/// `Slots` the number of thread slots (the last one is the overflow slot).

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
class BasicTimeWindow {
  static_assert(Slots >= 2);
  static constexpr unsigned overflow_slot = Slots - 1;

 public:
  static constexpr std::uint32_t max_buckets = 1000;

  /// \param width_ns bucket width (> 0); \param buckets B (>= 1).
  /// \throws std::bad_alloc
  BasicTimeWindow(std::int64_t width_ns, std::uint32_t buckets)
      : width_(width_ns),
        buckets_(buckets),
        stride_((buckets + 1) & ~1u),
        lines_(std::make_unique<Line[]>(std::size_t{Slots} * stride_ / 2)) {}
  BasicTimeWindow(const BasicTimeWindow&) = delete;
  BasicTimeWindow& operator=(const BasicTimeWindow&) = delete;

  std::int64_t width_ns() const noexcept { return width_; }
  std::uint32_t buckets() const noexcept { return buckets_; }

  /// Records one outcome of `epoch` at time `now_ns` from thread slot `slot`.
  /// \returns true when the slot moved to a new interval (the window may have
  ///   lost expired outcomes: the caller re-checks the rates).
  bool record(unsigned slot, std::uint32_t epoch, std::int64_t now_ns, bool failure,
              bool slow) noexcept {
    if (slot != overflow_slot) [[likely]] return record_on(slot, epoch, now_ns, failure, slow);
    std::lock_guard guard(overflow_);
    return record_on(slot, epoch, now_ns, failure, slow);
  }

  /// The counts of `epoch` in the window ending at `now_ns` (the current
  /// interval and the B-1 before it).
  WindowCounts counts(std::uint32_t epoch, std::int64_t now_ns) const noexcept {
    WindowCounts total;
    for_each_bucket(epoch, now_ns, [&](std::uint64_t, const WindowCounts& c) {
      total.calls += c.calls;
      total.failures += c.failures;
      total.slow += c.slow;
    });
    total.failures = std::min(total.failures, total.calls);
    total.slow = std::min(total.slow, total.calls);
    return total;
  }

  /// Calls `f(age, counts)` for each live bucket of `epoch` (age 0: the
  /// current interval), every slot's separately.
  template <class F>
  void for_each_bucket(std::uint32_t epoch, std::int64_t now_ns, F&& f) const {
    const std::uint64_t current = number_bits(floor_div(now_ns, width_));
    const std::uint32_t want_epoch = epoch & window_epoch_mask;
    for (std::size_t i = 0; i < std::size_t{Slots} * stride_; ++i) {
      if (i % stride_ >= buckets_) continue;  // padding
      std::uint64_t tag = 0;
      WindowCounts c;
      if (!at(i).read(tag, c) || tag == 0 || epoch_of(tag) != want_epoch) continue;
      const std::uint64_t age = (current - number_of(tag)) & number_mask;
      if (age >= buckets_) continue;  // expired (or a little ahead of `now_ns`)
      f(age, c);
    }
  }

 private:
  // Tag: bit 63 in use, epoch in bits 35..62, bucket number mod 2^34 in
  // bits 1..34, bit 0 busy (SlotCounts).
  static constexpr unsigned number_bits_count = 34;
  static constexpr std::uint64_t number_mask = (std::uint64_t{1} << number_bits_count) - 1;
  static constexpr unsigned epoch_shift = 35;
  static constexpr std::uint64_t used_bit = std::uint64_t{1} << 63;

  static constexpr std::uint64_t number_bits(std::int64_t number) noexcept {
    return static_cast<std::uint64_t>(number) & number_mask;
  }
  static constexpr std::uint64_t tag_of(std::uint32_t epoch, std::int64_t number) noexcept {
    return used_bit | std::uint64_t{epoch & window_epoch_mask} << epoch_shift |
           number_bits(number) << 1;
  }
  static constexpr std::uint32_t epoch_of(std::uint64_t tag) noexcept {
    return static_cast<std::uint32_t>(tag >> epoch_shift) & window_epoch_mask;
  }
  static constexpr std::uint64_t number_of(std::uint64_t tag) noexcept {
    return (tag >> 1) & number_mask;
  }
  static constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
  }

  struct alignas(64) Cursor {  // owner only: the slot's current interval
    std::int64_t start = 0;
    std::int64_t end = 0;  // start == end: none yet
    std::int64_t number = 0;
    std::uint32_t index = 0;
  };

  bool record_on(unsigned slot, std::uint32_t epoch, std::int64_t now, bool failure,
                 bool slow) noexcept {
    Cursor& c = cursors_[slot];
    bool moved = false;
    if (now < c.start || now >= c.end) [[unlikely]] {
      c.number = floor_div(now, width_);
      const std::int64_t b = static_cast<std::int64_t>(buckets_);
      c.index = static_cast<std::uint32_t>(((c.number % b) + b) % b);
      c.start = c.number * width_;
      c.end = c.start + width_;
      moved = true;
    }
    BasicSlotCounts<Atom>& bucket = at(std::size_t{slot} * stride_ + c.index);
    const std::uint64_t want = tag_of(epoch, c.number);
    const std::uint64_t tag = bucket.tag.load(std::memory_order_relaxed);
    const std::uint64_t df = failure ? 1 : 0, ds = slow ? 1 : 0;
    if (tag == want) [[likely]] {
      bucket.add(1, df, ds);
      return moved;
    }
    if (tag != 0) {
      const std::uint32_t old_epoch = epoch_of(tag);
      if (epoch_newer(old_epoch, epoch & window_epoch_mask)) return false;  // a stale record
      const std::uint64_t ahead = (number_of(tag) - number_bits(c.number)) & number_mask;
      if (old_epoch == (epoch & window_epoch_mask) && ahead != 0 && ahead < number_mask / 2) {
        return false;  // the clock went back past this bucket's interval
      }
    }
    bucket.reset(want, 1, df, ds);
    return true;
  }

  const std::int64_t width_;
  const std::uint32_t buckets_;
  const std::uint32_t stride_;  // buckets per slot, even: each slot starts a cache line
  struct alignas(64) Line {
    std::array<BasicSlotCounts<Atom>, 2> pair{};
  };
  BasicSlotCounts<Atom>& at(std::size_t i) noexcept { return lines_[i / 2].pair[i % 2]; }
  const BasicSlotCounts<Atom>& at(std::size_t i) const noexcept { return lines_[i / 2].pair[i % 2]; }
  std::unique_ptr<Line[]> lines_;
  std::array<Cursor, Slots> cursors_{};
  BasicOverflowLock<Atom> overflow_;
};

using TimeWindow = BasicTimeWindow<>;

}  // namespace breaker::detail
