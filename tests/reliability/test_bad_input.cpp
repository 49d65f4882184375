// SPDX-License-Identifier: Apache-2.0
//
// Bad input to the breaker itself: every invalid config field through both
// builder overloads, the constructor and update_config; the largest valid
// values working at their limits; odd breaker names; hostile listeners.
// (Registry, metrics and JSON escaping of names are tested in
// tests/unit/test_registry.cpp and test_prometheus.cpp.)

#include "differential.hpp"
#include "support.hpp"

#include <breaker/breaker.hpp>
#include <breaker/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerConfigBuilder;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::State;
using breaker::Stats;
using breaker::testing::ManualClock;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;

struct BadField {
  const char* field;
  const char* value;
  std::function<void(CircuitBreakerConfigBuilder&)> set;
};

using ms = std::chrono::milliseconds;
constexpr auto max_count = CircuitBreakerConfig::max_count;
constexpr auto max_probes = CircuitBreakerConfig::max_half_open_requests;
constexpr auto max_duration = CircuitBreakerConfig::max_duration;
constexpr auto u32_max = std::numeric_limits<std::uint32_t>::max();
constexpr auto ms_max = ms(std::numeric_limits<ms::rep>::max());
constexpr auto ms_min = ms(std::numeric_limits<ms::rep>::min());

std::vector<BadField> bad_fields() {
  return {
      {"failure_threshold", "0", [](auto& b) { b.failure_threshold(0); }},
      {"failure_threshold", "max_count + 1", [](auto& b) { b.failure_threshold(max_count + 1); }},
      {"failure_threshold", "UINT32_MAX", [](auto& b) { b.failure_threshold(u32_max); }},
      {"success_threshold", "0", [](auto& b) { b.success_threshold(0); }},
      {"success_threshold", "max_count + 1", [](auto& b) { b.success_threshold(max_count + 1); }},
      {"success_threshold", "UINT32_MAX", [](auto& b) { b.success_threshold(u32_max); }},
      {"half_open_max_requests", "0", [](auto& b) { b.half_open_max_requests(0); }},
      {"half_open_max_requests", "max_half_open_requests + 1",
       [](auto& b) { b.half_open_max_requests(max_probes + 1); }},
      {"half_open_max_requests", "max_count", [](auto& b) { b.half_open_max_requests(max_count); }},
      {"half_open_max_requests", "UINT32_MAX", [](auto& b) { b.half_open_max_requests(u32_max); }},
      {"minimum_request_threshold", "max_count + 1",
       [](auto& b) { b.minimum_request_threshold(max_count + 1); }},
      {"minimum_request_threshold", "UINT32_MAX",
       [](auto& b) { b.minimum_request_threshold(u32_max); }},
      {"timeout_duration", "0 ms", [](auto& b) { b.timeout_duration(0ms); }},
      {"timeout_duration", "-1 ms", [](auto& b) { b.timeout_duration(-1ms); }},
      {"timeout_duration", "most negative", [](auto& b) { b.timeout_duration(ms_min); }},
      {"timeout_duration", "max_duration + 1 ms",
       [](auto& b) { b.timeout_duration(max_duration + 1ms); }},
      {"timeout_duration", "largest ms", [](auto& b) { b.timeout_duration(ms_max); }},
      {"call_timeout", "-1 ms", [](auto& b) { b.call_timeout(-1ms); }},
      {"call_timeout", "most negative", [](auto& b) { b.call_timeout(ms_min); }},
      {"call_timeout", "max_duration + 1 ms", [](auto& b) { b.call_timeout(max_duration + 1ms); }},
      {"call_timeout", "largest ms", [](auto& b) { b.call_timeout(ms_max); }},
  };
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void open_now(Breaker& b) {
  while (b.state() == State::closed) b.try_acquire().record_failure();
}

}  // namespace

