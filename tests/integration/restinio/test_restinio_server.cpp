// SPDX-License-Identifier: Apache-2.0
//
// The restinio binding over real HTTP on 127.0.0.1: a guarded service whose downstream fails is
// driven open with real requests, answers the guard's 503 (JSON body, Retry-After), and recovers
// through half-open to 200s; /health and /metrics on the same server. Breaker time moves only
// through a ManualClock: no sleeps.

#include "harness.hpp"

#include "breaker/prometheus.hpp"
#include "breaker/registry.hpp"
#include "breaker/restinio/guard.hpp"
#include "breaker/restinio/routes.hpp"
#include "breaker/server_guard.hpp"
#include "breaker/testing/manual_clock.hpp"

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::test::Reply;
using breaker::test::request;
using breaker::testing::ManualClock;
using Guard = breaker::BasicServerGuard<ManualClock>;

CircuitBreakerConfig service_config() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(3)
      .success_threshold(2)
      .timeout_duration(30s)
      .half_open_max_requests(1)
      .minimum_request_threshold(0)
      .build();
}

// The guarded service: GET /api/inventory answers what its downstream says (the status the test
// sets: 200 while healthy, 502 while it fails), GET /api/async answers the same from a task
// posted to the server's io_context, GET /api/throws throws; /health and /metrics of its
// breaker registry.
struct Service {
  ManualClock clock;
  breaker::BasicRegistry<ManualClock> registry{clock};
  std::shared_ptr<breaker::CircuitBreaker<ManualClock>> breaker_ =
      registry.get_or_create("inventory", service_config());
  std::shared_ptr<Guard> guard = std::make_shared<Guard>(breaker_, clock);
  std::atomic<int> downstream_status{200};
  std::atomic<int> handler_runs{0};
  std::atomic<bool> metrics_fail{false};
  std::unique_ptr<breaker::test::LoopbackServer> server;

  explicit Service(unsigned threads = 1) {
    auto router = std::make_unique<breaker::test::Router>();
    router->http_get("/api/inventory",
                     breaker::restinio::guarded(guard, [this](const restinio::request_handle_t& req,
                                                              auto&&...) {
                       ++handler_runs;
                       const int status = downstream_status.load();
                       return req
                           ->create_response(restinio::http_status_line_t{
                               restinio::http_status_code_t{static_cast<std::uint16_t>(status)},
                               "From downstream"})
                           .append_header(restinio::http_field::content_type, "text/plain")
                           .set_body("downstream said " + std::to_string(status));
                     }));
    router->http_get(
        "/api/async",
        breaker::restinio::guarded(guard, [this](const restinio::request_handle_t& req,
                                                 restinio::router::route_params_t,
                                                 breaker::BasicAdmission<ManualClock> admission) {
          ++handler_runs;
          // Respond later, from another handler invocation on the io_context.
          asio::post(server->io_context(),
                     [this, req, admission = std::move(admission)]() mutable {
                       const int status = downstream_status.load();
                       breaker::restinio::respond(
                           admission, req->create_response(restinio::http_status_line_t{
                                                               restinio::http_status_code_t{
                                                                   static_cast<std::uint16_t>(status)},
                                                               "Later"})
                                          .set_body("later " + std::to_string(status)));
                     });
          return restinio::request_accepted();
        }));
    router->http_get("/api/throws",
                     breaker::restinio::guarded(
                         guard,
                         [this](const restinio::request_handle_t& req, auto&&...)
                             -> restinio::response_builder_t<restinio::restinio_controlled_output_t> {
                           ++handler_runs;
                           if (downstream_status.load() >= 0) throw std::runtime_error("handler bug");
                           return req->create_response();
                         }));
    router->http_get("/api/bogus",
                     breaker::restinio::guarded(guard, [this](const restinio::request_handle_t& req,
                                                              auto&&...) {
                       ++handler_runs;
                       return req->create_response(restinio::http_status_line_t{
                           restinio::http_status_code_t{700}, "Bogus"});
                     }));
    router->add_handler(restinio::router::none_of_methods(restinio::http_method_get()), "/health",
                        breaker::restinio::health_handler(registry));
    router->http_get("/health", breaker::restinio::health_handler(registry));
    router->http_get("/metrics", breaker::restinio::metrics_handler([this] {
                       if (metrics_fail.load()) throw std::runtime_error("scrape failed");
                       return breaker::circuit_breaker_metrics_text(registry);
                     }));
    server = std::make_unique<breaker::test::LoopbackServer>(std::move(router), threads);
  }

  Reply get(const std::string& path) { return request(server->url(path)); }
};

