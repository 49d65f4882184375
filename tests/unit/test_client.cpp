// SPDX-License-Identifier: Apache-2.0
// <breaker/client.hpp>: ClientWithBreaker<Client> protects every call of a client object, coroutine
// and plain members alike, through one breaker.
#include "breaker/client.hpp"

#include "breaker/testing/manual_clock.hpp"
#include "run.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::ClientWithBreaker;
using breaker::errc;
using breaker::State;
using breaker::test::run;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

using ManualBreaker = breaker::CircuitBreaker<ManualClock>;
using ManualRegistry = breaker::BasicRegistry<ManualClock>;

CircuitBreakerConfig two_strikes() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(2)
      .success_threshold(1)
      .half_open_max_requests(1)
      .minimum_request_threshold(0)
      .timeout_duration(5s)
      .build();
}

struct Down : std::runtime_error {
  Down() : std::runtime_error("alerts service down") {}
};

// A client with coroutine and plain members, as a service client has.
class AlertsClient {
 public:
  bool down = false;
  int calls = 0;

  asio::awaitable<std::vector<int>> fetch_alerts(int limit) {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    if (down) throw Down{};
    std::vector<int> alerts;
    for (int i = 0; i < limit; ++i) alerts.push_back(i);
    co_return alerts;
  }
  asio::awaitable<void> acknowledge(std::string id) {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    if (down) throw Down{};
    acknowledged += id;
  }
  asio::awaitable<std::size_t> count_all(std::vector<int> values) {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    co_return values.size();
  }
  asio::awaitable<void> fill(std::vector<int>& out) {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    out.assign({1, 2, 3});
  }
  int ping() const {
    ++pings;
    if (down) throw Down{};
    return 200;
  }
  void copy_calls(int& out) { out = calls; }

  std::string acknowledged;
  mutable int pings = 0;
};

std::shared_ptr<ManualBreaker> make_breaker(ManualClock clock = {}) {
  return std::make_shared<ManualBreaker>("alerts", two_strikes(), clock);
}

}  // namespace

TEST_CASE("ClientWithBreaker calls coroutine members with their arguments under the breaker",
          "[client][coroutine]") {
  ClientWithBreaker protected_client(AlertsClient{}, make_breaker());

  const auto alerts = run([&] { return protected_client.call(&AlertsClient::fetch_alerts, 3); });
  CHECK(alerts == std::vector<int>{0, 1, 2});
  run([&] { return protected_client.call(&AlertsClient::acknowledge, std::string("A-1")); });
  CHECK(protected_client.client().acknowledged == "A-1");
  CHECK(protected_client.breaker()->stats().successful_calls == 2);
  CHECK(protected_client.client().calls == 2);
}

TEST_CASE("ClientWithBreaker calls plain members at once, forwarding their arguments",
          "[client][sync]") {
  ClientWithBreaker protected_client(AlertsClient{}, make_breaker());

  CHECK(protected_client.call(&AlertsClient::ping) == 200);
  int out = -1;
  protected_client.call(&AlertsClient::copy_calls, out);  // an lvalue reference, forwarded
  CHECK(out == 0);
  // Any callable taking the client first works, not only member pointers.
  CHECK(protected_client.call([](AlertsClient& c, int add) { return c.pings + add; }, 10) == 11);
  CHECK(protected_client.breaker()->stats().successful_calls == 3);
}

