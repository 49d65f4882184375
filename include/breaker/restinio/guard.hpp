// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The restinio binding of `breaker::BasicServerGuard` (component
/// `breaker::restinio`, restinio 0.6 on standalone Asio).
///
/// \code
/// auto guard = std::make_shared<breaker::ServerGuard>(
///     breaker::get_circuit_breaker("external-api", breaker::CircuitBreakerConfig::for_http_api()));
/// router->http_get("/api/external", breaker::restinio::guarded(guard,
///     [](const restinio::request_handle_t& req, auto&&...) {
///       return req->create_response().set_body(call_downstream());  // not yet done()
///     }));
/// \endcode
///
/// A guarded handler runs only when the breaker admits the request; otherwise
/// the client gets the guard's 503 (`ServerRejection`: JSON body,
/// `Retry-After`). The status of the response the handler produced settles
/// the breaker's permit (5xx failure, anything else success); the response
/// itself is sent unchanged.

#include "breaker/server_guard.hpp"

#include <restinio/all.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace breaker::restinio {

/// Sends `rejection` (the guard's 503) as the response to `req`:
/// `503 Service Unavailable`, `Content-Type`, `Retry-After`, the JSON body.
/// \returns `restinio::request_accepted()`.
/// Thread safety: like any restinio response. Exceptions: restinio's.
template <class RequestHandle>
::restinio::request_handling_status_t send_rejection(const RequestHandle& req,
                                                      const ServerRejection& rejection) {
  return req
      ->create_response(::restinio::http_status_line_t{
          ::restinio::http_status_code_t{static_cast<std::uint16_t>(rejection.status)},
          "Service Unavailable"})
      .append_header(::restinio::http_field::content_type, rejection.content_type)
      .append_header(::restinio::http_field::retry_after, rejection.retry_after_header())
      .set_body(rejection.body)
      .done();
}

/// Sends `response` and settles `admission` with its status (5xx failure,
/// anything else success). For handlers that respond later, away from the
/// guarded call (see `guarded`). The response is sent unchanged.
/// \returns what `response.done()` returns (`restinio::request_accepted()`).
/// \throws std::invalid_argument, before anything is sent and with the
///   admission unsettled, when the response's status is not in 100..599;
///   restinio's exceptions from `done()` (the outcome is recorded first).
template <class Clock, class Output>
::restinio::request_handling_status_t respond(BasicAdmission<Clock>& admission,
                                              ::restinio::response_builder_t<Output>& response) {
  admission.record_status(static_cast<int>(response.header().status_code().raw_code()));
  return response.done();
}

/// Same, taking the builder by value (e.g. straight from `create_response()...`).
template <class Clock, class Output>
::restinio::request_handling_status_t respond(BasicAdmission<Clock>& admission,
                                              ::restinio::response_builder_t<Output>&& response) {
  return respond(admission, response);
}

namespace detail {

template <class T>
struct is_response_builder : std::false_type {};
template <class Output>
struct is_response_builder<::restinio::response_builder_t<Output>> : std::true_type {};

// Whether `handler(args..., admission)` is the asynchronous form: callable with
// the admission and returning a request_handling_status_t (a generic lambda
// taking `auto&&...` and returning a response builder stays synchronous).
template <class Handler, class Clock, class... Args>
constexpr bool is_async_handler() {
  if constexpr (std::is_invocable_v<Handler&, Args..., BasicAdmission<Clock>&&>) {
    using R = std::invoke_result_t<Handler&, Args..., BasicAdmission<Clock>&&>;
    return std::is_same_v<std::remove_cvref_t<R>, ::restinio::request_handling_status_t>;
  } else {
    return false;
  }
}

}  // namespace detail

/// A restinio request handler that asks `guard` first (see the file comment).
/// Made by `guarded()`; callable with a request handle and whatever else the
/// caller passes (e.g. the express router's `route_params_t`), which it hands
/// on to the inner handler.
///
/// Two forms of inner handler, told apart by their signature:
/// - synchronous: `handler(req, extra...)` returns a `restinio::response_builder_t`
///   that is not yet `done()`; the guard settles the admission with its status,
///   then sends it. If the handler throws, the admission records a failure and
///   the exception propagates to restinio unchanged (restinio then closes the
///   connection). A response whose status is not in 100..599 is not sent: a
///   failure is recorded and `std::invalid_argument` propagates.
/// - asynchronous: `handler(req, extra..., BasicAdmission<Clock> admission)`
///   returns `restinio::request_handling_status_t`; it owns the admission and
///   responds later with `breaker::restinio::respond(admission, response)`
///   (an admission dropped unsettled is ignored). If it throws while the
///   admission is still unsettled in the guard's hands (taken by reference,
///   not moved), a failure is recorded.
///
/// A rejected request gets `send_rejection` and the handler does not run.
/// Thread safety: may run on several threads at once (the guard is
/// thread-safe); the inner handler must be too if restinio runs on several
/// threads. Lifetime: holds the guard through a `std::shared_ptr`.
template <class Clock, class Handler>
class GuardedHandler {
 public:
  GuardedHandler(std::shared_ptr<BasicServerGuard<Clock>> guard, Handler handler)
      : guard_(std::move(guard)), handler_(std::move(handler)) {
    if (!guard_) throw std::invalid_argument("breaker::restinio::guarded: the guard is null");
  }

  template <class RequestHandle, class... Extra>
  ::restinio::request_handling_status_t operator()(RequestHandle req, Extra&&... extra) {
    auto decision = guard_->admit();
    if (!decision.admitted()) return send_rejection(req, decision.rejection());
    BasicAdmission<Clock>& admission = decision.admission();
    if constexpr (detail::is_async_handler<Handler, Clock, const RequestHandle&, Extra&&...>()) {
      try {
        return handler_(req, std::forward<Extra>(extra)..., std::move(admission));
      } catch (...) {
        // Still ours (the handler took it by reference and did not move it): a failure.
        if (admission) admission.record_failure();
        throw;
      }
    } else {
      static_assert(std::is_invocable_v<Handler&, const RequestHandle&, Extra&&...>,
                    "a guarded handler takes (request, extra...) and returns a response builder, "
                    "or (request, extra..., admission) and returns request_handling_status_t");
      using Response =
          std::remove_cvref_t<std::invoke_result_t<Handler&, const RequestHandle&, Extra&&...>>;
      static_assert(detail::is_response_builder<Response>::value,
                    "a synchronous guarded handler returns a restinio::response_builder_t "
                    "(not yet done()), whose status settles the breaker's permit");
      // A throwing handler (or a response with a status outside 100..599) is a
      // failure; without the catch the admission would be dropped as ignored.
      try {
        Response response = handler_(req, std::forward<Extra>(extra)...);
        return respond(admission, response);
      } catch (...) {
        if (admission) admission.record_failure();
        throw;
      }
    }
  }

  /// The guard.
  const std::shared_ptr<BasicServerGuard<Clock>>& guard() const noexcept { return guard_; }

 private:
  std::shared_ptr<BasicServerGuard<Clock>> guard_;
  Handler handler_;
};

/// Wraps `handler` so that `guard` decides first (see `GuardedHandler`).
/// \throws std::invalid_argument when `guard` is null.
template <class Clock, class Handler>
GuardedHandler<Clock, std::decay_t<Handler>> guarded(std::shared_ptr<BasicServerGuard<Clock>> guard,
                                                     Handler&& handler) {
  return GuardedHandler<Clock, std::decay_t<Handler>>(std::move(guard),
                                                      std::forward<Handler>(handler));
}

}  // namespace breaker::restinio
