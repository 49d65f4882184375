// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `CircuitBreaker<Clock>`: the lock-free circuit breaker with its coroutine
/// (`call`, `call_with_fallback`), synchronous (`execute`,
/// `execute_with_fallback`) and manual (`try_acquire` + `Permit`) interfaces.
///
/// The machinery lives in `detail/`: the state word and its rules
/// (`state_word.hpp`), the config storage (`config_cell.hpp`), the open
/// deadline protocol (`open_deadline.hpp`), the CAS loops on the word and the
/// deadline, generic over the atomic type so the Relacy checks run them
/// (`protocol.hpp`), the `call_timeout` race
/// (`timeout_race.hpp`), the listener list (`listener_list.hpp`), the
/// per-thread counters (`counters.hpp`) and the debug lifetime check
/// (`lifetime_check.hpp`).

#include "breaker/config.hpp"
#include "breaker/error.hpp"
#include "breaker/events.hpp"
#include "breaker/fallback_context.hpp"
#include "breaker/outcome.hpp"
#include "breaker/permit.hpp"
#include "breaker/state.hpp"
#include "breaker/stats.hpp"
#include "breaker/window_stats.hpp"
#include "breaker/detail/awaitable_traits.hpp"
#include "breaker/detail/config_cell.hpp"
#include "breaker/detail/counters.hpp"
#include "breaker/detail/duration_histogram.hpp"
#include "breaker/detail/lifetime_check.hpp"
#include "breaker/detail/listener_list.hpp"
#include "breaker/detail/open_deadline.hpp"
#include "breaker/detail/open_duration.hpp"
#include "breaker/detail/protocol.hpp"
#include "breaker/detail/sliding_window.hpp"
#include "breaker/detail/state_word.hpp"
#include "breaker/detail/striped_mutex.hpp"
#include "breaker/detail/timeout_race.hpp"

#include <asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace breaker {

namespace detail {
/// "No fallback": `call`'s general path and `call_with_fallback` share one
/// coroutine body (`run_call`).
struct NoFallback {};

/// The outcome of a finished call's value (a void call is a success).
template <class Policy, class R>
constexpr Outcome classify_returned(const Policy& policy, const Returned<R>& out) {
  if constexpr (std::is_void_v<R>) {
    (void)policy;
    (void)out;
    return Outcome::success;
  } else {
    return classify_value(policy, out.value());
  }
}

/// Whether `F` is a fallback taking the context.
template <class F>
inline constexpr bool takes_context_v = std::is_invocable_v<F&, const FallbackContext&>;

/// The result type of calling fallback `F` (with the context when it takes it).
template <class F>
struct fallback_result {
  using type = std::invoke_result_t<F&>;
};
template <class F>
  requires takes_context_v<F>
struct fallback_result<F> {
  using type = std::invoke_result_t<F&, const FallbackContext&>;
};
template <class F>
using fallback_result_t = typename fallback_result<F>::type;

/// Calls the fallback, with the context when it takes it (built only then:
/// the context reads the breaker's state, which may read the clock).
template <class F, class MakeContext>
decltype(auto) invoke_fallback(F& fallback, const MakeContext& make_context) {
  if constexpr (takes_context_v<F>) {
    return fallback(make_context());
  } else {
    (void)make_context;
    return fallback();
  }
}
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
/// Debug builds (no `NDEBUG`) abort with a message naming the breaker when it
/// is destroyed with calls in flight. It is neither copyable nor movable
/// (share it with `std::shared_ptr`, as the `Registry` does).
template <class Clock = std::chrono::steady_clock>
class CircuitBreaker {
 public:
  using clock_type = Clock;
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;
  /// One admitted call of the manual interface (see `breaker::Permit`).
  using Permit = breaker::Permit<Clock>;
  static_assert(std::is_integral_v<typename duration::rep>,
                "CircuitBreaker needs a clock with an integral representation");

  /// Creates a closed breaker.
  /// \throws CircuitBreakerError with `errc::invalid_config` naming the field
  ///   (and the breaker) when `config` is invalid.
  explicit CircuitBreaker(std::string name, CircuitBreakerConfig config = {}, Clock clock = {})
      : config_(validated(name, config)),
        clock_(std::move(clock)),
        deadline_(clock_.now()),
        jitter_(config.jitter_seed),
        name_(std::move(name)) {
    apply_duration_settings(config);
    if (config.uses_window()) {
      windows_.push_back(
          std::make_unique<detail::SlidingWindow>(detail::WindowShape::of(config), config));
      window_.store(windows_.back().get(), std::memory_order_release);
    }
  }

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// Debug builds check that no call is in flight (see the class comment).
  ~CircuitBreaker() {
#if BREAKER_CHECK_CALLS_IN_FLIGHT
    detail::check_no_calls_in_flight(counters_, name_);
#endif
  }

  // --- name and config ------------------------------------------------------

  /// The breaker's name.
  const std::string& name() const noexcept { return name_; }

  /// A copy of the current config (the old or the new one while an
  /// `update_config` runs, never a mix). Lock-free. Copies never go back in
  /// time: once a thread's `config()` returned a config, its later calls
  /// return that one or a newer one (checked under Relacy,
  /// docs/reliability.md).
  CircuitBreakerConfig config() const noexcept { return config_.load(); }

  /// Replaces the config and keeps the state and counts. Counts already past a
  /// new threshold act at the next outcome; an open period already running
  /// keeps its end (a new open-duration policy, jitter or backoff applies
  /// from the next opening; the backoff level is kept); a half-open episode
  /// keeps its close rule and its maximum wait (the new ones apply from the
  /// next episode; a new `half_open_max_requests` or
  /// `half_open_success_ratio` applies at once); a new `jitter_seed`
  /// restarts the jitter sequence. Memory stays bounded however often it is called: the
  /// config lives in the breaker, in two slots, the second (104 bytes) allocated by the
  /// first update and reused by every later one (see `detail/config_cell.hpp`).
  /// \throws CircuitBreakerError(errc::invalid_config) naming the field; the
  ///   breaker is unchanged then.
  /// \throws std::bad_alloc when the config's second slot (first update), the
  ///   duration histogram (durations turned on) or a window (a window rule
  ///   turned on or reshaped) cannot be allocated; the breaker is unchanged then.
  /// Thread safety: any thread; each decision a call makes sees the old or the
  ///   new config, never a mix (a call that spans the update may use the old
  ///   one for admission and the new one for its outcome).
  void update_config(const CircuitBreakerConfig& config) {
    std::string message;
    if (config.validate(&message)) throw CircuitBreakerError(errc::invalid_config, name_, message);
    // Writers only; readers never take it. One of a few mutexes shared by all
    // breakers (an update is rare and short), not 40 bytes in each.
    std::lock_guard lock(detail::striped_mutex(this));
    const CircuitBreakerConfig old = config_.load();
    if (config == old) return;
    // The config's second slot, allocated at the first update (see
    // detail/config_cell.hpp). Before the rules are published (release in
    // store): a call that sees record_call_durations on also sees the
    // stripes, and a call that sees the window rule also sees the window.
    // Each may throw bad_alloc, with the breaker unchanged.
    config_.reserve();
    if (config.record_call_durations || config.slow_call_duration_threshold.count() > 0) {
      durations_.enable();
    }
    update_window(config);
    // Nothing below throws.
    if (config.jitter_seed != old.jitter_seed) jitter_.reseed(config.jitter_seed);
    apply_duration_settings(config);
    config_.store(config);
    if (!config.uses_window()) {
      // After the rules: a call that still reads the window rule finds no
      // window and records in the word only. The storage stays (windows_).
      window_.store(nullptr, std::memory_order_release);
    } else {
      // A steady closed word skips the outcome path: make it reach the window.
      transition_to(detail::unsteadied);
    }
  }

  // --- observation ----------------------------------------------------------

  /// The state as observers should see it: an open breaker whose open period is
  /// over reads as half-open even before a call arrives. Reads the clock only
  /// when the breaker is open and not forced.
  State state() const noexcept { return observe(Word{word_.load(std::memory_order_acquire)}); }

