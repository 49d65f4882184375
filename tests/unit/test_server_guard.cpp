// SPDX-License-Identifier: Apache-2.0
#include "breaker/server_guard.hpp"

#include "breaker/circuit_breaker.hpp"
#include "breaker/testing/manual_clock.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::testing::ManualClock;
using Breaker = breaker::CircuitBreaker<ManualClock>;
using Guard = breaker::BasicServerGuard<ManualClock>;

CircuitBreakerConfig guard_config() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(2)
      .success_threshold(2)
      .timeout_duration(30s)
      .half_open_max_requests(1)
      .minimum_request_threshold(0)
      .build();
}

struct Setup {
  ManualClock clock;
  std::shared_ptr<Breaker> breaker = std::make_shared<Breaker>("orders-api", guard_config(), clock);
  Guard guard{breaker, clock};

  // Admits one request and settles it with `status`.
  void respond(int status) {
    auto decision = guard.admit();
    REQUIRE(decision.admitted());
    decision.admission().record_status(status);
  }
};

}  // namespace

TEST_CASE("is_server_failure_status: 5xx are failures, 1xx to 4xx successes, others invalid",
          "[server-guard]") {
  for (int status : {500, 502, 503, 504, 599}) {
    CAPTURE(status);
    CHECK(breaker::is_server_failure_status(status));
  }
  for (int status : {100, 200, 201, 204, 301, 304, 400, 404, 429, 499}) {
    CAPTURE(status);
    CHECK_FALSE(breaker::is_server_failure_status(status));
  }
  for (int status : {-1, 0, 99, 600, 1000}) {
    CAPTURE(status);
    CHECK_THROWS_AS(breaker::is_server_failure_status(status), std::invalid_argument);
  }
  CHECK_THROWS_WITH(breaker::is_server_failure_status(700),
                    Catch::Contains("700") && Catch::Contains("100..599"));
}

TEST_CASE("retry_after_seconds rounds up to whole seconds and is at least 1", "[server-guard]") {
  CHECK(breaker::retry_after_seconds(0s) == 1s);
  CHECK(breaker::retry_after_seconds(-5s) == 1s);
  CHECK(breaker::retry_after_seconds(1ns) == 1s);
  CHECK(breaker::retry_after_seconds(1s) == 1s);
  CHECK(breaker::retry_after_seconds(1001ms) == 2s);
  CHECK(breaker::retry_after_seconds(29s + 1ns) == 30s);
  CHECK(breaker::retry_after_seconds(30s) == 30s);
}

TEST_CASE("the 503 body names the breaker and escapes it as JSON", "[server-guard]") {
  CHECK(breaker::circuit_open_body("orders-api") ==
        R"({"error":"CIRCUIT_BREAKER_OPEN","breaker":"orders-api"})");
  CHECK(breaker::circuit_open_body("a\"b\\c\nd") ==
        R"({"error":"CIRCUIT_BREAKER_OPEN","breaker":"a\"b\\c\nd"})");
}

TEST_CASE("a guard needs a breaker", "[server-guard]") {
  CHECK_THROWS_AS(Guard(nullptr), std::invalid_argument);
}

TEST_CASE("a closed guard admits and the response status settles the permit", "[server-guard]") {
  Setup s;
  SECTION("2xx, 3xx and 4xx are successes") {
    for (int status : {200, 204, 302, 400, 404, 429}) s.respond(status);
    CHECK(s.breaker->stats().successful_calls == 6);
    CHECK(s.breaker->stats().failed_calls == 0);
    CHECK(s.breaker->state() == State::closed);
  }
  SECTION("a 5xx is a failure") {
    s.respond(500);
    CHECK(s.breaker->stats().failed_calls == 1);
    CHECK(s.breaker->stats().consecutive_failures == 1);
  }
  SECTION("an admission destroyed without a status is ignored") {
    {
      auto decision = s.guard.admit();
      REQUIRE(decision.admitted());
      CHECK(decision.admission().admitted_in() == State::closed);
    }
    CHECK(s.breaker->stats().ignored_calls == 1);
    CHECK(s.breaker->stats().successful_calls == 0);
    CHECK(s.breaker->stats().failed_calls == 0);
  }
  SECTION("only the first outcome counts") {
    auto decision = s.guard.admit();
    auto admission = std::move(decision.admission());
    CHECK(static_cast<bool>(admission));
    admission.record_status(503);
    CHECK_FALSE(static_cast<bool>(admission));
    admission.record_status(200);
    admission.record_ignored();
    CHECK(s.breaker->stats().failed_calls == 1);
    CHECK(s.breaker->stats().successful_calls == 0);
  }
  SECTION("an invalid status throws and leaves the admission unsettled") {
    auto decision = s.guard.admit();
    auto& admission = decision.admission();
    CHECK_THROWS_AS(admission.record_status(42), std::invalid_argument);
    CHECK(static_cast<bool>(admission));
    admission.record_failure();
    CHECK(s.breaker->stats().failed_calls == 1);
  }
  SECTION("record_failure and record_ignored settle without a status") {
    s.guard.admit().admission().record_failure();
    s.guard.admit().admission().record_ignored();
    CHECK(s.breaker->stats().failed_calls == 1);
    CHECK(s.breaker->stats().ignored_calls == 1);
  }
  SECTION("a moved-from admission records nothing, the moved-to one settles") {
    auto decision = s.guard.admit();
    Guard::admission_type target = std::move(decision.admission());
    CHECK_FALSE(static_cast<bool>(decision.admission()));
    target.record_status(200);
    CHECK(s.breaker->stats().successful_calls == 1);
    CHECK(s.breaker->stats().ignored_calls == 0);
  }
}

