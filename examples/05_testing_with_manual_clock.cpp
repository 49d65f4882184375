// SPDX-License-Identifier: Apache-2.0
//
// 05_testing_with_manual_clock: how to test code that uses breakers, without sleeping.
//
// breaker::testing::ManualClock moves only when the test says so, and BasicRegistry<ManualClock>
// gives every breaker it creates a copy of it (copies share one time). The test drives a breaker
// open, waits out its open period with clock.advance(), closes it with two probes, times out a
// hung coroutine call by advancing the clock past call_timeout, and shows the registry's rules
// (the conflict rule, add). Any test framework will do; this one counts its own mismatches. The
// code between the `[docs:...]` markers is shown in docs/14-testing.md and docs/08-registry.md.

#include <breaker/breaker.hpp>

#include <asio.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using breaker::State;
using breaker::testing::ManualClock;

int mismatches = 0;

// What a test framework's CHECK does.
void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cout << "MISMATCH: " << what << '\n';
    ++mismatches;
  }
}

void open_period() {
  // [docs:manual-clock]
  ManualClock clock;
  breaker::BasicRegistry<ManualClock> registry{clock};  // its breakers read copies of `clock`
  auto payments = registry.get_or_create("payments", breaker::CircuitBreakerConfig::builder()
                                                         .failure_threshold(2)
                                                         .minimum_request_threshold(0)
                                                         .timeout_duration(30s)
                                                         .build());
  for (int i = 0; i < 2; ++i) {
    try {
      payments->execute([] { throw std::runtime_error("payment provider down"); });
    } catch (const std::runtime_error&) {
    }
  }
  check(payments->state() == State::open, "open after 2 failures");

  clock.advance(29s);
  check(payments->state() == State::open, "still open after 29 s");
  check(payments->time_until_half_open() == std::chrono::nanoseconds(1s), "1 s left");

  clock.advance(1s);
  check(payments->state() == State::half_open, "half-open after 30 s");
  payments->execute([] {});  // two successful probes (success_threshold 2) close it
  payments->execute([] {});
  check(payments->state() == State::closed, "closed after 2 probes");
  check(payments->transitions(State::open, State::half_open) == 1, "one open -> half-open");
  // [docs:manual-clock]
}

void call_timeout_on_the_test_clock() {
  // [docs:manual-clock-timeout]
  ManualClock clock;
  breaker::BasicRegistry<ManualClock> registry{clock};
  auto llm = registry.get_or_create("llm", breaker::CircuitBreakerConfig::builder().call_timeout(2s).build());

  asio::io_context ctx;
  auto hang = []() -> asio::awaitable<std::string> {  // a dependency that never answers
    asio::steady_timer never(co_await asio::this_coro::executor, std::chrono::hours(1));
    co_await never.async_wait(asio::use_awaitable);
    co_return "never";
  };
  std::string outcome = "still waiting";
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        try {
          co_await llm->call(hang);
        } catch (const breaker::CircuitBreakerError& e) {
          outcome = e.what();
        }
      },
      asio::detached);
  ctx.poll();          // the call has started and waits
  clock.advance(2s);   // its call_timeout passes on the test clock
  ctx.run();           // the breaker cancels `hang`; the call throws errc::timeout
  check(outcome == "circuit breaker 'llm': call timed out: operation timed out", outcome);
  check(llm->stats().failed_calls == 1, "the timeout is a failure");
  // [docs:manual-clock-timeout]
}

void backoff() {
  // [docs:backoff]
  ManualClock clock;
  breaker::CircuitBreaker<ManualClock> search{
      "search",
      breaker::CircuitBreakerConfig::builder()
          .failure_threshold(1)
          .minimum_request_threshold(0)
          .timeout_duration(1s)
          .open_duration_policy(breaker::OpenDurationPolicy::exponential_backoff)
          .backoff_multiplier(2.0)
          .max_open_duration(5s)
          .build(),
      clock};
  auto fail = [] { throw std::runtime_error("search backend down"); };
  std::vector<std::chrono::milliseconds> periods;
  try {
    search.execute(fail);  // opens, for timeout_duration
  } catch (const std::runtime_error&) {
  }
  for (int i = 0; i < 4; ++i) {
    const auto left = *search.time_until_half_open();
    periods.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(left));
    clock.advance(left);  // the period is over: the next call is a probe
    try {
      search.execute(fail);  // the probe fails: open again, for longer
    } catch (const std::runtime_error&) {
    }
  }
  check(periods == std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 5s}, "1 s, 2 s, 4 s, then the 5 s cap");
  // [docs:backoff]
}

void registry_rules() {
  ManualClock clock;
  breaker::BasicRegistry<ManualClock> registry{clock};
  const auto config = breaker::CircuitBreakerConfig::for_http_api();
  // [docs:registry-rules]
  auto a = registry.get_or_create("billing", config);  // created with `config`
  auto b = registry.get_or_create("billing", config);  // the same breaker
  auto c = registry.get_or_create("billing");          // the same breaker, whatever its config
  try {
    registry.get_or_create("billing", breaker::CircuitBreakerConfig::for_database());
  } catch (const breaker::CircuitBreakerError& e) {
    // e.error() == breaker::errc::already_exists; the registry is unchanged
    std::cout << e.what() << '\n';
  }
  // A breaker made elsewhere (its own clock, listeners...), listed and exported like the others:
  auto search = std::make_shared<breaker::CircuitBreaker<ManualClock>>(
      "search", breaker::CircuitBreakerConfig{}, clock);
  registry.add(search);  // errc::already_exists if the name is taken
  // [docs:registry-rules]
  check(a == b && b == c, "one breaker");
  check(registry.list_names() == std::vector<std::string>{"billing", "search"}, "names");
  try {
    registry.get_or_create("billing", breaker::CircuitBreakerConfig::for_database());
    check(false, "a conflicting config was accepted");
  } catch (const breaker::CircuitBreakerError& e) {
    check(e.error() == breaker::errc::already_exists && e.breaker_name() == "billing", "conflict code");
    std::cout << "(what: " << e.what() << ")\n";
  }
  try {
    registry.get("nothing");
    check(false, "get of a missing name");
  } catch (const breaker::CircuitBreakerError& e) {
    check(e.error() == breaker::errc::not_found, "not_found");
    std::cout << "(what: " << e.what() << ")\n";
  }
  // update_config: afterwards both the creation config and the new one are accepted.
  registry.update_config("billing", breaker::CircuitBreakerConfig::for_database());
  check(registry.get_or_create("billing", breaker::CircuitBreakerConfig::for_database()) == a, "new config");
  check(registry.get_or_create("billing", config) == a, "creation config");
}

}  // namespace

int main() {
  open_period();
  call_timeout_on_the_test_clock();
  backoff();
  registry_rules();
  std::cout << (mismatches == 0 ? "all as documented\n" : "NOT as documented\n");
  return mismatches == 0 ? 0 : 1;
}
