// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The 64-bit state word of a circuit breaker and the pure functions that
/// decide every transition. Nothing here touches an atomic, a clock or Asio:
/// `CircuitBreaker` loads the word, asks these functions what the next word is,
/// and publishes it with a CAS. Tests drive the rules directly.
///
/// Bit layout (least significant bit first):
///
///     63                       36 35            20 19             4  3  2  1 0
///    +---------------------------+----------------+----------------+--+--+----+
///    |          epoch            | volume/probes  |  consecutive   |D |F | st |
///    |         (28 bits)         |   (16 bits)    |  count (16)    |  |  |    |
///    +---------------------------+----------------+----------------+--+--+----+
///
///  - st: `State` (closed, open, half_open).
///  - F: forced open (`force_open()`): stays open until `reset()`.
///  - D: open only: the opener has published the end of this open period (see
///    `detail/open_deadline.hpp`). Until then the breaker stays open whatever
///    the clock says.
///  - consecutive count: closed: consecutive failures; half-open: consecutive
///    successful probes; open: the consecutive failures that opened it.
///  - volume (closed): outcomes recorded since the breaker last closed,
///    whatever `minimum_request_threshold` was meanwhile, saturating at
///    `volume_max` (the largest threshold a config may hold), so a steady
///    closed breaker stops changing and successes write nothing.
///  - probes in flight (half-open): probes admitted in the current half-open
///    episode and not yet returned. The same bits as the volume: each state
///    uses one of the two, and entering a state clears them.
///  - epoch: incremented by every transition; a permit remembers the epoch that
///    admitted it, and an outcome from an older epoch is stale: counted in the
///    totals, never used for decisions. 28 bits: a call would have to stay in
///    flight across 268,435,456 transitions for its epoch to be mistaken.

#include "breaker/config.hpp"
#include "breaker/outcome.hpp"
#include "breaker/state.hpp"

#include <cstdint>
#include <ostream>

namespace breaker::detail {

/// A decoded view of the state word, with `constexpr` accessors and setters.
class StateWord {
 public:
  static constexpr unsigned state_shift = 0;
  static constexpr std::uint64_t state_mask = 0x3;
  static constexpr std::uint64_t forced_bit = std::uint64_t{1} << 2;
  static constexpr std::uint64_t published_bit = std::uint64_t{1} << 3;
  static constexpr unsigned consecutive_shift = 4;
  static constexpr std::uint64_t consecutive_mask = 0xFFFF;
  static constexpr unsigned count_shift = 20;  // volume (closed) or probes (half-open)
  static constexpr std::uint64_t count_mask = 0xFFFF;
  static constexpr unsigned epoch_shift = 36;
  static constexpr std::uint64_t epoch_mask = 0xFFF'FFFF;
  /// The volume saturates here: at least any `minimum_request_threshold`.
  static constexpr std::uint32_t volume_max = CircuitBreakerConfig::max_count;

  static_assert(CircuitBreakerConfig::max_count <= consecutive_mask);
  static_assert(CircuitBreakerConfig::max_count <= count_mask);
  static_assert(CircuitBreakerConfig::max_half_open_requests <= count_mask);

  constexpr StateWord() noexcept = default;
  constexpr explicit StateWord(std::uint64_t bits) noexcept : bits_(bits) {}

  constexpr std::uint64_t bits() const noexcept { return bits_; }
  constexpr State state() const noexcept {
    return static_cast<State>((bits_ >> state_shift) & state_mask);
  }
  constexpr bool forced() const noexcept { return (bits_ & forced_bit) != 0; }
  constexpr bool deadline_published() const noexcept { return (bits_ & published_bit) != 0; }
  constexpr std::uint32_t consecutive() const noexcept { return get(consecutive_shift, consecutive_mask); }
  /// Closed: outcomes since the breaker closed (saturating at `volume_max`).
  constexpr std::uint32_t volume() const noexcept { return get(count_shift, count_mask); }
  /// Half-open: probes of this episode in flight.
  constexpr std::uint32_t probes() const noexcept { return get(count_shift, count_mask); }
  constexpr std::uint32_t epoch() const noexcept { return get(epoch_shift, epoch_mask); }

