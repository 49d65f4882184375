// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::Permit<Clock>` (also `CircuitBreaker<Clock>::Permit`): one
/// admitted call of the manual interface, `try_acquire()`.

#include "breaker/detail/duration_histogram.hpp"
#include "breaker/outcome.hpp"
#include "breaker/state.hpp"

#include <cstdint>
#include <utility>

namespace breaker {

template <class Clock>
class CircuitBreaker;

/// One admitted call. Exactly one outcome is recorded per admitted permit:
/// the first `record_*` call, or "ignored" when the permit is destroyed
/// without one. A half-open permit of the current episode returns its probe
/// slot. A permit that was not admitted (`!permit`) records nothing.
///
/// Thread safety: a permit is used by one thread at a time; it may be moved
/// to another thread. Lifetime: it must not outlive its breaker (debug builds
/// check this when the breaker is destroyed).
template <class Clock>
class Permit {
 public:
  using time_point = typename Clock::time_point;

  /// A permit that was not admitted.
  Permit() noexcept = default;
  Permit(Permit&& other) noexcept
      : breaker_(std::exchange(other.breaker_, nullptr)),
        epoch_(other.epoch_),
        admitted_in_(other.admitted_in_),
        timing_(other.timing_),
        start_(other.start_) {}
  Permit& operator=(Permit&& other) noexcept {
    if (this != &other) {
      record_ignored();
      breaker_ = std::exchange(other.breaker_, nullptr);
      epoch_ = other.epoch_;
      admitted_in_ = other.admitted_in_;
      timing_ = other.timing_;
      start_ = other.start_;
    }
    return *this;
  }
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;
  ~Permit() { record_ignored(); }

  /// True when the call was admitted and no outcome has been recorded yet.
  explicit operator bool() const noexcept { return breaker_ != nullptr; }
  /// The state the call was admitted in (closed or half-open).
  State admitted_in() const noexcept { return admitted_in_; }
  /// The breaker epoch that admitted the call.
  std::uint32_t epoch() const noexcept { return epoch_; }

  /// Records a success. No effect on an empty or already recorded permit.
  void record_success() noexcept { record(Outcome::success); }
  /// Records a failure. No effect on an empty or already recorded permit.
  void record_failure() noexcept { record(Outcome::failure); }
  /// Records an outcome that counts neither way (e.g. cancellation).
  void record_ignored() noexcept { record(Outcome::ignored); }
  /// Records a classified outcome. No effect on an empty or already recorded
  /// permit.
  void record(Outcome outcome) noexcept {
    if (breaker_ == nullptr) return;
    CircuitBreaker<Clock>* breaker = std::exchange(breaker_, nullptr);
    breaker->finish(*this, outcome);
  }

 private:
  friend class CircuitBreaker<Clock>;
  Permit(CircuitBreaker<Clock>* breaker, std::uint32_t epoch, State admitted_in,
         detail::CallTiming timing, std::uint64_t start) noexcept
      : breaker_(breaker), epoch_(epoch), admitted_in_(admitted_in), timing_(timing), start_(start) {}

  CircuitBreaker<Clock>* breaker_ = nullptr;
  std::uint32_t epoch_ = 0;
  State admitted_in_ = State::closed;
  detail::CallTiming timing_ = detail::CallTiming::none;
  std::uint64_t start_ = 0;  // detail::call_timestamp() at admission when timing_ is timed
};

}  // namespace breaker