TEST_CASE("an admitted decision has no rejection and a rejected one no admission",
          "[server-guard]") {
  Setup s;
  auto admitted = s.guard.admit();
  CHECK(static_cast<bool>(admitted));
  CHECK_THROWS_AS(admitted.rejection(), std::logic_error);
  admitted.admission().record_status(200);

  s.breaker->force_open();
  auto rejected = s.guard.admit();
  CHECK_FALSE(rejected.admitted());
  CHECK_THROWS_AS(rejected.admission(), std::logic_error);
  CHECK(rejected.rejection().status == 503);
}

TEST_CASE("two 5xx open the guard: a ready 503 with body and Retry-After counting down",
          "[server-guard]") {
  // Setup
  Setup s;
  s.respond(500);
  s.respond(502);
  REQUIRE(s.breaker->state() == State::open);

  // Rejected at once, with the whole open period announced.
  auto decision = s.guard.admit();
  REQUIRE_FALSE(decision.admitted());
  const breaker::ServerRejection& r = decision.rejection();
  CHECK(r.status == 503);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"error":"CIRCUIT_BREAKER_OPEN","breaker":"orders-api"})");
  CHECK(r.retry_after == 30s);
  CHECK(r.retry_after_header() == "30");
  CHECK(s.breaker->stats().rejected_calls == 1);

  // Time passes: the announced delay shrinks, rounded up.
  s.clock.advance(10s + 500ms);
  CHECK(s.guard.admit().rejection().retry_after == 20s);
  CHECK(s.guard.time_left_open() == 19s + 500ms);
  s.clock.advance(19s);
  CHECK(s.guard.admit().rejection().retry_after == 1s);
  s.clock.advance(499ms);
  CHECK(s.guard.admit().rejection().retry_after_header() == "1");
  CHECK(s.breaker->stats().rejected_calls == 4);
}

TEST_CASE("recovery: after the open period probes are admitted and 2xx close the guard",
          "[server-guard]") {
  // Setup: open.
  Setup s;
  s.respond(500);
  s.respond(500);
  REQUIRE_FALSE(s.guard.admit().admitted());

  // The open period ends: the next request is a half-open probe.
  s.clock.advance(30s);
  CHECK(s.guard.time_left_open() == ManualClock::duration::zero());
  {
    auto probe = s.guard.admit();
    REQUIRE(probe.admitted());
    CHECK(probe.admission().admitted_in() == State::half_open);

    // While the only probe slot is taken, others get a 503 with Retry-After 1.
    auto busy = s.guard.admit();
    REQUIRE_FALSE(busy.admitted());
    CHECK(busy.rejection().retry_after == 1s);

    probe.admission().record_status(200);
  }
  s.respond(204);
  CHECK(s.breaker->state() == State::closed);
  s.respond(200);
  CHECK(s.breaker->stats().successful_calls == 3);
}

TEST_CASE("a failed probe reopens the guard for a whole new open period", "[server-guard]") {
  Setup s;
  s.respond(500);
  s.respond(500);
  s.clock.advance(31s);
  s.respond(503);  // the probe fails
  REQUIRE(s.breaker->state() == State::open);
  CHECK(s.guard.admit().rejection().retry_after == 30s);
  s.clock.advance(12s);
  CHECK(s.guard.admit().rejection().retry_after == 18s);
}

TEST_CASE("a breaker opened before the guard existed announces the exact time left open",
          "[server-guard]") {
  ManualClock clock;
  auto b = std::make_shared<Breaker>("orders-api", guard_config(), clock);
  for (int i = 0; i < 2; ++i) b->try_acquire().record_failure();
  REQUIRE(b->state() == State::open);
  clock.advance(10s);

  Guard guard(b, clock);
  const auto retry_after = guard.admit().rejection().retry_after;
  // The breaker reports the remainder itself (time_until_half_open).
  CHECK(retry_after == 20s);
  CHECK(guard.time_left_open() == 20s);
}

TEST_CASE("a forced-open guard rejects with a Retry-After of the open duration",
          "[server-guard]") {
  Setup s;
  s.breaker->force_open();
  for (int i = 0; i < 2; ++i) {
    auto decision = s.guard.admit();
    REQUIRE_FALSE(decision.admitted());
    CHECK(decision.rejection().retry_after == 30s);  // no period ends by itself
    s.clock.advance(40s);  // forced: never half-open
  }
  s.breaker->reset();
  CHECK(s.guard.admit().admitted());
}

TEST_CASE("two guards on one breaker see the same state and the breaker outlives neither",
          "[server-guard]") {
  ManualClock clock;
  auto b = std::make_shared<Breaker>("shared", guard_config(), clock);
  std::optional<Guard> first(std::in_place, b, clock);
  Guard second(b, clock);
  first->admit().admission().record_status(500);
  second.admit().admission().record_status(500);
  CHECK_FALSE(first->admit().admitted());
  first.reset();  // one guard goes; the other and the breaker carry on
  clock.advance(30s);
  auto probe = second.admit();
  REQUIRE(probe.admitted());
  probe.admission().record_status(500);
  CHECK(second.admit().rejection().retry_after == 30s);
}
