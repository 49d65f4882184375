// SPDX-License-Identifier: Apache-2.0
#pragma once

// The breaker's lock-free protocol (include/breaker/detail/protocol.hpp and
// detail/open_deadline.hpp, the very code the library ships) run under Relacy:
// `RlAtom` adapts rl::atomic to the std::atomic spelling the protocol uses, so
// Relacy explores every interleaving of its steps and every value the C++
// memory model lets each load return under the orders the protocol writes.
//
// `ModelBreaker` is the thin shell CircuitBreaker is around the protocol
// (try_acquire, Permit::record, reset, force_open, state()), with a ghost
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
//    state()) before timeout_duration has passed since the CAS that opened it;
// and at the end: the totals balance, and no probe slot is held.
//
// Include this header first: relacy.hpp redefines `new` and `delete`.

#include "breaker/detail/open_deadline.hpp"
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

#include <relacy/relacy.hpp>

namespace breaker::relacy {

using detail::AcquireDecision;
using detail::Limits;
using detail::StateWord;

// (Spelled std::memory_order::x: relacy.hpp defines macros named
// memory_order_x. The protocol headers above were read before them.)
constexpr rl::memory_order to_rl(std::memory_order mo) noexcept {
  switch (mo) {
    case std::memory_order::relaxed:
      return rl::mo_relaxed;
    case std::memory_order::consume:
      return rl::mo_consume;
    case std::memory_order::acquire:
      return rl::mo_acquire;
    case std::memory_order::release:
      return rl::mo_release;
    case std::memory_order::acq_rel:
      return rl::mo_acq_rel;
    case std::memory_order::seq_cst:
      break;
  }
  return rl::mo_seq_cst;
}

/// rl::atomic<T> with std::atomic<T>'s spelling (the protocol's `Atom`);
/// not copyable (rl::atomic is not).
template <class T>
class RlAtom {
 public:
  RlAtom(T initial) : a_(initial) {}  // NOLINT: the protocol brace-initialises

  T load(std::memory_order mo) const { return a_.load(to_rl(mo), $); }
  void store(T v, std::memory_order mo) { a_.store(v, to_rl(mo), $); }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure) {
    return a_.compare_exchange_weak(expected, desired, to_rl(success), $, to_rl(failure), $);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure) {
    return a_.compare_exchange_strong(expected, desired, to_rl(success), $, to_rl(failure), $);
  }

 private:
  rl::atomic<T> a_;
};

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
  std::array<unsigned, max_epochs> in_flight{};      // per half-open episode
  unsigned admitted = 0, rejected = 0, recorded = 0;
};

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
};

class ModelBreaker {
 public:
  ModelBreaker(Ghost& ghost, ModelConfig config) : g_(ghost), config_(config) {}

  /// CircuitBreaker::try_acquire (its closed branch is acquire_word's closed case).
  Ticket acquire() { return acquire_with(config_.limits); }

  /// The same after an update_config: this call's decisions use `limits`.
  Ticket acquire_with(const Limits& limits) {
    const std::uint64_t current = word_.load(std::memory_order::acquire);
    return detail::acquire_word(
        word_, deadline_, current, limits, [] { return ModelClock::now(); },
        [this](StateWord from, StateWord to) { changed(from, to); },
        [this](const AcquireDecision& d) { return decided(d); });
  }

  /// Permit::record (CircuitBreaker::finish; its shortcuts are apply_outcome's
  /// no-change exit).
  void record(Ticket& t, Outcome outcome) { record_with(t, outcome, config_.limits); }

  void record_with(Ticket& t, Outcome outcome, const Limits& limits) {
    RL_ASSERT(t.admitted && !t.done);
    t.done = true;
    ++g_.recorded;
    bool returned_slot = false;
    const std::uint64_t current = word_.load(std::memory_order::acquire);
    detail::apply_outcome(word_, current, t.epoch, t.in, outcome, limits,
                          [&](StateWord from, StateWord to, bool transition) {
                            // A stale outcome never changes the word.
                            RL_ASSERT(t.true_epoch == g_.epoch);
                            RL_ASSERT(transition == (to.epoch() != from.epoch()));
                            if (t.in == State::half_open) {
                              --g_.in_flight[t.true_epoch];
                              returned_slot = true;
                            }
                            changed(from, to);
                            // The word counts exactly this episode's probes in flight.
                            if (to.state() == State::half_open && from.epoch() == to.epoch()) {
                              RL_ASSERT(to.probes() == g_.in_flight[g_.epoch]);
                            }
                          });
    // A probe of an earlier episode returns nothing to the current one.
    if (t.in == State::half_open && !returned_slot) --g_.in_flight[t.true_epoch];
  }