void check_rejection(const Reply& reply, const std::string& retry_after) {
  CHECK(reply.status == 503);
  CHECK(reply.content_type == "application/json");
  CHECK(reply.retry_after == retry_after);
  const auto body = nlohmann::json::parse(reply.body);
  CHECK(body == nlohmann::json{{"error", "CIRCUIT_BREAKER_OPEN"}, {"breaker", "inventory"}});
}

// promtool check metrics on `text`; returns its exit status (non-zero when promtool is missing).
int promtool_check(const std::string& text) {
  char path[] = "/tmp/breaker-metrics-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream out(path);
    out << text;
  }
  const std::string command = std::string(BREAKER_PROMTOOL) + " check metrics < " + path + " 2>&1";
  const int status = std::system(command.c_str());
  std::remove(path);
  return status;
}

std::vector<std::string> lines_starting_with(const std::string& text, const std::string& start) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(start, 0) == 0) out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("a closed guarded service passes 2xx, 4xx and 5xx through unchanged",
          "[restinio][guard]") {
  Service s;
  for (int status : {200, 404, 502}) {
    s.downstream_status = status;
    const Reply reply = s.get("/api/inventory");
    CHECK(reply.status == status);
    CHECK(reply.body == "downstream said " + std::to_string(status));
    CHECK_FALSE(reply.retry_after);
  }
  CHECK(s.handler_runs == 3);
  const auto stats = s.breaker_->stats();
  CHECK(stats.successful_calls == 2);
  CHECK(stats.failed_calls == 1);
  CHECK(s.breaker_->state() == State::closed);
}

TEST_CASE("a failing downstream opens the service: 503, JSON body, Retry-After, then recovery to 200s",
          "[restinio][guard]") {
  // Setup: the downstream fails; three 502s reach the client unchanged and open the breaker.
  Service s;
  s.downstream_status = 502;
  for (int i = 0; i < 3; ++i) {
    const Reply reply = s.get("/api/inventory");
    CHECK(reply.status == 502);
    CHECK(reply.body == "downstream said 502");
  }
  REQUIRE(s.breaker_->state() == State::open);

  // Open: the guard answers, the handler does not run.
  check_rejection(s.get("/api/inventory"), "30");
  CHECK(s.handler_runs == 3);
  s.clock.advance(10s);
  check_rejection(s.get("/api/inventory"), "20");
  s.clock.advance(19s + 500ms);
  check_rejection(s.get("/api/inventory"), "1");
  CHECK(s.breaker_->stats().rejected_calls == 3);

  // The downstream is back; the open period ends: probes through half-open close it.
  s.downstream_status = 200;
  s.clock.advance(500ms);
  CHECK(s.get("/api/inventory").status == 200);
  CHECK(s.breaker_->state() == State::half_open);
  CHECK(s.get("/api/inventory").status == 200);
  CHECK(s.breaker_->state() == State::closed);
  for (int i = 0; i < 3; ++i) CHECK(s.get("/api/inventory").status == 200);
  CHECK(s.handler_runs == 8);
}

TEST_CASE("a failed half-open probe reopens the service for a whole open period",
          "[restinio][guard]") {
  Service s;
  s.downstream_status = 500;
  for (int i = 0; i < 3; ++i) CHECK(s.get("/api/inventory").status == 500);
  s.clock.advance(30s);
  CHECK(s.get("/api/inventory").status == 500);  // the probe, passed through unchanged
  REQUIRE(s.breaker_->state() == State::open);
  check_rejection(s.get("/api/inventory"), "30");
}

TEST_CASE("an asynchronous guarded handler settles the breaker when it responds",
          "[restinio][guard][async]") {
  Service s;
  s.downstream_status = 503;
  for (int i = 0; i < 3; ++i) {
    const Reply reply = s.get("/api/async");
    CHECK(reply.status == 503);
    CHECK(reply.body == "later 503");
    CHECK_FALSE(reply.retry_after);  // the handler's own 503, unchanged
  }
  REQUIRE(s.breaker_->state() == State::open);
  check_rejection(s.get("/api/async"), "30");
  s.downstream_status = 201;
  s.clock.advance(30s);
  CHECK(s.get("/api/async").status == 201);
  CHECK(s.get("/api/async").status == 201);
  CHECK(s.breaker_->state() == State::closed);
}

TEST_CASE("a guarded handler that throws counts as a failure and sends nothing",
          "[restinio][guard]") {
  Service s;
  for (int i = 0; i < 3; ++i) CHECK_THROWS_AS(s.get("/api/throws"), std::runtime_error);
  CHECK(s.breaker_->stats().failed_calls == 3);
  REQUIRE(s.breaker_->state() == State::open);
  check_rejection(s.get("/api/throws"), "30");
  CHECK(s.handler_runs == 3);
}

