// SPDX-License-Identifier: Apache-2.0
// The program both package consumers build (find_package and add_subdirectory): it uses
// breaker::breaker the way an application would and exits 0 when everything worked.

#include <breaker/breaker.hpp>

#include <asio.hpp>

#include <exception>
#include <iostream>

namespace {

asio::awaitable<int> answer() { co_return 42; }

}  // namespace

int main() {
  breaker::CircuitBreaker<> cb{"package-test", breaker::CircuitBreakerConfig{}};

  asio::io_context ctx;
  int value = 0;
  std::exception_ptr error;
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { value = co_await cb.call(answer); },
      [&](std::exception_ptr e) { error = e; });
  ctx.run();

  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cerr << "call failed: " << e.what() << '\n';
    }
    return 1;
  }
  std::cout << "value=" << value << " state=" << breaker::to_string(cb.state()) << '\n';
  return (value == 42 && breaker::to_string(cb.state()) == "closed") ? 0 : 1;
}
