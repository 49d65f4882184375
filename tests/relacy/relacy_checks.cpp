// SPDX-License-Identifier: Apache-2.0
//
// The Relacy checks of the breaker's lock-free protocol (see model.hpp and
// docs/reliability.md). Each scenario is a small program of 2-3 threads on one
// ModelBreaker; Relacy runs it under every interleaving (sched_full) or a
// bounded/random subset, each with the values the C++ memory model allows.
//
//   breaker_relacy_checks                      every scenario; exit 0 when all hold
//   breaker_relacy_checks NAME...              only those
//   breaker_relacy_checks --expect-failure NAME
//       exit 0 only when Relacy REPORTS a violated assertion in NAME: the
//       ctest of each test-only broken variant (tests/relacy/CMakeLists.txt
//       builds this file against a patched copy of one protocol header).
//
// Prints per scenario the scheduler, the iterations explored and the time.

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "model.hpp"  // last: it includes relacy.hpp

namespace breaker::relacy {
namespace {

// Common parts of a scenario: the ghost, the breaker, the clock hook.
template <class Derived, rl::thread_id_t Threads>
struct Scenario : rl::test_suite<Derived, Threads> {
  Ghost ghost;
  ModelBreaker cb;
  explicit Scenario(ModelConfig config) : cb(ghost, config) { ModelClock::now_ms = &ghost.now_ms; }
  void after() { cb.check_final(); }
};

ModelConfig config(std::uint32_t failures, std::uint32_t successes, std::uint32_t probes) {
  ModelConfig c;
  c.limits = Limits{failures, successes, probes, 1, HalfOpenClose::consecutive_successes, 0};
  c.timeout = std::chrono::milliseconds{10};
  return c;
}

// Admission and outcomes in closed, open and half-open: two failures trip it
// (failure_threshold 2), the clock passes the open period, probes succeed or
// are ignored.
struct Mixed2 : Scenario<Mixed2, 2> {
  Mixed2() : Scenario(config(2, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::failure);
    } else {
      cb.advance(10);
      Ticket c = cb.acquire();
      if (c.admitted) cb.record(c, Outcome::success);
      Ticket d = cb.acquire();
      if (d.admitted) cb.record(d, Outcome::ignored);
    }
  }
};

// Three threads, success/failure/ignored and state(), two probes allowed; the
// third thread runs with an updated config (failure_threshold 1 instead of 2,
// as after update_config: each decision uses the old or the new limits).
struct Mixed3 : Scenario<Mixed3, 3> {
  Mixed3() : Scenario(config(2, 2, 2)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      cb.advance(10);
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::success);
    } else if (index == 1) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::ignored);
      (void)cb.state();
    } else {
      const Limits updated{1, 2, 2, 1};
      (void)cb.state();
      Ticket a = cb.acquire_with(updated);
      if (a.admitted) cb.record_with(a, Outcome::success, updated);
    }
  }
};

// The open-to-half-open expiry with the opener parked anywhere between its
// word CAS and its deadline publication: thread 0 opens (failure), lets the
// period pass, takes the probe and fails it (reopening at a later epoch);
// thread 1 asks for admission and reads state() at every point in between.
struct Expiry : Scenario<Expiry, 2> {
  Expiry() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      cb.advance(10);
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::failure);
    } else {
      (void)cb.state();
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::success);
      (void)cb.state();
    }
  }
};

// reset() and force_open() racing admissions, outcomes and the expiry.
struct ResetForceOpen : Scenario<ResetForceOpen, 2> {
  ResetForceOpen() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      cb.advance(10);
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::success);
    } else {
      cb.force_open();
      (void)cb.state();
      cb.reset();
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::ignored);
    }
  }
};

// Issue 8, bug 2: a permit taken at epoch 0, then force_open/reset twice (four
// epochs), racing that permit's failure (failure_threshold 1). The failure is
// fresh only before the first transition; after it, it must change nothing.
struct StaleAfterWrap : Scenario<StaleAfterWrap, 2> {
  StaleAfterWrap() : Scenario(config(1, 1, 1)) {}
  Ticket held;
  void before() { held = cb.acquire(); }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record(held, Outcome::failure);
    } else {
      cb.force_open();
      cb.reset();
      cb.force_open();
      cb.reset();
    }
  }
};

