// SPDX-License-Identifier: Apache-2.0
#pragma once

// The breaker's lock-free protocol (include/breaker/detail/protocol.hpp and
// detail/open_deadline.hpp, the very code the library ships) run under Relacy:
// `RlAtom` adapts rl::atomic to the std::atomic spelling the protocol uses, so
// Relacy explores every interleaving of its steps and every value the C++
// memory model lets each load return under the orders the protocol writes.
//
// `ModelBreaker` is the thin shell CircuitBreaker is around the protocol
// (try_acquire, Permit::record, reset, force_open, disable, metrics_only,
// open_for, state(); after each change detail::start_deadline, as
// CircuitBreaker::after_transition), with a ghost
// that records the modification order of the state word as the protocol
// reports it (every step calls back right after its CAS, before the next
// atomic operation, so the ghost is exact: Relacy switches threads only at
// atomic operations). The invariants are asserted at every step:
//  - every change of the word is reported once, in order (one listener call
//    per transition): the word a CAS replaced is the last one reported (or
//    that word with its deadline-published bit set by the opener);
//  - a stale outcome (its permit's episode is over) never changes the word;
//  - the probes admitted in a half-open episode never exceed the limit, and
//    the word's probe count is exactly the probes of this episode in flight;
//  - the breaker never turns half-open (nor reads half-open through
//    state()) before its open period has passed since the CAS that opened
//    it, and that period is the policy's for the episode's re-open count
//    (backoff; level 0 after a close) with a jitter number of its own;
//  - never back to open before the half-open maximum wait has passed;
//  - nothing trips while disabled or metrics_only, which only a manual
//    transition leaves; reset() always ends closed;
// and at the end: the totals balance, and no probe slot is held.
//
// Include this header first: relacy.hpp redefines `new` and `delete`.

#include "breaker/config.hpp"
#include "breaker/detail/open_deadline.hpp"
#include "breaker/detail/open_duration.hpp"
#include "breaker/detail/protocol.hpp"
#include "breaker/detail/state_word.hpp"

// Every standard header this test uses comes before relacy.hpp, which
// defines `new`, `delete` and the memory_order_x names as macros.
#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <vector>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>

#include "harness.hpp"  // includes relacy.hpp

namespace breaker::relacy {

using detail::AcquireDecision;
using detail::Limits;
using detail::StateWord;


// The protocol's `Atom` (tests/relacy/harness.hpp).
using relacy_harness::RlAtom;

/// The model's clock: milliseconds that only the scenario's threads advance.
/// (A plain variable: Relacy runs its threads as fibers on one OS thread and
/// switches only at atomic operations, so every reader sees the latest time:
/// a monotonic, global clock.)
struct ModelClock {
  using rep = std::int64_t;
  using period = std::milli;
  using duration = std::chrono::milliseconds;
  using time_point = std::chrono::time_point<ModelClock, duration>;
  static constexpr bool is_steady = true;
  static inline std::int64_t* now_ms = nullptr;  // the running iteration's ghost clock
  static time_point now() noexcept { return time_point{duration{*now_ms}}; }
};

constexpr unsigned max_epochs = 32;

/// What the ghost knows: the modification order of the word as reported.
struct Ghost {
  std::int64_t now_ms = 0;
  std::uint64_t word = 0;      // the last word a reported change published
  std::uint32_t epoch = 0;     // transitions so far (never wraps)
  unsigned notifications = 0;  // listener calls (state changes)
  std::array<std::int64_t, max_epochs> opened_at{};  // per epoch: clock at the opening CAS
  std::array<bool, max_epochs> opened_unforced{};
  std::array<std::int64_t, max_epochs> period{};     // per epoch: the open period's length
  std::array<unsigned, max_epochs> in_flight{};      // per half-open episode: probes not yet reported
  std::array<unsigned, max_epochs> slots{};          // per half-open episode: probe slots held
  std::array<bool, max_epochs> ratio_episode{};      // per half-open episode: closes on a ratio
  std::array<unsigned, max_epochs> ratio_successes{};  // per success-ratio episode
  std::array<unsigned, max_epochs> ratio_failures{};
  std::array<bool, max_epochs> opened_from_closed_heard{};  // per epoch: closed -> open notified
  std::array<unsigned, max_epochs> rate_events{};    // per epoch: rate events after its trip
  std::array<std::uint32_t, max_epochs> level{};     // per open epoch: the policy's re-open count
  std::array<std::uint32_t, max_epochs> used_level{};  // per open epoch: the level its period has
  std::array<std::int64_t, max_epochs> entered_at{}; // per half-open epoch: clock at its CAS
  std::array<bool, max_epochs> wait_published{};     // per half-open epoch: a maximum wait
  std::array<std::uint64_t, max_epochs> draws{};     // jitter numbers drawn, in draw order
  unsigned draw_count = 0;
  unsigned admitted = 0, rejected = 0, recorded = 0;
};

/// Who changed the word: an admission (expiry, probe slot, the half-open
/// wait running out), an outcome, a rate trip, or a manual transition.
enum class Cause { acquire, outcome, rate, manual };

/// One admitted (or rejected) call, as the Permit holds it.
struct Ticket {
  bool admitted = false;
  std::uint32_t epoch = 0;       // the word's epoch field (what Permit stores)
  State in = State::closed;
  std::uint32_t true_epoch = 0;  // the ghost's epoch of the word it was admitted on
  bool done = false;
};

struct ModelConfig {
  // failure, success, half-open probes, minimum volume; consecutive-successes episodes
  Limits limits{1, 1, 1, 1, HalfOpenClose::consecutive_successes, 0};
  std::chrono::milliseconds timeout{10};
  // The open-duration policy, jitter and half-open maximum wait (the rest of
  // the config is unused): detail::open_period_end reads it as the breaker
  // reads its config. timeout_duration is set from `timeout`.
  CircuitBreakerConfig policy{};
};

class ModelBreaker {
 public:
  ModelBreaker(Ghost& ghost, ModelConfig config)
      : g_(ghost), config_(config), jitter_(config.policy.jitter_seed) {
    config_.policy.timeout_duration = config_.timeout;
  }

