// SPDX-License-Identifier: Apache-2.0
#include "breaker/prometheus.hpp"

#include "breaker/registry.hpp"
#include "breaker/testing/manual_clock.hpp"

#include <prometheus/counter.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::testing::ManualClock;
using ManualRegistry = breaker::BasicRegistry<ManualClock>;

const std::vector<std::string> seven_families{
    "circuit_breaker_state",
    "circuit_breaker_calls_total",
    "circuit_breaker_successful_calls_total",
    "circuit_breaker_failed_calls_total",
    "circuit_breaker_rejected_calls_total",
    "circuit_breaker_call_duration_seconds",
    "circuit_breaker_state_transitions_total",
};

CircuitBreakerConfig quick_config() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(2)
      .success_threshold(1)
      .timeout_duration(10s)
      .half_open_max_requests(1)
      .minimum_request_threshold(0)
      .duration_sample_every(1)  // every call timed: the exposition below checks each duration
      .build();
}

std::string serialize(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

std::string scrape(const prometheus::Registry& registry) { return serialize(registry.Collect()); }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The sample lines (not comments) whose metric name is `metric`.
std::vector<std::string> samples(const std::string& text, std::string_view metric) {
  std::vector<std::string> out;
  for (const auto& line : lines(text)) {
    if (line.rfind(metric, 0) == 0 && line.size() > metric.size() &&
        (line[metric.size()] == '{' || line[metric.size()] == ' ')) {
      out.push_back(line);
    }
  }
  return out;
}

std::vector<std::string> family_names(const std::vector<prometheus::MetricFamily>& families) {
  std::vector<std::string> names;
  names.reserve(families.size());
  for (const auto& family : families) names.push_back(family.name);
  return names;
}

std::size_t count_of(const std::vector<std::string>& names, const std::string& name) {
  return static_cast<std::size_t>(std::count(names.begin(), names.end(), name));
}

// A strict reader of the text exposition format (version 0.0.4) sample lines:
// name, optional {label="value",...} with only \\, \" and \n escapes, a value.
bool valid_sample_line(std::string_view line) {
  const auto name_char = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
  };
  std::size_t i = 0;
  if (i >= line.size() || !name_char(line[i], true)) return false;
  while (i < line.size() && name_char(line[i], false)) ++i;
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      if (i >= line.size() || !name_char(line[i], true)) return false;
      while (i < line.size() && name_char(line[i], false)) ++i;
      if (line.substr(i, 2) != "=\"") return false;
      i += 2;
      for (;; ++i) {
        if (i >= line.size()) return false;
        if (line[i] == '"') break;
        if (line[i] == '\\') {
          if (++i >= line.size()) return false;
          if (line[i] != '\\' && line[i] != '"' && line[i] != 'n') return false;
        }
      }
      ++i;  // closing quote
      if (i < line.size() && line[i] == ',') {
        ++i;
        continue;
      }
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      return false;
    }
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const std::string value(line.substr(i + 1));
  if (value == "+Inf" || value == "-Inf" || value == "NaN" || value == "Nan") return true;
  try {
    std::size_t used = 0;
    std::stod(value, &used);
    return used == value.size();
  } catch (const std::exception&) {
    return false;
  }
}

