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
///     63                    37 36            21 20             5  4  3  2   0
///    +------------------------+----------------+----------------+--+--+-----+
///    |         epoch          | volume/probes/ |  consecutive   |D |F | st  |
///    |                        | level          |                |  |  |     |
///    |       (27 bits)        |   (16 bits)    |  count (16)    |  |  |(3)  |
///    +------------------------+----------------+----------------+--+--+-----+
///
///  - st: `State` (closed, open, half_open, disabled, metrics_only).
///  - F: forced open (`force_open()`): stays open until `reset()`.
///  - D: open: the opener has published the end of this open period (see
///    `detail/open_deadline.hpp`); until then the breaker stays open whatever
///    the clock says. Half-open: the end of this episode's maximum wait
///    (`max_wait_in_half_open`) is published (never set when the wait is 0).
///  - consecutive count: closed and metrics_only: consecutive failures;
///    half-open: consecutive successful probes (in a success-ratio episode:
///    successes in bits 0..7, failures in bits 8..15); open: the consecutive
///    failures that opened it.
///  - volume (closed, metrics_only): outcomes recorded since the breaker last
///    closed, whatever `minimum_request_threshold` was meanwhile, saturating at
///    `volume_max` (the largest threshold a config may hold), so a steady
///    closed breaker stops changing and successes write nothing.
///  - probes (half-open, bits 0..11 of the field): probe slots taken in the
///    current half-open episode: probes in flight (consecutive-successes
///    episode), or probes admitted and not ignored (success-ratio episode,
///    which admits exactly `half_open_max_requests` probes that report).
///    Bit 15 of the field marks a success-ratio episode (fixed when the
///    episode starts).
///  - level (open): the backoff level of this open period (the re-opens in a
///    row after failed half-open episodes, `exponential_backoff`), saturating
///    at `level_max`. Set by the protocol before the CAS that opens
///    (`detail/protocol.hpp`, `with_backoff`): 0 for a trip from closed, the
///    replaced period's for `open_for`; a forced-open word has 0 (it never
///    expires); `level_unknown` for the re-open the pure admission rule makes
///    when a half-open wait runs out (`decide_acquire` reads no atomic: the
///    protocol derives that level, `OpenDeadline::reopened_level`). The
///    opener's clock read and deadline come after the CAS; the level is in
///    the word from the start, so a transition that replaces the word (an
///    `open_for`) can never miss it.
///    Volume, probes and level are the same bits: each state uses one of
///    the three, and entering a state clears them.
///  - epoch: incremented by every transition; a permit remembers the epoch that
///    admitted it, and an outcome from an older epoch is stale: counted in the
///    totals, never used for decisions. 27 bits: a call would have to stay in
///    flight across 134,217,728 transitions for its epoch to be mistaken.

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
  static constexpr std::uint64_t state_mask = 0x7;
  static constexpr std::uint64_t forced_bit = std::uint64_t{1} << 3;
  static constexpr std::uint64_t published_bit = std::uint64_t{1} << 4;
  static constexpr unsigned consecutive_shift = 5;
  static constexpr std::uint64_t consecutive_mask = 0xFFFF;
  static constexpr unsigned count_shift = 21;  // volume (closed) or probes (half-open)
  static constexpr std::uint64_t count_mask = 0xFFFF;
  static constexpr std::uint64_t probes_mask = 0xFFF;  // low 12 bits of the count field
  static constexpr std::uint64_t ratio_episode_bit = std::uint64_t{0x8000} << count_shift;
  static constexpr unsigned epoch_shift = 37;
  static constexpr std::uint64_t epoch_mask = 0x7FF'FFFF;
  /// A success-ratio episode admits at most this many probes (its successes
  /// and failures are 8-bit counts).
  static constexpr std::uint32_t ratio_probes_max = 0xFF;
  /// The volume saturates here: at least any `minimum_request_threshold`.
  static constexpr std::uint32_t volume_max = CircuitBreakerConfig::max_count;
  /// The backoff level of an open word saturates here.
  static constexpr std::uint32_t level_max = static_cast<std::uint32_t>(count_mask) - 1;
  /// The level of an open word made by the pure admission rule (a half-open
  /// episode's maximum wait ran out): not known to `decide_acquire`, which
  /// reads no atomic. Its changer derives it after its CAS, and `open_for`
  /// from the level record (`OpenDeadline::reopened_level`).
  static constexpr std::uint32_t level_unknown = static_cast<std::uint32_t>(count_mask);

  static_assert(CircuitBreakerConfig::max_count <= consecutive_mask);
  static_assert(CircuitBreakerConfig::max_count <= count_mask);
  static_assert(CircuitBreakerConfig::max_half_open_requests <= probes_mask);
  static_assert(CircuitBreakerConfig::max_ratio_half_open_requests <= ratio_probes_max);

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
  /// Half-open: probe slots taken in this episode (see the layout).
  constexpr std::uint32_t probes() const noexcept { return get(count_shift, probes_mask); }
  /// Open: the backoff level of this open period (see the layout).
  constexpr std::uint32_t level() const noexcept { return get(count_shift, count_mask); }
  /// Half-open: this episode closes on a success ratio.
  constexpr bool ratio_episode() const noexcept { return (bits_ & ratio_episode_bit) != 0; }
  /// Success-ratio episode: successful and failed probes so far.
  constexpr std::uint32_t ratio_successes() const noexcept { return consecutive() & 0xFF; }
  constexpr std::uint32_t ratio_failures() const noexcept { return consecutive() >> 8; }
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
  /// Sets the backoff level of an open word (saturating at `level_max`;
  /// `level_unknown` is kept as it is).
  constexpr StateWord with_level(std::uint32_t v) const noexcept {
    return set(count_shift, count_mask, v <= level_unknown ? v : level_max);
  }
  /// Sets the probe slots, keeping the episode's ratio bit.
  constexpr StateWord with_probes(std::uint32_t v) const noexcept {
    return set(count_shift, probes_mask, v);
  }
  constexpr StateWord with_ratio_episode(bool r) const noexcept {
    return StateWord{r ? (bits_ | ratio_episode_bit) : (bits_ & ~ratio_episode_bit)};
  }
  constexpr StateWord with_ratio_counts(std::uint32_t successes, std::uint32_t failures) const noexcept {
    return with_consecutive((successes & 0xFF) | ((failures & 0xFF) << 8));
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
    if (w.state() == State::open) os << " level=" << w.level();
    if (w.state() == State::half_open) {
      os << " probes=" << w.probes() << (w.ratio_episode() ? " ratio" : "");
    }
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

/// The successes a success-ratio episode of `probes` probes needs:
/// ceil(ratio_percent * probes / 100), at least 1 and at most `probes`.
constexpr std::uint32_t ratio_required_successes(double ratio_percent,
                                                 std::uint32_t probes) noexcept {
  if (probes == 0) return 1;
  const double exact = ratio_percent * static_cast<double>(probes) / 100.0;
  // A tolerance of 1e-9 so that e.g. 50% of 4 is 2, not 3 after rounding error.
  auto required = static_cast<std::uint32_t>(exact);
  if (static_cast<double>(required) + 1e-9 < exact) ++required;
  if (required < 1) required = 1;
  if (required > probes) required = probes;
  return required;
}

/// The rules' view of a config: only the numbers the state word needs.
struct Limits {
  std::uint32_t failure_threshold;
  std::uint32_t success_threshold;
  std::uint32_t half_open_max_requests;
  std::uint32_t minimum_request_threshold;
  /// How a half-open episode starting now closes (an enum, not a bool, so
  /// that a positional initialiser meant for another field cannot land here).
  HalfOpenClose half_open_close = HalfOpenClose::consecutive_successes;
  /// Successes a success-ratio episode needs (0: unknown, then all its probes).
  std::uint32_t ratio_required = 0;
  /// The breaker keeps a sliding window (see `sliding_window.hpp`): the
  /// closed volume stops at `volume_max - 1`, so the word is never
  /// `closed_steady` and every closed outcome reaches the window's path.
  bool windowed = false;

  /// `failure_threshold` of a policy whose consecutive rule is off (the
  /// `failure_rate` policy): the 16-bit consecutive count never reaches it.
  static constexpr std::uint32_t never = 0xFFFF'FFFF;

  static constexpr Limits from(const CircuitBreakerConfig& c) noexcept {
    return {c.trip_policy == TripPolicy::failure_rate ? never : c.failure_threshold,
            c.success_threshold,
            c.half_open_max_requests,
            c.minimum_request_threshold,
            c.half_open_close,
            ratio_required_successes(c.half_open_success_ratio,
                                     ratio_episode_probes(c.half_open_max_requests)),
            c.uses_window()};
  }
  /// The probes a success-ratio episode admits under a limit of `n`.
  static constexpr std::uint32_t ratio_episode_probes(std::uint32_t n) noexcept {
    return n < StateWord::ratio_probes_max ? n : StateWord::ratio_probes_max;
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

/// Whether a half-open word has a published maximum wait
/// (`max_wait_in_half_open`).
constexpr bool half_open_may_expire(StateWord w) noexcept {
  return w.state() == State::half_open && w.deadline_published();
}

/// Whether the word has a published deadline that the clock decides:
/// the end of an open period or of a half-open maximum wait.
constexpr bool deadline_may_pass(StateWord w) noexcept {
  return open_may_expire(w) || half_open_may_expire(w);
}

/// Admission. `deadline_passed` says whether the published deadline of the
/// current epoch (open period or half-open maximum wait) has passed (only
/// meaningful when `deadline_may_pass(w)`). Closed, disabled, metrics_only:
/// admitted, word unchanged. Open: rejected, unless it may expire and has,
/// then half-open (new epoch, a success-ratio episode when
/// `l.half_open_close` is `success_ratio`) with this call as its first probe. Half-open: back to
/// open (new epoch, rejected) when its maximum wait has passed; else
/// admitted while the probe slots taken are fewer than the limit (at most
/// `ratio_probes_max` in a success-ratio episode).
constexpr AcquireDecision decide_acquire(StateWord w, const Limits& l,
                                         bool deadline_passed) noexcept {
  switch (w.state()) {
    case State::closed:
    case State::disabled:
    case State::metrics_only:
      return {true, w, w.state()};
    case State::open:
      if (!open_may_expire(w) || !deadline_passed) return {false, w, State::open};
      // half_open_max_requests >= 1, so the first caller is always a probe.
      return {true,
              w.enter(State::half_open)
                  .with_ratio_episode(l.half_open_close == HalfOpenClose::success_ratio)
                  .with_probes(1),
              State::half_open};
    case State::half_open: {
      if (half_open_may_expire(w) && deadline_passed) {
        return {false, w.enter(State::open).with_level(StateWord::level_unknown),
                State::half_open};
      }
      const std::uint32_t limit = w.ratio_episode()
                                      ? Limits::ratio_episode_probes(l.half_open_max_requests)
                                      : l.half_open_max_requests;
      if (w.probes() >= limit) return {false, w, State::half_open};
      return {true, w.with_probes(w.probes() + 1), State::half_open};
    }
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

  if (admitted_in == State::disabled) return {w, false, false};  // totals only

  if (admitted_in == State::closed || admitted_in == State::metrics_only) {
    if (outcome == Outcome::ignored) return {w, false, false};
    const std::uint32_t volume_cap = l.windowed ? StateWord::volume_max - 1 : StateWord::volume_max;
    const std::uint32_t volume = w.volume() < volume_cap ? w.volume() + 1 : w.volume();
    if (outcome == Outcome::success) {
      return {w.with_consecutive(0).with_volume(volume), false, false};
    }
    const std::uint32_t failures =
        w.consecutive() < StateWord::consecutive_mask ? w.consecutive() + 1 : w.consecutive();
    // metrics_only counts like closed and never trips.
    if (admitted_in == State::closed && failures >= l.failure_threshold &&
        volume >= l.minimum_request_threshold) {
      return {w.enter(State::open).with_consecutive(failures), true, false};
    }
    return {w.with_consecutive(failures).with_volume(volume), false, false};
  }

  if (w.ratio_episode()) {
    // Success-ratio episode: the episode admits N probes that report (an
    // ignored probe gives its slot back to another one). It closes as soon
    // as `required` of them succeeded and reopens as soon as more than
    // N - required failed: the decision waiting for all N would make.
    const std::uint32_t n = Limits::ratio_episode_probes(l.half_open_max_requests);
    const std::uint32_t required =
        l.ratio_required == 0 ? n : (l.ratio_required < n ? l.ratio_required : n);
    const std::uint32_t successes = w.ratio_successes();
    const std::uint32_t failures = w.ratio_failures();
    switch (outcome) {
      case Outcome::ignored:
        return {w.with_probes(w.probes() > 0 ? w.probes() - 1 : 0), false, false};
      case Outcome::success:
        if (successes + 1 >= required) return {w.enter(State::closed), true, false};
        return {w.with_ratio_counts(successes + 1, failures), false, false};
      case Outcome::failure:
        if (failures + 1 > n - required) {
          return {w.enter(State::open).with_consecutive(failures + 1), true, false};
        }
        return {w.with_ratio_counts(successes, failures + 1), false, false};
    }
    return {w, false, false};
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
  return w.epoch() == permit_epoch &&
         (w.state() == State::closed || w.state() == State::metrics_only) && !closed_steady(w);
}

/// A closed word that a success admitted at its own epoch leaves unchanged
/// when the breaker keeps a window (volume stopped at `volume_max - 1`).
constexpr bool windowed_steady(StateWord w) noexcept {
  return w.consecutive() == 0 && w.volume() == StateWord::volume_max - 1;
}

/// A rate trip of the window of `epoch` (a closed period) by an outcome
/// (`failure` or a success): open, in a new epoch, with the consecutive
/// failures counting that outcome (as `decide_record` would have); stale (no
/// change) unless the word is still closed in that epoch.
constexpr RecordDecision decide_rate_trip(StateWord w, std::uint32_t epoch, bool failure) noexcept {
  if (w.state() != State::closed || w.epoch() != epoch) return {w, false, true};
  const std::uint32_t run = !failure ? 0
                            : w.consecutive() < StateWord::consecutive_mask ? w.consecutive() + 1
                                                                            : w.consecutive();
  return {w.enter(State::open).with_consecutive(run), true, false};
}

/// A closed word made not `closed_steady` (its volume one short of
/// saturation) when a window is switched on, so that successes reach it.
constexpr StateWord unsteadied(StateWord w) noexcept {
  if (w.state() != State::closed || w.volume() < StateWord::volume_max) return w;
  return w.with_volume(StateWord::volume_max - 1);
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

/// `disable()`: disabled, in a new epoch, unless it already is.
constexpr StateWord after_disable(StateWord w) noexcept {
  if (w.state() == State::disabled) return w;
  return w.enter(State::disabled);
}

/// `metrics_only()`: metrics_only, in a new epoch, unless it already is.
constexpr StateWord after_metrics_only(StateWord w) noexcept {
  if (w.state() == State::metrics_only) return w;
  return w.enter(State::metrics_only);
}

/// `open_for()` / `open_until()`: open (not forced, deadline not yet
/// published) in a new epoch, from every state but forced open, which stays
/// as it is until `reset()`. An unforced open breaker is opened again: its
/// open period is replaced by the new one. The level is left at 0 here: the
/// protocol (`open_for_word` in `detail/protocol.hpp`) sets the one kept.
constexpr StateWord after_open_for(StateWord w) noexcept {
  if (w.state() == State::open && w.forced()) return w;
  return w.enter(State::open);
}

/// The state an observer sees: an open word whose published period is over
/// reads as half-open, even before a call arrives to make the transition; a
/// half-open word whose maximum wait has passed reads as open.
constexpr State observed_state(StateWord w, bool deadline_passed) noexcept {
  if (deadline_passed && open_may_expire(w)) return State::half_open;
  if (deadline_passed && half_open_may_expire(w)) return State::open;
  return w.state();
}

}  // namespace breaker::detail