  /// CircuitBreaker::try_acquire (its closed branch is acquire_word's closed case).
  Ticket acquire() { return acquire_with(config_.limits); }

  /// The same after an update_config: this call's decisions use `limits`.
  Ticket acquire_with(const Limits& limits) {
    const std::uint64_t current = word_.load(std::memory_order::acquire);
    bool took_slot = false;
    std::uint32_t slot_epoch = 0;
    return detail::acquire_word(
        word_, deadline_, current, limits, [] { return ModelClock::now(); },
        [&](StateWord from, StateWord to) {
          note(from, to, Cause::acquire);
          // A probe slot is taken only by this call's CAS (noted just now, the
          // episode's wait not yet published): the probe belongs to the
          // current episode.
          if (to.state() == State::half_open &&
              (from.epoch() != to.epoch() || to.probes() == from.probes() + 1)) {
            took_slot = true;
            slot_epoch = g_.epoch;
            const unsigned n = ++g_.in_flight[g_.epoch];
            const unsigned held = ++g_.slots[g_.epoch];
            if (g_.ratio_episode[g_.epoch]) {
              // A success-ratio episode admits at most N probes that report
              // (a reported success or failure keeps its slot).
              RL_ASSERT(held <= Limits::ratio_episode_probes(limits.half_open_max_requests));
              RL_ASSERT(held == n + g_.ratio_successes[g_.epoch] + g_.ratio_failures[g_.epoch]);
            } else {
              RL_ASSERT(n <= limits.half_open_max_requests);
              RL_ASSERT(held == n);
            }
            RL_ASSERT(to.probes() == held);
          }
          publish(from, to);
        },
        [&](const AcquireDecision& d) {
          Ticket t{d.admitted, d.next.epoch(), d.admitted_in, d.next.epoch()};
          if (!d.admitted) {
            ++g_.rejected;
            return t;
          }
          ++g_.admitted;
          if (d.admitted_in == State::half_open) {
            RL_ASSERT(took_slot);
            t.true_epoch = slot_epoch;
          }
          return t;
        });
  }

  /// Permit::record (CircuitBreaker::finish; its shortcuts are apply_outcome's
  /// no-change exit).
  void record(Ticket& t, Outcome outcome) { record_with(t, outcome, config_.limits); }

  void record_with(Ticket& t, Outcome outcome, const Limits& limits) {
    RL_ASSERT(t.admitted && !t.done);
    t.done = true;
    ++g_.recorded;
    outcome_word(t, word_.load(std::memory_order::acquire), outcome, limits);
  }

