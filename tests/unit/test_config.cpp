// SPDX-License-Identifier: Apache-2.0
#include "breaker/breaker.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <string>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using namespace std::chrono_literals;

namespace {
void check_preset(const CircuitBreakerConfig& c, std::uint32_t failures, std::uint32_t successes,
                  std::chrono::milliseconds timeout, std::uint32_t half_open, bool timeout_fails,
                  std::uint32_t minimum) {
  CHECK(c.failure_threshold == failures);
  CHECK(c.success_threshold == successes);
  CHECK(c.timeout_duration == timeout);
  CHECK(c.half_open_max_requests == half_open);
  CHECK(c.count_timeout_as_failure == timeout_fails);
  CHECK(c.minimum_request_threshold == minimum);
  CHECK(c.call_timeout == 0ms);
  CHECK_FALSE(c.validate());
}

// Builds with one field changed and checks the error names the field.
template <class Set>
void check_invalid(Set set, const std::string& field) {
  auto builder = CircuitBreakerConfig::builder();
  set(builder);
  std::error_code ec;
  (void)builder.build(ec);
  CHECK(ec == errc::invalid_config);
  try {
    (void)builder.build();
    FAIL("build() accepted an invalid " << field);
  } catch (const CircuitBreakerError& e) {
    CHECK(e.code() == errc::invalid_config);
    CHECK_THAT(e.what(), Catch::Contains(field));
  }
}
}  // namespace

TEST_CASE("the defaults are the default preset", "[config]") {
  check_preset(CircuitBreakerConfig{}, 5, 2, 60s, 3, true, 10);
  CHECK(CircuitBreakerConfig::builder().build() == CircuitBreakerConfig{});
}

TEST_CASE("presets have their documented values", "[config][presets]") {
  check_preset(CircuitBreakerConfig::for_http_api(), 5, 2, 30s, 3, true, 10);
  check_preset(CircuitBreakerConfig::for_llm_service(), 3, 2, 120s, 2, true, 5);
  check_preset(CircuitBreakerConfig::for_database(), 10, 3, 10s, 5, true, 20);
  check_preset(CircuitBreakerConfig::for_notifications(), 10, 2, 60s, 3, false, 15);
  check_preset(CircuitBreakerConfig::for_cache(), 8, 3, 20s, 4, true, 15);
}

TEST_CASE("the builder sets every field", "[config][builder]") {
  const auto c = CircuitBreakerConfig::builder()
                     .failure_threshold(7)
                     .success_threshold(4)
                     .timeout_duration(3s)
                     .half_open_max_requests(9)
                     .count_timeout_as_failure(false)
                     .minimum_request_threshold(0)
                     .call_timeout(250ms)
                     .record_call_durations(false)
                     .build();
  CHECK(c.failure_threshold == 7);
  CHECK(c.success_threshold == 4);
  CHECK(c.timeout_duration == 3s);
  CHECK(c.half_open_max_requests == 9);
  CHECK_FALSE(c.count_timeout_as_failure);
  CHECK(c.minimum_request_threshold == 0);
  CHECK(c.call_timeout == 250ms);
  CHECK_FALSE(c.record_call_durations);
  CHECK(c != CircuitBreakerConfig{});
}

TEST_CASE("the builder rejects each invalid field by name", "[config][builder][validation]") {
  using B = breaker::CircuitBreakerConfigBuilder;
  constexpr auto huge = std::numeric_limits<std::uint32_t>::max();
  check_invalid([](B& b) { b.failure_threshold(0); }, "failure_threshold");
  check_invalid([](B& b) { b.failure_threshold(huge); }, "failure_threshold");
  check_invalid([](B& b) { b.failure_threshold(CircuitBreakerConfig::max_count + 1); },
                "failure_threshold");
  check_invalid([](B& b) { b.success_threshold(0); }, "success_threshold");
  check_invalid([](B& b) { b.success_threshold(huge); }, "success_threshold");
  check_invalid([](B& b) { b.half_open_max_requests(0); }, "half_open_max_requests");
  check_invalid(
      [](B& b) { b.half_open_max_requests(CircuitBreakerConfig::max_half_open_requests + 1); },
      "half_open_max_requests");
  check_invalid([](B& b) { b.minimum_request_threshold(huge); }, "minimum_request_threshold");
  check_invalid([](B& b) { b.timeout_duration(0ms); }, "timeout_duration");
  check_invalid([](B& b) { b.timeout_duration(-5ms); }, "timeout_duration");
  check_invalid([](B& b) { b.timeout_duration(std::chrono::milliseconds::max()); },
                "timeout_duration");
  check_invalid([](B& b) { b.call_timeout(-1ms); }, "call_timeout");
  check_invalid([](B& b) { b.call_timeout(CircuitBreakerConfig::max_duration + 1ms); },
                "call_timeout");
}

TEST_CASE("limits themselves are valid, and a zero volume gate is allowed", "[config][validation]") {
  std::error_code ec;
  (void)CircuitBreakerConfig::builder()
      .failure_threshold(CircuitBreakerConfig::max_count)
      .success_threshold(CircuitBreakerConfig::max_count)
      .half_open_max_requests(CircuitBreakerConfig::max_half_open_requests)
      .minimum_request_threshold(0)
      .timeout_duration(CircuitBreakerConfig::max_duration)
      .call_timeout(CircuitBreakerConfig::max_duration)
      .build(ec);
  CHECK_FALSE(ec);
}

