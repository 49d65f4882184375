// SPDX-License-Identifier: Apache-2.0
// <breaker/decorators.hpp>: with_circuit_breaker and with_circuit_breaker_and_fallback, coroutine
// and synchronous forms, through a registry passed first or the global one.
#include "breaker/decorators.hpp"

#include "breaker/testing/manual_clock.hpp"
#include "run.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::State;
using breaker::with_circuit_breaker;
using breaker::with_circuit_breaker_and_fallback;
using breaker::test::run;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

using ManualRegistry = breaker::BasicRegistry<ManualClock>;

// Opens after two consecutive failures (no volume gate), for 5 s; one probe closes it.
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
  Down() : std::runtime_error("dependency down") {}
};

// A dependency whose health the test sets, counting the calls that reach it.
struct Dependency {
  bool down = false;
  int calls = 0;

  asio::awaitable<int> fetch() {
    ++calls;
    co_await asio::post(asio::use_awaitable);  // really suspends
    if (down) throw Down{};
    co_return 42;
  }
  asio::awaitable<void> notify() {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    if (down) throw Down{};
  }
  int count() {
    ++calls;
    if (down) throw Down{};
    return 7;
  }
};

}  // namespace

TEST_CASE("with_circuit_breaker runs a coroutine under the registry's named breaker",
          "[decorators][coroutine]") {
  ManualClock clock;
  ManualRegistry registry{clock};
  Dependency dep;
  auto fetch = [&dep] { return dep.fetch(); };

  CHECK(run([&] { return with_circuit_breaker(registry, "inventory", two_strikes(), fetch); }) ==
        42);
  const auto cb = registry.get("inventory");  // created on first use with the given config
  CHECK(cb->config() == two_strikes());
  CHECK(cb->stats().successful_calls == 1);

  // Failures reach the caller unchanged and open the breaker; then calls are rejected without
  // reaching the dependency.
  dep.down = true;
  for (int i = 0; i < 2; ++i) {
    CHECK_THROWS_AS(
        run([&] { return with_circuit_breaker(registry, "inventory", two_strikes(), fetch); }),
        Down);
  }
  CHECK(cb->state() == State::open);
  const int calls_before = dep.calls;
  try {
    run([&] { return with_circuit_breaker(registry, "inventory", two_strikes(), fetch); });
    FAIL("an open breaker admitted the call");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == errc::open);
    CHECK(e.breaker_name() == "inventory");
  }
  CHECK(dep.calls == calls_before);

  // After the open period one successful probe closes it again.
  dep.down = false;
  clock.advance(5s);
  CHECK(run([&] { return with_circuit_breaker(registry, "inventory", two_strikes(), fetch); }) ==
        42);
  CHECK(cb->state() == State::closed);
  CHECK(registry.size() == 1);

  SECTION("void coroutines work too") {
    auto notify = [&dep] { return dep.notify(); };
    run([&] { return with_circuit_breaker(registry, "inventory", two_strikes(), notify); });
    CHECK(cb->stats().successful_calls == 3);
  }
}

TEST_CASE("with_circuit_breaker runs a plain callable at once (the synchronous form)",
          "[decorators][sync]") {
  ManualRegistry registry;
  Dependency dep;
  auto count = [&dep] { return dep.count(); };

  CHECK(with_circuit_breaker(registry, "db", two_strikes(), count) == 7);
  dep.down = true;
  CHECK_THROWS_AS(with_circuit_breaker(registry, "db", two_strikes(), count), Down);
  CHECK_THROWS_AS(with_circuit_breaker(registry, "db", two_strikes(), count), Down);
  CHECK_THROWS_MATCHES(with_circuit_breaker(registry, "db", two_strikes(), count),
                       CircuitBreakerError,
                       Catch::Predicate<CircuitBreakerError>(
                           [](const CircuitBreakerError& e) { return e.error() == errc::open; }));
  CHECK(dep.calls == 3);
  const auto stats = registry.get("db")->stats();
  CHECK(stats.successful_calls == 1);
  CHECK(stats.failed_calls == 2);
  CHECK(stats.rejected_calls == 1);

  SECTION("void callables and temporaries") {
    int ran = 0;
    registry.get("db")->reset();
    with_circuit_breaker(registry, "db", two_strikes(), [&ran] { ++ran; });
    CHECK(ran == 1);
  }
}