  /// The time until the current open period ends, after which the next call
  /// (or `state()`) finds the breaker half-open: zero once the period is over
  /// (the breaker still reads open internally until a call or observer moves
  /// it on). Empty unless the breaker is open and not forced (closed,
  /// half-open, `force_open()`: no open period ends by itself).
  /// In the short window while the thread that opened the breaker has not yet
  /// published the period's end, the configured `timeout_duration` (the
  /// period starts no earlier than now; an estimate when backoff, jitter or
  /// `open_for` gives the period another length).
  /// Thread safety: any thread, lock-free: one load of the state word, one
  /// load of the deadline, one clock read (the config is read only in that
  /// window). A snapshot: the state may change right after. Never throws.
  std::optional<duration> time_until_half_open() const noexcept {
    // acquire: pairs with the opener's release CAS setting D, so the deadline
    // load below sees the deadline of this open period (or a newer one).
    const Word w{word_.load(std::memory_order_acquire)};
    if (w.state() != State::open || w.forced()) return std::nullopt;
    if (!w.deadline_published()) {
      return detail::ceil_duration<duration>(config_.load().timeout_duration);
    }
    return deadline_.remaining(now());
  }

  /// A snapshot of the state and counts (see `Stats`).
  Stats stats() const noexcept {
    const Word w{word_.load(std::memory_order_acquire)};
    const State observed = observe(w);
    Stats s{};
    s.state = observed;
    if (observed == w.state() &&
        (observed == State::closed || observed == State::open || observed == State::metrics_only)) {
      s.consecutive_failures = w.consecutive();
    }
    if (observed == State::half_open && w.state() == State::half_open)
      s.consecutive_successes = w.ratio_episode() ? w.ratio_successes() : w.consecutive();
    s.successful_calls = counters_.sum(detail::CallCounters::successful);
    s.failed_calls = counters_.sum(detail::CallCounters::failed);
    s.ignored_calls = counters_.sum(detail::CallCounters::ignored);
    s.rejected_calls = counters_.sum(detail::CallCounters::rejected);
    s.total_calls = counters_.sum(detail::CallCounters::admitted) + s.rejected_calls;
    return s;
  }

  /// The sliding window of the current closed (or metrics-only) period: empty
  /// unless the config uses one (`CircuitBreakerConfig::uses_window()`); zero
  /// counts in the other states (a window holds one such period only).
  /// Thread safety: any thread, lock-free, O(window buckets x thread slots)
  /// (a count-based window: O(thread slots)). Never throws.
  std::optional<WindowStats> window_stats() const noexcept {
    const detail::SlidingWindow* window = window_.load(std::memory_order_acquire);
    if (window == nullptr) return std::nullopt;
    WindowStats out;
    const Word w{word_.load(std::memory_order_acquire)};
    if (w.state() != State::closed && w.state() != State::metrics_only) return out;
    const detail::WindowCounts c = window->counts(
        w.epoch(), window->shape().type == WindowType::time_based ? window_now_ns() : 0);
    out.calls = c.calls;
    out.failures = c.failures;
    out.slow_calls = c.slow;
    out.failure_rate = detail::failure_rate_of(c);
    out.slow_call_rate = detail::slow_call_rate_of(c);
    return out;
  }

  /// Probes of the current half-open episode in flight (0 unless half-open).
  std::uint32_t probes_in_flight() const noexcept {
    const Word w{word_.load(std::memory_order_acquire)};
    if (w.state() != State::half_open) return 0;
    if (!w.ratio_episode()) return w.probes();
    // A success-ratio episode counts its slots: admitted probes not ignored.
    const std::uint32_t reported = w.ratio_successes() + w.ratio_failures();
    return w.probes() > reported ? w.probes() - reported : 0;
  }

  /// Transitions made so far from `from` to `to` (each counted once, when made).
  std::uint64_t transitions(State from, State to) const noexcept {
    if (from == to || static_cast<std::size_t>(from) >= state_count ||
        static_cast<std::size_t>(to) >= state_count) {
      return 0;
    }
    return transitions_[index(from, to)].load(std::memory_order_relaxed);
  }

  /// The call-duration histogram (empty while `record_call_durations` is off).
  CallDurations call_durations() const noexcept { return durations_.snapshot(counters_); }

  // --- manual control -------------------------------------------------------

  /// Closes the breaker and clears the consecutive counts and the volume gate,
  /// in a new epoch: calls in flight become stale. A closed breaker with
  /// nothing to clear is left as it is (no new epoch). Listeners hear of it
  /// unless it was closed.
  void reset() noexcept { transition_to(detail::after_reset); }

  /// Opens the breaker and keeps it open (rejecting every call, never turning
  /// half-open) until `reset()`. Calls in flight become stale.
  void force_open() noexcept { transition_to(detail::after_force_open); }

  /// Opens the breaker now (not forced) for `d`: it turns half-open once `d`
  /// has passed on the breaker's clock (measured from after the transition,
  /// rounded up to the clock's unit and to a microsecond), as after any open
  /// period. Neither capped nor jittered, whatever the open-duration policy;
  /// the backoff level is kept. From every state (an open breaker gets this
  /// new period instead of its own; closed, half-open, disabled and
  /// metrics_only open), except a forced-open breaker, which stays as it is
  /// until `reset()`. A negative `d` counts as zero. Calls in flight become
  /// stale. Thread safety: any thread, lock-free; listeners run on this thread.
  void open_for(duration d) noexcept {
    transition_to([this](Word w) noexcept { return detail::open_for_word(deadline_, w); },
                  [d](time_point now) { return now + (d < duration::zero() ? duration::zero() : d); });
  }

  /// Like `open_for`, but half-open at `t` on the breaker's clock (a `t` in
  /// the past: half-open at the next call).
  void open_until(time_point t) noexcept {
    transition_to([this](Word w) noexcept { return detail::open_for_word(deadline_, w); },
                  [t](time_point) { return t; });
  }

  /// Disables the breaker (`State::disabled`): every call is admitted and
  /// only the totals are recorded (no consecutive counts, no durations, no
  /// windows); nothing trips. Stays disabled until `reset()` (or another
  /// manual transition). Calls in flight become stale. Thread safety: any
  /// thread, lock-free.
  void disable() noexcept { transition_to(detail::after_disable); }

  /// Puts the breaker in `State::metrics_only`: every call is admitted and
  /// recorded as in closed (counts, consecutive failures, durations, windows)
  /// but the breaker never trips. Stays there until `reset()` (or another
  /// manual transition). Calls in flight become stale. Thread safety: any
  /// thread, lock-free.
  void metrics_only() noexcept { transition_to(detail::after_metrics_only); }

  // --- listeners ------------------------------------------------------------

  /// Registers a listener called once per transition, on the thread that made
  /// it, after the state word changed and outside any lock. Exceptions thrown
  /// by listeners are caught and dropped: they never affect the breaker.
  /// Listeners run concurrently when transitions are made concurrently, and may
  /// then observe transitions out of order (each carries its `epoch`).
  /// \returns an id for `remove_listener`.
  ListenerId on_state_change(StateListener listener) { return listeners_.add(std::move(listener)); }

  /// Removes a listener; returns false when `id` is unknown. A notification
  /// already under way may still call it once.
  bool remove_listener(ListenerId id) { return listeners_.remove(id); }

  /// Registers a listener of this breaker's events (`CircuitBreakerEvent`):
  /// every state transition (as `on_state_change` hears it), every rejected
  /// call (`call_not_permitted`), and the failure-rate and slow-call-rate
  /// trips. Called on the thread where the event happened, with no lock held;
  /// exceptions are caught and dropped. While no event listener is
  /// registered, events cost the call path one relaxed load on rejections
  /// and nothing elsewhere. Thread safety: any thread. Throws `std::bad_alloc`.
  /// \returns an id for `remove_event_listener`.
  ListenerId on_event(EventListener listener) { return events_.add(std::move(listener)); }

  /// Removes an event listener; returns false when `id` is unknown. A
  /// notification already under way may still call it once.
  bool remove_event_listener(ListenerId id) { return events_.remove(id); }

  // --- calls ----------------------------------------------------------------