  constexpr StateWord with_state(State s) const noexcept {
    return set(state_shift, state_mask, static_cast<std::uint32_t>(s));
  }
  constexpr StateWord with_forced(bool f) const noexcept {
    return StateWord{f ? (bits_ | forced_bit) : (bits_ & ~forced_bit)};
  }
  constexpr StateWord with_deadline_published(bool p) const noexcept {
    return StateWord{p ? (bits_ | published_bit) : (bits_ & ~published_bit)};
  }
  constexpr StateWord with_consecutive(std::uint32_t v) const noexcept {
    return set(consecutive_shift, consecutive_mask, v);
  }
  constexpr StateWord with_volume(std::uint32_t v) const noexcept {
    return set(count_shift, count_mask, v);
  }
  constexpr StateWord with_probes(std::uint32_t v) const noexcept {
    return set(count_shift, count_mask, v);
  }
  constexpr StateWord with_epoch(std::uint32_t v) const noexcept {
    return set(epoch_shift, epoch_mask, v);
  }
  /// The word of a new state: the given state, next epoch, everything else
  /// cleared (a new half-open episode starts with no probe in flight).
  constexpr StateWord enter(State s) const noexcept {
    return StateWord{}.with_state(s).with_epoch(
        static_cast<std::uint32_t>((epoch() + 1) & epoch_mask));
  }

  friend constexpr bool operator==(StateWord, StateWord) noexcept = default;
  friend std::ostream& operator<<(std::ostream& os, StateWord w) {
    os << "{" << w.state() << (w.forced() ? " forced" : "")
       << (w.deadline_published() ? " published" : "") << " consecutive=" << w.consecutive();
    if (w.state() == State::closed) os << " volume=" << w.volume();
    if (w.state() == State::half_open) os << " probes=" << w.probes();
    return os << " epoch=" << w.epoch() << "}";
  }

 private:
  constexpr std::uint32_t get(unsigned shift, std::uint64_t mask) const noexcept {
    return static_cast<std::uint32_t>((bits_ >> shift) & mask);
  }
  constexpr StateWord set(unsigned shift, std::uint64_t mask, std::uint32_t v) const noexcept {
    return StateWord{(bits_ & ~(mask << shift)) | ((std::uint64_t{v} & mask) << shift)};
  }

  std::uint64_t bits_ = 0;
};

/// The rules' view of a config: only the numbers the state word needs.
struct Limits {
  std::uint32_t failure_threshold;
  std::uint32_t success_threshold;
  std::uint32_t half_open_max_requests;
  std::uint32_t minimum_request_threshold;

  static constexpr Limits from(const CircuitBreakerConfig& c) noexcept {
    return {c.failure_threshold, c.success_threshold, c.half_open_max_requests,
            c.minimum_request_threshold};
  }
};

/// Result of asking for admission.
struct AcquireDecision {
  bool admitted = false;
  /// The word to publish (equal to the input when nothing changes).
  StateWord next{};
  /// The state the permit was admitted in (closed or half_open).
  State admitted_in = State::closed;

  friend constexpr bool operator==(const AcquireDecision&, const AcquireDecision&) = default;
  friend std::ostream& operator<<(std::ostream& os, const AcquireDecision& d) {
    return os << "{admitted=" << d.admitted << " next=" << d.next << " in=" << d.admitted_in
              << "}";
  }
};

/// Whether an open word may be asked about its deadline at all: not forced,
/// and the opener has published the deadline. Only then does the caller read
/// the clock and the deadline.
constexpr bool open_may_expire(StateWord w) noexcept {
  return w.state() == State::open && !w.forced() && w.deadline_published();
}

/// Admission. `open_expired` says whether the open period of the current epoch
/// is over (only meaningful when `open_may_expire(w)`). Closed: admitted, word
/// unchanged. Open: rejected, unless it may expire and has, then half-open (new
/// epoch) with this call as its first probe. Half-open: admitted while the
/// probes of this episode in flight are fewer than the limit.
constexpr AcquireDecision decide_acquire(StateWord w, const Limits& l,
                                         bool open_expired) noexcept {
  switch (w.state()) {
    case State::closed:
      return {true, w, State::closed};
    case State::open:
      if (!open_may_expire(w) || !open_expired) return {false, w, State::open};
      // half_open_max_requests >= 1, so the first caller is always a probe.
      return {true, w.enter(State::half_open).with_probes(1), State::half_open};
    case State::half_open:
      if (w.probes() >= l.half_open_max_requests) return {false, w, State::half_open};
      return {true, w.with_probes(w.probes() + 1), State::half_open};
  }
  return {false, w, w.state()};
}

/// Result of recording an outcome.
struct RecordDecision {
  StateWord next{};
  /// The outcome drove the breaker from `from` to `next.state()`.
  bool transition = false;
  /// The outcome came from an earlier epoch (or the state no longer matches).
  bool stale = false;

