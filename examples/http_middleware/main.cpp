// SPDX-License-Identifier: Apache-2.0
//
// http_middleware: protect a restinio service with a circuit breaker (the seed's
// CircuitBreakerLayer), and serve /health and /metrics from the same server.
//
//   GET /api/inventory   guarded: runs the handler while the breaker admits; the handler's
//                        response (a 5xx included) goes out unchanged and its status settles
//                        the breaker (5xx failure, anything else success). While the breaker is
//                        open the guard answers 503 itself:
//                        {"error":"CIRCUIT_BREAKER_OPEN","breaker":"inventory-api"} with
//                        Retry-After = seconds left open.
//   GET /health          the breaker registry's health: 200 healthy, 503 degraded.
//   GET /metrics         Prometheus text of the registry's breakers (breaker::prometheus).
//
// The service's downstream is simulated (a flag): healthy, then failing. The program starts the
// server on 127.0.0.1 (a free port), sends itself real requests with libcurl, checks every
// answer, prints what it saw, and exits 0 (1 if a check failed).

#include <breaker/breaker.hpp>
#include <breaker/prometheus.hpp>
#include <breaker/restinio/guard.hpp>
#include <breaker/restinio/routes.hpp>
#include <breaker/server_guard.hpp>

#include <restinio/all.hpp>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

// ---- the service --------------------------------------------------------------------------

std::atomic<bool> downstream_healthy{true};

using Router = restinio::router::express_router_t<>;
using Traits = restinio::traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t, Router>;

std::unique_ptr<Router> make_router(std::shared_ptr<breaker::ServerGuard> guard) {
  auto router = std::make_unique<Router>();
  // [docs:guarded-routes]
  // The guarded handler returns its response without done(): the guard reads its status.
  router->http_get("/api/inventory",
                   breaker::restinio::guarded(guard, [](const restinio::request_handle_t& req,
                                                        auto&&... /*route params*/) {
                     if (!downstream_healthy) {
                       return req->create_response(restinio::status_bad_gateway())
                           .set_body("inventory backend unreachable\n");
                     }
                     return req->create_response()
                         .append_header(restinio::http_field::content_type, "application/json")
                         .set_body(R"({"items":42})");
                   }));
  router->http_get("/health", breaker::restinio::health_handler(breaker::global_registry()));
  router->http_get("/metrics", breaker::restinio::metrics_handler([] {
                     return breaker::circuit_breaker_metrics_text(breaker::global_registry());
                   }));
  // [docs:guarded-routes]
  return router;
}

// ---- a small client for the self-check (libcurl easy) --------------------------------------

struct Reply {
  long status = 0;
  std::string body;
  std::string retry_after;
};

Reply get(const std::string& url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  Reply reply;
  const auto write = +[](char* data, std::size_t size, std::size_t n, void* out) -> std::size_t {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  };
  curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(easy.get(), CURLOPT_NOPROXY, "*");
  if (const CURLcode code = curl_easy_perform(easy.get()); code != CURLE_OK) {
    throw std::runtime_error(std::string("GET ") + url + ": " + curl_easy_strerror(code));
  }
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  curl_header* header = nullptr;
  if (curl_easy_header(easy.get(), "Retry-After", 0, CURLH_HEADER, -1, &header) == CURLHE_OK) {
    reply.retry_after = header->value;
  }
  return reply;
}

int failures = 0;
void check(bool ok, const std::string& what) {
  std::cout << (ok ? "  ok    " : "  FAIL  ") << what << '\n';
  if (!ok) ++failures;
}

}  // namespace

int main() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  try {
    // The breaker: the HTTP-API preset (opens after 5 consecutive failures once 10 requests were
    // seen; stays open 30 s).
    // [docs:server-guard]
    auto guard = std::make_shared<breaker::ServerGuard>(breaker::get_circuit_breaker(
        "inventory-api", breaker::CircuitBreakerConfig::for_http_api()));
    // [docs:server-guard]

    // The server on 127.0.0.1, a free port, one io thread.
    asio::io_context io;
    std::uint16_t port = 0;
    restinio::http_server_t<Traits> server{restinio::external_io_context(io), [&](auto& settings) {
                                             settings.address("127.0.0.1")
                                                 .port(0)
                                                 .request_handler(make_router(guard))
                                                 .acceptor_post_bind_hook(
                                                     [&](asio::ip::tcp::acceptor& acceptor) {
                                                       port = acceptor.local_endpoint().port();
                                                     });
                                           }};
    std::promise<void> opened;
    asio::post(io, [&] {
      try {
        server.open_sync();
        opened.set_value();
      } catch (...) {
        opened.set_exception(std::current_exception());
      }
    });
    std::thread io_thread([&] { io.run(); });
    struct Stop {
      asio::io_context& io;
      restinio::http_server_t<Traits>& server;
      std::thread& thread;
      ~Stop() {
        asio::post(io, [this] {
          server.close_sync();
          io.stop();
        });
        thread.join();
      }
    } stop{io, server, io_thread};
    opened.get_future().get();
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    std::cout << "listening on " << base << '\n';

    std::cout << "downstream healthy:\n";
    const Reply ok = get(base + "/api/inventory");
    check(ok.status == 200 && nlohmann::json::parse(ok.body)["items"] == 42,
          "GET /api/inventory -> " + std::to_string(ok.status) + " " + ok.body);
    check(get(base + "/health").status == 200, "GET /health -> 200");

    std::cout << "downstream failing:\n";
    downstream_healthy = false;
    int passed_through = 0;
    for (int i = 0; i < 20 && guard->breaker()->state() == breaker::State::closed; ++i) {
      const Reply r = get(base + "/api/inventory");
      if (r.status == 502) ++passed_through;
    }
    check(passed_through == 9, "the handler's 502 passed through unchanged " +
                                   std::to_string(passed_through) + " times, then the breaker opened");

    const Reply rejected = get(base + "/api/inventory");
    const auto body = nlohmann::json::parse(rejected.body);
    check(rejected.status == 503, "GET /api/inventory -> " + std::to_string(rejected.status));
    check(body == nlohmann::json{{"error", "CIRCUIT_BREAKER_OPEN"}, {"breaker", "inventory-api"}},
          "body " + rejected.body);
    check(!rejected.retry_after.empty() && std::stoi(rejected.retry_after) >= 29 &&
              std::stoi(rejected.retry_after) <= 30,
          "Retry-After: " + rejected.retry_after);

    const Reply health = get(base + "/health");
    check(health.status == 503 && nlohmann::json::parse(health.body)["status"] == "degraded",
          "GET /health -> " + std::to_string(health.status) + " " + health.body);

    const Reply metrics = get(base + "/metrics");
    check(metrics.status == 200 &&
              metrics.body.find("circuit_breaker_state{name=\"inventory-api\"} 1") != std::string::npos &&
              metrics.body.find("circuit_breaker_rejected_calls_total{name=\"inventory-api\"} 1") !=
                  std::string::npos,
          "GET /metrics shows inventory-api open with 1 rejected call");
  } catch (const std::exception& e) {
    std::cerr << "http_middleware: " << e.what() << '\n';
    curl_global_cleanup();
    return 1;
  }
  curl_global_cleanup();
  std::cout << (failures == 0 ? "all checks passed\n" : "some checks FAILED\n");
  return failures == 0 ? 0 : 1;
}
