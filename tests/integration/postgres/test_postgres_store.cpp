// SPDX-License-Identifier: Apache-2.0
// CircuitBreakerStore over a real PostgreSQL 15: real faults (server crashed, server slow,
// restarted), breaker time through ManualClock.

#include "breaker/postgres/connection.hpp"
#include "breaker/postgres/store.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"
#include "servers/postgres_server.hpp"

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

using breaker::postgres::Connection;
using breaker::postgres::errc;
using breaker::postgres::PostgresError;
using namespace std::chrono_literals;

namespace {

// A small key-value repository on one connection (what CircuitBreakerStore wraps).
class KvStore {
 public:
  explicit KvStore(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}

  asio::awaitable<void> init() {
    co_await conn_->query("CREATE TABLE IF NOT EXISTS kv (k text PRIMARY KEY, v text NOT NULL)");
  }
  asio::awaitable<void> insert(std::string k, std::string v) {
    co_await conn_->execute("INSERT INTO kv (k, v) VALUES ($1, $2)", k, v);
  }
  asio::awaitable<void> put(std::string k, std::string v) {
    co_await conn_->execute("INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2", k, v);
  }
  asio::awaitable<void> remove(std::string k) { co_await conn_->execute("DELETE FROM kv WHERE k = $1", k); }
  asio::awaitable<std::optional<std::string>> get(std::string k) {
    const auto r = co_await conn_->execute("SELECT v FROM kv WHERE k = $1", k);
    if (r.rows() == 0) co_return std::nullopt;
    co_return r.get(0, 0);
  }
  asio::awaitable<std::optional<std::string>> slow_get(std::string k) {
    const auto r = co_await conn_->execute("SELECT v, pg_sleep(2) FROM kv WHERE k = $1", k);
    if (r.rows() == 0) co_return std::nullopt;
    co_return r.get(0, 0);
  }
  Connection& connection() { return *conn_; }

 private:
  std::shared_ptr<Connection> conn_;
};

using Store = breaker::postgres::CircuitBreakerStore<KvStore, breaker::testing::ManualClock>;

breaker::postgres::ConnectionConfig config_for(const breaker::test::PostgresServer& server) {
  breaker::postgres::ConnectionConfig c;
  c.port = server.port();
  c.user = breaker::test::PostgresServer::user();
  c.dbname = breaker::test::PostgresServer::dbname();
  c.connect_timeout = 2s;
  c.query_timeout = 5s;
  return c;
}

breaker::CircuitBreakerConfig test_config() {
  return breaker::CircuitBreakerConfig::builder()
      .failure_threshold(3)
      .success_threshold(2)
      .minimum_request_threshold(0)
      .timeout_duration(10s)
      .half_open_max_requests(1)
      .build();
}

bool rejected(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const breaker::CircuitBreakerError& error) {
    return error.error() == breaker::errc::open;
  } catch (...) {
    return false;
  }
}