TEST_CASE("every invalid config field gives invalid_config naming the field, on every path",
          "[reliability][bad-input][config]") {
  for (const BadField& bad : bad_fields()) {
    INFO(bad.field << " = " << bad.value);
    CircuitBreakerConfigBuilder builder = CircuitBreakerConfig::builder();
    bad.set(builder);

    // build(): throws, names the field, concerns no breaker.
    try {
      (void)builder.build();
      FAIL("build() accepted it");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.code() == make_error_code(errc::invalid_config));
      CHECK(e.error() == errc::invalid_config);
      CHECK(contains(e.what(), bad.field));
      CHECK(e.breaker_name().empty());
    }

    // build(ec): never throws, sets ec, returns the defaults.
    std::error_code ec;
    CircuitBreakerConfig fallback;
    CHECK_NOTHROW(fallback = builder.build(ec));
    CHECK(ec == errc::invalid_config);
    CHECK(ec.category().name() == std::string("breaker"));
    CHECK(fallback == CircuitBreakerConfig{});

    // The builder started from a valid preset fails the same way.
    CircuitBreakerConfigBuilder from_preset(CircuitBreakerConfig::for_database());
    bad.set(from_preset);
    CHECK_THROWS_AS(from_preset.build(), CircuitBreakerError);
  }
}

TEST_CASE("the constructor and update_config reject each invalid field and name it and the breaker",
          "[reliability][bad-input][config]") {
  // One invalid field at a time, set directly on the aggregate.
  struct Case {
    const char* field;
    std::function<void(CircuitBreakerConfig&)> set;
  };
  const std::vector<Case> cases{
      {"failure_threshold", [](auto& c) { c.failure_threshold = 0; }},
      {"failure_threshold",
       [](auto& c) { c.failure_threshold = CircuitBreakerConfig::max_count + 1; }},
      {"success_threshold", [](auto& c) { c.success_threshold = 0; }},
      {"success_threshold", [](auto& c) { c.success_threshold = 0xFFFFFFFFu; }},
      {"half_open_max_requests", [](auto& c) { c.half_open_max_requests = 0; }},
      {"half_open_max_requests",
       [](auto& c) {
         c.half_open_max_requests = CircuitBreakerConfig::max_half_open_requests + 1;
       }},
      {"minimum_request_threshold",
       [](auto& c) { c.minimum_request_threshold = CircuitBreakerConfig::max_count + 1; }},
      {"timeout_duration", [](auto& c) { c.timeout_duration = 0ms; }},
      {"timeout_duration", [](auto& c) { c.timeout_duration = ms(-5); }},
      {"timeout_duration",
       [](auto& c) { c.timeout_duration = CircuitBreakerConfig::max_duration + 1ms; }},
      {"call_timeout", [](auto& c) { c.call_timeout = ms(-1); }},
      {"call_timeout", [](auto& c) { c.call_timeout = CircuitBreakerConfig::max_duration + 1ms; }},
  };
  const std::string name = "bad \"config\"\n\xE2\x9C\x97";
  for (const Case& bad : cases) {
    INFO(bad.field);
    CircuitBreakerConfig c;
    bad.set(c);

    std::string message;
    CHECK(c.validate(&message) == errc::invalid_config);
    CHECK(contains(message, bad.field));

    try {
      Breaker b(name, c, ManualClock{});
      FAIL("the constructor accepted it");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.code() == make_error_code(errc::invalid_config));
      CHECK(e.breaker_name() == name);
      CHECK(contains(e.what(), bad.field));
      CHECK(contains(e.what(), name));
    }

    Breaker live(name, CircuitBreakerConfig{}, ManualClock{});
    live.try_acquire().record_failure();
    const Stats before = live.stats();
    try {
      live.update_config(c);
      FAIL("update_config accepted it");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.code() == make_error_code(errc::invalid_config));
      CHECK(e.breaker_name() == name);
      CHECK(contains(e.what(), bad.field));
    }
    CHECK(live.config() == CircuitBreakerConfig{});
    CHECK(live.stats() == before);
  }
}