bool valid_exposition(const std::string& text) {
  for (const auto& line : lines(text)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    if (!valid_sample_line(line)) {
      UNSCOPED_INFO("invalid exposition line: " << line);
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("init_circuit_breaker_metrics exports exactly the seven families", "[prometheus]") {
  breaker::Registry breakers;
  breakers.get_or_create("api");
  prometheus::Registry registry;

  SECTION("without a prefix") {
    breaker::init_circuit_breaker_metrics(registry, {.prefix = "", .breakers = &breakers});
    const auto families = registry.Collect();
    CHECK(family_names(families) == seven_families);
    CHECK(families[0].type == prometheus::MetricType::Gauge);
    CHECK(families[5].type == prometheus::MetricType::Histogram);
    for (std::size_t i : {1u, 2u, 3u, 4u, 6u})
      CHECK(families[i].type == prometheus::MetricType::Counter);
  }
  SECTION("with a prefix") {
    breaker::init_circuit_breaker_metrics(
        registry, {.prefix = "llm_incident_manager", .breakers = &breakers});
    std::vector<std::string> expected;
    expected.reserve(seven_families.size());
    for (const auto& name : seven_families) expected.push_back("llm_incident_manager_" + name);
    CHECK(family_names(registry.Collect()) == expected);
    CHECK(samples(scrape(registry), "llm_incident_manager_circuit_breaker_state") ==
          std::vector<std::string>{R"(llm_incident_manager_circuit_breaker_state{name="api"} 0)"});
  }
}

TEST_CASE("exposition text of a breaker driven closed -> open -> half-open -> closed is exact",
          "[prometheus][exposition]") {
  // Setup: a manual clock, so call durations and the open period are exact.
  ManualClock clock;
  ManualRegistry breakers{clock};
  prometheus::Registry registry;
  breaker::init_circuit_breaker_metrics(registry, breakers);
  const auto svc = breakers.get_or_create("svc", quick_config());
  const auto state_line = [&] { return samples(scrape(registry), "circuit_breaker_state"); };
  CHECK(state_line() == std::vector<std::string>{R"(circuit_breaker_state{name="svc"} 0)"});

  // Closed: a success taking 3 ms, a failure taking 20 ms, a failure taking no time: open.
  svc->execute([&] { clock.advance(3ms); });
  const auto slow_failure = [&] {
    clock.advance(20ms);
    throw std::runtime_error("down");
  };
  CHECK_THROWS_AS(svc->execute(slow_failure), std::runtime_error);
  CHECK_THROWS_AS(svc->execute([] { throw std::runtime_error("down"); }), std::runtime_error);
  CHECK(state_line() == std::vector<std::string>{R"(circuit_breaker_state{name="svc"} 1)"});

  // Open: one call rejected.
  CHECK_THROWS_AS(svc->execute([] {}), breaker::CircuitBreakerError);

  // The open period ends: half-open before any call arrives.
  clock.advance(10s);
  CHECK(state_line() == std::vector<std::string>{R"(circuit_breaker_state{name="svc"} 2)"});

  // A probe taking 2 s succeeds: closed.
  svc->execute([&] { clock.advance(2s); });
  REQUIRE(svc->state() == State::closed);

  // The whole exposition: 4 admitted calls (2 succeeded, 2 failed, durations 3 ms, 20 ms,
  // 0 and 2 s), 1 rejected, and the three transitions of the walk.
  // clang-format off
  const std::string expected =
      R"(# HELP circuit_breaker_state Current state of the circuit breaker (0 = closed, 1 = open, 2 = half-open, 3 = disabled, 4 = metrics-only))" "\n"
      R"(# TYPE circuit_breaker_state gauge)" "\n"
      R"(circuit_breaker_state{name="svc"} 0)" "\n"
      R"(# HELP circuit_breaker_calls_total Calls through the circuit breaker, by status: allowed (admitted) or rejected)" "\n"
      R"(# TYPE circuit_breaker_calls_total counter)" "\n"
      R"(circuit_breaker_calls_total{name="svc",status="allowed"} 4)" "\n"
      R"(circuit_breaker_calls_total{name="svc",status="rejected"} 1)" "\n"
      R"(# HELP circuit_breaker_successful_calls_total Admitted calls that succeeded)" "\n"
      R"(# TYPE circuit_breaker_successful_calls_total counter)" "\n"
      R"(circuit_breaker_successful_calls_total{name="svc"} 2)" "\n"
      R"(# HELP circuit_breaker_failed_calls_total Admitted calls that failed)" "\n"
      R"(# TYPE circuit_breaker_failed_calls_total counter)" "\n"
      R"(circuit_breaker_failed_calls_total{name="svc"} 2)" "\n"
      R"(# HELP circuit_breaker_rejected_calls_total Calls rejected without running because the circuit was open (or half-open and full))" "\n"
      R"(# TYPE circuit_breaker_rejected_calls_total counter)" "\n"
      R"(circuit_breaker_rejected_calls_total{name="svc"} 1)" "\n"
      R"(# HELP circuit_breaker_call_duration_seconds Duration of admitted calls, in seconds)" "\n"
      R"(# TYPE circuit_breaker_call_duration_seconds histogram)" "\n"
      R"(circuit_breaker_call_duration_seconds_count{name="svc"} 4)" "\n"
      R"(circuit_breaker_call_duration_seconds_sum{name="svc"} 2.023)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.001"} 1)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.005"} 2)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.01"} 2)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.025"} 3)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.05"} 3)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.1"} 3)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.25"} 3)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="0.5"} 3)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="1"} 3)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="2.5"} 4)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="5"} 4)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="10"} 4)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="30"} 4)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="60"} 4)" "\n"
      R"(circuit_breaker_call_duration_seconds_bucket{name="svc",le="+Inf"} 4)" "\n"
      R"(# HELP circuit_breaker_state_transitions_total State transitions of the circuit breaker)" "\n"
      R"(# TYPE circuit_breaker_state_transitions_total counter)" "\n"
      R"(circuit_breaker_state_transitions_total{from_state="closed",name="svc",to_state="open"} 1)" "\n"
      R"(circuit_breaker_state_transitions_total{from_state="open",name="svc",to_state="half-open"} 1)" "\n"
      R"(circuit_breaker_state_transitions_total{from_state="half-open",name="svc",to_state="closed"} 1)" "\n"
      R"(circuit_breaker_state_transitions_total{from_state="half-open",name="svc",to_state="open"} 0)" "\n"
      R"(circuit_breaker_state_transitions_total{from_state="open",name="svc",to_state="closed"} 0)" "\n";
  // clang-format on
  CHECK(scrape(registry) == expected);
}