// Issue 8, bug 7: a probe of half-open episode 1 hangs (returns only at some
// point of thread 0); meanwhile thread 1 force-opens, resets, trips it again
// and waits out the open period: the new episode's first caller must be
// admitted (the hung probe counts in no later episode), and the late probe
// returns nothing to it.
struct ProbeEpisodes : Scenario<ProbeEpisodes, 2> {
  ProbeEpisodes() : Scenario(config(1, 1, 1)) {}
  Ticket hung;
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(10);
    hung = cb.acquire();
    RL_ASSERT(hung.admitted && hung.in == State::half_open);
  }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record(hung, Outcome::ignored);
    } else {
      cb.force_open();
      cb.reset();
      Ticket b = cb.acquire();
      RL_ASSERT(b.admitted);
      cb.record(b, Outcome::failure);
      cb.advance(10);
      Ticket c = cb.acquire();
      RL_ASSERT(c.admitted && c.in == State::half_open);  // not blocked by the hung probe
      cb.record(c, Outcome::success);
    }
  }
};

// open_for() (issue 12) racing an opening failure, the expiry and a probe:
// each open period, the breaker's own (10 ms) or open_for's (25 ms), is waited
// out in full.
struct OpenFor : Scenario<OpenFor, 2> {
  OpenFor() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      cb.advance(10);
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::success);
    } else {
      cb.open_for(25);
      (void)cb.state();
      cb.advance(10);
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::failure);
    }
  }
};

// Issue 12's manual states: disable() and metrics_only() racing calls that
// fail (failure_threshold 1), force_open() and reset(). Nothing trips while
// disabled or metrics_only (their outcomes only count), they are left only by
// a manual transition, reset() ends closed from every state, a permit of an
// earlier state changes nothing.
struct DisableMetricsOnly : Scenario<DisableMetricsOnly, 2> {
  DisableMetricsOnly() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::failure);
      (void)cb.state();
    } else {
      cb.metrics_only();
      cb.disable();
      cb.force_open();
      cb.reset();
    }
  }
};

// The same with the calls held across the manual transitions: a permit
// admitted closed / metrics_only / disabled reports after the state changed.
struct DisableHeld : Scenario<DisableHeld, 2> {
  DisableHeld() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      Ticket b = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      if (b.admitted) cb.record(b, Outcome::failure);
    } else {
      cb.disable();
      cb.metrics_only();
      cb.reset();
    }
  }
};

ModelConfig backoff_config(Jitter jitter) {
  ModelConfig c = config(1, 1, 2);
  c.policy.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.policy.backoff_multiplier = 2.0;
  c.policy.max_open_duration = std::chrono::milliseconds{30};
  c.policy.open_duration_jitter = jitter;
  c.policy.jitter_ratio = 0.5;
  c.policy.jitter_seed = 13;
  return c;
}

// Issue 12's exponential backoff (10, 20, 30 ms: multiplier 2, cap 30) with
// proportional jitter (ratio 0.5): two probes of one half-open episode fail
// concurrently (one re-opens at level 1, the other is stale), then each thread
// waits the period out and probes again (a failure re-opens at level 2, a
// success closes). Each open period is the policy's for the episode's
// re-open count, with a jitter number of the seed's sequence drawn once per
// opening.
struct BackoffProbes : Scenario<BackoffProbes, 2> {
  BackoffProbes() : Scenario(backoff_config(Jitter::proportional)) {}
  Ticket p0, p1;
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(100);
    p0 = cb.acquire();
    p1 = cb.acquire();
    RL_ASSERT(p0.admitted && p1.admitted && p1.in == State::half_open);
  }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record(p0, Outcome::failure);
      cb.advance(100);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::failure);
    } else {
      cb.record(p1, Outcome::failure);
      cb.advance(100);
      Ticket r = cb.acquire();
      if (r.admitted) cb.record(r, Outcome::success);
    }
  }
};

