// SPDX-License-Identifier: Apache-2.0
// Issue 10, section 1: outcome policies (include/breaker/outcome.hpp) and their use by call(),
// execute() and the fallback forms. The helpers are checked directly (no breaker), then through
// a breaker on each path: the closed fast path (durations off), the permit path (durations on)
// and call_timeout.
#include "breaker/circuit_breaker.hpp"
#include "breaker/outcome.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>

using namespace std::chrono_literals;
using breaker::CircuitBreaker;
using breaker::CircuitBreakerConfig;
using breaker::Outcome;
using breaker::State;
using breaker::detail::classify_exception;
using breaker::detail::classify_value;
using breaker::testing::ManualClock;

namespace {

using Breaker = CircuitBreaker<ManualClock>;

struct Response {
  int status;
};

struct Timeout : std::runtime_error {
  Timeout() : std::runtime_error("timeout") {}
};
struct SlowTimeout : Timeout {};
struct NotFound : std::runtime_error {
  NotFound() : std::runtime_error("not found") {}
};

template <class E>
std::exception_ptr ptr(E e) {
  return std::make_exception_ptr(std::move(e));
}
std::exception_ptr cancellation() {
  return ptr(std::system_error(asio::error::operation_aborted));
}

CircuitBreakerConfig config(bool durations) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(2)
      .minimum_request_threshold(0)
      .record_call_durations(durations)
      .build();
}

auto is_5xx = [](const Response& r) { return r.status >= 500; };

}  // namespace

TEST_CASE("the default policy keeps today's rules", "[outcome][policy]") {
  const breaker::DefaultOutcomePolicy p;
  CHECK(classify_value(p, 42) == Outcome::success);
  CHECK(classify_value(p, Response{503}) == Outcome::success);
  CHECK(classify_exception(p, ptr(std::runtime_error("x"))) == Outcome::failure);
  CHECK(classify_exception(p, cancellation()) == Outcome::ignored);
  CHECK(classify_exception(p, ptr(std::system_error(asio::error::connection_refused))) ==
        Outcome::failure);
}

TEST_CASE("error-code style values are classified by their code", "[outcome][policy][error-code]") {
  const breaker::DefaultOutcomePolicy p;
  CHECK(classify_value(p, std::error_code{}) == Outcome::success);
  CHECK(classify_value(p, std::error_code(asio::error::operation_aborted)) == Outcome::ignored);
  CHECK(classify_value(p, std::error_code(asio::error::connection_reset)) == Outcome::failure);
  CHECK(classify_value(p, std::tuple<std::error_code, int>{std::error_code{}, 3}) == Outcome::success);
  CHECK(classify_value(p, std::tuple<std::error_code, std::size_t>{asio::error::eof, 0}) ==
        Outcome::failure);
  CHECK(classify_value(p, std::tuple<std::error_code, int>{asio::error::operation_aborted, 0}) ==
        Outcome::ignored);
  // A policy with a value overload for the tuple decides instead.
  auto lenient = breaker::record_result([](const std::tuple<std::error_code, int>&) { return false; });
  CHECK(classify_value(lenient, std::tuple<std::error_code, int>{asio::error::eof, 0}) ==
        Outcome::success);
}

TEST_CASE("record_exceptions: only the listed types (and derived) are failures",
          "[outcome][policy]") {
  const auto p = breaker::record_exceptions<Timeout, std::out_of_range>();
  CHECK(classify_exception(p, ptr(Timeout{})) == Outcome::failure);
  CHECK(classify_exception(p, ptr(SlowTimeout{})) == Outcome::failure);  // derived
  CHECK(classify_exception(p, ptr(std::out_of_range("x"))) == Outcome::failure);
  CHECK(classify_exception(p, ptr(NotFound{})) == Outcome::success);
  CHECK(classify_exception(p, ptr(42)) == Outcome::success);
  CHECK(classify_exception(p, cancellation()) == Outcome::ignored);
  CHECK(classify_value(p, 1) == Outcome::success);
}

