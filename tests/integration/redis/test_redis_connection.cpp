// SPDX-License-Identifier: Apache-2.0
// breaker::redis::Connection against a real redis-server started by the tests.

#include "breaker/redis/connection.hpp"

#include "run.hpp"
#include "servers/redis_server.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using breaker::redis::Connection;
using breaker::redis::errc;
using breaker::redis::RedisError;
using breaker::redis::Value;
using namespace std::chrono_literals;

namespace {

breaker::redis::ConnectionConfig config_for(const breaker::test::RedisServer& server) {
  breaker::redis::ConnectionConfig c;
  c.port = server.port();
  c.connect_timeout = 2s;
  c.command_timeout = 2s;
  return c;
}

template <class F>
RedisError redis_error_of(F&& f) {
  try {
    f();
  } catch (const RedisError& e) {
    return e;
  }
  FAIL("no RedisError thrown");
  throw std::logic_error("unreachable");
}

struct RestartGuard {
  breaker::test::RedisServer& server;
  ~RestartGuard() {
    if (!server.running()) server.start();
  }
};

}  // namespace

TEST_CASE("SET, GET, DEL and a miss on a real server, values are binary-safe", "[redis][connection]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  const std::string binary("a\0b\r\nc", 6);
  breaker::test::run(ctx, [&]() -> asio::awaitable<void> {
    // (Results go to variables first: g++ 12 mishandles co_await inside Catch's macros.)
    co_await conn.set("conn:k", binary);
    const auto got = co_await conn.get("conn:k");
    CHECK(got == std::optional<std::string>(binary));
    const auto removed = co_await conn.del("conn:k");
    CHECK(removed == 1);
    const auto miss = co_await conn.get("conn:k");
    CHECK_FALSE(miss.has_value());
    const auto removed_again = co_await conn.del("conn:k");
    CHECK(removed_again == 0);
  });
  CHECK(conn.connection_attempts() == 1);
  CHECK(conn.is_connected());
}

TEST_CASE("replies convert to Value: status, integer, array, nil", "[redis][connection]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  breaker::test::run(ctx, [&]() -> asio::awaitable<void> {
    co_await conn.execute("DEL", "conn:list", "conn:n");
    const Value ok = co_await conn.execute("SET", "conn:n", 41);
    CHECK(ok.type() == Value::Type::status);
    CHECK(ok.str() == "OK");
    const Value incr = co_await conn.execute("INCR", "conn:n");
    CHECK(incr.as_integer() == 42);
    co_await conn.execute("RPUSH", "conn:list", "x", "y");
    const Value list = co_await conn.execute("LRANGE", "conn:list", 0, -1);
    REQUIRE(list.elements().size() == 2);
    CHECK(list.elements()[1] == Value::string("y"));
    const Value absent = co_await conn.execute("GET", "conn:absent");
    CHECK(absent.is_nil());
  });
}

TEST_CASE("an error reply is a server_error and the connection stays usable", "[redis][connection]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  breaker::test::run(ctx, [&]() -> asio::awaitable<void> {
    co_await conn.execute("DEL", "conn:h");
    co_await conn.execute("HSET", "conn:h", "f", "v");
  });
  const auto e = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.get("conn:h"); }); });
  CHECK(e.error() == errc::server_error);
  CHECK(e.server_message().rfind("WRONGTYPE", 0) == 0);
  const auto unknown = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.execute("NOSUCHCOMMAND"); }); });
  CHECK(unknown.server_message().rfind("ERR", 0) == 0);
  const auto empty = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.command({}); }); });
  CHECK(empty.error() == errc::invalid_argument);
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("PING"); }).str() == "PONG");
  CHECK(conn.connection_attempts() == 1);
}

TEST_CASE("commands from many coroutines are pipelined and answered in order", "[redis][connection]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  std::vector<std::int64_t> seen;
  breaker::test::run(ctx, [&] { return conn.execute("DEL", "conn:counter"); });
  for (int i = 0; i < 50; ++i) {
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
      const Value v = co_await conn.execute("INCR", "conn:counter");
      seen.push_back(v.as_integer());
    }, asio::detached);
  }
  ctx.restart();
  ctx.run();
  REQUIRE(seen.size() == 50);
  for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == static_cast<std::int64_t>(i + 1));
  CHECK(conn.connection_attempts() == 1);
}

