// SPDX-License-Identifier: Apache-2.0
// The protocol decisions of breaker::postgres, without a server: what each SQLSTATE and error
// means for the breaker, config validation, parameter conversion, and CircuitBreakerStore's
// recording rules (driven by a store whose operations throw chosen errors).

#include "breaker/postgres/connection.hpp"
#include "breaker/postgres/policy.hpp"
#include "breaker/postgres/store.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"

#include <asio/error.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>

using breaker::postgres::classify_error;
using breaker::postgres::classify_exception;
using breaker::postgres::classify_sqlstate;
using breaker::postgres::errc;
using breaker::Outcome;
using breaker::postgres::PostgresError;

TEST_CASE("connection, resource, operator and system SQLSTATE classes are failures", "[postgres][policy]") {
  for (const char* s : {"08000", "08001", "08003", "08006", "08P01", "53000", "53100", "53200", "53300", "57000",
                        "57014", "57P01", "57P02", "57P03", "58000", "58030", "XX000", "XX001"}) {
    INFO(s);
    CHECK(classify_sqlstate(s) == Outcome::failure);
  }
}

TEST_CASE("constraint, syntax, access and data SQLSTATEs are not failures", "[postgres][policy]") {
  for (const char* s : {"23505", "23503", "23502", "23514", "42601", "42501", "42P01", "42703", "22P02", "22012",
                        "40001", "40P01", "02000", "00000", "25P02", "P0001"}) {
    INFO(s);
    CHECK(classify_sqlstate(s) == Outcome::success);
  }
}

TEST_CASE("a malformed SQLSTATE counts as a failure", "[postgres][policy]") {
  CHECK(classify_sqlstate("") == Outcome::failure);
  CHECK(classify_sqlstate("0800") == Outcome::failure);
  CHECK(classify_sqlstate("080010") == Outcome::failure);
}

TEST_CASE("PostgresErrors are classified by their code, server errors by SQLSTATE", "[postgres][policy]") {
  CHECK(classify_error(PostgresError(errc::connection_failed, "08001", "refused")) == Outcome::failure);
  CHECK(classify_error(PostgresError(errc::connection_lost, "57P01", "shutdown")) == Outcome::failure);
  CHECK(classify_error(PostgresError(errc::timeout, "", "slow")) == Outcome::failure);
  CHECK(classify_error(PostgresError(errc::unexpected_result, "", "copy")) == Outcome::failure);
  CHECK(classify_error(PostgresError(errc::server_error, "53300", "too many")) == Outcome::failure);
  CHECK(classify_error(PostgresError(errc::server_error, "23505", "dup")) == Outcome::success);
  CHECK(classify_error(PostgresError(errc::server_error, "42601", "syntax")) == Outcome::success);
  CHECK(classify_error(PostgresError(errc::no_rows, "", "none")) == Outcome::success);
  CHECK(classify_error(PostgresError(errc::invalid_argument, "", "nul")) == Outcome::success);
}

TEST_CASE("exceptions: cancellation is ignored, foreign exceptions fail, null succeeds", "[postgres][policy]") {
  auto ptr = [](auto e) { return std::make_exception_ptr(e); };
  CHECK(classify_exception(nullptr) == Outcome::success);
  CHECK(classify_exception(ptr(std::system_error(asio::error::operation_aborted))) == Outcome::ignored);
  CHECK(classify_exception(ptr(std::system_error(asio::error::connection_reset))) == Outcome::failure);
  CHECK(classify_exception(ptr(std::runtime_error("x"))) == Outcome::failure);
  CHECK(classify_exception(ptr(PostgresError(errc::server_error, "23505", "dup"))) == Outcome::success);
  CHECK(classify_exception(ptr(PostgresError(errc::server_error, "57P01", "bye"))) == Outcome::failure);
  CHECK(breaker::postgres::SqlStatePolicy{}(ptr(PostgresError(errc::timeout, "", ""))) == Outcome::failure);
}

