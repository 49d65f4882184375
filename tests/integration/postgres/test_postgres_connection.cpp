// SPDX-License-Identifier: Apache-2.0
// breaker::postgres::Connection against a real PostgreSQL 15 started by the tests.

#include "breaker/postgres/connection.hpp"

#include "run.hpp"
#include "servers/postgres_server.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using breaker::postgres::Connection;
using breaker::postgres::ConnectionConfig;
using breaker::postgres::errc;
using breaker::postgres::PostgresError;
using namespace std::chrono_literals;

namespace {

ConnectionConfig config_for(const breaker::test::PostgresServer& server) {
  ConnectionConfig c;
  c.port = server.port();
  c.user = breaker::test::PostgresServer::user();
  c.dbname = breaker::test::PostgresServer::dbname();
  c.connect_timeout = 5s;
  c.query_timeout = 10s;
  return c;
}

template <class F>
PostgresError postgres_error_of(F&& f) {
  try {
    f();
  } catch (const PostgresError& e) {
    return e;
  }
  FAIL("no PostgresError thrown");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("a parameterised query returns typed text values and NULLs", "[postgres][connection]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  CHECK_FALSE(conn.is_connected());
  const auto result = breaker::test::run(ctx, [&]() -> asio::awaitable<breaker::postgres::Result> {
    co_return co_await conn.execute("SELECT $1::int + 1 AS n, $2::text AS s, $3::text AS z", 41, "it's \"quoted\"",
                                    std::nullopt);
  });
  CHECK(conn.is_connected());
  CHECK(conn.connection_attempts() == 1);
  REQUIRE(result.rows() == 1);
  REQUIRE(result.columns() == 3);
  CHECK(result.column_name(0) == "n");
  CHECK(result.get(0, 0) == std::optional<std::string>("42"));
  CHECK(result.get(0, "s") == std::optional<std::string>("it's \"quoted\""));
  CHECK(result.is_null(0, 2));
  CHECK_THROWS_AS(result.get(1, 0), std::out_of_range);
  CHECK_THROWS_AS(result.get(0, "nope"), std::out_of_range);
}

TEST_CASE("statements report affected rows and reuse one connection", "[postgres][connection]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  breaker::test::run(ctx, [&]() -> asio::awaitable<void> {
    co_await conn.query("CREATE TEMP TABLE t (id int PRIMARY KEY, v text)");
    const auto ins = co_await conn.execute("INSERT INTO t VALUES ($1, $2), ($3, $4)", 1, "a", 2, "b");
    CHECK(ins.affected_rows() == 2);
    CHECK(ins.command_tag() == "INSERT 0 2");
    const auto upd = co_await conn.execute("UPDATE t SET v = $1 WHERE id > $2", "z", 0);
    CHECK(upd.affected_rows() == 2);
    const auto sel = co_await conn.execute("SELECT id, v FROM t WHERE id = $1", 99);
    CHECK(sel.rows() == 0);
  });
  CHECK(conn.connection_attempts() == 1);
}

TEST_CASE("server errors carry their SQLSTATE and leave the connection usable", "[postgres][connection]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  breaker::test::run(ctx, [&]() -> asio::awaitable<void> {
    co_await conn.query("CREATE TEMP TABLE u (id int PRIMARY KEY)");
    co_await conn.execute("INSERT INTO u VALUES ($1)", 1);
  });
  const auto dup = postgres_error_of([&] {
    breaker::test::run(ctx, [&] { return conn.execute("INSERT INTO u VALUES ($1)", 1); });
  });
  CHECK(dup.error() == errc::server_error);
  CHECK(dup.sqlstate() == "23505");
  const auto syntax = postgres_error_of([&] { breaker::test::run(ctx, [&] { return conn.query("SELEC 1"); }); });
  CHECK(syntax.sqlstate() == "42601");
  const auto type = postgres_error_of([&] { breaker::test::run(ctx, [&] { return conn.execute("SELECT $1::int", "x"); }); });
  CHECK(type.sqlstate() == "22P02");
  const auto ok = breaker::test::run(ctx, [&] { return conn.query("SELECT count(*) FROM u"); });
  CHECK(ok.get(0, 0) == std::optional<std::string>("1"));
  CHECK(conn.connection_attempts() == 1);
}

TEST_CASE("bad arguments are rejected before anything is sent", "[postgres][connection]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  const auto nul = postgres_error_of([&] {
    breaker::test::run(ctx, [&] { return conn.query(std::string("SELECT 1\0", 9)); });
  });
  CHECK(nul.error() == errc::invalid_argument);
  const auto nul_param = postgres_error_of([&] {
    breaker::test::run(ctx, [&] { return conn.query("SELECT $1", {std::string("a\0b", 3)}); });
  });
  CHECK(nul_param.error() == errc::invalid_argument);
  CHECK(conn.connection_attempts() == 0);
}

