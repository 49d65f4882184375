// SPDX-License-Identifier: Apache-2.0
//
// 03_errors_and_fallbacks: what breaker reports and how a caller handles it.
//
// A config error without exceptions and with one, a rejection (errc::open) and its what(), a
// fallback told why it runs (FallbackContext), and an outcome policy that records a 503 reply as
// a failure and a "not found" exception as neither success nor failure. The code between the
// `[docs:...]` markers is shown in docs/03-configuration.md, docs/04-errors-and-fallbacks.md and
// docs/07-outcome-policies.md (the `docs` tests check that the pages match it). Exits 1 if
// anything is not as the pages say.

#include <breaker/breaker.hpp>

#include <asio.hpp>

#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

int mismatches = 0;

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::cout << "MISMATCH: " << what << '\n';
    ++mismatches;
  }
}

struct Response {
  int status = 0;
  std::string body;
};

struct NotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A dependency answering with `status`.
asio::awaitable<Response> get_profile(int status) { co_return Response{status, "profile"}; }

void config_errors() {
  // [docs:build-without-exceptions]
  std::error_code ec;
  std::string why;
  breaker::CircuitBreakerConfig config =
      breaker::CircuitBreakerConfig::builder().failure_threshold(0).build(ec, &why);
  if (ec == breaker::errc::invalid_config) {
    std::cout << "bad settings: " << why << '\n';  // config holds the defaults
  }
  // [docs:build-without-exceptions]
  expect(why == "failure_threshold must be in [1, 65535], got 0", "build(ec) message: " + why);
  expect(config == breaker::CircuitBreakerConfig{}, "build(ec) returns the defaults");
  try {
    breaker::CircuitBreakerConfig::builder().failure_threshold(0).build();
    expect(false, "build() accepted failure_threshold 0");
  } catch (const breaker::CircuitBreakerError& e) {
    expect(std::string(e.what()) == "failure_threshold must be in [1, 65535], got 0: invalid circuit breaker configuration" &&
               e.breaker_name().empty(),
           std::string("builder what(): ") + e.what());
  }

  // [docs:invalid-config-throws]
  try {
    breaker::CircuitBreaker<> orders{"orders", breaker::CircuitBreakerConfig{.timeout_duration{}}};
  } catch (const breaker::CircuitBreakerError& e) {
    // e.error() == breaker::errc::invalid_config, e.breaker_name() == "orders"
    std::cout << e.what() << '\n';
  }
  // [docs:invalid-config-throws]
  try {
    breaker::CircuitBreaker<> orders{"orders", breaker::CircuitBreakerConfig{.timeout_duration{}}};
    expect(false, "the constructor accepted timeout_duration 0");
  } catch (const breaker::CircuitBreakerError& e) {
    expect(e.error() == breaker::errc::invalid_config && e.breaker_name() == "orders",
           "constructor: errc::invalid_config naming the breaker");
    expect(std::string(e.what()) ==
               "circuit breaker 'orders': timeout_duration must be in (0 ms, 31536000000 ms], got 0 ms: "
               "invalid circuit breaker configuration",
           std::string("constructor what(): ") + e.what());
  }
}

asio::awaitable<void> rejections_and_fallbacks() {
  breaker::CircuitBreaker<> cb{"profiles"};
  cb.force_open();

  // [docs:rejection]
  auto fetch = [] { return get_profile(200); };
  try {
    Response r = co_await cb.call(fetch);
  } catch (const breaker::CircuitBreakerError& e) {
    // e.code() == breaker::errc::open; the operation did not run
    std::cout << e.what() << '\n';  // circuit breaker 'profiles': call rejected: circuit breaker is open
  }
  // [docs:rejection]
  try {
    co_await cb.call(fetch);
    expect(false, "an open breaker admitted a call");
  } catch (const breaker::CircuitBreakerError& e) {
    expect(e.code() == breaker::errc::open, "rejection code");
    expect(std::string(e.what()) == "circuit breaker 'profiles': call rejected: circuit breaker is open",
           std::string("rejection what(): ") + e.what());
  }

  // [docs:fallback-context]
  auto cached = [](const breaker::FallbackContext& context) {
    // context.reason: rejected, failed or timed_out; context.error: the exception, if any
    std::cout << "fallback for " << context.breaker_name << " (" << context.reason << ", breaker "
              << context.state << ")\n";
    return Response{200, "cached profile"};
  };
  Response r = co_await cb.call_with_fallback(fetch, cached);
  // [docs:fallback-context]
  expect(r.body == "cached profile", "the fallback's value");

  // A failing operation: the fallback is told so and gets the exception.
  breaker::CircuitBreaker<> flaky{"flaky"};
  auto broken = []() -> asio::awaitable<Response> {
    throw std::runtime_error("connection reset");
    co_return Response{};
  };
  std::string seen;
  auto explain = [&seen](const breaker::FallbackContext& context) {
    try {
      std::rethrow_exception(context.error);
    } catch (const std::runtime_error& e) {
      seen = std::string(breaker::to_string(context.reason)) + ": " + e.what();
    }
    return Response{200, "fallback"};
  };
  r = co_await flaky.call_with_fallback(broken, explain);
  expect(seen == "failed: connection reset" && r.body == "fallback", "failed fallback: " + seen);
  expect(flaky.stats().failed_calls == 1, "the failure is recorded all the same");
}

asio::awaitable<void> outcome_policy() {
  breaker::CircuitBreaker<> api{"profiles-api", breaker::CircuitBreakerConfig::builder()
                                                    .failure_threshold(2)
                                                    .minimum_request_threshold(0)
                                                    .build()};
  // [docs:outcome-policy]
  auto policy = breaker::combine(
      breaker::record_result([](const Response& r) { return r.status >= 500 || r.status == 429; }),
      breaker::ignore_exceptions<NotFound>());

  auto unavailable = [] { return get_profile(503); };
  Response reply = co_await api.call(unavailable, policy);  // returned, and recorded as a failure

  auto missing = []() -> asio::awaitable<Response> {
    throw NotFound("no such profile");
    co_return Response{};
  };
  try {
    co_await api.call(missing, policy);  // rethrown, recorded as ignored
  } catch (const NotFound&) {
  }
  // [docs:outcome-policy]
  const breaker::Stats s = api.stats();
  expect(reply.status == 503, "the 503 reply reaches the caller");
  expect(s.failed_calls == 1 && s.ignored_calls == 1 && s.successful_calls == 0, "policy outcomes");
  expect(api.state() == breaker::State::closed, "one failure of two: still closed");
}

}  // namespace

int main() {
  config_errors();
  asio::io_context ctx;
  std::exception_ptr error;
  asio::co_spawn(
      ctx,
      []() -> asio::awaitable<void> {
        co_await rejections_and_fallbacks();
        co_await outcome_policy();
      },
      [&](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cout << "unexpected exception: " << e.what() << '\n';
    }
    return 1;
  }
  std::cout << (mismatches == 0 ? "all as documented\n" : "NOT as documented\n");
  return mismatches == 0 ? 0 : 1;
}
