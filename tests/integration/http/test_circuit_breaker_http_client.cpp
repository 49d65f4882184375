// SPDX-License-Identifier: Apache-2.0
//
// CircuitBreakerHttpClient against real restinio servers on 127.0.0.1. Breaker
// time moves only through ManualClock.

#include "breaker/http/circuit_breaker_http_client.hpp"

#include "breaker/registry.hpp"
#include "breaker/testing/manual_clock.hpp"
#include "run.hpp"
#include "servers/http_test_server.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <catch2/catch.hpp>
#include <curl/curl.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::State;
using breaker::http::CircuitBreakerHttpClient;
using breaker::http::HttpOutcomePolicy;
using breaker::http::Method;
using breaker::http::Request;
using breaker::http::Response;
using breaker::test::HttpTestServer;
using breaker::test::ScriptedReply;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;
using TestClient = CircuitBreakerHttpClient<HttpOutcomePolicy, ManualClock>;

CircuitBreakerConfig config_opening_after(std::uint32_t failures) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(failures)
      .success_threshold(2)
      .minimum_request_threshold(0)
      .timeout_duration(30s)
      .half_open_max_requests(2)
      .build();
}

struct Fixture {
  ManualClock clock;
  HttpTestServer server;
  asio::io_context io;
  std::shared_ptr<Breaker> breaker;
  TestClient client;

  explicit Fixture(CircuitBreakerConfig config = config_opening_after(3))
      : breaker(std::make_shared<Breaker>("downstream", config, clock)),
        client(io.get_executor(), breaker) {}

  Response get(const std::string& path) {
    return breaker::test::run(io, [&] { return client.get(server.url(path)); });
  }
  Response send(Request request) {
    return breaker::test::run(io, [&] { return client.request(request); });
  }
  // The exception a GET ends with (rethrown as std::system_error).
  std::error_code get_error(Request request) {
    try {
      send(std::move(request));
    } catch (const std::system_error& e) {
      return e.code();
    }
    return {};
  }
};

}  // namespace

TEST_CASE("every method goes through the breaker", "[http][breaker]") {
  Fixture f;
  using Call = std::function<asio::awaitable<Response>(TestClient&, const std::string&)>;
  const std::vector<std::pair<std::string, Call>> calls{
      {"GET", [](TestClient& c, const std::string& u) { return c.get(u); }},
      {"POST", [](TestClient& c, const std::string& u) { return c.post(u, "b"); }},
      {"PUT", [](TestClient& c, const std::string& u) { return c.put(u, "b"); }},
      {"PATCH", [](TestClient& c, const std::string& u) { return c.patch(u, "b"); }},
      {"DELETE", [](TestClient& c, const std::string& u) { return c.del(u); }},
      {"HEAD", [](TestClient& c, const std::string& u) { return c.head(u); }},
      {"request()", [](TestClient& c, const std::string& u) {
         return c.request(Request{Method::post, u, {}, "b", {}});
       }}};
  const std::string url = f.server.url("/x");

  SECTION("closed: each is admitted and counted") {
    for (const auto& [name, call] : calls) {
      INFO(name);
      const Response r = breaker::test::run(f.io, [&, &c = call] { return c(f.client, url); });
      CHECK(r.status == 200);
    }
    CHECK(f.server.request_count() == calls.size());
    CHECK(f.breaker->stats().successful_calls == calls.size());
  }
  SECTION("open: each is rejected and nothing is sent") {
    f.breaker->force_open();
    for (const auto& [name, call] : calls) {
      INFO(name);
      try {
        breaker::test::run(f.io, [&, &c = call] { return c(f.client, url); });
        FAIL("not rejected");
      } catch (const CircuitBreakerError& e) {
        CHECK(e.error() == breaker::errc::open);
        CHECK(e.breaker_name() == "downstream");
      }
    }
    CHECK(f.server.request_count() == 0);
    CHECK(f.breaker->stats().rejected_calls == calls.size());
  }
}