  /// A closed (or metrics_only) outcome of a breaker with a sliding window
  /// (CircuitBreaker::windowed_outcome_general): `rate_reached` is the
  /// window's verdict after recording it (an input here: the window itself
  /// is checked in relacy_windows.cpp); then the rate trip
  /// (detail::trip_on_rate, closed permits only, as the breaker), and when
  /// it did not open the breaker, the word (consecutive rule, volume).
  /// Returns whether this call's rate trip opened the breaker. Permits of
  /// other states go to record() (CircuitBreaker::finish).
  bool record_windowed(Ticket& t, Outcome outcome, bool rate_reached) {
    if (t.in != State::closed && t.in != State::metrics_only) {
      record(t, outcome);
      return false;
    }
    RL_ASSERT(t.admitted && !t.done);
    t.done = true;
    ++g_.recorded;
    const std::uint64_t current = word_.load(std::memory_order::acquire);
    const StateWord w{current};
    // The breaker's shortcut: an ignored or stale windowed outcome changes nothing.
    if (outcome == Outcome::ignored || w.state() != t.in || w.epoch() != t.epoch) return false;
    if (t.in == State::closed && rate_reached &&
        trip_on_rate(t, outcome == Outcome::failure)) {
      return true;
    }
    if (outcome == Outcome::success && detail::windowed_steady(w)) return false;
    outcome_word(t, current, outcome, config_.limits);
    return false;
  }

  /// CircuitBreaker::check_rates once the window said a rate is reached: the
  /// shared detail::trip_on_rate, then the rate event (after the closed ->
  /// open listener call, once per trip, only by the thread whose CAS opened).
  bool trip_on_rate(const Ticket& t, bool failure) {
    std::uint32_t opened = 0;
    const bool tripped =
        detail::trip_on_rate(word_, t.epoch, failure, [&](StateWord from, StateWord to) {
          // A rate trip only from closed, in the permit's own closed period
          // (never from a stale epoch, never from metrics_only or disabled).
          RL_ASSERT(t.in == State::closed && from.state() == State::closed);
          RL_ASSERT(t.true_epoch == g_.epoch);
          RL_ASSERT(to.state() == State::open && !to.forced() && to.epoch() != from.epoch());
          // The consecutive failures count the tripping outcome, as decide_record would.
          RL_ASSERT(to.consecutive() ==
                    (failure ? std::min<std::uint32_t>(from.consecutive() + 1,
                                                       StateWord::consecutive_mask)
                             : 0));
          note(from, to, Cause::rate);
          opened = g_.epoch;  // before publish(): its atomics let other threads run
          publish(from, to);
          // After a close the backoff is at 0: the period the opener
          // computed is the base one (its length is checked in publish()).
          RL_ASSERT(g_.level[opened] == 0 && g_.used_level[opened] == 0);
        });
    if (tripped) {
      // The listeners heard closed -> open first; one rate event per trip.
      RL_ASSERT(g_.opened_from_closed_heard[opened]);
      RL_ASSERT(++g_.rate_events[opened] == 1);
    }
    return tripped;
  }

  /// CircuitBreaker::reset(): closed from every state (or already closed
  /// with nothing to clear).
  void reset() {
    StateWord published{};
    detail::transition_word(
        word_,
        [&](StateWord w) {
          published = detail::after_reset(w);
          return published;
        },
        [this](StateWord from, StateWord to) { changed(from, to, Cause::manual); });
    RL_ASSERT(published.state() == State::closed && published.consecutive() == 0 &&
              published.volume() == 0);
  }
  /// CircuitBreaker::force_open(), disable(), metrics_only().
  void force_open() { manual(detail::after_force_open); }
  void disable() { manual(detail::after_disable); }
  void metrics_only() { manual(detail::after_metrics_only); }

  /// CircuitBreaker::open_for(d): open now, half-open `ms` after the CAS.
  void open_for(std::int64_t ms) {
    detail::transition_word(
        word_, [this](StateWord w) { return detail::open_for_word(deadline_, w); },
        [this, ms](StateWord from, StateWord to) { changed(from, to, Cause::manual, ms); });
  }

  /// CircuitBreaker::state() (observe()): never half-open early, never open
  /// again before the half-open maximum wait has passed.
  State state() {
    const StateWord w{word_.load(std::memory_order::acquire)};
    const State s = detail::deadline_may_pass(w)
                        ? detail::observed_state(w, deadline_.expired(w, ModelClock::now()))
                        : w.state();
    if (s == State::half_open && w.state() == State::open) {
      // Unwrapped epochs: the word's epoch is the ghost's.
      RL_ASSERT(w.epoch() < max_epochs);
      period_used(w.epoch());
    }
    if (s == State::open && w.state() == State::half_open) {
      RL_ASSERT(w.epoch() < max_epochs && g_.wait_published[w.epoch()]);
      RL_ASSERT(g_.now_ms >= g_.entered_at[w.epoch()] + config_.policy.max_wait_in_half_open.count());
    }
    return s;
  }