TEST_CASE("a new breaker has every series at zero, before any call", "[prometheus]") {
  breaker::Registry breakers;
  prometheus::Registry registry;
  breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &breakers});
  breakers.get_or_create("fresh");
  const auto text = scrape(registry);

  CHECK(samples(text, "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="fresh"} 0)"});
  CHECK(
      samples(text, "circuit_breaker_calls_total") ==
      std::vector<std::string>{R"(circuit_breaker_calls_total{name="fresh",status="allowed"} 0)",
                               R"(circuit_breaker_calls_total{name="fresh",status="rejected"} 0)"});
  CHECK(samples(text, "circuit_breaker_successful_calls_total").size() == 1);
  CHECK(samples(text, "circuit_breaker_failed_calls_total").size() == 1);
  CHECK(samples(text, "circuit_breaker_rejected_calls_total").size() == 1);
  CHECK(samples(text, "circuit_breaker_call_duration_seconds_bucket").size() == 15);
  CHECK(samples(text, "circuit_breaker_call_duration_seconds_count") ==
        std::vector<std::string>{R"(circuit_breaker_call_duration_seconds_count{name="fresh"} 0)"});
  CHECK(samples(text, "circuit_breaker_state_transitions_total").size() == 5);
}

TEST_CASE("breakers added after init appear and removed breakers disappear", "[prometheus]") {
  breaker::Registry breakers;
  breakers.get_or_create("before");
  prometheus::Registry registry;
  breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &breakers});

  breakers.get_or_create("after");
  CHECK(samples(scrape(registry), "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="after"} 0)",
                                 R"(circuit_breaker_state{name="before"} 0)"});

  breakers.get("after")->force_open();
  breakers.remove("before");
  const auto text = scrape(registry);
  CHECK(samples(text, "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="after"} 1)"});
  CHECK(text.find("\"before\"") == std::string::npos);
  CHECK(
      samples(text, "circuit_breaker_state_transitions_total")[0] ==
      R"(circuit_breaker_state_transitions_total{from_state="closed",name="after",to_state="open"} 1)");
}

TEST_CASE("names that are not plain label values still give valid exposition text",
          "[prometheus][exposition]") {
  breaker::Registry breakers;
  prometheus::Registry registry;
  breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &breakers});
  breakers.get_or_create("a \"quoted\" \\ name\nline é");
  breakers.get_or_create("日本 🚀 {x=\"y\"},");

  const auto text = scrape(registry);
  CHECK(valid_exposition(text));
  CHECK(samples(text, "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="a \"quoted\" \\ name\nline é"} 0)",
                                 R"(circuit_breaker_state{name="日本 🚀 {x=\"y\"},"} 0)"});
  // Every breaker contributes the same number of lines: none was split by a raw newline.
  CHECK(samples(text, "circuit_breaker_call_duration_seconds_bucket").size() == 30);
}