TEST_CASE("5xx responses open the breaker and are still returned", "[http][breaker]") {
  Fixture f;
  f.server.set_default(ScriptedReply{503, "down", {}});
  for (int i = 0; i < 3; ++i) {
    const Response r = f.get("/");
    CHECK(r.status == 503);
    CHECK(r.body == "down");
  }
  CHECK(f.breaker->state() == State::open);
  CHECK(f.breaker->stats().failed_calls == 3);
  CHECK_THROWS_AS(f.get("/"), CircuitBreakerError);
  CHECK(f.server.request_count() == 3);
}

TEST_CASE("429 counts as a failure", "[http][breaker]") {
  Fixture f(config_opening_after(2));
  f.server.set_default(ScriptedReply{429, "slow down", {}});
  f.get("/");
  f.get("/");
  CHECK(f.breaker->state() == State::open);
}

TEST_CASE("404 and other 4xx do not open the breaker", "[http][breaker]") {
  Fixture f;
  f.server.route("/missing", ScriptedReply{404, "", {}});
  f.server.route("/bad", ScriptedReply{400, "", {}});
  f.server.route("/conflict", ScriptedReply{409, "", {}});
  for (int i = 0; i < 5; ++i) {
    CHECK(f.get("/missing").status == 404);
    CHECK(f.get("/bad").status == 400);
    CHECK(f.get("/conflict").status == 409);
  }
  CHECK(f.breaker->state() == State::closed);
  CHECK(f.breaker->stats().successful_calls == 15);
  CHECK(f.breaker->stats().failed_calls == 0);
}

TEST_CASE("timeouts and refused connections open the breaker", "[http][breaker]") {
  SECTION("replies slower than the request's timeout") {
    Fixture f;
    f.server.set_default(ScriptedReply{200, "late", {}, 2s});
    for (int i = 0; i < 3; ++i) {
      CHECK(f.get_error(Request{Method::get, f.server.url("/"), {}, {}, 50ms}) ==
            breaker::http::make_error_code(CURLE_OPERATION_TIMEDOUT));
    }
    CHECK(f.breaker->state() == State::open);
  }
  SECTION("a port that refuses") {
    Fixture f;
    const std::string url = "http://127.0.0.1:" + std::to_string(breaker::test::refusing_port()) + "/";
    for (int i = 0; i < 3; ++i) {
      CHECK(f.get_error(Request{Method::get, url, {}, {}, {}}) ==
            breaker::http::make_error_code(CURLE_COULDNT_CONNECT));
    }
    CHECK(f.breaker->state() == State::open);
  }
  SECTION("connections closed mid-reply") {
    Fixture f;
    ScriptedReply reply;
    reply.close_early = true;
    f.server.set_default(reply);
    for (int i = 0; i < 3; ++i) f.get_error(Request{Method::get, f.server.url("/"), {}, {}, {}});
    CHECK(f.breaker->stats().failed_calls == 3);
    CHECK(f.breaker->state() == State::open);
  }
}

TEST_CASE("after the open period, successful probes close the breaker", "[http][breaker]") {
  Fixture f;
  f.server.set_default(ScriptedReply{500, "", {}});
  for (int i = 0; i < 3; ++i) f.get("/");
  REQUIRE(f.breaker->state() == State::open);
  f.clock.advance(29s);
  CHECK_THROWS_AS(f.get("/"), CircuitBreakerError);
  f.clock.advance(1s);
  CHECK(f.breaker->state() == State::half_open);
  f.server.set_default(ScriptedReply{200, "back", {}});
  CHECK(f.get("/").body == "back");
  CHECK(f.breaker->state() == State::half_open);
  CHECK(f.get("/").body == "back");
  CHECK(f.breaker->state() == State::closed);
}

