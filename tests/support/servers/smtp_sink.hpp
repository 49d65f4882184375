// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::test::SmtpSink`: the aiosmtpd sink (`smtp_sink.py`, run with the system
/// interpreter `/usr/bin/python3`) as a child process of the test on 127.0.0.1, with its
/// messages read back and faults on command: answer 451 / 554, stall, be killed and
/// restarted on the same port. A missing interpreter or aiosmtpd fails the test.

#include "servers/process.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace breaker::test {

class SmtpSink {
 public:
  /// Starts the sink storing into `dir` (created) on a free port. `script` is the path of
  /// smtp_sink.py. Returns once it accepts connections.
  SmtpSink(std::string script, std::filesystem::path dir)
      : script_(std::move(script)), dir_(std::move(dir)), port_(free_port()) {
    std::filesystem::create_directories(dir_);
    start();
  }

  /// Starts the sink again (on the same port) after `kill()`.
  void start() {
    if (!std::filesystem::exists("/usr/bin/python3")) {
      throw std::runtime_error("/usr/bin/python3 is missing (install python3 and python3-aiosmtpd)");
    }
    ChildProcess::Options options;
    options.stderr_path = (dir_ / "sink.log").string();
    options.stdout_path = (dir_ / "sink.log").string();
    child_ = ChildProcess({"/usr/bin/python3", script_, "--dir", dir_.string(), "--port",
                           std::to_string(port_)},
                          options);
    try {
      wait_for_tcp(port_, std::chrono::seconds(20), &child_);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(e.what()) + "; sink log: " + read_file(dir_ / "sink.log"));
    }
  }

  /// Kills the sink at once (SIGKILL): connections drop, nothing is answered.
  void kill() { child_.stop(SIGKILL); }

  unsigned short port() const noexcept { return port_; }
  /// `smtp://127.0.0.1:<port>`.
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

  /// Answers DATA with `code` (451 or 554) until `clear_failure()`.
  void fail_with(int code) { touch("fail_" + std::to_string(code)); }
  void clear_failure() {
    std::filesystem::remove(dir_ / "fail_451");
    std::filesystem::remove(dir_ / "fail_554");
  }
  /// Stores each message but does not reply until `release()`.
  void stall() { touch("stall"); }
  void release() { std::filesystem::remove(dir_ / "stall"); }

  /// The stored messages (see smtp_sink.py), in arrival order.
  std::vector<nlohmann::json> messages() const {
    std::set<std::filesystem::path> files;
    const auto dir = dir_ / "messages";
    if (!std::filesystem::exists(dir)) return {};
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".json") files.insert(entry.path());
    }
    std::vector<nlohmann::json> out;
    for (const auto& file : files) {
      std::ifstream in(file);
      out.push_back(nlohmann::json::parse(in));
    }
    return out;
  }

 private:
  void touch(const std::string& name) { std::ofstream(dir_ / name) << "1\n"; }

  std::string script_;
  std::filesystem::path dir_;
  unsigned short port_;
  ChildProcess child_;
};

}  // namespace breaker::test
