// SPDX-License-Identifier: Apache-2.0
#include "breaker/state.hpp"

#include <ostream>

namespace breaker {

std::string_view to_string(State state) noexcept {
  switch (state) {
    case State::closed:
      return "closed";
    case State::open:
      return "open";
    case State::half_open:
      return "half-open";
    case State::disabled:
      return "disabled";
    case State::metrics_only:
      return "metrics-only";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, State state) { return os << to_string(state); }

}  // namespace breaker
