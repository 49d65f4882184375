// SPDX-License-Identifier: Apache-2.0
// CircuitBreakerRedis over a real redis-server: real faults (SHUTDOWN NOSAVE, CLIENT PAUSE,
// restart), fallbacks, fail-fast while open (connection attempts counted), breaker time through
// ManualClock.

#include "breaker/redis/cache.hpp"
#include "breaker/redis/connection.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"
#include "servers/redis_server.hpp"

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

using breaker::redis::Connection;
using breaker::redis::RedisError;
using namespace std::chrono_literals;

namespace {

using Cache = breaker::redis::CircuitBreakerRedis<breaker::testing::ManualClock>;

breaker::CircuitBreakerConfig test_config() {
  return breaker::CircuitBreakerConfig::builder()
      .failure_threshold(3)
      .success_threshold(2)
      .minimum_request_threshold(0)
      .timeout_duration(20s)
      .half_open_max_requests(1)
      .build();
}

breaker::redis::ConnectionConfig config_for(const breaker::test::RedisServer& server) {
  breaker::redis::ConnectionConfig c;
  c.port = server.port();
  c.connect_timeout = 1s;
  c.command_timeout = 200ms;
  return c;
}

struct RestartGuard {
  breaker::test::RedisServer& server;
  ~RestartGuard() {
    if (!server.running()) server.start();
  }
};

// The read path of a cache-aside lookup: GET from Redis.
struct Get {
  Connection* conn;
  std::string key;
  asio::awaitable<std::optional<std::string>> operator()() const { return conn->get(key); }
};

}  // namespace

TEST_CASE("with the server down the breaker opens, fallbacks serve, and no connection is attempted while open, "
          "after the restart it closes",
          "[redis][cache][fault]") {
  auto& server = breaker::test::shared_redis();
  RestartGuard guard{server};
  asio::io_context ctx;
  breaker::testing::ManualClock clock;
  Connection conn(ctx.get_executor(), config_for(server));
  Cache cache("redis-cache", test_config(), clock);
  int database_reads = 0;
  auto from_database = [&database_reads]() -> std::optional<std::string> {
    ++database_reads;
    return std::string("db-value");
  };
  auto lookup = [&] { return breaker::test::run(ctx, [&] { return cache.execute_with_fallback(Get{&conn, "cache:k"}, from_database); }); };

  breaker::test::run(ctx, [&] { return conn.set("cache:k", "cached"); });
  CHECK(lookup() == std::optional<std::string>("cached"));
  CHECK(database_reads == 0);

  // Step: the server goes away; every lookup is still answered, by the fallback.
  server.shutdown();
  for (int i = 0; i < 3; ++i) {
    CHECK(cache.breaker().state() == breaker::State::closed);
    CHECK(lookup() == std::optional<std::string>("db-value"));
  }
  CHECK(cache.breaker().state() == breaker::State::open);
  CHECK(cache.breaker().stats().failed_calls == 3);

  // Step: while open, lookups bypass Redis entirely: no connection attempt.
  const auto attempts = conn.connection_attempts();
  for (int i = 0; i < 25; ++i) CHECK(lookup() == std::optional<std::string>("db-value"));
  CHECK(conn.connection_attempts() == attempts);
  CHECK(cache.breaker().stats().rejected_calls == 25);
  CHECK(database_reads == 28);
  // execute() without a fallback fails fast with CircuitBreakerError(open).
  try {
    breaker::test::run(ctx, [&] { return cache.execute(Get{&conn, "cache:k"}); });
    FAIL("not rejected");
  } catch (const breaker::CircuitBreakerError& e) {
    CHECK(e.error() == breaker::errc::open);
  }

  // Step: the server comes back (empty: it saves nothing). Once the open period is over, two
  // probes (misses are successes) close the breaker.
  server.start();
  clock.advance(20s);
  CHECK_FALSE(lookup().has_value());  // a miss is a value (and a success): no fallback
  CHECK(database_reads == 28);
  CHECK(cache.breaker().state() == breaker::State::half_open);
  breaker::test::run(ctx, [&] { return cache.execute([&]() -> asio::awaitable<void> { co_await conn.set("cache:k", "fresh"); }); });
  CHECK(cache.breaker().state() == breaker::State::closed);
  CHECK(lookup() == std::optional<std::string>("fresh"));
  CHECK(conn.connection_attempts() == attempts + 1);
}

TEST_CASE("a slow server (CLIENT PAUSE) opens the breaker through command timeouts", "[redis][cache][fault]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  Cache cache("redis-slow", test_config());
  breaker::test::run(ctx, [&] { return conn.set("cache:slow", "v"); });
  server.pause_clients(1500ms);  // in effect when it returns
  int fallbacks = 0;
  auto fallback = [&fallbacks]() -> std::optional<std::string> {
    ++fallbacks;
    return std::nullopt;
  };
  for (int i = 0; i < 3; ++i) {
    breaker::test::run(ctx, [&] { return cache.execute_with_fallback(Get{&conn, "cache:slow"}, fallback); });
  }
  CHECK(fallbacks == 3);
  CHECK(cache.breaker().state() == breaker::State::open);
  CHECK(cache.breaker().stats().failed_calls == 3);
  server.wait_unpaused();
}

TEST_CASE("WRONGTYPE replies surface from execute and never open the breaker", "[redis][cache]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  Cache cache("redis-types", test_config());
  breaker::test::run(ctx, [&] { return conn.execute("DEL", "cache:hash"); });
  breaker::test::run(ctx, [&] { return conn.execute("HSET", "cache:hash", "f", "v"); });
  for (int i = 0; i < 6; ++i) {
    CHECK_THROWS_AS(breaker::test::run(ctx, [&] { return cache.execute(Get{&conn, "cache:hash"}); }), RedisError);
  }
  CHECK(cache.breaker().state() == breaker::State::closed);
  CHECK(cache.breaker().stats().failed_calls == 0);
}
