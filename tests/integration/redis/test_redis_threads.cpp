// SPDX-License-Identifier: Apache-2.0
// breaker::redis on a 4-thread io_context without strands of our own: one connection and one
// cache breaker used by many coroutines at once (run under ASan and TSan too).

#include "breaker/redis/cache.hpp"
#include "breaker/redis/connection.hpp"

#include "servers/redis_server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("four threads share one Redis connection and one cache breaker", "[redis][threads]") {
  auto& server = breaker::test::shared_redis();
  breaker::redis::ConnectionConfig c;
  c.port = server.port();
  c.command_timeout = std::chrono::seconds(10);
  asio::io_context ctx(4);
  breaker::redis::Connection conn(ctx.get_executor(), c);
  breaker::redis::CircuitBreakerRedis<> cache("threads");
  constexpr int coroutines = 16;
  constexpr int per_coroutine = 50;
  std::atomic<int> hits{0};
  std::atomic<int> misses{0};
  std::atomic<int> errors{0};
  for (int k = 0; k < coroutines; ++k) {
    asio::co_spawn(ctx, [&, k]() -> asio::awaitable<void> {
      for (int i = 0; i < per_coroutine; ++i) {
        const std::string key = "threads:" + std::to_string(k) + ":" + std::to_string(i % 10);
        try {
          auto get = [&conn, key]() { return conn.get(key); };
          auto value = co_await cache.execute(get);
          if (value) {
            ++hits;
            if (*value != key) ++errors;
          } else {
            ++misses;
            auto set = [&conn, key]() { return conn.set(key, key); };
            co_await cache.execute(set);
          }
        } catch (...) {
          ++errors;
        }
      }
    }, asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { ctx.run(); });
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(hits + misses == coroutines * per_coroutine);
  CHECK(misses == coroutines * 10);  // each coroutine's ten keys miss once, then hit
  CHECK(cache.breaker().state() == breaker::State::closed);
  CHECK(conn.connection_attempts() == 1);
}
