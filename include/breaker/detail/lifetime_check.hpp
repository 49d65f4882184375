// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The debug-build check that a breaker is not destroyed while calls it
/// admitted are still in flight (a use-after-free waiting to happen).
///
/// It costs nothing on the call path: every admitted call adds one to the
/// `admitted` counter and, when it finishes, one to exactly one of
/// `successful`, `failed` and `ignored`, so at destruction the difference is
/// the number of calls still running. On by default when `NDEBUG` is not
/// defined; define `BREAKER_CHECK_CALLS_IN_FLIGHT` to 0 or 1 to choose.

#include "breaker/detail/counters.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#ifndef BREAKER_CHECK_CALLS_IN_FLIGHT
#ifdef NDEBUG
#define BREAKER_CHECK_CALLS_IN_FLIGHT 0
#else
#define BREAKER_CHECK_CALLS_IN_FLIGHT 1
#endif
#endif

namespace breaker::detail {

/// Calls admitted and not yet finished, from the counters.
inline std::uint64_t calls_in_flight(const CallCounters& counters) noexcept {
  const std::uint64_t finished = counters.sum(CallCounters::successful) +
                                 counters.sum(CallCounters::failed) +
                                 counters.sum(CallCounters::ignored);
  const std::uint64_t admitted = counters.sum(CallCounters::admitted);
  return admitted > finished ? admitted - finished : 0;
}

/// Aborts with a message naming the breaker when calls are in flight.
inline void check_no_calls_in_flight(const CallCounters& counters, std::string_view name) noexcept {
  const std::uint64_t in_flight = calls_in_flight(counters);
  if (in_flight == 0) [[likely]] return;
  std::fprintf(stderr,
               "breaker: CircuitBreaker \"%.*s\" destroyed with %llu call(s) in flight; a "
               "breaker must outlive every call and permit it admitted (keep it in a "
               "std::shared_ptr or a Registry)\n",
               static_cast<int>(name.size()), name.data(),
               static_cast<unsigned long long>(in_flight));
  std::abort();
}

}  // namespace breaker::detail