// A close resetting the backoff while another thread re-opens: a probe's
// failure (level 1) and the next failed episode (level 2) race reset() and a
// trip from closed, whose period must be the base 10 ms (backoff_reset: no
// jitter, so the length is exact). jitter_reset: the same with proportional
// jitter, where the re-opener and the trip from closed draw concurrently
// (each must get its own number of the seed's sequence).
template <Jitter J>
struct BackoffReset : Scenario<BackoffReset<J>, 2> {
  using Base = Scenario<BackoffReset<J>, 2>;
  using Base::cb;
  BackoffReset() : Base(backoff_config(J)) {}
  Ticket p;
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(100);
    p = cb.acquire();
    RL_ASSERT(p.admitted && p.in == State::half_open);
  }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record(p, Outcome::failure);
      cb.advance(100);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::failure);
    } else {
      cb.reset();
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
    }
  }
};

ModelConfig wait_config() {
  ModelConfig c = config(1, 1, 1);
  c.policy.max_wait_in_half_open = std::chrono::milliseconds{5};
  return c;
}

// Issue 12's max_wait_in_half_open (5 ms): thread 0 takes the probe (its CAS
// enters half-open and it publishes the wait) and reports it late; thread 1
// lets the wait pass, asks for admission (the episode goes back to open) and
// reads state() before and after. A probe result of the old episode never
// closes the breaker once the wait expired; the episode ends by exactly one
// transition; never open again before the wait has passed.
struct HalfOpenWait : Scenario<HalfOpenWait, 2> {
  HalfOpenWait() : Scenario(wait_config()) {}
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(10);
  }
  void thread(unsigned index) {
    if (index == 0) {
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::success);
    } else {
      (void)cb.state();
      cb.advance(5);
      (void)cb.state();
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::failure);
      (void)cb.state();
    }
  }
};

// The wait with the episode's probe count moving while the entering thread
// publishes it (two probes): the published bit must still be set on the
// episode's word (a half-open word with a wait always has it at the end).
struct HalfOpenWaitProbes : Scenario<HalfOpenWaitProbes, 2> {
  HalfOpenWaitProbes() : Scenario([] {
    ModelConfig c = wait_config();
    c.limits.half_open_max_requests = 2;
    c.limits.success_threshold = 2;
    return c;
  }()) {}
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(10);
  }
  void thread(unsigned index) {
    Ticket p = cb.acquire();
    if (p.admitted) cb.record(p, index == 0 ? Outcome::ignored : Outcome::success);
  }
};

// Smaller instances of the bounded scenarios above, searched exhaustively
// (sched_full): every interleaving and every value, no preemption bound.

// expiry without the state() reads: the opener (trip, expiry, failed probe)
// against one call and its success.
struct ExpirySmall : Scenario<ExpirySmall, 2> {
  ExpirySmall() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      cb.advance(10);
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::failure);
    } else {
      Ticket b = cb.acquire();
      if (b.admitted) cb.record(b, Outcome::success);
    }
  }
};

// reset_force_open with a single reset() on the other thread (force_open is
// in stale_small's exhaustive search).
struct ResetSmall : Scenario<ResetSmall, 2> {
  ResetSmall() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
      cb.advance(10);
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::success);
    } else {
      cb.reset();
    }
  }
};

// stale_after_wrap with one force_open; reset (two transitions).
struct StaleSmall : Scenario<StaleSmall, 2> {
  StaleSmall() : Scenario(config(1, 1, 1)) {}
  Ticket held;
  void before() { held = cb.acquire(); }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record(held, Outcome::failure);
    } else {
      cb.force_open();
      cb.reset();
    }
  }
};

// half_open_wait without the state() reads.
struct HalfOpenWaitSmall : Scenario<HalfOpenWaitSmall, 2> {
  HalfOpenWaitSmall() : Scenario(wait_config()) {}
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(10);
  }
  void thread(unsigned index) {
    if (index == 0) {
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::success);
    } else {
      cb.advance(5);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::failure);
    }
  }
};

// A failure against metrics_only(); reset().
struct DisableSmall : Scenario<DisableSmall, 2> {
  DisableSmall() : Scenario(config(1, 1, 1)) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record(a, Outcome::failure);
    } else {
      cb.metrics_only();
      cb.reset();
    }
  }
};

// --- success-ratio half-open episodes (issue 13, ratio13) ---------------------------------------