  void advance(std::int64_t ms) { g_.now_ms += ms; }

  /// The final checks, once every thread has finished (after Relacy's global
  /// fence: the load sees the last word).
  void check_final() {
    const StateWord w{word_.load(std::memory_order::acquire)};
    RL_ASSERT(w.bits() == g_.word || w.bits() == StateWord{g_.word}.with_deadline_published(true).bits());
    RL_ASSERT(g_.admitted == g_.recorded);
    for (unsigned e = 0; e < max_epochs; ++e) RL_ASSERT(g_.in_flight[e] == 0);
    if (w.state() == State::half_open) {
      // No probe in flight: a consecutive-successes episode holds no slot, a
      // success-ratio one exactly its reported successes and failures.
      if (w.ratio_episode()) {
        RL_ASSERT(w.ratio_successes() == g_.ratio_successes[g_.epoch] &&
                  w.ratio_failures() == g_.ratio_failures[g_.epoch]);
        RL_ASSERT(w.probes() == w.ratio_successes() + w.ratio_failures());
      } else {
        RL_ASSERT(w.probes() == 0);
      }
      RL_ASSERT(w.probes() == g_.slots[g_.epoch]);
    }
    // An open unforced word has its deadline published (the opener finished),
    // and so has a half-open word its maximum wait, when there is one.
    if (w.state() == State::open && !w.forced()) RL_ASSERT(w.deadline_published());
    if (w.state() == State::half_open) {
      RL_ASSERT(w.deadline_published() == (config_.policy.max_wait_in_half_open.count() > 0));
    }
    // The jitter numbers drawn are the seed's sequence, each once (whatever
    // the order the openers drew them in).
    std::array<std::uint64_t, max_epochs> expected{};
    detail::JitterGenerator reference(config_.policy.jitter_seed);
    for (unsigned i = 0; i < g_.draw_count; ++i) expected[i] = reference.next();
    std::array<std::uint64_t, max_epochs> drawn = g_.draws;
    std::sort(expected.begin(), expected.begin() + g_.draw_count);
    std::sort(drawn.begin(), drawn.begin() + g_.draw_count);
    for (unsigned i = 0; i < g_.draw_count; ++i) RL_ASSERT(drawn[i] == expected[i]);
  }

 private:
  // Permit::record's word part (detail::apply_outcome from `current`), with
  // the ghost's checks of what it published.
  void outcome_word(const Ticket& t, std::uint64_t current, Outcome outcome,
                    const Limits& limits) {
    bool returned = false;
    detail::apply_outcome(word_, deadline_, current, t.epoch, t.in, outcome, limits,
                          [&](StateWord from, StateWord to, bool transition) {
                            // A stale outcome never changes the word.
                            RL_ASSERT(t.true_epoch == g_.epoch);
                            RL_ASSERT(transition == (to.epoch() != from.epoch()));
                            // Nothing trips (nor changes) while disabled; a
                            // metrics_only call only counts.
                            RL_ASSERT(t.in != State::disabled);
                            RL_ASSERT(t.in != State::metrics_only || !transition);
                            if (t.in == State::half_open) {
                              returned = true;
                              probe_reported(t, from, to, outcome, limits);
                            }
                            changed(from, to, Cause::outcome);
                            // The word counts exactly this episode's probe slots held.
                            if (to.state() == State::half_open && from.epoch() == to.epoch()) {
                              RL_ASSERT(to.probes() == g_.slots[g_.epoch]);
                            }
                          });
    if (t.in == State::half_open && !returned) {
      // A probe outcome that changed nothing is stale: its episode is over
      // (a fresh probe's outcome always changes the word: its slot or its
      // counts). It returns nothing to the current episode.
      RL_ASSERT(t.true_epoch != g_.epoch);
      --g_.in_flight[t.true_epoch];
    }
  }

