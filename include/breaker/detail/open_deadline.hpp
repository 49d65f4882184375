// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The end of a breaker's open period, and the protocol that publishes it.
///
/// The deadline lives in its own atomic, tagged with the epoch it belongs to:
/// bits 48..63 the low 16 bits of the epoch, bits 0..47 the deadline in whole
/// microseconds since the breaker was created (8.9 years of range; later
/// times saturate). Tag and value are one atomic, so always consistent.
///
/// Protocol (two writes by the opener, in this order):
///  1. The opener's CAS makes the word open, with the `D` (deadline published)
///     bit clear. While `D` is clear nobody reads the deadline: the breaker
///     stays open whatever the clock says.
///  2. The opener reads the clock (the open period starts then, after the word
///     changed, so it can only be later than the true opening), stores the
///     deadline (a CAS loop that never overwrites a newer opener's), then sets
///     `D` with one CAS on exactly the word it opened; if the word has moved
///     on (a newer transition), it leaves it.
/// A reader that sees `D` set for epoch E has (acquire on the word) seen E's
/// deadline or a newer one; a newer one is tagged differently (or belongs to
/// a word it can no longer CAS from). So no interleaving, however long the
/// opener is preempted between its two writes, lets a breaker turn half-open
/// before `timeout_duration` has passed since it opened.
///
/// The same protocol publishes the other deadlines of a word, each tagged
/// with its epoch: the end of an `open_for`/`open_until` period (an open word,
/// a given end instead of `timeout_duration`), and the end of a half-open
/// episode's maximum wait (a half-open word: D then means "wait published";
/// the word's probe count changes meanwhile, so step 2 marks any word of the
/// same epoch and state that does not have D yet, and gives up once the
/// epoch has moved on).
///
/// Beside the deadline, the opener of an unforced open period records its
/// backoff level (the re-opens in a row after failed half-open episodes,
/// `exponential_backoff`), tagged with the open epoch, in a second atomic,
/// before it publishes the deadline: the next opener (after the half-open
/// episode that followed, which began only once D was set) reads it with
/// acquire, before its own CAS. The same "only while our epoch is current"
/// CAS loop writes it. (The open word itself carries its level too, set
/// before the opening CAS: a transition that replaces an open word, such as
/// `open_for`, reads it there, never here, so it cannot miss a level not yet
/// recorded. A half-open word has no room for it; hence this record.)
///
/// `Atom` is the atomic template holding the deadline (`std::atomic` in the
/// library; the Relacy checks in `tests/relacy/` pass an adapter over
/// `rl::atomic`), and of the state word that `publish` marks: the checks run
/// this very code (see `detail/protocol.hpp`).

#include "breaker/state.hpp"
#include "breaker/detail/state_word.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace breaker::detail {

/// `d` converted to `To`, rounded up: a coarse clock never shortens a
/// configured duration.
template <class To, class Rep, class Period>
constexpr To ceil_duration(std::chrono::duration<Rep, Period> d) noexcept {
  return std::chrono::ceil<To>(d);
}

template <class Clock, template <class> class Atom = std::atomic>
class OpenDeadline {
 public:
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;

  static constexpr std::uint64_t value_mask = (std::uint64_t{1} << 48) - 1;
  static constexpr std::uint64_t tag_mask = 0xFFFF;

  explicit OpenDeadline(time_point base) noexcept : base_(base) {}

  /// Whether the published open period of `w` is over at `now`. Call only
  /// when `open_may_expire(w)`.
  bool expired(StateWord w, time_point now) const noexcept {
    // acquire: pairs with publish()'s release; tag and value read together.
    const std::uint64_t d = deadline_.load(std::memory_order_acquire);
    if ((d >> 48) != (w.epoch() & tag_mask)) return false;
    return micros_since_base(now, false) >= (d & value_mask);
  }

  /// The time from `now` until the published open period of `w` ends (zero
  /// once it is over). Call only when `open_may_expire(w)`. One acquire load
  /// of the deadline; if a newer opener has already replaced it, the newer
  /// (current) period's end is used.
  duration remaining(time_point now) const noexcept {
    // acquire: pairs with publish()'s release (the deadline seen with D set).
    const std::uint64_t d = deadline_.load(std::memory_order_acquire);
    const time_point end =
        base_ + ceil_duration<duration>(std::chrono::microseconds{
                    static_cast<std::chrono::microseconds::rep>(d & value_mask)});
    if (now >= end) return duration::zero();
    return end - now;
  }

  /// Step 2 of the protocol for the word `opened` (open, unforced, `D`
  /// clear), opened at `opened_at` for `timeout`.
  void publish(Atom<std::uint64_t>& word, StateWord opened, time_point opened_at,
               std::chrono::milliseconds timeout) noexcept {
    // Rounded up twice (to the clock's unit, then to a whole microsecond):
    // never half-open before timeout_duration.
    publish_until(word, opened, opened_at + ceil_duration<duration>(timeout));
  }

  /// Whether `current` is still the word `opened` published for: same epoch
  /// and state, `D` not yet set.
  static constexpr bool still_ours(StateWord current, StateWord opened) noexcept {
    return current.epoch() == opened.epoch() && current.state() == opened.state() &&
           !current.deadline_published();
  }

