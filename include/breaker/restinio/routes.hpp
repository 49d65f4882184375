// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `/health` and `/metrics` for a restinio server (component
/// `breaker::restinio`), so a service needs no second HTTP stack for them.
///
/// \code
/// auto router = std::make_unique<restinio::router::express_router_t<>>();
/// router->http_get("/health", breaker::restinio::health_handler(breaker::global_registry()));
/// router->http_get("/metrics", breaker::restinio::metrics_handler([] {
///   return breaker::circuit_breaker_metrics_text(breaker::global_registry());  // breaker::prometheus
/// }));
/// \endcode
///
/// Why `/metrics` takes a text source: the exposition text comes from the
/// `breaker::prometheus` component (prometheus-cpp's `TextSerializer`), and a
/// component header never includes another component's. So `breaker::restinio`
/// does not depend on `breaker::prometheus` (nor on prometheus-cpp, civetweb,
/// zlib...): a service that wants `/metrics` links `breaker::prometheus` too and
/// passes `breaker::circuit_breaker_metrics_text` (or anything else producing
/// Prometheus text, e.g. its own `prometheus::Registry` serialized).

#include "breaker/health.hpp"
#include "breaker/registry.hpp"

#include <restinio/all.hpp>

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace breaker::restinio {

/// The content type of Prometheus text exposition format 0.0.4.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

namespace detail {

// Answers anything but GET with 405 and `Allow: GET`; returns whether it did.
template <class RequestHandle>
bool reject_non_get(const RequestHandle& req) {
  if (req->header().method() == ::restinio::http_method_get()) return false;
  req->create_response(::restinio::status_method_not_allowed())
      .append_header(::restinio::http_field::allow, "GET")
      .done();
  return true;
}

}  // namespace detail

/// A restinio handler serving the health of a breaker registry: the seed's
/// JSON, `breaker::to_json(registry.health_check())`, e.g.
/// `{"status":"degraded","circuit_breakers":{"total":3,"closed":2,"open":1,"half_open":0}}`,
/// with status 200 when healthy (no breaker open) and 503 when degraded;
/// `Content-Type: application/json`, `Cache-Control: no-store`. Methods other
/// than GET get 405 with `Allow: GET`.
///
/// Callable with a request handle and anything else (the express router's
/// route parameters are ignored). Thread safety: any thread (the registry's
/// health check takes a shared lock). Lifetime: `registry` must outlive the
/// handler (and so the server).
template <class Clock>
class HealthHandler {
 public:
  explicit HealthHandler(const BasicRegistry<Clock>& registry) noexcept : registry_(&registry) {}

  template <class RequestHandle, class... Extra>
  ::restinio::request_handling_status_t operator()(RequestHandle req, Extra&&...) const {
    if (detail::reject_non_get(req)) return ::restinio::request_accepted();
    const HealthReport report = registry_->health_check();
    return req
        ->create_response(report.healthy ? ::restinio::status_ok()
                                         : ::restinio::status_service_unavailable())
        .append_header(::restinio::http_field::content_type, "application/json")
        .append_header(::restinio::http_field::cache_control, "no-store")
        .set_body(to_json(report))
        .done();
  }

 private:
  const BasicRegistry<Clock>* registry_;
};

/// A `HealthHandler` of `registry`.
template <class Clock>
HealthHandler<Clock> health_handler(const BasicRegistry<Clock>& registry) noexcept {
  return HealthHandler<Clock>(registry);
}

/// A restinio handler serving Prometheus text produced by `source()` at each
/// request: 200 with `Content-Type: text/plain; version=0.0.4; charset=utf-8`.
/// If `source` throws, the client gets 500 (`text/plain`, the exception's
/// `what()`), and the server goes on. Methods other than GET get 405.
///
/// \tparam Source a callable `() -> std::string` (e.g. a lambda calling
///   `breaker::circuit_breaker_metrics_text(registry)` from `breaker::prometheus`).
/// Thread safety: `source` is called on restinio's threads, possibly
/// concurrently when restinio runs on several.
template <class Source>
class MetricsHandler {
 public:
  explicit MetricsHandler(Source source) : source_(std::move(source)) {}

  template <class RequestHandle, class... Extra>
  ::restinio::request_handling_status_t operator()(RequestHandle req, Extra&&...) const {
    if (detail::reject_non_get(req)) return ::restinio::request_accepted();
    std::string text;
    try {
      text = source_();
    } catch (const std::exception& e) {
      return error(req, e.what());
    } catch (...) {
      return error(req, "unknown error");
    }
    return req->create_response(::restinio::status_ok())
        .append_header(::restinio::http_field::content_type, std::string(metrics_content_type))
        .set_body(std::move(text))
        .done();
  }

 private:
  template <class RequestHandle>
  static ::restinio::request_handling_status_t error(const RequestHandle& req, std::string_view what) {
    return req->create_response(::restinio::status_internal_server_error())
        .append_header(::restinio::http_field::content_type, "text/plain; charset=utf-8")
        .set_body("metrics unavailable: " + std::string(what) + "\n")
        .done();
  }

  Source source_;
};

/// A `MetricsHandler` calling `source`.
template <class Source>
  requires std::is_convertible_v<std::invoke_result_t<const std::decay_t<Source>&>, std::string>
MetricsHandler<std::decay_t<Source>> metrics_handler(Source&& source) {
  return MetricsHandler<std::decay_t<Source>>(std::forward<Source>(source));
}

}  // namespace breaker::restinio