TEST_CASE("ignore_exceptions: the listed types are ignored, the rest by the default rules",
          "[outcome][policy]") {
  const auto p = breaker::ignore_exceptions<NotFound>();
  CHECK(classify_exception(p, ptr(NotFound{})) == Outcome::ignored);
  CHECK(classify_exception(p, ptr(Timeout{})) == Outcome::failure);
  CHECK(classify_exception(p, cancellation()) == Outcome::ignored);
  CHECK(classify_value(p, Response{500}) == Outcome::success);
}

TEST_CASE("record_result: a predicate on the value says which values are failures",
          "[outcome][policy]") {
  const auto p = breaker::record_result(is_5xx);
  CHECK(classify_value(p, Response{503}) == Outcome::failure);
  CHECK(classify_value(p, Response{404}) == Outcome::success);
  CHECK(classify_value(p, 7) == Outcome::success);  // not a Response: the default
  CHECK(classify_exception(p, ptr(Timeout{})) == Outcome::failure);
  CHECK(classify_exception(p, cancellation()) == Outcome::ignored);
}

TEST_CASE("is_successful: gobreaker's IsSuccessful(err) on exceptions", "[outcome][policy]") {
  const auto p = breaker::is_successful([](const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const NotFound&) {
      return true;
    } catch (...) {
      return false;
    }
  });
  CHECK(classify_exception(p, ptr(NotFound{})) == Outcome::success);
  CHECK(classify_exception(p, ptr(Timeout{})) == Outcome::failure);
  CHECK(classify_exception(p, cancellation()) == Outcome::ignored);
  CHECK(classify_value(p, Response{500}) == Outcome::success);
}

TEST_CASE("combine: the first policy that can classify decides, the defaults do the rest",
          "[outcome][policy]") {
  const auto p = breaker::combine(breaker::record_result(is_5xx),
                                  breaker::ignore_exceptions<NotFound>(),
                                  breaker::record_exceptions<Timeout>());
  CHECK(classify_value(p, Response{502}) == Outcome::failure);
  CHECK(classify_value(p, Response{200}) == Outcome::success);
  CHECK(classify_value(p, 5) == Outcome::success);
  CHECK(classify_value(p, std::error_code(asio::error::eof)) == Outcome::failure);
  CHECK(classify_exception(p, ptr(NotFound{})) == Outcome::ignored);  // the first exception policy
  CHECK(classify_exception(p, ptr(Timeout{})) == Outcome::failure);
  CHECK(classify_exception(p, ptr(std::logic_error("x"))) == Outcome::failure);
  const auto values_only = breaker::combine(breaker::record_result(is_5xx));
  CHECK(classify_exception(values_only, cancellation()) == Outcome::ignored);
  CHECK(classify_exception(values_only, ptr(Timeout{})) == Outcome::failure);
  // A hand-written policy with both overloads.
  struct Custom {
    Outcome operator()(const Response& r) const {
      return r.status == 429 ? Outcome::ignored : Outcome::success;
    }
    Outcome operator()(const std::exception_ptr&) const { return Outcome::success; }
  };
  const auto mixed = breaker::combine(Custom{}, breaker::record_result(is_5xx));
  CHECK(classify_value(mixed, Response{429}) == Outcome::ignored);
  CHECK(classify_value(mixed, Response{503}) == Outcome::success);  // Custom came first
  CHECK(classify_exception(mixed, ptr(Timeout{})) == Outcome::success);
}

TEST_CASE("call with a policy records a failure for a failing value and still returns it",
          "[outcome][policy][call]") {
  const bool durations = GENERATE(false, true);  // closed fast path, permit path
  CAPTURE(durations);
  ManualClock clock;
  Breaker cb("svc", config(durations), clock);
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<Response> { co_return Response{503}; };
  const auto policy = breaker::record_result(is_5xx);
  const Response first = breaker::test::run(ctx, [&] { return cb.call(op, policy); });
  CHECK(first.status == 503);
  CHECK(cb.stats().failed_calls == 1);
  CHECK(cb.stats().consecutive_failures == 1);
  breaker::test::run(ctx, [&] { return cb.call(op, policy); });
  CHECK(cb.state() == State::open);
  // Without the policy the same value is a success (the defaults).
  Breaker plain("plain", config(durations), clock);
  breaker::test::run(ctx, [&] { return plain.call(op); });
  CHECK(plain.stats().successful_calls == 1);
}