  /// Step 2 of the protocol for the word `opened` (open and unforced, or
  /// half-open; `D` clear) with the deadline `end` (rounded up to a whole
  /// microsecond).
  void publish_until(Atom<std::uint64_t>& word, StateWord opened, time_point end) noexcept {
    const std::uint64_t desired =
        (std::uint64_t{opened.epoch() & tag_mask} << 48) | micros_since_base(end, true);
    // CAS loop. We write only while our open period is the current one: the
    // loop re-reads the word after reading the deadline and gives up once the
    // breaker has moved on (a newer opener publishes its own deadline). A
    // delayed opener therefore cannot overwrite a newer deadline: if the newer
    // one is already stored, our CAS either fails (value changed) or we read
    // it with acquire, which makes the newer opener's word CAS visible to our
    // word load, and we give up.
    // acquire loads / acq_rel CAS: pair with the release of the newer opener.
    std::uint64_t current = deadline_.load(std::memory_order_acquire);
    for (;;) {
      if (!still_ours(StateWord{word.load(std::memory_order_acquire)}, opened)) return;
      if (current == desired) break;
      if (deadline_.compare_exchange_weak(current, desired, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
        break;
      }
    }
    // CAS loop setting D on the word while it is still ours. An open unforced
    // word changes only by a transition (then it is no longer ours to mark),
    // so for it this is one CAS on exactly the word we opened; a half-open
    // word also changes when probes come and go, in the same epoch.
    // acq_rel on success (release: a reader that sees D with acquire sees the
    // deadline stored above); acquire on failure to re-check the fresh word.
    std::uint64_t expected = word.load(std::memory_order_acquire);
    while (still_ours(StateWord{expected}, opened)) {
      if (word.compare_exchange_weak(expected,
                                     StateWord{expected}.with_deadline_published(true).bits(),
                                     std::memory_order_acq_rel, std::memory_order_acquire)) {
        return;
      }
    }
  }

  /// The backoff level recorded for the open epoch `epoch`, or 0 when none
  /// is (the record was replaced by a newer opener, or never written).
  std::uint32_t level_of(std::uint32_t epoch) const noexcept {
    // acquire: pairs with record_level()'s release (via the D bit's CAS chain).
    const std::uint64_t l = level_.load(std::memory_order_acquire);
    if ((l >> 32) != (epoch & StateWord::epoch_mask)) return 0;
    return static_cast<std::uint32_t>(l);
  }

  /// The level of the open epoch `epoch` whose word says `level_unknown` (a
  /// half-open episode, epoch - 1, whose maximum wait ran out re-opened it;
  /// the open period before that episode is epoch - 2): its own record when
  /// its changer has written it, else the record of epoch - 2 plus one (what
  /// the changer computes). One load decides: the record is never older than
  /// epoch - 2's (the half-open word was published after that record, and
  /// the caller read a newer word with acquire); a newer one than `epoch`'s
  /// means the word moved on, and the caller's CAS fails (0 then).
  std::uint32_t reopened_level(std::uint32_t epoch) const noexcept {
    // acquire: pairs with record_level()'s release (via the word's CAS chain).
    const std::uint64_t l = level_.load(std::memory_order_acquire);
    const auto level = static_cast<std::uint32_t>(l);
    if ((l >> 32) == (epoch & StateWord::epoch_mask)) return level;
    if ((l >> 32) == ((epoch - 2) & StateWord::epoch_mask)) {
      return level < StateWord::level_max ? level + 1 : level;
    }
    return 0;
  }

  /// Records `level` for the open word `opened`, while its epoch is current.
  /// Call before publishing the word's deadline.
  void record_level(const Atom<std::uint64_t>& word, StateWord opened,
                    std::uint32_t level) noexcept {
    const std::uint64_t desired = (std::uint64_t{opened.epoch()} << 32) | level;
    // CAS loop, as for the deadline: we write only while our epoch is the
    // current one, so a delayed opener never replaces a newer opener's level.
    // acquire loads / acq_rel CAS: pair with the newer opener's release.
    std::uint64_t current = level_.load(std::memory_order_acquire);
    for (;;) {
      if (!still_ours(StateWord{word.load(std::memory_order_acquire)}, opened)) return;
      if (current == desired) return;
      if (level_.compare_exchange_weak(current, desired, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return;
      }
    }
  }

 private:
  std::uint64_t micros_since_base(time_point t, bool round_up) const noexcept {
    if (t <= base_) return 0;
    const auto elapsed = t - base_;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed);
    if (round_up && std::chrono::duration_cast<duration>(us) < elapsed) ++us;
    const auto count = static_cast<std::uint64_t>(us.count());
    return std::min(count, value_mask);
  }

  // Initial tag: no epoch yet opened (epoch 0 is closed, so 0xFFFF never
  // matches before the first opening publishes).
  Atom<std::uint64_t> deadline_{tag_mask << 48};
  // Backoff level of the current open period: epoch (27 bits) << 32 | level.
  Atom<std::uint64_t> level_{0};
  time_point base_;
};

}  // namespace breaker::detail
