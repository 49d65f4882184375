// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `NotifierWithBreaker<Sender, Clock>`: a destination behind a circuit breaker, a bounded
/// retry queue and an optional spool, so that no notification is lost; and the seed's
/// names `SlackSenderWithBreaker`, `PagerDutySenderWithBreaker`,
/// `WebhookSenderWithBreaker`, `EmailSenderWithBreaker`.

#include "breaker/notify/delivery.hpp"
#include "breaker/notify/email.hpp"
#include "breaker/notify/error.hpp"
#include "breaker/notify/incident.hpp"
#include "breaker/notify/pagerduty.hpp"
#include "breaker/notify/retry_queue.hpp"
#include "breaker/notify/sender.hpp"
#include "breaker/notify/slack.hpp"
#include "breaker/notify/spool.hpp"
#include "breaker/notify/webhook.hpp"

#include "breaker/circuit_breaker.hpp"
#include "breaker/config.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace breaker::notify {

/// What happened to a notification given to `NotifierWithBreaker::send` by the end of
/// its first attempt.
enum class SendStatus : std::uint8_t {
  /// Delivered at the first attempt.
  delivered,
  /// Accepted and queued for a retry: the breaker rejected the attempt (open) or it
  /// failed transiently. It will be delivered, in order, once the destination takes
  /// calls again.
  queued,
  /// Refused for good by the destination (reported to `on_permanent_failure`).
  failed_permanently,
  /// Not accepted: the queue was full (`OverflowPolicy::reject_newest`; reported to
  /// `on_overflow`).
  overflow,
  /// Dropped from the queue later to make room for newer ones
  /// (`OverflowPolicy::drop_oldest`; reported to `on_overflow`).
  dropped,
  /// The notifier stopped before the first attempt (with a spool the notification is
  /// still on disk and is replayed by the next notifier on the same spool).
  stopped,
};

/// Why `on_overflow` was called.
enum class OverflowReason : std::uint8_t {
  rejected_newest,  ///< The new notification was refused (queue full).
  dropped_oldest,   ///< This queued notification was dropped for a newer one.
};

/// The result of `NotifierWithBreaker::submit`.
struct Accepted {
  /// True when the notification was accepted (queued, and spooled if there is a spool).
  bool accepted = false;
  /// The notification's message id (also when not accepted).
  std::string notification_id;
};

/// Counters of one notifier (monotonic since construction, except `queued`).
struct NotifierStats {
  std::uint64_t accepted = 0;             ///< Accepted by submit/send.
  std::uint64_t replayed = 0;             ///< Recovered from the spool at start.
  std::uint64_t delivered = 0;            ///< Delivered.
  std::uint64_t attempts = 0;             ///< Attempts made (breaker admitted them).
  std::uint64_t transient_failures = 0;   ///< Attempts that failed transiently.
  std::uint64_t rejected_by_breaker = 0;  ///< Attempts the open breaker rejected.
  std::uint64_t permanent_failures = 0;   ///< Notifications refused for good.
  std::uint64_t overflowed = 0;           ///< Refused or dropped by the overflow rule.
  std::uint64_t queued = 0;               ///< In the queue now (the one in flight included).
};

/// Settings of a `NotifierWithBreaker`.
struct NotifierOptions {
  /// The breaker's config (ignored when a breaker is passed in).
  CircuitBreakerConfig breaker = CircuitBreakerConfig::for_notifications();
  /// The retry queue: capacity, overflow rule, backoff.
  RetryQueueOptions queue{};
  /// Directory of the spool; empty: no spool (a process exit loses what is queued).
  std::filesystem::path spool_dir{};
  SpoolOptions spool{};
  /// Called for every notification the overflow rule refuses or drops (never silent).
  /// Runs on the thread that called submit/send; must not call back into the notifier.
  std::function<void(const Notification&, OverflowReason)> on_overflow{};
  /// Called for every notification the destination refused for good. Runs on the
  /// notifier's strand; must not block.
  std::function<void(const Notification&, const DeliveryResult&)> on_permanent_failure{};
  /// Called for every delivered notification. Runs on the notifier's strand.
  std::function<void(const Notification&)> on_delivered{};
};

