// SPDX-License-Identifier: Apache-2.0
// The incident-manager demo's pure parts: its command line, its failure schedules, its view.

#include "options.hpp"
#include "schedule.hpp"
#include "view.hpp"

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
  CHECK(s.llm.mode_at(10s) == FailureMode::slow);
  CHECK(s.slack.mode_at(10s) == FailureMode::down);
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
