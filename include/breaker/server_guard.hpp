// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `BasicServerGuard<Clock>` (`ServerGuard`, the seed's `CircuitBreakerLayer`):
/// the server side of a circuit breaker, independent of any HTTP framework.
///
/// Asked before a request handler runs, the guard either admits the request
/// (an `Admission` holding the breaker's permit, settled by the status of the
/// response the handler produced: 5xx is a failure, any other status a
/// success) or hands back a ready reply (`ServerRejection`): status 503,
/// `Content-Type: application/json`, body
/// `{"error":"CIRCUIT_BREAKER_OPEN","breaker":"<name>"}` and `Retry-After` =
/// the seconds the breaker stays open, rounded up. The handler's own response
/// (a 5xx included) is never changed: the guard only observes its status.
///
/// Framework bindings are thin: `breaker::restinio` (component) is one.
/// The decisions are plain functions, tested without sockets.

#include "breaker/circuit_breaker.hpp"
#include "breaker/health.hpp"
#include "breaker/state.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace breaker {

/// Whether a response with HTTP status `status` counts as a failure of the
/// guarded service: true for 500..599, false for 100..499.
/// \throws std::invalid_argument when `status` is not in 100..599 (the message
///   shows it). Thread safety: a pure function.
inline bool is_server_failure_status(int status) {
  if (status < 100 || status > 599) {
    throw std::invalid_argument("breaker: HTTP status " + std::to_string(status) +
                                " is not in 100..599");
  }
  return status >= 500;
}

/// The seconds a `Retry-After` header should announce for `left` of open time:
/// `left` rounded up to whole seconds, and at least 1 (a client told 0 would
/// retry into a breaker that is still rejecting, e.g. half-open with every
/// probe slot taken). Thread safety: a pure function.
template <class Rep, class Period>
constexpr std::chrono::seconds retry_after_seconds(std::chrono::duration<Rep, Period> left) noexcept {
  const auto rounded = std::chrono::ceil<std::chrono::seconds>(left);
  return rounded < std::chrono::seconds{1} ? std::chrono::seconds{1} : rounded;
}

/// The reply a guard gives instead of running the handler. A value type;
/// bindings copy its fields into their framework's response.
struct ServerRejection {
  /// Always 503 (Service Unavailable).
  int status = 503;
  /// `application/json`.
  std::string content_type = "application/json";
  /// `{"error":"CIRCUIT_BREAKER_OPEN","breaker":"<name>"}`, the name escaped
  /// with `json_escape` (always valid JSON).
  std::string body;
  /// Seconds until the breaker admits probes again, rounded up, at least 1.
  std::chrono::seconds retry_after{1};

  /// `retry_after` as the value of a `Retry-After` header (delay-seconds).
  std::string retry_after_header() const { return std::to_string(retry_after.count()); }

  friend bool operator==(const ServerRejection&, const ServerRejection&) = default;
};

/// The 503 body for breaker `name`: `{"error":"CIRCUIT_BREAKER_OPEN","breaker":"<name>"}`.
/// Thread safety: a pure function. Throws only `std::bad_alloc`.
inline std::string circuit_open_body(std::string_view name) {
  std::string body = R"({"error":"CIRCUIT_BREAKER_OPEN","breaker":")";
  body += json_escape(name);
  body += "\"}";
  return body;
}

/// An admitted request: holds the breaker's permit until the response status
/// settles it. Exactly one outcome is recorded: the first `record_*` call, or
/// "ignored" when the admission is destroyed unsettled (e.g. the client went
/// away before a response was produced).
///
/// Thread safety: used by one thread at a time; movable to another thread (an
/// asynchronous handler carries it to where it responds). It must not outlive
/// the guard's breaker (the guard keeps the breaker alive while it lives).
template <class Clock = std::chrono::steady_clock>
class BasicAdmission {
 public:
  using permit_type = typename CircuitBreaker<Clock>::Permit;

  /// An empty admission (already settled; records nothing).
  BasicAdmission() noexcept = default;
  /// Takes over an admitted permit.
  explicit BasicAdmission(permit_type permit) noexcept : permit_(std::move(permit)) {}

  BasicAdmission(BasicAdmission&&) noexcept = default;
  /// Records the current admission as ignored (if unsettled), then takes over `other`'s.
  BasicAdmission& operator=(BasicAdmission&&) noexcept = default;

  /// True while no outcome has been recorded.
  explicit operator bool() const noexcept { return static_cast<bool>(permit_); }

  /// The state the request was admitted in (closed or half-open).
  State admitted_in() const noexcept { return permit_.admitted_in(); }

  /// Settles the admission by the status of the response sent: 5xx failure,
  /// anything else success. No effect when already settled.
  /// \throws std::invalid_argument when `status` is not in 100..599; the
  ///   admission stays unsettled then.
  void record_status(int status) {
    if (is_server_failure_status(status)) {
      permit_.record_failure();
    } else {
      permit_.record_success();
    }
  }