TEST_CASE("with_circuit_breaker_and_fallback serves the fallback on failure and rejection",
          "[decorators][fallback]") {
  ManualRegistry registry;
  Dependency dep;
  dep.down = true;

  SECTION("coroutine form, plain fallback") {
    auto fetch = [&dep] { return dep.fetch(); };
    auto cached = [] { return -1; };
    for (int i = 0; i < 3; ++i) {  // two failures (recorded), then a rejection
      CHECK(run([&] {
              return with_circuit_breaker_and_fallback(registry, "api", two_strikes(), fetch,
                                                       cached);
            }) == -1);
    }
    CHECK(dep.calls == 2);
    const auto stats = registry.get("api")->stats();
    CHECK(stats.failed_calls == 2);
    CHECK(stats.rejected_calls == 1);
  }
  SECTION("coroutine form, coroutine fallback") {
    auto fetch = [&dep] { return dep.fetch(); };
    auto from_cache = []() -> asio::awaitable<int> {
      co_await asio::post(asio::use_awaitable);
      co_return -2;
    };
    CHECK(run([&] {
            return with_circuit_breaker_and_fallback(registry, "api", two_strikes(), fetch,
                                                     from_cache);
          }) == -2);
    dep.down = false;
    CHECK(run([&] {
            return with_circuit_breaker_and_fallback(registry, "api", two_strikes(), fetch,
                                                     from_cache);
          }) == 42);  // healthy: the operation's own value
  }
  SECTION("synchronous form") {
    auto count = [&dep] { return dep.count(); };
    for (int i = 0; i < 3; ++i) {
      CHECK(with_circuit_breaker_and_fallback(registry, "api", two_strikes(), count,
                                              [] { return 0; }) == 0);
    }
    CHECK(dep.calls == 2);
    CHECK(registry.get("api")->state() == State::open);
  }
}

TEST_CASE("the decorators use the global registry when none is passed", "[decorators][global]") {
  const std::string name = "test_decorators.global";
  Dependency dep;
  auto fetch = [&dep] { return dep.fetch(); };
  auto count = [&dep] { return dep.count(); };

  CHECK(run([&] { return with_circuit_breaker(name, two_strikes(), fetch); }) == 42);
  CHECK(with_circuit_breaker(name, two_strikes(), count) == 7);
  CHECK(with_circuit_breaker_and_fallback(name, two_strikes(), count, [] { return 0; }) == 7);
  CHECK(run([&] {
          return with_circuit_breaker_and_fallback(name, two_strikes(), fetch, [] { return 0; });
        }) == 42);
  const auto cb = breaker::global_registry().get(name);
  CHECK(cb->config() == two_strikes());
  CHECK(cb->stats().successful_calls == 4);
  CHECK(breaker::global_registry().remove(name));
}

TEST_CASE("a decorator's registry errors come from the call itself, before anything runs",
          "[decorators][registry]") {
  ManualRegistry registry;
  registry.get_or_create("svc", two_strikes());
  Dependency dep;
  auto fetch = [&dep] { return dep.fetch(); };

  // A conflicting config: already_exists, thrown when the awaitable is made (nothing awaited).
  CHECK_THROWS_MATCHES(with_circuit_breaker(registry, "svc", CircuitBreakerConfig{}, fetch),
                       CircuitBreakerError,
                       Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
                         return e.error() == errc::already_exists && e.breaker_name() == "svc";
                       }));
  CircuitBreakerConfig bad = two_strikes();
  bad.failure_threshold = 0;
  CHECK_THROWS_MATCHES(
      with_circuit_breaker_and_fallback(registry, "svc", bad, [&dep] { return dep.count(); },
                                        [] { return 0; }),
      CircuitBreakerError, Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
        return e.error() == errc::invalid_config;
      }));
  CHECK(dep.calls == 0);
  CHECK(registry.get("svc")->stats().total_calls == 0);
}

TEST_CASE("a coroutine decorator keeps its breaker alive until the call is over",
          "[decorators][lifetime]") {
  asio::io_context ctx;
  std::weak_ptr<breaker::CircuitBreaker<ManualClock>> weak;
  bool alive_during_call = false;
  auto op = [&]() -> asio::awaitable<int> {
    co_await asio::post(asio::use_awaitable);
    alive_during_call = !weak.expired();
    co_return 5;
  };
  int result = 0;
  {
    auto registry = std::make_unique<ManualRegistry>();
    auto awaitable = with_circuit_breaker(*registry, "short-lived", two_strikes(), op);
    weak = registry->get("short-lived");
    registry.reset();  // the registry and its reference are gone before the call runs
    REQUIRE_FALSE(weak.expired());
    asio::co_spawn(ctx, std::move(awaitable), [&](std::exception_ptr e, int v) {
      if (!e) result = v;
    });
  }
  ctx.run();
  CHECK(result == 5);
  CHECK(alive_during_call);
  CHECK(weak.expired());  // released with the call's frame
}

namespace {
// Counts its live instances: a capture destroyed twice (or never) shows in `live`.
struct Counted {
  static inline int live = 0;
  Counted() { ++live; }
  Counted(const Counted&) { ++live; }
  Counted(Counted&&) noexcept { ++live; }
  Counted& operator=(const Counted&) = default;
  ~Counted() { --live; }
};
}  // namespace

