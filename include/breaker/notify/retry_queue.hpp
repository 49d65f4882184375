// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `RetryQueue<Clock>`: the pure, bounded, per-destination FIFO of notifications not yet
/// delivered, with the retry timing and the overflow rule. No I/O, no clock reads: every
/// function that needs the time takes it, so tests drive it with `ManualClock`'s times.

#include "breaker/notify/error.hpp"
#include "breaker/notify/incident.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace breaker::notify {

/// What a full queue does with one more notification. Either way the notification that
/// does not fit is handed back (`PushResult::displaced`), counted, and reported to the
/// notifier's `on_overflow` callback: nothing is dropped silently.
enum class OverflowPolicy : std::uint8_t {
  /// Refuse the new notification (the default): what is queued keeps its order and the
  /// caller learns at once that this one was not accepted.
  reject_newest,
  /// Make room by dropping the oldest notification that is not being attempted right
  /// now; when there is none (capacity 1, attempt in flight) the new one is refused.
  drop_oldest,
};

/// Settings of a `RetryQueue`.
struct RetryQueueOptions {
  /// Most notifications queued (the one being attempted included). Range 1..1'000'000.
  std::size_t capacity = 1000;
  /// The overflow rule.
  OverflowPolicy overflow = OverflowPolicy::reject_newest;
  /// Wait after the first transient failure; doubled after each further one up to
  /// `max_backoff`. Range [0, max_backoff].
  std::chrono::milliseconds initial_backoff{1'000};
  /// Longest wait between two attempts of one notification. Range [0, 1 day].
  std::chrono::milliseconds max_backoff{60'000};
  /// Wait before asking the breaker again after it rejected an attempt (open). Range
  /// [0, 1 day].
  std::chrono::milliseconds rejected_retry{1'000};

  /// `errc::invalid_config` naming the first bad field, or an empty code.
  std::error_code validate(std::string* message = nullptr) const {
    auto fail = [&](const char* text) {
      if (message != nullptr) *message = text;
      return make_error_code(errc::invalid_config);
    };
    constexpr std::chrono::milliseconds day{24LL * 60 * 60 * 1000};
    if (capacity < 1 || capacity > 1'000'000) return fail("RetryQueueOptions::capacity must be in 1..1000000");
    if (max_backoff < std::chrono::milliseconds::zero() || max_backoff > day)
      return fail("RetryQueueOptions::max_backoff must be in [0, 1 day]");
    if (initial_backoff < std::chrono::milliseconds::zero() || initial_backoff > max_backoff)
      return fail("RetryQueueOptions::initial_backoff must be in [0, max_backoff]");
    if (rejected_retry < std::chrono::milliseconds::zero() || rejected_retry > day)
      return fail("RetryQueueOptions::rejected_retry must be in [0, 1 day]");
    return {};
  }
};

/// What `push` did.
enum class PushOutcome : std::uint8_t {
  queued,           ///< Queued; nothing displaced.
  dropped_oldest,   ///< Queued; `displaced` is the oldest waiting one, dropped to make room.
  rejected_newest,  ///< Not queued; `displaced` is the new notification itself.
};

/// The result of `push`.
struct PushResult {
  PushOutcome outcome = PushOutcome::queued;
  /// The notification that did not fit (see `outcome`), when one did not.
  std::optional<Notification> displaced;
};

/// The bounded FIFO of one destination.
///
/// Order: notifications are attempted strictly in `push` order, one at a time: the front
/// is attempted (`begin_attempt`), and only its `finish_*` lets the next one go. A
/// transient failure or a rejection keeps it at the front (later ones wait behind it),
/// so the destination receives them in order.
///
/// Timing: the front is due at `due` (initially "now"); after the k-th consecutive
/// transient failure it is due `min(initial_backoff * 2^(k-1), max_backoff)` later, after
/// a breaker rejection `rejected_retry` later (the attempt count is unchanged).
///
/// Thread safety: none (a plain value); `NotifierWithBreaker` guards it with its mutex.
template <class Clock>
class RetryQueue {
 public:
  using time_point = typename Clock::time_point;

  /// \throws std::system_error(errc::invalid_config) naming the field.
  explicit RetryQueue(RetryQueueOptions options = {}) : options_(options) {
    std::string message;
    if (const auto ec = options_.validate(&message)) throw std::system_error(ec, message);
  }

  const RetryQueueOptions& options() const noexcept { return options_; }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  /// Whether the front is being attempted.
  bool in_flight() const noexcept { return in_flight_; }
  /// The queued notifications, front first.
  const std::deque<Notification>& entries() const noexcept { return entries_; }

  /// Appends `n` (due at once if it becomes the front), applying the overflow rule when
  /// full. `beyond_capacity` skips the rule: for notifications accepted already (a spool
  /// replay), which must not be lost; the queue then stays over capacity until it drains
  /// below it, and new notifications meet the overflow rule meanwhile.
  PushResult push(Notification n, bool beyond_capacity = false) {
    PushResult result;
    if (!beyond_capacity && entries_.size() >= options_.capacity) {
      const bool can_drop =
          options_.overflow == OverflowPolicy::drop_oldest && (!in_flight_ || entries_.size() > 1);
      if (!can_drop) {
        result.outcome = PushOutcome::rejected_newest;
        result.displaced.emplace(std::move(n));
        return result;
      }
      // The oldest one not being attempted: the front, or the second when the front is in flight.
      auto victim = in_flight_ ? entries_.begin() + 1 : entries_.begin();
      result.outcome = PushOutcome::dropped_oldest;
      result.displaced.emplace(std::move(*victim));
      if (victim == entries_.begin()) reset_front();
      entries_.erase(victim);
    }
    entries_.push_back(std::move(n));
    return result;
  }

  /// When the front is due, if there is a front not in flight.
  std::optional<time_point> next_due() const noexcept {
    if (entries_.empty() || in_flight_) return std::nullopt;
    return due_;
  }

  /// Consecutive transient failures of the front so far.
  std::uint32_t front_attempts() const noexcept { return attempts_; }

  /// The front, marked in flight, when there is one due at `now` and none in flight;
  /// otherwise null. The pointer stays valid until the matching `finish_*`.
  const Notification* begin_attempt(time_point now) noexcept {
    if (entries_.empty() || in_flight_ || now < due_) return nullptr;
    in_flight_ = true;
    return &entries_.front();
  }

  /// The attempt delivered the front (or failed permanently): removes it; the next one
  /// is due at once. Returns the removed notification.
  Notification finish_removed() {
    require_in_flight();
    Notification done = std::move(entries_.front());
    entries_.pop_front();
    reset_front();
    return done;
  }

  /// The attempt failed transiently at `now`: the front stays, due after the backoff.
  void finish_transient(time_point now) {
    require_in_flight();
    in_flight_ = false;
    ++attempts_;
    due_ = now + std::chrono::duration_cast<typename Clock::duration>(backoff(attempts_));
  }

  /// The breaker rejected the attempt at `now`: due again after `rejected_retry`.
  void finish_rejected(time_point now) {
    require_in_flight();
    in_flight_ = false;
    due_ = now + std::chrono::duration_cast<typename Clock::duration>(options_.rejected_retry);
  }

  /// The attempt was cancelled: the front stays, due as before.
  void finish_cancelled() {
    require_in_flight();
    in_flight_ = false;
  }

  /// The wait after `attempts` consecutive transient failures (>= 1).
  std::chrono::milliseconds backoff(std::uint32_t attempts) const noexcept {
    std::chrono::milliseconds wait = options_.initial_backoff;
    for (std::uint32_t i = 1; i < attempts && wait < options_.max_backoff; ++i) wait *= 2;
    return wait < options_.max_backoff ? wait : options_.max_backoff;
  }

 private:
  void require_in_flight() const {
    if (!in_flight_) throw std::logic_error("RetryQueue: finish without begin_attempt");
  }
  void reset_front() noexcept {
    in_flight_ = false;
    attempts_ = 0;
    due_ = time_point{};
  }

  RetryQueueOptions options_;
  std::deque<Notification> entries_;
  bool in_flight_ = false;
  std::uint32_t attempts_ = 0;
  time_point due_{};
};

}  // namespace breaker::notify