  /// Asks for admission. Closed: always admitted (one load, no shared write, no
  /// clock read unless this call is a timed duration sample). Open: rejected, with at most one
  /// clock read; once the open period is over, the first caller turns the
  /// breaker half-open and becomes its first probe. Half-open: admitted while
  /// fewer than `half_open_max_requests` probes of this episode are in
  /// flight. A rejection is counted in `rejected_calls`.
  /// Never throws, never allocates.
  Permit try_acquire() noexcept {
    const detail::Rules rules = config_.rules();
    const std::uint64_t bits = word_.load(std::memory_order_acquire);
    const Word w{bits};
    if (w.state() == State::closed) [[likely]] {
      const std::uint64_t n = counters_.add_at(detail::thread_slot(), detail::CallCounters::admitted);
      const Timing timing = timing_of(rules, n);
      return Permit{this, w.epoch(), State::closed, timing, start_of(timing)};
    }
    return acquire_slow(bits, rules);
  }

  /// Runs `f()` under the breaker. A value (or normal return) is a success;
  /// an exception is a failure and is rethrown unchanged (a cancellation,
  /// `asio::error::operation_aborted`, is ignored and rethrown).
  /// \param f a synchronous callable with no arguments. A callable returning
  ///   an `asio::awaitable` is refused at compile time: use `call`.
  /// \param policy optional outcome policy (see `outcome.hpp`) classifying
  ///   `f`'s value and exceptions; the value is returned whatever it counts as.
  /// \throws CircuitBreakerError(errc::open) when rejected; whatever `f` throws.
  template <class F, class Policy = DefaultOutcomePolicy>
  [[gnu::always_inline]] inline std::invoke_result_t<F&> execute(F&& f, Policy policy = {}) {
    using R = std::invoke_result_t<F&>;
    static_assert(!detail::is_awaitable_v<R>,
                  "execute() runs a synchronous function, but this callable returns an "
                  "asio::awaitable (a coroutine): its failures would never reach the breaker. "
                  "Use `co_await breaker.call(op)` instead.");
    const detail::Rules rules = config_.rules();
    const std::uint64_t bits = word_.load(std::memory_order_acquire);
    const std::size_t slot = detail::current_thread_slot;
    // Not closed, or a thread without an exclusive counter slot (its first
    // call, or one beyond the exclusive slots): the general path, out of line.
    if (Word{bits}.state() != State::closed || slot >= detail::exclusive_slots) [[unlikely]] {
      return execute_general(f, policy);
    }
    // Closed fast path: no Permit object, one TLS load for the counts and the
    // duration (this thread's own counter line, plain increments), and after
    // the call one load compared with the word seen at admission (a steady
    // closed word that did not change needs no write). always_inline: without
    // it GCC stops inlining execute() and the durations-off path costs 20
    // instructions more.
    detail::CallCounters::Line& line = counters_.exclusive_line(slot);
    Timing timing = Timing::none;
    if (rules.record_call_durations()) {
      const std::uint64_t n = line.bump(detail::CallCounters::admitted);
      // A timed sample (1 call in duration_sample_every) runs out of line.
      if (durations_.is_sampled(n)) [[unlikely]] {
        return execute_timed(f, static_cast<unsigned>(slot), bits, policy);
      }
      timing = Timing::held;
    } else {
      line.increment(detail::CallCounters::admitted);
    }
    detail::Returned<R> out;
    try {
      out.invoke(f);
    } catch (...) {
      record_closed_throw(policy, Word{bits}.epoch(), timing, 0);
      throw;
    }
    const Outcome outcome = classify_closed_value(policy, out, static_cast<unsigned>(slot));
    // Outside the try: a throw from moving the value out is not a second outcome.
    // A held call is one more pending held call of this slot (see
    // detail/duration_histogram.hpp): one increment on the same line.
    if (timing == Timing::held) line.increment(detail::CallCounters::held);
    if (outcome == Outcome::success) [[likely]] {
      line.increment(detail::CallCounters::successful);
      // Steady and unchanged: nothing shared to write (the likely case, each
      // test marked so that GCC lays it out as the fall-through).
      // (A breaker with a window is never steady: its successes go to the
      // window through record_closed_outcome.)
      if (!detail::closed_steady_bits(bits)) [[unlikely]] {
        record_closed_outcome(Word{bits}.epoch(), Outcome::success, Timing::none);
      } else if (word_.load(std::memory_order_acquire) != bits) [[unlikely]] {
        record_closed_outcome(Word{bits}.epoch(), Outcome::success, Timing::none);
      }
    } else {
      record_closed_value(static_cast<unsigned>(slot), bits, outcome);
    }
    return out.take();
  }