  /// CircuitBreaker::reset() and force_open().
  void reset() {
    detail::transition_word(word_, detail::after_reset,
                            [this](StateWord from, StateWord to) { changed(from, to); });
  }
  void force_open() {
    detail::transition_word(word_, detail::after_force_open,
                            [this](StateWord from, StateWord to) { changed(from, to); });
  }

  /// CircuitBreaker::open_for(d): open now, half-open `ms` after the CAS.
  void open_for(std::int64_t ms) {
    detail::transition_word(word_, detail::after_open_for,
                            [this, ms](StateWord from, StateWord to) { changed(from, to, ms); });
  }

  /// CircuitBreaker::state() (observe()): never half-open early.
  State state() {
    const StateWord w{word_.load(std::memory_order::acquire)};
    const State s = detail::open_may_expire(w)
                        ? detail::observed_state(w, deadline_.expired(w, ModelClock::now()))
                        : w.state();
    if (s == State::half_open && w.state() == State::open) {
      // Unwrapped epochs: the word's epoch is the ghost's.
      RL_ASSERT(w.epoch() < max_epochs && g_.opened_unforced[w.epoch()]);
      RL_ASSERT(g_.now_ms >= g_.opened_at[w.epoch()] + g_.period[w.epoch()]);
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
    if (w.state() == State::half_open) RL_ASSERT(w.probes() == 0);
    // An open unforced word has its deadline published (the opener finished).
    if (w.state() == State::open && !w.forced()) RL_ASSERT(w.deadline_published());
  }

 private:
  // CircuitBreaker::after_transition, plus the ghost's bookkeeping.
  // `period_ms` < 0: the breaker's own open period (timeout_duration);
  // otherwise open_for's.
  void changed(StateWord from, StateWord to, std::int64_t period_ms = -1) {
    // Every change is reported once and in order.
    RL_ASSERT(from.bits() == g_.word ||
              from.bits() == StateWord{g_.word}.with_deadline_published(true).bits());
    g_.word = to.bits();
    if (to.epoch() != from.epoch()) {
      ++g_.epoch;
      RL_ASSERT(g_.epoch < max_epochs);
      RL_ASSERT(to.epoch() == (g_.epoch & StateWord::epoch_mask));
      if (to.state() == State::half_open) RL_ASSERT(to.probes() <= 1);
    } else {
      RL_ASSERT(to.state() == from.state());
    }
    if (from.state() == State::open && to.state() == State::half_open) {
      // Never half-open before timeout_duration since the opening CAS.
      RL_ASSERT(g_.opened_unforced[g_.epoch - 1]);
      RL_ASSERT(g_.now_ms >= g_.opened_at[g_.epoch - 1] + g_.period[g_.epoch - 1]);
    }
    // As CircuitBreaker::after_transition with the default open-duration
    // policy (fixed, no jitter, no half-open maximum wait): a new epoch whose
    // word is open and unforced records its backoff level, then publishes the
    // end of its open period.
    if (from.epoch() != to.epoch() && detail::needs_open_deadline(to)) {
      const bool own_period = period_ms < 0;
      g_.opened_at[g_.epoch] = g_.now_ms;
      g_.opened_unforced[g_.epoch] = true;
      g_.period[g_.epoch] = own_period ? config_.timeout.count() : period_ms;
      std::uint32_t level = 0;
      if (from.state() == State::open) {
        level = deadline_.level_of(from.epoch());
      } else if (from.state() == State::half_open) {
        level = deadline_.level_of((from.epoch() - 1) & StateWord::epoch_mask);
        if (own_period) ++level;
      }
      deadline_.record_level(word_, to, level);
      const auto now = ModelClock::now();
      if (own_period) {
        deadline_.publish(word_, to, now, config_.timeout);
      } else {
        deadline_.publish_until(word_, to, now + std::chrono::milliseconds{period_ms});
      }
    }
    if (from.state() != to.state()) ++g_.notifications;  // the listener call
  }

  Ticket decided(const AcquireDecision& d) {
    Ticket t{d.admitted, d.next.epoch(), d.admitted_in, d.next.epoch()};
    if (!d.admitted) {
      ++g_.rejected;
      return t;
    }
    ++g_.admitted;
    if (d.admitted_in == State::half_open) {
      // A probe slot is taken only by this call's CAS (reported just now):
      // the probe belongs to the current episode.
      t.true_epoch = g_.epoch;
      RL_ASSERT(g_.word == d.next.bits());
      const unsigned n = ++g_.in_flight[g_.epoch];
      RL_ASSERT(n <= config_.limits.half_open_max_requests);
      RL_ASSERT(d.next.probes() == n);
    }
    return t;
  }

  Ghost& g_;
  ModelConfig config_;
  RlAtom<std::uint64_t> word_{0};
  detail::OpenDeadline<ModelClock, RlAtom> deadline_{ModelClock::time_point{}};
};

}  // namespace breaker::relacy
