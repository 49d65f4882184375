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
///     63            48 47        36 35            20 19             4  3  2  1 0
///    +----------------+------------+----------------+----------------+--+--+----+
///    |     epoch      | probes in  |    volume      |  consecutive   |  |F | st |
///    |    (16 bits)   | flight (12)|   (16 bits)    |  count (16)    |  |  |    |
///    +----------------+------------+----------------+----------------+--+--+----+
///
///  - st: `State` (closed, open, half_open).
///  - F: forced open (`force_open()`): stays open until `reset()`.
///  - bit 3: unused.
///  - consecutive count: closed: consecutive failures; half-open: consecutive
///    successful probes; open: the consecutive failures that opened it.
///  - volume: closed only: outcomes recorded since the breaker last closed,
///    saturating at `minimum_request_threshold` (so a steady closed breaker
///    stops changing and successes write nothing).
///  - probes in flight: half-open permits not yet returned, whatever episode
///    admitted them, so the limit holds even across reopenings.
///  - epoch: incremented by every transition; a permit remembers the epoch that
///    admitted it, and an outcome from an older epoch is stale: counted in the
///    totals, never used for decisions. 16 bits: a call would have to stay in
///    flight across 65,536 transitions for its epoch to be mistaken.

#include "breaker/config.hpp"
#include "breaker/state.hpp"

#include <cstdint>
#include <ostream>

namespace breaker::detail {

/// What happened to an admitted call.
enum class Outcome : std::uint8_t { success, failure, ignored };

/// A decoded view of the state word, with `constexpr` accessors and setters.
class StateWord {
 public:
  static constexpr unsigned state_shift = 0;
  static constexpr std::uint64_t state_mask = 0x3;
  static constexpr std::uint64_t forced_bit = std::uint64_t{1} << 2;
  static constexpr unsigned consecutive_shift = 4;
  static constexpr std::uint64_t consecutive_mask = 0xFFFF;
  static constexpr unsigned volume_shift = 20;
  static constexpr std::uint64_t volume_mask = 0xFFFF;
  static constexpr unsigned probes_shift = 36;
  static constexpr std::uint64_t probes_mask = 0xFFF;
  static constexpr unsigned epoch_shift = 48;
  static constexpr std::uint64_t epoch_mask = 0xFFFF;

  static_assert(CircuitBreakerConfig::max_count <= consecutive_mask);
  static_assert(CircuitBreakerConfig::max_count <= volume_mask);
  static_assert(CircuitBreakerConfig::max_half_open_requests <= probes_mask);

  constexpr StateWord() noexcept = default;
  constexpr explicit StateWord(std::uint64_t bits) noexcept : bits_(bits) {}

  constexpr std::uint64_t bits() const noexcept { return bits_; }
  constexpr State state() const noexcept {
    return static_cast<State>((bits_ >> state_shift) & state_mask);
  }
  constexpr bool forced() const noexcept { return (bits_ & forced_bit) != 0; }
  constexpr std::uint32_t consecutive() const noexcept { return get(consecutive_shift, consecutive_mask); }
  constexpr std::uint32_t volume() const noexcept { return get(volume_shift, volume_mask); }
  constexpr std::uint32_t probes() const noexcept { return get(probes_shift, probes_mask); }
  constexpr std::uint32_t epoch() const noexcept { return get(epoch_shift, epoch_mask); }

  constexpr StateWord with_state(State s) const noexcept {
    return set(state_shift, state_mask, static_cast<std::uint32_t>(s));
  }
  constexpr StateWord with_forced(bool f) const noexcept {
    return StateWord{f ? (bits_ | forced_bit) : (bits_ & ~forced_bit)};
  }
  constexpr StateWord with_consecutive(std::uint32_t v) const noexcept {
    return set(consecutive_shift, consecutive_mask, v);
  }
  constexpr StateWord with_volume(std::uint32_t v) const noexcept {
    return set(volume_shift, volume_mask, v);
  }
  constexpr StateWord with_probes(std::uint32_t v) const noexcept {
    return set(probes_shift, probes_mask, v);
  }
  constexpr StateWord with_epoch(std::uint32_t v) const noexcept {
    return set(epoch_shift, epoch_mask, v);
  }
  /// The word of a new state: the given state, next epoch, counts cleared,
  /// probes in flight kept (they are still out there).
  constexpr StateWord enter(State s) const noexcept {
    return StateWord{}
        .with_state(s)
        .with_probes(probes())
        .with_epoch(static_cast<std::uint32_t>((epoch() + 1) & epoch_mask));
  }

  friend constexpr bool operator==(StateWord, StateWord) noexcept = default;
  friend std::ostream& operator<<(std::ostream& os, StateWord w) {
    return os << "{" << w.state() << (w.forced() ? " forced" : "")
              << " consecutive=" << w.consecutive() << " volume=" << w.volume()
              << " probes=" << w.probes() << " epoch=" << w.epoch() << "}";
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

/// Admission. `open_expired` says whether the open period of the current epoch
/// is over (the caller reads the clock only when the word is open and not
/// forced). Closed: admitted, word unchanged. Open: rejected, unless expired
/// and not forced, then half-open (new epoch) with this call as its first
/// probe. Half-open: admitted while probes in flight < the limit.
constexpr AcquireDecision decide_acquire(StateWord w, const Limits& l,
                                         bool open_expired) noexcept {
  switch (w.state()) {
    case State::closed:
      return {true, w, State::closed};
    case State::open:
      if (w.forced() || !open_expired) return {false, w, State::open};
      if (w.probes() >= l.half_open_max_requests) {
        // Probes from an earlier episode still fill every slot: become
        // half-open (the open period is over) but admit nobody yet.
        return {false, w.enter(State::half_open), State::half_open};
      }
      return {true, w.enter(State::half_open).with_probes(w.probes() + 1), State::half_open};
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
/// A half-open permit always returns its probe slot, whatever the epoch. Stale
/// outcomes change nothing else.
constexpr RecordDecision decide_record(StateWord w, std::uint32_t permit_epoch, State admitted_in,
                                       Outcome outcome, const Limits& l) noexcept {
  StateWord base = w;
  if (admitted_in == State::half_open && base.probes() > 0) {
    base = base.with_probes(base.probes() - 1);
  }
  if (w.epoch() != permit_epoch || w.state() != admitted_in) return {base, false, true};

  if (admitted_in == State::closed) {
    if (outcome == Outcome::ignored) return {w, false, false};
    const std::uint32_t volume =
        w.volume() < l.minimum_request_threshold ? w.volume() + 1 : w.volume();
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

  // Half-open probe of the current episode.
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

/// Whether a closed-state success at `permit_epoch` would change the word. The
/// hot path checks this with one load and skips the CAS (and the write to the
/// shared cache line) when it is false.
constexpr bool success_changes(StateWord w, std::uint32_t permit_epoch, const Limits& l) noexcept {
  return w.epoch() == permit_epoch && w.state() == State::closed &&
         (w.consecutive() != 0 || w.volume() < l.minimum_request_threshold);
}

/// The state an observer sees: an open (not forced) word whose period is over
/// reads as half-open, even before a call arrives to make the transition.
constexpr State observed_state(StateWord w, bool open_expired) noexcept {
  if (w.state() == State::open && !w.forced() && open_expired) return State::half_open;
  return w.state();
}

}  // namespace breaker::detail