// A success-ratio config: N = `probes` probes, R = `required` successes
// (half_open_close = success_ratio; failure_threshold 1).
ModelConfig ratio_config(std::uint32_t probes, std::uint32_t required) {
  ModelConfig c = config(1, 1, probes);
  c.limits.half_open_close = HalfOpenClose::success_ratio;
  c.limits.ratio_required = required;
  return c;
}

// Opens the breaker (one failure) and lets the open period pass: the next
// admission starts a success-ratio episode.
template <class S>
void open_and_wait(S& s) {
  Ticket a = s.cb.acquire();
  RL_ASSERT(a.admitted);
  s.cb.record(a, Outcome::failure);
  s.cb.advance(10);
}

// One episode of N = 3 probes, R = 2 (closes on the second success, opens
// again on the second failure): thread 0 probes (success) then probes again
// and is ignored (its slot goes back); thread 1 fails a probe then succeeds
// one. Whichever order, the ghost decides each outcome by the ratio rule.
struct Ratio2 : Scenario<Ratio2, 2> {
  Ratio2() : Scenario(ratio_config(3, 2)) {}
  void before() { open_and_wait(*this); }
  void thread(unsigned index) {
    if (index == 0) {
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::success);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::ignored);
    } else {
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::failure);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::success);
    }
  }
};

// Late and stale probes: N = 2, R = 2 (any failure reopens). A probe of the
// first episode (taken before the threads start) reports its success late;
// meanwhile thread 1 takes the second probe and fails it (the episode
// reopens), waits out the period and probes the next episode twice (a
// success, an ignored). The late success counts in its own episode only
// while it lasts; afterwards it changes nothing, and the next episode starts
// from zero.
struct RatioLate : Scenario<RatioLate, 2> {
  RatioLate() : Scenario(ratio_config(2, 2)) {}
  Ticket held;
  void before() {
    open_and_wait(*this);
    held = cb.acquire();
    RL_ASSERT(held.admitted && held.in == State::half_open);
  }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record(held, Outcome::success);
    } else {
      Ticket p = cb.acquire();
      if (p.admitted) cb.record(p, Outcome::failure);
      cb.advance(10);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::success);
      Ticket r = cb.acquire();
      if (r.admitted) cb.record(r, Outcome::ignored);
    }
  }
};

// Three threads on one episode of N = 3, R = 2: a success, a failure, and an
// ignored probe followed by a success (the ignored slot taken again).
struct Ratio3 : Scenario<Ratio3, 3> {
  Ratio3() : Scenario(ratio_config(3, 2)) {}
  void before() { open_and_wait(*this); }
  void thread(unsigned index) {
    Ticket p = cb.acquire();
    if (index == 0) {
      if (p.admitted) cb.record(p, Outcome::success);
    } else if (index == 1) {
      if (p.admitted) cb.record(p, Outcome::failure);
    } else {
      if (p.admitted) cb.record(p, Outcome::ignored);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::success);
    }
  }
};

// --- rate trips through the breaker (detail::trip_on_rate) ---------------------------------------

// A breaker with a sliding window (its closed volume stops one short of
// saturation) that also keeps the consecutive rule (failure_threshold 1: the
// slow-call rule beside consecutive_failures).
ModelConfig windowed_config() {
  ModelConfig c = config(1, 1, 1);
  c.limits.windowed = true;
  return c;
}

// A rate trip racing a consecutive-failure trip: thread 0's failure makes
// the window reach its rate; thread 1's failure trips the consecutive rule.
// Then the expiry: thread 0 waits out the period and probes (success closes);
// thread 1 takes a call and reports a failure that reaches the window's rate
// (a new closed period's own trip, or stale, or a probe's failure).
struct RateVsConsecutive : Scenario<RateVsConsecutive, 2> {
  RateVsConsecutive() : Scenario(windowed_config()) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record_windowed(a, Outcome::failure, true);
      cb.advance(10);
      Ticket p = cb.acquire();
      if (p.admitted) cb.record_windowed(p, Outcome::success, false);
    } else {
      Ticket b = cb.acquire();
      if (b.admitted) cb.record_windowed(b, Outcome::failure, false);
      Ticket c = cb.acquire();
      if (c.admitted) cb.record_windowed(c, Outcome::failure, true);
    }
  }
};

