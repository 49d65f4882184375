// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::classify_http_status`: what an HTTP status code means to a
/// circuit breaker. Shared by the HTTP client (`breaker::http`) and the server
/// guards, so it lives in the core (header-only, no dependency).

#include "breaker/outcome.hpp"

namespace breaker {

/// Classifies an HTTP response status for a circuit breaker: 5xx (the server
/// failed) and 429 (too many requests: the server is overloaded) are failures;
/// every other status, including other 4xx (the server answered; the request
/// was wrong) and anything outside 100..599, is a success.
///
/// Thread safety: a pure function. Never throws.
constexpr Outcome classify_http_status(int status) noexcept {
  if (status == 429 || (status >= 500 && status <= 599)) return Outcome::failure;
  return Outcome::success;
}

}  // namespace breaker
