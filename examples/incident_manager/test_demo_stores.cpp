// SPDX-License-Identifier: Apache-2.0
// The incident-manager demo on the real components: --postgres (breaker::postgres, a throw-away
// PostgreSQL 15 started here) and --redis (breaker::redis, a throw-away redis-server started
// here, shut down for a few seconds mid-run so that the cache's breaker opens and closes again).
// Afterwards psql and redis-cli show what the demo stored.

#include "servers/postgres_server.hpp"
#include "servers/process.hpp"
#include "servers/redis_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("the demo keeps incidents in PostgreSQL and caches in Redis, surviving a Redis outage",
          "[demo][stores]") {
  breaker::test::PostgresServer postgres;
  breaker::test::RedisServer redis;
  breaker::test::TempDir directory("breaker-demo-stores");
  const unsigned short port = breaker::test::free_port();
  breaker::test::ChildProcess::Options options;
  options.stdout_path = directory.file("out.txt");
  options.stderr_path = directory.file("out.txt");
  const std::string conninfo = "hostaddr=127.0.0.1 port=" + std::to_string(postgres.port()) + " user=" +
                               breaker::test::PostgresServer::user() +
                               " dbname=" + breaker::test::PostgresServer::dbname() + " sslmode=disable";
  breaker::test::ChildProcess demo({BREAKER_DEMO_PATH, "--duration", "14s", "--port", std::to_string(port), "--view",
                                    "plain", "--postgres", conninfo, "--redis",
                                    "redis://127.0.0.1:" + std::to_string(redis.port())},
                                   options);
  breaker::test::wait_for_tcp(port, 20s, &demo);

  std::this_thread::sleep_for(2s);  // a few alerts cached and stored first
  redis.shutdown();                 // the cache is gone: its breaker opens, the service goes on
  std::this_thread::sleep_for(3s);
  redis.start();                    // back: probes succeed, the breaker closes

  const auto code = demo.wait_for(40s);
  REQUIRE(code.has_value());
  const std::string out = breaker::test::read_file(directory.file("out.txt"));
  INFO(out);
  CHECK(*code == 0);
  CHECK_THAT(out, Catch::Contains("store: PostgreSQL 127.0.0.1:" + std::to_string(postgres.port())));
  CHECK_THAT(out, Catch::Contains("cache: Redis 127.0.0.1:" + std::to_string(redis.port())));
  CHECK_THAT(out, Catch::Contains("incident-cache: closed -> open"));
  CHECK_THAT(out, Catch::Contains("incident-cache: half-open -> closed"));
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex(R"(alerts handled: (\d+); incidents stored: (\d+) \(PostgreSQL; 0 failed\))")));
  CHECK(std::stoi(m[1]) > 10);
  CHECK(m[1] == m[2]);
  CHECK(std::regex_search(out, std::regex(R"(notifications: sent \d+, delivered \d+, delivered late \d+, lost 0\n)")));

  // What the demo left in PostgreSQL and Redis.
  std::string rows;
  REQUIRE(breaker::test::run_command({"psql", "-h", "127.0.0.1", "-p", std::to_string(postgres.port()), "-U",
                                      breaker::test::PostgresServer::user(), "-d",
                                      breaker::test::PostgresServer::dbname(), "-tAc",
                                      "SELECT count(*) FROM demo_incidents WHERE doc ? 'summary'"},
                                     &rows, 30s) == 0);
  CHECK(trimmed(rows) == std::string(m[2]));
  std::string cached;
  REQUIRE(breaker::test::run_command({"redis-cli", "-p", std::to_string(redis.port()), "GET", "alerts"}, &cached,
                                     10s) == 0);
  CHECK_THAT(cached, Catch::StartsWith("[{\"id\":\"alert-"));
}

TEST_CASE("a bad --postgres or --redis value is a usage error (exit 2) naming the flag", "[demo][stores]") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--postgres", "port=5432 hostaddr"}, {"--postgres", "port=notanumber"},
        {"--redis", "http://127.0.0.1:6379"},
        {"--redis", "redis://127.0.0.1:99999"}}) {
    std::string out;
    std::vector<std::string> argv{BREAKER_DEMO_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    const int code = breaker::test::run_command(argv, &out, 20s);
    INFO(args[0] << " " << args[1] << ":\n" << out);
    CHECK(code == 2);
    CHECK_THAT(out, Catch::StartsWith("incident_manager: " + args[0]));
    CHECK_THAT(out, Catch::Contains("\nusage: "));
  }
}