  // A probe of the current episode reported (its CAS just published `to`):
  // the episode's rule, decided by the ghost on its own counts.
  void probe_reported(const Ticket& t, StateWord from, StateWord to, Outcome outcome,
                      const Limits& limits) {
    const std::uint32_t e = t.true_epoch;
    --g_.in_flight[e];
    if (!g_.ratio_episode[e]) {
      --g_.slots[e];  // a consecutive-successes probe returns its slot
      return;
    }
    RL_ASSERT(from.ratio_episode());
    // The success-ratio rule (docs/01-semantics.md, "Success ratio"), with
    // N probes and R required successes: closes exactly when R succeeded,
    // opens again exactly when more than N - R failed (R can no longer be
    // reached), an ignored probe gives its slot back and counts nothing.
    const std::uint32_t n = Limits::ratio_episode_probes(limits.half_open_max_requests);
    const std::uint32_t r = limits.ratio_required == 0 ? n : std::min(limits.ratio_required, n);
    unsigned& s = g_.ratio_successes[e];
    unsigned& f = g_.ratio_failures[e];
    bool closes = false, reopens = false;
    switch (outcome) {
      case Outcome::ignored:
        --g_.slots[e];
        break;
      case Outcome::success:
        closes = ++s == r;
        break;
      case Outcome::failure:
        reopens = ++f == n - r + 1;
        break;
    }
    RL_ASSERT(s + f <= n && s <= r && f <= n - r + 1);
    if (closes) {
      RL_ASSERT(to.state() == State::closed && to.epoch() != from.epoch());
    } else if (reopens) {
      RL_ASSERT(to.state() == State::open && !to.forced() && to.epoch() != from.epoch());
    } else {
      RL_ASSERT(to.state() == State::half_open && to.epoch() == from.epoch());
      RL_ASSERT(to.ratio_episode());
      RL_ASSERT(to.ratio_successes() == s && to.ratio_failures() == f);
      RL_ASSERT(to.probes() == g_.slots[e]);
    }
  }

  template <class Next>
  void manual(Next next_of) {
    detail::transition_word(word_, next_of, [this](StateWord from, StateWord to) {
      changed(from, to, Cause::manual);
    });
  }

  // The breaker's jitter generator, recording each number drawn (in the
  // ghost, and for the caller: `drew`, `last`; the caller's locals, as each
  // fiber has its own).
  struct RecordingJitter {
    ModelBreaker& cb;
    bool& drew;
    std::uint64_t& last;
    std::uint64_t next() {
      const std::uint64_t r = cb.jitter_.next();
      RL_ASSERT(cb.g_.draw_count < max_epochs);
      cb.g_.draws[cb.g_.draw_count++] = r;
      last = r;
      drew = true;
      return r;
    }
  };

  // CircuitBreaker::after_transition (the shared detail::start_deadline, with
  // the model's config), plus the ghost's bookkeeping. `period_ms` < 0: the
  // breaker's own open period (the policy's); otherwise open_for's.
  void changed(StateWord from, StateWord to, Cause cause, std::int64_t period_ms = -1) {
    note(from, to, cause, period_ms);
    publish(from, to, period_ms);
  }

