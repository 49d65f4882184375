// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The reference design: a circuit breaker built the way most are, with one
/// mutex taken before the call (admission) and once after it (record), and the
/// counts as plain members of the object. The benchmarks run it next to
/// `breaker::CircuitBreaker` so the ratio shows what the lock-free design buys.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace breaker::bench {

class MutexBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  MutexBreaker(std::uint32_t failure_threshold, std::chrono::milliseconds open_duration)
      : failure_threshold_(failure_threshold), open_duration_(open_duration) {}

  /// Admission; reads the clock only while open.
  bool try_acquire() {
    std::lock_guard lock(mutex_);
    if (state_ == State::open) {
      if (Clock::now() - opened_at_ < open_duration_) {
        ++rejected_;
        return false;
      }
      state_ = State::half_open;
    }
    ++admitted_;
    return true;
  }

  void record_success() {
    std::lock_guard lock(mutex_);
    ++successes_;
    consecutive_failures_ = 0;
    if (state_ == State::half_open) state_ = State::closed;
  }

  void record_failure() {
    std::lock_guard lock(mutex_);
    ++failures_;
    if (state_ == State::half_open || ++consecutive_failures_ >= failure_threshold_) {
      state_ = State::open;
      opened_at_ = Clock::now();
    }
  }

  template <class F>
  auto execute(F&& f) {
    if (!try_acquire()) throw std::runtime_error("circuit open");
    try {
      auto result = std::forward<F>(f)();
      record_success();
      return result;
    } catch (...) {
      record_failure();
      throw;
    }
  }

  void reset() {
    std::lock_guard lock(mutex_);
    state_ = State::closed;
    consecutive_failures_ = 0;
  }

  std::uint64_t successes() const {
    std::lock_guard lock(mutex_);
    return successes_;
  }

 private:
  enum class State { closed, open, half_open };

  mutable std::mutex mutex_;
  State state_ = State::closed;
  std::uint32_t consecutive_failures_ = 0;
  std::uint32_t failure_threshold_;
  std::chrono::milliseconds open_duration_;
  Clock::time_point opened_at_{};
  std::uint64_t admitted_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t successes_ = 0;
  std::uint64_t failures_ = 0;
};

}  // namespace breaker::bench
