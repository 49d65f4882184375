// SPDX-License-Identifier: Apache-2.0
//
// 01_basic_call: protect a flaky coroutine service with a circuit breaker.
//
// The service is down for its first three calls. The breaker opens after three consecutive
// failures, then rejects calls without touching the service (call_with_fallback serves a cached
// value instead). After its 200 ms open period it lets probe calls through, and two successful
// probes close it again. Every state change is printed by a listener.
//
// This is a demo, so it really waits (250 ms). Tests use breaker::testing::ManualClock instead.

#include <breaker/breaker.hpp>

#include <asio.hpp>

#include <chrono>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

// A dependency that fails its first `failures` calls, then recovers.
class FlakyService {
 public:
  explicit FlakyService(int failures) : failures_left_(failures) {}

  asio::awaitable<std::string> fetch() {
    ++calls_;
    if (failures_left_ > 0) {
      --failures_left_;
      throw std::runtime_error("service unavailable");
    }
    co_return "fresh data";
  }

  int calls() const { return calls_; }

 private:
  int failures_left_;
  int calls_ = 0;
};

asio::awaitable<void> demo(breaker::CircuitBreaker<>& cb, FlakyService& service) {
  // [docs:first-call]
  // call() takes a callable returning an awaitable, and invokes it only when admitted.
  auto fetch = [&service] { return service.fetch(); };

  std::cout << "1. The service is down: three calls fail and the breaker opens.\n";
  for (int i = 1; i <= 3; ++i) {
    try {
      co_await cb.call(fetch);
    } catch (const breaker::CircuitBreakerError& e) {  // before runtime_error: it derives from it
      std::cout << "   call " << i << " rejected: " << e.what() << '\n';
    } catch (const std::runtime_error& e) {  // the service's own exception, unchanged
      std::cout << "   call " << i << " failed: " << e.what() << '\n';
    }
  }
  // [docs:first-call]

  std::cout << "2. While open, calls are rejected at once, without calling the service.\n";
  try {
    co_await cb.call(fetch);
  } catch (const breaker::CircuitBreakerError& e) {
    std::cout << "   rejected: " << e.what() << '\n';
  }
  std::string value = co_await cb.call_with_fallback(fetch, [] { return std::string("cached"); });
  std::cout << "   call_with_fallback returned \"" << value << "\"; the service was called "
            << service.calls() << " times in all\n";

  std::cout << "3. After the 200 ms open period, probe calls go through and close it.\n";
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(250));
  co_await timer.async_wait(asio::use_awaitable);
  std::cout << "   250 ms later the breaker is " << breaker::to_string(cb.state()) << '\n';
  for (int probe = 1; probe <= 10 && cb.state() != breaker::State::closed; ++probe) {
    value = co_await cb.call(fetch);
    std::cout << "   probe " << probe << " returned \"" << value << "\"\n";
  }
}

}  // namespace

int main() {
  // [docs:builder]
  breaker::CircuitBreaker<> cb{"inventory", breaker::CircuitBreakerConfig::builder()
                                                .failure_threshold(3)
                                                .minimum_request_threshold(0)
                                                .timeout_duration(std::chrono::milliseconds(200))
                                                .build()};
  // [docs:builder]
  // [docs:listener]
  cb.on_state_change([](const breaker::StateTransition& t) {
    std::cout << "   [" << t.breaker_name << "] " << breaker::to_string(t.from) << " -> " << t.to
              << '\n';
  });
  // [docs:listener]

  // [docs:run]
  FlakyService service{3};
  asio::io_context ctx;
  std::exception_ptr error;
  asio::co_spawn(ctx, demo(cb, service), [&](std::exception_ptr e) { error = e; });
  ctx.run();
  // [docs:run]

  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cout << "demo failed: " << e.what() << '\n';
    }
    return 1;
  }
  const breaker::Stats stats = cb.stats();
  std::cout << "Done: breaker " << breaker::to_string(stats.state) << ", " << stats.successful_calls
            << " succeeded, " << stats.failed_calls << " failed, " << stats.rejected_calls
            << " rejected.\n";
  return stats.state == breaker::State::closed ? 0 : 1;
}