TEST_CASE("initialising twice on the same registry adds no duplicate families", "[prometheus]") {
  breaker::Registry breakers;
  breakers.get_or_create("db");
  prometheus::Registry registry;
  const breaker::MetricsOptions options{.prefix = {}, .breakers = &breakers};

  breaker::init_circuit_breaker_metrics(registry, options);
  breaker::init_circuit_breaker_metrics(registry, options);
  breaker::init_circuit_breaker_metrics(registry, breakers);

  auto names = family_names(registry.Collect());
  CHECK(names == seven_families);
  CHECK(samples(scrape(registry), "circuit_breaker_state").size() == 1);

  SECTION("another prefix adds a separate set") {
    breaker::init_circuit_breaker_metrics(registry, {.prefix = "svc", .breakers = &breakers});
    names = family_names(registry.Collect());
    CHECK(names.size() == 14);
    CHECK(count_of(names, "circuit_breaker_state") == 1);
    CHECK(count_of(names, "svc_circuit_breaker_state") == 1);
  }
  SECTION("another live breaker registry under the same prefix is refused") {
    breaker::Registry other;
    CHECK_THROWS_AS(
        breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &other}),
        std::invalid_argument);
    CHECK(family_names(registry.Collect()) == seven_families);
  }
  SECTION("the global registry is a different breaker registry") {
    CHECK_THROWS_AS(breaker::init_circuit_breaker_metrics(registry), std::invalid_argument);
  }
}

TEST_CASE("init refuses clashing family names and invalid prefixes", "[prometheus]") {
  breaker::Registry breakers;
  prometheus::Registry registry;

  SECTION("a family of the user with one of the seven names") {
    prometheus::BuildCounter().Name("circuit_breaker_calls_total").Help("mine").Register(registry);
    CHECK_THROWS_AS(
        breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &breakers}),
        std::invalid_argument);
    CHECK(family_names(registry.Collect()).empty());  // the user's family has no series yet
  }
  SECTION("a prefix that makes invalid metric names") {
    for (const char* prefix : {"has space", "9starts_with_digit", "dash-ed"}) {
      CAPTURE(prefix);
      CHECK_THROWS_AS(breaker::init_circuit_breaker_metrics(
                          registry, {.prefix = prefix, .breakers = &breakers}),
                      std::invalid_argument);
    }
    CHECK(registry.Collect().empty());
  }
  SECTION("our family names are then reserved for the right types") {
    breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &breakers});
    CHECK_THROWS_AS(prometheus::BuildCounter().Name("circuit_breaker_state").Register(registry),
                    std::invalid_argument);
  }
}

TEST_CASE("the families empty out when the breaker registry is destroyed first", "[prometheus]") {
  prometheus::Registry registry;
  {
    breaker::Registry breakers;
    breakers.get_or_create("short-lived");
    breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &breakers});
    CHECK(registry.Collect().size() == 7);
  }
  CHECK(registry.Collect().empty());

  // Its prefix may then export a new breaker registry.
  breaker::Registry replacement;
  replacement.get_or_create("successor");
  breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &replacement});
  CHECK(samples(scrape(registry), "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="successor"} 0)"});
}

TEST_CASE("default options export the global registry", "[prometheus][global]") {
  prometheus::Registry registry;
  breaker::init_circuit_breaker_metrics(registry);
  const auto b = breaker::get_circuit_breaker("test_prometheus.global");
  b->execute([] {});

  const auto text = scrape(registry);
  CHECK(text.find(
            R"(circuit_breaker_calls_total{name="test_prometheus.global",status="allowed"} 1)") !=
        std::string::npos);
  breaker::global_registry().remove("test_prometheus.global");
}

TEST_CASE("with duration recording off the histogram is present and empty", "[prometheus]") {
  ManualClock clock;
  ManualRegistry breakers{clock};
  auto config = quick_config();
  config.record_call_durations = false;
  breakers.get_or_create("untimed", config)->execute([&] { clock.advance(1s); });

  const auto text = serialize(breaker::collect_circuit_breaker_metrics(breakers));
  CHECK(
      samples(text, "circuit_breaker_call_duration_seconds_count") ==
      std::vector<std::string>{R"(circuit_breaker_call_duration_seconds_count{name="untimed"} 0)"});
  CHECK(samples(text, "circuit_breaker_successful_calls_total") ==
        std::vector<std::string>{R"(circuit_breaker_successful_calls_total{name="untimed"} 1)"});
}

TEST_CASE("collect_circuit_breaker_metrics of an empty registry has the seven empty families",
          "[prometheus]") {
  breaker::Registry breakers;
  const auto families = breaker::collect_circuit_breaker_metrics(breakers, "p");
  REQUIRE(families.size() == 7);
  for (const auto& family : families) CHECK(family.metric.empty());
  CHECK(families[0].name == "p_circuit_breaker_state");
}