namespace detail {

/// How often a wait measured on a clock that does not move by itself (a test clock)
/// is re-checked.
inline constexpr std::chrono::milliseconds notifier_poll_interval{2};

template <class S, class Clock>
struct NotifierState {
  using Channel = asio::experimental::concurrent_channel<void(std::error_code, SendStatus)>;

  NotifierState(asio::any_io_executor ex, S s, NotifierOptions o, Clock c,
                std::shared_ptr<CircuitBreaker<Clock>> b)
      : strand(asio::make_strand(ex)),
        wake(strand),
        sender(std::move(s)),
        options(std::move(o)),
        clock(std::move(c)),
        breaker(std::move(b)),
        queue(options.queue) {}

  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer wake;  // used on the strand only
  asio::cancellation_signal cancel;  // emitted on the strand only
  S sender;
  NotifierOptions options;
  Clock clock;
  std::shared_ptr<CircuitBreaker<Clock>> breaker;

  mutable std::mutex mutex;  // guards everything below
  RetryQueue<Clock> queue;
  std::optional<Spool> spool;
  std::uint64_t next_seq = 1;  // without a spool
  bool stopped = false;
  bool drain_finished = false;
  std::map<std::string, std::shared_ptr<Channel>> waiters;  // send() awaiting a first attempt
  NotifierStats stats;

  void complete_waiter(const std::string& id, SendStatus status) {  // with mutex held
    auto it = waiters.find(id);
    if (it == waiters.end()) return;
    it->second->try_send(std::error_code{}, status);
    waiters.erase(it);
  }
};

}  // namespace detail

/// One destination (a `Sender`) behind a circuit breaker, with nothing lost.
///
/// Every notification goes through one FIFO per destination: `submit`/`send` accept it
/// (append it to the spool and `fdatasync` first, when there is one), a drain loop on the
/// notifier's strand attempts them one at a time in order. An attempt asks the breaker
/// first (`try_acquire`): while it is open the notification waits (`rejected_retry`) and
/// no connection is made; an admitted attempt is classified (`DeliveryKind`) and recorded
/// (transient = failure, delivered/permanent = success, cancelled = ignored). Transient
/// failures stay at the front and are retried with backoff; so when the breaker lets
/// calls through again the queue drains in order. Delivery is at-least-once: each
/// notification keeps its message id across retries and replays.
///
/// Overflow: the queue holds at most `queue.capacity`; the `queue.overflow` rule refuses
/// the new one (default) or drops the oldest waiting one; either is counted in
/// `stats().overflowed` and reported to `on_overflow`.
///
/// Time: backoff and rejected-retry waits are measured on `Clock` (the breaker's);
/// with a test clock they are polled every 2 ms of real time.
///
/// Thread safety: every member may be called concurrently from any thread (a mutex
/// guards the queue; the drain runs on an internal strand), also on a multi-threaded
/// `io_context`. Lifetime: the sender (and the `http::Client` it uses) must stay valid
/// until `stop()` completed or the executor stopped running; destroying the notifier
/// requests a stop (it cancels the attempt in flight, which stays queued and spooled).
/// Exception safety: `submit` is strong (an exception means not accepted).
template <Sender S, class Clock = std::chrono::steady_clock>
class NotifierWithBreaker {
 public:
  using sender_type = S;
  using breaker_type = CircuitBreaker<Clock>;

  /// A notifier with its own breaker named `notify.<destination>` (config
  /// `options.breaker`, by default `for_notifications()`).
  /// \throws std::system_error for invalid options (`errc::invalid_config`,
  ///   `breaker::errc::invalid_config`) or a spool that cannot be opened
  ///   (`errc::spool_locked`, `errc::spool_corrupt`, I/O errors).
  NotifierWithBreaker(asio::any_io_executor executor, S sender, NotifierOptions options = {},
                      Clock clock = {})
      : NotifierWithBreaker(executor, std::move(sender), std::move(options), clock, nullptr) {}