TEST_CASE("a refused connection fails with connection_failed", "[postgres][connection]") {
  asio::io_context ctx;
  ConnectionConfig c;
  c.port = breaker::test::free_port();  // nothing listens there
  Connection conn(ctx.get_executor(), c);
  const auto e = postgres_error_of([&] { breaker::test::run(ctx, [&] { return conn.connect(); }); });
  CHECK(e.error() == errc::connection_failed);
  CHECK(e.sqlstate() == "08001");
  CHECK(conn.connection_attempts() == 1);
  CHECK_FALSE(conn.is_connected());
}

TEST_CASE("a slow query times out on the Asio timer and the next query reconnects", "[postgres][connection][timeout]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  auto c = config_for(server);
  c.query_timeout = 1s;  // far below pg_sleep(5), and room for the reconnect on a loaded machine
  Connection conn(ctx.get_executor(), c);
  const auto e = postgres_error_of([&] { breaker::test::run(ctx, [&] { return conn.query("SELECT pg_sleep(5)"); }); });
  CHECK(e.error() == errc::timeout);
  CHECK_FALSE(conn.is_connected());
  const auto ok = breaker::test::run(ctx, [&] { return conn.query("SELECT 1"); });
  CHECK(ok.get(0, 0) == std::optional<std::string>("1"));
  CHECK(conn.connection_attempts() == 2);
}

TEST_CASE("queries started together run one at a time, in order", "[postgres][connection][queue]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  std::vector<int> finished;
  for (int i = 0; i < 8; ++i) {
    asio::co_spawn(ctx, [&conn, &finished, i]() -> asio::awaitable<void> {
      const auto r = co_await conn.execute("SELECT $1::int, pg_sleep(0.01)", i);
      finished.push_back(std::stoi(*r.get(0, 0)));
    }, asio::detached);
  }
  ctx.run();
  CHECK(finished == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(conn.connection_attempts() == 1);
}

TEST_CASE("a cancelled query fails with operation_aborted and the connection recovers", "[postgres][connection][cancel]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  asio::cancellation_signal signal;
  std::exception_ptr error;
  asio::co_spawn(ctx, conn.query("SELECT pg_sleep(5)"),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, breaker::postgres::Result) { error = e; }));
  asio::steady_timer timer(ctx, 100ms);
  timer.async_wait([&](std::error_code) { signal.emit(asio::cancellation_type::terminal); });
  ctx.run();
  REQUIRE(error);
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    CHECK(e.code() == asio::error::operation_aborted);
  }
  ctx.restart();
  CHECK(breaker::test::run(ctx, [&] { return conn.query("SELECT 2"); }).get(0, 0) == std::optional<std::string>("2"));
}

TEST_CASE("a server stopped mid-query fails the query as connection_lost, it reconnects after restart",
          "[postgres][connection][fault]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  breaker::test::run(ctx, [&] { return conn.connect(); });
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(ctx, conn.query("SELECT pg_sleep(30)"), [&](std::exception_ptr e, breaker::postgres::Result) {
    error = e;
    done = true;
  });
  // Let the query reach the server, then crash it.
  ctx.restart();
  ctx.run_for(300ms);
  struct RestartGuard {
    breaker::test::PostgresServer& server;
    ~RestartGuard() {
      if (!server.running()) server.start();
    }
  } guard{server};
  server.stop("immediate");
  ctx.run();
  CHECK(done);
  REQUIRE(error);
  const auto e = postgres_error_of([&] { std::rethrow_exception(error); });
  CHECK(e.error() == errc::connection_lost);
  const std::string cls = e.sqlstate().substr(0, 2);
  CHECK((cls == "08" || cls == "57"));
  ctx.restart();
  const auto refused = postgres_error_of([&] { breaker::test::run(ctx, [&] { return conn.query("SELECT 1"); }); });
  CHECK(refused.error() == errc::connection_failed);
  server.start();
  CHECK(breaker::test::run(ctx, [&] { return conn.query("SELECT 3"); }).get(0, 0) == std::optional<std::string>("3"));
  CHECK(conn.connection_attempts() == 3);
}

TEST_CASE("close() drops the connection, the next query connects again", "[postgres][connection]") {
  auto& server = breaker::test::shared_postgres();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  breaker::test::run(ctx, [&] { return conn.connect(); });
  CHECK(conn.is_connected());
  conn.close();
  ctx.restart();
  ctx.run();
  CHECK_FALSE(conn.is_connected());
  CHECK(breaker::test::run(ctx, [&] { return conn.query("SELECT 4"); }).rows() == 1);
  CHECK(conn.connection_attempts() == 2);
}