  /// Like `execute`, but on rejection or failure returns the fallback's value
  /// instead (the outcome is still recorded). A failure is an exception the
  /// policy classifies as one, or a value it classifies as one. An exception
  /// that is not a failure (a cancellation above all) is rethrown, never
  /// replaced. `fallback` is `() -> R` or `(const FallbackContext&) -> R`.
  /// Exceptions from `fallback` propagate.
  template <class F, class Fallback, class Policy = DefaultOutcomePolicy>
  std::invoke_result_t<F&> execute_with_fallback(F&& f, Fallback&& fallback, Policy policy = {}) {
    using R = std::invoke_result_t<F&>;
    using FallbackType = std::remove_reference_t<Fallback>;
    static_assert(!detail::is_awaitable_v<R>,
                  "execute_with_fallback() runs a synchronous function, but this callable "
                  "returns an asio::awaitable (a coroutine): its failures would never reach the "
                  "breaker. Use `co_await breaker.call_with_fallback(op, fallback)` instead.");
    static_assert(std::is_invocable_r_v<R, FallbackType&> ||
                      std::is_invocable_r_v<R, FallbackType&, const FallbackContext&>,
                  "the fallback must be callable with no arguments (or with "
                  "const breaker::FallbackContext&) and return the operation's type");
    Permit permit = try_acquire();
    if (!permit) {
      return static_cast<R>(detail::invoke_fallback(
          fallback, [this] { return context(FallbackReason::rejected, std::exception_ptr{}); }));
    }
    detail::Returned<R> out;
    try {
      out.invoke(f);
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      const Outcome outcome = detail::classify_exception(policy, error);
      permit.record(outcome);
      // Only a failure is replaced; a cancellation is not ours to hide.
      if (outcome != Outcome::failure || detail::is_cancelled(error)) throw;
      return static_cast<R>(detail::invoke_fallback(
          fallback, [this, &error] { return context(FallbackReason::failed, error); }));
    }
    const Outcome outcome = detail::classify_returned(policy, out);
    permit.record(outcome);
    if (outcome == Outcome::failure) {
      return static_cast<R>(detail::invoke_fallback(
          fallback, [this] { return context(FallbackReason::failed, std::exception_ptr{}); }));
    }
    return out.take();
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
  ///   the operation. Thread safety: any thread/executor; with `call_timeout`
  ///   the race between the operation and its timer runs on a strand the call
  ///   makes over the caller's executor, so a multi-threaded `io_context`
  ///   needs no strand of the caller's.
  /// Lifetimes: the breaker must outlive the call (until the awaiting
  ///   coroutine has resumed): keep it in a `std::shared_ptr` or a `Registry`
  ///   for as long as calls may run; debug builds abort when a breaker is
  ///   destroyed with calls in flight. g++ 12 pitfall: a lambda written inside
  ///   the `co_await` expression (`co_await cb.call([&] {...})`) has its
  ///   captures destroyed twice; name the lambda in a variable first
  ///   (`auto op = [&] {...}; co_await cb.call(op);`).
  ///
  /// With a `policy` (see `outcome.hpp`), the policy classifies the
  /// operation's value and exceptions; `call` returns the value even when it
  /// was classified as a failure (the failure is recorded, the caller still
  /// sees e.g. the 503 response). Without one, and for Asio error-code style
  /// operations (`awaitable<std::error_code>`, `awaitable<std::tuple<
  /// std::error_code, T>>`) either way, the code decides: `operation_aborted`
  /// ignored, other non-zero codes failure, zero success.
  template <class Op, class Policy = DefaultOutcomePolicy>
    requires detail::is_awaitable_v<std::invoke_result_t<Op&>>
  std::invoke_result_t<Op&> call(Op op, Policy policy = {}) {
    return run_closed_call(std::move(op), std::move(policy));
  }

  /// Like `call`, but on rejection, failure or timeout returns the fallback's
  /// value instead (the outcome is still recorded). A failure is an exception
  /// classified as one, or a value classified as one by `policy`. `fallback`
  /// is `() -> R`, `() -> asio::awaitable<R, E>`, or either taking
  /// `const FallbackContext&` (the reason, the exception, the breaker's name
  /// and state). An exception that is not a failure is rethrown; a
  /// cancellation is never replaced by the fallback. Lifetimes and thread
  /// safety as for `call`.
  template <class Op, class Fallback, class Policy = DefaultOutcomePolicy>
    requires detail::is_awaitable_v<std::invoke_result_t<Op&>>
  std::invoke_result_t<Op&> call_with_fallback(Op op, Fallback fallback, Policy policy = {}) {
    check_fallback<std::invoke_result_t<Op&>, Fallback>();
    return run_call(std::move(op), std::move(fallback), std::move(policy));
  }

 private:
  using Word = detail::StateWord;
  using Timing = detail::CallTiming;
  friend Permit;

  static const CircuitBreakerConfig& validated(const std::string& name,
                                               const CircuitBreakerConfig& config) {
    std::string message;
    if (config.validate(&message)) throw CircuitBreakerError(errc::invalid_config, name, message);
    return config;
  }

  time_point now() const noexcept { return clock_.now(); }

  // One counter per pair of different states (a state to itself is not a
  // transition: transitions(s, s) is 0).
  static constexpr std::size_t transition_pairs = state_count * (state_count - 1);
  static constexpr std::size_t index(State from, State to) noexcept {
    const auto f = static_cast<std::size_t>(from);
    const auto t = static_cast<std::size_t>(to);
    return f * (state_count - 1) + (t < f ? t : t - 1);
  }

  // The time left open, in whole milliseconds rounded up, for a rejection.
  std::optional<std::chrono::milliseconds> retry_after() const noexcept {
    const std::optional<duration> left = time_until_half_open();
    if (!left) return std::nullopt;
    return std::chrono::ceil<std::chrono::milliseconds>(*left);
  }

  [[noreturn]] void throw_open() const {
    throw CircuitBreakerError(errc::open, name_, "call rejected", retry_after());
  }

  // Tells the event listeners (and through them a registry's) of an event.
  // Cold; callers check events_.any() first. Used by the window policies
  // for failure_rate_exceeded and slow_call_rate_exceeded.
  [[gnu::noinline]] void emit_event(EventType type, State state, double rate = 0) const noexcept {
    events_.notify(CircuitBreakerEvent{type, name_, state, state, state,
                                       Word{word_.load(std::memory_order_acquire)}.epoch(), rate});
  }

  // --- observation and transitions -----------------------------------------

  // The state an observer sees; reads the clock only for a word with a
  // published deadline (open and not forced, or half-open with a maximum wait).
  State observe(Word w) const noexcept {
    if (!detail::deadline_may_pass(w)) return w.state();
    return detail::observed_state(w, deadline_.expired(w, now()));
  }

  // No end given: the breaker's own open period (policy, backoff, jitter).
  struct OwnPeriod {
    time_point operator()(time_point now) const noexcept { return now; }
  };

  // After the word changed from `from` to `to`. `end_of(now)` gives the end
  // of an open period set by open_for/open_until (OwnPeriod: computed here).
  template <class EndOf = OwnPeriod>
  void after_transition(Word from, Word to, EndOf end_of = {}) noexcept {
    constexpr bool own_period = std::is_same_v<EndOf, OwnPeriod>;
    // acquire_slow also comes here after taking a probe slot (same epoch):
    // only a new epoch starts a period or a wait.
    if (from.epoch() == to.epoch()) return;
    // Step 2 of the open-deadline protocol (the clock read after the word
    // changed; the backoff level, carried in `to`; the half-open maximum
    // wait): the shared detail::start_deadline, which the Relacy checks run too.
    detail::start_deadline(
        word_, deadline_, from, to, [this]() noexcept { return now(); },
        [this, &end_of](time_point t, std::uint32_t level) noexcept {
          if constexpr (!own_period) {
            return end_of(t);
          } else {
            (void)end_of;  // OwnPeriod: the config's policy gives the end
            return detail::open_period_end<duration>(config_.load(), t, level, jitter_);
          }
        },
        [this]() noexcept {
          return detail::ceil_duration<duration>(config_.load().max_wait_in_half_open);
        });
    if (from.state() == to.state()) return;
    transitions_[index(from.state(), to.state())].fetch_add(1, std::memory_order_relaxed);
    listeners_.notify(StateTransition{from.state(), to.state(), name_, to.epoch()});
    if (events_.any()) [[unlikely]] {
      events_.notify(CircuitBreakerEvent{EventType::state_transition, name_, to.state(),
                                         from.state(), to.state(), to.epoch(), 0});
    }
  }

  // reset(), force_open(), disable(), metrics_only(), open_for(): the CAS
  // loop is detail::transition_word (its memory orders are commented there).
  template <class Next, class EndOf = OwnPeriod>
  void transition_to(Next next_of, EndOf end_of = {}) noexcept {
    detail::transition_word(word_, next_of, [this, &end_of](Word from, Word to) noexcept {
      after_transition(from, to, end_of);
    });
  }

  // --- admission and outcomes ----------------------------------------------

  // The admission CAS loop is detail::acquire_word (at most one clock read
  // per rejection; its memory orders are commented there).
  Permit acquire_slow(std::uint64_t current, detail::Rules rules) noexcept {
    return detail::acquire_word(
        word_, deadline_, current, rules.limits(), [this]() noexcept { return now(); },
        [this](detail::Limits& limits) noexcept {
          // A new half-open episode may start: its close rule is in the full
          // config (read once per episode, off the closed path).
          limits.half_open_close = config_.load().half_open_close;
        },
        [this](Word from, Word to) noexcept { after_transition(from, to); },
        [this, rules](const detail::AcquireDecision& d) noexcept {
          if (!d.admitted) {
            counters_.add(detail::CallCounters::rejected);
            if (events_.any()) [[unlikely]] {  // one relaxed load while nobody listens
              emit_event(EventType::call_not_permitted, d.next.state());
            }
            return Permit{};
          }
          const std::uint64_t n =
              counters_.add_at(detail::thread_slot(), detail::CallCounters::admitted);
          // Disabled: totals only, no durations.
          const Timing timing =
              d.admitted_in == State::disabled ? Timing::none : timing_of(rules, n);
          return Permit{this, d.next.epoch(), d.admitted_in, timing, start_of(timing)};
        });
  }

  // Called by Permit::record, exactly once per admitted permit.
  void finish(const Permit& permit, Outcome outcome) noexcept {
    const unsigned slot = detail::thread_slot();
    record_duration(slot, permit.timing_, permit.start_);
    counters_.count_at(slot, outcome_counter(outcome));
    std::uint64_t current = word_.load(std::memory_order_acquire);
    if (permit.admitted_in_ == State::closed || permit.admitted_in_ == State::metrics_only) {
      // The common cases write nothing shared: a success in a steady closed
      // breaker, an ignored closed call, a stale closed outcome. (A shortcut
      // only: apply_outcome would find the same word and write nothing. A
      // breaker with a window is never steady: its successes go on below.)
      if (outcome == Outcome::ignored) return;
      if (outcome == Outcome::success && !detail::success_changes(Word{current}, permit.epoch_)) {
        return;
      }
      // A window (a windowed word is never steady, so its successes get
      // here); metrics_only records in it too, and never trips.
      const detail::Rules rules = config_.rules();
      if (rules.windowed()) {
        windowed_outcome(slot, permit.epoch_, outcome, permit.timing_, permit.admitted_in_);
        return;
      }
    } else if (permit.admitted_in_ == State::disabled) {
      return;  // totals only
    } else if (permit.admitted_in_ == State::half_open) {
      // A probe: the success-ratio rule needs the full config (half-open is
      // off the closed path).
      apply_outcome(current, permit.epoch_, permit.admitted_in_, outcome,
                    detail::Limits::from(config_.load()));
      return;
    }
    apply_outcome(current, permit.epoch_, permit.admitted_in_, outcome, config_.rules().limits());
  }

  static detail::CallCounters::Kind outcome_counter(Outcome outcome) noexcept {
    switch (outcome) {
      case Outcome::success:
        return detail::CallCounters::successful;
      case Outcome::failure:
        return detail::CallCounters::failed;
      case Outcome::ignored:
        break;
    }
    return detail::CallCounters::ignored;
  }

  // Publishes what an outcome does to the word (the CAS loop of
  // detail::apply_outcome, memory orders commented there), starting from
  // `current`, and reports a transition it made.
  void apply_outcome(std::uint64_t current, std::uint32_t epoch, State admitted_in,
                     Outcome outcome, const detail::Limits& limits) noexcept {
    detail::apply_outcome(word_, deadline_, current, epoch, admitted_in, outcome, limits,
                          [this](Word from, Word to, bool transition) noexcept {
                            if (transition) after_transition(from, to);
                          });
  }

  FallbackContext context(FallbackReason reason, std::exception_ptr error) const noexcept {
    return FallbackContext{reason, std::move(error), name_, state(), retry_after()};
  }

  // --- closed fast path (execute, call) -------------------------------------
  // A closed call with neither durations nor a call timeout needs no Permit:
  // it counts its admission, runs, and compares the word with the one it was
  // admitted on. Only an outcome that changes the word takes the CAS path.

  // A closed-state call of the coroutine fast path from admission to outcome:
  // the word it was admitted on and its duration timing. Armed (breaker set)
  // until the outcome is recorded; a frame destroyed before that
  // (cancellation by destruction) records its call as ignored, which changes
  // no word. Not armed: the call was not admitted on the fast path.
  struct ClosedCall {
    CircuitBreaker* breaker;
    std::uint64_t bits;
    std::uint64_t start;
    Timing timing;
    [[gnu::always_inline]] ~ClosedCall() {
      if (breaker != nullptr) [[unlikely]] breaker->record_abandoned_closed(timing, timed_start());
    }
    // The start of a timed call, 0 otherwise (a held call's start is never
    // written: one store fewer on the default path).
    [[gnu::always_inline]] std::uint64_t timed_start() const noexcept {
      return timing == Timing::timed ? start : 0;
    }
    // Arms an unarmed call in place (assigning a temporary would destroy an
    // armed temporary, recording a call).
    [[gnu::always_inline]] void arm(CircuitBreaker* b, std::uint64_t admitted_bits,
                                    std::uint64_t start_stamp, Timing call_timing) noexcept {
      breaker = b;
      bits = admitted_bits;
      start = start_stamp;
      timing = call_timing;
    }
    // Arms it for a held call (no start: see timed_start).
    [[gnu::always_inline]] void arm_held(CircuitBreaker* b, std::uint64_t admitted_bits) noexcept {
      breaker = b;
      bits = admitted_bits;
      timing = Timing::held;
    }
  };

  // Admission of the coroutine fast path: armed when closed without a call
  // timeout. One function, so that the rules, the word and the admission count
  // stay out of the coroutine frame (GCC keeps every variable whose scope
  // spans a suspension point in the frame).
  [[gnu::always_inline]] ClosedCall admit_closed_call() noexcept {
    const detail::Rules rules = config_.rules();
    const std::uint64_t bits = word_.load(std::memory_order_acquire);
    if (Word{bits}.state() != State::closed || rules.has_call_timeout()) [[unlikely]] {
      return ClosedCall{nullptr, bits, 0, Timing::none};
    }
    const unsigned slot = detail::exclusive_thread_slot();
    if (!rules.record_call_durations()) {
      counters_.count_at(slot, detail::CallCounters::admitted);
      return ClosedCall{this, bits, 0, Timing::none};
    }
    const std::uint64_t n = counters_.add_at(slot, detail::CallCounters::admitted);
    const Timing timing = durations_.is_sampled(n) ? Timing::timed : Timing::held;
    return ClosedCall{this, bits, start_of(timing), timing};
  }

  // The outcome of a fast-path call that returned (its value classified):
  // disarms it and records on the slot of the thread it finished on.
  [[gnu::always_inline]] void finish_closed_call(ClosedCall& call, Outcome outcome) noexcept {
    call.breaker = nullptr;
    const unsigned slot = detail::exclusive_thread_slot();
    record_duration(slot, call.timing, call.start);
    record_closed_value(slot, call.bits, outcome, call.timing);
  }

  // call()'s admission (run_closed_call): as admit_closed_call, but with no
  // call left on its fast path, so that no value has to survive one there
  // and the coroutine's code needs no callee-saved register beyond its frame
  // pointer (each of the three entries of a coroutine's actor saves every
  // register the actor uses anywhere). Arms `call` (in the frame) and
  // returns true when closed without a call timeout; otherwise leaves it
  // unarmed and returns false.
  [[gnu::always_inline]] bool admit_closed_coro(ClosedCall& call) noexcept {
    const detail::Rules rules = config_.rules();
    const std::uint64_t bits = word_.load(std::memory_order_acquire);
    if (Word{bits}.state() != State::closed || rules.has_call_timeout()) [[unlikely]] {
      call.breaker = nullptr;
      return false;
    }
    const std::size_t slot = detail::current_thread_slot;
    if (slot >= detail::exclusive_slots) [[unlikely]] {
      admit_closed_shared(call, rules, bits);
      return true;
    }
    detail::CallCounters::Line& line = counters_.exclusive_line(slot);
    if (!rules.record_call_durations()) {
      line.increment(detail::CallCounters::admitted);
      call.arm(this, bits, 0, Timing::none);
      return true;
    }
    const std::uint64_t n = line.bump(detail::CallCounters::admitted);
    // A timed sample (1 call in duration_sample_every) reads its start out of line.
    if (durations_.is_sampled(n)) [[unlikely]] {
      admit_closed_timed(call, bits);
      return true;
    }
    call.arm_held(this, bits);
    return true;
  }

  [[gnu::noinline]] void admit_closed_timed(ClosedCall& call, std::uint64_t bits) noexcept {
    call.arm(this, bits, detail::call_timestamp(clock_), Timing::timed);
  }

  // admit_closed_coro on a thread without an exclusive slot (its first call,
  // or beyond the exclusive slots), out of line.
  [[gnu::noinline]] void admit_closed_shared(ClosedCall& call, detail::Rules rules,
                                             std::uint64_t bits) noexcept {
    const unsigned slot = detail::thread_slot_slow();
    const Timing timing = timing_of(rules, counters_.add_at(slot, detail::CallCounters::admitted));
    call.arm(this, bits, start_of(timing), timing);
  }

  // call()'s outcome of a call that returned (run_closed_call): as
  // finish_closed_call, with the timed sample and a thread without an
  // exclusive slot out of line (no call on the fast path, see
  // admit_closed_coro).
  [[gnu::always_inline]] void finish_closed_coro(ClosedCall& call, Outcome outcome) noexcept {
    record_closed_coro(call, outcome);
    // Disarmed last, after every call on the way: the compiler then knows
    // that `call` is disarmed when it ends and drops its destructor's test.
    call.breaker = nullptr;
  }
  [[gnu::always_inline]] void record_closed_coro(const ClosedCall& call, Outcome outcome) noexcept {
    const std::size_t slot = detail::current_thread_slot;
    if (slot >= detail::exclusive_slots) [[unlikely]] {
      finish_closed_slow(call.bits, call.timed_start(), call.timing, outcome);
      return;
    }
    detail::CallCounters::Line& line = counters_.exclusive_line(slot);
    if (call.timing == Timing::held) [[likely]] {
      // A held call (the default config: durations sampled) is one more
      // pending held call of this slot (see detail/duration_histogram.hpp):
      // one increment on the same line.
      line.increment(detail::CallCounters::held);
    } else if (call.timing == Timing::timed) [[unlikely]] {
      finish_closed_slow(call.bits, call.start, call.timing, outcome);
      return;
    }
    if (outcome == Outcome::success) [[likely]] {
      line.increment(detail::CallCounters::successful);
      if (!closed_success_is_steady(call.bits)) [[unlikely]] {
        record_closed_outcome(Word{call.bits}.epoch(), Outcome::success, call.timing);
      }
      return;
    }
    record_closed_other(static_cast<unsigned>(slot), call.bits, outcome, call.timing);
  }

  // The value of a call admitted by admit_closed_coro, classified and its
  // outcome recorded; returned as it came. A policy that throws records the
  // call as ignored (the exception propagates).
  template <class Policy, class V>
  [[gnu::always_inline]] V&& finish_closed_value(ClosedCall& call, const Policy& policy,
                                                 V&& value) {
    Outcome outcome = Outcome::ignored;
    try {
      outcome = detail::classify_value(policy, std::as_const(value));
    } catch (...) {
      abandon_closed(call);
      throw;
    }
    finish_closed_coro(call, outcome);
    return std::forward<V>(value);
  }

  // Disarms `call` and records it as ignored (its duration too).
  [[gnu::noinline]] void abandon_closed(ClosedCall& call) noexcept {
    call.breaker = nullptr;
    record_abandoned_closed(call.timing, call.timed_start());
  }

  [[gnu::noinline]] void finish_closed_slow(std::uint64_t bits, std::uint64_t start, Timing timing,
                                            Outcome outcome) noexcept {
    const unsigned slot = detail::thread_slot();
    record_duration(slot, timing, start);
    record_closed_value(slot, bits, outcome, timing);
  }

  [[gnu::noinline]] void record_closed_other(unsigned slot, std::uint64_t bits, Outcome outcome,
                                             Timing timing) noexcept {
    record_closed_value(slot, bits, outcome, timing);
  }

  [[gnu::noinline]] void record_abandoned_closed(Timing timing, std::uint64_t start) noexcept {
    const unsigned slot = detail::thread_slot();
    record_duration(slot, timing, start);
    counters_.count_at(slot, detail::CallCounters::ignored);
  }

  // --- call durations (see detail/duration_histogram.hpp) ---------------------
  // Whether the n-th admission of this thread slot is untracked, held or timed.
  [[gnu::always_inline]] Timing timing_of(detail::Rules rules, std::uint64_t n) const noexcept {
    if (!rules.record_call_durations()) return Timing::none;
    return durations_.is_sampled(n) ? Timing::timed : Timing::held;
  }
  [[gnu::always_inline]] std::uint64_t start_of(Timing timing) const noexcept {
    // unlikely (a timed sample is 1 call in duration_sample_every): GCC then
    // keeps the timestamp's first-use calibration out of try_acquire.
    if (timing == Timing::timed) [[unlikely]] return detail::call_timestamp(clock_);
    return 0;
  }
  [[gnu::always_inline]] void record_duration(unsigned slot, Timing timing,
                                              std::uint64_t start) noexcept {
    if (timing == Timing::held) {
      durations_.record_held(slot, counters_);
    } else if (timing == Timing::timed) {
      record_timed_duration(slot, start);
    }
  }
  [[gnu::noinline]] void record_timed_duration(unsigned slot, std::uint64_t start) noexcept {
    durations_.record_timed(
        slot, detail::call_elapsed_ns<Clock>(start, detail::call_timestamp(clock_)), counters_);
  }

  // execute() when not closed, or on a thread without an exclusive slot.
  template <class F, class Policy>
  [[gnu::noinline]] std::invoke_result_t<F&> execute_general(F& f, const Policy& policy) {
    Permit permit = try_acquire();
    if (!permit) throw_open();
    return run_sync(f, permit, policy);
  }

  // Whether a closed success admitted on `admitted_bits` leaves the word as it
  // is (steady and unchanged since): then nothing shared is written.
  [[gnu::always_inline]] bool closed_success_is_steady(std::uint64_t admitted_bits) const noexcept {
    const bool steady_word = detail::closed_steady_bits(admitted_bits);
    return steady_word && word_.load(std::memory_order_acquire) == admitted_bits;
  }

  // execute()'s closed fast path for a timed sample, out of line.
  template <class F, class Policy>
  [[gnu::noinline]] std::invoke_result_t<F&> execute_timed(F& f, unsigned slot, std::uint64_t bits,
                                                           const Policy& policy) {
    const std::uint64_t start = detail::call_timestamp(clock_);
    detail::Returned<std::invoke_result_t<F&>> out;
    try {
      out.invoke(f);
    } catch (...) {
      record_closed_throw(policy, Word{bits}.epoch(), Timing::timed, start);
      throw;
    }
    const Outcome outcome = classify_closed_value(policy, out, slot);
    record_timed_duration(slot, start);
    record_closed_value(slot, bits, outcome, Timing::timed);
    return out.take();
  }

  // The closed fast paths of execute() (inline and timed): inside the handler
  // of the operation's exception, classify it and record the outcome; a policy
  // that throws records the call as ignored and its exception propagates.
  template <class Policy>
  void record_closed_throw(const Policy& policy, std::uint32_t epoch, Timing timing,
                           std::uint64_t start) {
    Outcome outcome = Outcome::ignored;
    try {
      outcome = detail::classify_exception(policy, std::current_exception());
    } catch (...) {
      record_closed_exception(epoch, Outcome::ignored, timing, start);
      throw;
    }
    record_closed_exception(epoch, outcome, timing, start);
  }

  // The value's outcome; a policy that throws (never the default one) counts
  // the call as ignored and its exception propagates.
  template <class Policy, class R>
  Outcome classify_closed_value(const Policy& policy, const detail::Returned<R>& out,
                                unsigned slot) {
    try {
      return detail::classify_returned(policy, out);
    } catch (...) {
      counters_.count_at(slot, detail::CallCounters::ignored);
      throw;
    }
  }

  // A classified closed outcome; with the default policy `outcome` is the
  // constant success and this is record_closed_success.
  // `timing`: how the call was timed (a timed call's duration is its slot's
  // last timed duration, which the slow-call rule reads).
  [[gnu::always_inline]] void record_closed_value(unsigned slot, std::uint64_t admitted_bits,
                                                  Outcome outcome,
                                                  Timing timing = Timing::none) noexcept {
    if (outcome == Outcome::success) [[likely]] {
      record_closed_success(slot, admitted_bits, timing);
      return;
    }
    counters_.count_at(slot, outcome_counter(outcome));
    if (outcome == Outcome::failure) {
      record_closed_outcome(Word{admitted_bits}.epoch(), outcome, timing);
    }
  }

  // A breaker with a window never has a steady word (see Limits::windowed),
  // so the window's hook costs the default path nothing: it lives in
  // record_closed_outcome, out of line.
  [[gnu::always_inline]] void record_closed_success(unsigned slot, std::uint64_t admitted_bits,
                                                    Timing timing = Timing::none) noexcept {
    counters_.count_at(slot, detail::CallCounters::successful);
    if (closed_success_is_steady(admitted_bits)) [[likely]] return;
    record_closed_outcome(Word{admitted_bits}.epoch(), Outcome::success, timing);
  }

  // The word (and window) update of a closed-state outcome whose count was
  // already added.
  // (The slot is looked up again here, off the fast path: passing it would
  // keep it live across the fast path's calls, 3 instructions per call.)
  [[gnu::noinline]] void record_closed_outcome(std::uint32_t epoch, Outcome outcome,
                                               Timing timing) noexcept {
    const detail::Rules rules = config_.rules();
    if (rules.windowed()) {
      // A tail call (the slot is looked up there, only when needed): this
      // path saves no register.
      windowed_outcome(unknown_slot, epoch, outcome, timing);
      return;
    }
    closed_outcome_word(epoch, outcome, rules);
  }

  // record_closed_outcome without a window (out of line, so that
  // record_closed_outcome's window branch is a bare tail call).
  [[gnu::noinline]] void closed_outcome_word(std::uint32_t epoch, Outcome outcome,
                                             detail::Rules rules) noexcept {
    apply_outcome(word_.load(std::memory_order_acquire), epoch, State::closed, outcome,
                  rules.limits());
  }

  // --- sliding window (see detail/sliding_window.hpp) -----------------------

  // A closed-state (or metrics_only) outcome of a breaker with a window:
  // into the window when it is current (same state and epoch: a stale
  // outcome is never counted), then the rates (closed only: after a failure,
  // a slow call, or when the window asks), then the word (consecutive rule,
  // volume).
  // The common case, a fast success into a clean count window on a steady
  // word (count_window.hpp, "clean-window fast path"), is three loads and
  // returns here, with no call and no saved register (six register
  // arguments: the rest is a tail call); everything else goes on in
  // windowed_outcome_general.
  [[gnu::noinline]] void windowed_outcome(unsigned slot, std::uint32_t epoch, Outcome outcome,
                                          Timing timing,
                                          State admitted_in = State::closed) noexcept {
    if (outcome == Outcome::success) [[likely]] {
      // acquire: pairs with update_config's release store of the pointer.
      detail::SlidingWindow* window = window_.load(std::memory_order_acquire);
      const Word w{word_.load(std::memory_order_acquire)};
      // A timed call's duration: its slot's last timed duration (recorded
      // just before, on this thread).
      if (window != nullptr && w.state() == admitted_in && w.epoch() == epoch &&
          detail::windowed_steady(w) &&
          (timing != Timing::timed ||
           !window->is_slow(durations_.last_timed_ns(slot != unknown_slot ? slot : detail::thread_slot())))) [[likely]] {
        if (window->clean_count_window(epoch)) [[likely]] return;
        if (window->shape().type == WindowType::time_based) {
          windowed_time_success(slot, epoch, window, admitted_in);
          return;
        }
      }
    }
    windowed_outcome_general(slot, epoch, outcome, timing, admitted_in);
  }

  // A fast success into a time window on a steady word (windowed_outcome):
  // the clock, the thread's own bucket, and the rates only when the window
  // asks (time moved on, or the gate hint).
  [[gnu::noinline]] void windowed_time_success(unsigned slot, std::uint32_t epoch,
                                               detail::SlidingWindow* window,
                                               State admitted_in) noexcept {
    if (slot == unknown_slot) slot = detail::thread_slot();
    const std::int64_t now_ns = window_now_ns();
    if (window->record_time_success(slot, epoch, now_ns) && admitted_in == State::closed) {
      check_rates(*window, epoch, now_ns, false);
    }
  }

  // windowed_outcome's `slot` when the caller has not looked it up.
  static constexpr unsigned unknown_slot = ~0u;

  [[gnu::noinline]] void windowed_outcome_general(unsigned slot, std::uint32_t epoch,
                                                  Outcome outcome, Timing timing,
                                                  State admitted_in) noexcept {
    if (slot == unknown_slot) slot = detail::thread_slot();
    const std::uint64_t current = word_.load(std::memory_order_acquire);
    const Word w{current};
    if (outcome == Outcome::ignored || w.state() != admitted_in || w.epoch() != epoch) return;
    // acquire: pairs with update_config's release store of the pointer.
    detail::SlidingWindow* window = window_.load(std::memory_order_acquire);
    if (window != nullptr) {
      const bool failure = outcome == Outcome::failure;
      const bool slow = timing == Timing::timed && window->is_slow(durations_.last_timed_ns(slot));
      const std::int64_t now_ns =
          window->shape().type == WindowType::time_based ? window_now_ns() : 0;
      const bool recheck = window->record(slot, epoch, now_ns, failure, slow);
      if (admitted_in == State::closed && (failure || slow || recheck) &&
          check_rates(*window, epoch, now_ns, failure)) {
        return;
      }
    }
    if (outcome == Outcome::success && detail::windowed_steady(w)) return;
    apply_outcome(current, epoch, admitted_in, outcome, config_.rules().limits());
  }

  // Decides the rates of `epoch`'s window; trips the breaker when one is
  // reached. Returns whether this call opened it.
  bool check_rates(detail::SlidingWindow& window, std::uint32_t epoch, std::int64_t now_ns,
                   bool failure) noexcept {
    const detail::WindowCounts counts = window.counts(epoch, now_ns);
    const detail::RateVerdict verdict = detail::decide_rates(counts, window.rules());
    window.mark_under_minimum(epoch, verdict == detail::RateVerdict::under_minimum);
    if (verdict != detail::RateVerdict::failure_rate &&
        verdict != detail::RateVerdict::slow_call_rate) {
      return false;
    }
    // The trip's CAS loop is detail::trip_on_rate (its memory orders are
    // commented there; the Relacy checks run it): open only while the word
    // is still closed in `epoch`.
    if (!detail::trip_on_rate(word_, epoch, failure,
                              [this](Word from, Word to) noexcept { after_transition(from, to); })) {
      return false;
    }
    // After the transition (its deadline is published first): listeners hear
    // closed -> open, then the rate that caused it, once per trip (only the
    // thread whose CAS opened the breaker gets here).
    if (events_.any()) [[unlikely]] {
      if (verdict == detail::RateVerdict::failure_rate) {
        emit_event(EventType::failure_rate_exceeded, State::open, detail::failure_rate_of(counts));
      } else {
        emit_event(EventType::slow_call_rate_exceeded, State::open,
                   detail::slow_call_rate_of(counts));
      }
    }
    return true;
  }

  // The window's time: the breaker's clock in nanoseconds since its epoch; for
  // a hardware clock its coarse variant (kernel tick resolution, a few ms;
  // a third of the cost of a precise read), which buckets of >= 1 ms
  // tolerate.
  std::int64_t window_now_ns() const noexcept {
    return detail::window_time_ns(clock_);
  }

  // Durations: on for record_call_durations or the slow-call rule (which
  // times every call). Throws bad_alloc only from enable().
  void apply_duration_settings(const CircuitBreakerConfig& config) {
    const bool slow = config.slow_call_duration_threshold.count() > 0;
    durations_.set_sample_every(slow ? 1 : config.duration_sample_every);
    if (config.record_call_durations || slow) durations_.enable();
  }

  // Installs the window `config` needs (update_config, under config_writer_):
  // the same shape keeps the window and its contents; a new shape gets a new
  // window with the old contents moved where they make sense
  // (SlidingWindow::copy_from). The old one is kept until the breaker is
  // destroyed: a call may still be writing it.
  void update_window(const CircuitBreakerConfig& config) {
    if (!config.uses_window()) return;
    const detail::WindowShape shape = detail::WindowShape::of(config);
    detail::SlidingWindow* current = window_.load(std::memory_order_acquire);
    const Word w{word_.load(std::memory_order_acquire)};
    if (current != nullptr && current->shape() == shape) {
      current->set_rules(config);
      current->recheck_after_update(w.epoch(), window_now_ns());
      return;
    }
    auto fresh = std::make_unique<detail::SlidingWindow>(shape, config);
    windows_.reserve(windows_.size() + 1);  // nothing can throw after this
    if (current != nullptr && (w.state() == State::closed || w.state() == State::metrics_only)) {
      const std::int64_t now_ns = window_now_ns();
      fresh->copy_from(*current, detail::thread_slot(), w.epoch(), now_ns);
      fresh->recheck_after_update(w.epoch(), now_ns);
    }
    windows_.push_back(std::move(fresh));
    // release: a call that loads the pointer sees the window built.
    window_.store(windows_.back().get(), std::memory_order_release);
  }

  [[gnu::noinline]] void record_closed_exception(std::uint32_t epoch, Outcome outcome, Timing timing,
                                                 std::uint64_t start) noexcept {
    Permit permit{this, epoch, State::closed, timing, start};
    permit.record(outcome);
  }

  // --- bodies of execute and call -------------------------------------------

  template <class F, class Policy>
  static std::invoke_result_t<F&> run_sync(F& f, Permit& permit, const Policy& policy) {
    detail::Returned<std::invoke_result_t<F&>> out;
    try {
      out.invoke(f);
    } catch (...) {
      permit.record(detail::classify_exception(policy, std::current_exception()));
      throw;
    }
    // Outside the try: one outcome, whatever follows.
    permit.record(detail::classify_returned(policy, out));
    return out.take();
  }

  template <class Awaitable, class Fallback>
  static constexpr void check_fallback() {
    using R = typename detail::awaitable_traits<Awaitable>::value_type;
    using Executor = typename detail::awaitable_traits<Awaitable>::executor_type;
    static_assert(std::is_invocable_v<Fallback&> || detail::takes_context_v<Fallback>,
                  "call_with_fallback: the fallback must be callable with no arguments or with "
                  "const breaker::FallbackContext&");
    if constexpr (std::is_invocable_v<Fallback&> || detail::takes_context_v<Fallback>) {
      using FR = detail::fallback_result_t<Fallback>;
      if constexpr (detail::is_awaitable_v<FR>) {
        static_assert(std::is_same_v<FR, asio::awaitable<R, Executor>>,
                      "call_with_fallback: a coroutine fallback must return the operation's "
                      "type, asio::awaitable<R, Executor> with the same R and executor");
      } else {
        static_assert(std::is_void_v<R> || std::is_convertible_v<FR, R>,
                      "call_with_fallback: the fallback must return the operation's value type "
                      "R (or asio::awaitable<R>), where the operation returns "
                      "asio::awaitable<R>");
      }
    }
  }

  // The coroutine behind call_with_fallback() and call()'s general path
  // (run_closed_call awaits it when not closed or with a call timeout):
  // admission (the closed fast path or a Permit), the operation (raced against call_timeout
  // when there is one), one classified outcome, then the value, the exception
  // or the fallback. One coroutine, with no co_await of our own between the
  // caller's and the operation's: Asio checks the caller's cancellation at
  // every co_await of an awaitable (throw_if_cancelled), and an extra one
  // would turn a call admitted and recorded as ignored into one never
  // admitted, or a recorded timeout into a cancellation.
  template <class Op, class Fallback, class Policy>
  std::invoke_result_t<Op&> run_call(Op op, Fallback fallback, Policy policy) {
    using Traits = detail::awaitable_traits<std::invoke_result_t<Op&>>;
    using R = typename Traits::value_type;
    using Executor = typename Traits::executor_type;
    constexpr bool has_fallback = !std::is_same_v<Fallback, detail::NoFallback>;
    std::exception_ptr error;  // the exception, when there was one
    FallbackReason reason = FallbackReason::failed;
    // The admission in one function, so that the rules, the word and the
    // admission count stay out of the coroutine frame.
    ClosedCall call = admit_closed_call();
    if (call.breaker != nullptr) [[likely]] {
      // Closed fast path, as in execute(), with two differences: the
      // coroutine may resume on another thread, so counts after the await
      // look up the thread's slot again; and a frame destroyed while
      // suspended must still record its call (as ignored), which `call` does.
      detail::Returned<R> out;
      try {
        if constexpr (std::is_void_v<R>) {
          co_await op();
          out.set();
        } else {
          out.set(co_await op());
        }
      } catch (...) {
        error = std::current_exception();
      }
      if (!error) [[likely]] {
        // Classified while the call is still armed: a policy that throws
        // leaves it recorded as ignored.
        const Outcome outcome = detail::classify_returned(policy, out);
        finish_closed_call(call, outcome);
        // Outside any try: one outcome per call.
        if (!has_fallback || outcome != Outcome::failure) [[likely]] co_return out.take();
      } else {
        const Outcome outcome = detail::classify_exception(policy, error);
        call.breaker = nullptr;
        record_closed_exception(Word{call.bits}.epoch(), outcome, call.timing, call.start);
        if (!has_fallback || outcome != Outcome::failure) std::rethrow_exception(error);
      }
    } else {
      Permit permit = try_acquire();
      if (!permit) {
        if constexpr (!has_fallback) throw_open();
        reason = FallbackReason::rejected;
      } else {
        std::optional<std::chrono::milliseconds> timeout;
        if (config_.rules().has_call_timeout()) {
          // The config may have changed since the rules were read: 0 is none.
          if (const auto t = config_.load().call_timeout; t.count() > 0) timeout = t;
        }
        detail::Returned<R> out;
        if (timeout) {
          const time_point deadline = now() + detail::ceil_duration<duration>(*timeout);
          auto raced = co_await detail::race<R, Executor>(op, clock_, deadline);
          if (raced.index() == 1) {
            permit.record(config_.rules().count_timeout_as_failure() ? Outcome::failure
                                                                     : Outcome::ignored);
            error = std::make_exception_ptr(
                CircuitBreakerError(errc::timeout, name_, "call timed out"));
            if constexpr (!has_fallback) std::rethrow_exception(error);
            reason = FallbackReason::timed_out;
          } else {
            detail::Captured<R>& captured = std::get<0>(raced);
            out = std::move(captured.value);
            error = captured.error;
          }
        } else {
          try {
            if constexpr (std::is_void_v<R>) {
              co_await op();
              out.set();
            } else {
              out.set(co_await op());
            }
          } catch (...) {
            error = std::current_exception();
          }
        }
        if (reason != FallbackReason::timed_out) {
          if (!error) {
            const Outcome outcome = detail::classify_returned(policy, out);
            permit.record(outcome);
            // Outside any try: one outcome per call.
            if (!has_fallback || outcome != Outcome::failure) co_return out.take();
          } else {
            const Outcome outcome = detail::classify_exception(policy, error);
            permit.record(outcome);
            if (!has_fallback || outcome != Outcome::failure) std::rethrow_exception(error);
          }
        }
      }
    }
    // Rejected, failed or timed out, with a fallback. A cancellation never
    // selects the fallback, whatever a policy made of it.
    if constexpr (has_fallback) {
      if (detail::is_cancelled(error)) std::rethrow_exception(error);
      // The context lives in this frame: a coroutine fallback keeps a reference
      // to it until its awaitable completes. Built only for a fallback taking
      // it (it reads the state). Named, not written inside the co_await (the
      // g++ 12 pitfall).
      std::optional<FallbackContext> ctx;
      const auto make_context = [this, &ctx, &reason, &error]() -> const FallbackContext& {
        return ctx.emplace(context(reason, error));
      };
      if constexpr (detail::is_awaitable_v<detail::fallback_result_t<Fallback>>) {
        co_return co_await detail::invoke_fallback(fallback, make_context);
      } else {
        co_return static_cast<R>(detail::invoke_fallback(fallback, make_context));
      }
    } else {
      std::rethrow_exception(error);  // not reached: every path above returned or threw
    }
  }

  // call()'s coroutine: the closed fast path alone, so that its frame and
  // code stay small. Anything else (not closed, or a call timeout) goes to
  // run_call, awaited as this coroutine's first co_await, before anything
  // was admitted or counted: Asio checks the caller's cancellation there as
  // it did at the caller's own co_await just before, with nothing run in
  // between, so a call that gets past the caller's check gets past this one.
  template <class Op, class Policy>
  std::invoke_result_t<Op&> run_closed_call(Op op, Policy policy) {
    using R = typename detail::awaitable_traits<std::invoke_result_t<Op&>>::value_type;
    // Armed (every field set) or not (breaker null) by admit_closed_coro.
    ClosedCall call;
    if (!admit_closed_coro(call)) [[unlikely]] {
      co_return co_await run_call(std::move(op), detail::NoFallback{}, std::move(policy));
    }
    try {
      if constexpr (std::is_void_v<R>) {
        co_await op();
      } else {
        R value = co_await op();
        // The value goes from the operation to the caller, classified and
        // recorded on the way (finish_closed_value), as a pass-through
        // coroutine would return it. (Its own statement: the operation's
        // awaitable is gone by then, so nothing runs between the disarm and
        // the end of `call`, and its destructor's test folds away.)
        co_return finish_closed_value(call, policy, std::move(value));
      }
    } catch (...) {
      // Recorded inside the handler and rethrown as it is (no exception_ptr
      // kept in the frame). Already disarmed: the outcome is recorded (a
      // policy that threw, or moving the value to the caller), only rethrown.
      if (call.breaker == nullptr) throw;
      call.breaker = nullptr;
      record_closed_throw(policy, Word{call.bits}.epoch(), call.timing, call.timed_start());
      throw;
    }
    if constexpr (std::is_void_v<R>) finish_closed_coro(call, Outcome::success);
  }

  // --- members ---------------------------------------------------------------

  // Layout (x86-64, steady_clock; see docs/performance.md, "Memory per
  // breaker"): the hot line first, then the cold members, then the counter
  // lines, so that the cold members fill what would otherwise be padding
  // before the 64-byte-aligned counters (896 bytes in all).
  //
  // Hot line: the word (read on every call, written on transitions and closed
  // failures) and the rule word (read on every call, written by update_config).
  alignas(64) std::atomic<std::uint64_t> word_{0};
  detail::ConfigCell config_;
  [[no_unique_address]] Clock clock_;
  detail::OpenDeadline<Clock> deadline_;

  // Read by calls (the sampling mask; the stripes pointer of timed calls),
  // written only when the config changes.
  detail::DurationHistogram durations_;
  // The current window (null without a window rule), and every window this
  // breaker made (update_config retires, never frees, a window a call may
  // still be writing).
  std::atomic<detail::SlidingWindow*> window_{nullptr};
  std::vector<std::unique_ptr<detail::SlidingWindow>> windows_;
  // Written on transitions only.
  std::array<std::atomic<std::uint64_t>, transition_pairs> transitions_{};
  detail::JitterGenerator jitter_;

  // Cold.
  std::string name_;
  detail::ListenerList listeners_;
  detail::EventListenerList events_;

  // One line per thread slot: the only lines a closed success writes.
  detail::CallCounters counters_;
};

}  // namespace breaker
