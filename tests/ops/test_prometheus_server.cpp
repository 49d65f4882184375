// SPDX-License-Identifier: Apache-2.0
//
// A real Prometheus (Debian's 2.42, through tests/support/servers/prometheus_server.hpp) scrapes
// examples/02_metrics_service on loopback with docs/operations/breaker.rules.yml loaded. Checked
// through Prometheus's HTTP API: the seven breaker families arrive with the example's values,
// every rule of the file loads and evaluates without error, the recording rules produce series,
// and CircuitBreakerOpen is pending for the one open breaker (firing needs 5 minutes).
//
// BREAKER_METRICS_SERVICE_PATH and BREAKER_RULES_PATH are set by tests/ops/CMakeLists.txt.

#include "servers/prometheus_server.hpp"
#include "servers/process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using breaker::test::PrometheusServer;

namespace {

// The `- record: X` / `- alert: X` names of a rules file (one per line, as ours are written).
std::multiset<std::string> rule_names_in(const std::string& path) {
  const std::string text = breaker::test::read_file(path);
  const std::regex rule(R"(^\s*- (record|alert): (\S+)\s*$)", std::regex::multiline);
  std::multiset<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), rule); it != std::sregex_iterator();
       ++it) {
    names.insert((*it)[2].str());
  }
  return names;
}

double value_of(const nlohmann::json& vector) {
  REQUIRE(vector.size() == 1);
  return std::stod(vector[0]["value"][1].get<std::string>());
}

}  // namespace

