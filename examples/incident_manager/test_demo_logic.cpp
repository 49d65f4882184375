// SPDX-License-Identifier: Apache-2.0
// The incident-manager demo's pure parts: its command line, its failure schedules, its view.

#include "options.hpp"
#include "schedule.hpp"
#include "view.hpp"
#include "demo_config.hpp"

#include <breaker/circuit_breaker.hpp>
#include <breaker/testing/manual_clock.hpp>
#include <catch2/catch.hpp>

#include <sstream>

using namespace incident_manager;
using namespace std::chrono_literals;

namespace {
ParseResult parse(std::vector<std::string> args) { return parse_options(args); }
std::string error_of(const ParseResult& r) {
  REQUIRE(std::holds_alternative<UsageError>(r));
  return std::get<UsageError>(r).message;
}
}  // namespace

TEST_CASE("the demo runs on embedded defaults without flags", "[demo][options]") {
  const auto r = parse({});
  REQUIRE(std::holds_alternative<DemoOptions>(r));
  const auto& o = std::get<DemoOptions>(r);
  CHECK(o.port == 0);
  CHECK(o.duration == 30s);
  CHECK(o.postgres_url.empty());
  CHECK(o.redis_url.empty());
  CHECK(o.view == DemoOptions::View::automatic);
}

TEST_CASE("every flag is parsed in both spellings", "[demo][options]") {
  const auto r = parse({"--port", "8080", "--duration=1m30s", "--postgres",
                        "hostaddr=127.0.0.1 port=5432", "--redis=redis://127.0.0.1:6379",
                        "--view", "plain", "--seed=7"});
  REQUIRE(std::holds_alternative<DemoOptions>(r));
  const auto& o = std::get<DemoOptions>(r);
  CHECK(o.port == 8080);
  CHECK(o.duration == 90s);
  CHECK(o.postgres_url == "hostaddr=127.0.0.1 port=5432");
  CHECK(o.redis_url == "redis://127.0.0.1:6379");
  CHECK(o.view == DemoOptions::View::plain);
  CHECK(o.seed == 7);
  CHECK(std::holds_alternative<HelpRequested>(parse({"--help"})));
}

TEST_CASE("a bad flag gives a message that names it", "[demo][options]") {
  CHECK_THAT(error_of(parse({"--bogus"})), Catch::Contains("--bogus"));
  CHECK_THAT(error_of(parse({"--port", "70000"})), Catch::Contains("70000"));
  CHECK_THAT(error_of(parse({"--port"})), Catch::Contains("--port needs a value"));
  CHECK_THAT(error_of(parse({"--duration", "30"})), Catch::Contains("'30'"));
  CHECK_THAT(error_of(parse({"--duration", "0s"})), Catch::Contains("positive"));
  CHECK_THAT(error_of(parse({"--redis", "localhost"})), Catch::Contains("redis://"));
  CHECK_THAT(error_of(parse({"--view", "fancy"})), Catch::Contains("auto, plain or off"));
  CHECK_THAT(error_of(parse({"--help=1"})), Catch::Contains("no value"));
}

TEST_CASE("durations take ms, s, m and h and refuse the rest", "[demo][options]") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("2m") == 120s);
  CHECK(parse_duration("1h") == 3600s);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("10x"));
  CHECK_FALSE(parse_duration("25h"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("99999999999999999999s"));
}

TEST_CASE("a schedule's phases scale with the run and the last one lasts", "[demo][schedule]") {
  const Schedule s({{0.0, FailureMode::healthy}, {0.5, FailureMode::down}}, 10s);
  CHECK(s.mode_at(0ms) == FailureMode::healthy);
  CHECK(s.mode_at(4999ms) == FailureMode::healthy);
  CHECK(s.mode_at(5000ms) == FailureMode::down);
  CHECK(s.mode_at(60s) == FailureMode::down);
  CHECK_THROWS_AS(Schedule({}, 10s), std::invalid_argument);
  CHECK_THROWS_AS(Schedule({{0.1, FailureMode::healthy}}, 10s), std::invalid_argument);
  CHECK_THROWS_AS(Schedule({{0.0, FailureMode::healthy}, {0.0, FailureMode::down}}, 10s),
                  std::invalid_argument);
  CHECK_THROWS_AS(Schedule({{0.0, FailureMode::healthy}, {1.0, FailureMode::down}}, 10s),
                  std::invalid_argument);
}

TEST_CASE("every dependency has trouble and is healthy for the last fifth", "[demo][schedule]") {
  const auto s = demo_schedules(30s);
  for (const Schedule* schedule : {&s.sentinel, &s.llm, &s.slack, &s.pagerduty}) {
    bool trouble = false;
    for (const auto& phase : schedule->phases()) trouble |= phase.mode != FailureMode::healthy;
    CHECK(trouble);
    CHECK(schedule->mode_at(24s) == FailureMode::healthy);
  }
  CHECK(s.sentinel.mode_at(5s) == FailureMode::erroring);
  CHECK(s.llm.mode_at(15s) == FailureMode::slow);
  CHECK(s.slack.mode_at(15s) == FailureMode::down);
  CHECK(s.pagerduty.mode_at(18s) == FailureMode::recovering);
  // Trouble while alerts flow: the sentinel is healthy again before the others fail.
  CHECK(s.sentinel.mode_at(11s) == FailureMode::healthy);
}