TEST_CASE("the decorators copy and destroy the captures of op and fallback exactly once each",
          "[decorators][lifetime]") {
  ManualRegistry registry;
  REQUIRE(Counted::live == 0);
  {
    // Named lambdas (the g++ 12 rule); each holds one Counted.
    auto op = [c = Counted{}]() -> asio::awaitable<int> { co_return 1; };
    auto fallback = [c = Counted{}] { return 0; };
    auto sync_op = [c = Counted{}] { return 2; };
    REQUIRE(Counted::live == 3);
    const int sum = run([&]() -> asio::awaitable<int> {
      int total = co_await with_circuit_breaker(registry, "counted", two_strikes(), op);
      total += co_await with_circuit_breaker_and_fallback(registry, "counted", two_strikes(), op,
                                                          fallback);
      co_return total;
    });
    CHECK(sum == 2);
    CHECK(with_circuit_breaker(registry, "counted", two_strikes(), sync_op) == 2);
    CHECK(with_circuit_breaker_and_fallback(registry, "counted", two_strikes(), sync_op,
                                            fallback) == 2);
    CHECK(Counted::live == 3);  // every copy made by the calls is gone, the originals remain
  }
  CHECK(Counted::live == 0);
}

namespace {
struct NotFound : std::runtime_error {
  NotFound() : std::runtime_error("no such item") {}
};
auto server_errors() {
  return breaker::record_result([](const int& status) { return status >= 500; });
}
}  // namespace

TEST_CASE("the decorators with a policy: a value classified as a failure opens it, still returned",
          "[decorators][policy]") {
  ManualRegistry registry;
  int status = 503;
  int calls = 0;
  auto fetch = [&]() -> asio::awaitable<int> {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    co_return status;
  };
  auto get = [&] {
    ++calls;
    return status;
  };

  CHECK(run([&] {
          return with_circuit_breaker(registry, "status", two_strikes(), fetch, server_errors());
        }) == 503);
  CHECK(with_circuit_breaker(registry, "status", two_strikes(), get, server_errors()) == 503);
  const auto cb = registry.get("status");
  REQUIRE(cb->state() == State::open);
  CHECK(cb->stats().failed_calls == 2);
  CHECK_THROWS_AS(with_circuit_breaker(registry, "status", two_strikes(), get, server_errors()),
                  CircuitBreakerError);
  CHECK(calls == 2);

  SECTION("the global registry forms take the policy too") {
    const std::string name = "test_decorators.policy";
    CHECK(run([&] { return with_circuit_breaker(name, two_strikes(), fetch, server_errors()); }) ==
          503);
    CHECK(with_circuit_breaker_and_fallback(
              name, two_strikes(), get, [] { return 0; }, server_errors()) == 0);
    const auto global = breaker::global_registry().get(name);
    CHECK(global->state() == State::open);
    CHECK(global->stats().failed_calls == 2);
    CHECK(breaker::global_registry().remove(name));
  }
}

TEST_CASE("the decorators with ignore_exceptions: an ignored exception does not count",
          "[decorators][policy]") {
  ManualRegistry registry;
  auto lookup = []() -> asio::awaitable<int> {
    co_await asio::post(asio::use_awaitable);
    throw NotFound{};
  };
  auto find = []() -> int { throw NotFound{}; };
  const auto policy = breaker::ignore_exceptions<NotFound>();
  for (int i = 0; i < 3; ++i) {
    CHECK_THROWS_AS(
        run([&] { return with_circuit_breaker(registry, "lookups", two_strikes(), lookup, policy); }),
        NotFound);
    CHECK_THROWS_AS(with_circuit_breaker(registry, "lookups", two_strikes(), find, policy), NotFound);
  }
  const auto cb = registry.get("lookups");
  CHECK(cb->state() == State::closed);
  CHECK(cb->stats().failed_calls == 0);
  CHECK(cb->stats().ignored_calls == 6);
}

TEST_CASE("the decorators hand a FallbackContext to a fallback: reason failed, then rejected",
          "[decorators][policy][fallback]") {
  ManualRegistry registry;
  auto fetch = []() -> asio::awaitable<int> {
    co_await asio::post(asio::use_awaitable);
    co_return 503;
  };
  auto get = [] { return 503; };
  std::vector<breaker::FallbackReason> reasons;
  auto fallback = [&](const breaker::FallbackContext& context) {
    reasons.push_back(context.reason);
    CHECK(context.error == nullptr);
    CHECK(context.breaker_name == "api");
    return -1;
  };
  CHECK(run([&] {
          return with_circuit_breaker_and_fallback(registry, "api", two_strikes(), fetch, fallback,
                                                   server_errors());
        }) == -1);
  CHECK(with_circuit_breaker_and_fallback(registry, "api", two_strikes(), get, fallback,
                                          server_errors()) == -1);
  REQUIRE(registry.get("api")->state() == State::open);
  CHECK(run([&] {
          return with_circuit_breaker_and_fallback(registry, "api", two_strikes(), fetch, fallback,
                                                   server_errors());
        }) == -1);
  CHECK(with_circuit_breaker_and_fallback(registry, "api", two_strikes(), get, fallback,
                                          server_errors()) == -1);
  using breaker::FallbackReason;
  CHECK(reasons == std::vector<FallbackReason>{FallbackReason::failed, FallbackReason::failed,
                                               FallbackReason::rejected, FallbackReason::rejected});
}
