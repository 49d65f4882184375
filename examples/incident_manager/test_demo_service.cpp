// SPDX-License-Identifier: Apache-2.0
// The incident-manager demo as a person (and Prometheus, and a browser) sees it while it runs: the
// real binary is started on a free loopback port and checked over HTTP (libcurl, nlohmann-json).
//
//   [http]        /, /status.js, /health, /metrics (parsed line by line), /api/breakers, and
//                 every reply of the guarded /api/alerts during a whole run; exit 0 with a summary
//   [signal]      SIGINT ends the run early and cleanly, with the summary
//   [prometheus]  a real Prometheus scrapes the demo: the breaker families, and CircuitBreakerOpen
//                 firing for sentinel-alerts (a copy of the rules with `for:` shortened to 2 s)
//   [browser]     the status page in chromium (tests/ops/browser/status_page_check.mjs): the
//                 sentinel-alerts row turns open and back; the screenshot the docs show
//   [load]        wrk (load/classify.lua) drives GET /api/alerts for 20 s while the dependencies
//                 fail: every reply is the answer, the fallback or a 503 with Retry-After, no
//                 socket error, nothing lost; rps, p50, p99 go to <build>/.../load-results.txt

#include "servers/process.hpp"
#include "servers/prometheus_server.hpp"

#include <catch2/catch.hpp>
#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using breaker::test::ChildProcess;

namespace {

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

/// GET with libcurl's easy interface, keeping the headers. Throws when there is no answer.
Reply fetch(const std::string& url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
  REQUIRE(easy);
  Reply reply;
  using Callback = size_t (*)(char*, size_t, size_t, void*);
  Callback body = [](char* data, size_t size, size_t count, void* user) -> size_t {
    static_cast<Reply*>(user)->body.append(data, size * count);
    return size * count;
  };
  Callback header = [](char* data, size_t size, size_t count, void* user) -> size_t {
    const std::string line(data, size * count);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t\r\n") + 1);
      static_cast<Reply*>(user)->headers[name] = value;
    }
    return size * count;
  };
  curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, body);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(easy.get(), CURLOPT_HEADERFUNCTION, header);
  curl_easy_setopt(easy.get(), CURLOPT_HEADERDATA, &reply);
  const CURLcode rc = curl_easy_perform(easy.get());
  if (rc != CURLE_OK) throw std::runtime_error(url + ": " + curl_easy_strerror(rc));
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

/// The demo on a free port, its output in a throw-away file.
class RunningDemo {
 public:
  explicit RunningDemo(const std::string& duration, unsigned short port = breaker::test::free_port())
      : directory_("breaker-demo"), port_(port) {
    ChildProcess::Options options;
    options.stdout_path = directory_.file("out.txt");
    options.stderr_path = directory_.file("out.txt");
    process_ = ChildProcess({BREAKER_DEMO_PATH, "--duration", duration, "--port", std::to_string(port_),
                             "--view", "plain"},
                            options);
    breaker::test::wait_for_tcp(port_, 20s, &process_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  unsigned short port() const { return port_; }
  ChildProcess& process() { return process_; }
  std::string output() const { return breaker::test::read_file(directory_.file("out.txt")); }
  /// Waits for the exit (the run plus its bounded drain) and returns the code.
  int wait(std::chrono::milliseconds timeout = 40s) {
    const auto code = process_.wait_for(timeout);
    REQUIRE(code.has_value());
    return *code;
  }

 private:
  breaker::test::TempDir directory_;
  unsigned short port_;
  ChildProcess process_;
};

/// The summary's notification line: sent and lost.
void check_summary(const std::string& out) {
  INFO(out);
  REQUIRE_THAT(out, Catch::Contains("== summary after"));
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex(R"(notifications: sent (\d+), delivered (\d+), delivered late (\d+), lost (\d+))")));
  CHECK(std::stoi(m[1]) > 0);
  CHECK(m[1] == m[2]);
  CHECK(m[4] == "0");
}

std::map<std::string, nlohmann::json> breakers_by_name(const RunningDemo& demo) {
  const Reply reply = fetch(demo.url("/api/breakers"));
  REQUIRE(reply.status == 200);
  CHECK(reply.headers.at("content-type") == "application/json");
  const auto array = nlohmann::json::parse(reply.body);
  REQUIRE(array.is_array());
  std::map<std::string, nlohmann::json> result;
  for (const auto& row : array) result[row.at("name").get<std::string>()] = row;
  return result;
}

const std::set<std::string> breaker_names{"api-alerts",   "incident-cache",   "incident-store", "llm-summariser",
                                          "notify.slack", "notify.pagerduty", "sentinel-alerts"};

}  // namespace