TEST_CASE("a refused connection fails with connection_failed", "[redis][connection]") {
  asio::io_context ctx;
  breaker::redis::ConnectionConfig c;
  c.port = breaker::test::free_port();
  Connection conn(ctx.get_executor(), c);
  const auto e = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.get("k"); }); });
  CHECK(e.error() == errc::connection_failed);
  CHECK(conn.connection_attempts() == 1);
  CHECK_FALSE(conn.is_connected());
}

TEST_CASE("a paused server (CLIENT PAUSE) makes commands time out on the Asio timer, afterwards the "
          "connection recovers",
          "[redis][connection][timeout]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  auto c = config_for(server);
  c.command_timeout = 200ms;
  Connection conn(ctx.get_executor(), c);
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("PING"); }).str() == "PONG");
  server.pause_clients(1000ms);  // in effect when it returns
  const auto e = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.get("k"); }); });
  CHECK(e.error() == errc::timeout);
  CHECK_FALSE(conn.is_connected());
  server.wait_unpaused();
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("PING"); }).str() == "PONG");
  CHECK(conn.connection_attempts() == 2);
}

TEST_CASE("SHUTDOWN NOSAVE fails commands with connection errors, after a restart the next command reconnects",
          "[redis][connection][fault]") {
  auto& server = breaker::test::shared_redis();
  RestartGuard guard{server};
  asio::io_context ctx;
  Connection conn(ctx.get_executor(), config_for(server));
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("PING"); }).str() == "PONG");
  server.shutdown();
  const auto lost = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.get("k"); }); });
  CHECK((lost.error() == errc::connection_lost || lost.error() == errc::connection_failed));
  const auto refused = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.get("k"); }); });
  CHECK(refused.error() == errc::connection_failed);
  server.start();
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("PING"); }).str() == "PONG");
  CHECK(conn.is_connected());
}

TEST_CASE("a cancelled command fails with operation_aborted, the connection stays usable", "[redis][connection][cancel]") {
  auto& server = breaker::test::shared_redis();
  asio::io_context ctx;
  auto c = config_for(server);
  c.command_timeout = 5s;
  Connection conn(ctx.get_executor(), c);
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("DEL", "conn:q"); }).as_integer() >= 0);
  asio::cancellation_signal signal;
  std::exception_ptr error;
  asio::co_spawn(ctx, conn.execute("BLPOP", "conn:q", 1),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, Value) { error = e; }));
  asio::steady_timer timer(ctx, 100ms);
  timer.async_wait([&](std::error_code) { signal.emit(asio::cancellation_type::terminal); });
  ctx.restart();
  ctx.run();
  REQUIRE(error);
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    CHECK(e.code() == asio::error::operation_aborted);
  }
  // The abandoned BLPOP's reply (nil after 1 s) is discarded; the next reply is our own.
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("ECHO", "mine"); }).str() == "mine");
  CHECK(conn.connection_attempts() == 1);
}

TEST_CASE("a command on a connection the server reset while it was idle fails with connection_lost",
          "[redis][connection][fault]") {
  // A one-shot server: answers the first command, then resets the connection (SO_LINGER 0).
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  std::thread server([listener] {
    const int peer = ::accept(listener, nullptr, nullptr);
    if (peer < 0) return;
    char buffer[256];
    if (::read(peer, buffer, sizeof buffer) > 0) {
      const char reply[] = "+PONG\r\n";
      (void)::write(peer, reply, sizeof reply - 1);
    }
    std::this_thread::sleep_for(100ms);
    linger reset{1, 0};
    ::setsockopt(peer, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(peer);
  });
  asio::io_context ctx;
  breaker::redis::ConnectionConfig c;
  c.port = ntohs(address.sin_port);
  Connection conn(ctx.get_executor(), c);
  CHECK(breaker::test::run(ctx, [&] { return conn.execute("PING"); }).str() == "PONG");
  server.join();
  std::this_thread::sleep_for(100ms);  // the reset has arrived; the idle connection did not see it
  // hiredis now writes to a reset socket (ECONNRESET; a later write would be EPIPE and SIGPIPE,
  // which the connection blocks while hiredis writes).
  const auto e = redis_error_of([&] { breaker::test::run(ctx, [&] { return conn.execute("PING"); }); });
  CHECK(e.error() == errc::connection_lost);
  ::close(listener);
}