  /// A notifier using an existing breaker (e.g. from a `Registry`).
  NotifierWithBreaker(asio::any_io_executor executor, S sender, std::shared_ptr<breaker_type> breaker,
                      NotifierOptions options = {}, Clock clock = {})
      : NotifierWithBreaker(executor, std::move(sender), std::move(options), clock, std::move(breaker)) {}

  NotifierWithBreaker(const NotifierWithBreaker&) = delete;
  NotifierWithBreaker& operator=(const NotifierWithBreaker&) = delete;

  /// Requests a stop (see `stop`) without waiting for it.
  ~NotifierWithBreaker() { request_stop(state_); }

  /// Accepts a notification about `incident` (a new message id) without waiting for it
  /// to be sent. Blocks for the spool's `fdatasync` when there is a spool.
  /// \returns `accepted == false` when the overflow rule refused it (reported to
  ///   `on_overflow`); otherwise it will be attempted.
  /// \throws std::system_error(errc::invalid_incident) naming the field;
  ///   `errc::stopped` after a stop; spool I/O errors (then it is not accepted).
  Accepted submit(const Incident& incident) { return accept(incident, nullptr); }

  /// Accepts a notification at once (as `submit`, before returning the awaitable) and
  /// returns an awaitable for its first attempt (which comes after those queued before it).
  /// \returns what became of it (`SendStatus`); `overflow` when it was not accepted.
  /// \throws as `submit` (at the call, not at the `co_await`). Cancellation: cancelling the
  ///   awaiting coroutine stops the wait only; the notification stays accepted.
  asio::awaitable<SendStatus> send(const Incident& incident) {
    auto channel = std::make_shared<Channel>(state_->strand.get_inner_executor(), 1);
    const Accepted accepted = accept(incident, channel);
    return wait_first_attempt(accepted.accepted ? std::move(channel) : nullptr);
  }