TEST_CASE("a real Prometheus scrapes the breaker families and evaluates the operations rules",
          "[ops][prometheus]") {
  const unsigned short service_port = breaker::test::free_port();
  breaker::test::ChildProcess service(
      {BREAKER_METRICS_SERVICE_PATH, "--port", std::to_string(service_port)});
  breaker::test::wait_for_tcp(service_port, 20s, &service);

  const std::string job = "breaker-example";
  PrometheusServer prometheus({.targets = {"127.0.0.1:" + std::to_string(service_port)},
                               .rule_files = {BREAKER_RULES_PATH},
                               .job = job});
  // Three scrapes: rate() in the recording rules needs two samples.
  prometheus.wait_until(
      [&] { return prometheus.query("count_over_time(up{job=\"" + job + "\"}[1m]) >= 3"); }, 30s,
      "three scrapes of the example");

  // The target is up.
  const nlohmann::json targets = prometheus.targets();
  REQUIRE(targets.size() == 1);
  CHECK(targets[0]["health"] == "up");

  // Every family arrives (histograms as _bucket, _sum, _count).
  std::set<std::string> names;
  for (const auto& series : prometheus.query("{__name__=~\"circuit_breaker_.+\", job=\"" + job + "\"}")) {
    names.insert(series["metric"]["__name__"].get<std::string>());
  }
  CHECK(names == std::set<std::string>{
                     "circuit_breaker_state",
                     "circuit_breaker_calls_total",
                     "circuit_breaker_successful_calls_total",
                     "circuit_breaker_failed_calls_total",
                     "circuit_breaker_rejected_calls_total",
                     "circuit_breaker_call_duration_seconds_bucket",
                     "circuit_breaker_call_duration_seconds_sum",
                     "circuit_breaker_call_duration_seconds_count",
                     "circuit_breaker_state_transitions_total",
                 });

  // With the example's values.
  std::map<std::string, std::string> states;
  for (const auto& series : prometheus.query("circuit_breaker_state")) {
    states[series["metric"]["name"].get<std::string>()] = series["value"][1].get<std::string>();
  }
  CHECK(states == std::map<std::string, std::string>{
                      {"payments-api", "1"}, {"orders-db", "0"}, {"llm \"summarizer\"", "0"}});
  CHECK(value_of(prometheus.query(
            R"(circuit_breaker_calls_total{name="payments-api", status="allowed"})")) == 5);
  CHECK(value_of(prometheus.query(
            R"(circuit_breaker_calls_total{name="payments-api", status="rejected"})")) == 2);
  CHECK(value_of(prometheus.query(R"(circuit_breaker_failed_calls_total{name="payments-api"})")) ==
        3);
  CHECK(value_of(prometheus.query(
            R"(circuit_breaker_state_transitions_total{name="payments-api", from_state="closed", to_state="open"})")) ==
        1);
  CHECK(value_of(prometheus.query(
            R"(circuit_breaker_call_duration_seconds_bucket{name="payments-api", le="+Inf"})")) == 5);

  // Every rule of the file loads, is evaluated, and evaluates without error.
  const auto expected = rule_names_in(BREAKER_RULES_PATH);
  REQUIRE(expected.size() >= 11);
  const nlohmann::json groups = prometheus.wait_until(
      [&] {
        nlohmann::json answer = prometheus.rules();
        for (const auto& group : answer) {
          for (const auto& rule : group["rules"]) {
            // Never evaluated yet: Go's zero time.
            if (rule.value("lastEvaluation", "").rfind("0001-", 0) == 0) return nlohmann::json();
          }
        }
        return answer;
      },
      20s, "every rule evaluated");
  std::set<std::string> group_names;
  std::multiset<std::string> loaded;
  for (const auto& group : groups) {
    group_names.insert(group["name"].get<std::string>());
    for (const auto& rule : group["rules"]) {
      loaded.insert(rule["name"].get<std::string>());
      CAPTURE(rule["name"], rule.value("lastError", ""));
      CHECK(rule["health"] == "ok");
    }
  }
  CHECK(group_names == std::set<std::string>{"breaker.recording", "breaker.alerts"});
  CHECK(loaded == expected);

  // The recording rules produce series for the breakers.
  for (const std::string record :
       {"breaker:calls:rate5m", "breaker:outcomes:rate5m", "breaker:opened_from_closed:increase15m"}) {
    const auto series = prometheus.wait_until(
        [&] { return prometheus.query(record + "{name=\"payments-api\"}"); }, 20s, record);
    CHECK(series[0]["metric"]["job"] == job);
  }

  // The open breaker's alert is pending (`for: 5m`); the closed ones have none.
  const nlohmann::json alerts = prometheus.wait_until(
      [&] {
        nlohmann::json open = nlohmann::json::array();
        for (const auto& alert : prometheus.alerts()) {
          if (alert["labels"]["alertname"] == "CircuitBreakerOpen") open.push_back(alert);
        }
        return open;
      },
      20s, "a CircuitBreakerOpen alert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0]["labels"]["name"] == "payments-api");
  CHECK(alerts[0]["labels"]["severity"] == "warning");
  CHECK(alerts[0]["state"] == "pending");

  CHECK(service.stop(SIGTERM) == 0);
}

TEST_CASE("a Prometheus server whose binary is missing is an error naming the package",
          "[ops][prometheus]") {
  PrometheusServer::Options options;
  options.targets = {"127.0.0.1:9"};
  options.binary = "breaker-no-such-prometheus";
  CHECK_THROWS_WITH(PrometheusServer(options),
                    Catch::Contains("install the Debian package prometheus"));
}

TEST_CASE("a rules file Prometheus cannot load stops the server from starting",
          "[ops][prometheus]") {
  breaker::test::TempDir directory("breaker-bad-rules");
  std::ofstream(directory.file("bad.rules.yml"))
      << "groups:\n  - name: bad\n    rules:\n      - record: x\n        expr: rate(\n";
  CHECK_THROWS_WITH(PrometheusServer({.targets = {"127.0.0.1:9"},
                                      .rule_files = {directory.file("bad.rules.yml")}}),
                    Catch::Contains("prometheus exited"));
}

TEST_CASE("CircuitBreakerOpen fires in a real Prometheus while a breaker is held open",
          "[ops][prometheus]") {
  // The rules file with its `for:` durations (minutes) shortened to 2 s; nothing else changed.
  breaker::test::TempDir directory("breaker-rules-fast");
  const std::string original = breaker::test::read_file(BREAKER_RULES_PATH);
  const std::string fast =
      std::regex_replace(original, std::regex(R"((\n\s+for: )\d+m\n)"), "$012s\n");
  REQUIRE(fast != original);
  std::ofstream(directory.file("breaker.rules.yml")) << fast;

  // payments-api stays open: the example forces nothing, its open period is 60 s.
  const unsigned short service_port = breaker::test::free_port();
  breaker::test::ChildProcess service(
      {BREAKER_METRICS_SERVICE_PATH, "--port", std::to_string(service_port)});
  breaker::test::wait_for_tcp(service_port, 20s, &service);
  PrometheusServer prometheus({.targets = {"127.0.0.1:" + std::to_string(service_port)},
                               .rule_files = {directory.file("breaker.rules.yml")},
                               .job = "breaker-example"});

  const nlohmann::json firing = prometheus.wait_until(
      [&] {
        nlohmann::json found = nlohmann::json::array();
        for (const auto& alert : prometheus.alerts()) {
          if (alert["state"] == "firing") found.push_back(alert);
        }
        return found;
      },
      30s, "a firing alert");
  REQUIRE(firing.size() == 1);
  CHECK(firing[0]["labels"]["alertname"] == "CircuitBreakerOpen");
  CHECK(firing[0]["labels"]["name"] == "payments-api");
  CHECK(firing[0]["labels"]["job"] == "breaker-example");
  CHECK(firing[0]["annotations"]["summary"] ==
        "Circuit breaker payments-api has not been closed for 5 minutes");
  CHECK_THAT(firing[0]["annotations"]["description"].get<std::string>(),
             Catch::EndsWith("Current state: open."));
  // The alert as Prometheus evaluates it: ALERTS{alertstate="firing"}.
  CHECK(value_of(prometheus.query(
            R"(ALERTS{alertname="CircuitBreakerOpen", alertstate="firing", name="payments-api"})")) == 1);

  CHECK(service.stop(SIGTERM) == 0);
}