TEST_CASE("cancelling an in-flight request is ignored by the breaker and frees the transfer",
          "[http][breaker][cancel]") {
  Fixture f(config_opening_after(1));
  f.server.set_default(ScriptedReply{200, "late", {}, 5s});
  asio::cancellation_signal signal;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(f.io, f.client.get(f.server.url("/slow")),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, Response) {
                   error = e;
                   done = true;
                 }));
  asio::steady_timer poll(f.io);
  std::size_t in_flight_seen = 0;
  std::function<void()> check = [&] {
    if (f.server.request_count() == 1) {
      in_flight_seen = f.client.client().transfers_in_flight();
      signal.emit(asio::cancellation_type::terminal);
      return;
    }
    poll.expires_after(1ms);
    poll.async_wait([&](std::error_code) { check(); });
  };
  check();
  f.io.run();
  REQUIRE(done);
  REQUIRE(error);
  CHECK(in_flight_seen == 1);
  CHECK(f.client.client().transfers_in_flight() == 0);
  const auto stats = f.breaker->stats();
  CHECK(stats.ignored_calls == 1);
  CHECK(stats.failed_calls == 0);
  CHECK(f.breaker->state() == State::closed);
}

TEST_CASE("the outcome policy is configurable", "[http][breaker][policy]") {
  // 404 a failure too; exceptions by the default rules.
  struct StrictPolicy {
    breaker::Outcome operator()(const Response& r) const {
      return r.status == 404 ? breaker::Outcome::failure : HttpOutcomePolicy{}(r);
    }
  };
  ManualClock clock;
  HttpTestServer server;
  server.set_default(ScriptedReply{404, "", {}});
  asio::io_context io;
  auto b = std::make_shared<Breaker>("strict", config_opening_after(2), clock);
  CircuitBreakerHttpClient<StrictPolicy, ManualClock> client(io.get_executor(), b);
  const std::string url = server.url("/");
  for (int i = 0; i < 2; ++i) breaker::test::run(io, [&] { return client.get(url); });
  CHECK(b->state() == State::open);

  SECTION("a policy without an exception rule keeps the default rules for exceptions") {
    b->reset();
    const std::string refused =
        "http://127.0.0.1:" + std::to_string(breaker::test::refusing_port()) + "/";
    for (int i = 0; i < 2; ++i) {
      CHECK_THROWS_AS(breaker::test::run(io, [&] { return client.get(refused); }), std::system_error);
    }
    CHECK(b->state() == State::open);
  }
}

TEST_CASE("a failed response with Retry-After reaches the hook", "[http][breaker][retry-after]") {
  Fixture f(config_opening_after(5));
  f.server.route("/busy", ScriptedReply{503, "", {{"Retry-After", "7"}}});
  f.server.route("/ok", ScriptedReply{200, "", {{"Retry-After", "9"}}});
  std::vector<std::chrono::seconds> delays;
  f.client.on_retry_after([&](std::chrono::seconds d, const Response& r) {
    CHECK(r.status == 503);
    delays.push_back(d);
  });
  f.get("/busy");
  f.get("/ok");  // a success: no hook
  REQUIRE(delays.size() == 1);
  CHECK(delays[0] == 7s);
}