TEST_CASE("one breaker guards every member: failures of any open it for all",
          "[client][breaker]") {
  ManualClock clock;
  ClientWithBreaker protected_client(AlertsClient{}, make_breaker(clock));
  protected_client.client().down = true;

  // One coroutine failure and one plain failure: two consecutive failures open it.
  CHECK_THROWS_AS(run([&] { return protected_client.call(&AlertsClient::fetch_alerts, 1); }), Down);
  CHECK_THROWS_AS(protected_client.call(&AlertsClient::ping), Down);
  REQUIRE(protected_client.breaker()->state() == State::open);

  // Now every member is rejected without reaching the client.
  const int calls = protected_client.client().calls;
  const int pings = protected_client.client().pings;
  const auto is_open = Catch::Predicate<CircuitBreakerError>(
      [](const CircuitBreakerError& e) { return e.error() == errc::open; });
  CHECK_THROWS_MATCHES(protected_client.call(&AlertsClient::ping), CircuitBreakerError, is_open);
  CHECK_THROWS_MATCHES(
      run([&] { return protected_client.call(&AlertsClient::acknowledge, std::string("x")); }),
      CircuitBreakerError, is_open);
  CHECK(protected_client.client().calls == calls);
  CHECK(protected_client.client().pings == pings);

  // After the open period, a successful probe through any member closes it.
  protected_client.client().down = false;
  clock.advance(5s);
  CHECK(protected_client.call(&AlertsClient::ping) == 200);
  CHECK(protected_client.breaker()->state() == State::closed);
  const auto stats = protected_client.breaker()->stats();
  CHECK(stats.failed_calls == 2);
  CHECK(stats.rejected_calls == 2);
  CHECK(stats.successful_calls == 1);
}

TEST_CASE("a coroutine call owns copies of its arguments, std::ref passes a reference",
          "[client][lifetime]") {
  ClientWithBreaker protected_client(AlertsClient{}, make_breaker());
  asio::io_context ctx;

  // The awaitable is made while `values` has 4 elements; the caller then changes and destroys
  // it before the call runs: the member sees the copy taken at the call.
  std::size_t counted = 0;
  {
    std::vector<int> values{1, 2, 3, 4};
    auto awaitable = protected_client.call(&AlertsClient::count_all, values);
    values.clear();
    asio::co_spawn(ctx, std::move(awaitable), [&](std::exception_ptr e, std::size_t n) {
      if (!e) counted = n;
    });
  }
  ctx.run();
  CHECK(counted == 4);

  std::vector<int> filled;
  run([&] { return protected_client.call(&AlertsClient::fill, std::ref(filled)); });
  CHECK(filled == std::vector<int>{1, 2, 3});
}

TEST_CASE("call_with_fallback serves the fallback for coroutine and plain members",
          "[client][fallback]") {
  ClientWithBreaker protected_client(AlertsClient{}, make_breaker());
  protected_client.client().down = true;

  SECTION("coroutine member, plain and coroutine fallbacks") {
    auto none = [] { return std::vector<int>{}; };
    auto stale = []() -> asio::awaitable<std::vector<int>> { co_return std::vector<int>{9}; };
    CHECK(run([&] {
            return protected_client.call_with_fallback(&AlertsClient::fetch_alerts, none, 5);
          }).empty());  // failure
    CHECK(run([&] {
            return protected_client.call_with_fallback(&AlertsClient::fetch_alerts, stale, 5);
          }) == std::vector<int>{9});  // failure: opens
    REQUIRE(protected_client.breaker()->state() == State::open);
    const int calls = protected_client.client().calls;
    CHECK(run([&] {
            return protected_client.call_with_fallback(&AlertsClient::fetch_alerts, stale, 5);
          }) == std::vector<int>{9});  // rejected
    CHECK(protected_client.client().calls == calls);
  }
  SECTION("plain member") {
    for (int i = 0; i < 3; ++i) {
      CHECK(protected_client.call_with_fallback(&AlertsClient::ping, [] { return 503; }) == 503);
    }
    CHECK(protected_client.client().pings == 2);  // the third was rejected
    CHECK(protected_client.breaker()->stats().rejected_calls == 1);
  }
  SECTION("a healthy client's own value is returned") {
    protected_client.client().down = false;
    CHECK(protected_client.call_with_fallback(&AlertsClient::ping, [] { return 503; }) == 200);
    CHECK(run([&] {
            return protected_client.call_with_fallback(&AlertsClient::fetch_alerts,
                                                       [] { return std::vector<int>{}; }, 2);
          }) == std::vector<int>{0, 1});
  }
}

