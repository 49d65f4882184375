// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// State-change events, the breaker events (`CircuitBreakerEvent`) and the
/// listener types.

#include "breaker/state.hpp"

#include <cstdint>
#include <functional>
#include <string_view>

namespace breaker {

/// One transition of a breaker, passed to listeners.
struct StateTransition {
  State from;                     ///< The state before the transition.
  State to;                       ///< The state after it.
  std::string_view breaker_name;  ///< The breaker's name (valid during the call).
  std::uint32_t epoch;            ///< The breaker's epoch after the transition.
};

/// A state-change listener.
using StateListener = std::function<void(const StateTransition&)>;

/// Identifies a registered listener, for `remove_listener` and
/// `remove_event_listener`.
using ListenerId = std::uint64_t;

/// What a `CircuitBreakerEvent` reports (as Resilience4j's event publisher).
enum class EventType : std::uint8_t {
  state_transition,         ///< The breaker changed state (`from`, `to`, `epoch`).
  call_not_permitted,       ///< A call was rejected (`state`: open or half-open).
  failure_rate_exceeded,    ///< The failure rate reached its threshold (`rate`, percent).
  slow_call_rate_exceeded,  ///< The slow-call rate reached its threshold (`rate`, percent).
};

/// `"state_transition"`, `"call_not_permitted"`, `"failure_rate_exceeded"`,
/// `"slow_call_rate_exceeded"`.
constexpr std::string_view to_string(EventType type) noexcept {
  switch (type) {
    case EventType::state_transition:
      return "state_transition";
    case EventType::call_not_permitted:
      return "call_not_permitted";
    case EventType::failure_rate_exceeded:
      return "failure_rate_exceeded";
    case EventType::slow_call_rate_exceeded:
      return "slow_call_rate_exceeded";
  }
  return "unknown";
}

/// One event of a breaker, passed to event listeners (`on_event`).
struct CircuitBreakerEvent {
  EventType type;                 ///< What happened.
  std::string_view breaker_name;  ///< The breaker's name (valid during the call).
  State state;                    ///< The breaker's state: after the transition, or when
                                  ///< the call was rejected or the rate exceeded.
  State from = State::closed;     ///< state_transition: the state before (else equal to `state`).
  State to = State::closed;       ///< state_transition: the state after (else equal to `state`).
  std::uint32_t epoch = 0;        ///< The breaker's epoch after the transition (or when it happened).
  double rate = 0;                ///< *_rate_exceeded: the rate, in percent (else 0).
};

/// A listener of breaker events. Called on the thread where the event
/// happened, with no lock held; exceptions it throws are caught and dropped.
using EventListener = std::function<void(const CircuitBreakerEvent&)>;

}  // namespace breaker
