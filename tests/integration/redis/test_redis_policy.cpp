// SPDX-License-Identifier: Apache-2.0
// The decisions of breaker::redis without a server: what each error means for the breaker,
// config validation, Value accessors, and CircuitBreakerRedis' recording and fallback rules
// (driven by operations that return or throw chosen results).

#include "breaker/redis/cache.hpp"
#include "breaker/redis/connection.hpp"
#include "breaker/redis/policy.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"

#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>

using breaker::redis::classify_error;
using breaker::redis::classify_error_reply;
using breaker::redis::classify_exception;
using breaker::redis::errc;
using breaker::Outcome;
using breaker::redis::RedisError;
using breaker::redis::Value;

TEST_CASE("error replies meaning the server cannot serve are failures", "[redis][policy]") {
  for (const char* m : {"LOADING Redis is loading the dataset in memory", "BUSY Redis is busy running a script",
                        "MASTERDOWN Link with MASTER is down", "TRYAGAIN Multiple keys request during rehashing",
                        "CLUSTERDOWN The cluster is down", "OOM command not allowed when used memory > 'maxmemory'",
                        "MISCONF Redis is configured to save RDB snapshots", "READONLY You can't write against a read only replica.",
                        "NOREPLICAS Not enough good replicas to write."}) {
    INFO(m);
    CHECK(classify_error_reply(m) == Outcome::failure);
  }
}

TEST_CASE("error replies caused by the caller are not failures", "[redis][policy]") {
  for (const char* m : {"ERR unknown command 'FOO'", "ERR syntax error",
                        "WRONGTYPE Operation against a key holding the wrong kind of value", "NOSCRIPT No matching script",
                        "NOAUTH Authentication required.", "EXECABORT Transaction discarded", "", "BUSYKEY Target key name already exists."}) {
    INFO(m);
    CHECK(classify_error_reply(m) == Outcome::success);
  }
}

TEST_CASE("RedisErrors and other exceptions are classified by kind", "[redis][policy]") {
  CHECK(classify_error(RedisError(errc::connection_failed, "refused")) == Outcome::failure);
  CHECK(classify_error(RedisError(errc::connection_lost, "eof")) == Outcome::failure);
  CHECK(classify_error(RedisError(errc::timeout, "slow")) == Outcome::failure);
  CHECK(classify_error(RedisError(errc::server_error, "LOADING x")) == Outcome::failure);
  CHECK(classify_error(RedisError(errc::server_error, "WRONGTYPE x")) == Outcome::success);
  CHECK(classify_error(RedisError(errc::unexpected_reply, "int")) == Outcome::success);
  CHECK(classify_error(RedisError(errc::invalid_argument, "empty")) == Outcome::success);
  CHECK(classify_exception(nullptr) == Outcome::success);
  CHECK(classify_exception(std::make_exception_ptr(std::system_error(asio::error::operation_aborted))) == Outcome::ignored);
  CHECK(classify_exception(std::make_exception_ptr(std::runtime_error("x"))) == Outcome::failure);
  CHECK(breaker::redis::CachePolicy{}(std::make_exception_ptr(RedisError(errc::timeout, ""))) == Outcome::failure);
  const RedisError e(errc::server_error, "WRONGTYPE x");
  CHECK(e.code().category() == breaker::redis::error_category());
  CHECK(std::string(e.code().category().name()) == "breaker.redis");
  CHECK(e.server_message() == "WRONGTYPE x");
}

TEST_CASE("ConnectionConfig validation names the bad field", "[redis][config]") {
  breaker::redis::ConnectionConfig c;
  std::string message;
  CHECK_FALSE(c.validate(&message));
  SECTION("a host name is refused (no DNS on the io thread)") {
    c.host = "localhost";
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("host") != std::string::npos);
  }
  SECTION("IPv6 is accepted") {
    c.host = "::1";
    CHECK_FALSE(c.validate(&message));
  }
  SECTION("port 0") {
    c.port = 0;
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("port") != std::string::npos);
  }
  SECTION("timeouts") {
    c.connect_timeout = std::chrono::milliseconds(0);
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("connect_timeout") != std::string::npos);
    c.connect_timeout = std::chrono::seconds(1);
    c.command_timeout = std::chrono::milliseconds(-5);
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("command_timeout") != std::string::npos);
  }
  SECTION("the constructor refuses an invalid config") {
    c.port = 0;
    asio::io_context ctx;
    CHECK_THROWS_AS(breaker::redis::Connection(ctx.get_executor(), c), RedisError);
  }
}