TEST_CASE("ClientWithBreaker gets its breaker from a registry, or shares a client",
          "[client][registry]") {
  ManualRegistry registry;

  SECTION("registry, name and config") {
    ClientWithBreaker protected_client(registry, AlertsClient{}, "alerts-api", two_strikes());
    CHECK(protected_client.breaker() == registry.get("alerts-api"));
    CHECK(protected_client.breaker()->config() == two_strikes());
    // A second wrapper of the same name shares the breaker (name only: whatever its config).
    ClientWithBreaker other(registry, AlertsClient{}, "alerts-api");
    CHECK(other.breaker() == protected_client.breaker());
    other.client().down = true;
    CHECK_THROWS_AS(other.call(&AlertsClient::ping), Down);
    CHECK(protected_client.breaker()->stats().failed_calls == 1);
    // A conflicting config is refused, as by the registry.
    CHECK_THROWS_MATCHES(
        ClientWithBreaker(registry, AlertsClient{}, "alerts-api", CircuitBreakerConfig{}),
        CircuitBreakerError, Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
          return e.error() == errc::already_exists;
        }));
  }
  SECTION("the global registry") {
    ClientWithBreaker protected_client(AlertsClient{}, "test_client.global", two_strikes());
    CHECK(protected_client.breaker() == breaker::global_registry().get("test_client.global"));
    ClientWithBreaker by_name(AlertsClient{}, "test_client.global");
    CHECK(by_name.breaker() == protected_client.breaker());
    CHECK(by_name.call(&AlertsClient::ping) == 200);
    CHECK(breaker::global_registry().remove("test_client.global"));
  }
  SECTION("a shared or referenced client, protected through member pointers of the class") {
    AlertsClient owned_elsewhere;
    ClientWithBreaker by_reference(std::ref(owned_elsewhere), make_breaker());
    CHECK(by_reference.call(&AlertsClient::ping) == 200);
    CHECK(run([&] { return by_reference.call(&AlertsClient::fetch_alerts, 1); }).size() == 1);
    CHECK(owned_elsewhere.pings == 1);
    CHECK(owned_elsewhere.calls == 1);

    auto shared = std::make_shared<AlertsClient>();
    ClientWithBreaker by_pointer(shared, make_breaker());
    CHECK(by_pointer.call(&AlertsClient::ping) == 200);
    CHECK(shared->pings == 1);
    CHECK(by_pointer.client() == shared);
  }
  SECTION("a null breaker is refused") {
    CHECK_THROWS_MATCHES(
        ClientWithBreaker(AlertsClient{}, std::shared_ptr<breaker::CircuitBreaker<>>{}),
        CircuitBreakerError, Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
          return e.error() == errc::invalid_config;
        }));
  }
}

namespace {
// Counts its live instances: an argument destroyed twice (or never) shows in `live`.
struct Counted {
  static inline int live = 0;
  Counted() { ++live; }
  Counted(const Counted&) { ++live; }
  Counted(Counted&&) noexcept { ++live; }
  Counted& operator=(const Counted&) = default;
  ~Counted() { --live; }
};
}  // namespace

TEST_CASE("a coroutine call copies and destroys its arguments exactly once each",
          "[client][lifetime]") {
  ClientWithBreaker protected_client(AlertsClient{}, make_breaker());
  REQUIRE(Counted::live == 0);
  {
    Counted argument;
    auto member = [](AlertsClient& c, Counted) { return c.fetch_alerts(1); };
    auto fallback = [c = Counted{}] { return std::vector<int>{}; };
    const auto alerts = run([&]() -> asio::awaitable<std::vector<int>> {
      auto first = co_await protected_client.call(member, argument);
      auto second = co_await protected_client.call_with_fallback(member, fallback, Counted{});
      first.insert(first.end(), second.begin(), second.end());
      co_return first;
    });
    CHECK(alerts == std::vector<int>{0, 0});
    CHECK(Counted::live == 2);  // `argument` and the fallback's capture
  }
  CHECK(Counted::live == 0);
}

