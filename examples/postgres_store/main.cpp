// SPDX-License-Identifier: Apache-2.0
// Example: an IncidentStore on PostgreSQL behind CircuitBreakerStore.
//
//   postgres_store [PORT]
//
// With PORT, it uses the server on 127.0.0.1:PORT (user "test", database "postgres", trust
// authentication). Without, it starts a throw-away PostgreSQL 15 of its own (initdb in /tmp,
// as the CTest test does), so the example runs anywhere the Debian package is installed.
// Exits 0 when every step behaved as described.

#include "incident_store.hpp"

#include "breaker/postgres/connection.hpp"
#include "breaker/postgres/store.hpp"

#include "servers/postgres_server.hpp"  // only for the self-contained run

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

asio::awaitable<void> demo(breaker::postgres::CircuitBreakerStore<example::IncidentStore>& store) {
  using example::IncidentStore;
  co_await store.call(&IncidentStore::migrate);

  // [docs:postgres-call]
  const example::Incident created =
      co_await store.call(&IncidentStore::create, std::string("API latency above SLO"), std::string("high"));
  std::printf("created incident #%lld: %s [%s]\n", static_cast<long long>(created.id), created.title.c_str(),
              created.severity.c_str());

  const std::optional<example::Incident> fetched = co_await store.call(&IncidentStore::get, created.id);
  // [docs:postgres-call]
  expect(fetched && fetched->title == created.title, "get returns the incident");

  const bool updated = co_await store.call(&IncidentStore::update_status, created.id, std::string("acknowledged"));
  expect(updated, "update_status changes one row");

  co_await store.call(&IncidentStore::create, std::string("Disk 91% full on db-2"), std::string("medium"));
  const auto open = co_await store.call(&IncidentStore::list, std::string("open"), std::int64_t{10});
  expect(open.size() == 1, "list('open') returns the one still open");

  const std::optional<example::Incident> missing = co_await store.call(&IncidentStore::get, std::int64_t{999999});
  expect(!missing, "get of an unknown id is empty (no rows: a success for the breaker)");

  // The caller's mistakes are errors, but not the database's: they do not open the breaker.
  for (int i = 0; i < 25; ++i) {
    try {
      co_await store.call(&IncidentStore::create, std::string("API latency above SLO"), std::string("high"));
    } catch (const breaker::postgres::PostgresError& e) {
      if (i == 0) std::printf("duplicate title rejected: SQLSTATE %s\n", e.sqlstate().c_str());
    }
    try {
      co_await store.call(&IncidentStore::create, std::string("bad severity ") + std::to_string(i), std::string("urgent"));
    } catch (const breaker::postgres::PostgresError& e) {
      if (i == 0) std::printf("bad severity rejected: SQLSTATE %s\n", e.sqlstate().c_str());
    }
  }
  const auto stats = store.breaker().stats();
  expect(store.breaker().state() == breaker::State::closed, "50 constraint violations leave the breaker closed");
  std::printf("breaker '%s': %llu successful, %llu failed calls\n", store.breaker().name().c_str(),
              static_cast<unsigned long long>(stats.successful_calls), static_cast<unsigned long long>(stats.failed_calls));
  expect(stats.failed_calls == 0, "none of them counted as a failure");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::unique_ptr<breaker::test::PostgresServer> own_server;
    breaker::postgres::ConnectionConfig config;
    config.user = "test";
    config.dbname = "postgres";
    if (argc > 1) {
      config.port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    } else {
      own_server = std::make_unique<breaker::test::PostgresServer>();
      config.port = own_server->port();
    }

    // [docs:postgres-store]
    asio::io_context ctx;
    auto conn = std::make_shared<breaker::postgres::Connection>(ctx.get_executor(), config);
    // for_database() defaults: 10 failures open it for 10 s; SQLSTATE decides what a failure is.
    breaker::postgres::CircuitBreakerStore<example::IncidentStore> store(example::IncidentStore(conn), "incident-store");
    // [docs:postgres-store]

    std::exception_ptr error;
    asio::co_spawn(ctx, demo(store), [&](std::exception_ptr e) { error = e; });
    ctx.run();
    if (error) std::rethrow_exception(error);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postgres_store: %s\n", e.what());
    return EXIT_FAILURE;
  }
}