  /// Stops the drain: cancels the attempt in flight (it stays queued, and spooled),
  /// completes pending `send` waits with `stopped`, and returns once the drain loop has
  /// finished. Idempotent. Afterwards `submit` throws `errc::stopped`.
  asio::awaitable<void> stop() {
    request_stop(state_);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      {
        std::lock_guard lock(state_->mutex);
        if (state_->drain_finished) co_return;
      }
      timer.expires_after(detail::notifier_poll_interval);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  /// Returns once the queue is empty (everything delivered or finished otherwise), polling
  /// every 2 ms. For tests, examples and orderly shutdowns.
  asio::awaitable<void> drained() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      {
        std::lock_guard lock(state_->mutex);
        if (state_->queue.empty() || state_->stopped) co_return;
      }
      timer.expires_after(detail::notifier_poll_interval);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  /// A snapshot of the counters (consistent with each other). Not taken together with
  /// the breaker's state: an attempt's outcome reaches the breaker first and these counters
  /// just after, so a caller that sees the breaker open may still read the counts from
  /// before the attempt that opened it. Thread safety: any thread.
  NotifierStats stats() const {
    std::lock_guard lock(state_->mutex);
    NotifierStats s = state_->stats;
    s.queued = state_->queue.size();
    return s;
  }

  /// The notifications queued now, front first (a copy).
  std::vector<Notification> queued() const {
    std::lock_guard lock(state_->mutex);
    return {state_->queue.entries().begin(), state_->queue.entries().end()};
  }

  /// The breaker.
  breaker_type& breaker() noexcept { return *state_->breaker; }
  const breaker_type& breaker() const noexcept { return *state_->breaker; }
  /// The sender.
  S& sender() noexcept { return state_->sender; }
  /// The destination's name.
  std::string destination() const { return std::string(state_->sender.destination()); }

 private:
  using State = detail::NotifierState<S, Clock>;
  using Channel = typename State::Channel;

  NotifierWithBreaker(asio::any_io_executor executor, S sender, NotifierOptions options, Clock clock,
                      std::shared_ptr<breaker_type> breaker) {
    const std::string name = std::string(sender.destination());
    if (!breaker) breaker = std::make_shared<breaker_type>("notify." + name, options.breaker, clock);
    state_ = std::make_shared<State>(executor, std::move(sender), std::move(options), clock,
                                     std::move(breaker));
    if (!state_->options.spool_dir.empty()) {
      state_->spool.emplace(state_->options.spool_dir, name, state_->options.spool);
      for (const Notification& n : state_->spool->recovered()) {
        state_->queue.push(n, /*beyond_capacity=*/true);
        ++state_->stats.replayed;
      }
    }
    asio::co_spawn(state_->strand, drain(state_),
                   asio::bind_cancellation_slot(state_->cancel.slot(), asio::detached));
  }

  Accepted accept(const Incident& incident, const std::shared_ptr<Channel>& waiter) {
    std::string message;
    if (const auto ec = validate(incident, &message)) throw std::system_error(ec, message);
    Notification n{make_notification_id(), 0, incident};
    Accepted result{false, n.id};
    std::optional<Notification> displaced;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->stopped) throw std::system_error(make_error_code(errc::stopped), "notifier stopped");
      auto& queue = state_->queue;
      const bool full = queue.size() >= queue.options().capacity;
      const bool can_drop = queue.options().overflow == OverflowPolicy::drop_oldest &&
                            (!queue.in_flight() || queue.size() > 1);
      if (full && !can_drop) {
        ++state_->stats.overflowed;
        displaced.emplace(std::move(n));
      } else {
        if (state_->spool) {
          state_->spool->append(n);  // throws: not accepted, nothing changed
        } else {
          n.seq = state_->next_seq++;
        }
        PushResult pushed = queue.push(n);
        ++state_->stats.accepted;
        result.accepted = true;
        if (waiter) state_->waiters.emplace(n.id, waiter);
        if (pushed.displaced) {
          ++state_->stats.overflowed;
          if (state_->spool) state_->spool->mark_done(pushed.displaced->seq);
          state_->complete_waiter(pushed.displaced->id, SendStatus::dropped);
          displaced = std::move(pushed.displaced);
        }
      }
    }
    if (displaced && state_->options.on_overflow) {
      state_->options.on_overflow(*displaced, result.accepted ? OverflowReason::dropped_oldest
                                                              : OverflowReason::rejected_newest);
    }
    if (result.accepted) {
      asio::post(state_->strand, [state = state_] { state->wake.cancel(); });
    }
    return result;
  }

  static asio::awaitable<SendStatus> wait_first_attempt(std::shared_ptr<Channel> channel) {
    if (!channel) co_return SendStatus::overflow;
    auto [ec, status] = co_await channel->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return SendStatus::stopped;
    co_return status;
  }

  static void request_stop(const std::shared_ptr<State>& state) {
    {
      std::lock_guard lock(state->mutex);
      if (state->stopped) return;
      state->stopped = true;
    }
    asio::post(state->strand, [state] {
      state->cancel.emit(asio::cancellation_type::terminal);
      state->wake.cancel();
    });
  }

  // Waits on the strand's timer until `d` passed or a wake-up; never throws.
  static asio::awaitable<void> wait_for(State& state, std::chrono::steady_clock::duration d) {
    state.wake.expires_after(d);
    std::error_code ignored;
    co_await state.wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }

  static asio::awaitable<void> drain(std::shared_ptr<State> state) {
    using time_point = typename Clock::time_point;
    constexpr bool real_clock = breaker::detail::is_real_clock_v<Clock>;
    for (;;) {
      std::optional<Notification> attempt;
      std::optional<time_point> due;
      bool stopped = false;
      const time_point now = state->clock.now();
      {
        std::lock_guard lock(state->mutex);
        stopped = state->stopped;
        if (!stopped) {
          if (const Notification* front = state->queue.begin_attempt(now)) {
            attempt = *front;  // a copy: drop_oldest may move entries meanwhile
          } else {
            due = state->queue.next_due();
          }
        }
      }
      if (stopped) break;
      if (!attempt) {
        std::chrono::steady_clock::duration wait = std::chrono::hours(24);
        if (due) {
          wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(*due - now);
          if constexpr (!real_clock) wait = std::min<std::chrono::steady_clock::duration>(wait, detail::notifier_poll_interval);
          wait = std::max<std::chrono::steady_clock::duration>(wait, std::chrono::microseconds(100));
        }
        co_await wait_for(*state, wait);
        continue;
      }

      auto permit = state->breaker->try_acquire();
      if (!permit) {
        std::lock_guard lock(state->mutex);
        state->queue.finish_rejected(state->clock.now());
        ++state->stats.rejected_by_breaker;
        state->complete_waiter(attempt->id, SendStatus::queued);
        continue;
      }

      DeliveryResult result;
      try {
        result = co_await state->sender.send(*attempt);
      } catch (const std::system_error& e) {
        if (e.code() == errc::invalid_incident) {
          result.kind = DeliveryKind::permanent;
        } else if (e.code() == asio::error::operation_aborted) {
          result.kind = DeliveryKind::cancelled;
        } else {
          result.kind = DeliveryKind::transient;
        }
        result.detail = e.what();
      } catch (const std::exception& e) {
        result.kind = DeliveryKind::transient;  // retried, never lost
        result.detail = e.what();
      }
      permit.record(breaker_outcome(result.kind));

      std::optional<Notification> finished;
      {
        std::lock_guard lock(state->mutex);
        if (result.kind != DeliveryKind::cancelled) ++state->stats.attempts;
        switch (result.kind) {
          case DeliveryKind::delivered:
          case DeliveryKind::permanent: {
            finished = state->queue.finish_removed();
            if (state->spool) {
              try {
                state->spool->mark_done(finished->seq);
              } catch (const std::exception&) {
                // Not recorded as done: it is sent again after a restart (at-least-once).
              }
            }
            if (result.kind == DeliveryKind::delivered) {
              ++state->stats.delivered;
              state->complete_waiter(finished->id, SendStatus::delivered);
            } else {
              ++state->stats.permanent_failures;
              state->complete_waiter(finished->id, SendStatus::failed_permanently);
            }
            break;
          }
          case DeliveryKind::transient:
            state->queue.finish_transient(state->clock.now());
            ++state->stats.transient_failures;
            state->complete_waiter(attempt->id, SendStatus::queued);
            break;
          case DeliveryKind::cancelled:
            state->queue.finish_cancelled();
            break;
        }
      }
      if (finished) {
        try {
          if (result.kind == DeliveryKind::delivered && state->options.on_delivered) {
            state->options.on_delivered(*finished);
          } else if (result.kind == DeliveryKind::permanent && state->options.on_permanent_failure) {
            state->options.on_permanent_failure(*finished, result);
          }
        } catch (...) {  // a callback must not stop the drain
        }
      }
    }
    std::lock_guard lock(state->mutex);
    for (auto& [id, channel] : state->waiters) channel->try_send(std::error_code{}, SendStatus::stopped);
    state->waiters.clear();
    state->drain_finished = true;
  }

  std::shared_ptr<State> state_;
};

/// The seed guide's names.
using SlackSenderWithBreaker = NotifierWithBreaker<SlackSender>;
using PagerDutySenderWithBreaker = NotifierWithBreaker<PagerDutySender>;
using WebhookSenderWithBreaker = NotifierWithBreaker<WebhookSender>;
using EmailSenderWithBreaker = NotifierWithBreaker<EmailSender>;

}  // namespace breaker::notify
