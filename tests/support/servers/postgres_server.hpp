// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::test::PostgresServer`: a throw-away PostgreSQL 15 server on 127.0.0.1 for tests
/// (initdb in a fresh directory under /tmp, pg_ctl start/stop), and `shared_postgres()`, one
/// server per test executable (initdb costs about 2.5 s).

#include "servers/process.hpp"

#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace breaker::test {

class PostgresServer {
 public:
  static constexpr const char* bin_dir = "/usr/lib/postgresql/15/bin";

  /// Creates a cluster (superuser `test`, trust authentication) and starts it on a free port.
  /// Throws, naming the package, when the PostgreSQL 15 binaries are missing.
  PostgresServer() : dir_("breaker-pg", 0755), port_(free_port()) {
    initdb_ = find_executable(std::string(bin_dir) + "/initdb", {}, "postgresql-15");
    pg_ctl_ = find_executable(std::string(bin_dir) + "/pg_ctl", {}, "postgresql-15");
    data_ = dir_.file("data");
    log_ = dir_.file("server.log");
    if (::geteuid() == 0) {
      // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user.
      runuser_ = find_executable("runuser", {}, "util-linux");
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) throw std::runtime_error("user 'postgres' missing (install postgresql-15)");
      if (::chown(dir_.str().c_str(), pw->pw_uid, pw->pw_gid) != 0) throw_errno("chown " + dir_.str());
    }
    std::string output;
    const int rc = run_command(as_postgres({initdb_, "-D", data_, "-U", "test", "--auth=trust", "-E", "UTF8",
                                            "--no-locale", "--no-sync"}),
                               &output);
    if (rc != 0) throw std::runtime_error("initdb failed (" + std::to_string(rc) + "): " + output);
    start();
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer() {
    try {
      if (running_) stop("immediate");
    } catch (...) {  // never throw from a destructor; the directory goes anyway
    }
  }

  /// Starts the server (again) on the same port and waits until it accepts connections.
  void start() {
    const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                                dir_.str() + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
    std::string output;
    const int rc = run_command(as_postgres({pg_ctl_, "-D", data_, "-l", log_, "-w", "-o", options, "start"}), &output);
    if (rc != 0) {
      throw std::runtime_error("pg_ctl start failed (" + std::to_string(rc) + "): " + output + "\n" +
                               read_file(log_));
    }
    running_ = true;
    wait_for_tcp(port_);
  }

  /// Stops the server: `mode` is "fast" (clean) or "immediate" (like a crash).
  void stop(const std::string& mode = "fast") {
    std::string output;
    const int rc = run_command(as_postgres({pg_ctl_, "-D", data_, "-m", mode, "-w", "stop"}), &output);
    if (rc != 0) throw std::runtime_error("pg_ctl stop failed (" + std::to_string(rc) + "): " + output);
    running_ = false;
  }

  bool running() const noexcept { return running_; }
  unsigned short port() const noexcept { return port_; }
  /// The superuser the tests connect as (trust authentication, database `postgres`).
  static std::string user() { return "test"; }
  static std::string dbname() { return "postgres"; }
  std::string log() const { return read_file(log_); }

 private:
  std::vector<std::string> as_postgres(std::vector<std::string> argv) const {
    if (runuser_.empty()) return argv;
    std::vector<std::string> full{runuser_, "-u", "postgres", "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }

  TempDir dir_;
  unsigned short port_;
  std::string initdb_, pg_ctl_, runuser_;
  std::string data_, log_;
  bool running_ = false;
};

/// The one server of this test executable, started on first use, stopped at exit. Tests that
/// stop it must start it again before they end.
inline PostgresServer& shared_postgres() {
  static PostgresServer server;
  return server;
}

}  // namespace breaker::test
