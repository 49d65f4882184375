// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `CircuitBreaker<Clock>`: the lock-free circuit breaker with its coroutine
/// (`call`, `call_with_fallback`), synchronous (`execute`,
/// `execute_with_fallback`) and manual (`try_acquire` + `Permit`) interfaces.

#include "breaker/config.hpp"
#include "breaker/error.hpp"
#include "breaker/events.hpp"
#include "breaker/state.hpp"
#include "breaker/stats.hpp"
#include "breaker/detail/counters.hpp"
#include "breaker/detail/duration_histogram.hpp"
#include "breaker/detail/state_word.hpp"
#include "breaker/detail/timestamp.hpp"

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <forward_list>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace breaker {

namespace detail {

template <class T>
struct awaitable_traits : std::false_type {};
template <class T, class Executor>
struct awaitable_traits<asio::awaitable<T, Executor>> : std::true_type {
  using value_type = T;
  using executor_type = Executor;
};

template <class T>
inline constexpr bool is_awaitable_v = awaitable_traits<std::remove_cvref_t<T>>::value;

/// Whether `code` means the operation was cancelled (ignored, not a failure).
inline bool is_cancellation(const std::error_code& code) noexcept {
  return code == asio::error::operation_aborted;
}

/// The result of an operation raced against a timeout: a value or an exception.
template <class R>
struct Captured {
  std::optional<R> value;
  std::exception_ptr error;
};
template <>
struct Captured<void> {
  std::exception_ptr error;
};

/// Clocks whose time moves by itself, so a timer can wait for the whole
/// remaining duration at once; any other clock (a test clock) is polled.
template <class Clock>
inline constexpr bool is_real_clock_v = std::is_same_v<Clock, std::chrono::steady_clock> ||
                                        std::is_same_v<Clock, std::chrono::system_clock> ||
                                        std::is_same_v<Clock, std::chrono::high_resolution_clock>;

/// How often a `call_timeout` deadline is checked against a non-real clock.
inline constexpr std::chrono::milliseconds test_clock_poll_interval{1};

}  // namespace detail

/// A circuit breaker.
///
/// \tparam Clock a clock with a `now()` (static or not) returning a
///   `time_point` with an integral representation. Tests use
///   `breaker::testing::ManualClock`.
///
/// Thread safety: every member function may be called concurrently from any
/// number of threads. The state lives in one atomic 64-bit word updated by
/// CAS; the closed-state success path takes no lock, allocates nothing, reads
/// no clock (with `record_call_durations` on, the default, it takes two cheap
/// timestamps on every `duration_sample_every`-th call of each thread) and
/// writes no shared cache line when nothing changes (counts and durations go
/// to per-thread stripes).
///
/// Lifetime: the breaker must outlive every permit and every call it started.
/// It is neither copyable nor movable (share it with `std::shared_ptr`, as the
/// `Registry` does).
template <class Clock = std::chrono::steady_clock>
class CircuitBreaker {
 public:
  using clock_type = Clock;
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;
  static_assert(std::is_integral_v<typename duration::rep>,
                "CircuitBreaker needs a clock with an integral representation");

 private:
  using Timing = detail::CallTiming;

 public:

  /// One admitted call. Exactly one outcome is recorded per admitted permit:
  /// the first `record_*` call, or "ignored" when the permit is destroyed
  /// without one. A half-open permit always returns its probe slot. A permit
  /// that was not admitted (`!permit`) records nothing.
  ///
  /// Thread safety: a permit is used by one thread at a time; it may be moved
  /// to another thread. It must not outlive its breaker.
  class Permit {
   public:
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
    void record_success() noexcept { record(detail::Outcome::success); }
    /// Records a failure. No effect on an empty or already recorded permit.
    void record_failure() noexcept { record(detail::Outcome::failure); }
    /// Records an outcome that counts neither way (e.g. cancellation).
    void record_ignored() noexcept { record(detail::Outcome::ignored); }

   private:
    friend class CircuitBreaker;
    Permit(CircuitBreaker* breaker, std::uint32_t epoch, State admitted_in, Timing timing,
           std::uint64_t start) noexcept
        : breaker_(breaker), epoch_(epoch), admitted_in_(admitted_in), timing_(timing), start_(start) {}

    void record(detail::Outcome outcome) noexcept {
      if (breaker_ == nullptr) return;
      CircuitBreaker* breaker = std::exchange(breaker_, nullptr);
      breaker->finish(*this, outcome);
    }

    CircuitBreaker* breaker_ = nullptr;
    std::uint32_t epoch_ = 0;
    State admitted_in_ = State::closed;
    Timing timing_ = Timing::none;
    std::uint64_t start_ = 0;  // call_timestamp() at admission when timing_ == timed
  };

  /// Creates a closed breaker.
  /// \throws CircuitBreakerError with `errc::invalid_config` naming the field
  ///   (and the breaker) when `config` is invalid.
  explicit CircuitBreaker(std::string name, CircuitBreakerConfig config = {}, Clock clock = {})
      : clock_(std::move(clock)), name_(std::move(name)), initial_config_(config) {
    std::string message;
    if (initial_config_.validate(&message)) {
      throw CircuitBreakerError(errc::invalid_config, name_, message);
    }
    if (initial_config_.record_call_durations) durations_.enable();
    config_.store(&initial_config_, std::memory_order_release);
    base_ = now();
  }

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// The breaker's name.
  const std::string& name() const noexcept { return name_; }

  /// The current config. The reference stays valid for the breaker's lifetime,
  /// even after `update_config` (which makes a new one current).
  const CircuitBreakerConfig& config() const noexcept {
    return *config_.load(std::memory_order_acquire);
  }

  /// Replaces the config and keeps the state and counts. Counts already past a
  /// new threshold act at the next outcome; an open period already running
  /// keeps its end.
  /// \throws CircuitBreakerError(errc::invalid_config) naming the field; the
  ///   breaker is unchanged then. Thread safety: any thread; calls see the old or
  ///   the new config, never a mix.
  void update_config(const CircuitBreakerConfig& config) {
    std::string message;
    if (config.validate(&message)) throw CircuitBreakerError(errc::invalid_config, name_, message);
    std::lock_guard lock(mutex_);
    if (config == this->config()) return;
    // Before the config is published (release below), so a caller that sees
    // record_call_durations on also sees the stripes.
    if (config.record_call_durations) durations_.enable();
    retained_configs_.push_front(config);
    // release: a caller that loads the pointer (acquire) sees the config's fields.
    config_.store(&retained_configs_.front(), std::memory_order_release);
  }

  /// The state as observers should see it: an open breaker whose open period is
  /// over reads as half-open even before a call arrives. Reads the clock only
  /// when the breaker is open and not forced.
  State state() const noexcept { return observe(Word{word_.load(std::memory_order_acquire)}); }

  /// A snapshot of the state and counts (see `Stats`).
  Stats stats() const noexcept {
    const Word w{word_.load(std::memory_order_acquire)};
    const State observed = observe(w);
    Stats s{};
    s.state = observed;
    if (observed == State::closed || observed == State::open) s.consecutive_failures = w.consecutive();
    if (observed == State::half_open && w.state() == State::half_open)
      s.consecutive_successes = w.consecutive();
    s.successful_calls = counters_.sum(detail::CallCounters::successful);
    s.failed_calls = counters_.sum(detail::CallCounters::failed);
    s.ignored_calls = counters_.sum(detail::CallCounters::ignored);
    s.rejected_calls = counters_.sum(detail::CallCounters::rejected);
    s.total_calls = counters_.sum(detail::CallCounters::admitted) + s.rejected_calls;
    return s;
  }

  /// Half-open probes currently in flight (whatever episode admitted them).
  std::uint32_t probes_in_flight() const noexcept {
    return detail::StateWord{word_.load(std::memory_order_acquire)}.probes();
  }

  /// Transitions made so far from `from` to `to` (each counted once, when made).
  std::uint64_t transitions(State from, State to) const noexcept {
    return transitions_[index(from, to)].load(std::memory_order_relaxed);
  }

  /// The call-duration histogram (empty while `record_call_durations` is off).
  CallDurations call_durations() const noexcept { return durations_.snapshot(); }

  /// Closes the breaker and clears the consecutive counts and the volume gate.
  /// Calls in flight become stale. Listeners hear of it unless it was closed.
  void reset() noexcept {
    transition_to([](detail::StateWord w) { return w.enter(State::closed); });
  }

  /// Opens the breaker and keeps it open (rejecting every call, never turning
  /// half-open) until `reset()`.
  void force_open() noexcept {
    transition_to([](detail::StateWord w) {
      if (w.state() == State::open && w.forced()) return w;
      return w.enter(State::open).with_forced(true);
    });
  }

  /// Registers a listener called once per transition, on the thread that made
  /// it, after the state word changed and outside any lock. Exceptions thrown
  /// by listeners are caught and dropped: they never affect the breaker.
  /// Listeners run concurrently when transitions are made concurrently, and may
  /// then observe transitions out of order (each carries its `epoch`).
  /// \returns an id for `remove_listener`.
  ListenerId on_state_change(StateListener listener) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<std::vector<std::pair<ListenerId, StateListener>>>(
        listeners_ ? *listeners_ : std::vector<std::pair<ListenerId, StateListener>>{});
    const ListenerId id = ++last_listener_id_;
    next->emplace_back(id, std::move(listener));
    listeners_ = std::move(next);
    has_listeners_.store(true, std::memory_order_release);
    return id;
  }

  /// Removes a listener; returns false when `id` is unknown. A notification
  /// already under way may still call it once.
  bool remove_listener(ListenerId id) {
    std::lock_guard lock(mutex_);
    if (!listeners_) return false;
    auto next = std::make_shared<std::vector<std::pair<ListenerId, StateListener>>>(*listeners_);
    const auto old_size = next->size();
    std::erase_if(*next, [id](const auto& entry) { return entry.first == id; });
    if (next->size() == old_size) return false;
    has_listeners_.store(!next->empty(), std::memory_order_release);
    listeners_ = std::move(next);
    return true;
  }

  /// Asks for admission. Closed: always admitted (one load, no shared write, no
  /// clock read unless this call is a timed sample). Open: rejected, with at most one
  /// clock read; once the open period is over, the first caller turns the
  /// breaker half-open and becomes its first probe. Half-open: admitted while
  /// fewer than `half_open_max_requests` probes are in flight. A rejection is
  /// counted in `rejected_calls`.
  /// Never throws, never allocates.
  Permit try_acquire() noexcept {
    const CircuitBreakerConfig* config = config_.load(std::memory_order_acquire);
    const std::uint64_t bits = word_.load(std::memory_order_acquire);
    const detail::StateWord w{bits};
    if (w.state() == State::closed) [[likely]] {
      const std::uint64_t n = counters_.add_at(detail::thread_slot(), detail::CallCounters::admitted);
      const Timing timing = timing_of(*config, n);
      return Permit{this, w.epoch(), State::closed, timing, start_of(timing)};
    }
    return acquire_slow(bits, config);
  }

  /// Runs `f()` under the breaker. A value (or normal return) is a success;
  /// an exception is a failure and is rethrown unchanged.
  /// \throws CircuitBreakerError(errc::open) when rejected; whatever `f` throws.
  template <class F>
  [[gnu::always_inline]] inline std::invoke_result_t<F&> execute(F&& f) {
    using R = std::invoke_result_t<F&>;
    const CircuitBreakerConfig* config = config_.load(std::memory_order_acquire);
    const std::uint64_t bits = word_.load(std::memory_order_acquire);
    if (Word{bits}.state() != State::closed) [[unlikely]] {
      Permit permit = try_acquire();
      if (!permit) throw_open();
      return run_sync(f, permit);
    }
    // Closed fast path: no Permit object, one thread-slot lookup for both
    // counts and the duration, and after the call one load compared with the
    // word seen at admission (a steady closed word that did not change needs
    // no write).
    const unsigned slot = detail::thread_slot();
    const std::uint64_t n = counters_.add_at(slot, detail::CallCounters::admitted);
    const bool steady = closed_steady(Word{bits}, *config);
    Timing timing = Timing::none;
    if (config->record_call_durations) {
      // A timed sample (1 call in duration_sample_every) runs out of line, so
      // that this path stays small enough to be inlined.
      if (detail::DurationHistogram::is_sampled(n, config->duration_sample_every)) [[unlikely]] {
        return execute_timed(f, slot, bits, steady);
      }
      timing = Timing::held;
    }
    // record_closed_success is noexcept: it never lands in the handler below.
    try {
      if constexpr (std::is_void_v<R>) {
        f();
        if (timing == Timing::held) durations_.record_held(slot);
        record_closed_success(slot, bits, steady);
      } else {
        R result = f();
        if (timing == Timing::held) durations_.record_held(slot);
        record_closed_success(slot, bits, steady);
        return result;
      }
    } catch (...) {
      record_closed_exception(Word{bits}.epoch(), std::current_exception(), timing, 0);
      throw;
    }
  }

  /// Like `execute`, but on rejection or failure returns `fallback()` instead
  /// (the outcome is still recorded). Exceptions from `fallback` propagate.
  template <class F, class Fallback>
  std::invoke_result_t<F&> execute_with_fallback(F&& f, Fallback&& fallback) {
    using R = std::invoke_result_t<F&>;
    static_assert(std::is_invocable_r_v<R, Fallback&>,
                  "the fallback must be callable with no arguments and return the operation's type");
    Permit permit = try_acquire();
    if (!permit) return static_cast<R>(fallback());
    try {
      return run_sync(f, permit);
    } catch (...) {
      // run_sync recorded the failure; a cancellation is not ours to hide.
      if (is_cancelled(std::current_exception())) throw;
    }
    return static_cast<R>(fallback());
  }

  /// Runs the coroutine `op()` under the breaker: `co_await breaker.call(op)`.
  ///
  /// \param op a callable with no arguments returning `asio::awaitable<R, E>`;
  ///   it is moved into the call's frame and invoked once.
  /// \returns the operation's value. Success: a value. Failure: an exception,
  ///   rethrown unchanged. Cancellation (`asio::error::operation_aborted`, or
  ///   the call's frame destroyed): ignored, rethrown.
  /// \throws CircuitBreakerError(errc::open) when rejected;
  ///   CircuitBreakerError(errc::timeout) when `call_timeout > 0` and the
  ///   operation did not finish in time (it is then cancelled through its
  ///   cancellation slot, and the call waits until it has stopped); recorded as
  ///   a failure when `count_timeout_as_failure`, else ignored.
  /// Cancellation: the call forwards the awaiting coroutine's cancellation to
  ///   the operation. Thread safety: any thread/executor.
  template <class Op>
    requires detail::is_awaitable_v<std::invoke_result_t<Op&>>
  std::invoke_result_t<Op&> call(Op op) {
    using R = typename detail::awaitable_traits<std::invoke_result_t<Op&>>::value_type;
    const CircuitBreakerConfig* config = config_.load(std::memory_order_acquire);
    const std::uint64_t bits = word_.load(std::memory_order_acquire);
    if (Word{bits}.state() == State::closed && config->call_timeout.count() == 0) {
      // Closed fast path, as in execute(), with two differences: the
      // coroutine may resume on another thread, so counts after the await
      // look up the thread's slot again; and a frame destroyed while
      // suspended must still record its call (as ignored), which the guard
      // does.
      const std::uint64_t n = counters_.add_at(detail::thread_slot(), detail::CallCounters::admitted);
      const bool steady = closed_steady(Word{bits}, *config);
      const Timing timing = timing_of(*config, n);
      const std::uint64_t start = start_of(timing);
      ClosedCallGuard guard{this, timing, start};
      try {
        if constexpr (std::is_void_v<R>) {
          co_await op();
          guard.breaker = nullptr;
          const unsigned slot = detail::thread_slot();
          record_duration(slot, timing, start);
          record_closed_success(slot, bits, steady);
          co_return;
        } else {
          R result = co_await op();
          guard.breaker = nullptr;
          const unsigned slot = detail::thread_slot();
          record_duration(slot, timing, start);
          record_closed_success(slot, bits, steady);
          co_return result;
        }
      } catch (...) {
        guard.breaker = nullptr;
        record_closed_exception(Word{bits}.epoch(), std::current_exception(), timing, start);
        throw;
      }
    }
    Permit permit = try_acquire();
    if (!permit) throw_open();
    if (const auto timeout = this->config().call_timeout; timeout.count() > 0) {
      co_return co_await call_with_deadline(op, permit, timeout);
    }
    try {
      if constexpr (std::is_void_v<R>) {
        co_await op();
        permit.record_success();
        co_return;
      } else {
        R result = co_await op();
        permit.record_success();
        co_return result;
      }
    } catch (...) {
      record_exception(permit, std::current_exception());
      throw;
    }
  }

  /// Like `call`, but on rejection, failure or timeout returns the fallback's
  /// value instead (the outcome is still recorded). `fallback` is `() -> R` or
  /// `() -> asio::awaitable<R, E>`. Cancellation is not replaced by the
  /// fallback: it propagates.
  template <class Op, class Fallback>
    requires detail::is_awaitable_v<std::invoke_result_t<Op&>>
  std::invoke_result_t<Op&> call_with_fallback(Op op, Fallback fallback) {
    using R = typename detail::awaitable_traits<std::invoke_result_t<Op&>>::value_type;
    Permit permit = try_acquire();
    bool use_fallback = !permit;
    if (!use_fallback) {
      std::exception_ptr error;
      try {
        if (const auto timeout = config().call_timeout; timeout.count() > 0) {
          if constexpr (std::is_void_v<R>) {
            co_await call_with_deadline(op, permit, timeout);
            co_return;
          } else {
            co_return co_await call_with_deadline(op, permit, timeout);
          }
        }
        if constexpr (std::is_void_v<R>) {
          co_await op();
          permit.record_success();
          co_return;
        } else {
          R result = co_await op();
          permit.record_success();
          co_return result;
        }
      } catch (...) {
        error = std::current_exception();
      }
      record_exception(permit, error);  // no-op when call_with_deadline recorded it
      if (is_cancelled(error)) std::rethrow_exception(error);
      use_fallback = true;
    }
    if constexpr (detail::is_awaitable_v<std::invoke_result_t<Fallback&>>) {
      if constexpr (std::is_void_v<R>) {
        co_await fallback();
        co_return;
      } else {
        co_return co_await fallback();
      }
    } else {
      if constexpr (std::is_void_v<R>) {
        fallback();
        co_return;
      } else {
        co_return static_cast<R>(fallback());
      }
    }
  }

 private:
  using Word = detail::StateWord;

  // Records a closed-state call whose coroutine frame was destroyed before it
  // finished (cancellation by destruction): ignored, which changes no word.
  struct ClosedCallGuard {
    CircuitBreaker* breaker;
    Timing timing;
    std::uint64_t start;
    ~ClosedCallGuard() {
      if (breaker == nullptr) return;
      const unsigned slot = detail::thread_slot();
      breaker->record_duration(slot, timing, start);
      breaker->counters_.add_at(slot, detail::CallCounters::ignored);
    }
  };

  // --- call durations (see detail/duration_histogram.hpp) ---------------------
  // execute()'s closed fast path for a timed sample.
  template <class F>
  [[gnu::noinline]] std::invoke_result_t<F&> execute_timed(F& f, unsigned slot,
                                                           std::uint64_t bits, bool steady) {
    using R = std::invoke_result_t<F&>;
    const std::uint64_t start = detail::call_timestamp(clock_);
    try {
      if constexpr (std::is_void_v<R>) {
        f();
        record_timed_duration(slot, start);
        record_closed_success(slot, bits, steady);
      } else {
        R result = f();
        record_timed_duration(slot, start);
        record_closed_success(slot, bits, steady);
        return result;
      }
    } catch (...) {
      record_closed_exception(Word{bits}.epoch(), std::current_exception(), Timing::timed, start);
      throw;
    }
  }

  // Whether the n-th admission of this thread slot is untracked, held or timed.
  static Timing timing_of(const CircuitBreakerConfig& config, std::uint64_t n) noexcept {
    if (!config.record_call_durations) return Timing::none;
    return detail::DurationHistogram::is_sampled(n, config.duration_sample_every) ? Timing::timed
                                                                                  : Timing::held;
  }
  std::uint64_t start_of(Timing timing) const noexcept {
    return timing == Timing::timed ? detail::call_timestamp(clock_) : 0;
  }
  void record_duration(unsigned slot, Timing timing, std::uint64_t start) noexcept {
    if (timing == Timing::held) {
      durations_.record_held(slot);
    } else if (timing == Timing::timed) {
      record_timed_duration(slot, start);
    }
  }
  [[gnu::noinline]] void record_timed_duration(unsigned slot, std::uint64_t start) noexcept {
    durations_.record_timed(slot,
                            detail::call_elapsed_ns<Clock>(start, detail::call_timestamp(clock_)));
  }

  // A closed word that a success leaves unchanged: detail::success_changes
  // specialised for a closed word and a call admitted at its own epoch
  // (spelled out: the general form costs a few instructions per call).
  static bool closed_steady(Word w, const CircuitBreakerConfig& config) noexcept {
    return w.consecutive() == 0 && w.volume() >= config.minimum_request_threshold;
  }

  void record_closed_success(unsigned slot, std::uint64_t admitted_bits, bool steady) noexcept {
    counters_.add_at(slot, detail::CallCounters::successful);
    if (steady && word_.load(std::memory_order_acquire) == admitted_bits) [[likely]] return;
    record_closed_outcome(Word{admitted_bits}.epoch(), detail::Outcome::success);
  }

  // The word update of a closed-state outcome whose count was already added.
  [[gnu::noinline]] void record_closed_outcome(std::uint32_t epoch,
                                               detail::Outcome outcome) noexcept {
    apply_outcome(word_.load(std::memory_order_acquire), epoch, State::closed, outcome,
                  detail::Limits::from(config()));
  }

  // Publishes what an outcome does to the word (decide_record), starting from
  // `current`, and reports a transition it made.
  void apply_outcome(std::uint64_t current, std::uint32_t epoch, State admitted_in,
                     detail::Outcome outcome, const detail::Limits& limits) noexcept {
    detail::RecordDecision d;
    // CAS loop: acq_rel on success publishes the new counts or transition;
    // acquire on failure to decide again on the fresh word.
    do {
      d = detail::decide_record(Word{current}, epoch, admitted_in, outcome, limits);
      if (d.next.bits() == current) return;
    } while (!word_.compare_exchange_weak(current, d.next.bits(), std::memory_order_acq_rel,
                                          std::memory_order_acquire));
    if (d.transition) after_transition(Word{current}, d.next);
  }

  [[gnu::noinline]] void record_closed_exception(std::uint32_t epoch, const std::exception_ptr& error,
                                                 Timing timing, std::uint64_t start) noexcept {
    Permit permit{this, epoch, State::closed, timing, start};
    record_exception(permit, error);
  }

  time_point now() const noexcept { return clock_.now(); }

  static constexpr std::size_t index(State from, State to) noexcept {
    return static_cast<std::size_t>(from) * 3 + static_cast<std::size_t>(to);
  }

  // --- open deadline -------------------------------------------------------
  // The end of the open period lives in its own atomic, tagged with the epoch
  // it belongs to: bits 48..63 the epoch, bits 0..47 the deadline in whole
  // microseconds since the breaker was created (8.9 years of range; later
  // times saturate). A reader trusts the deadline only when its tag matches
  // the word's epoch; until the opener has published it, the breaker simply
  // stays open. Being one atomic, tag and value are always consistent.
  // Known limit: between an opener's word CAS and its deadline CAS, a reader
  // could trust the deadline of an open period exactly 65,536 epochs older
  // (same 16-bit tag) and see the breaker half-open early; the opener closes
  // that window within a few instructions.
  static constexpr std::uint64_t deadline_value_mask = (std::uint64_t{1} << 48) - 1;

  std::uint64_t micros_since_base(time_point t, bool round_up) const noexcept {
    if (t <= base_) return 0;
    const auto elapsed = t - base_;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed);
    if (round_up && std::chrono::duration_cast<duration>(us) < elapsed) ++us;
    const auto count = static_cast<std::uint64_t>(us.count());
    return std::min(count, deadline_value_mask);
  }

  // The state an observer sees; reads the clock only for an unforced open word.
  State observe(Word w) const noexcept {
    if (w.state() != State::open || w.forced()) return w.state();
    return detail::observed_state(w, open_expired(w, now()));
  }

  bool open_expired(Word w, time_point now) const noexcept {
    if (w.forced()) return false;
    // Tag and deadline are read together from one atomic.
    const std::uint64_t d = deadline_.load(std::memory_order_acquire);
    if ((d >> 48) != w.epoch()) return false;
    return micros_since_base(now, false) >= (d & deadline_value_mask);
  }

  void publish_deadline(std::uint32_t epoch, time_point opened_at) noexcept {
    // Rounded up to a whole microsecond: never half-open before timeout_duration.
    const time_point end =
        opened_at + std::chrono::duration_cast<duration>(config().timeout_duration);
    const std::uint64_t desired =
        (std::uint64_t{epoch} << 48) | micros_since_base(end, /*round_up=*/true);
    // CAS loop. We write only while our open period is the current one: the
    // loop re-reads the word after reading the deadline and gives up once the
    // breaker has moved on (a newer opener publishes its own deadline, and
    // retries until it does). A delayed opener therefore cannot overwrite a
    // newer deadline: if the newer one is already stored, our CAS either fails
    // (value changed) or we read it with acquire, which makes the newer
    // opener's word CAS visible to our word load, and we give up.
    // acquire loads / acq_rel CAS: pair with the release of the newer opener.
    std::uint64_t current = deadline_.load(std::memory_order_acquire);
    for (;;) {
      const Word w{word_.load(std::memory_order_acquire)};
      if (w.state() != State::open || w.forced() || w.epoch() != epoch) return;
      if (current == desired) return;
      if (deadline_.compare_exchange_weak(current, desired, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
        return;
      }
    }
  }

  // --- transitions ----------------------------------------------------------
  void after_transition(Word from, Word to) noexcept {
    if (to.state() == State::open && !to.forced()) publish_deadline(to.epoch(), now());
    if (from.state() == to.state()) return;
    transitions_[index(from.state(), to.state())].fetch_add(1, std::memory_order_relaxed);
    notify(StateTransition{from.state(), to.state(), name_, to.epoch()});
  }

  template <class Next>
  void transition_to(Next next_of) noexcept {
    std::uint64_t current = word_.load(std::memory_order_acquire);
    Word next;
    // CAS loop: acq_rel on success orders this transition after the word we
    // read and publishes it to later loads (acquire); acquire on failure
    // because we recompute from the word we just read.
    do {
      next = next_of(Word{current});
      if (next.bits() == current) return;
    } while (!word_.compare_exchange_weak(current, next.bits(), std::memory_order_acq_rel,
                                          std::memory_order_acquire));
    after_transition(Word{current}, next);
  }

  void notify(const StateTransition& transition) noexcept {
    if (!has_listeners_.load(std::memory_order_acquire)) return;
    std::shared_ptr<const std::vector<std::pair<ListenerId, StateListener>>> listeners;
    {
      std::lock_guard lock(mutex_);  // only to copy the pointer; listeners run unlocked
      listeners = listeners_;
    }
    if (!listeners) return;
    for (const auto& entry : *listeners) {
      try {
        entry.second(transition);
      } catch (...) {  // a listener must never break the breaker
      }
    }
  }

  Permit acquire_slow(std::uint64_t current, const CircuitBreakerConfig* config) noexcept {
    const detail::Limits limits = detail::Limits::from(*config);
    std::optional<time_point> checked_at;  // at most one clock read per rejection
    for (;;) {
      const Word w{current};
      bool expired = false;
      if (w.state() == State::open && !w.forced()) {
        if (!checked_at) checked_at = now();
        expired = open_expired(w, *checked_at);
      }
      const detail::AcquireDecision d = detail::decide_acquire(w, limits, expired);
      if (d.next.bits() != current) {
        // CAS: acq_rel on success (a transition or a probe slot taken is
        // published to later loads); acquire on failure to decide again on
        // the fresh word.
        if (!word_.compare_exchange_weak(current, d.next.bits(), std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
          continue;
        }
        after_transition(w, d.next);
      }
      if (!d.admitted) {
        counters_.add(detail::CallCounters::rejected);
        return Permit{};
      }
      const std::uint64_t n = counters_.add_at(detail::thread_slot(), detail::CallCounters::admitted);
      const Timing timing = timing_of(*config, n);
      return Permit{this, d.next.epoch(), d.admitted_in, timing, start_of(timing)};
    }
  }

  void finish(const Permit& permit, detail::Outcome outcome) noexcept {
    const unsigned slot = detail::thread_slot();
    record_duration(slot, permit.timing_, permit.start_);
    switch (outcome) {
      case detail::Outcome::success:
        counters_.add_at(slot, detail::CallCounters::successful);
        break;
      case detail::Outcome::failure:
        counters_.add_at(slot, detail::CallCounters::failed);
        break;
      case detail::Outcome::ignored:
        counters_.add_at(slot, detail::CallCounters::ignored);
        break;
    }
    const CircuitBreakerConfig* config = config_.load(std::memory_order_acquire);
    const detail::Limits limits = detail::Limits::from(*config);
    std::uint64_t current = word_.load(std::memory_order_acquire);
    if (permit.admitted_in_ == State::closed) {
      // The common cases write nothing shared: a success in a steady closed
      // breaker, an ignored closed call, a stale closed outcome.
      if (outcome == detail::Outcome::ignored) return;
      if (outcome == detail::Outcome::success &&
          !detail::success_changes(Word{current}, permit.epoch_, limits)) {
        return;
      }
    }
    apply_outcome(current, permit.epoch_, permit.admitted_in_, outcome, limits);
  }

  [[noreturn]] void throw_open() const {
    throw CircuitBreakerError(errc::open, name_, "call rejected");
  }

  static bool is_cancelled(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
      std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      return detail::is_cancellation(e.code());
    } catch (...) {
    }
    return false;
  }

  static void record_exception(Permit& permit, const std::exception_ptr& error) noexcept {
    if (!permit) return;
    if (is_cancelled(error)) {
      permit.record_ignored();
    } else {
      permit.record_failure();
    }
  }

  template <class F>
  static std::invoke_result_t<F&> run_sync(F& f, Permit& permit) {
    using R = std::invoke_result_t<F&>;
    try {
      if constexpr (std::is_void_v<R>) {
        f();
        permit.record_success();
      } else {
        R result = f();
        permit.record_success();
        return result;
      }
    } catch (...) {
      record_exception(permit, std::current_exception());
      throw;
    }
  }

  template <class R, class Executor, class Op>
  static asio::awaitable<detail::Captured<R>, Executor> capture(Op& op) {
    detail::Captured<R> out;
    try {
      if constexpr (std::is_void_v<R>) {
        co_await op();
      } else {
        out.value.emplace(co_await op());
      }
    } catch (...) {
      out.error = std::current_exception();
    }
    co_return out;
  }

  template <class Executor>
  asio::awaitable<void, Executor> sleep_until(time_point deadline) {
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
                               Executor>
        timer(co_await asio::this_coro::executor);
    for (;;) {
      const time_point t = now();
      if (t >= deadline) co_return;
      std::chrono::steady_clock::duration step =
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - t);
      if constexpr (!detail::is_real_clock_v<Clock>) {
        step = std::min<std::chrono::steady_clock::duration>(step, detail::test_clock_poll_interval);
      }
      timer.expires_after(std::max<std::chrono::steady_clock::duration>(
          step, std::chrono::steady_clock::duration{1}));
      co_await timer.async_wait(asio::use_awaitable_t<Executor>{});
    }
  }

  // Races op() against call_timeout measured on Clock; records the outcome.
  template <class Op>
  std::invoke_result_t<Op&> call_with_deadline(Op& op, Permit& permit,
                                               std::chrono::milliseconds timeout) {
    using Traits = detail::awaitable_traits<std::invoke_result_t<Op&>>;
    using R = typename Traits::value_type;
    using Executor = typename Traits::executor_type;
    using namespace asio::experimental::awaitable_operators;
    const time_point deadline = now() + std::chrono::duration_cast<duration>(timeout);
    // capture() never throws, so the first to finish wins (asio 1.22's
    // operator|| waits for the first *success*); the loser is cancelled.
    auto raced = co_await (capture<R, Executor>(op) || sleep_until<Executor>(deadline));
    if (raced.index() == 1) {
      if (config().count_timeout_as_failure) {
        permit.record_failure();
      } else {
        permit.record_ignored();
      }
      throw CircuitBreakerError(errc::timeout, name_, "call timed out");
    }
    detail::Captured<R>& captured = std::get<0>(raced);
    if (captured.error) {
      record_exception(permit, captured.error);
      std::rethrow_exception(captured.error);
    }
    permit.record_success();
    if constexpr (!std::is_void_v<R>) co_return std::move(*captured.value);
  }

  // Hot line: read on every call, written on transitions and closed failures.
  alignas(64) std::atomic<std::uint64_t> word_{0};
  std::atomic<const CircuitBreakerConfig*> config_{nullptr};
  std::atomic<std::uint64_t> deadline_{std::uint64_t{Word::epoch_mask} << 48};
  [[no_unique_address]] Clock clock_;
  time_point base_{};

  detail::CallCounters counters_;
  detail::DurationHistogram durations_;
  std::array<std::atomic<std::uint64_t>, 9> transitions_{};

  // Cold: names, configs and listeners.
  std::string name_;
  CircuitBreakerConfig initial_config_;
  mutable std::mutex mutex_;  // guards the two members below, never held on the call path
  std::forward_list<CircuitBreakerConfig> retained_configs_;
  std::shared_ptr<const std::vector<std::pair<ListenerId, StateListener>>> listeners_;
  ListenerId last_listener_id_ = 0;
  std::atomic<bool> has_listeners_{false};
};

}  // namespace breaker
