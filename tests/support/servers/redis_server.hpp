// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::test::RedisServer`: a throw-away redis-server on 127.0.0.1 run as a child process
/// (no persistence, DEBUG allowed from loopback), stopped with `SHUTDOWN NOSAVE` and started
/// again on the same port; `shared_redis()`, one per test executable.

#include "servers/process.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace breaker::test {

class RedisServer {
 public:
  /// Starts redis-server on a free port. Throws, naming the package, when it is missing.
  RedisServer() : dir_("breaker-redis"), port_(free_port()) {
    server_ = find_executable("redis-server", {}, "redis-server");
    cli_ = find_executable("redis-cli", {}, "redis-tools");
    start();
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  /// Starts the server (again, same port) and waits until it accepts connections.
  void start() {
    ChildProcess::Options options;
    options.stdout_path = dir_.file("redis.log");
    options.stderr_path = dir_.file("redis.log");
    child_ = ChildProcess({server_, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--daemonize", "no", "--dir", dir_.str(),
                           "--enable-debug-command", "local"},
                          options);
    wait_for_tcp(port_, std::chrono::seconds(10), &child_);
  }

  /// `redis-cli SHUTDOWN NOSAVE`, then waits for the process to exit.
  void shutdown() {
    std::string output;
    run_command({cli_, "-p", std::to_string(port_), "SHUTDOWN", "NOSAVE"}, &output, std::chrono::seconds(10));
    if (!child_.wait_for(std::chrono::seconds(10))) throw std::runtime_error("redis-server did not shut down: " + output);
  }

  /// Makes the server answer no client's command for `duration` (`CLIENT PAUSE <ms> ALL`):
  /// returns once the pause is in effect (redis-cli has its reply), so the next command of
  /// a test is held by the server. (`DEBUG SLEEP` from a background redis-cli, used before,
  /// left it to a sleep whether the pause had begun.) Connections are still accepted.
  void pause_clients(std::chrono::milliseconds duration) {
    const std::string reply = cli({"CLIENT", "PAUSE", std::to_string(duration.count()), "ALL"});
    if (reply.find("OK") == std::string::npos) throw std::runtime_error("CLIENT PAUSE failed: " + reply);
  }
  /// Waits until the server answers commands again (a PING, held until the pause ends).
  void wait_unpaused() {
    const std::string reply = cli({"PING"});
    if (reply.find("PONG") == std::string::npos) throw std::runtime_error("PING failed: " + reply);
  }

  /// Runs one redis-cli command against the server and returns its output.
  std::string cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv{cli_, "-p", std::to_string(port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string output;
    const int rc = run_command(argv, &output, std::chrono::seconds(10));
    if (rc != 0) throw std::runtime_error("redis-cli failed: " + output);
    return output;
  }

  bool running() { return child_.running(); }
  unsigned short port() const noexcept { return port_; }

 private:
  TempDir dir_;
  unsigned short port_;
  std::string server_, cli_;
  ChildProcess child_;
};

/// The one server of this test executable, started on first use, killed at exit. Tests that
/// shut it down must start it again before they end.
inline RedisServer& shared_redis() {
  static RedisServer server;
  return server;
}

}  // namespace breaker::test
