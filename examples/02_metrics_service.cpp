// SPDX-License-Identifier: Apache-2.0
//
// 02_metrics_service: export circuit breakers to Prometheus and serve a health check.
//
// It creates three breakers in breaker::global_registry(), drives "payments-api" from closed to
// open, and serves on 127.0.0.1:
//
//   /metrics   Prometheus text exposition, served by prometheus-cpp's Exposer: the seven
//              circuit_breaker_* families of every breaker in the global registry, read from the
//              breakers at each scrape (plus the Exposer's own exposer_* metrics).
//   /health    breaker::to_json(breaker::global_registry().health_check()), e.g.
//              {"status":"degraded","circuit_breakers":{"total":3,"closed":2,"open":1,"half_open":0}}
//              Always 200: an open breaker means a dependency is down, not this service.
//   /breakers  every breaker's stats as JSON (breaker::to_json of get_all_stats()).
//
// /health and /breakers share the Exposer's civetweb server through its begin_request callback,
// so everything is on one port.
//
// Usage: 02_metrics_service [--port N] [--prefix P] [--exit-after-requests N]
//   --port N                 port to bind on 127.0.0.1; 0 (the default) picks a free one
//   --prefix P               metric name prefix (P_circuit_breaker_state ...); default none
//   --exit-after-requests N  exit after answering N HTTP requests (used by its test)
// The first line on stdout is "listening on http://127.0.0.1:<port>". It serves until SIGINT or
// SIGTERM (or N requests), then exits 0. Try: curl http://127.0.0.1:<port>/metrics

#include <breaker/breaker.hpp>
#include <breaker/prometheus.hpp>

#include <prometheus/exposer.h>

#include <CivetServer.h>
#include <civetweb.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using namespace std::chrono_literals;

struct Options {
  unsigned short port = 0;
  std::string prefix;
  long exit_after_requests = 0;  // 0: until a signal
};

// Set once before the server starts, read by its threads.
long exit_after_requests = 0;
std::atomic<long> requests_answered{0};

std::optional<long> parse_number(std::string_view text, long max) {
  long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 0 || value > max) {
    return std::nullopt;
  }
  return value;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return std::nullopt;  // every option takes a value
    const std::string_view value = argv[++i];
    if (arg == "--port") {
      const auto port = parse_number(value, 65535);
      if (!port) return std::nullopt;
      options.port = static_cast<unsigned short>(*port);
    } else if (arg == "--prefix") {
      options.prefix = value;
    } else if (arg == "--exit-after-requests") {
      const auto count = parse_number(value, 1'000'000'000);
      if (!count) return std::nullopt;
      options.exit_after_requests = *count;
    } else {
      return std::nullopt;
    }
  }
  return options;
}

// Three dependencies; the payment API goes down and its breaker opens.
void simulate_traffic() {
  const auto payments =
      breaker::get_circuit_breaker("payments-api", breaker::CircuitBreakerConfig::builder()
                                                       .failure_threshold(3)
                                                       .minimum_request_threshold(0)
                                                       .timeout_duration(60s)
                                                       .build());
  const auto orders =
      breaker::get_circuit_breaker("orders-db", breaker::CircuitBreakerConfig::for_database());
  // Any UTF-8 name works; metrics and JSON escape it.
  const auto llm = breaker::get_circuit_breaker("llm \"summarizer\"",
                                                breaker::CircuitBreakerConfig::for_llm_service());

  payments->on_state_change([](const breaker::StateTransition& t) {
    std::cout << "breaker " << t.breaker_name << ": " << t.from << " -> " << t.to << '\n';
  });

  for (int i = 0; i < 5; ++i) orders->execute([] {});
  llm->execute([] {});
  payments->execute([] {});
  payments->execute([] {});
  for (int i = 0; i < 3; ++i) {
    try {
      payments->execute([] { throw std::runtime_error("503 from the payment provider"); });
    } catch (const std::runtime_error&) {
    }
  }
  for (int i = 0; i < 2; ++i) {
    try {
      payments->execute([] {});
    } catch (const breaker::CircuitBreakerError& e) {
      std::cout << "rejected: " << e.what() << '\n';
    }
  }
}

void send_json(mg_connection* connection, const std::string& body) {
  mg_send_http_ok(connection, "application/json", static_cast<long long>(body.size()));
  mg_write(connection, body.data(), body.size());
}

// civetweb calls this for every request first; returning 0 lets the Exposer handle it.
int begin_request(mg_connection* connection) {
  const mg_request_info* request = mg_get_request_info(connection);
  const std::string_view uri = request->local_uri != nullptr ? request->local_uri : "";
  try {
    if (uri == "/health") {
      send_json(connection, breaker::to_json(breaker::global_registry().health_check()));
      return 200;
    }
    if (uri == "/breakers") {
      send_json(connection, breaker::to_json(breaker::global_registry().get_all_stats()));
      return 200;
    }
  } catch (const std::exception&) {  // only bad_alloc; never let it reach civetweb's C code
    mg_send_http_error(connection, 500, "%s", "internal error");
    return 500;
  }
  return 0;
}

// Called after each request has been answered.
void end_request(const mg_connection*, int) {
  if (exit_after_requests > 0 && ++requests_answered == exit_after_requests) {
    // To the process, not this thread: main is the one thread waiting for it.
    kill(getpid(), SIGTERM);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> options = parse_options(argc, argv);
  if (!options) {
    std::cerr << "usage: " << argv[0] << " [--port N] [--prefix P] [--exit-after-requests N]\n";
    return 2;
  }
  exit_after_requests = options->exit_after_requests;

  // Block SIGINT and SIGTERM before any thread starts: the server threads inherit the mask, and
  // main receives them with sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    simulate_traffic();

    // [docs:metrics-exposer]
    // The recommended way in: a prometheus::Collectable of the breaker registry (here the
    // global one), registered with the Exposer. It must live as long as it is scraped.
    const auto metrics = breaker::make_circuit_breaker_collectable(
        {.prefix = options->prefix, .breakers = nullptr});

    CivetCallbacks callbacks;  // must outlive the server
    callbacks.begin_request = begin_request;
    callbacks.end_request = end_request;
    prometheus::Exposer exposer{"127.0.0.1:" + std::to_string(options->port), 2, &callbacks};
    exposer.RegisterCollectable(metrics);
    // [docs:metrics-exposer]

    const auto ports = exposer.GetListeningPorts();
    if (ports.empty()) throw std::runtime_error("the server has no listening port");
    std::cout << "listening on http://127.0.0.1:" << ports.front() << std::endl;

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cout << "stopping after " << requests_answered.load() << " requests" << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "02_metrics_service: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
