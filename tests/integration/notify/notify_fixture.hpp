// SPDX-License-Identifier: Apache-2.0
#pragma once

// Shared setup of the notify integration tests: an io_context running on a background
// thread (the notifiers' drain loops never run out of work), an http::Client on it,
// breaker time on ManualClock, and bounded polling of conditions.

#include "breaker/http/client.hpp"
#include "breaker/notify/notifier_with_breaker.hpp"
#include "breaker/testing/manual_clock.hpp"

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace notify_test {

using namespace std::chrono_literals;
using breaker::testing::ManualClock;

/// Polls `condition` every 5 ms for up to `limit` (a bound for a hung test, not a timing
/// assertion). Returns whether it became true.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// Breaker and queue settings small enough for tests: opens after 3 consecutive
/// failures (no volume gate), one successful probe closes it, open for 30 s of
/// ManualClock time; retries 10 ms (ManualClock) apart.
inline breaker::notify::NotifierOptions test_options() {
  breaker::notify::NotifierOptions o;
  o.breaker = breaker::CircuitBreakerConfig::for_notifications();
  o.breaker.failure_threshold = 3;
  o.breaker.success_threshold = 1;
  o.breaker.minimum_request_threshold = 0;
  o.breaker.half_open_max_requests = 1;
  o.breaker.timeout_duration = 30s;
  o.queue.initial_backoff = 10ms;
  o.queue.max_backoff = 10ms;
  o.queue.rejected_retry = 10ms;
  return o;
}

struct Fixture {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  breaker::http::Client client{io.get_executor()};
  ManualClock clock;

  ~Fixture() {
    work.reset();
    io.stop();
    thread.join();
  }

  /// Runs `make()` (an awaitable) on the io thread and waits for its result.
  template <class Make>
  auto await(Make make) {
    return asio::co_spawn(io, make(), asio::use_future).get();
  }

  /// Runs `fn()` as one handler on the io thread and waits for it: no drain step of a
  /// notifier runs meanwhile (the io_context has this one thread), so a test can submit
  /// several notifications with none of them being attempted in between.
  template <class Fn>
  void on_io_thread(Fn fn) {
    await([&fn]() -> asio::awaitable<void> {
      fn();
      co_return;
    });
  }

  /// Moves breaker (and retry) time on until `condition` holds, 10 ms per step.
  bool advance_until(const std::function<bool()>& condition, int max_steps = 2000) {
    for (int i = 0; i < max_steps; ++i) {
      if (condition()) return true;
      clock.advance(10ms);
      std::this_thread::sleep_for(3ms);
    }
    return condition();
  }
};

/// Ids in order, duplicates counted.
struct Received {
  std::vector<std::string> distinct;  // first arrival order
  std::size_t duplicates = 0;
};

inline Received dedupe(const std::vector<std::string>& ids) {
  Received r;
  std::map<std::string, int> seen;
  for (const auto& id : ids) {
    if (seen[id]++ == 0) {
      r.distinct.push_back(id);
    } else {
      ++r.duplicates;
    }
  }
  return r;
}

inline breaker::notify::Incident incident(const std::string& id, const std::string& title) {
  breaker::notify::Incident i;
  i.id = id;
  i.title = title;
  i.severity = breaker::notify::Severity::critical;
  i.source = "checkout-api";
  i.summary = "error rate above 5%";
  i.created_at = std::chrono::system_clock::now();
  return i;
}

}  // namespace notify_test