TEST_CASE("random configs with one invalid field are all refused by name",
          "[reliability][bad-input][config]") {
  const std::uint64_t n = breaker::reliability::scaled(3000);
  for (std::uint64_t seed = 1; seed <= n; ++seed) {
    std::string field;
    const CircuitBreakerConfig c = breaker::reliability::random_invalid_config(seed, &field);
    INFO("seed " << seed << ": " << breaker::reliability::describe(c));
    std::string message;
    REQUIRE(c.validate(&message) == errc::invalid_config);
    REQUIRE(contains(message, field));
    CircuitBreakerConfigBuilder builder(c);
    std::error_code ec;
    CHECK(builder.build(ec) == CircuitBreakerConfig{});
    CHECK(ec == errc::invalid_config);
    CHECK_THROWS_AS(Breaker("x", c, ManualClock{}), CircuitBreakerError);
  }
  breaker::reliability::print_figures("bad input: " + std::to_string(n) +
                                      " random invalid configs refused");
}

TEST_CASE("the largest valid values work at their limits", "[reliability][bad-input][limits]") {
  ManualClock clock;

  SECTION("failure_threshold = max_count opens on exactly the max_count-th failure") {
    Breaker b("max failures",
              CircuitBreakerConfig::builder()
                  .failure_threshold(max_count)
                  .minimum_request_threshold(0)
                  .build(),
              clock);
    for (std::uint32_t i = 1; i < max_count; ++i) b.try_acquire().record_failure();
    CHECK(b.state() == State::closed);
    CHECK(b.stats().consecutive_failures == max_count - 1);
    b.try_acquire().record_failure();
    CHECK(b.state() == State::open);
    CHECK(b.stats().consecutive_failures == max_count);
  }
  SECTION("minimum_request_threshold = max_count gates until exactly max_count outcomes") {
    Breaker b("max volume",
              CircuitBreakerConfig::builder()
                  .failure_threshold(1)
                  .minimum_request_threshold(max_count)
                  .build(),
              clock);
    for (std::uint32_t i = 1; i < max_count; ++i) b.try_acquire().record_failure();
    CHECK(b.state() == State::closed);
    b.try_acquire().record_failure();
    CHECK(b.state() == State::open);
  }
  SECTION("success_threshold = max_count closes on exactly the max_count-th probe success") {
    Breaker b("max successes",
              CircuitBreakerConfig::builder()
                  .failure_threshold(1)
                  .success_threshold(max_count)
                  .minimum_request_threshold(0)
                  .half_open_max_requests(1)
                  .timeout_duration(1ms)
                  .build(),
              clock);
    open_now(b);
    clock.advance(1ms);
    for (std::uint32_t i = 1; i < max_count; ++i) b.try_acquire().record_success();
    CHECK(b.state() == State::half_open);
    CHECK(b.stats().consecutive_successes == max_count - 1);
    b.try_acquire().record_success();
    CHECK(b.state() == State::closed);
  }
  SECTION("half_open_max_requests = max_half_open_requests admits exactly that many probes") {
    constexpr std::uint32_t limit = CircuitBreakerConfig::max_half_open_requests;
    Breaker b("max probes",
              CircuitBreakerConfig::builder()
                  .failure_threshold(1)
                  .minimum_request_threshold(0)
                  .half_open_max_requests(limit)
                  .timeout_duration(1ms)
                  .build(),
              clock);
    open_now(b);
    clock.advance(1ms);
    std::vector<Breaker::Permit> probes;
    for (std::uint32_t i = 0; i < limit; ++i) {
      probes.push_back(b.try_acquire());
      REQUIRE(probes.back());
    }
    CHECK(b.probes_in_flight() == limit);
    CHECK_FALSE(b.try_acquire());  // the 12-bit field is full, not wrapped
    CHECK(b.state() == State::half_open);
    probes.clear();  // all ignored
    CHECK(b.probes_in_flight() == 0);
    CHECK(b.try_acquire());
  }
  SECTION("timeout_duration = max_duration holds the breaker open for a year") {
    Breaker b("max timeout",
              CircuitBreakerConfig::builder()
                  .failure_threshold(1)
                  .minimum_request_threshold(0)
                  .timeout_duration(CircuitBreakerConfig::max_duration)
                  .call_timeout(CircuitBreakerConfig::max_duration)
                  .build(),
              clock);
    open_now(b);
    clock.advance(CircuitBreakerConfig::max_duration - 1ms);
    CHECK(b.state() == State::open);
    CHECK_FALSE(b.try_acquire());
    clock.advance(1ms);
    CHECK(b.state() == State::half_open);
    CHECK(b.try_acquire());
  }
  SECTION("minimum_request_threshold = 0 means no volume gate") {
    Breaker b(
        "no gate",
        CircuitBreakerConfig::builder().failure_threshold(1).minimum_request_threshold(0).build(),
        clock);
    b.try_acquire().record_failure();
    CHECK(b.state() == State::open);
  }
}