TEST_CASE("while the demo runs it serves its status page, health, metrics, breakers and guarded alerts",
          "[demo][http]") {
  RunningDemo demo("12s");

  // The status page and its files, embedded in the binary.
  const Reply page = fetch(demo.url("/"));
  CHECK(page.status == 200);
  CHECK(page.headers.at("content-type") == "text/html; charset=utf-8");
  CHECK_THAT(page.body, Catch::Contains("status.js"));
  const Reply script = fetch(demo.url("/status.js"));
  CHECK(script.status == 200);
  CHECK_THAT(script.body, Catch::Contains("/api/breakers"));
  CHECK(fetch(demo.url("/status.css")).status == 200);
  CHECK(fetch(demo.url("/no-such-page")).status == 404);

  // /health: the seed's JSON, 200 while every breaker is closed.
  const Reply health = fetch(demo.url("/health"));
  const auto health_json = nlohmann::json::parse(health.body);
  CHECK(health_json["circuit_breakers"]["total"] == 7);
  CHECK(health.status == (health_json["status"] == "healthy" ? 200 : 503));

  // /metrics: Prometheus text; one circuit_breaker_state sample per breaker.
  const Reply metrics = fetch(demo.url("/metrics"));
  REQUIRE(metrics.status == 200);
  CHECK_THAT(metrics.headers.at("content-type"), Catch::StartsWith("text/plain; version=0.0.4"));
  std::set<std::string> state_names;
  std::set<std::string> families;
  std::istringstream lines(metrics.body);
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$)");
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      families.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line[0] == '#') continue;
    std::smatch m;
    INFO(line);
    REQUIRE(std::regex_match(line, m, sample));
    CHECK_NOTHROW(std::stod(m[3]));
    std::smatch name;
    const std::string labels = m[2];
    if (m[1] == "circuit_breaker_state" && std::regex_search(labels, name, std::regex(R"(name="([^"]+)\")"))) {
      state_names.insert(name[1]);
    }
  }
  CHECK(state_names == breaker_names);
  for (const char* family : {"circuit_breaker_state", "circuit_breaker_calls_total",
                             "circuit_breaker_state_transitions_total", "circuit_breaker_call_duration_seconds"}) {
    CHECK(families.count(family) == 1);
  }

  // /api/breakers and /api/alerts during the whole run: sentinel-alerts opens and closes again,
  // and every reply of the guarded endpoint is the real answer, the fallback or a 503 with
  // Retry-After.
  std::set<std::string> sentinel_states;
  std::map<std::string, int> served_from;
  int unavailable = 0;
  std::size_t history = 0;
  while (demo.process().running()) {
    std::map<std::string, nlohmann::json> rows;
    Reply alerts;
    try {
      rows = breakers_by_name(demo);
      alerts = fetch(demo.url("/api/alerts"));
    } catch (const std::runtime_error&) {
      break;  // the demo closed its server at the end of the run
    }
    std::set<std::string> names;
    for (const auto& [name, row] : rows) {
      names.insert(name);
      for (const char* field : {"calls", "failures", "rejections", "time_left_open_ms"}) {
        CHECK((row.at(field).is_number_integer() && row.at(field) >= 0));
      }
      CHECK(row.at("history").is_array());
    }
    CHECK(names == breaker_names);
    const auto& sentinel = rows["sentinel-alerts"];
    sentinel_states.insert(sentinel["state"].get<std::string>());
    if (sentinel["state"] == "open") CHECK(sentinel["time_left_open_ms"].get<std::int64_t>() >= 0);
    history = sentinel["history"].size();

    INFO(alerts.body);
    if (alerts.status == 200) {
      const auto body = nlohmann::json::parse(alerts.body);
      CHECK(body.is_array());
      CHECK(!body.empty());
      served_from[alerts.headers.at("x-served-from")] += 1;
    } else {
      REQUIRE(alerts.status == 503);
      CHECK(std::stoi(alerts.headers.at("retry-after")) >= 0);
      CHECK(nlohmann::json::parse(alerts.body).contains("error"));
      ++unavailable;
    }
    std::this_thread::sleep_for(200ms);  // a person reloading the page
  }
  CHECK(sentinel_states.count("open") == 1);
  CHECK(sentinel_states.count("closed") == 1);
  CHECK(served_from["sentinel"] > 0);
  CHECK(served_from["cache (fallback)"] > 0);
  CHECK(history >= 5);

  const int code = demo.wait();
  const std::string out = demo.output();
  INFO(out);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::StartsWith("listening on http://127.0.0.1:" + std::to_string(demo.port()) + "\n"));
  CHECK_THAT(out, Catch::Contains("sentinel-alerts: closed -> open"));
  // PagerDuty fails every other request: only its failure-rate policy opens it, and the
  // registry-wide event listener logs why.
  CHECK_THAT(out, Catch::Contains("notify.pagerduty: failure rate"));
  CHECK_THAT(out, Catch::Contains("notify.pagerduty: closed -> open"));
  check_summary(out);
}

