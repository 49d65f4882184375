// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The lock-free protocol of a breaker: every step that reads or writes its
/// shared atomics (the state word, the open deadline and the backoff level),
/// written once, generic over the atomic type.
///
/// `CircuitBreaker` instantiates these with `std::atomic<std::uint64_t>` (the
/// default of `OpenDeadline`'s `Atom` too): the functions are forced-inline
/// templates, compiled into the member functions that call them. The Relacy checks
/// (`tests/relacy/`) instantiate the *same* functions with an adapter over
/// `rl::atomic`, which explores every interleaving and every reordering the
/// C++ memory model allows for the orders written here (folly's `Atom` idea).
///
/// What an atomic type must offer (exactly `std::atomic<std::uint64_t>`'s
/// spelling): `load(order)`, `compare_exchange_weak(expected, desired,
/// success, failure)`, `compare_exchange_strong(...)` likewise.
///
/// The decisions stay pure in `state_word.hpp`; this file only loads, asks the
/// rules for the next word and publishes it. After a change, each step calls
/// the caller's callback, which publishes the open deadline when the change
/// opened the breaker (`needs_open_deadline`, then step 2 of
/// `open_deadline.hpp`'s protocol), counts the transition and notifies
/// listeners. Nothing here allocates, locks or throws.
///
/// Not here: the call path's single loads that end in *no* write (the closed
/// check of `try_acquire`, the steady-word compare after a closed success,
/// `finish`'s shortcuts for an ignored or unchanging closed outcome). Each
/// is a shortcut of a step below that would find nothing to change.

#include "breaker/outcome.hpp"
#include "breaker/state.hpp"
#include "breaker/detail/state_word.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