TEST_CASE("the non-throwing build reports no error for a valid config", "[config][builder]") {
  std::error_code ec = breaker::make_error_code(errc::open);
  const auto c = CircuitBreakerConfig::builder().failure_threshold(2).build(ec);
  CHECK_FALSE(ec);
  CHECK(c.failure_threshold == 2);
}

TEST_CASE("the non-throwing build reports which field is invalid", "[config][builder]") {
  std::error_code ec;
  std::string message = "stale text";
  const auto c = CircuitBreakerConfig::builder()
                     .failure_threshold(3)
                     .half_open_max_requests(0)
                     .call_timeout(-1ms)  // also invalid, but after half_open_max_requests
                     .build(ec, &message);
  CHECK(ec == errc::invalid_config);
  CHECK(message == "half_open_max_requests must be in [1, 4095], got 0");
  CHECK(c == CircuitBreakerConfig{});  // the defaults, never the invalid config

  SECTION("the message is the one build() throws") {
    try {
      (void)CircuitBreakerConfig::builder().half_open_max_requests(0).build();
      FAIL("build() accepted an invalid config");
    } catch (const CircuitBreakerError& e) {
      CHECK(std::string(e.what()).find(message) != std::string::npos);
    }
  }
  SECTION("a valid config clears the message and the code") {
    const auto ok = CircuitBreakerConfig::builder().failure_threshold(3).build(ec, &message);
    CHECK_FALSE(ec);
    CHECK(message.empty());
    CHECK(ok.failure_threshold == 3);
  }
  SECTION("a null message pointer is allowed") {
    (void)CircuitBreakerConfig::builder().success_threshold(0).build(ec, nullptr);
    CHECK(ec == errc::invalid_config);
  }
}

TEST_CASE("first_difference names the first differing field with both values",
          "[config][difference]") {
  using breaker::first_difference;
  const CircuitBreakerConfig base;
  CHECK(first_difference(base, base).empty());
  CHECK(first_difference(CircuitBreakerConfig::for_cache(), CircuitBreakerConfig::for_cache())
            .empty());

  // One case per field, in declaration order: each must be named (none falls through).
  auto changed = [&](auto set) {
    CircuitBreakerConfig c = base;
    set(c);
    return first_difference(base, c);
  };
  CHECK(changed([](auto& c) { c.failure_threshold = 7; }) == "failure_threshold (5 vs 7)");
  CHECK(changed([](auto& c) { c.success_threshold = 1; }) == "success_threshold (2 vs 1)");
  CHECK(changed([](auto& c) { c.timeout_duration = 1500ms; }) ==
        "timeout_duration (60000 ms vs 1500 ms)");
  CHECK(changed([](auto& c) { c.half_open_max_requests = 9; }) ==
        "half_open_max_requests (3 vs 9)");
  CHECK(changed([](auto& c) { c.count_timeout_as_failure = false; }) ==
        "count_timeout_as_failure (true vs false)");
  CHECK(changed([](auto& c) { c.minimum_request_threshold = 0; }) ==
        "minimum_request_threshold (10 vs 0)");
  CHECK(changed([](auto& c) { c.call_timeout = 250ms; }) == "call_timeout (0 ms vs 250 ms)");
  CHECK(changed([](auto& c) { c.record_call_durations = false; }) ==
        "record_call_durations (true vs false)");
  CHECK(changed([](auto& c) { c.duration_sample_every = 16; }) ==
        "duration_sample_every (64 vs 16)");

  // Several fields differ: the first in declaration order is named, `a`'s value first.
  CHECK(first_difference(CircuitBreakerConfig::for_http_api(),
                         CircuitBreakerConfig::for_database()) ==
        "failure_threshold (5 vs 10)");
  CHECK(first_difference(CircuitBreakerConfig::for_database(),
                         CircuitBreakerConfig::for_http_api()) ==
        "failure_threshold (10 vs 5)");
}

TEST_CASE("a breaker refuses an invalid config and names itself", "[config][validation]") {
  CircuitBreakerConfig c;
  c.success_threshold = 0;
  try {
    breaker::CircuitBreaker<> cb("payments", c);
    FAIL("constructor accepted an invalid config");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.code() == errc::invalid_config);
    CHECK(e.breaker_name() == "payments");
    CHECK_THAT(e.what(), Catch::Contains("success_threshold") && Catch::Contains("payments"));
  }
}

TEST_CASE("errors use the breaker category", "[error]") {
  const std::error_code ec = errc::timeout;
  CHECK(ec.category() == breaker::error_category());
  CHECK(std::string(breaker::error_category().name()) == "breaker");
  CHECK(ec.value() == 3);
  CHECK(ec.message() == "operation timed out");
  CHECK(static_cast<int>(errc::open) == 1);
  CHECK(breaker::make_error_code(errc::not_found).message() == "circuit breaker not found");
  CHECK(static_cast<int>(errc::already_exists) == 6);  // appended: earlier values unchanged
  CHECK(breaker::make_error_code(errc::already_exists).message() ==
        "circuit breaker already exists");
  const CircuitBreakerError e(errc::open, "db");
  CHECK(e.code() == errc::open);
  CHECK(e.breaker_name() == "db");
  CHECK(dynamic_cast<const std::system_error*>(&e) != nullptr);
}

TEST_CASE("states have their names", "[state]") {
  CHECK(breaker::to_string(breaker::State::closed) == "closed");
  CHECK(breaker::to_string(breaker::State::open) == "open");
  CHECK(breaker::to_string(breaker::State::half_open) == "half-open");
  CHECK(static_cast<int>(breaker::State::half_open) == 2);
}
