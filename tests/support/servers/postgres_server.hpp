// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::test::PostgresServer`: a throw-away PostgreSQL 15 server on 127.0.0.1 for tests
/// (initdb in a fresh directory under /tmp, pg_ctl start/stop), and `shared_postgres()`, the one
/// server of a test process. initdb costs 2.5 s (much more on a loaded machine), so under ctest
/// a fixture (tests/integration/postgres/postgres_fixture.cpp) creates one cluster for all test
/// processes and passes its directory in `BREAKER_TEST_POSTGRES_DIR`; `shared_postgres()` then
/// attaches to it instead of creating its own.

#include "servers/process.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace breaker::test {

class PostgresServer {
 public:
  static constexpr const char* bin_dir = "/usr/lib/postgresql/15/bin";

  /// Creates a cluster (superuser `test`, trust authentication) in a fresh directory under /tmp
  /// and starts it on a free port; the destructor stops it and removes the directory.
  /// Throws, naming the package, when the PostgreSQL 15 binaries are missing.
  PostgresServer() {
    own_dir_.emplace("breaker-pg", 0755);
    dir_ = own_dir_->str();
    create(free_port());
  }

  /// Creates (`create`) or attaches to (`!create`) a cluster in `dir`, which stays after the
  /// object is gone: the fixture's way. A created cluster is started and its port written to
  /// `dir/port`; an attached one is taken as it is (its port read from `dir/port`).
  PostgresServer(const std::string& dir, bool create_it) : dir_(dir), owns_server_(false) {
    if (create_it) {
      std::filesystem::create_directories(dir_);
      if (::chmod(dir_.c_str(), 0755) != 0) throw_errno("chmod " + dir_);
      create(free_port());
      std::ofstream(dir_ + "/port") << port_ << "\n";
    } else {
      find_tools();
      std::ifstream in(dir_ + "/port");
      if (!(in >> port_)) throw std::runtime_error("no PostgreSQL fixture in " + dir_ + " (missing port file)");
      running_ = tcp_port_open(port_);
      if (!running_) start();
    }
  }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer() {
    try {
      if (owns_server_ && running_) stop("immediate");
    } catch (...) {  // never throw from a destructor; the directory goes anyway
    }
  }

  /// Starts the server (again) on the same port and waits until it accepts connections.
  void start() {
    const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ +
                                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
    std::string output;
    const int rc = run_command(as_postgres({pg_ctl_, "-D", data(), "-l", log_path(), "-w", "-o", options, "start"}),
                               &output);
    if (rc != 0) {
      throw std::runtime_error("pg_ctl start failed (" + std::to_string(rc) + "): " + output + "\n" + log());
    }
    running_ = true;
    wait_for_tcp(port_);
  }

  /// Stops the server: `mode` is "fast" (clean) or "immediate" (like a crash).
  void stop(const std::string& mode = "fast") {
    std::string output;
    const int rc = run_command(as_postgres({pg_ctl_, "-D", data(), "-m", mode, "-w", "stop"}), &output);
    if (rc != 0) throw std::runtime_error("pg_ctl stop failed (" + std::to_string(rc) + "): " + output);
    running_ = false;
  }

  bool running() const noexcept { return running_; }
  unsigned short port() const noexcept { return port_; }
  /// The superuser the tests connect as (trust authentication, database `postgres`).
  static std::string user() { return "test"; }
  static std::string dbname() { return "postgres"; }
  std::string log() const { return read_file(log_path()); }

 private:
  std::string data() const { return dir_ + "/data"; }
  std::string log_path() const { return dir_ + "/server.log"; }

  void find_tools() {
    initdb_ = find_executable(std::string(bin_dir) + "/initdb", {}, "postgresql-15");
    pg_ctl_ = find_executable(std::string(bin_dir) + "/pg_ctl", {}, "postgresql-15");
    if (::geteuid() == 0) runuser_ = find_executable("runuser", {}, "util-linux");
  }

  void create(unsigned short port) {
    port_ = port;
    find_tools();
    if (::geteuid() == 0) {
      // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user.
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) throw std::runtime_error("user 'postgres' missing (install postgresql-15)");
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw_errno("chown " + dir_);
    }
    std::string output;
    const int rc = run_command(
        as_postgres({initdb_, "-D", data(), "-U", "test", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"}),
        &output);
    if (rc != 0) throw std::runtime_error("initdb failed (" + std::to_string(rc) + "): " + output);
    start();
  }

  std::vector<std::string> as_postgres(std::vector<std::string> argv) const {
    if (runuser_.empty()) return argv;
    std::vector<std::string> full{runuser_, "-u", "postgres", "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }

  std::optional<TempDir> own_dir_;
  std::string dir_;
  bool owns_server_ = true;
  unsigned short port_ = 0;
  std::string initdb_, pg_ctl_, runuser_;
  bool running_ = false;
};

/// The server of this test process: the ctest fixture's when `BREAKER_TEST_POSTGRES_DIR` is set
/// (started again if a crashed test left it stopped), else one of its own, started on first use
/// and stopped at exit. Tests that stop it must start it again before they end.
inline PostgresServer& shared_postgres() {
  static const std::unique_ptr<PostgresServer> server = [] {
    const char* dir = std::getenv("BREAKER_TEST_POSTGRES_DIR");
    if (dir != nullptr && *dir != '\0') return std::make_unique<PostgresServer>(dir, false);
    return std::make_unique<PostgresServer>();
  }();
  return *server;
}

}  // namespace breaker::test