TEST_CASE("odd breaker names round-trip through name() and every error",
          "[reliability][bad-input][names]") {
  const std::vector<std::string> names{
      "",
      "plain",
      "with \"quotes\" and 'apostrophes'",
      "back\\slash",
      "new\nline\r\ttab",
      std::string("embedded\0nul", 12),
      "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x94\xA5 non-ASCII",
      "\xFF\xFE invalid UTF-8 \xC3",
      "{\"json\": [1, 2]} # {metric=\"label\"}",
      std::string(1 << 20, 'x'),  // one megabyte
  };
  for (const std::string& name : names) {
    INFO("name of " << name.size() << " bytes");
    ManualClock clock;
    Breaker b(
        name,
        CircuitBreakerConfig::builder().failure_threshold(1).minimum_request_threshold(0).build(),
        clock);
    CHECK(b.name() == name);
    std::string heard;
    b.on_state_change(
        [&](const breaker::StateTransition& t) { heard = std::string(t.breaker_name); });
    b.try_acquire().record_failure();
    CHECK(heard == name);
    try {
      b.execute([] { return 1; });
      FAIL("an open breaker ran the call");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.code() == make_error_code(errc::open));
      CHECK(e.breaker_name() == name);
      // what() is a C string: it carries the name up to an embedded NUL.
      CHECK(contains(e.what(), name.substr(0, name.find('\0'))));
    }
    CircuitBreakerConfig bad;
    bad.failure_threshold = 0;
    try {
      Breaker refused(name, bad, clock);
      FAIL("an invalid config was accepted");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.breaker_name() == name);
    }
  }
}

TEST_CASE("hostile listeners cannot break the breaker", "[reliability][bad-input][listeners]") {
  ManualClock clock;
  Breaker b("hostile",
            CircuitBreakerConfig::builder()
                .failure_threshold(1)
                .success_threshold(1)
                .minimum_request_threshold(0)
                .timeout_duration(1ms)
                .build(),
            clock);
  int calls = 0;
  b.on_state_change([](const breaker::StateTransition&) { throw 42; });  // not even an exception
  b.on_state_change([](const breaker::StateTransition&) { throw std::bad_alloc(); });
  b.on_state_change([&](const breaker::StateTransition& t) {
    ++calls;
    // Re-entry: read everything, register and remove a listener, and reset
    // from inside a closed -> open notification.
    (void)b.stats();
    (void)b.state();
    const auto id = b.on_state_change([](const breaker::StateTransition&) {});
    CHECK(b.remove_listener(id));
    if (t.from == State::closed && t.to == State::open) b.reset();
  });

  b.try_acquire().record_failure();  // closed -> open, whose listener resets: open -> closed
  CHECK(b.state() == State::closed);
  CHECK(calls == 2);
  CHECK(b.transitions(State::closed, State::open) == 1);
  CHECK(b.transitions(State::open, State::closed) == 1);

  b.force_open();  // closed -> open again: the listener resets it again
  CHECK(b.state() == State::closed);
  CHECK(calls == 4);
  const Stats s = b.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(b.probes_in_flight() == 0);
  CHECK_FALSE(b.remove_listener(999'999));
}
