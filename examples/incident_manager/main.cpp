// SPDX-License-Identifier: Apache-2.0
//
// The incident-manager demo (README's first command, `bash .ci/demo`): a small service modelled
// on the seed guide. It polls a flaky sentinel alert source, asks a flaky LLM to summarise each
// new alert (call_timeout + fallback summary), stores the incident (in-memory store behind its
// own breaker), caches it (in-memory cache behind its own breaker) and notifies a flaky Slack
// webhook and PagerDuty events sink through breaker::notify (breaker + retry queue: what the open
// breaker rejected is delivered after recovery). The four dependencies are real loopback HTTP
// servers (flaky_server.hpp) whose failure modes follow schedule.cpp.
//
// It serves on 127.0.0.1:--port: `/` the live status page (embedded at build time),
// `/api/breakers` (JSON), `/health`, `/metrics`, and `/api/alerts` (guarded: the sentinel's
// answer, the cached alerts as fallback, or a 503 with Retry-After). After --duration it stops
// polling, lets the retry queues drain (bounded), prints a summary and exits 0.
//
// Breaker settings: the seed's presets with timeout_duration and minimum_request_threshold scaled
// to the run (demo_config.hpp), so that every breaker can go open -> half-open -> closed within
// --duration.

#include "demo_config.hpp"
#include "flaky_server.hpp"
#include "options.hpp"
#include "schedule.hpp"
#include "status_page.hpp"
#include "view.hpp"

#include <breaker/breaker.hpp>
#include <breaker/http/circuit_breaker_http_client.hpp>
#include <breaker/http/client.hpp>
#include <breaker/notify/notifier_with_breaker.hpp>
#include <breaker/notify/pagerduty.hpp>
#include <breaker/notify/slack.hpp>
#include <breaker/postgres/connection.hpp>
#include <breaker/postgres/store.hpp>
#include <breaker/redis/cache.hpp>
#include <breaker/redis/connection.hpp>
#include <breaker/prometheus.hpp>
#include <breaker/restinio/guard.hpp>
#include <breaker/restinio/routes.hpp>
#include <breaker/server_guard.hpp>

#include <restinio/all.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <curl/curl.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace im = incident_manager;
namespace notify = breaker::notify;
using json = nlohmann::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---- the flaky dependencies' answers -------------------------------------------------------

/// The sentinel's alert number k (deterministic for a seed).
json make_alert(std::uint64_t seed, std::uint64_t k) {
  static constexpr const char* services[] = {"checkout", "payments", "search", "login", "inventory"};
  static constexpr const char* problems[] = {"error rate above 5%", "p99 latency above 2 s",
                                             "queue depth growing", "disk 90% full",
                                             "certificate expires in 3 days"};
  static constexpr const char* severities[] = {"critical", "error", "warning", "info"};
  std::mt19937_64 random(seed * 1'000'003 + k);
  const char* service = services[random() % 5];
  return json{{"id", fmt::format("alert-{:04}", k)},
              {"title", fmt::format("{}: {}", service, problems[random() % 5])},
              {"severity", severities[random() % 4]},
              {"source", service}};
}

// ---- the service's own (in-memory) store and cache -------------------------------------------

/// The embedded incident store: a map behind a mutex (thread-safe).
class MemoryStore {
 public:
  void put(const std::string& id, json incident) {
    std::lock_guard lock(mutex_);
    incidents_[id] = std::move(incident);
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return incidents_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, json> incidents_;
};

/// The embedded cache: key -> value behind a mutex (thread-safe).
class MemoryCache {
 public:
  void set(const std::string& key, std::string value) {
    std::lock_guard lock(mutex_);
    entries_[key] = std::move(value);
  }
  std::optional<std::string> get(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> entries_;
};

/// The incident store on PostgreSQL (--postgres): one table, one parameterised upsert. Wrapped in
/// breaker::postgres::CircuitBreakerStore (SQLSTATE policy) with the incident-store breaker.
class PostgresIncidents {
 public:
  explicit PostgresIncidents(std::shared_ptr<breaker::postgres::Connection> connection)
      : connection_(std::move(connection)) {}

  asio::awaitable<void> migrate() {
    co_await connection_->query(
        "CREATE TABLE IF NOT EXISTS demo_incidents (id text PRIMARY KEY, doc jsonb NOT NULL, "
        "stored_at timestamptz NOT NULL DEFAULT now())");
  }

  asio::awaitable<void> put(std::string id, std::string doc) {
    co_await connection_->execute(
        "INSERT INTO demo_incidents (id, doc) VALUES ($1, $2::jsonb) "
        "ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, stored_at = now()",
        id, doc);
  }

