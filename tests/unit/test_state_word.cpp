// SPDX-License-Identifier: Apache-2.0
// The pure transition rules, driven without atomics, clocks or Asio.
#include "breaker/detail/state_word.hpp"

#include <catch2/catch.hpp>

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
                          .with_state(State::half_open)
                          .with_forced(true)
                          .with_deadline_published(true)
                          .with_consecutive(0xFFFF)
                          .with_probes(0xFFFF)
                          .with_epoch(0xFFF'FFFF);
  CHECK(w.state() == State::half_open);
  CHECK(w.forced());
  CHECK(w.deadline_published());
  CHECK(w.consecutive() == 0xFFFF);
  CHECK(w.probes() == 0xFFFF);
  CHECK(w.epoch() == 0xFFF'FFFF);
  const StateWord cleared = w.with_probes(0).with_forced(false).with_deadline_published(false);
  CHECK(cleared.probes() == 0);
  CHECK_FALSE(cleared.forced());
  CHECK_FALSE(cleared.deadline_published());
  CHECK(cleared.consecutive() == 0xFFFF);
  CHECK(cleared.epoch() == 0xFFF'FFFF);
  // The volume (closed) and the probes (half-open) share their bits.
  CHECK(StateWord{}.with_volume(0xABCD).probes() == 0xABCD);
}

TEST_CASE("entering a state bumps the 28-bit epoch and clears everything else", "[state-word]") {
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
  CHECK(StateWord{}.with_epoch(0xFFF'FFFF).enter(State::closed).epoch() == 0);  // wraps at 2^28
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
