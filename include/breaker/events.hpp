// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// State-change events and listener types.

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

/// Identifies a registered listener, for `remove_listener`.
using ListenerId = std::uint64_t;

}  // namespace breaker
