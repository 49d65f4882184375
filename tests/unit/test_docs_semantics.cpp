// SPDX-License-Identifier: Apache-2.0
// The code blocks of docs/01-semantics.md, compiled and run: the page quotes the text between the
// `[docs:...]` markers below (checked by `ctest -L docs`), and each case checks what the page
// says the code does.
#include "breaker/circuit_breaker.hpp"
#include "breaker/outcome.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <stdexcept>

using breaker::CircuitBreaker;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::testing::ManualClock;

namespace {

struct Response {
  int status;
};
struct NotFound : std::runtime_error {
  NotFound() : std::runtime_error("not found") {}
};

CircuitBreakerConfig two_failures() {
  return CircuitBreakerConfig::builder().failure_threshold(2).build();
}

}  // namespace

TEST_CASE("docs/01-semantics: a combined policy returns a 503 and records it as a failure",
          "[docs][outcome]") {
  ManualClock clock;
  CircuitBreaker<ManualClock> cb("svc", two_failures(), clock);
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<Response> { co_return Response{503}; };
  auto run = [&]() -> asio::awaitable<int> {
    // [docs:combine-policy]
    auto policy = breaker::combine(
        breaker::record_result([](const Response& r) { return r.status >= 500 || r.status == 429; }),
        breaker::ignore_exceptions<NotFound>());
    Response r = co_await cb.call(op, policy);   // a 503 is returned *and* recorded as a failure
    // [docs:combine-policy]
    co_return r.status;
  };
  CHECK(breaker::test::run(ctx, run) == 503);
  CHECK(cb.stats().failed_calls == 1);
  // NotFound is ignored: neither a failure nor a success.
  auto not_found = []() -> asio::awaitable<Response> {
    throw NotFound{};
    co_return Response{200};
  };
  auto policy = breaker::combine(
      breaker::record_result([](const Response& r) { return r.status >= 500 || r.status == 429; }),
      breaker::ignore_exceptions<NotFound>());
  CHECK_THROWS_AS(breaker::test::run(ctx, [&] { return cb.call(not_found, policy); }), NotFound);
  CHECK(cb.stats().failed_calls == 1);
  CHECK(cb.state() == State::closed);
}

TEST_CASE("docs/01-semantics: a permit records the outcome of manual work", "[docs][permit]") {
  ManualClock clock;
  CircuitBreaker<ManualClock> breaker("svc", two_failures(), clock);
  int worked = 0;
  int served_from_cache = 0;
  auto do_the_work = [&] { ++worked; };
  auto serve_from_cache = [&] { ++served_from_cache; };
  auto attempt = [&] {
    // [docs:permit]
    if (auto permit = breaker.try_acquire()) {
      do_the_work();
      permit.record_success();          // or record_failure() / record_ignored()
    } else {
      serve_from_cache();               // rejected: no permit, nothing to record
    }
    // [docs:permit]
  };
  attempt();
  CHECK(worked == 1);
  CHECK(breaker.stats().successful_calls == 1);
  breaker.force_open();
  attempt();
  CHECK(worked == 1);
  CHECK(served_from_cache == 1);
}