// A rate trip racing manual transitions: a permit of the first closed period
// (taken before the threads start) reports a failure whose window reached
// its rate while thread 1 force-opens and resets (a new closed period): the
// verdict on the old window must never open the new period. Thread 0 then
// takes a call of whatever period is current and reports a success that
// brings its window to the gate (a trip of its own epoch).
struct RateReset : Scenario<RateReset, 2> {
  RateReset() : Scenario(windowed_config()) {}
  Ticket held;
  void before() {
    held = cb.acquire();
    RL_ASSERT(held.admitted);
  }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record_windowed(held, Outcome::failure, true);
      Ticket b = cb.acquire();
      if (b.admitted) cb.record_windowed(b, Outcome::success, true);
    } else {
      cb.force_open();
      cb.reset();
    }
  }
};

// Rate trips racing metrics_only() and disable(): a metrics_only permit's
// window never trips the breaker, a closed permit's verdict is stale once
// the state changed.
struct RateManualStates : Scenario<RateManualStates, 2> {
  RateManualStates() : Scenario(windowed_config()) {}
  void thread(unsigned index) {
    if (index == 0) {
      Ticket a = cb.acquire();
      if (a.admitted) cb.record_windowed(a, Outcome::failure, true);
      Ticket b = cb.acquire();
      if (b.admitted) cb.record_windowed(b, Outcome::failure, true);
    } else {
      cb.metrics_only();
      cb.disable();
      cb.reset();
    }
  }
};

// --- the open_for level race (docs/reliability.md, found by the model and fixed) -------------------

// A failed probe re-opens the breaker at backoff level 1 (thread 0) while
// open_for(25) replaces that open period (thread 1), which then waits it out
// and fails the next probe. open_for keeps the level (docs/01-semantics.md)
// even when its CAS lands between the re-opener's CAS and its record of the
// level: the level is in the open word from its CAS on. Before the fix (the
// level only in the epoch-tagged record, written after the CAS) open_for read
// no level there and restarted the backoff at 0; Relacy reported it at
// iteration 8.
struct OpenForLevel : Scenario<OpenForLevel, 2> {
  OpenForLevel() : Scenario(backoff_config(Jitter::none)) {}
  Ticket p;
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(100);
    p = cb.acquire();
    RL_ASSERT(p.admitted && p.in == State::half_open);
  }
  void thread(unsigned index) {
    if (index == 0) {
      cb.record(p, Outcome::failure);
    } else {
      cb.open_for(25);
      cb.advance(100);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::failure);
    }
  }
};

// The same race after a re-open by the admission rule: the half-open
// episode's maximum wait (5 ms) ran out, so thread 0's admission re-opens at
// level 1 with the word's level "unknown" (the pure rule reads no atomic); its
// changer derives and records the level after the CAS. Thread 1's
// open_for(25 ms) may replace that word before or after the record and must
// keep level 1 (derived from the record of the period before the episode, +1,
// or read from the re-open's own record); its next failed probe re-opens at
// level 2. The held probe of the expired episode reports late (stale).
struct OpenForAfterWait : Scenario<OpenForAfterWait, 2> {
  OpenForAfterWait() : Scenario([] {
    ModelConfig c = backoff_config(Jitter::none);
    c.policy.max_wait_in_half_open = std::chrono::milliseconds{5};
    return c;
  }()) {}
  Ticket p;
  void before() {
    Ticket a = cb.acquire();
    cb.record(a, Outcome::failure);
    cb.advance(10);
    p = cb.acquire();
    RL_ASSERT(p.admitted && p.in == State::half_open);
    cb.advance(5);
  }
  void thread(unsigned index) {
    if (index == 0) {
      Ticket r = cb.acquire();
      if (r.admitted) cb.record(r, Outcome::failure);
      cb.record(p, Outcome::success);
    } else {
      cb.open_for(25);
      cb.advance(100);
      Ticket q = cb.acquire();
      if (q.admitted) cb.record(q, Outcome::failure);
    }
  }
};

using relacy_harness::Run;
using relacy_harness::run;

