// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A flaky dependency of the demo: a real HTTP server (restinio) on 127.0.0.1 whose behaviour
/// follows a `Schedule`: healthy (the handler's answer), erroring (503 at once), slow (the
/// handler's answer after `slow_delay`), recovering (every other request 503), down (the listener
/// is closed: connections are refused). It records every request it answered with 2xx, so the
/// demo can show that notifications sent during an outage still arrived.

#include "schedule.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace incident_manager {

/// A request as the flaky server saw it.
struct SeenRequest {
  std::string method;
  std::string target;
  std::string body;
};

/// What the handler answers while the server is healthy.
struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class FlakyServer {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;

  /// Starts the server on a free port of 127.0.0.1, with time 0 of `schedule` at `start`.
  /// \throws std::runtime_error when it cannot listen.
  FlakyServer(std::string name, Schedule schedule, std::chrono::steady_clock::time_point start,
              Handler handler, std::chrono::milliseconds slow_delay = std::chrono::milliseconds(1500));
  ~FlakyServer();
  FlakyServer(const FlakyServer&) = delete;
  FlakyServer& operator=(const FlakyServer&) = delete;

  const std::string& name() const noexcept;
  std::uint16_t port() const noexcept;
  /// `http://127.0.0.1:<port><path>`.
  std::string url(const std::string& path) const;
  /// The mode now.
  FailureMode mode() const;
  /// Requests answered with a 2xx status so far, in order. Thread-safe.
  std::vector<SeenRequest> accepted() const;
  /// Requests answered with an error status (503) so far.
  std::uint64_t errors() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incident_manager