TEST_CASE("SIGINT ends the demo early and cleanly with its summary", "[demo][signal]") {
  RunningDemo demo("60s");
  std::this_thread::sleep_for(1500ms);  // let it handle a few alerts first
  demo.process().signal(SIGINT);
  CHECK(demo.wait(15s) == 0);
  const std::string out = demo.output();
  INFO(out);
  CHECK_THAT(out, Catch::Contains("interrupted: polling stopped"));
  CHECK_THAT(out, Catch::Contains("(interrupted)"));
  check_summary(out);
}

TEST_CASE("a real Prometheus scrapes the demo and CircuitBreakerOpen fires for the sentinel's breaker",
          "[demo][prometheus]") {
  breaker::test::TempDir directory("breaker-demo-rules");
  const std::string original = breaker::test::read_file(BREAKER_RULES_PATH);
  const std::string fast = std::regex_replace(original, std::regex(R"((\n\s+for: )\d+m\n)"), "$012s\n");
  REQUIRE(fast != original);
  std::ofstream(directory.file("breaker.rules.yml")) << fast;

  // Prometheus first (it takes a few seconds to start), scraping the port the demo will take:
  // the sentinel's outage comes early in the run.
  const unsigned short port = breaker::test::free_port();
  breaker::test::PrometheusServer prometheus({.targets = {"127.0.0.1:" + std::to_string(port)},
                                              .rule_files = {directory.file("breaker.rules.yml")},
                                              .job = "incident-manager"});
  // 30 s: sentinel-alerts is then open or half-open for about 6 s (from 0.15 to 0.37 of the
  // run), comfortably more than `for: 2s` plus a scrape and an evaluation interval.
  RunningDemo demo("30s", port);
  const auto states = prometheus.wait_until(
      [&] {
        const auto v = prometheus.query(R"(circuit_breaker_state{job="incident-manager"})");
        return v.size() == breaker_names.size() ? v : nlohmann::json::array();
      },
      15s, "circuit_breaker_state of the 7 breakers");
  std::set<std::string> names;
  for (const auto& s : states) names.insert(s["metric"]["name"].get<std::string>());
  CHECK(names == breaker_names);
  CHECK(!prometheus.query(R"(circuit_breaker_calls_total{name="sentinel-alerts"})").empty());

  const auto firing = prometheus.wait_until(
      [&] {
        nlohmann::json found = nlohmann::json::array();
        for (const auto& alert : prometheus.alerts()) {
          if (alert["state"] == "firing" && alert["labels"]["alertname"] == "CircuitBreakerOpen" &&
              alert["labels"]["name"] == "sentinel-alerts") {
            found.push_back(alert);
          }
        }
        return found;
      },
      30s, "CircuitBreakerOpen firing for sentinel-alerts");
  CHECK(firing[0]["labels"]["job"] == "incident-manager");
  CHECK(!prometheus.query(R"(ALERTS{alertname="CircuitBreakerOpen",alertstate="firing",name="sentinel-alerts"})")
             .empty());

  CHECK(demo.wait() == 0);
  check_summary(demo.output());
}

TEST_CASE("the status page shows the sentinel's breaker open and closed again in chromium", "[demo][browser]") {
  RunningDemo demo("20s");
  std::string log;
  const int code = breaker::test::run_command(
      {BREAKER_NODE_PATH, BREAKER_STATUS_PAGE_CHECK, "--npm", BREAKER_BROWSER_NPM_DIR, "--url",
       demo.url("/?interval=250"), "--breaker", "sentinel-alerts", "--screenshot", BREAKER_SCREENSHOT_PATH,
       "--timeout", "25000", "--chromium", BREAKER_CHROMIUM_PATH},
      &log, 90s);
  INFO(log);
  CHECK(code == 0);
  CHECK(demo.wait() == 0);
  check_summary(demo.output());
}