std::vector<Run> runs() {
  return {
      run<"mixed_2t", Mixed2>("2 threads: closed failures trip, expiry, probe success, ignored",
                              rl::sched_full, 0, 0),
      run<"mixed_3t", Mixed3>(
          "3 threads: failure/success/ignored, 2 probes, state(), updated limits", rl::sched_random,
          1000000, 0),
      run<"expiry", Expiry>("open -> half-open with the opener parked between its two writes",
                            rl::sched_bound, 0, 4),
      run<"reset_force_open", ResetForceOpen>(
          "reset() and force_open() racing calls and the expiry", rl::sched_bound, 0, 5),
      run<"stale_after_wrap", StaleAfterWrap>(
          "an old permit's failure racing four transitions (issue 8 bug 2)", rl::sched_bound, 0, 6),
      run<"open_for_after_wait", OpenForAfterWait>(
          "open_for replacing a re-open by the half-open wait (its level derived) keeps the level",
          rl::sched_bound, 0, 2),
      run<"open_for", OpenFor>("open_for() racing an opening failure, the expiry and a probe",
                               rl::sched_bound, 0, 3),
      run<"probe_episodes", ProbeEpisodes>("a hung probe of an earlier episode (issue 8 bug 7)",
                                           rl::sched_full, 0, 0),
      run<"disable_metrics_only", DisableMetricsOnly>(
          "disable()/metrics_only()/force_open()/reset() racing failures", rl::sched_bound, 0, 4),
      run<"disable_held", DisableHeld>("permits held across disable()/metrics_only()/reset()",
                                       rl::sched_bound, 0, 4),
      run<"backoff_probes", BackoffProbes>(
          "backoff + jitter: two probes fail at once, then fail / succeed", rl::sched_bound, 0, 2),
      run<"backoff_reset", BackoffReset<Jitter::none>>(
          "backoff: a re-open racing reset() and a trip from closed", rl::sched_bound, 0, 2),
      run<"expiry_small", ExpirySmall>("expiry, smaller: trip, expiry, failed probe vs one call",
                                       rl::sched_full, 0, 0),
      run<"reset_small", ResetSmall>("reset_force_open, smaller: one reset() vs the opener",
                                     rl::sched_full, 0, 0),
      run<"stale_small", StaleSmall>("stale_after_wrap, smaller: one force_open; reset",
                                     rl::sched_full, 0, 0),
      run<"half_open_wait_small", HalfOpenWaitSmall>("half_open_wait, smaller: no state() reads",
                                                     rl::sched_full, 0, 0),
      run<"disable_small", DisableSmall>("a failure vs metrics_only(); reset()", rl::sched_full, 0,
                                         0),
      run<"jitter_reset", BackoffReset<Jitter::proportional>>(
          "the same with jitter: two openers draw concurrently", rl::sched_bound, 0, 2),
      run<"half_open_wait", HalfOpenWait>(
          "max_wait_in_half_open running out racing a late probe result", rl::sched_bound, 0, 3),
      run<"half_open_wait_probes", HalfOpenWaitProbes>(
          "the wait published while probes come and go", rl::sched_bound, 0, 4),
      run<"ratio_2t", Ratio2>("success ratio N=3 R=2: success, ignored / failure, success",
                              rl::sched_bound, 0, 4),
      run<"ratio_late", RatioLate>(
          "success ratio N=2 R=2: a late probe of an ended episode, the next episode",
          rl::sched_full, 0, 0),
      run<"ratio_3t", Ratio3>(
          "success ratio N=3 R=2, 3 threads: success / failure / ignored, success", rl::sched_bound,
          0, 2),
      run<"rate_vs_consecutive", RateVsConsecutive>(
          "a rate trip racing a consecutive-failure trip, the expiry, a probe", rl::sched_bound, 0,
          4),
      run<"rate_reset", RateReset>("a stale window's rate verdict racing force_open(); reset()",
                                   rl::sched_bound, 0, 5),
      run<"open_for_level", OpenForLevel>(
          "open_for replacing a re-open before its level is recorded keeps the level",
          rl::sched_bound, 0, 2),
      run<"rate_manual_states", RateManualStates>(
          "rate trips racing metrics_only(); disable(); reset()", rl::sched_bound, 0, 4),
  };
}

}  // namespace
}  // namespace breaker::relacy

int main(int argc, char** argv) {
  return breaker::relacy_harness::run_main(argc, argv, breaker::relacy::runs());
}
