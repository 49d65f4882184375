// SPDX-License-Identifier: Apache-2.0
//
// 04_timeouts_and_threads: call_timeout, cancellation by the caller, and calls from two threads.
//
// A call that exceeds call_timeout is cancelled and throws errc::timeout; a call cancelled by its
// caller (awaitable_operators `||` against a timer) is recorded as ignored; a breaker shared by
// coroutines on a two-thread io_context needs no strand, and its listeners run on the thread that
// made the transition. The code between the `[docs:...]` markers is shown in
// docs/05-coroutines-and-threads.md and docs/06-cancellation-and-timeouts.md. Exits 1 if anything
// is not as the pages say. It waits for real (about 100 ms): the slow operation is a real timer.

#include <breaker/breaker.hpp>

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;

std::atomic<int> mismatches{0};

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::cout << "MISMATCH: " << what << '\n';
    ++mismatches;
  }
}

// A dependency that takes 10 s to answer (unless cancelled).
asio::awaitable<std::string> slow_answer() {
  asio::steady_timer timer(co_await asio::this_coro::executor, 10s);
  co_await timer.async_wait(asio::use_awaitable);
  co_return "late";
}

asio::awaitable<std::string> quick_answer() { co_return "42"; }

asio::awaitable<void> timeouts() {
  // [docs:call-timeout]
  breaker::CircuitBreaker<> llm{"llm", breaker::CircuitBreakerConfig::builder()
                                           .call_timeout(50ms)  // 0, the default: no timeout
                                           .build()};
  auto ask = [] { return slow_answer(); };
  try {
    co_await llm.call(ask);
  } catch (const breaker::CircuitBreakerError& e) {
    // e.error() == breaker::errc::timeout: slow_answer() was cancelled and has stopped
    std::cout << e.what() << '\n';  // circuit breaker 'llm': call timed out: operation timed out
  }
  // [docs:call-timeout]
  expect(llm.stats().failed_calls == 1, "a timeout is a failure (count_timeout_as_failure)");

  // The fallback is told it timed out.
  std::string reason;
  auto note = [&reason](const breaker::FallbackContext& context) {
    reason = breaker::to_string(context.reason);
    return std::string("fallback");
  };
  const std::string value = co_await llm.call_with_fallback(ask, note);
  expect(value == "fallback" && reason == "timed_out", "timeout fallback: " + reason);

  // [docs:cancel-with-or]
  using namespace asio::experimental::awaitable_operators;
  breaker::CircuitBreaker<> search{"search"};
  auto lookup = [] { return slow_answer(); };
  asio::steady_timer deadline(co_await asio::this_coro::executor, 20ms);
  auto first = co_await (search.call(lookup) || deadline.async_wait(asio::use_awaitable));
  // first.index() == 1: the timer won, the call was cancelled: neither success nor failure
  // [docs:cancel-with-or]
  const breaker::Stats s = search.stats();
  expect(first.index() == 1, "the timer won the race");
  expect(s.ignored_calls == 1 && s.failed_calls == 0, "a cancelled call is ignored");
}

int threads() {
  // [docs:two-threads]
  asio::io_context ctx;  // run by two threads below; the breaker needs no strand
  auto cb = std::make_shared<breaker::CircuitBreaker<>>(
      "inventory", breaker::CircuitBreakerConfig::builder().call_timeout(1s).build());
  std::atomic<int> transitions{0};
  cb->on_state_change([&transitions](const breaker::StateTransition&) {
    ++transitions;  // runs inline, on the thread that made the transition: keep it short
  });
  std::atomic<int> answers{0};
  for (int i = 0; i < 1000; ++i) {
    asio::co_spawn(
        ctx,
        [cb, &answers]() -> asio::awaitable<void> {  // cb: the breaker outlives its calls
          auto op = [] { return quick_answer(); };     // named before the co_await (g++ 12)
          if (co_await cb->call(op) == "42") ++answers;
        },
        asio::detached);
  }
  std::thread other([&ctx] { ctx.run(); });
  ctx.run();
  other.join();
  // [docs:two-threads]
  expect(answers == 1000, "1000 answers from two threads");
  expect(cb->stats().successful_calls == 1000 && transitions == 0, "1000 successes, no transition");
  return answers;
}

}  // namespace

int main() {
  asio::io_context ctx;
  std::exception_ptr error;
  asio::co_spawn(ctx, timeouts(), [&](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cout << "unexpected exception: " << e.what() << '\n';
    }
    return 1;
  }
  threads();
  std::cout << (mismatches == 0 ? "all as documented\n" : "NOT as documented\n");
  return mismatches == 0 ? 0 : 1;
}