TEST_CASE("Value accessors check the reply type", "[redis][value]") {
  CHECK(Value().is_nil());
  CHECK_FALSE(Value().as_optional_string().has_value());
  CHECK(Value::string("a").str() == "a");
  CHECK(Value::status("OK").str() == "OK");
  CHECK(Value::integer(7).as_integer() == 7);
  CHECK(Value::array({Value::integer(1), Value()}).elements().size() == 2);
  CHECK_THROWS_AS(Value::integer(7).str(), RedisError);
  CHECK_THROWS_AS(Value::string("x").as_integer(), RedisError);
  CHECK_THROWS_AS(Value().elements(), RedisError);
  CHECK(Value::string("x") == Value::string("x"));
  CHECK_FALSE(Value::string("x") == Value::status("x"));
}

namespace {

using Cache = breaker::redis::CircuitBreakerRedis<breaker::testing::ManualClock>;

breaker::CircuitBreakerConfig small_config() {
  return breaker::CircuitBreakerConfig::builder()
      .failure_threshold(2)
      .success_threshold(1)
      .minimum_request_threshold(0)
      .timeout_duration(std::chrono::seconds(5))
      .build();
}

struct Scripted {
  int* calls;
  std::optional<RedisError> error;
  std::optional<std::string> value;
  asio::awaitable<std::optional<std::string>> operator()() const {
    ++*calls;
    if (error) throw *error;
    co_return value;
  }
};

}  // namespace

TEST_CASE("CircuitBreakerRedis defaults to the for_cache preset", "[redis][cache]") {
  breaker::redis::CircuitBreakerRedis<> cache("redis-cache");
  CHECK(cache.breaker().config() == breaker::CircuitBreakerConfig::for_cache());
  CHECK(cache.breaker().name() == "redis-cache");
  CHECK_THROWS_AS(breaker::redis::CircuitBreakerRedis<>(std::shared_ptr<breaker::CircuitBreaker<>>{}), std::invalid_argument);
}

TEST_CASE("a cache miss is a success", "[redis][cache]") {
  Cache cache("c", small_config());
  int calls = 0;
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(breaker::test::run([&] { return cache.execute(Scripted{&calls, std::nullopt, std::nullopt}); }).has_value());
  }
  CHECK(cache.breaker().stats().successful_calls == 5);
  CHECK(cache.breaker().state() == breaker::State::closed);
}

TEST_CASE("execute rethrows failures, opens, then rejects without calling the operation", "[redis][cache]") {
  breaker::testing::ManualClock clock;
  Cache cache("c", small_config(), clock);
  int calls = 0;
  const Scripted failing{&calls, RedisError(errc::connection_lost, "eof"), std::nullopt};
  CHECK_THROWS_AS(breaker::test::run([&] { return cache.execute(failing); }), RedisError);
  CHECK_THROWS_AS(breaker::test::run([&] { return cache.execute(failing); }), RedisError);
  CHECK(cache.breaker().state() == breaker::State::open);
  CHECK_THROWS_AS(breaker::test::run([&] { return cache.execute(failing); }), breaker::CircuitBreakerError);
  CHECK(calls == 2);
  clock.advance(std::chrono::seconds(5));
  CHECK(breaker::test::run([&] { return cache.execute(Scripted{&calls, std::nullopt, "v"}); }) == std::optional<std::string>("v"));
  CHECK(cache.breaker().state() == breaker::State::closed);
}

TEST_CASE("caller errors (WRONGTYPE) surface from execute but do not open the breaker", "[redis][cache]") {
  Cache cache("c", small_config());
  int calls = 0;
  const Scripted wrongtype{&calls, RedisError(errc::server_error, "WRONGTYPE x"), std::nullopt};
  for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(breaker::test::run([&] { return cache.execute(wrongtype); }), RedisError);
  CHECK(cache.breaker().state() == breaker::State::closed);
  CHECK(cache.breaker().stats().failed_calls == 0);
}

