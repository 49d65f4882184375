// SPDX-License-Identifier: Apache-2.0
// breaker::postgres on a 4-thread io_context without strands of our own: connections and the
// store breaker used concurrently from many coroutines (run under ASan and TSan too).

#include "breaker/postgres/connection.hpp"
#include "breaker/postgres/store.hpp"

#include "servers/postgres_server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using breaker::postgres::Connection;
using namespace std::chrono_literals;

namespace {

struct Repo {
  std::shared_ptr<Connection> conn;
  asio::awaitable<int> echo(int i) {
    const auto r = co_await conn->execute("SELECT $1::int", i);
    co_return std::stoi(*r.get(0, 0));
  }
  asio::awaitable<int> duplicate(int) {
    co_await conn->query("INSERT INTO thread_dup VALUES (1)");
    co_return 0;
  }
};

}  // namespace

TEST_CASE("four threads share two connections and one store breaker", "[postgres][threads]") {
  auto& server = breaker::test::shared_postgres();
  breaker::postgres::ConnectionConfig c;
  c.port = server.port();
  c.user = breaker::test::PostgresServer::user();
  c.dbname = breaker::test::PostgresServer::dbname();
  asio::io_context ctx(4);
  auto a = std::make_shared<Connection>(ctx.get_executor(), c);
  auto b = std::make_shared<Connection>(ctx.get_executor(), c);
  using Store = breaker::postgres::CircuitBreakerStore<Repo>;
  auto breaker = std::make_shared<Store::breaker_type>("threads", breaker::CircuitBreakerConfig::for_database());
  Store store_a(Repo{a}, breaker);
  Store store_b(Repo{b}, breaker);

  constexpr int coroutines = 16;
  constexpr int per_coroutine = 25;
  std::atomic<int> sum{0};
  std::atomic<int> duplicates{0};
  std::atomic<int> errors{0};
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    co_await a->query("CREATE TABLE IF NOT EXISTS thread_dup (id int PRIMARY KEY)");
    co_await a->query("INSERT INTO thread_dup VALUES (1) ON CONFLICT DO NOTHING");
    for (int k = 0; k < coroutines; ++k) {
      asio::co_spawn(ctx, [&, k]() -> asio::awaitable<void> {
        Store& store = (k % 2) ? store_a : store_b;
        for (int i = 0; i < per_coroutine; ++i) {
          try {
            if (i % 5 == 4) {
              co_await store.call(&Repo::duplicate, i);
            } else {
              sum += co_await store.call(&Repo::echo, i);
            }
          } catch (const breaker::postgres::PostgresError& e) {
            if (e.sqlstate() == "23505") {
              ++duplicates;
            } else {
              ++errors;
            }
          } catch (...) {
            ++errors;
          }
        }
      }, asio::detached);
    }
  }, asio::detached);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { ctx.run(); });
  for (auto& t : threads) t.join();

  int expected = 0;
  for (int i = 0; i < per_coroutine; ++i) {
    if (i % 5 != 4) expected += i;
  }
  CHECK(errors == 0);
  CHECK(sum == expected * coroutines);
  CHECK(duplicates == coroutines * (per_coroutine / 5));
  CHECK(breaker->state() == breaker::State::closed);
  CHECK(breaker->stats().successful_calls == static_cast<std::uint64_t>(coroutines * per_coroutine));
  CHECK(a->connection_attempts() == 1);
  CHECK(b->connection_attempts() == 1);
}