namespace {
struct NotFound : std::runtime_error {
  NotFound() : std::runtime_error("no such alert") {}
};
// A plain member returning a status, and one throwing NotFound: for the outcome-policy forms.
struct StatusClient {
  int status = 200;
  int calls = 0;
  int get() {
    ++calls;
    return status;
  }
  asio::awaitable<int> fetch() {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    co_return status;
  }
  asio::awaitable<int> lookup() {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    throw NotFound{};
  }
};
auto server_errors() {
  return breaker::record_result([](const int& status) { return status >= 500; });
}
}  // namespace

TEST_CASE("ClientWithBreaker applies its outcome policy: a failing value opens it and is returned",
          "[client][policy]") {
  ClientWithBreaker protected_client(StatusClient{}, make_breaker(), server_errors());
  static_assert(std::is_same_v<decltype(protected_client)::policy_type,
                               decltype(server_errors())>);
  CHECK(protected_client.policy().is_failure(503));
  CHECK_FALSE(protected_client.policy().is_failure(200));

  CHECK(protected_client.call(&StatusClient::get) == 200);
  protected_client.client().status = 503;
  CHECK(protected_client.call(&StatusClient::get) == 503);  // a failure, still returned
  CHECK(run([&] { return protected_client.call(&StatusClient::fetch); }) == 503);
  REQUIRE(protected_client.breaker()->state() == State::open);
  const auto stats = protected_client.breaker()->stats();
  CHECK(stats.successful_calls == 1);
  CHECK(stats.failed_calls == 2);
  const int calls = protected_client.client().calls;
  CHECK_THROWS_AS(protected_client.call(&StatusClient::get), CircuitBreakerError);
  CHECK(protected_client.client().calls == calls);
}

TEST_CASE("ClientWithBreaker with ignore_exceptions: an ignored exception does not count",
          "[client][policy]") {
  ManualRegistry registry;
  ClientWithBreaker protected_client(registry, StatusClient{}, "lookups", two_strikes(),
                                     breaker::ignore_exceptions<NotFound>());
  for (int i = 0; i < 3; ++i) {
    CHECK_THROWS_AS(run([&] { return protected_client.call(&StatusClient::lookup); }), NotFound);
  }
  CHECK(protected_client.breaker()->state() == State::closed);
  const auto stats = protected_client.breaker()->stats();
  CHECK(stats.failed_calls == 0);
  CHECK(stats.ignored_calls == 3);
  CHECK(protected_client.client().calls == 3);
}

TEST_CASE("ClientWithBreaker hands a FallbackContext to a fallback: reason failed, then rejected",
          "[client][policy][fallback]") {
  ClientWithBreaker protected_client(StatusClient{}, make_breaker(), server_errors());
  protected_client.client().status = 503;
  std::vector<breaker::FallbackReason> reasons;
  std::vector<bool> had_error;
  auto fallback = [&](const breaker::FallbackContext& context) {
    reasons.push_back(context.reason);
    had_error.push_back(context.error != nullptr);
    CHECK(context.breaker_name == "alerts");
    return -1;
  };
  CHECK(protected_client.call_with_fallback(&StatusClient::get, fallback) == -1);  // failed
  auto coroutine_fallback = [&](const breaker::FallbackContext& context)
      -> asio::awaitable<int> {
    reasons.push_back(context.reason);
    had_error.push_back(context.error != nullptr);
    co_return -2;
  };
  CHECK(run([&] {
          return protected_client.call_with_fallback(&StatusClient::fetch, coroutine_fallback);
        }) == -2);  // failed: opens
  REQUIRE(protected_client.breaker()->state() == State::open);
  CHECK(protected_client.call_with_fallback(&StatusClient::get, fallback) == -1);  // rejected
  CHECK(run([&] {
          return protected_client.call_with_fallback(&StatusClient::fetch, coroutine_fallback);
        }) == -2);  // rejected
  using breaker::FallbackReason;
  CHECK(reasons == std::vector<FallbackReason>{FallbackReason::failed, FallbackReason::failed,
                                               FallbackReason::rejected, FallbackReason::rejected});
  CHECK(had_error == std::vector<bool>{false, false, false, false});
  CHECK(protected_client.client().calls == 2);
}
