// SPDX-License-Identifier: Apache-2.0
// The pure transition rules, driven without atomics, clocks or Asio (and, at
// the end, the backoff level the protocol puts in an opening word, on one thread).
#include "breaker/detail/state_word.hpp"

#include "breaker/detail/open_deadline.hpp"
#include "breaker/detail/protocol.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

using breaker::State;
using breaker::detail::AcquireDecision;
using breaker::detail::decide_acquire;
using breaker::detail::decide_record;
using breaker::detail::Limits;
using breaker::detail::observed_state;
using breaker::detail::Outcome;
using breaker::detail::StateWord;
using breaker::detail::after_force_open;
using breaker::detail::after_reset;
using breaker::detail::closed_steady;
using breaker::detail::success_changes;

namespace {
constexpr Limits limits{3, 2, 2, 0};  // failures, successes, half-open probes, volume gate
}

TEST_CASE("state word fields round-trip and do not overlap", "[state-word]") {
  const StateWord w = StateWord{}
                          .with_state(State::metrics_only)
                          .with_forced(true)
                          .with_deadline_published(true)
                          .with_consecutive(0xFFFF)
                          .with_volume(0xFFFF)
                          .with_epoch(0x7FF'FFFF);
  CHECK(w.state() == State::metrics_only);  // the state field has 3 bits
  CHECK(w.forced());
  CHECK(w.deadline_published());
  CHECK(w.consecutive() == 0xFFFF);
  CHECK(w.volume() == 0xFFFF);
  CHECK(w.probes() == 0xFFF);  // the low 12 bits of the shared field
  CHECK(w.ratio_episode());    // its bit 15
  CHECK(w.epoch() == 0x7FF'FFFF);
  const StateWord cleared = w.with_probes(0).with_forced(false).with_deadline_published(false);
  CHECK(cleared.probes() == 0);
  CHECK(cleared.ratio_episode());  // with_probes keeps the episode's rule
  CHECK_FALSE(cleared.forced());
  CHECK_FALSE(cleared.deadline_published());
  CHECK(cleared.consecutive() == 0xFFFF);
  CHECK(cleared.epoch() == 0x7FF'FFFF);
  CHECK(cleared.with_ratio_episode(false).volume() == 0x7000);
  // The volume (closed) and the probes (half-open) share their bits.
  CHECK(StateWord{}.with_volume(0xABC).probes() == 0xABC);
  // Every state value fits the field.
  for (State s : {State::closed, State::open, State::half_open, State::disabled,
                  State::metrics_only}) {
    CHECK(StateWord{}.with_epoch(0x7FF'FFFF).with_consecutive(0xFFFF).with_state(s).state() == s);
  }
}

TEST_CASE("entering a state bumps the 27-bit epoch and clears everything else", "[state-word]") {
  const StateWord w = StateWord{}
                          .with_state(State::half_open)
                          .with_consecutive(4)
                          .with_probes(2)
                          .with_deadline_published(true)
                          .with_epoch(0xFFFF);
  const StateWord open = w.enter(State::open);
  CHECK(open.state() == State::open);
  CHECK(open.epoch() == 0x10000);  // no wrap at 16 bits any more
  CHECK(open.consecutive() == 0);
  CHECK(open.probes() == 0);  // a new episode starts from zero
  CHECK_FALSE(open.deadline_published());
  CHECK(StateWord{}.with_epoch(0x7FF'FFFF).enter(State::closed).epoch() == 0);  // wraps at 2^27
}

TEST_CASE("closed admits without changing the word", "[state-word][closed]") {
  const StateWord w = StateWord{}.with_consecutive(1).with_epoch(7);
  const AcquireDecision d = decide_acquire(w, limits, false);
  CHECK(d == AcquireDecision{true, w, State::closed});
}

TEST_CASE("closed failures open the breaker at the threshold", "[state-word][closed]") {
  StateWord w{};
  for (int i = 1; i < 3; ++i) {
    const auto d = decide_record(w, 0, State::closed, Outcome::failure, limits);
    CHECK_FALSE(d.transition);
    w = d.next;
    CHECK(w.consecutive() == static_cast<std::uint32_t>(i));
  }
  const auto d = decide_record(w, 0, State::closed, Outcome::failure, limits);
  CHECK(d.transition);
  CHECK(d.next.state() == State::open);
  CHECK(d.next.consecutive() == 3);
  CHECK(d.next.epoch() == 1);
}

TEST_CASE("a success resets consecutive failures", "[state-word][closed]") {
  const StateWord w = StateWord{}.with_consecutive(2);
  const auto d = decide_record(w, 0, State::closed, Outcome::success, limits);
  CHECK(d.next.consecutive() == 0);
  CHECK(d.next.state() == State::closed);
}

TEST_CASE("the volume gate holds the breaker closed until enough outcomes", "[state-word][closed]") {
  constexpr Limits gated{2, 1, 1, 5};
  StateWord w{};
  for (int i = 0; i < 4; ++i) {
    const auto d = decide_record(w, 0, State::closed, Outcome::failure, gated);
    CHECK_FALSE(d.transition);
    w = d.next;
  }
  CHECK(w.consecutive() == 4);
  CHECK(w.volume() == 4);
  const auto d = decide_record(w, 0, State::closed, Outcome::failure, gated);
  CHECK(d.transition);
  CHECK(d.next.consecutive() == 5);
}

TEST_CASE("the volume counts past the minimum up to its saturation, then successes change nothing",
          "[state-word][closed]") {
  constexpr Limits gated{2, 1, 1, 2};
  StateWord w{};
  CHECK(success_changes(w, 0));  // volume not saturated yet
  w = decide_record(w, 0, State::closed, Outcome::success, gated).next;
  w = decide_record(w, 0, State::closed, Outcome::success, gated).next;
  w = decide_record(w, 0, State::closed, Outcome::success, gated).next;
  CHECK(w.volume() == 3);  // past the minimum of 2: a raised minimum still sees them
  CHECK(success_changes(w, 0));
  w = w.with_volume(StateWord::volume_max);
  CHECK(closed_steady(w));
  CHECK_FALSE(success_changes(w, 0));
  CHECK(decide_record(w, 0, State::closed, Outcome::success, gated).next == w);
  CHECK(success_changes(w.with_consecutive(1), 0));
  CHECK_FALSE(success_changes(w.with_consecutive(1), 1));  // stale epoch
}

TEST_CASE("reset of a closed breaker with nothing to clear keeps its epoch", "[state-word][reset]") {
  const StateWord fresh = StateWord{}.with_epoch(7);
  CHECK(after_reset(fresh) == fresh);
  const StateWord counted = fresh.with_volume(1);
  CHECK(after_reset(counted) == StateWord{}.with_epoch(8));
  CHECK(after_reset(fresh.with_consecutive(1)).epoch() == 8);
  const StateWord open = StateWord{}.with_state(State::open).with_epoch(3);
  CHECK(after_reset(open) == StateWord{}.with_epoch(4));
  const StateWord forced = after_force_open(fresh);
  CHECK(forced.forced());
  CHECK(forced.epoch() == 8);
  CHECK(after_force_open(forced) == forced);
}

TEST_CASE("open rejects until expired, then the first caller becomes a probe", "[state-word][open]") {
  const StateWord open = StateWord{}
                             .with_state(State::open)
                             .with_epoch(3)
                             .with_consecutive(3)
                             .with_deadline_published(true);
  CHECK_FALSE(decide_acquire(open, limits, false).admitted);
  const auto d = decide_acquire(open, limits, true);
  CHECK(d.admitted);
  CHECK(d.admitted_in == State::half_open);
  CHECK(d.next.state() == State::half_open);
  CHECK(d.next.epoch() == 4);
  CHECK(d.next.probes() == 1);
  CHECK(d.next.consecutive() == 0);
}

TEST_CASE("a forced open breaker never expires", "[state-word][open]") {
  const StateWord forced =
      StateWord{}.with_state(State::open).with_forced(true).with_deadline_published(true);
  CHECK_FALSE(decide_acquire(forced, limits, true).admitted);
  CHECK(observed_state(forced, true) == State::open);
  const StateWord open = forced.with_forced(false);
  CHECK(observed_state(open, true) == State::half_open);
  CHECK(observed_state(open, false) == State::open);
}

TEST_CASE("an open breaker whose deadline is not published yet never expires",
          "[state-word][open][deadline]") {
  const StateWord opening = StateWord{}.with_state(State::open).with_epoch(5);
  CHECK_FALSE(decide_acquire(opening, limits, true).admitted);
  CHECK(decide_acquire(opening, limits, true).next == opening);
  CHECK(observed_state(opening, true) == State::open);
  CHECK(decide_acquire(opening.with_deadline_published(true), limits, true).admitted);
}

TEST_CASE("half-open admits at most half_open_max_requests probes", "[state-word][half-open]") {
  StateWord w = StateWord{}.with_state(State::half_open).with_probes(1);
  auto d = decide_acquire(w, limits, false);
  REQUIRE(d.admitted);
  w = d.next;
  CHECK(w.probes() == 2);
  CHECK_FALSE(decide_acquire(w, limits, false).admitted);
  // A finished probe returns its slot.
  w = decide_record(w, 0, State::half_open, Outcome::ignored, limits).next;
  CHECK(w.probes() == 1);
  CHECK(decide_acquire(w, limits, false).admitted);
}

TEST_CASE("half-open closes after success_threshold successes and reopens on a failure",
          "[state-word][half-open]") {
  const StateWord w = StateWord{}.with_state(State::half_open).with_probes(2).with_epoch(5);
  const auto first = decide_record(w, 5, State::half_open, Outcome::success, limits);
  CHECK_FALSE(first.transition);
  CHECK(first.next.consecutive() == 1);
  CHECK(first.next.probes() == 1);
  const auto second = decide_record(first.next, 5, State::half_open, Outcome::success, limits);
  CHECK(second.transition);
  CHECK(second.next.state() == State::closed);
  CHECK(second.next.probes() == 0);
  CHECK(second.next.epoch() == 6);

  const auto failed = decide_record(w, 5, State::half_open, Outcome::failure, limits);
  CHECK(failed.transition);
  CHECK(failed.next.state() == State::open);
  CHECK(failed.next.probes() == 0);  // the other probe belongs to the old episode now
}

TEST_CASE("stale outcomes change nothing, not even a probe count", "[state-word][stale]") {
  const StateWord closed = StateWord{}.with_epoch(2).with_consecutive(2);
  const auto stale = decide_record(closed, 1, State::closed, Outcome::failure, limits);
  CHECK(stale.stale);
  CHECK_FALSE(stale.transition);
  CHECK(stale.next == closed);

  const StateWord half_open = StateWord{}.with_state(State::half_open).with_epoch(9).with_probes(1);
  const auto probe = decide_record(half_open, 7, State::half_open, Outcome::success, limits);
  CHECK(probe.stale);
  CHECK(probe.next == half_open);  // a probe of an earlier episode returns nothing here
}

TEST_CASE("probes left over from an earlier episode do not count against the limit",
          "[state-word][half-open]") {
  // Episode at epoch 1 admitted 2 probes (the limit) that never return; it
  // reopens on a third... here: reopens, expires, and the new episode admits.
  StateWord w = StateWord{}.with_state(State::half_open).with_epoch(1).with_probes(2);
  CHECK_FALSE(decide_acquire(w, limits, false).admitted);
  w = decide_record(w.with_probes(3), 1, State::half_open, Outcome::failure, limits).next;
  REQUIRE(w.state() == State::open);
  const auto d = decide_acquire(w.with_deadline_published(true), limits, true);
  CHECK(d.admitted);
  CHECK(d.next.probes() == 1);
  CHECK(decide_acquire(d.next, limits, false).admitted);
}

// --- issue 12: the pure rules of the new states and half-open rules ---------

TEST_CASE("disabled and metrics_only admit without changing the word, only metrics_only counts",
          "[state-word][issue12]") {
  const StateWord disabled = StateWord{}.enter(State::disabled);
  const StateWord metrics = StateWord{}.enter(State::metrics_only);
  CHECK(decide_acquire(disabled, limits, false) == AcquireDecision{true, disabled, State::disabled});
  CHECK(decide_acquire(metrics, limits, false) ==
        AcquireDecision{true, metrics, State::metrics_only});
  // disabled: nothing changes, whatever the outcome
  for (Outcome o : {Outcome::success, Outcome::failure, Outcome::ignored}) {
    const auto d = decide_record(disabled, disabled.epoch(), State::disabled, o, limits);
    CHECK(d.next == disabled);
    CHECK_FALSE(d.transition);
  }
  // metrics_only: counts like closed, never trips
  StateWord w = metrics;
  for (int i = 0; i < 10; ++i) {
    const auto d = decide_record(w, w.epoch(), State::metrics_only, Outcome::failure, limits);
    CHECK_FALSE(d.transition);
    w = d.next;
  }
  CHECK(w.state() == State::metrics_only);
  CHECK(w.consecutive() == 10);
  CHECK(w.volume() == 10);
  CHECK(breaker::detail::success_changes(w, w.epoch()));
  w = decide_record(w, w.epoch(), State::metrics_only, Outcome::success, limits).next;
  CHECK(w.consecutive() == 0);
  CHECK(breaker::detail::after_disable(disabled) == disabled);
  CHECK(breaker::detail::after_metrics_only(metrics) == metrics);
  CHECK(breaker::detail::after_disable(metrics).state() == State::disabled);
  CHECK(after_reset(disabled).state() == State::closed);
  CHECK(after_reset(metrics).state() == State::closed);
}

TEST_CASE("after_open_for opens every word but a forced-open one, in a new epoch",
          "[state-word][issue12]") {
  using breaker::detail::after_open_for;
  for (State s : {State::closed, State::open, State::half_open, State::disabled,
                  State::metrics_only}) {
    const StateWord w = StateWord{}.with_state(s).with_epoch(41).with_deadline_published(true);
    const StateWord next = after_open_for(w);
    CHECK(next.state() == State::open);
    CHECK_FALSE(next.forced());
    CHECK_FALSE(next.deadline_published());  // the new period is published afresh
    CHECK(next.epoch() == 42);
  }
  const StateWord forced = after_force_open(StateWord{});
  CHECK(after_open_for(forced) == forced);
}

TEST_CASE("a half-open word with a published wait goes back to open once it has passed",
          "[state-word][issue12]") {
  const StateWord w = StateWord{}
                          .enter(State::half_open)
                          .with_probes(2)
                          .with_deadline_published(true);
  CHECK(breaker::detail::half_open_may_expire(w));
  CHECK(breaker::detail::deadline_may_pass(w));
  CHECK(observed_state(w, false) == State::half_open);
  CHECK(observed_state(w, true) == State::open);
  const auto d = decide_acquire(w, limits, true);
  CHECK_FALSE(d.admitted);
  CHECK(d.next.state() == State::open);
  CHECK(d.next.epoch() == w.epoch() + 1);
  CHECK(d.next.consecutive() == 0);
  // Without a published wait, the clock is never asked.
  const StateWord plain = w.with_deadline_published(false);
  CHECK_FALSE(breaker::detail::deadline_may_pass(plain));
  CHECK(decide_acquire(plain, limits, true).next == plain);  // full (2 of 2), unchanged
}

TEST_CASE("a success-ratio episode counts successes and failures and decides when certain",
          "[state-word][issue12][ratio]") {
  Limits l{3, 9, 4, 0};
  l.half_open_close = breaker::HalfOpenClose::success_ratio;
  l.ratio_required = breaker::detail::ratio_required_successes(75, 4);  // 3
  const StateWord open = StateWord{}.enter(State::open).with_deadline_published(true);
  auto a = decide_acquire(open, l, true);
  REQUIRE(a.admitted);
  StateWord w = a.next;
  CHECK(w.ratio_episode());
  CHECK(w.probes() == 1);
  for (int i = 0; i < 3; ++i) w = decide_acquire(w, l, false).next;
  CHECK(w.probes() == 4);
  CHECK_FALSE(decide_acquire(w, l, false).admitted);  // exactly N
  auto r = decide_record(w, w.epoch(), State::half_open, Outcome::failure, l);
  CHECK_FALSE(r.transition);
  w = r.next;
  CHECK(w.ratio_failures() == 1);
  CHECK(w.probes() == 4);  // a reported probe keeps its slot
  w = decide_record(w, w.epoch(), State::half_open, Outcome::ignored, l).next;
  CHECK(w.probes() == 3);  // an ignored one gives it back
  w = decide_record(w, w.epoch(), State::half_open, Outcome::success, l).next;
  w = decide_record(w, w.epoch(), State::half_open, Outcome::success, l).next;
  CHECK(w.ratio_successes() == 2);
  r = decide_record(w, w.epoch(), State::half_open, Outcome::success, l);
  CHECK(r.transition);
  CHECK(r.next.state() == State::closed);
  CHECK_FALSE(r.next.ratio_episode());
  // Two failures of four with 3 required: reopens at the second.
  w = a.next;
  w = decide_record(w, w.epoch(), State::half_open, Outcome::failure, l).next;
  r = decide_record(w, w.epoch(), State::half_open, Outcome::failure, l);
  CHECK(r.transition);
  CHECK(r.next.state() == State::open);
  CHECK(r.next.consecutive() == 2);
  // A consecutive-successes config starts a plain episode.
  CHECK_FALSE(decide_acquire(open, limits, true).next.ratio_episode());
}

TEST_CASE("the hot path's one-compare steadiness test agrees with closed_steady",
          "[state-word][closed]") {
  using breaker::detail::closed_steady_bits;
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  const auto next = [&x] {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 0x2545F4914F6CDD1Dull;
  };
  StateWord steady = StateWord{}.with_volume(StateWord::volume_max);
  CHECK(closed_steady_bits(steady.bits()));
  CHECK_FALSE(closed_steady_bits(steady.with_consecutive(1).bits()));
  CHECK_FALSE(closed_steady_bits(steady.with_volume(StateWord::volume_max - 1).bits()));
  CHECK(closed_steady_bits(steady.with_epoch(12345).bits()));
  for (int i = 0; i < 100'000; ++i) {
    StateWord w{next()};
    // Half of them with the two fields of a steady word, the others random.
    if (i % 2 == 0) w = w.with_consecutive(0).with_volume(StateWord::volume_max);
    if (i % 4 == 1) w = w.with_consecutive(static_cast<std::uint32_t>(next() % 2));
    CHECK(closed_steady_bits(w.bits()) == closed_steady(w));
  }
}

TEST_CASE("an open word carries its backoff level in the count field, saturating",
          "[state-word][issue13]") {
  const StateWord open = StateWord{}.enter(State::open).with_consecutive(3).with_level(5);
  CHECK(open.level() == 5);
  CHECK(open.consecutive() == 3);  // the failures that opened it stay apart
  CHECK(open.with_deadline_published(true).level() == 5);  // the opener's D keeps it
  CHECK(open.with_level(0x1'0000).level() == StateWord::level_max);
  CHECK(open.with_level(0xFFFF'FFFF).level() == StateWord::level_max);
  CHECK(StateWord::level_max == 0xFFFE);
  CHECK(open.with_level(StateWord::level_unknown).level() == StateWord::level_unknown);
  // Every transition out of the open word clears it: the level never leaks
  // into a half-open episode's probes or a closed volume.
  const AcquireDecision probe = decide_acquire(open.with_deadline_published(true), limits, true);
  CHECK(probe.next.state() == State::half_open);
  CHECK(probe.next.probes() == 1);
  CHECK_FALSE(probe.next.ratio_episode());
  CHECK(after_reset(open).volume() == 0);
  CHECK(after_force_open(open).level() == 0);
  CHECK(breaker::detail::after_open_for(open).level() == 0);  // the protocol sets the kept one
}

TEST_CASE("the protocol sets an opening word's backoff level before its CAS and open_for keeps it",
          "[state-word][protocol][issue13]") {
  using breaker::detail::open_for_word;
  using breaker::detail::with_backoff;
  using Deadline = breaker::detail::OpenDeadline<std::chrono::steady_clock>;
  Deadline deadline{std::chrono::steady_clock::time_point{}};

  // A trip from closed: level 0 (a close resets the backoff).
  const StateWord closed = StateWord{}.with_consecutive(2).with_volume(2).with_epoch(6);
  const auto trip = decide_record(closed, 6, State::closed, Outcome::failure, limits);
  REQUIRE(trip.transition);
  CHECK(with_backoff(deadline, closed, trip.next.with_level(9), true).level() == 0);
  CHECK(open_for_word(deadline, closed).level() == 0);

  // open_for replacing an open word copies the word's level, whether or not
  // its opener has recorded or published anything yet (the race of issue 13:
  // nothing is recorded in `deadline` here).
  const StateWord open = StateWord{}.enter(State::open).with_epoch(7).with_level(4);
  const StateWord replaced = open_for_word(deadline, open);
  CHECK(replaced.state() == State::open);
  CHECK(replaced.epoch() == 8);
  CHECK(replaced.level() == 4);
  CHECK(open_for_word(deadline, replaced.with_deadline_published(true)).level() == 4);

  // After a half-open episode: the level its open period's opener recorded,
  // + 1 when the episode failed (the breaker's own re-open), kept by open_for.
  std::atomic<std::uint64_t> word{replaced.bits()};
  deadline.record_level(word, replaced, 4);
  CHECK(deadline.level_of(8) == 4);
  const StateWord half_open =
      decide_acquire(replaced.with_deadline_published(true), limits, true).next;
  REQUIRE(half_open.state() == State::half_open);
  REQUIRE(half_open.epoch() == 9);
  const auto failed = decide_record(half_open, 9, State::half_open, Outcome::failure, limits);
  REQUIRE(failed.transition);
  CHECK(with_backoff(deadline, half_open, failed.next, true).level() == 5);
  CHECK(open_for_word(deadline, half_open).level() == 4);
  // A record of another epoch is not this episode's period: read as level 0,
  // + 1 for the failed episode (the caller's CAS fails then: the word has
  // moved on).
  CHECK(with_backoff(deadline, half_open.with_epoch(11), failed.next.with_epoch(12), true)
            .level() == 1);

  // The level saturates instead of wrapping.
  CHECK(open_for_word(deadline, open.with_level(StateWord::level_max)).level() ==
        StateWord::level_max);
  // Neither a forced-open word nor a change within an epoch gets a level.
  const StateWord forced = after_force_open(closed);
  CHECK(open_for_word(deadline, forced) == forced);
  CHECK(with_backoff(deadline, open, open.with_deadline_published(true), true) ==
        open.with_deadline_published(true));
}

TEST_CASE("a re-open after the half-open wait ran out has its level derived, before and after its record",
          "[state-word][protocol][issue13]") {
  using breaker::detail::open_for_word;
  using Deadline = breaker::detail::OpenDeadline<std::chrono::steady_clock>;
  Deadline deadline{std::chrono::steady_clock::time_point{}};

  // An open period (epoch 8) at level 3, recorded by its opener; its
  // half-open episode (epoch 9) publishes a maximum wait that runs out.
  const StateWord open = StateWord{}.enter(State::open).with_epoch(7).enter(State::open).with_level(3);
  REQUIRE(open.epoch() == 8);
  std::atomic<std::uint64_t> word{open.bits()};
  deadline.record_level(word, open, 3);
  const StateWord half_open =
      decide_acquire(open.with_deadline_published(true), limits, true).next.with_deadline_published(true);
  REQUIRE(half_open.state() == State::half_open);
  const auto reopen = decide_acquire(half_open, limits, true);
  REQUIRE(reopen.next.state() == State::open);
  REQUIRE(reopen.next.epoch() == 10);
  // The pure rule reads no atomic: the level is "unknown" in the word.
  CHECK(reopen.next.level() == StateWord::level_unknown);
  // Before its changer records it: derived from epoch 8's record, + 1.
  CHECK(deadline.reopened_level(10) == 4);
  CHECK(open_for_word(deadline, reopen.next).level() == 4);
  // After the record (the changer computed 4 too): read as it is.
  word.store(reopen.next.bits());
  deadline.record_level(word, reopen.next, 4);
  CHECK(deadline.reopened_level(10) == 4);
  CHECK(open_for_word(deadline, reopen.next).level() == 4);
  // A newer record (the word has moved on): 0, and the replacer's CAS fails.
  const StateWord newer = reopen.next.enter(State::open).enter(State::open).with_level(7);
  word.store(newer.bits());
  deadline.record_level(word, newer, 7);
  CHECK(deadline.reopened_level(10) == 0);
}
