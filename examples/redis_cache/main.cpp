// SPDX-License-Identifier: Apache-2.0
// Example: a cache-aside lookup through CircuitBreakerRedis.
//
//   redis_cache [PORT]
//
// With PORT, it uses the redis-server on 127.0.0.1:PORT; without, it starts one of its own (as
// the CTest test does) and, to show the breaker at work, shuts it down half-way.
// Exits 0 when every step behaved as described.

#include "breaker/redis/cache.hpp"
#include "breaker/redis/connection.hpp"

#include "servers/redis_server.hpp"  // only for the self-contained run

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>

namespace {

int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

// The slow source of truth the cache protects.
int database_reads = 0;
std::optional<std::string> read_from_database(const std::string& key) {
  ++database_reads;
  return "profile-of-" + key;
}

// [docs:redis-cache-aside]
// Cache-aside: Redis first; on a miss, the database, then fill the cache. With the cache down
// or its breaker open, the fallback goes straight to the database and no error surfaces.
asio::awaitable<std::optional<std::string>> lookup(breaker::redis::CircuitBreakerRedis<>& cache,
                                                   breaker::redis::Connection& redis, std::string key) {
  auto from_cache = [&redis, key]() { return redis.get(key); };
  auto from_database = [key]() { return read_from_database(key); };
  std::optional<std::string> cached = co_await cache.execute_with_fallback(from_cache, from_database);
  if (cached) co_return cached;
  // A miss (a success for the breaker): read the database and fill the cache.
  std::optional<std::string> value = read_from_database(key);
  auto fill = [&redis, key, value]() { return redis.set(key, *value, std::chrono::minutes(5)); };
  auto skip = [] {};
  co_await cache.execute_with_fallback(fill, skip);
  co_return value;
}
// [docs:redis-cache-aside]

asio::awaitable<void> demo(breaker::redis::CircuitBreakerRedis<>& cache, breaker::redis::Connection& redis,
                           breaker::test::RedisServer* own_server) {
  co_await redis.del("user:42");
  const auto first = co_await lookup(cache, redis, "user:42");
  const auto second = co_await lookup(cache, redis, "user:42");
  expect(first == second && database_reads == 1, "the second lookup is served by Redis");

  if (own_server == nullptr) co_return;
  own_server->shutdown();
  std::printf("redis-server shut down\n");
  for (int i = 0; i < 30; ++i) {
    const auto v = co_await lookup(cache, redis, "user:42");
    if (!v) expect(false, "a lookup during the outage returned nothing");
  }
  expect(cache.breaker().state() == breaker::State::open, "the outage opened the breaker (for_cache: 8 failures)");
  const auto stats = cache.breaker().stats();
  std::printf("breaker '%s': %llu failed, %llu rejected; %d database reads; %llu connection attempts\n",
              cache.breaker().name().c_str(), static_cast<unsigned long long>(stats.failed_calls),
              static_cast<unsigned long long>(stats.rejected_calls), database_reads,
              static_cast<unsigned long long>(redis.connection_attempts()));
  expect(stats.rejected_calls > 0, "while open, lookups bypass Redis without an error");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::unique_ptr<breaker::test::RedisServer> own_server;
    breaker::redis::ConnectionConfig config;
    config.command_timeout = std::chrono::milliseconds(500);
    if (argc > 1) {
      config.port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    } else {
      own_server = std::make_unique<breaker::test::RedisServer>();
      config.port = own_server->port();
    }
    asio::io_context ctx;
    breaker::redis::Connection redis(ctx.get_executor(), config);
    // The seed's CircuitBreakerRedis::new("redis-cache"), with the for_cache() defaults but a
    // volume gate small enough for a short demo.
    breaker::redis::CircuitBreakerRedis<> cache(
        "redis-cache", breaker::CircuitBreakerConfigBuilder(breaker::CircuitBreakerConfig::for_cache())
                           .minimum_request_threshold(0)
                           .build());
    std::exception_ptr error;
    asio::co_spawn(ctx, demo(cache, redis, own_server.get()), [&](std::exception_ptr e) { error = e; });
    ctx.run();
    if (error) std::rethrow_exception(error);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis_cache: %s\n", e.what());
    return EXIT_FAILURE;
  }
}