namespace breaker::detail {

// Every step below is forced inline (`always_inline`) and calls back exactly
// where the breaker's own bookkeeping used to run, so that its instantiation
// with std::atomic is the code CircuitBreaker's member functions held before
// the protocol moved here. Callgrind (tests/benchmarks/instructions): the
// closed paths execute the same instruction counts as before the move
// (execute 40, try_acquire + record 85, execute_with_fallback 86); a
// rejection while open, 123 instead of 122 (register allocation).

/// Whether the change to `to` opened the breaker with an open period that
/// ends by itself (unforced): then the changer runs step 2 of the
/// open-deadline protocol (`OpenDeadline::publish(word, to, now, timeout)`,
/// or `publish_until(word, to, end)` for a period of another length), with
/// the clock read *after* the word changed. (A change into half-open with a
/// maximum wait publishes that wait the same way.)
constexpr bool needs_open_deadline(StateWord to) noexcept {
  return to.state() == State::open && !to.forced();
}

/// The backoff level (re-opens in a row after failed half-open episodes,
/// `exponential_backoff`) of the open period that a change from `from`
/// starts: 0 from a closed-like state (a close resets the backoff); the
/// level in `from` when an open word is opened again (`open_for` keeps the
/// level); after a half-open episode (whose epoch follows its open
/// period's), the level of that period, plus one when the episode failed
/// (`failed_episode`: the breaker's own re-open, not `open_for`). That
/// period's level is read from `deadline` (`OpenDeadline::level_of`, tagged
/// with its epoch), where its opener recorded it before it published the
/// period's end: a half-open word exists only once that end was published
/// (D set, seen with acquire), so the record is visible to anyone who read
/// the half-open word with acquire. A newer record (a newer open epoch)
/// reads as 0, but then the word has moved on and the caller's CAS fails.
template <class Deadline>
[[gnu::always_inline]] inline std::uint32_t backoff_level(const Deadline& deadline,
                                                          StateWord from,
                                                          bool failed_episode) noexcept {
  std::uint32_t level = 0;
  if (from.state() == State::open) {
    level = from.level();
    if (level == StateWord::level_unknown) [[unlikely]] {
      level = deadline.reopened_level(from.epoch());
    }
  } else if (from.state() == State::half_open) {
    level = deadline.level_of((from.epoch() - 1) & StateWord::epoch_mask);
    if (failed_episode && level < StateWord::level_max) ++level;
  }
  return level;
}

/// The word `to` of a change from `from`, with its backoff level when the
/// change opens the breaker with a period of its own (a new epoch, open,
/// unforced; `backoff_level`); any other word unchanged. Called before the
/// CAS that publishes `to`, so that the level is in the open word from the
/// start: whoever replaces it (`open_for`) reads it there.
template <class Deadline>
[[gnu::always_inline]] inline StateWord with_backoff(const Deadline& deadline, StateWord from,
                                                     StateWord to, bool failed_episode) noexcept {
  if (from.epoch() == to.epoch() || !needs_open_deadline(to)) return to;
  return to.with_level(backoff_level(deadline, from, failed_episode));
}

/// `open_for()` / `open_until()`'s word (`after_open_for`), keeping the
/// level of the period it replaces (`with_backoff`, not a failed episode).
template <class Deadline>
[[gnu::always_inline]] inline StateWord open_for_word(const Deadline& deadline,
                                                      StateWord w) noexcept {
  return with_backoff(deadline, w, after_open_for(w), false);
}

/// Admission, starting from `current` (a word the caller loaded with
/// acquire). `now()` is called at most once (only for a word whose deadline
/// is published, `deadline_may_pass`: an unforced open word, or a half-open
/// word with a maximum wait; at most one clock read per rejection);
/// `deadline` is an `OpenDeadline`. `refine(limits)` runs at most once, when
/// an open word's period is over (a new half-open episode may start: issue
/// 12 reads its close rule there, off the closed path). `on_change(from,
/// to)` runs right after a CAS that changed the word (half-open entered, a
/// probe slot taken, half-open back to open); then `on_decision(decision)`
/// runs once, and its result is returned.
template <class WordAtomic, class Deadline, class Now, class Refine, class OnChange,
          class OnDecision>
[[gnu::always_inline]] inline auto acquire_word(WordAtomic& word, const Deadline& deadline,
                                                std::uint64_t current, Limits limits, Now now,
                                                Refine refine, OnChange&& on_change,
                                                OnDecision&& on_decision) noexcept {
  std::optional<decltype(now())> checked_at;  // at most one clock read per rejection
  bool refined = false;
  for (;;) {
    const StateWord w{current};
    bool expired = false;
    if (deadline_may_pass(w)) {
      if (!checked_at) checked_at = now();
      expired = deadline.expired(w, *checked_at);
      if (expired && w.state() == State::open && !refined) {
        refine(limits);
        refined = true;
      }
    }
    const AcquireDecision d = decide_acquire(w, limits, expired);
    if (d.next.bits() != current) {
      // (Half-open back to open, its maximum wait run out: the open word's
      // level is `level_unknown`, derived after the CAS by start_deadline
      // and by a replacer from the level record; no code here, so that a
      // rejection's loop stays as it was.)
      // CAS: acq_rel on success (a transition or a probe slot taken is
      // published to later loads); acquire on failure to decide again on
      // the fresh word (and its level).
      if (!word.compare_exchange_weak(current, d.next.bits(), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        continue;
      }
      on_change(w, d.next);
    }
    return on_decision(d);
  }
}

/// `acquire_word` with limits that need no refinement.
template <class WordAtomic, class Deadline, class Now, class OnChange, class OnDecision>
[[gnu::always_inline]] inline auto acquire_word(WordAtomic& word, const Deadline& deadline,
                                                std::uint64_t current, const Limits& limits,
                                                Now now, OnChange&& on_change,
                                                OnDecision&& on_decision) noexcept {
  return acquire_word(
      word, deadline, current, limits, now, [](Limits&) noexcept {},
      static_cast<OnChange&&>(on_change), static_cast<OnDecision&&>(on_decision));
}

/// Publishes what an outcome does to the word (`decide_record`), starting from
/// `current`; an opening transition's word carries its backoff level
/// (`with_backoff`: 0 from closed, a failed probe's episode's level + 1 from
/// half-open), read from `deadline` (an `OpenDeadline`) before the CAS.
/// `on_published(from, to, transition)` runs right after the CAS
/// that published `to` (`transition`: the outcome drove a transition, not
/// only a change of counts); nothing runs when the word needs no change.
template <class WordAtomic, class Deadline, class OnPublished>
[[gnu::always_inline]] inline void apply_outcome(WordAtomic& word, const Deadline& deadline,
                                                 std::uint64_t current, std::uint32_t epoch,
                                                 State admitted_in, Outcome outcome,
                                                 const Limits& limits,
                                                 OnPublished&& on_published) noexcept {
  RecordDecision d;
  // CAS loop: acq_rel on success publishes the new counts or transition;
  // acquire on failure to decide again (and read the level again) on the
  // fresh word.
  do {
    d = decide_record(StateWord{current}, epoch, admitted_in, outcome, limits);
    if (d.next.bits() == current) return;
    if (d.transition) d.next = with_backoff(deadline, StateWord{current}, d.next, true);
  } while (!word.compare_exchange_weak(current, d.next.bits(), std::memory_order_acq_rel,
                                       std::memory_order_acquire));
  on_published(StateWord{current}, d.next, d.transition);
}

/// A rate trip (`decide_rate_trip`): the sliding window of the closed period
/// `epoch` reached a rate (the caller decided that on the window's counts)
/// after an outcome (`failure`, or a success that brought the window to its
/// gate). Opens the breaker only while the word is still closed in `epoch`:
/// a verdict on an earlier closed period's window (stale) changes nothing,
/// and neither does one when the word is no longer closed (an outcome or
/// another rate trip opened it first, a manual transition). Returns whether
/// this call opened it; then `on_change(from, to)` has run right after the
/// CAS (the changer's step 2 and the listeners, as for every transition).
template <class WordAtomic, class OnChange>
[[gnu::always_inline]] inline bool trip_on_rate(WordAtomic& word, std::uint32_t epoch,
                                                bool failure, OnChange&& on_change) noexcept {
  std::uint64_t current = word.load(std::memory_order_acquire);
  RecordDecision trip;
  // CAS loop: acq_rel on success publishes the transition (step 1 of the
  // open-deadline protocol); acquire on failure to decide again on the
  // fresh word (another outcome may have changed its counts, or tripped).
  do {
    trip = decide_rate_trip(StateWord{current}, epoch, failure);
    if (trip.stale) return false;
  } while (!word.compare_exchange_weak(current, trip.next.bits(), std::memory_order_acq_rel,
                                       std::memory_order_acquire));
  on_change(StateWord{current}, trip.next);
  return true;
}

/// A manual transition (`reset()`, `force_open()`, `disable()`,
/// `metrics_only()`, `open_for()`): `next_of(word)` is the
/// word to publish; a word equal to its input is no transition.
/// `on_change(from, to)` runs right after the CAS that published it.
template <class WordAtomic, class Next, class OnChange>
[[gnu::always_inline]] inline void transition_word(WordAtomic& word, Next&& next_of,
                                                   OnChange&& on_change) noexcept {
  std::uint64_t current = word.load(std::memory_order_acquire);
  StateWord next;
  // CAS loop: acq_rel on success orders this transition after the word we
  // read and publishes it to later loads (acquire); acquire on failure
  // because we recompute from the word we just read.
  do {
    next = next_of(StateWord{current});
    if (next.bits() == current) return;
  } while (!word.compare_exchange_weak(current, next.bits(), std::memory_order_acq_rel,
                                       std::memory_order_acquire));
  on_change(StateWord{current}, next);
}

/// What the changer of the word does right after a change from `from` to
/// `to` (step 2 of the open-deadline protocol), before it counts the
/// transition and tells the listeners. Only a new epoch starts a period or a
/// wait:
///  - `to` open and unforced: reads the clock (`now()`, after the word
///    changed), records the period's backoff level (`to.level()`, set before
///    the CAS by `with_backoff`) for the re-opener after the half-open
///    episode that follows, and publishes the period's end `end_of(t, level)`;
///  - `to` half-open: publishes the episode's maximum wait, `now() +
///    half_open_wait()` (nothing when the wait is zero: the episode has no
///    end of its own).
/// `deadline` is an `OpenDeadline` over the same atomic template as `word`.
template <class WordAtomic, class Deadline, class Now, class EndOf, class HalfOpenWait>
[[gnu::always_inline]] inline void start_deadline(WordAtomic& word, Deadline& deadline,
                                                  StateWord from, StateWord to, Now now,
                                                  EndOf&& end_of,
                                                  HalfOpenWait&& half_open_wait) noexcept {
  if (from.epoch() == to.epoch()) return;
  if (needs_open_deadline(to)) {
    const auto t = now();
    // The level set before the CAS; a re-open by the admission rule (its
    // wait ran out) has it unknown: derived as a replacer derives it (no
    // record of `to` exists yet: the record of the open period before the
    // episode, + 1).
    std::uint32_t level = to.level();
    if (level == StateWord::level_unknown) [[unlikely]] level = deadline.reopened_level(to.epoch());
    // Recorded before the deadline is published: the next opener (after the
    // half-open episode that starts only once D is set) reads it
    // (`backoff_level`); whoever replaces this open word reads the word's.
    deadline.record_level(word, to, level);
    deadline.publish_until(word, to, end_of(t, level));
  } else if (to.state() == State::half_open) {
    const auto wait = half_open_wait();
    if (wait.count() > 0) deadline.publish_until(word, to, now() + wait);
  }
}

}  // namespace breaker::detail