namespace {

/// `key=value` pairs of the wrk script's `load:` line.
std::map<std::string, std::string> load_figures(const std::string& wrk_output) {
  std::smatch line;
  REQUIRE(std::regex_search(wrk_output, line, std::regex(R"(\nload: (requests=[^\n]*))")));
  std::map<std::string, std::string> figures;
  const std::string text = line[1];
  const std::regex pair(R"(([a-z0-9_]+)=(\S+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pair); it != std::sregex_iterator(); ++it) {
    figures[(*it)[1]] = (*it)[2];
  }
  return figures;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

TEST_CASE("under wrk load the guarded endpoint answers, falls back or says 503 with Retry-After, and no "
          "notification is lost",
          "[demo][load]") {
  // A missing wrk fails the test (find_executable names the Debian package), never skips it.
  const std::string wrk = breaker::test::find_executable(BREAKER_WRK_PATH[0] ? BREAKER_WRK_PATH : "wrk", {}, "wrk");
  // The demo runs 24 s (its dependencies fail on the schedule scaled to that), wrk 20 s of it: the
  // server is still open when wrk stops, so a connection error is the demo's fault, not the clock's.
  RunningDemo demo("24s");
  std::string log;
  const int code = breaker::test::run_command(
      {wrk, "-t2", "-c4", "-d20s", "--timeout", "5s", "--latency", "-s", BREAKER_LOAD_SCRIPT,
       demo.url("/api/alerts")},
      &log, 60s);
  INFO(log);
  REQUIRE(code == 0);
  const auto f = load_figures(log);
  for (const char* key : {"requests", "rps", "p50_ms", "p99_ms", "max_ms", "answer", "fallback", "unavailable", "bad",
                          "connect_errors", "read_errors", "write_errors", "timeouts"}) {
    REQUIRE(f.count(key) == 1);
  }
  auto count = [&](const char* key) { return std::stoull(f.at(key)); };

  const int demo_code = demo.wait();
  const std::string out = demo.output();

  // The figures, in the build tree and on the test's output (docs/reliability.md quotes one run).
  std::string load_average = first_line(breaker::test::read_file("/proc/loadavg"));
  std::string commit;
  try {
    if (breaker::test::run_command({"git", "-C", BREAKER_SOURCE_DIR, "rev-parse", "--short", "HEAD"}, &commit,
                                   10s) != 0) {
      commit = "unknown";
    }
  } catch (const std::runtime_error&) {
    commit = "unknown (no git)";
  }
  std::string summary;
  for (const char* prefix : {"calls protected:", "calls failed fast:", "fallbacks served:", "notifications:"}) {
    const auto at = out.find(std::string("\n") + prefix);
    if (at != std::string::npos) summary += "  " + first_line(out.substr(at + 1)) + "\n";
  }
  std::ostringstream figures;
  figures << "wrk -t2 -c4 -d20s GET /api/alerts (demo --duration 24s), commit " << first_line(commit)
          << ", load average " << load_average << "\n"
          << "  requests " << f.at("requests") << " in " << f.at("seconds") << " s: " << f.at("rps") << " req/s, p50 "
          << f.at("p50_ms") << " ms, p99 " << f.at("p99_ms") << " ms, max " << f.at("max_ms") << " ms\n"
          << "  real answer " << f.at("answer") << ", fallback " << f.at("fallback") << ", 503 with Retry-After "
          << f.at("unavailable") << ", other replies " << f.at("bad") << "\n"
          << "  socket errors: connect " << f.at("connect_errors") << ", read " << f.at("read_errors") << ", write "
          << f.at("write_errors") << ", timeouts " << f.at("timeouts") << "\n"
          << "demo summary:\n"
          << summary;
  std::ofstream(BREAKER_LOAD_RESULTS_PATH) << figures.str();
  std::cout << figures.str() << std::flush;

  INFO(out);
  // Every reply classified: the real answer, the fallback, or a 503 with Retry-After; nothing else.
  CHECK(count("bad") == 0);
  CHECK(count("answer") + count("fallback") + count("unavailable") == count("requests"));
  // No hang, no socket error.
  CHECK(count("timeouts") == 0);
  CHECK(count("connect_errors") == 0);
  CHECK(count("read_errors") == 0);
  CHECK(count("write_errors") == 0);
  // The schedule made all three kinds of reply happen under load.
  CHECK(count("answer") > 0);
  CHECK(count("fallback") > 0);
  CHECK(count("requests") >= 1000);  // a load, not a trickle (several thousand a second on loopback)
  // The service itself: a clean exit, and no notification lost while it was under load.
  CHECK(demo_code == 0);
  check_summary(out);
  CHECK_THAT(out, Catch::Contains("sentinel-alerts: closed -> open"));
  // wrk's count of fallbacks is the demo's own (it may have sent up to one reply per connection
  // that wrk, stopping, did not read): the script classified what the service meant.
  std::smatch served;
  REQUIRE(std::regex_search(out, served, std::regex(R"(cached alerts for GET /api/alerts (\d+)\))")));
  const std::uint64_t demo_fallbacks = std::stoull(served[1]);
  CHECK(demo_fallbacks >= count("fallback"));
  CHECK(demo_fallbacks <= count("fallback") + 4);
}