 private:
  std::shared_ptr<breaker::postgres::Connection> connection_;
};

/// --postgres's libpq connection string (parsed by libpq's PQconninfoParse) as the component's
/// ConnectionConfig. \throws std::invalid_argument naming what is wrong.
breaker::postgres::ConnectionConfig postgres_config(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw std::invalid_argument("--postgres: " + message);
  }
  breaker::postgres::ConnectionConfig config;
  config.application_name = "incident_manager";
  config.connect_timeout = 2s;
  config.query_timeout = 2s;
  config.hostaddr.clear();
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword, value = o->val;
    if (key == "hostaddr" || key == "host") {
      if (config.hostaddr.empty() || key == "hostaddr") config.hostaddr = value;
    } else if (key == "port") {
      unsigned port = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
      if (ec != std::errc{} || end != value.data() + value.size() || port == 0 || port > 65535) {
        PQconninfoFree(options);
        throw std::invalid_argument("--postgres: port must be a number from 1 to 65535, not '" + value + "'");
      }
      config.port = static_cast<std::uint16_t>(port);
    } else if (key == "user") {
      config.user = value;
    } else if (key == "password") {
      config.password = value;
    } else if (key == "dbname") {
      config.dbname = value;
    } else if (key == "sslmode") {
      config.sslmode = value;
    }
  }
  PQconninfoFree(options);
  if (config.hostaddr.empty()) config.hostaddr = "127.0.0.1";
  std::string message;
  if (config.validate(&message)) throw std::invalid_argument("--postgres: " + message);
  return config;
}

/// --redis's URL (redis://HOST:PORT, parsed by libcurl's URL API) as the component's config.
/// \throws std::invalid_argument naming what is wrong.
breaker::redis::ConnectionConfig redis_config(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    throw std::invalid_argument("--redis: not a URL: '" + url + "' (expected redis://127.0.0.1:PORT)");
  }
  auto part = [&](CURLUPart which) -> std::string {
    char* text = nullptr;
    if (curl_url_get(parsed.get(), which, &text, 0) != CURLUE_OK || text == nullptr) return {};
    std::string value = text;
    curl_free(text);
    return value;
  };
  if (part(CURLUPART_SCHEME) != "redis") throw std::invalid_argument("--redis: the scheme must be redis://");
  breaker::redis::ConnectionConfig config;
  config.host = part(CURLUPART_HOST);
  const std::string port = part(CURLUPART_PORT);
  if (!port.empty()) config.port = static_cast<std::uint16_t>(std::stoul(port));  // curl checked 0..65535
  config.connect_timeout = 1s;
  config.command_timeout = 500ms;
  std::string message;
  if (config.validate(&message)) throw std::invalid_argument("--redis: " + message);
  return config;
}

/// What became of the notifications to one destination (thread-safe).
struct Ledger {
  std::mutex mutex;
  std::uint64_t sent = 0;             // accepted by send()
  std::uint64_t first_delivered = 0;  // delivered at the first attempt
  std::uint64_t not_accepted = 0;     // overflow / permanent failure / stopped before delivery
  std::set<std::string> delivered_ids;  // on_delivered
  std::set<std::string> late_ids;       // delivered more than `late_after` after being accepted
};

/// A notification delivered later than this after it was accepted waited out an outage.
constexpr milliseconds late_after{1000};

/// One point of a breaker's history for the status page.
struct Sample {
  std::int64_t t_ms;  // Unix epoch
  std::string state;
  std::uint64_t calls, failures, rejections;
};

std::int64_t unix_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using Router = restinio::router::express_router_t<>;
using Traits = restinio::traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t, Router>;

// ---- the demo ---------------------------------------------------------------------------------

class Demo {
 public:
  explicit Demo(const im::DemoOptions& options)
      : options_(options),
        schedules_(im::demo_schedules(options.duration)),
        in_place_(options.view == im::DemoOptions::View::automatic && ::isatty(1) == 1),
        view_(std::cout, in_place_) {
    const milliseconds d = options.duration;
    using Config = breaker::CircuitBreakerConfig;
    sentinel_cb_ = registry_.get_or_create("sentinel-alerts", im::scaled_for_demo(Config::for_http_api(), d));
    Config llm = im::scaled_for_demo(Config::for_llm_service(), d);
    llm.call_timeout = im::llm_call_timeout;
    llm_cb_ = registry_.get_or_create("llm-summariser", llm);
    store_cb_ = registry_.get_or_create("incident-store", im::scaled_for_demo(Config::for_database(), d));
    cache_cb_ = registry_.get_or_create("incident-cache", im::scaled_for_demo(Config::for_cache(), d));
    slack_cb_ = registry_.get_or_create("notify.slack", im::scaled_for_demo(Config::for_notifications(), d));
    pagerduty_cb_ =
        registry_.get_or_create("notify.pagerduty", im::pagerduty_breaker_config(d));
    api_cb_ = registry_.get_or_create("api-alerts", im::scaled_for_demo(Config::for_http_api(), d));
    guard_ = std::make_shared<breaker::ServerGuard>(api_cb_);
    if (!options.postgres_url.empty()) pg_config_ = postgres_config(options.postgres_url);
    if (!options.redis_url.empty()) redis_config_ = redis_config(options.redis_url);

    for (const auto& cb : registry_.snapshot()) {
      cb->on_state_change([this](const breaker::StateTransition& t) { on_transition(t); });
    }
    // One registry-wide listener logs why a rate-based breaker trips (issue 12's events).
    registry_.on_event([this](const breaker::CircuitBreakerEvent& e) { on_rate_event(e); });
  }