TEST_CASE("PostgresError carries the SQLSTATE, its category and a readable message", "[postgres][error]") {
  const PostgresError e(errc::server_error, "23505", "duplicate key value");
  CHECK(e.sqlstate() == "23505");
  CHECK(e.error() == errc::server_error);
  CHECK(e.code().category() == breaker::postgres::error_category());
  CHECK(std::string(e.code().category().name()) == "breaker.postgres");
  CHECK(std::string(e.what()).find("duplicate key value (SQLSTATE 23505)") != std::string::npos);
  CHECK(e.server_message() == "duplicate key value");
  CHECK(breaker::postgres::make_error_code(errc::timeout).message() == "the PostgreSQL operation timed out");
}

TEST_CASE("ConnectionConfig validation names the bad field", "[postgres][config]") {
  breaker::postgres::ConnectionConfig c;
  std::string message;
  CHECK_FALSE(c.validate(&message));
  SECTION("empty hostaddr") {
    c.hostaddr.clear();
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("hostaddr") != std::string::npos);
  }
  SECTION("port 0") {
    c.port = 0;
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("port") != std::string::npos);
  }
  SECTION("zero connect timeout") {
    c.connect_timeout = std::chrono::milliseconds(0);
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("connect_timeout") != std::string::npos);
  }
  SECTION("negative query timeout") {
    c.query_timeout = std::chrono::milliseconds(-1);
    CHECK(c.validate(&message) == errc::invalid_argument);
    CHECK(message.find("query_timeout") != std::string::npos);
  }
  SECTION("NUL byte in a string") {
    c.user = std::string("a\0b", 3);
    CHECK(c.validate(&message) == errc::invalid_argument);
  }
  SECTION("the constructor refuses an invalid config") {
    c.port = 0;
    asio::io_context ctx;
    CHECK_THROWS_AS(breaker::postgres::Connection(ctx.get_executor(), c), PostgresError);
  }
}

TEST_CASE("param() converts values to text parameters", "[postgres][params]") {
  using breaker::postgres::param;
  CHECK(param(42) == std::optional<std::string>("42"));
  CHECK(param(-7L) == std::optional<std::string>("-7"));
  CHECK(param(true) == std::optional<std::string>("true"));
  CHECK(param("abc") == std::optional<std::string>("abc"));
  CHECK(param(std::string("x")) == std::optional<std::string>("x"));
  CHECK_FALSE(param(std::nullopt).has_value());
  CHECK_FALSE(param(std::optional<int>()).has_value());
  CHECK(param(std::optional<int>(3)) == std::optional<std::string>("3"));
  CHECK_FALSE(param(static_cast<const char*>(nullptr)).has_value());
}

namespace {

// A store whose operation throws the error it is told to (no server: these tests check what
// CircuitBreakerStore records, the server tests check the errors a real server produces).
struct ScriptedStore {
  int calls = 0;
  asio::awaitable<int> run(std::optional<PostgresError> error) {
    ++calls;
    if (error) throw *error;
    co_return 1;
  }
  asio::awaitable<std::optional<int>> find(bool found) {
    ++calls;
    co_return found ? std::optional<int>(5) : std::nullopt;
  }
};

using Store = breaker::postgres::CircuitBreakerStore<ScriptedStore, breaker::testing::ManualClock>;

breaker::CircuitBreakerConfig small_config() {
  return breaker::CircuitBreakerConfig::builder()
      .failure_threshold(3)
      .success_threshold(1)
      .minimum_request_threshold(0)
      .timeout_duration(std::chrono::seconds(10))
      .build();
}

}  // namespace

TEST_CASE("CircuitBreakerStore defaults to the for_database preset", "[postgres][store]") {
  Store store(ScriptedStore{}, "db");
  CHECK(store.breaker().config() == breaker::CircuitBreakerConfig::for_database());
  CHECK(store.breaker().name() == "db");
  CHECK_THROWS_AS(Store(ScriptedStore{}, std::shared_ptr<Store::breaker_type>{}), std::invalid_argument);
}

