// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A real Prometheus server (Debian's `prometheus`, 2.42) for tests, on 127.0.0.1, and its HTTP
/// API: `breaker::test::PrometheusServer`.
///
/// \code
///   breaker::test::PrometheusServer prometheus({.targets = {"127.0.0.1:8080"},
///                                               .rule_files = {"docs/operations/breaker.rules.yml"}});
///   auto series = prometheus.wait_until([&] { return prometheus.query("circuit_breaker_state"); },
///                                       20s, "the breaker families");
///   nlohmann::json groups = prometheus.rules();
/// \endcode
///
/// Each server gets a throw-away directory (config, TSDB, log) and a free loopback port, scrapes
/// its targets and evaluates its rules every `interval` (default 1 s), and is stopped (SIGTERM,
/// then SIGKILL) by the destructor. A missing binary throws, naming the Debian package: tests
/// that need Prometheus fail, never skip. HTTP through libcurl (easy interface), JSON through
/// nlohmann-json: link `CURL::libcurl` and `nlohmann_json::nlohmann_json`.
/// Not thread-safe: one test thread uses a server.

#include "process.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace breaker::test {

/// An error answer (or no answer) of Prometheus's HTTP API.
class PrometheusError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A body fetched over HTTP on loopback.
struct HttpAnswer {
  long status = 0;
  std::string body;
};