  /// Records a failure (e.g. the handler threw instead of responding).
  void record_failure() noexcept { permit_.record_failure(); }
  /// Records an outcome that counts neither way (e.g. the request was cancelled).
  void record_ignored() noexcept { permit_.record_ignored(); }

 private:
  permit_type permit_;
};

/// What `BasicServerGuard::admit()` decided: an admission, or the rejection reply.
template <class Clock = std::chrono::steady_clock>
class BasicGuardDecision {
 public:
  using admission_type = BasicAdmission<Clock>;

  explicit BasicGuardDecision(admission_type admission) noexcept
      : value_(std::in_place_index<0>, std::move(admission)) {}
  explicit BasicGuardDecision(ServerRejection rejection) noexcept
      : value_(std::in_place_index<1>, std::move(rejection)) {}

  /// Whether the request was admitted (run the handler) or rejected (send `rejection()`).
  bool admitted() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return admitted(); }

  /// The admission; move it to where the response is produced.
  /// \throws std::logic_error when the request was rejected.
  admission_type& admission() {
    if (!admitted()) throw std::logic_error("breaker: the request was rejected, not admitted");
    return std::get<0>(value_);
  }

  /// The ready 503 reply.
  /// \throws std::logic_error when the request was admitted.
  const ServerRejection& rejection() const {
    if (admitted()) throw std::logic_error("breaker: the request was admitted, not rejected");
    return std::get<1>(value_);
  }

 private:
  std::variant<admission_type, ServerRejection> value_;
};

/// The framework-independent server guard of one breaker.
///
/// \tparam Clock the breaker's clock (`breaker::testing::ManualClock` in tests).
///
/// Thread safety: `admit()` and `rejection()` may be called concurrently from
/// any number of threads; the admission path adds nothing to the breaker's own
/// `try_acquire()` (no lock, no allocation) while the breaker is closed.
/// Lifetime: the guard keeps its breaker alive; admissions must not outlive the
/// breaker. Neither copyable nor movable (share it through `std::shared_ptr`).
template <class Clock = std::chrono::steady_clock>
class BasicServerGuard {
 public:
  using clock_type = Clock;
  using breaker_type = CircuitBreaker<Clock>;
  using admission_type = BasicAdmission<Clock>;
  using decision_type = BasicGuardDecision<Clock>;

  /// Guards with `breaker`.
  /// The second parameter (a clock) is accepted for source compatibility and
  /// unused: the guard reads the time left open from the breaker
  /// (`CircuitBreaker::time_until_half_open()`), on the breaker's own clock.
  /// \throws std::invalid_argument when `breaker` is null; `std::bad_alloc`.
  explicit BasicServerGuard(std::shared_ptr<breaker_type> breaker, Clock /*unused*/ = {})
      : breaker_(require(std::move(breaker))), body_(circuit_open_body(breaker_->name())) {}

  BasicServerGuard(const BasicServerGuard&) = delete;
  BasicServerGuard& operator=(const BasicServerGuard&) = delete;

  /// Asks the breaker to admit one request (`try_acquire()`). Call it before
  /// running the handler; settle the admission with the response's status.
  /// A rejection is counted in the breaker's `rejected_calls`.
  /// Throws only `std::bad_alloc` (building a rejection's body).
  decision_type admit() {
    typename breaker_type::Permit permit = breaker_->try_acquire();
    if (permit) return decision_type(admission_type(std::move(permit)));
    return decision_type(rejection());
  }

  /// The reply for a rejected request as of now (what `admit()` returns when it rejects).
  /// Throws only `std::bad_alloc`.
  ServerRejection rejection() const {
    ServerRejection r;
    r.body = body_;
    r.retry_after = retry_after_seconds(time_left_open());
    return r;
  }

  /// How long the breaker will still reject: the time until its open period
  /// ends (`CircuitBreaker::time_until_half_open()`; zero when it is over or
  /// the breaker is closed or half-open); `timeout_duration` when it is forced
  /// open (no period ends by itself; the client is told to come back later).
  typename Clock::duration time_left_open() const noexcept {
    using duration = typename Clock::duration;
    if (breaker_->state() != State::open) return duration::zero();
    if (const std::optional<duration> left = breaker_->time_until_half_open()) return *left;
    return std::chrono::duration_cast<duration>(breaker_->config().timeout_duration);
  }

  /// The guarded breaker.
  const std::shared_ptr<breaker_type>& breaker() const noexcept { return breaker_; }

 private:
  static std::shared_ptr<breaker_type> require(std::shared_ptr<breaker_type> breaker) {
    if (!breaker) throw std::invalid_argument("breaker: a server guard needs a circuit breaker");
    return breaker;
  }

  std::shared_ptr<breaker_type> breaker_;
  std::string body_;
};

/// The guard on the steady clock, the one services use.
using ServerGuard = BasicServerGuard<std::chrono::steady_clock>;
/// Its admission.
using Admission = BasicAdmission<std::chrono::steady_clock>;
/// Its decision.
using GuardDecision = BasicGuardDecision<std::chrono::steady_clock>;
/// The seed's name for the server guard.
using CircuitBreakerLayer = ServerGuard;

}  // namespace breaker