  friend constexpr bool operator==(const RecordDecision&, const RecordDecision&) = default;
  friend std::ostream& operator<<(std::ostream& os, const RecordDecision& d) {
    return os << "{next=" << d.next << " transition=" << d.transition << " stale=" << d.stale
              << "}";
  }
};

/// The outcome of a call admitted at `permit_epoch` in state `admitted_in`.
/// A stale outcome changes nothing at all: a probe of an earlier half-open
/// episode returns nothing to the current one (whose count started at zero).
constexpr RecordDecision decide_record(StateWord w, std::uint32_t permit_epoch, State admitted_in,
                                       Outcome outcome, const Limits& l) noexcept {
  if (w.epoch() != permit_epoch || w.state() != admitted_in) return {w, false, true};

  if (admitted_in == State::closed) {
    if (outcome == Outcome::ignored) return {w, false, false};
    const std::uint32_t volume =
        w.volume() < StateWord::volume_max ? w.volume() + 1 : w.volume();
    if (outcome == Outcome::success) {
      return {w.with_consecutive(0).with_volume(volume), false, false};
    }
    const std::uint32_t failures =
        w.consecutive() < StateWord::consecutive_mask ? w.consecutive() + 1 : w.consecutive();
    if (failures >= l.failure_threshold && volume >= l.minimum_request_threshold) {
      return {w.enter(State::open).with_consecutive(failures), true, false};
    }
    return {w.with_consecutive(failures).with_volume(volume), false, false};
  }

  // Half-open probe of the current episode: it returns its slot.
  const StateWord base = w.with_probes(w.probes() > 0 ? w.probes() - 1 : 0);
  switch (outcome) {
    case Outcome::ignored:
      return {base, false, false};
    case Outcome::failure:
      return {base.enter(State::open).with_consecutive(1), true, false};
    case Outcome::success: {
      const std::uint32_t successes = base.consecutive() + 1;
      if (successes >= l.success_threshold) return {base.enter(State::closed), true, false};
      return {base.with_consecutive(successes), false, false};
    }
  }
  return {base, false, false};
}

/// A closed word that a success admitted at its own epoch leaves unchanged:
/// no failure run to end and the volume saturated. Needs no config.
constexpr bool closed_steady(StateWord w) noexcept {
  return w.consecutive() == 0 && w.volume() == StateWord::volume_max;
}

/// `closed_steady(StateWord{bits})` (no failure run, volume saturated) as one
/// 32-bit compare of the two adjacent 16-bit fields: GCC otherwise spends
/// seven instructions on the two field extractions of the hot path.
[[gnu::always_inline]] constexpr bool closed_steady_bits(std::uint64_t bits) noexcept {
  static_assert(StateWord::count_shift == StateWord::consecutive_shift + 16 &&
                StateWord::consecutive_mask == 0xFFFF && StateWord::count_mask == 0xFFFF);
  constexpr std::uint32_t steady = std::uint32_t{StateWord::volume_max} << 16;  // consecutive 0
  return static_cast<std::uint32_t>(bits >> StateWord::consecutive_shift) == steady;
}

/// Whether a closed-state success at `permit_epoch` would change the word. The
/// hot path checks this with one load and skips the CAS (and the write to the
/// shared cache line) when it is false.
constexpr bool success_changes(StateWord w, std::uint32_t permit_epoch) noexcept {
  return w.epoch() == permit_epoch && w.state() == State::closed && !closed_steady(w);
}

/// `reset()`: closed with everything cleared, in a new epoch; a closed word
/// with nothing to clear stays as it is (not a transition, no new epoch).
constexpr StateWord after_reset(StateWord w) noexcept {
  if (w.state() == State::closed && w.consecutive() == 0 && w.volume() == 0) return w;
  return w.enter(State::closed);
}

/// `force_open()`: open and forced, in a new epoch, unless it already is.
constexpr StateWord after_force_open(StateWord w) noexcept {
  if (w.state() == State::open && w.forced()) return w;
  return w.enter(State::open).with_forced(true);
}

/// The state an observer sees: an open word whose published period is over
/// reads as half-open, even before a call arrives to make the transition.
constexpr State observed_state(StateWord w, bool open_expired) noexcept {
  if (open_may_expire(w) && open_expired) return State::half_open;
  return w.state();
}

}  // namespace breaker::detail