TEST_CASE("a scrape of ten thousand breakers stays cheap", "[prometheus][scale]") {
  breaker::Registry breakers;
  constexpr std::size_t count = 10'000;
  for (std::size_t i = 0; i < count; ++i) {
    breakers.get_or_create("service-" + std::to_string(i))->execute([] {});
  }
  prometheus::Registry registry;
  breaker::init_circuit_breaker_metrics(registry, {.prefix = {}, .breakers = &breakers});

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto families = registry.Collect();
  const auto collected = clock::now();
  const auto text = serialize(families);
  const auto serialized = clock::now();

  CHECK(families.size() == 7);
  CHECK(families[0].metric.size() == count);
  CHECK(samples(text, "circuit_breaker_state").size() == count);
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  WARN("scrape of " << count << " breakers: Collect " << ms(collected - start)
                    << " ms, TextSerializer " << ms(serialized - collected) << " ms, "
                    << text.size() / 1024 << " KiB of text");
}

TEST_CASE("the collectable exports the same seven families as init_circuit_breaker_metrics",
          "[prometheus][collectable]") {
  // Setup: one breaker driven open on a manual clock.
  ManualClock clock;
  ManualRegistry breakers{clock};
  const auto svc = breakers.get_or_create("svc", quick_config());
  svc->execute([&] { clock.advance(3ms); });
  for (int i = 0; i < 2; ++i) {
    CHECK_THROWS_AS(svc->execute([] { throw std::runtime_error("down"); }), std::runtime_error);
  }
  CHECK_THROWS_AS(svc->execute([] {}), breaker::CircuitBreakerError);

  prometheus::Registry registry;
  breaker::init_circuit_breaker_metrics(registry, breakers);
  const std::shared_ptr<prometheus::Collectable> collectable =
      breaker::make_circuit_breaker_collectable(breakers);

  const auto families = collectable->Collect();
  CHECK(family_names(families) == seven_families);
  CHECK(serialize(families) == scrape(registry));
  CHECK(samples(serialize(families), "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="svc"} 1)"});
  CHECK(samples(serialize(families), "circuit_breaker_rejected_calls_total") ==
        std::vector<std::string>{R"(circuit_breaker_rejected_calls_total{name="svc"} 1)"});
}

TEST_CASE("the collectable reads the breakers at each Collect(): added ones appear, removed go",
          "[prometheus][collectable]") {
  breaker::Registry breakers;
  const auto collectable = breaker::make_circuit_breaker_collectable(breakers);
  CHECK(family_names(collectable->Collect()) == seven_families);
  for (const auto& family : collectable->Collect()) CHECK(family.metric.empty());

  breakers.get_or_create("a");
  breakers.get_or_create("b")->force_open();
  CHECK(samples(serialize(collectable->Collect()), "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="a"} 0)",
                                 R"(circuit_breaker_state{name="b"} 1)"});
  breakers.remove("a");
  CHECK(samples(serialize(collectable->Collect()), "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="b"} 1)"});
}

TEST_CASE("the collectable applies a prefix and refuses an invalid one",
          "[prometheus][collectable]") {
  breaker::Registry breakers;
  breakers.get_or_create("api");
  const auto collectable = breaker::make_circuit_breaker_collectable(breakers, "llm_incident_manager");
  CHECK(collectable->prefix() == "llm_incident_manager");
  CHECK(samples(serialize(collectable->Collect()), "llm_incident_manager_circuit_breaker_state") ==
        std::vector<std::string>{R"(llm_incident_manager_circuit_breaker_state{name="api"} 0)"});

  CHECK_THROWS_AS(breaker::make_circuit_breaker_collectable(breakers, "bad prefix"),
                  std::invalid_argument);
  CHECK_THROWS_AS(breaker::make_circuit_breaker_collectable(breakers, "9starts_with_digit"),
                  std::invalid_argument);
  CHECK_THROWS_WITH(breaker::CircuitBreakerCollectable(breakers, "a-b"), Catch::Contains("a-b"));
}

TEST_CASE("the collectable returns no families once its breaker registry is destroyed",
          "[prometheus][collectable]") {
  std::shared_ptr<breaker::CircuitBreakerCollectable> collectable;
  {
    breaker::Registry breakers;
    breakers.get_or_create("short-lived");
    collectable = breaker::make_circuit_breaker_collectable(breakers);
    CHECK(collectable->Collect().size() == 7);
  }
  CHECK(collectable->Collect().empty());
}