/// GET `url` with libcurl's easy interface (no proxy, `timeout` for the whole transfer).
/// Throws PrometheusError when there is no HTTP answer at all.
inline HttpAnswer http_get(const std::string& url,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  static const bool initialised = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  if (!initialised) throw PrometheusError("curl_global_init failed");
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
  if (!easy) throw PrometheusError("curl_easy_init failed");
  HttpAnswer answer;
  using WriteCallback = size_t (*)(char*, size_t, size_t, void*);
  WriteCallback write = [](char* data, size_t size, size_t count, void* user) -> size_t {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  };
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(easy.get(), CURLOPT_ERRORBUFFER, error);
  const CURLcode rc = curl_easy_perform(easy.get());
  if (rc != CURLE_OK) {
    throw PrometheusError("GET " + url + ": " + (error[0] != '\0' ? error : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

/// `text` percent-encoded for a URL query (libcurl's curl_easy_escape).
inline std::string url_escape(const std::string& text) {
  std::unique_ptr<char, decltype(&curl_free)> escaped(
      curl_easy_escape(nullptr, text.c_str(), static_cast<int>(text.size())), &curl_free);
  if (!escaped) throw PrometheusError("curl_easy_escape failed");
  return escaped.get();
}

class PrometheusServer {
 public:
  struct Options {
    /// `host:port` of each scrape target (one job).
    std::vector<std::string> targets;
    /// Rules files to load (made absolute).
    std::vector<std::string> rule_files;
    /// Scrape and evaluation interval (a Prometheus duration).
    std::string interval = "1s";
    /// The `job` label of the targets.
    std::string job = "breaker";
    /// The server binary; a name is looked up in $PATH and /usr/bin.
    std::string binary = "prometheus";
    /// How long the server may take to be ready.
    std::chrono::milliseconds start_timeout = std::chrono::seconds(30);
  };

  /// Starts the server and waits until it answers `/-/ready`. Throws std::runtime_error when
  /// the binary is missing, PrometheusError when it exits or is not ready in time (with its log).
  explicit PrometheusServer(Options options)
      : options_(std::move(options)), directory_("breaker-prometheus") {
    const std::string binary =
        find_executable(options_.binary, {"/usr/bin"}, "prometheus");
    nlohmann::json rule_files = nlohmann::json::array();
    for (const auto& file : options_.rule_files) {
      rule_files.push_back(std::filesystem::absolute(file).string());
    }
    // JSON is YAML: the config is nlohmann-json's output.
    const nlohmann::json config = {
        {"global",
         {{"scrape_interval", options_.interval},
          {"evaluation_interval", options_.interval},
          {"scrape_timeout", options_.interval}}},
        {"rule_files", rule_files},
        {"scrape_configs",
         {{{"job_name", options_.job}, {"static_configs", {{{"targets", options_.targets}}}}}}},
    };
    std::ofstream(directory_.file("prometheus.yml")) << config.dump(2) << '\n';

    port_ = free_port();
    ChildProcess::Options child_options;
    child_options.stdout_path = directory_.file("prometheus.log");
    child_options.stderr_path = directory_.file("prometheus.log");
    process_ = ChildProcess(
        {binary, "--config.file=" + directory_.file("prometheus.yml"),
         "--storage.tsdb.path=" + directory_.file("data"),
         "--web.listen-address=127.0.0.1:" + std::to_string(port_),
         "--storage.tsdb.retention.time=1h"},
        child_options);

    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    for (;;) {
      if (!process_.running()) {
        throw PrometheusError("prometheus exited with code " + std::to_string(process_.exit_code()) +
                              ":\n" + log());
      }
      try {
        if (http_get(url("/-/ready"), std::chrono::seconds(2)).status == 200) break;
      } catch (const PrometheusError&) {
        // not listening yet
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        throw PrometheusError("prometheus not ready after " +
                              std::to_string(options_.start_timeout.count()) + " ms:\n" + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling readiness
    }
  }

  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;
  ~PrometheusServer() {
    try {
      process_.stop(SIGTERM, std::chrono::seconds(10));
    } catch (...) {  // the ChildProcess destructor kills it
    }
  }

  unsigned short port() const noexcept { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  /// The last 4000 bytes the server logged (for failure messages).
  std::string log() const {
    const std::string text = read_file(directory_.file("prometheus.log"));
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

  /// GET /api/v1/<path>?<params>: the "data" member of a "success" answer; throws
  /// PrometheusError otherwise.
  nlohmann::json api(const std::string& path,
                     const std::vector<std::pair<std::string, std::string>>& params = {}) const {
    std::string target = url("/api/v1/" + path);
    char separator = '?';
    for (const auto& [key, value] : params) {
      target += separator + url_escape(key) + '=' + url_escape(value);
      separator = '&';
    }
    const HttpAnswer answer = http_get(target);
    nlohmann::json body = nlohmann::json::parse(answer.body, nullptr, false);
    if (answer.status != 200 || body.is_discarded() || body.value("status", "") != "success") {
      throw PrometheusError("/api/v1/" + path + ": HTTP " + std::to_string(answer.status) + ": " +
                            answer.body.substr(0, 500));
    }
    return body["data"];
  }

  /// The instant vector of `expr` now: an array of {"metric": {...}, "value": [t, "v"]}.
  nlohmann::json query(const std::string& expr) const {
    nlohmann::json data = api("query", {{"query", expr}});
    if (data.value("resultType", "") != "vector") {
      throw PrometheusError(expr + ": a " + data.value("resultType", "?") + ", not a vector");
    }
    return data["result"];
  }

  /// The "groups" of /api/v1/rules (listed by group name).
  nlohmann::json rules() const { return api("rules")["groups"]; }
  /// The "alerts" of /api/v1/alerts (pending and firing).
  nlohmann::json alerts() const { return api("alerts")["alerts"]; }
  /// The "activeTargets" of /api/v1/targets.
  nlohmann::json targets() const { return api("targets")["activeTargets"]; }

  /// Calls `condition()` every 200 ms until its result is truthy (a JSON value that is not null,
  /// false or empty; or a bool), and returns that result. PrometheusErrors in between are
  /// retried. Throws PrometheusError naming `what` after `timeout`, or when the server exits.
  template <class Condition>
  auto wait_until(Condition condition, std::chrono::milliseconds timeout, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last_error;
    for (;;) {
      try {
        auto value = condition();
        if (truthy(value)) return value;
      } catch (const PrometheusError& e) {
        last_error = e.what();
      }
      if (!process_.running()) {
        throw PrometheusError("prometheus exited with code " + std::to_string(process_.exit_code()) +
                              ":\n" + log());
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        throw PrometheusError("timed out after " + std::to_string(timeout.count()) +
                              " ms waiting for " + what +
                              (last_error.empty() ? "" : " (last error: " + last_error + ")"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling a scrape result
    }
  }

 private:
  static bool truthy(const nlohmann::json& value) {
    if (value.is_null()) return false;
    if (value.is_boolean()) return value.get<bool>();
    if (value.is_string()) return !value.get_ref<const std::string&>().empty();
    if (value.is_array() || value.is_object()) return !value.empty();
    return true;
  }
  static bool truthy(bool value) { return value; }

  Options options_;
  TempDir directory_;
  unsigned short port_ = 0;
  ChildProcess process_;
};

}  // namespace breaker::test