TEST_CASE("call with a policy classifies exceptions", "[outcome][policy][call]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  Breaker cb("svc", config(durations), clock);
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<int> { throw NotFound{}; co_return 0; };
  const auto policy = breaker::ignore_exceptions<NotFound>();
  for (int i = 0; i < 3; ++i) {
    CHECK_THROWS_AS(breaker::test::run(ctx, [&] { return cb.call(op, policy); }), NotFound);
  }
  CHECK(cb.stats().ignored_calls == 3);
  CHECK(cb.state() == State::closed);
  const auto success = breaker::record_exceptions<Timeout>();
  CHECK_THROWS_AS(breaker::test::run(ctx, [&] { return cb.call(op, success); }), NotFound);
  CHECK(cb.stats().successful_calls == 1);
}

TEST_CASE("error-code style operations are classified by their code without a policy",
          "[outcome][policy][error-code][call]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  Breaker cb("svc", config(durations), clock);
  asio::io_context ctx;
  std::error_code next;
  auto op = [&]() -> asio::awaitable<std::tuple<std::error_code, int>> {
    co_return std::tuple<std::error_code, int>{next, 5};
  };
  auto code_only = [&]() -> asio::awaitable<std::error_code> { co_return next; };
  next = asio::error::operation_aborted;
  auto [ec, v] = breaker::test::run(ctx, [&] { return cb.call(op); });
  CHECK(ec == asio::error::operation_aborted);
  CHECK(v == 5);  // returned unchanged
  CHECK(cb.stats().ignored_calls == 1);
  next = {};
  breaker::test::run(ctx, [&] { return cb.call(code_only); });
  CHECK(cb.stats().successful_calls == 1);
  next = asio::error::connection_refused;
  CHECK(breaker::test::run(ctx, [&] { return cb.call(code_only); }) == asio::error::connection_refused);
  breaker::test::run(ctx, [&] { return cb.call(op); });
  CHECK(cb.stats().failed_calls == 2);
  CHECK(cb.state() == State::open);
}

TEST_CASE("execute with a policy classifies values and exceptions", "[outcome][policy][execute]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  Breaker cb("svc", config(durations), clock);
  const auto policy = breaker::combine(breaker::record_result(is_5xx),
                                       breaker::ignore_exceptions<NotFound>());
  CHECK(cb.execute([] { return Response{500}; }, policy).status == 500);
  CHECK(cb.stats().failed_calls == 1);
  CHECK_THROWS_AS(cb.execute([]() -> Response { throw NotFound{}; }, policy), NotFound);
  CHECK(cb.stats().ignored_calls == 1);
  CHECK(cb.execute([] { return Response{200}; }, policy).status == 200);
  CHECK(cb.stats().successful_calls == 1);
  CHECK(cb.stats().consecutive_failures == 0);
  CHECK(cb.execute([] { return std::error_code(asio::error::timed_out); }) == asio::error::timed_out);
  CHECK(cb.stats().failed_calls == 2);
  // Through a permit too.
  auto permit = cb.try_acquire();
  permit.record(Outcome::ignored);
  CHECK(cb.stats().ignored_calls == 2);
}

TEST_CASE("a value classified as a failure selects the fallback", "[outcome][policy][fallback]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  auto cfg = config(durations);
  cfg.failure_threshold = 10;  // stays closed: every fallback here is for a failed value
  Breaker cb("svc", cfg, clock);
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<Response> { co_return Response{503}; };
  auto fallback = [](const breaker::FallbackContext& c) {
    CHECK(c.reason == breaker::FallbackReason::failed);
    CHECK_FALSE(c.error);
    return Response{299};
  };
  const auto policy = breaker::record_result(is_5xx);
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(op, fallback, policy); }).status ==
        299);
  CHECK(cb.execute_with_fallback([] { return Response{503}; }, fallback, policy).status == 299);
  CHECK(cb.stats().failed_calls == 2);
  // A success is returned as it is.
  auto ok = []() -> asio::awaitable<Response> { co_return Response{201}; };
  CHECK(breaker::test::run(ctx, [&] { return cb.call_with_fallback(ok, fallback, policy); }).status ==
        201);
}