TEST_CASE("retry_after reads delta-seconds and HTTP-dates", "[http][retry-after]") {
  using breaker::http::retry_after;
  const auto now = std::chrono::system_clock::from_time_t(1'445'412'480);  // 2015-10-21 07:28:00 UTC
  auto with = [](std::string v) { return Response{503, {{"Retry-After", std::move(v)}}, {}}; };
  CHECK(retry_after(with("120"), now) == std::chrono::seconds{120});
  CHECK(retry_after(with(" 0 "), now) == std::chrono::seconds{0});
  CHECK(retry_after(with("Wed, 21 Oct 2015 07:28:30 GMT"), now) == std::chrono::seconds{30});
  CHECK(retry_after(with("Wed, 21 Oct 2015 07:00:00 GMT"), now) == std::chrono::seconds{0});
  CHECK_FALSE(retry_after(with("-1"), now));
  CHECK_FALSE(retry_after(with("12abc"), now));
  CHECK_FALSE(retry_after(with("soon"), now));
  CHECK_FALSE(retry_after(with(""), now));
  CHECK_FALSE(retry_after(Response{503, {}, {}}, now));
}

TEST_CASE("the name-and-config forms register the breaker", "[http][breaker][registry]") {
  asio::io_context io;
  SECTION("in a given registry") {
    breaker::BasicRegistry<ManualClock> registry;
    TestClient client(io.get_executor(), "payments", CircuitBreakerConfig::for_http_api(), registry);
    CHECK(registry.find("payments") == client.breaker());
  }
  SECTION("in the global registry (the seed's form)") {
    CircuitBreakerHttpClient client(io.get_executor(), "http-test-global-registry");
    CHECK(breaker::global_registry().find("http-test-global-registry") == client.breaker());
    CHECK(client.breaker()->config() == CircuitBreakerConfig::for_http_api());
  }
  SECTION("a null breaker is refused") {
    CHECK_THROWS_AS(TestClient(io.get_executor(), std::shared_ptr<Breaker>{}), std::invalid_argument);
  }
}

TEST_CASE("the breaker's call_timeout bounds a request: a timeout error, the transfer removed",
          "[http][breaker][timeout]") {
  Fixture f(CircuitBreakerConfig::builder()
                .failure_threshold(1)
                .minimum_request_threshold(0)
                .timeout_duration(30s)
                .call_timeout(100ms)
                .build());
  f.server.set_default(ScriptedReply{200, "late", {}, 5s});
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(f.io, f.client.get(f.server.url("/slow")), [&](std::exception_ptr e, Response) {
    error = e;
    done = true;
  });
  // Once the server has the request, the breaker's (manual) clock passes the deadline.
  asio::steady_timer poll(f.io);
  std::size_t in_flight_seen = 0;
  std::function<void()> check = [&] {
    if (f.server.request_count() == 1) {
      in_flight_seen = f.client.client().transfers_in_flight();
      f.clock.advance(99ms);
      f.io.poll();
      CHECK_FALSE(done);
      f.clock.advance(1ms);
      return;
    }
    poll.expires_after(1ms);
    poll.async_wait([&](std::error_code) { check(); });
  };
  check();
  f.io.run();
  REQUIRE(done);
  REQUIRE(error);
  try {
    std::rethrow_exception(error);
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == breaker::errc::timeout);
  } catch (...) {
    FAIL("not a CircuitBreakerError(errc::timeout)");
  }
  CHECK(in_flight_seen == 1);
  CHECK(f.client.client().transfers_in_flight() == 0);
  CHECK(f.breaker->stats().failed_calls == 1);
  CHECK(f.breaker->state() == State::open);
}

namespace {
// A client whose 429/503 Retry-After opens its breaker, capped at `cap`.
struct RetryAfterFixture {
  ManualClock clock;
  HttpTestServer server;
  asio::io_context io;
  std::shared_ptr<Breaker> breaker;
  TestClient client;

  explicit RetryAfterFixture(std::chrono::milliseconds cap)
      : breaker(std::make_shared<Breaker>("retry-after", config_opening_after(100), clock)),
        client(io.get_executor(), breaker, HttpOutcomePolicy{}, options(cap)) {}

  static breaker::http::ClientOptions options(std::chrono::milliseconds cap) {
    breaker::http::ClientOptions o;
    o.retry_after_open_max = cap;
    return o;
  }
  Response get(const std::string& path) {
    return breaker::test::run(io, [&] { return client.get(server.url(path)); });
  }
};
}  // namespace

