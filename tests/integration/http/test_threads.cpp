// SPDX-License-Identifier: Apache-2.0
//
// One Client and one CircuitBreakerHttpClient shared by 4 threads running one
// io_context: 1,000 requests against a real loopback server. Labelled
// `sanitize`: it runs under ASan+UBSan and TSan.

#include "breaker/http/circuit_breaker_http_client.hpp"
#include "breaker/http/client.hpp"

#include "servers/http_test_server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using breaker::CircuitBreakerConfig;
using breaker::http::CircuitBreakerHttpClient;
using breaker::http::HttpOutcomePolicy;
using breaker::http::Response;
using breaker::test::HttpTestServer;
using breaker::test::ScriptedReply;

namespace {

constexpr int total_requests = 1000;
constexpr int threads = 4;
// At most this many requests in flight at once (each spawner keeps a window).
constexpr int spawners = 16;

void run_on_threads(asio::io_context& io) {
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  for (auto& t : pool) t.join();
}

}  // namespace

TEST_CASE("4 threads on one io_context complete 1,000 requests through one breaker",
          "[http][threads]") {
  HttpTestServer server;
  server.route("/fail", ScriptedReply{503, "", {}});
  asio::io_context io(threads);
  // Never opens (threshold above the failures), so every outcome is counted.
  auto config = CircuitBreakerConfig::builder()
                    .failure_threshold(CircuitBreakerConfig::max_count)
                    .minimum_request_threshold(0)
                    .build();
  auto b = std::make_shared<breaker::CircuitBreaker<>>("threads", config);
  CircuitBreakerHttpClient<HttpOutcomePolicy> client(io.get_executor(), b);
  const std::string ok_url = server.url("/ok");
  const std::string fail_url = server.url("/fail");

  std::atomic<int> next{0};
  std::atomic<int> ok{0};
  std::atomic<int> failed_responses{0};
  std::atomic<int> errors{0};
  for (int s = 0; s < spawners; ++s) {
    auto worker = [&]() -> asio::awaitable<void> {
      for (int i = next.fetch_add(1); i < total_requests; i = next.fetch_add(1)) {
        const std::string& url = (i % 10 == 0) ? fail_url : ok_url;
        try {
          const Response r = co_await client.get(url);
          if (r.status == 200) ok.fetch_add(1);
          if (r.status == 503) failed_responses.fetch_add(1);
        } catch (...) {
          errors.fetch_add(1);
        }
      }
    };
    asio::co_spawn(io, worker, [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  run_on_threads(io);

  CHECK(errors == 0);
  CHECK(ok == 900);
  CHECK(failed_responses == 100);
  CHECK(server.request_count() == total_requests);
  const auto stats = b->stats();
  CHECK(stats.successful_calls == 900);
  CHECK(stats.failed_calls == 100);
  CHECK(stats.total_calls == total_requests);
  CHECK(client.client().transfers_in_flight() == 0);
}

TEST_CASE("4 threads cancel and finish requests on one client without losing a transfer",
          "[http][threads][cancel]") {
  HttpTestServer server;
  server.route("/slow", ScriptedReply{200, "late", {}, std::chrono::milliseconds{2000}});
  asio::io_context io(threads);
  breaker::http::Client client(io.get_executor());
  const std::string slow_url = server.url("/slow");
  const std::string fast_url = server.url("/fast");
  std::atomic<int> timed_out{0};
  std::atomic<int> ok{0};
  for (int s = 0; s < 8; ++s) {
    auto worker = [&, s]() -> asio::awaitable<void> {
      for (int i = 0; i < 10; ++i) {
        // Per-request timeouts end the slow ones inside curl (a removal on the strand).
        const bool slow = (i + s) % 2 != 0;
        breaker::http::Request r{breaker::http::Method::get, slow ? slow_url : fast_url, {}, {},
                                 std::chrono::milliseconds{slow ? 20 : 0}};
        try {
          const Response resp = co_await client.request(r);
          if (resp.status == 200) ok.fetch_add(1);
        } catch (const std::system_error&) {
          timed_out.fetch_add(1);
        }
      }
    };
    asio::co_spawn(io, worker, [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  run_on_threads(io);
  CHECK(ok == 40);
  CHECK(timed_out == 40);
  CHECK(client.transfers_in_flight() == 0);
}
