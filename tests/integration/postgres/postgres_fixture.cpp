// SPDX-License-Identifier: Apache-2.0
// The ctest fixture that shares one PostgreSQL 15 cluster among the test processes:
//   breaker_postgres_fixture start DIR   initdb in DIR, start the server, write DIR/port
//   breaker_postgres_fixture stop DIR    stop the server (immediate) and remove DIR
// (see tests/integration/postgres/CMakeLists.txt and servers/postgres_server.hpp).

#include "servers/postgres_server.hpp"

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s start|stop DIR\n", argv[0]);
    return 2;
  }
  const std::string command = argv[1];
  const std::string dir = argv[2];
  try {
    if (command == "start") {
      std::error_code ignored;
      if (std::filesystem::exists(dir + "/port")) {
        // A previous run's cluster (interrupted before its cleanup): stop it and start afresh.
        try {
          breaker::test::PostgresServer old(dir, false);
          old.stop("immediate");
        } catch (const std::exception&) {
        }
      }
      std::filesystem::remove_all(dir, ignored);
      breaker::test::PostgresServer server(dir, true);
      std::printf("PostgreSQL fixture on 127.0.0.1:%u in %s\n", server.port(), dir.c_str());
      return 0;
    }
    if (command == "stop") {
      {
        breaker::test::PostgresServer server(dir, false);  // (re)starts it if it was down
        server.stop("immediate");
      }
      std::filesystem::remove_all(dir);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "breaker_postgres_fixture %s: %s\n", command.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown command %s\n", command.c_str());
  return 2;
}