TEST_CASE("the view prints aligned rows and redraws in place on a terminal", "[demo][view]") {
  const std::vector<BreakerRow> rows{{"sentinel", "open", 10, 5, 3, 1500ms},
                                     {"llm", "closed", 7, 0, 0, 0ms}};
  const auto lines = render_rows(rows);
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Catch::StartsWith("sentinel  OPEN"));
  CHECK_THAT(lines[0], Catch::EndsWith("open 1.5s"));
  CHECK_THAT(lines[1], Catch::StartsWith("llm       CLOSED"));
  CHECK_THAT(lines[1], Catch::EndsWith("open -"));

  std::ostringstream tty;
  TerminalView live(tty, true);
  live.draw(rows, 1s);
  live.draw(rows, 2s);
  CHECK_THAT(tty.str(), Catch::Contains("\x1b[3F\x1b[J"));  // up over header + 2 rows

  std::ostringstream plain;
  TerminalView lines_view(plain, false);
  lines_view.draw(rows, 1s);
  lines_view.log("sentinel: closed -> open");
  CHECK(plain.str().find('\x1b') == std::string::npos);
  CHECK_THAT(plain.str(), Catch::Contains("sentinel: closed -> open"));
}

TEST_CASE("the demo scales each preset's open period and volume gate to the run, nothing else",
          "[demo][config]") {
  using breaker::CircuitBreakerConfig;
  for (const CircuitBreakerConfig& preset :
       {CircuitBreakerConfig::for_http_api(), CircuitBreakerConfig::for_llm_service(),
        CircuitBreakerConfig::for_database(), CircuitBreakerConfig::for_cache(),
        CircuitBreakerConfig::for_notifications()}) {
    const CircuitBreakerConfig thirty = scaled_for_demo(preset, 30s);
    CHECK(thirty.timeout_duration == 2s);
    CHECK(thirty.minimum_request_threshold == 3);
    CHECK(!thirty.validate());
    CircuitBreakerConfig same = thirty;
    same.timeout_duration = preset.timeout_duration;
    same.minimum_request_threshold = preset.minimum_request_threshold;
    CHECK(same == preset);
    CHECK(scaled_for_demo(preset, 3s).timeout_duration == 500ms);  // floor
  }
  // A long run keeps the preset's own open period.
  CHECK(scaled_for_demo(CircuitBreakerConfig::for_database(), 1h).timeout_duration == 10s);
  CircuitBreakerConfig small = CircuitBreakerConfig::for_http_api();
  small.minimum_request_threshold = 1;
  CHECK(scaled_for_demo(small, 30s).minimum_request_threshold == 1);
}

TEST_CASE("the demo polls and raises alerts at a rate scaled to the run, within bounds",
          "[demo][config]") {
  CHECK(poll_interval(30s) == 500ms);
  CHECK(poll_interval(12s) == 200ms);
  CHECK(poll_interval(1s) == 100ms);
  CHECK(alert_interval(30s) == 1s);
  CHECK(alert_interval(12s) == 400ms);
  CHECK(alert_interval(24h) == 2s);
}

TEST_CASE("a seed with trailing characters is a usage error, not a silently truncated number",
          "[demo][options]") {
  CHECK_THAT(error_of(parse({"--seed", "12abc"})), Catch::Contains("--seed"));
  CHECK_THAT(error_of(parse({"--seed", "-1"})), Catch::Contains("--seed"));
  CHECK_THAT(error_of(parse({"--seed="})), Catch::Contains("--seed"));
  const auto ok = parse({"--seed", "18446744073709551615"});
  REQUIRE(std::holds_alternative<DemoOptions>(ok));
  CHECK(std::get<DemoOptions>(ok).seed == 18446744073709551615ull);
}

TEST_CASE("the PagerDuty breaker opens on every other request failing, the preset would not",
          "[demo][config]") {
  using breaker::CircuitBreakerConfig;
  const CircuitBreakerConfig rate = pagerduty_breaker_config(30s);
  CHECK(!rate.validate());
  CHECK(rate.trip_policy == breaker::TripPolicy::failure_rate);
  CircuitBreakerConfig same = rate;  // only the trip rule differs from the scaled preset
  same.trip_policy = breaker::TripPolicy::consecutive_failures;
  same.window_size = CircuitBreakerConfig{}.window_size;
  same.minimum_request_threshold = 3;
  CHECK(same == scaled_for_demo(CircuitBreakerConfig::for_notifications(), 30s));

  breaker::testing::ManualClock clock;
  breaker::CircuitBreaker<breaker::testing::ManualClock> with_rate("pd", rate, clock);
  breaker::CircuitBreaker<breaker::testing::ManualClock> consecutive(
      "pd-preset", scaled_for_demo(CircuitBreakerConfig::for_notifications(), 30s), clock);
  auto alternate = [](auto& cb, int outcomes) {
    for (int i = 0; i < outcomes; ++i) {
      auto permit = cb.try_acquire();
      if (!permit) return i;
      if (i % 2 == 0) {
        permit.record_success();
      } else {
        permit.record_failure();
      }
    }
    return outcomes;
  };
  CHECK(alternate(with_rate, 40) == 4);  // 2 failures in 4 outcomes: 50 %, the window's minimum
  CHECK(with_rate.state() == breaker::State::open);
  CHECK(alternate(consecutive, 40) == 40);
  CHECK(consecutive.state() == breaker::State::closed);
}