TEST_CASE("execute_with_fallback serves the fallback for failing and open caches without an error",
          "[redis][cache][fallback]") {
  Cache cache("c", small_config());
  int calls = 0;
  int fallbacks = 0;
  auto fallback = [&fallbacks]() -> std::optional<std::string> {
    ++fallbacks;
    return std::string("from-db");
  };
  const Scripted failing{&calls, RedisError(errc::timeout, "slow"), std::nullopt};
  for (int i = 0; i < 4; ++i) {
    CHECK(breaker::test::run([&] { return cache.execute_with_fallback(failing, fallback); }) ==
          std::optional<std::string>("from-db"));
  }
  CHECK(fallbacks == 4);
  CHECK(calls == 2);  // the last two were rejected: the cache was bypassed
  CHECK(cache.breaker().stats().failed_calls == 2);
  CHECK(cache.breaker().stats().rejected_calls == 2);
}

TEST_CASE("execute_with_fallback returns the cached value and accepts coroutine fallbacks", "[redis][cache][fallback]") {
  Cache cache("c", small_config());
  int calls = 0;
  auto fallback = []() -> asio::awaitable<std::optional<std::string>> { co_return std::string("fb"); };
  CHECK(breaker::test::run([&] { return cache.execute_with_fallback(Scripted{&calls, std::nullopt, "hit"}, fallback); }) ==
        std::optional<std::string>("hit"));
  CHECK(breaker::test::run([&] {
          return cache.execute_with_fallback(Scripted{&calls, RedisError(errc::connection_failed, "x"), std::nullopt}, fallback);
        }) == std::optional<std::string>("fb"));
}

TEST_CASE("cancellation is ignored and never replaced by the fallback", "[redis][cache][fallback]") {
  Cache cache("c", small_config());
  struct Cancelled {
    asio::awaitable<int> operator()() const {
      throw std::system_error(asio::error::operation_aborted);
      co_return 0;
    }
  };
  auto fallback = [] { return 1; };
  CHECK_THROWS_AS(breaker::test::run([&] { return cache.execute_with_fallback(Cancelled{}, fallback); }), std::system_error);
  CHECK(cache.breaker().stats().ignored_calls == 1);
  CHECK(cache.breaker().stats().failed_calls == 0);
}

TEST_CASE("execute_with_fallback applies the breaker's call_timeout and serves the fallback",
          "[redis][cache][fallback][timeout]") {
  breaker::testing::ManualClock clock;
  auto config = small_config();
  config.call_timeout = std::chrono::milliseconds(100);
  Cache cache("c", config, clock);
  // Waits (in real time) far longer than the test: only the breaker's timeout ends it.
  struct Hang {
    asio::awaitable<std::optional<std::string>> operator()() const {
      asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::hours(1));
      co_await timer.async_wait(asio::use_awaitable);
      co_return std::string("late");
    }
  };
  auto fallback = []() -> std::optional<std::string> { return std::string("from-db"); };
  asio::io_context ctx;
  std::optional<std::string> value;
  bool done = false;
  asio::co_spawn(ctx, cache.execute_with_fallback(Hang{}, fallback),
                 [&](std::exception_ptr e, std::optional<std::string> v) {
                   CHECK_FALSE(e);
                   value = std::move(v);
                   done = true;
                 });
  ctx.poll();
  CHECK_FALSE(done);
  clock.advance(std::chrono::milliseconds(100));  // the breaker's clock passes the deadline
  ctx.run();
  REQUIRE(done);
  CHECK(value == std::optional<std::string>("from-db"));
  CHECK(cache.breaker().stats().failed_calls == 1);  // a timeout counts as a failure here
}

TEST_CASE("execute_with_fallback replaces an error the caller caused, recorded as a success",
          "[redis][cache][fallback]") {
  Cache cache("c", small_config());
  int calls = 0;
  auto fallback = []() -> std::optional<std::string> { return std::string("fb"); };
  const Scripted wrongtype{&calls, RedisError(errc::server_error, "WRONGTYPE x"), std::nullopt};
  CHECK(breaker::test::run([&] { return cache.execute_with_fallback(wrongtype, fallback); }) ==
        std::optional<std::string>("fb"));
  CHECK(cache.breaker().stats().successful_calls == 1);
  CHECK(cache.breaker().stats().failed_calls == 0);
}
