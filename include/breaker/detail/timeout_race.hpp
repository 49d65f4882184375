// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `call_timeout`: an operation raced against a deadline measured on the
/// breaker's clock.
///
/// The race has two branches (the operation and a timer) that Asio's
/// `operator||` runs concurrently and whose completions emit cancellation
/// signals at each other. On a multi-threaded `io_context` without strands the
/// branches would run on different threads at once and race inside
/// `cancellation_signal::emit`. The library introduces that concurrency, so it
/// serialises it itself: the whole race runs on a strand it makes over the
/// caller's executor, and the caller's own cancellation reaches the race only
/// through that strand. With an executor type that cannot hold a strand (a
/// concrete executor such as `io_context::executor_type`), the race runs
/// directly on it; use `any_io_executor` (the default) or a strand then.

#include "breaker/detail/awaitable_traits.hpp"

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <type_traits>
#include <variant>

namespace breaker::detail {

/// Clocks whose time moves by itself, so a timer can wait for the whole
/// remaining duration at once; any other clock (a test clock) is polled.
template <class Clock>
inline constexpr bool is_real_clock_v = std::is_same_v<Clock, std::chrono::steady_clock> ||
                                        std::is_same_v<Clock, std::chrono::system_clock> ||
                                        std::is_same_v<Clock, std::chrono::high_resolution_clock>;

/// How often a `call_timeout` deadline is checked against a non-real clock.
inline constexpr std::chrono::milliseconds test_clock_poll_interval{1};

/// The result of an operation raced against a timeout: a value or an exception.
template <class R>
struct Captured {
  Returned<R> value;
  std::exception_ptr error;
};

/// Awaits `op()` and captures its value or exception (never throws, so the
/// first branch of the race to finish wins: asio 1.22's operator|| waits for
/// the first *success*).
template <class R, class Executor, class Op>
asio::awaitable<Captured<R>, Executor> capture(Op& op) {
  Captured<R> out;
  try {
    if constexpr (std::is_void_v<R>) {
      co_await op();
      out.value.set();
    } else {
      out.value.set(co_await op());
    }
  } catch (...) {
    out.error = std::current_exception();
  }
  co_return out;
}

/// Waits until `clock.now() >= deadline` (polling a test clock).
template <class Executor, class Clock>
asio::awaitable<void, Executor> sleep_until(const Clock& clock,
                                            typename Clock::time_point deadline) {
  using steady = std::chrono::steady_clock;
  asio::basic_waitable_timer<steady, asio::wait_traits<steady>, Executor> timer(
      co_await asio::this_coro::executor);
  for (;;) {
    const auto t = clock.now();
    if (t >= deadline) co_return;
    steady::duration step = std::chrono::ceil<steady::duration>(deadline - t);
    if constexpr (!is_real_clock_v<Clock>) {
      step = std::min<steady::duration>(step, test_clock_poll_interval);
    }
    timer.expires_after(std::max<steady::duration>(step, steady::duration{1}));
    co_await timer.async_wait(asio::use_awaitable_t<Executor>{});
  }
}

/// Index 0: the operation finished (value or exception); index 1: timed out
/// (the operation was cancelled and has stopped).
template <class R>
using RaceResult = std::variant<Captured<R>, std::monostate>;

/// The race on the current executor (the strand, when called from `race`).
template <class R, class Executor, class Clock, class Op>
asio::awaitable<RaceResult<R>, Executor> race_here(Op& op, const Clock& clock,
                                                    typename Clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  co_return co_await (capture<R, Executor>(op) || sleep_until<Executor>(clock, deadline));
}

/// Races `op()` against `deadline` on `clock`, serialised on a strand.
/// `op` and `clock` must stay alive until the returned awaitable completes.
template <class R, class Executor, class Clock, class Op>
asio::awaitable<RaceResult<R>, Executor> race(Op& op, const Clock& clock,
                                               typename Clock::time_point deadline) {
  if constexpr (std::is_convertible_v<asio::strand<Executor>, Executor>) {
    const Executor executor = co_await asio::this_coro::executor;
    const asio::strand<Executor> strand = asio::make_strand(executor);
    // The caller's cancellation is re-emitted on the strand: the race's own
    // signals are only ever touched there. Shared, so that a late emit after
    // the race is over finds a live (and empty) signal.
    auto forward = std::make_shared<asio::cancellation_signal>();
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    asio::cancellation_slot outer = state.slot();
    if (outer.is_connected()) {
      outer.assign([forward, strand](asio::cancellation_type type) {
        asio::dispatch(strand, [forward, type] { forward->emit(type); });
      });
    }
    RaceResult<R> result = co_await asio::co_spawn(
        strand, race_here<R, Executor>(op, clock, deadline),
        asio::bind_cancellation_slot(forward->slot(), asio::use_awaitable_t<Executor>{}));
    if (outer.is_connected()) outer.clear();
    co_return result;
  } else {
    co_return co_await race_here<R, Executor>(op, clock, deadline);
  }
}

}  // namespace breaker::detail
