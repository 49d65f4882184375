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
using breaker::detail::success_changes;

namespace {
constexpr Limits limits{3, 2, 2, 0};  // failures, successes, half-open probes, volume gate
}

TEST_CASE("state word fields round-trip and do not overlap", "[state-word]") {
  const StateWord w = StateWord{}
                          .with_state(State::half_open)
                          .with_forced(true)
                          .with_consecutive(0xFFFF)
                          .with_volume(0xABCD)
                          .with_probes(0xFFF)
                          .with_epoch(0xFFFF);
  CHECK(w.state() == State::half_open);
  CHECK(w.forced());
  CHECK(w.consecutive() == 0xFFFF);
  CHECK(w.volume() == 0xABCD);
  CHECK(w.probes() == 0xFFF);
  CHECK(w.epoch() == 0xFFFF);
  const StateWord cleared = w.with_volume(0).with_forced(false);
  CHECK(cleared.volume() == 0);
  CHECK_FALSE(cleared.forced());
  CHECK(cleared.consecutive() == 0xFFFF);
  CHECK(cleared.probes() == 0xFFF);
}

TEST_CASE("entering a state bumps the epoch, clears counts and keeps probes", "[state-word]") {
  const StateWord w =
      StateWord{}.with_consecutive(4).with_volume(9).with_probes(2).with_epoch(0xFFFF);
  const StateWord open = w.enter(State::open);
  CHECK(open.state() == State::open);
  CHECK(open.epoch() == 0);  // wraps
  CHECK(open.consecutive() == 0);
  CHECK(open.volume() == 0);
  CHECK(open.probes() == 2);
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

TEST_CASE("a steady closed success changes nothing", "[state-word][closed]") {
  constexpr Limits gated{2, 1, 1, 2};
  StateWord w{};
  CHECK(success_changes(w, 0, gated));  // volume not saturated yet
  w = decide_record(w, 0, State::closed, Outcome::success, gated).next;
  w = decide_record(w, 0, State::closed, Outcome::success, gated).next;
  CHECK(w.volume() == 2);
  CHECK_FALSE(success_changes(w, 0, gated));
  CHECK(decide_record(w, 0, State::closed, Outcome::success, gated).next == w);
  CHECK(success_changes(w.with_consecutive(1), 0, gated));
  CHECK_FALSE(success_changes(w.with_consecutive(1), 1, gated));  // stale epoch
}

TEST_CASE("open rejects until expired, then the first caller becomes a probe", "[state-word][open]") {
  const StateWord open = StateWord{}.with_state(State::open).with_epoch(3).with_consecutive(3);
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
  const StateWord forced = StateWord{}.with_state(State::open).with_forced(true);
  CHECK_FALSE(decide_acquire(forced, limits, true).admitted);
  CHECK(observed_state(forced, true) == State::open);
  const StateWord open = forced.with_forced(false);
  CHECK(observed_state(open, true) == State::half_open);
  CHECK(observed_state(open, false) == State::open);
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
  CHECK(failed.next.probes() == 1);  // the other probe is still out
}

TEST_CASE("stale outcomes never drive transitions but return probe slots", "[state-word][stale]") {
  const StateWord closed = StateWord{}.with_epoch(2).with_consecutive(2);
  const auto stale = decide_record(closed, 1, State::closed, Outcome::failure, limits);
  CHECK(stale.stale);
  CHECK_FALSE(stale.transition);
  CHECK(stale.next == closed);

  const StateWord reopened = StateWord{}.with_state(State::open).with_epoch(9).with_probes(1);
  const auto probe = decide_record(reopened, 8, State::half_open, Outcome::success, limits);
  CHECK(probe.stale);
  CHECK(probe.next.probes() == 0);
  CHECK(probe.next.state() == State::open);
}

TEST_CASE("probes left over from an earlier episode count against the limit",
          "[state-word][half-open]") {
  const StateWord open = StateWord{}.with_state(State::open).with_probes(2);
  const auto d = decide_acquire(open, limits, true);
  CHECK_FALSE(d.admitted);
  CHECK(d.next.state() == State::half_open);  // the open period is over all the same
  const auto after = decide_record(d.next, 0, State::half_open, Outcome::success, limits);
  CHECK(after.stale);
  CHECK(decide_acquire(after.next, limits, false).admitted);
}