TEST_CASE("the collectable's default options export the global registry",
          "[prometheus][collectable][global]") {
  const auto collectable = breaker::make_circuit_breaker_collectable();
  breaker::get_circuit_breaker("test_prometheus.collectable")->execute([] {});
  CHECK(serialize(collectable->Collect())
            .find(R"(circuit_breaker_calls_total{name="test_prometheus.collectable",status="allowed"} 1)") !=
        std::string::npos);
  breaker::global_registry().remove("test_prometheus.collectable");

  breaker::Registry mine;
  mine.get_or_create("mine");
  const auto from_options =
      breaker::make_circuit_breaker_collectable({.prefix = "p", .breakers = &mine});
  CHECK(samples(serialize(from_options->Collect()), "p_circuit_breaker_state") ==
        std::vector<std::string>{R"(p_circuit_breaker_state{name="mine"} 0)"});
}

TEST_CASE("circuit_breaker_metrics_text is the TextSerializer output of the seven families",
          "[prometheus][text]") {
  ManualClock clock;
  ManualRegistry breakers{clock};
  breakers.get_or_create("svc", quick_config())->execute([&] { clock.advance(2ms); });
  breakers.get_or_create("name with \"quotes\"\nand a newline");

  const std::string text = breaker::circuit_breaker_metrics_text(breakers);
  CHECK(text == serialize(breaker::collect_circuit_breaker_metrics(breakers)));
  CHECK(valid_exposition(text));
  CHECK(samples(text, "circuit_breaker_successful_calls_total") ==
        std::vector<std::string>{
            R"(circuit_breaker_successful_calls_total{name="name with \"quotes\"\nand a newline"} 0)",
            R"(circuit_breaker_successful_calls_total{name="svc"} 1)"});
  CHECK(breaker::circuit_breaker_metrics_text(breakers, "x").rfind("# HELP x_circuit_breaker_state ", 0) == 0);
  CHECK_THROWS_AS(breaker::circuit_breaker_metrics_text(breakers, "-"), std::invalid_argument);
}

TEST_CASE("the state gauge exports every State value, disabled and metrics-only included",
          "[prometheus][issue12]") {
  ManualRegistry breakers{ManualClock{}};
  breakers.get_or_create("a-closed");
  breakers.get_or_create("b-open")->force_open();
  auto half = breakers.get_or_create("c-half-open", CircuitBreakerConfig::builder()
                                                        .failure_threshold(1)
                                                        .minimum_request_threshold(0)
                                                        .timeout_duration(1ms)
                                                        .build());
  breakers.get_or_create("d-disabled")->disable();
  breakers.get_or_create("e-metrics-only")->metrics_only();
  half->open_for(0ms);  // half-open at once
  REQUIRE(half->state() == State::half_open);
  const std::string text = breaker::circuit_breaker_metrics_text(breakers);
  CHECK(samples(text, "circuit_breaker_state") ==
        std::vector<std::string>{R"(circuit_breaker_state{name="a-closed"} 0)",
                                 R"(circuit_breaker_state{name="b-open"} 1)",
                                 R"(circuit_breaker_state{name="c-half-open"} 2)",
                                 R"(circuit_breaker_state{name="d-disabled"} 3)",
                                 R"(circuit_breaker_state{name="e-metrics-only"} 4)"});
  CHECK(text.find("# HELP circuit_breaker_state Current state of the circuit breaker (0 = closed, "
                  "1 = open, 2 = half-open, 3 = disabled, 4 = metrics-only)") != std::string::npos);
  // The transitions into the new states appear once they have happened.
  const auto transitions = samples(text, "circuit_breaker_state_transitions_total");
  const auto has = [&](const std::string& line) {
    return std::find(transitions.begin(), transitions.end(), line) != transitions.end();
  };
  CHECK(has(R"(circuit_breaker_state_transitions_total{from_state="closed",name="d-disabled",to_state="disabled"} 1)"));
  CHECK(has(R"(circuit_breaker_state_transitions_total{from_state="closed",name="e-metrics-only",to_state="metrics-only"} 1)"));
  CHECK(std::count_if(transitions.begin(), transitions.end(), [](const std::string& l) {
          return l.find(R"(name="a-closed")") != std::string::npos;
        }) == 5);
}