  // The ghost's part, right after the CAS: the modification order, the epochs,
  // the levels the policy gives.
  void note(StateWord from, StateWord to, Cause cause, std::int64_t period_ms = -1) {
    // Every change is reported once and in order.
    RL_ASSERT(from.bits() == g_.word ||
              from.bits() == StateWord{g_.word}.with_deadline_published(true).bits());
    g_.word = to.bits();
    const bool new_epoch = to.epoch() != from.epoch();
    if (new_epoch) {
      ++g_.epoch;
      RL_ASSERT(g_.epoch < max_epochs);
      RL_ASSERT(to.epoch() == (g_.epoch & StateWord::epoch_mask));
      if (to.state() == State::half_open) RL_ASSERT(to.probes() <= 1);
      // Disabled and metrics_only are left only by a manual transition.
      if (from.state() == State::disabled || from.state() == State::metrics_only) {
        RL_ASSERT(cause == Cause::manual);
      }
    } else {
      RL_ASSERT(to.state() == from.state());
    }
    if (from.state() == State::open && to.state() == State::half_open) {
      // Never half-open before the open period since the opening CAS, and
      // that period was the policy's for the episode's re-open count.
      period_used(g_.epoch - 1);
    }
    if (new_epoch && from.state() == State::half_open && cause == Cause::acquire) {
      // Back to open by an admission: only once the episode's maximum wait
      // (published) has passed since the CAS that entered half-open.
      RL_ASSERT(to.state() == State::open && g_.wait_published[g_.epoch - 1]);
      RL_ASSERT(g_.now_ms >=
                g_.entered_at[g_.epoch - 1] + config_.policy.max_wait_in_half_open.count());
    }
    const bool own_period = period_ms < 0;
    if (new_epoch && detail::needs_open_deadline(to)) {
      g_.opened_at[g_.epoch] = g_.now_ms;
      g_.opened_unforced[g_.epoch] = true;
      // The re-open count the policy needs: 0 after a closed-like state; the
      // same when an open period is replaced; +1 after a failed half-open
      // episode (its probe failed or its wait ran out; not for open_for).
      std::uint32_t level = 0;
      if (from.state() == State::open) {
        level = g_.level[g_.epoch - 1];
      } else if (from.state() == State::half_open) {
        level = g_.level[g_.epoch - 2] + (own_period ? 1 : 0);
      }
      g_.level[g_.epoch] = level;
      // The open word carries that level from its CAS on (set before it),
      // so that whoever replaces the word (open_for) keeps it; a re-open by
      // the admission rule (the half-open wait ran out) says "unknown", and
      // its changer and any replacer derive it (the period-length check
      // below and the replacer's own word check this one).
      RL_ASSERT(to.level() == level ||
                (to.level() == StateWord::level_unknown && from.state() == State::half_open &&
                 own_period));
    }
    if (new_epoch && to.state() == State::half_open) {
      // A new episode starts with no count (its ratio counts at zero) and
      // its close rule fixed from the config of the admission that began it.
      RL_ASSERT(to.consecutive() == 0);
      g_.ratio_episode[g_.epoch] = to.ratio_episode();
      g_.entered_at[g_.epoch] = g_.now_ms;
      g_.wait_published[g_.epoch] = config_.policy.max_wait_in_half_open.count() > 0;
    }
  }

  // An open period ends (half-open entered or read): it had passed, and it
  // was the policy's for its episode's re-open count (a period computed but
  // never published, its word replaced meanwhile, is never used: its level
  // may be off, as the opener may read the level after newer openers wrote
  // theirs).
  void period_used(std::uint32_t e) {
    RL_ASSERT(g_.opened_unforced[e]);
    RL_ASSERT(g_.now_ms >= g_.opened_at[e] + g_.period[e]);
    RL_ASSERT(g_.used_level[e] == g_.level[e]);
  }

  // CircuitBreaker::after_transition's step 2 (the shared
  // detail::start_deadline) and listener call, after note().
  void publish(StateWord from, StateWord to, std::int64_t period_ms = -1) {
    const bool own_period = period_ms < 0;
    const std::uint32_t epoch = g_.epoch;
    detail::start_deadline(
        word_, deadline_, from, to, [] { return ModelClock::now(); },
        [&](ModelClock::time_point t, std::uint32_t level) {
          g_.used_level[epoch] = level;
          ModelClock::time_point end;
          if (own_period) {
            bool drew = false;
            std::uint64_t random = 0;
            RecordingJitter jitter{*this, drew, random};
            end = detail::open_period_end<ModelClock::duration>(config_.policy, t, level, jitter);
            RL_ASSERT(end - t == std::chrono::ceil<ModelClock::duration>(
                                     detail::open_duration(config_.policy, level, random)));
            RL_ASSERT(drew == (config_.policy.open_duration_jitter != Jitter::none));
            if (level == 0 && config_.policy.open_duration_jitter == Jitter::none) {
              RL_ASSERT(end - t == config_.timeout);  // level 0 (after a close): the base duration
            }
          } else {
            end = t + std::chrono::milliseconds{period_ms};
          }
          // The clock is read after the CAS: the period counts from then at the earliest.
          RL_ASSERT(t.time_since_epoch().count() >= g_.opened_at[epoch]);
          g_.period[epoch] = (end - t).count() + (t.time_since_epoch().count() - g_.opened_at[epoch]);
          return end;
        },
        [this] { return std::chrono::ceil<ModelClock::duration>(config_.policy.max_wait_in_half_open); });
    if (from.state() != to.state()) {
      ++g_.notifications;  // the listener call
      if (from.state() == State::closed && to.state() == State::open) {
        g_.opened_from_closed_heard[epoch] = true;
      }
    }
  }

  Ghost& g_;
  ModelConfig config_;
  RlAtom<std::uint64_t> word_{0};
  detail::OpenDeadline<ModelClock, RlAtom> deadline_{ModelClock::time_point{}};
  detail::BasicJitterGenerator<RlAtom> jitter_;
};

}  // namespace breaker::relacy