  /// Runs the demo; returns the exit code.
  int run() {
    start_dependencies();
    sentinel_client_.emplace(io_.get_executor(), sentinel_cb_);
    http_.emplace(io_.get_executor());
    if (pg_config_) {
      auto connection = std::make_shared<breaker::postgres::Connection>(io_.get_executor(), *pg_config_);
      pg_store_.emplace(PostgresIncidents(connection), store_cb_);
      pg_migrate_.emplace(connection);
    }
    if (redis_config_) {
      redis_ = std::make_shared<breaker::redis::Connection>(io_.get_executor(), *redis_config_);
      redis_cache_.emplace(cache_cb_);
    }
    start_notifiers();

    // The server is opened on the io_context (restinio's rule for an external one), which two
    // threads run from here on.
    auto work = asio::make_work_guard(io_);
    std::uint16_t port = 0;
    std::promise<void> opened;
    make_server(port);
    asio::post(io_, [&] {
      try {
        server_->open_sync();
        opened.set_value();
      } catch (...) {
        opened.set_exception(std::current_exception());
      }
    });
    std::thread first([this] { io_.run(); });
    std::thread second([this] { io_.run(); });
    auto join = [&] {
      first.join();
      second.join();
    };
    try {
      opened.get_future().get();  // throws when the port is taken
    } catch (const std::exception& e) {
      work.reset();
      io_.stop();
      join();
      std::cerr << "incident_manager: cannot listen on 127.0.0.1:" << options_.port << ": " << e.what() << '\n';
      return 1;
    }
    std::cout << "listening on http://127.0.0.1:" << port << std::endl;
    {
      std::lock_guard lock(view_mutex_);
      view_.log(fmt::format(
          "dependencies on 127.0.0.1: sentinel :{}, llm :{}, slack :{}, pagerduty :{}; store: {}; "
          "cache: {}; running for {:.1f}s",
          sentinel_->port(), llm_->port(), slack_->port(), pagerduty_->port(),
          pg_config_ ? fmt::format("PostgreSQL {}:{}", pg_config_->hostaddr, pg_config_->port) : "in-memory",
          redis_config_ ? fmt::format("Redis {}:{}", redis_config_->host, redis_config_->port) : "in-memory",
          static_cast<double>(options_.duration.count()) / 1000.0));
    }

    std::exception_ptr failure;
    asio::co_spawn(io_, main_flow(), [&](std::exception_ptr e) {
      failure = e;
      server_->close_sync();
      io_.stop();
    });
    work.reset();
    join();
    ran_for_ = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start_);
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        std::cerr << "incident_manager: " << e.what() << '\n';
      }
      return 1;
    }
    print_summary();
    return 0;
  }

 private:
  // ---- setup ----------------------------------------------------------------------------------

  void start_dependencies() {
    const std::uint64_t seed = options_.seed;
    const milliseconds every = im::alert_interval(options_.duration);
    const auto start = start_;
    sentinel_ = std::make_unique<im::FlakyServer>(
        "sentinel", schedules_.sentinel, start, [seed, every, start](const im::SeenRequest&) {
          const auto elapsed = SteadyClock::now() - start;
          const auto count = static_cast<std::uint64_t>(elapsed / every) + 1;
          json alerts = json::array();
          for (std::uint64_t k = 1; k <= count; ++k) alerts.push_back(make_alert(seed, k));
          return im::Reply{200, alerts.dump()};
        });
    llm_ = std::make_unique<im::FlakyServer>(
        "llm", schedules_.llm, start,
        [](const im::SeenRequest& req) {
          const json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded() || !body.contains("alert")) {
            return im::Reply{400, R"({"error":"expected {\"alert\": {...}}"})"};
          }
          const json& alert = body["alert"];
          return im::Reply{200, json{{"summary", fmt::format("{} alert from {}: {}. Likely cause: a recent "
                                                              "deploy; check the service's dashboards.",
                                                              alert.value("severity", "?"),
                                                              alert.value("source", "?"),
                                                              alert.value("title", "?"))}}
                                    .dump()};
        },
        milliseconds(1500));
    slack_ = std::make_unique<im::FlakyServer>("slack", schedules_.slack, start, [](const im::SeenRequest&) {
      return im::Reply{200, "ok", "text/plain"};
    });
    pagerduty_ = std::make_unique<im::FlakyServer>(
        "pagerduty", schedules_.pagerduty, start, [](const im::SeenRequest& req) {
          const json body = json::parse(req.body, nullptr, false);
          if (body.is_discarded() || !body.contains("dedup_key")) {
            return im::Reply{400, R"({"status":"invalid event"})"};
          }
          return im::Reply{202, json{{"status", "success"}, {"message", "Event processed"},
                                     {"dedup_key", body["dedup_key"]}}
                                    .dump()};
        });
  }

  void start_notifiers() {
    notify::NotifierOptions common;
    // Short backoff (the defaults are 1 s doubling to 60 s): a run of seconds must see the
    // preset's 10 consecutive failures open the breaker while a sink is in trouble.
    common.queue.initial_backoff = 50ms;
    common.queue.max_backoff = 200ms;
    common.queue.rejected_retry = 100ms;

    notify::NotifierOptions slack_options = common;
    slack_options.on_delivered = [this](const notify::Notification& n) { delivered(slack_ledger_, n); };
    notify::SlackConfig slack_config;
    slack_config.webhook_url = slack_->url("/services/T0DEMO/B0DEMO/incident-manager");
    slack_config.timeout = 1s;
    slack_notifier_.emplace(io_.get_executor(), notify::SlackSender(*http_, slack_config), slack_cb_,
                            slack_options);

    notify::NotifierOptions pagerduty_options = common;
    pagerduty_options.on_delivered = [this](const notify::Notification& n) {
      delivered(pagerduty_ledger_, n);
    };
    notify::PagerDutyConfig pagerduty_config;
    pagerduty_config.routing_key = "0123456789abcdef0123456789abcdef";
    pagerduty_config.events_url = pagerduty_->url("/v2/enqueue");
    pagerduty_config.default_source = "incident-manager";
    pagerduty_config.timeout = 1s;
    pagerduty_notifier_.emplace(io_.get_executor(), notify::PagerDutySender(*http_, pagerduty_config),
                                pagerduty_cb_, pagerduty_options);
  }

  static void delivered(Ledger& ledger, const notify::Notification& n) {
    // created_at is set when the incident is handed to the notifiers (handle_alert).
    const bool late = std::chrono::system_clock::now() - n.incident.created_at > late_after;
    std::lock_guard lock(ledger.mutex);
    ledger.delivered_ids.insert(n.id);
    if (late) ledger.late_ids.insert(n.id);
  }

  void make_server(std::uint16_t& port) {
    server_ = std::make_unique<restinio::http_server_t<Traits>>(
        restinio::external_io_context(io_), [&](auto& settings) {
          settings.address("127.0.0.1")
              .port(options_.port)
              .request_handler(make_router())
              .acceptor_post_bind_hook([&port](asio::ip::tcp::acceptor& acceptor) {
                port = acceptor.local_endpoint().port();
              });
        });
  }

  std::unique_ptr<Router> make_router() {
    auto router = std::make_unique<Router>();
    for (const im::EmbeddedFile& file : im::status_page_files()) {
      auto serve = [file](const restinio::request_handle_t& req, auto&&...) {
        return req->create_response()
            .append_header(restinio::http_field::content_type, std::string(file.content_type))
            .append_header(restinio::http_field::cache_control, "no-store")
            .set_body(std::string(file.body))
            .done();
      };
      router->http_get(std::string(file.path), serve);
      if (file.path == "/") router->http_get("/index.html", serve);
    }
    router->http_get("/api/breakers", [this](const restinio::request_handle_t& req, auto&&...) {
      return req->create_response()
          .append_header(restinio::http_field::content_type, "application/json")
          .append_header(restinio::http_field::cache_control, "no-store")
          .set_body(breakers_json().dump())
          .done();
    });
    router->http_get("/health", breaker::restinio::health_handler(registry_));
    router->http_get("/metrics", breaker::restinio::metrics_handler(
                                     [this] { return breaker::circuit_breaker_metrics_text(registry_); }));
    // [docs:guarded-async]
    // The guarded endpoint: asynchronous form (the handler owns the admission and settles it
    // with the status of the reply it sends later).
    router->http_get("/api/alerts",
                     breaker::restinio::guarded(
                         guard_, [this](const restinio::request_handle_t& req, auto&&,
                                        breaker::Admission admission) -> restinio::request_handling_status_t {
                           ++tasks_;
                           asio::co_spawn(io_, serve_alerts(req, std::move(admission)),
                                          [this](std::exception_ptr) { --tasks_; });
                           return restinio::request_accepted();
                         }));
    // [docs:guarded-async]
    router->non_matched_request_handler([](const restinio::request_handle_t& req) {
      return req->create_response(restinio::status_not_found())
          .append_header(restinio::http_field::content_type, "text/plain; charset=utf-8")
          .set_body("not found\n")
          .done();
    });
    return router;
  }

  // ---- the service ----------------------------------------------------------------------------

  struct Fetched {
    enum class Source { sentinel, cache, none } source = Source::none;
    std::string body;
    std::string why;  // why the sentinel's answer is not used
  };

  /// The sentinel's alerts through its breaker (breaker::http's CircuitBreakerHttpClient:
  /// transport errors, 5xx and 429 are failures), else the cached copy.
  // [docs:fetch-alerts]
  asio::awaitable<Fetched> fetch_alerts() {
    Fetched fetched;
    try {
      breaker::http::Request request;
      request.url = sentinel_->url("/alerts");
      request.timeout = 1s;
      breaker::http::Response response = co_await sentinel_client_->request(std::move(request));
      if (response.status == 200) {
        co_await cache_set("alerts", response.body);
        fetched.source = Fetched::Source::sentinel;
        fetched.body = std::move(response.body);
        co_return fetched;
      }
      fetched.why = fmt::format("sentinel answered {}", response.status);
    } catch (const breaker::CircuitBreakerError& e) {
      fetched.why = e.code() == breaker::errc::open ? "sentinel breaker open" : e.what();
    } catch (const std::exception& e) {
      fetched.why = e.what();
    }
    if (auto cached = co_await cache_get("alerts")) {
      fetched.source = Fetched::Source::cache;
      fetched.body = std::move(*cached);
    }
    co_return fetched;
  }
  // [docs:fetch-alerts]

  // [docs:serve-alerts]
  asio::awaitable<void> serve_alerts(restinio::request_handle_t req, breaker::Admission admission) {
    Fetched fetched = co_await fetch_alerts();
    const bool unavailable = fetched.source == Fetched::Source::none;
    auto response = req->create_response(unavailable ? restinio::status_service_unavailable()
                                                     : restinio::status_ok());
    response.append_header(restinio::http_field::content_type, "application/json")
        .append_header(restinio::http_field::cache_control, "no-store");
    if (fetched.source == Fetched::Source::sentinel) {
      response.append_header("X-Served-From", "sentinel").set_body(std::move(fetched.body));
    } else if (fetched.source == Fetched::Source::cache) {
      ++api_fallbacks_;
      response.append_header("X-Served-From", "cache (fallback)").set_body(std::move(fetched.body));
    } else {
      ++api_unavailable_;
      response.append_header(restinio::http_field::retry_after, "1")
          .set_body(json{{"error", "ALERTS_UNAVAILABLE"}, {"detail", fetched.why}}.dump());
    }
    breaker::restinio::respond(admission, response);
  }
  // [docs:serve-alerts]

  asio::awaitable<void> poll_sentinel() {
    asio::steady_timer timer(io_);
    const milliseconds every = im::poll_interval(options_.duration);
    while (!stopping_) {
      Fetched fetched = co_await fetch_alerts();
      if (fetched.source == Fetched::Source::cache) ++poll_fallbacks_;
      if (fetched.source == Fetched::Source::sentinel) {
        const json alerts = json::parse(fetched.body, nullptr, false);
        if (alerts.is_array()) {
          for (const json& alert : alerts) {
            if (!alert.is_object() || !alert.contains("id") || !alert["id"].is_string()) continue;
            if (!seen_.insert(alert["id"].get<std::string>()).second) continue;
            ++handling_;
            asio::co_spawn(io_, handle_alert(alert), [this](std::exception_ptr e) {
              if (e) ++handling_errors_;
              --handling_;
            });
          }
        }
      }
      timer.expires_after(every);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  /// One new alert: summarise (LLM, call_timeout, fallback), store, cache, notify.
  asio::awaitable<void> handle_alert(json alert) {
    // [docs:llm-summary]
    auto summarise = [this, alert]() -> asio::awaitable<std::string> {
      // [docs:http-request]
      breaker::http::Request request;
      request.method = breaker::http::Method::post;
      request.url = llm_->url("/v1/summarise");
      request.headers = {{"Content-Type", "application/json"}};
      request.body = json{{"alert", alert}}.dump();
      request.timeout = 5s;  // the breaker's call_timeout (400 ms) comes first
      breaker::http::Response response = co_await http_->request(std::move(request));
      // [docs:http-request]
      if (response.status != 200) throw std::runtime_error(fmt::format("LLM answered {}", response.status));
      co_return json::parse(response.body).at("summary").get<std::string>();
    };
    auto fallback = [this, alert]() -> std::string {
      ++llm_fallbacks_;
      return "(automatic summary unavailable) " + alert.value("title", std::string("alert"));
    };
    std::string summary = co_await llm_cb_->call_with_fallback(summarise, fallback);
    // [docs:llm-summary]

    const std::string id = alert["id"].get<std::string>();
    json incident = {{"id", id},       {"title", alert["title"]}, {"severity", alert["severity"]},
                     {"source", alert["source"]}, {"summary", summary}, {"created_at", unix_ms()}};
    co_await store_put(id, incident);
    co_await cache_set("incident:" + id, incident.dump());

    notify::Incident message;
    message.id = id;
    message.title = alert["title"].get<std::string>();
    message.severity = notify::parse_severity(alert["severity"].get<std::string>()).value_or(notify::Severity::error);
    message.summary = summary;
    message.source = alert["source"].get<std::string>();
    message.created_at = std::chrono::system_clock::now();
    notify_one(*slack_notifier_, slack_ledger_, message);
    notify_one(*pagerduty_notifier_, pagerduty_ledger_, message);
  }

  template <class Notifier>
  void notify_one(Notifier& notifier, Ledger& ledger, const notify::Incident& message) {
    {
      std::lock_guard lock(ledger.mutex);
      ++ledger.sent;
    }
    // send() accepts the notification at once (or throws: invalid, or the notifier stopped);
    // the awaitable it returns reports the first attempt.
    std::optional<asio::awaitable<notify::SendStatus>> first_attempt;
    try {
      first_attempt.emplace(notifier.send(message));
    } catch (const std::exception&) {
      std::lock_guard lock(ledger.mutex);
      ++ledger.not_accepted;
      return;
    }
    ++tasks_;
    asio::co_spawn(io_, std::move(*first_attempt),
                   [this, &ledger](std::exception_ptr e, notify::SendStatus status) {
                     std::lock_guard lock(ledger.mutex);
                     if (e) {
                       ++ledger.not_accepted;
                     } else if (status == notify::SendStatus::delivered) {
                       ++ledger.first_delivered;
                     } else if (status != notify::SendStatus::queued && status != notify::SendStatus::stopped) {
                       ++ledger.not_accepted;  // overflow, dropped, refused for good
                     }
                     --tasks_;
                   });
  }

  /// Stores an incident through the incident-store breaker (in memory, or PostgreSQL through
  /// CircuitBreakerStore). A failure is counted; the incident still gets its notifications.
  asio::awaitable<void> store_put(std::string id, json incident) {
    bool ok = false;
    try {
      if (pg_store_) {
        auto put = [](PostgresIncidents& store, std::string key, std::string doc) {
          return store.put(std::move(key), std::move(doc));
        };
        co_await pg_store_->call(put, id, incident.dump());
      } else {
        store_cb_->execute([&] { store_.put(id, incident); });
      }
      ok = true;
    } catch (const std::exception&) {
    }
    ++(ok ? stored_ : store_failures_);
  }

  /// Caches through the incident-cache breaker (in memory, or Redis through CircuitBreakerRedis
  /// with a 10-minute expiry). A failure is counted and otherwise ignored (a cache is optional).
  asio::awaitable<void> cache_set(std::string key, std::string value) {
    try {
      if (redis_cache_) {
        auto set = [redis = redis_, key, value]() -> asio::awaitable<void> {
          co_await redis->set(key, value, std::chrono::minutes(10));
        };
        co_await redis_cache_->execute(set);
      } else {
        cache_cb_->execute([&] { cache_.set(key, std::move(value)); });
      }
    } catch (const std::exception&) {
      ++cache_failures_;
    }
  }

  /// A cached value, or nothing on a miss or when the cache fails (counted).
  asio::awaitable<std::optional<std::string>> cache_get(std::string key) {
    std::optional<std::string> value;
    try {
      if (redis_cache_) {
        auto get = [redis = redis_, key]() -> asio::awaitable<std::optional<std::string>> {
          co_return co_await redis->get(key);
        };
        value = co_await redis_cache_->execute(get);
      } else {
        value = cache_cb_->execute([&] { return cache_.get(key); });
      }
    } catch (const std::exception&) {
      ++cache_failures_;
    }
    co_return value;
  }

  // ---- observing the breakers -----------------------------------------------------------------

  double elapsed_s() const {
    return std::chrono::duration<double>(SteadyClock::now() - start_).count();
  }

  void on_transition(const breaker::StateTransition& t) {
    if (t.to == breaker::State::open) {
      std::lock_guard lock(board_mutex_);
      opened_at_[std::string(t.breaker_name)] = SteadyClock::now();
    }
    const std::string line = fmt::format("{:.1f}s {}: {} -> {}", elapsed_s(), t.breaker_name,
                                         breaker::to_string(t.from), breaker::to_string(t.to));
    std::lock_guard lock(view_mutex_);
    view_.log(line);
  }

  void on_rate_event(const breaker::CircuitBreakerEvent& e) {
    const bool failure = e.type == breaker::EventType::failure_rate_exceeded;
    if (!failure && e.type != breaker::EventType::slow_call_rate_exceeded) return;
    const std::string line =
        fmt::format("{:.1f}s {}: {} rate {:.0f} % reached its threshold", elapsed_s(), e.breaker_name,
                    failure ? "failure" : "slow-call", e.rate);
    std::lock_guard lock(view_mutex_);
    view_.log(line);
  }

  milliseconds time_left_open(const breaker::CircuitBreaker<>& cb) {
    if (cb.state() != breaker::State::open) return 0ms;
    std::lock_guard lock(board_mutex_);
    auto it = opened_at_.find(cb.name());
    if (it == opened_at_.end()) return 0ms;
    const auto left = it->second + cb.config().timeout_duration - SteadyClock::now();
    return std::max(0ms, std::chrono::duration_cast<milliseconds>(left));
  }

  std::vector<im::BreakerRow> rows() {
    std::vector<im::BreakerRow> result;
    for (const auto& cb : registry_.snapshot()) {
      const breaker::Stats s = cb->stats();
      result.push_back({cb->name(), std::string(breaker::to_string(s.state)), s.total_calls, s.failed_calls,
                        s.rejected_calls, time_left_open(*cb)});
    }
    return result;
  }

  json breakers_json() {
    json out = json::array();
    const auto now_rows = rows();
    std::lock_guard lock(board_mutex_);
    for (const auto& row : now_rows) {
      json history = json::array();
      for (const Sample& s : history_[row.name]) {
        history.push_back({{"t", s.t_ms}, {"state", s.state}, {"calls", s.calls}, {"failures", s.failures},
                           {"rejections", s.rejections}});
      }
      // The last point is now, so the chart ends in the state the row shows.
      history.push_back({{"t", unix_ms()}, {"state", row.state}, {"calls", row.calls}, {"failures", row.failures},
                         {"rejections", row.rejections}});
      out.push_back({{"name", row.name}, {"state", row.state}, {"calls", row.calls},
                     {"failures", row.failures}, {"rejections", row.rejections},
                     {"time_left_open_ms", row.time_left_open.count()}, {"history", std::move(history)}});
    }
    return out;
  }

  void sample_history() {
    const auto now_rows = rows();
    const std::int64_t t = unix_ms();
    std::lock_guard lock(board_mutex_);
    for (const auto& row : now_rows) {
      auto& h = history_[row.name];
      h.push_back({t, row.state, row.calls, row.failures, row.rejections});
      while (h.size() > 300) h.pop_front();  // 5 minutes at one sample a second
    }
  }

  asio::awaitable<void> observe() {
    asio::steady_timer timer(io_);
    const milliseconds redraw = in_place_ ? 500ms : 2000ms;
    auto last_draw = SteadyClock::now() - redraw;
    while (!stopping_) {
      sample_history();
      if (options_.view != im::DemoOptions::View::off && SteadyClock::now() - last_draw >= redraw) {
        last_draw = SteadyClock::now();
        const auto r = rows();
        std::lock_guard lock(view_mutex_);
        view_.draw(r, std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start_));
      }
      timer.expires_after(in_place_ ? 500ms : 1000ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  // ---- the run ----------------------------------------------------------------------------------

  asio::awaitable<void> sleep(milliseconds d) {
    asio::steady_timer timer(io_, d);
    co_await timer.async_wait(asio::use_awaitable);
  }

  asio::awaitable<void> main_flow() {
    using namespace asio::experimental::awaitable_operators;
    if (pg_migrate_) {
      PostgresIncidents incidents(*pg_migrate_);
      co_await incidents.migrate();  // throws: the demo exits 1 naming the error
      pg_migrate_.reset();
    }
    ++handling_;
    asio::co_spawn(io_, poll_sentinel(), [this](std::exception_ptr) { --handling_; });
    ++tasks_;
    asio::co_spawn(io_, observe(), [this](std::exception_ptr) { --tasks_; });

    asio::signal_set signals(io_, SIGINT, SIGTERM);
    const auto elapsed = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start_);
    asio::steady_timer run_timer(io_, options_.duration - std::min(options_.duration, elapsed));
    const auto ended = co_await (run_timer.async_wait(asio::use_awaitable) || signals.async_wait(asio::use_awaitable));
    interrupted_ = ended.index() == 1;
    stopping_ = true;
    {
      std::lock_guard lock(view_mutex_);
      view_.log(fmt::format("{:.1f}s {}: polling stopped; draining the notification queues", elapsed_s(),
                            interrupted_ ? "interrupted" : "duration reached"));
    }
    // Bounded waits: the alerts in hand, then the retry queues (the notification breakers may
    // still be open: their queues drain once they let probes through).
    const auto drain_deadline = SteadyClock::now() + std::max(milliseconds(5000), options_.duration / 4);
    auto queued = [this] {
      return slack_notifier_->stats().queued + pagerduty_notifier_->stats().queued;
    };
    while (SteadyClock::now() < drain_deadline && (handling_ > 0 || queued() > 0)) {
      co_await sleep(50ms);
    }
    drained_in_time_ = queued() == 0;
    co_await slack_notifier_->stop();
    co_await pagerduty_notifier_->stop();
    // Every coroutine of ours has finished (send() waits complete with `stopped`).
    const auto task_deadline = SteadyClock::now() + 3s;
    while (tasks_ > 0 && SteadyClock::now() < task_deadline) co_await sleep(20ms);
  }

  // ---- the summary ------------------------------------------------------------------------------

  static std::set<std::string> sink_ids(const im::FlakyServer& sink, bool pagerduty) {
    std::set<std::string> ids;
    for (const im::SeenRequest& seen : sink.accepted()) {
      const json body = json::parse(seen.body, nullptr, false);
      if (body.is_discarded()) continue;
      const json* id = nullptr;
      if (pagerduty && body.contains("payload")) {
        id = &body["payload"]["custom_details"]["notification_id"];
      } else if (!pagerduty && body.contains("metadata")) {
        id = &body["metadata"]["event_payload"]["notification_id"];
      }
      if (id != nullptr && id->is_string()) ids.insert(id->get<std::string>());
    }
    return ids;
  }

  void print_summary() {
    using breaker::State;
    std::lock_guard lock(view_mutex_);
    if (options_.view != im::DemoOptions::View::off) view_.draw(rows(), ran_for_);
    std::cout << fmt::format("\n== summary after {:.1f}s{}\n", static_cast<double>(ran_for_.count()) / 1000.0,
                             interrupted_ ? " (interrupted)" : "");
    std::cout << "transitions:\n";
    std::uint64_t protected_calls = 0, failed_fast = 0;
    std::vector<std::string> recovered;
    std::size_t width = 0;
    for (const auto& cb : registry_.snapshot()) width = std::max(width, cb->name().size());
    for (const auto& cb : registry_.snapshot()) {
      const breaker::Stats s = cb->stats();
      protected_calls += s.total_calls - s.rejected_calls;
      failed_fast += s.rejected_calls;
      const std::uint64_t opened = cb->transitions(State::closed, State::open);
      const std::uint64_t probing = cb->transitions(State::open, State::half_open);
      const std::uint64_t reopened = cb->transitions(State::half_open, State::open);
      const std::uint64_t closed = cb->transitions(State::half_open, State::closed);
      std::cout << fmt::format("  {:<{}}  closed->open {}  open->half-open {}  half-open->open {}  "
                               "half-open->closed {}  (now {})\n",
                               cb->name(), width, opened, probing, reopened, closed, breaker::to_string(s.state));
      if (opened > 0 && closed > 0) recovered.push_back(cb->name());
    }
    std::cout << fmt::format("calls protected: {} (admitted through a breaker)\n", protected_calls);
    std::cout << fmt::format("calls failed fast: {} (rejected by an open breaker, nothing sent)\n", failed_fast);
    std::cout << fmt::format(
        "fallbacks served: {} (LLM fallback summaries {}, cached alerts for the poller {}, cached alerts for "
        "GET /api/alerts {})\n",
        llm_fallbacks_ + poll_fallbacks_ + api_fallbacks_, llm_fallbacks_.load(), poll_fallbacks_.load(),
        api_fallbacks_.load());
    std::cout << fmt::format("alerts handled: {}; incidents stored: {} ({}; {} failed); cache failures: {} ({}); "
                             "GET /api/alerts 503s: {}\n",
                             seen_.size(), stored_.load(), pg_config_ ? "PostgreSQL" : "in memory",
                             store_failures_.load(), cache_failures_.load(), redis_config_ ? "Redis" : "in memory",
                             api_unavailable_.load());

    std::uint64_t sent = 0, delivered = 0, late = 0, lost = 0;
    for (auto [name, ledger, sink, pd] :
         {std::tuple{"slack", &slack_ledger_, slack_.get(), false},
          std::tuple{"pagerduty", &pagerduty_ledger_, pagerduty_.get(), true}}) {
      const std::set<std::string> at_sink = sink_ids(*sink, pd);
      std::lock_guard ledger_lock(ledger->mutex);
      // Delivered: reported by the notifier and found at the sink (by message id).
      std::uint64_t confirmed = 0, d_late = 0;
      for (const auto& id : ledger->delivered_ids) confirmed += at_sink.count(id);
      for (const auto& id : ledger->late_ids) d_late += at_sink.count(id);
      const std::uint64_t d_lost = ledger->sent - std::min(ledger->sent, confirmed);
      std::cout << fmt::format("  {:<9}  sent {}  delivered {}  delivered late {}  lost {}  (at the first attempt {}; "
                               "refused {}; the sink received {} distinct, {} requests)\n",
                               name, ledger->sent, confirmed, d_late, d_lost, ledger->first_delivered,
                               ledger->not_accepted, at_sink.size(), sink->accepted().size());
      sent += ledger->sent;
      delivered += confirmed;
      late += d_late;
      lost += d_lost;
    }
    std::cout << fmt::format("notifications: sent {}, delivered {}, delivered late {}, lost {}\n", sent, delivered,
                             late, lost);
    std::string names;
    for (const auto& n : recovered) names += (names.empty() ? "" : ", ") + n;
    std::cout << fmt::format("breakers that opened and closed again: {}\n", names.empty() ? "none" : names);
    if (!drained_in_time_) std::cout << "warning: the retry queues did not drain in time\n";
    std::cout.flush();
  }

  // ---- members (destroyed in reverse order: the io_context last) ------------------------------

  im::DemoOptions options_;
  SteadyClock::time_point start_ = SteadyClock::now();
  asio::io_context io_{2};
  breaker::Registry registry_;
  std::shared_ptr<breaker::CircuitBreaker<>> sentinel_cb_, llm_cb_, store_cb_, cache_cb_, slack_cb_,
      pagerduty_cb_, api_cb_;
  std::shared_ptr<breaker::ServerGuard> guard_;
  im::DemoSchedules schedules_;
  std::unique_ptr<im::FlakyServer> sentinel_, llm_, slack_, pagerduty_;
  std::optional<breaker::http::CircuitBreakerHttpClient<>> sentinel_client_;
  std::optional<breaker::http::Client> http_;
  Ledger slack_ledger_, pagerduty_ledger_;
  std::optional<notify::NotifierWithBreaker<notify::SlackSender>> slack_notifier_;
  std::optional<notify::NotifierWithBreaker<notify::PagerDutySender>> pagerduty_notifier_;
  MemoryStore store_;
  MemoryCache cache_;
  std::optional<breaker::postgres::ConnectionConfig> pg_config_;
  std::optional<breaker::redis::ConnectionConfig> redis_config_;
  std::optional<breaker::postgres::CircuitBreakerStore<PostgresIncidents>> pg_store_;
  std::optional<std::shared_ptr<breaker::postgres::Connection>> pg_migrate_;
  std::shared_ptr<breaker::redis::Connection> redis_;
  std::optional<breaker::redis::CircuitBreakerRedis<>> redis_cache_;
  std::unique_ptr<restinio::http_server_t<Traits>> server_;

  bool in_place_;
  std::mutex view_mutex_;
  im::TerminalView view_;
  std::mutex board_mutex_;
  std::map<std::string, SteadyClock::time_point> opened_at_;
  std::map<std::string, std::deque<Sample>> history_;

  std::set<std::string> seen_;  // the poller's only
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> tasks_{0};     // every coroutine of ours still running
  std::atomic<std::int64_t> handling_{0};  // the poller and the alerts it is handling
  std::atomic<std::uint64_t> llm_fallbacks_{0}, poll_fallbacks_{0}, api_fallbacks_{0}, api_unavailable_{0},
      stored_{0}, store_failures_{0}, cache_failures_{0}, handling_errors_{0};
  bool interrupted_ = false;
  bool drained_in_time_ = true;
  milliseconds ran_for_{0};
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const im::ParseResult parsed = im::parse_options(args);
  if (std::holds_alternative<im::HelpRequested>(parsed)) {
    std::cout << im::usage("incident_manager");
    return 0;
  }
  if (const auto* error = std::get_if<im::UsageError>(&parsed)) {
    std::cerr << "incident_manager: " << error->message << "\n\n" << im::usage("incident_manager");
    return 2;
  }
  const im::DemoOptions& options = std::get<im::DemoOptions>(parsed);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  try {
    Demo demo(options);
    return demo.run();
  } catch (const std::invalid_argument& e) {  // a bad --postgres / --redis value
    std::cerr << "incident_manager: " << e.what() << "\n\n" << im::usage("incident_manager");
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "incident_manager: " << e.what() << '\n';
    return 1;
  }
}