TEST_CASE("constraint violations and syntax errors never open the store's breaker", "[postgres][store]") {
  Store store(ScriptedStore{}, "db", small_config());
  for (int i = 0; i < 10; ++i) {
    const char* state = (i % 2) ? "23505" : "42601";
    CHECK_THROWS_AS(breaker::test::run([&] { return store.call(&ScriptedStore::run, PostgresError(errc::server_error, state, "x")); }),
                    PostgresError);
  }
  CHECK(store.breaker().state() == breaker::State::closed);
  CHECK(store.breaker().stats().failed_calls == 0);
  CHECK(store.breaker().stats().successful_calls == 10);
}

TEST_CASE("no rows (an empty optional) is a success", "[postgres][store]") {
  Store store(ScriptedStore{}, "db", small_config());
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(breaker::test::run([&] { return store.call(&ScriptedStore::find, false); }).has_value());
  }
  CHECK(store.breaker().stats().successful_calls == 5);
  CHECK(store.breaker().state() == breaker::State::closed);
}

TEST_CASE("connection failures open the store's breaker, which then rejects without calling the store",
          "[postgres][store]") {
  breaker::testing::ManualClock clock;
  Store store(ScriptedStore{}, "db", small_config(), clock);
  auto fail = [&] {
    return breaker::test::run([&] {
      return store.call(&ScriptedStore::run, PostgresError(errc::connection_lost, "08006", "gone"));
    });
  };
  CHECK_THROWS_AS(fail(), PostgresError);
  CHECK_THROWS_AS(fail(), PostgresError);
  CHECK(store.breaker().state() == breaker::State::closed);
  CHECK_THROWS_AS(fail(), PostgresError);
  CHECK(store.breaker().state() == breaker::State::open);
  const int calls = store.store().calls;
  try {
    fail();
    FAIL("no rejection");
  } catch (const breaker::CircuitBreakerError& e) {
    CHECK(e.error() == breaker::errc::open);
  }
  CHECK(store.store().calls == calls);
  // Setup: the open period passes; one successful probe closes it (success_threshold 1).
  clock.advance(std::chrono::seconds(10));
  CHECK(breaker::test::run([&] { return store.call(&ScriptedStore::run, std::nullopt); }) == 1);
  CHECK(store.breaker().state() == breaker::State::closed);
}

TEST_CASE("a cancelled store call is ignored", "[postgres][store]") {
  Store store(ScriptedStore{}, "db", small_config());
  struct Cancelling {
    asio::awaitable<int> operator()(ScriptedStore&) const {
      throw std::system_error(asio::error::operation_aborted);
      co_return 0;
    }
  };
  CHECK_THROWS_AS(breaker::test::run([&] { return store.call(Cancelling{}); }), std::system_error);
  CHECK(store.breaker().stats().ignored_calls == 1);
  CHECK(store.breaker().stats().failed_calls == 0);
}

TEST_CASE("call_with_fallback serves the fallback for failures and rejections, not for caller errors",
          "[postgres][store][fallback]") {
  Store store(ScriptedStore{}, "db", small_config());
  auto fallback = [] { return -1; };
  const PostgresError lost(errc::connection_lost, "08006", "gone");
  const PostgresError duplicate(errc::server_error, "23505", "dup");
  CHECK(breaker::test::run([&] { return store.call_with_fallback(&ScriptedStore::run, fallback, std::nullopt); }) == 1);
  // A constraint violation is the caller's error: it propagates, the fallback would hide it.
  CHECK_THROWS_AS(breaker::test::run([&] { return store.call_with_fallback(&ScriptedStore::run, fallback, duplicate); }),
                  PostgresError);
  for (int i = 0; i < 3; ++i) {
    CHECK(breaker::test::run([&] { return store.call_with_fallback(&ScriptedStore::run, fallback, lost); }) == -1);
  }
  CHECK(store.breaker().state() == breaker::State::open);
  const int calls = store.store().calls;
  auto coroutine_fallback = []() -> asio::awaitable<int> { co_return -2; };
  CHECK(breaker::test::run([&] { return store.call_with_fallback(&ScriptedStore::run, coroutine_fallback, std::nullopt); }) == -2);
  CHECK(store.store().calls == calls);
  CHECK(store.breaker().stats().rejected_calls == 1);
}