template <class F>
std::exception_ptr error_of(F&& f) {
  try {
    f();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

// Starts the shared server again when a test that stopped it fails half-way.
struct RestartGuard {
  breaker::test::PostgresServer& server;
  ~RestartGuard() {
    if (!server.running()) server.start();
  }
};

}  // namespace

TEST_CASE("constraint violations and syntax errors from a real server do not open the breaker",
          "[postgres][store]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  auto conn = std::make_shared<Connection>(ctx.get_executor(), config_for(server));
  Store store(KvStore(conn), "kv", test_config());
  breaker::test::run(ctx, [&] { return store.call(&KvStore::init); });
  breaker::test::run(ctx, [&] { return store.call(&KvStore::remove, std::string("dup")); });
  breaker::test::run(ctx, [&] { return store.call(&KvStore::insert, std::string("dup"), std::string("1")); });
  for (int i = 0; i < 6; ++i) {
    const auto e = error_of([&] {
      breaker::test::run(ctx, [&] { return store.call(&KvStore::insert, std::string("dup"), std::string("2")); });
    });
    REQUIRE(e);
    try {
      std::rethrow_exception(e);
    } catch (const PostgresError& pe) {
      CHECK(pe.sqlstate() == "23505");
    }
  }
  struct BadSql {
    asio::awaitable<breaker::postgres::Result> operator()(KvStore& s) const { return s.connection().query("SELEC nothing"); }
  };
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(breaker::test::run(ctx, [&] { return store.call(BadSql{}); }), PostgresError);
  // A miss ("no rows") is a success as well.
  CHECK_FALSE(breaker::test::run(ctx, [&] { return store.call(&KvStore::get, std::string("absent")); }).has_value());
  CHECK(store.breaker().state() == breaker::State::closed);
  CHECK(store.breaker().stats().failed_calls == 0);
}

TEST_CASE("a crashed server opens the breaker, calls fail fast without connecting while it is open, "
          "and it closes after the restart",
          "[postgres][store][fault]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  breaker::testing::ManualClock clock;
  auto conn = std::make_shared<Connection>(ctx.get_executor(), config_for(server));
  Store store(KvStore(conn), "kv", test_config(), clock);
  breaker::test::run(ctx, [&] { return store.call(&KvStore::init); });
  breaker::test::run(ctx, [&] { return store.call(&KvStore::remove, std::string("k")); });

  RestartGuard guard{server};
  // Step: crash the server. Each call now fails (lost, then refused) until failure_threshold.
  server.stop("immediate");
  for (int i = 0; i < 3; ++i) {
    CHECK(store.breaker().state() == breaker::State::closed);
    const auto e = error_of([&] { breaker::test::run(ctx, [&] { return store.call(&KvStore::get, std::string("k")); }); });
    REQUIRE(e);
    CHECK_FALSE(rejected(e));
  }
  CHECK(store.breaker().state() == breaker::State::open);
  CHECK(store.breaker().stats().failed_calls == 3);

  // Step: while open, 20 calls are rejected and no connection is attempted.
  const auto attempts = conn->connection_attempts();
  for (int i = 0; i < 20; ++i) {
    CHECK(rejected(error_of([&] { breaker::test::run(ctx, [&] { return store.call(&KvStore::get, std::string("k")); }); })));
  }
  // With a fallback, the outage is served (e.g. from a cache), still without connecting.
  auto cached = []() -> std::optional<std::string> { return std::string("cached"); };
  for (int i = 0; i < 5; ++i) {
    CHECK(breaker::test::run(ctx, [&] { return store.call_with_fallback(&KvStore::get, cached, std::string("k")); }) ==
          std::optional<std::string>("cached"));
  }
  CHECK(conn->connection_attempts() == attempts);
  CHECK(store.breaker().stats().rejected_calls == 25);

  // Step: the server comes back; once the open period is over, two probes close the breaker.
  server.start();
  CHECK(rejected(error_of([&] { breaker::test::run(ctx, [&] { return store.call(&KvStore::get, std::string("k")); }); })));
  clock.advance(10s);
  // (An immediate stop with synchronous_commit=off may lose the table: recreate it as probe one.)
  breaker::test::run(ctx, [&] { return store.call(&KvStore::init); });
  CHECK(store.breaker().state() == breaker::State::half_open);
  CHECK_FALSE(breaker::test::run(ctx, [&] { return store.call(&KvStore::get, std::string("k")); }).has_value());
  CHECK(store.breaker().state() == breaker::State::closed);
  CHECK(conn->connection_attempts() == attempts + 1);
}

TEST_CASE("a slow server (pg_sleep beyond query_timeout) opens the breaker through timeouts", "[postgres][store][fault]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  {
    // Setup on a connection with the default timeouts: on a loaded machine the setup itself may
    // take longer than the short timeout the test is about.
    auto setup = std::make_shared<Connection>(ctx.get_executor(), config_for(server));
    Store setup_store(KvStore(setup), "kv-slow-setup", test_config());
    breaker::test::run(ctx, [&] { return setup_store.call(&KvStore::init); });
    breaker::test::run(ctx, [&] { return setup_store.call(&KvStore::put, std::string("slow"), std::string("v")); });
  }
  auto c = config_for(server);
  c.query_timeout = 500ms;  // well below the query's pg_sleep(2)
  auto conn = std::make_shared<Connection>(ctx.get_executor(), c);
  Store store(KvStore(conn), "kv-slow", test_config());
  for (int i = 0; i < 3; ++i) {
    const auto e = error_of([&] { breaker::test::run(ctx, [&] { return store.call(&KvStore::slow_get, std::string("slow")); }); });
    REQUIRE(e);
    try {
      std::rethrow_exception(e);
    } catch (const PostgresError& pe) {
      CHECK(pe.error() == errc::timeout);
    }
  }
  CHECK(store.breaker().state() == breaker::State::open);
  const auto attempts = conn->connection_attempts();
  CHECK(rejected(error_of([&] { breaker::test::run(ctx, [&] { return store.call(&KvStore::get, std::string("slow")); }); })));
  CHECK(conn->connection_attempts() == attempts);
}