TEST_CASE("an exception that is not a failure is rethrown, not replaced by the fallback",
          "[outcome][policy][fallback]") {
  ManualClock clock;
  Breaker cb("svc", config(false), clock);
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<int> { throw NotFound{}; co_return 0; };
  auto fallback = [] { return -1; };
  CHECK_THROWS_AS(breaker::test::run(ctx, [&] {
                    return cb.call_with_fallback(op, fallback, breaker::ignore_exceptions<NotFound>());
                  }),
                  NotFound);
  CHECK_THROWS_AS(cb.execute_with_fallback([]() -> int { throw NotFound{}; }, fallback,
                                           breaker::record_exceptions<Timeout>()),
                  NotFound);
  CHECK(cb.stats().ignored_calls == 1);
  CHECK(cb.stats().successful_calls == 1);
  // Listed as a failure: replaced.
  CHECK(breaker::test::run(ctx, [&] {
          return cb.call_with_fallback(op, fallback, breaker::record_exceptions<NotFound>());
        }) == -1);
}

TEST_CASE("a cancellation never selects the fallback, whatever the policy says",
          "[outcome][policy][fallback][cancellation]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  ManualClock clock;
  Breaker cb("svc", config(durations), clock);
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<int> {
    throw std::system_error(asio::error::operation_aborted);
    co_return 0;
  };
  bool called = false;
  auto fallback = [&called] {
    called = true;
    return -1;
  };
  // A policy that (wrongly) calls everything a failure.
  struct Harsh {
    Outcome operator()(const std::exception_ptr&) const { return Outcome::failure; }
  };
  CHECK_THROWS_AS(breaker::test::run(ctx, [&] { return cb.call_with_fallback(op, fallback, Harsh{}); }),
                  std::system_error);
  CHECK_THROWS_AS(cb.execute_with_fallback(
                      []() -> int { throw std::system_error(asio::error::operation_aborted); },
                      fallback, Harsh{}),
                  std::system_error);
  CHECK_FALSE(called);
  CHECK(cb.stats().failed_calls == 2);  // the policy's word on what to record
}

TEST_CASE("a policy works with call_timeout", "[outcome][policy][timeout]") {
  ManualClock clock;
  auto c = config(false);
  c.call_timeout = 1h;
  Breaker cb("svc", c, clock);
  asio::io_context ctx;
  auto op = []() -> asio::awaitable<Response> {
    co_await asio::post(asio::use_awaitable);
    co_return Response{500};
  };
  CHECK(breaker::test::run(ctx, [&] { return cb.call(op, breaker::record_result(is_5xx)); }).status ==
        500);
  CHECK(cb.stats().failed_calls == 1);
}

TEST_CASE("classify_exception_of applies an adapter's rule to its own exception type only",
          "[outcome][policy]") {
  struct AdapterError : std::runtime_error {
    explicit AdapterError(bool r) : std::runtime_error("adapter"), retryable(r) {}
    bool retryable;
  };
  struct DerivedError : AdapterError {
    DerivedError() : AdapterError(false) {}
  };
  const auto rule = [](const AdapterError& e) {
    return e.retryable ? Outcome::failure : Outcome::success;
  };
  using breaker::classify_exception_of;
  CHECK(classify_exception_of<AdapterError>(nullptr, rule) == Outcome::success);
  CHECK(classify_exception_of<AdapterError>(std::make_exception_ptr(AdapterError(true)), rule) ==
        Outcome::failure);
  CHECK(classify_exception_of<AdapterError>(std::make_exception_ptr(AdapterError(false)), rule) ==
        Outcome::success);
  CHECK(classify_exception_of<AdapterError>(std::make_exception_ptr(DerivedError()), rule) ==
        Outcome::success);
  CHECK(classify_exception_of<AdapterError>(
            std::make_exception_ptr(std::system_error(asio::error::operation_aborted)), rule) ==
        Outcome::ignored);
  CHECK(classify_exception_of<AdapterError>(std::make_exception_ptr(std::logic_error("x")), rule) ==
        Outcome::failure);
}
