// SPDX-License-Identifier: Apache-2.0
//
// breaker::restinio is header-only in substance (templates over the request type and the
// clock). This file compiles its handlers once for the steady clock and restinio's default
// request type, so a build of the component proves its headers build with restinio's flags.

#include "breaker/restinio/guard.hpp"
#include "breaker/restinio/routes.hpp"

#include <restinio/all.hpp>

#include <chrono>
#include <string>

namespace breaker::restinio {

template class HealthHandler<std::chrono::steady_clock>;

namespace {

using Response = ::restinio::response_builder_t<::restinio::restinio_controlled_output_t>;

[[maybe_unused]] ::restinio::request_handling_status_t instantiate(
    const ::restinio::request_handle_t& req, const std::shared_ptr<ServerGuard>& guard,
    const Registry& registry) {
  auto sync = guarded(guard, [](const ::restinio::request_handle_t& r) -> Response {
    return r->create_response();
  });
  auto async = guarded(guard, [](const ::restinio::request_handle_t& r, Admission admission) {
    return respond(admission, r->create_response());
  });
  auto metrics = metrics_handler([] { return std::string(); });
  health_handler(registry)(req);
  metrics(req);
  async(req);
  return sync(req);
}

}  // namespace
}  // namespace breaker::restinio