TEST_CASE("a guarded response with a status outside 100..599 is not sent and is a failure",
          "[restinio][guard]") {
  Service s;
  CHECK_THROWS_AS(s.get("/api/bogus"), std::runtime_error);
  CHECK(s.breaker_->stats().failed_calls == 1);
  CHECK(s.handler_runs == 1);
  CHECK(s.get("/api/inventory").status == 200);  // the server goes on
}

TEST_CASE("/health serves the registry's health: 200 healthy, 503 degraded, 200 again",
          "[restinio][health]") {
  Service s;
  s.registry.get_or_create("other", service_config());
  Reply reply = s.get("/health");
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "application/json");
  CHECK(nlohmann::json::parse(reply.body) ==
        nlohmann::json::parse(
            R"({"status":"healthy","circuit_breakers":{"total":2,"closed":2,"open":0,"half_open":0}})"));

  s.downstream_status = 500;
  for (int i = 0; i < 3; ++i) s.get("/api/inventory");
  reply = s.get("/health");
  CHECK(reply.status == 503);
  const auto degraded = nlohmann::json::parse(reply.body);
  CHECK(degraded["status"] == "degraded");
  CHECK(degraded["circuit_breakers"]["open"] == 1);
  CHECK(degraded["circuit_breakers"]["closed"] == 1);

  s.clock.advance(30s);  // open period over: half-open counts as healthy
  reply = s.get("/health");
  CHECK(reply.status == 200);
  CHECK(nlohmann::json::parse(reply.body)["circuit_breakers"]["half_open"] == 1);

  reply = request(s.server->url("/health"), "POST");
  CHECK(reply.status == 405);
  CHECK(reply.allow == "GET");
}

TEST_CASE("/metrics serves Prometheus text that promtool accepts", "[restinio][metrics]") {
  Service s;
  s.downstream_status = 502;
  for (int i = 0; i < 3; ++i) s.get("/api/inventory");
  s.get("/api/inventory");  // rejected

  const Reply reply = s.get("/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(promtool_check(reply.body) == 0);
  CHECK(lines_starting_with(reply.body, "circuit_breaker_state{") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="inventory"} 1)"});
  CHECK(lines_starting_with(reply.body, "circuit_breaker_failed_calls_total{") ==
        std::vector<std::string>{R"(circuit_breaker_failed_calls_total{name="inventory"} 3)"});
  CHECK(lines_starting_with(reply.body, "circuit_breaker_rejected_calls_total{") ==
        std::vector<std::string>{R"(circuit_breaker_rejected_calls_total{name="inventory"} 1)"});
  CHECK(reply.body == breaker::circuit_breaker_metrics_text(s.registry));

  s.metrics_fail = true;
  const Reply failed = s.get("/metrics");
  CHECK(failed.status == 500);
  CHECK(failed.body == "metrics unavailable: scrape failed\n");
  s.metrics_fail = false;
  CHECK(s.get("/metrics").status == 200);
}

TEST_CASE("promtool rejects broken exposition text, so the check above can fail",
          "[restinio][metrics]") {
  CHECK(promtool_check("# TYPE x counter\nx{name=\"a\" 1\n") != 0);
}

TEST_CASE("4 server threads and 4 clients: every request is counted once, the breaker opens once",
          "[restinio][guard][threads]") {
  // Setup: the server's io_context runs on 4 threads; 4 client threads send requests at once.
  constexpr int clients = 4;
  constexpr int per_client = 50;
  Service s(4);
  const auto burst = [&](std::vector<long>& statuses) {
    std::vector<std::thread> threads;
    std::vector<std::vector<long>> seen(clients);
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        for (int i = 0; i < per_client; ++i) seen[c].push_back(s.get("/api/inventory").status);
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& v : seen) statuses.insert(statuses.end(), v.begin(), v.end());
  };

  // Healthy: 200 successes.
  std::vector<long> healthy;
  burst(healthy);
  CHECK(std::count(healthy.begin(), healthy.end(), 200L) == clients * per_client);
  CHECK(s.breaker_->stats().successful_calls == clients * per_client);

  // Failing: each reply is the handler's 500 or the guard's 503; the counts add up.
  s.downstream_status = 500;
  std::vector<long> failing;
  burst(failing);
  const auto passed = std::count(failing.begin(), failing.end(), 500L);
  const auto rejected = std::count(failing.begin(), failing.end(), 503L);
  CHECK(passed + rejected == clients * per_client);
  CHECK(passed >= 3);
  const auto stats = s.breaker_->stats();
  CHECK(stats.failed_calls == static_cast<std::uint64_t>(passed));
  CHECK(stats.rejected_calls == static_cast<std::uint64_t>(rejected));
  CHECK(s.breaker_->transitions(State::closed, State::open) == 1);
  CHECK(s.breaker_->state() == State::open);
}