TEST_CASE("opt-in: a 503 with Retry-After opens the breaker for that long",
          "[http][breaker][retry-after]") {
  RetryAfterFixture f(60s);
  f.server.route("/busy", ScriptedReply{503, "", {{"Retry-After", "7"}}});
  f.server.route("/ok", ScriptedReply{200, "", {}});
  const Response r = f.get("/busy");
  CHECK(r.status == 503);  // still returned
  CHECK(f.breaker->state() == State::open);
  REQUIRE(f.breaker->time_until_half_open());
  CHECK(*f.breaker->time_until_half_open() == 7s);
  // Rejected without a request, with the time left.
  try {
    f.get("/ok");
    FAIL("not rejected");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.code() == breaker::errc::open);
    REQUIRE(e.retry_after());
    CHECK(*e.retry_after() == 7s);
  }
  f.clock.advance(7s);
  CHECK(f.breaker->state() == State::half_open);
  CHECK(f.get("/ok").status == 200);
}

TEST_CASE("opt-in: a 429 with an HTTP-date Retry-After opens the breaker until then",
          "[http][breaker][retry-after]") {
  RetryAfterFixture f(3600s);
  // curl_getdate has a resolution of seconds: a date 120 s ahead is 119-120 s away.
  char date[64];
  const std::time_t when = std::time(nullptr) + 120;
  std::tm tm{};
  gmtime_r(&when, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  f.server.route("/slow-down", ScriptedReply{429, "", {{"Retry-After", date}}});
  f.get("/slow-down");
  CHECK(f.breaker->state() == State::open);
  REQUIRE(f.breaker->time_until_half_open());
  CHECK(*f.breaker->time_until_half_open() <= 120s);
  CHECK(*f.breaker->time_until_half_open() >= 118s);
}

TEST_CASE("opt-in: the Retry-After delay is capped", "[http][breaker][retry-after]") {
  RetryAfterFixture f(5s);
  f.server.route("/busy", ScriptedReply{503, "", {{"Retry-After", "86400"}}});
  f.get("/busy");
  CHECK(f.breaker->state() == State::open);
  REQUIRE(f.breaker->time_until_half_open());
  CHECK(*f.breaker->time_until_half_open() == 5s);
}

TEST_CASE("Retry-After does not open the breaker when off, on other statuses or when invalid",
          "[http][breaker][retry-after]") {
  SECTION("off (the default)") {
    RetryAfterFixture f(0s);
    f.server.route("/busy", ScriptedReply{503, "", {{"Retry-After", "7"}}});
    f.get("/busy");
    CHECK(f.breaker->state() == State::closed);
  }
  SECTION("a 500 or a 200 with the header") {
    RetryAfterFixture f(60s);
    f.server.route("/error", ScriptedReply{500, "", {{"Retry-After", "7"}}});
    f.server.route("/ok", ScriptedReply{200, "", {{"Retry-After", "7"}}});
    f.get("/error");
    f.get("/ok");
    CHECK(f.breaker->state() == State::closed);
  }
  SECTION("an invalid or zero header") {
    RetryAfterFixture f(60s);
    f.server.route("/bad", ScriptedReply{503, "", {{"Retry-After", "soon"}}});
    f.server.route("/zero", ScriptedReply{503, "", {{"Retry-After", "0"}}});
    f.server.route("/none", ScriptedReply{503, "", {}});
    f.get("/bad");
    f.get("/zero");
    f.get("/none");
    CHECK(f.breaker->state() == State::closed);
    CHECK(f.breaker->stats().failed_calls == 3);
  }
  SECTION("a negative cap is refused") {
    asio::io_context io;
    ManualClock clock;
    auto b = std::make_shared<Breaker>("neg", config_opening_after(3), clock);
    breaker::http::ClientOptions o;
    o.retry_after_open_max = -1ms;
    CHECK_THROWS_AS(TestClient(io.get_executor(), b, HttpOutcomePolicy{}, o), std::invalid_argument);
  }
}
