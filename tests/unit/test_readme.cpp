// SPDX-License-Identifier: Apache-2.0
// The README's example, compiled and run (issue 8 point 12: the docs' code compiles and does what
// its text says). Between the README BEGIN and README END markers is the code block under
// "## Example" in README.md without its #include lines, wrapped in a namespace so that its main()
// is an ordinary function here; a test below checks that both are the same text, and that every
// #include of the block is in this file.
#include <breaker/breaker.hpp>

#include <asio.hpp>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace readme {
// README BEGIN
// Your call to a dependency; this one is down.
asio::awaitable<int> fetch_answer(std::string question) {
  throw std::runtime_error("no answer to " + question);
  co_return 42;
}

int main() {
  breaker::CircuitBreaker<> cb{"answers", breaker::CircuitBreakerConfig::builder()
                                              .failure_threshold(3)
                                              .minimum_request_threshold(0)  // default 10
                                              .timeout_duration(std::chrono::seconds(10))
                                              .build()};
  asio::io_context ctx;
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
      // Named before the co_await (g++ 12: see below); call() invokes it only when admitted.
      auto ask = [question = std::string("life")] { return fetch_answer(question); };
      for (int i = 1; i <= 4; ++i) {
        try {
          int value = co_await cb.call(ask);
          std::cout << "call " << i << " returned " << value << '\n';
        } catch (const breaker::CircuitBreakerError& e) {  // rejected: the breaker is open
          std::cout << "call " << i << " rejected: " << e.what() << '\n';
        } catch (const std::runtime_error& e) {  // your exception, unchanged
          std::cout << "call " << i << " failed: " << e.what() << '\n';
        }
      }
      std::cout << "breaker is " << breaker::to_string(cb.state()) << '\n';
  }, asio::detached);
  ctx.run();
  return 0;
}
// README END
}  // namespace readme

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The directory of this source file (__FILE__ is absolute: CMake passes absolute source paths).
std::string source_dir() {
  const std::string file = __FILE__;
  return file.substr(0, file.find_last_of('/'));
}

// The text between `begin` and `end` in `text` (empty when either is missing).
std::string between(const std::string& text, std::string_view begin, std::string_view end) {
  const auto from = text.find(begin);
  if (from == std::string::npos) return {};
  const auto to = text.find(end, from + begin.size());
  if (to == std::string::npos) return {};
  return text.substr(from + begin.size(), to - from - begin.size());
}

// Runs readme::main() with std::cout captured.
std::string run_readme_main(int& exit_code) {
  std::ostringstream captured;
  std::streambuf* const original = std::cout.rdbuf(captured.rdbuf());
  try {
    exit_code = readme::main();
  } catch (...) {
    std::cout.rdbuf(original);
    throw;
  }
  std::cout.rdbuf(original);
  return captured.str();
}

}  // namespace

TEST_CASE("the README example opens the breaker after three failures, as its text says",
          "[readme][docs]") {
  int exit_code = -1;
  const std::string output = run_readme_main(exit_code);
  CHECK(exit_code == 0);
  CHECK(output ==
        "call 1 failed: no answer to life\n"
        "call 2 failed: no answer to life\n"
        "call 3 failed: no answer to life\n"
        "call 4 rejected: circuit breaker 'answers': call rejected: circuit breaker is open\n"
        "breaker is open\n");
}

TEST_CASE("the README example is the code this test compiles", "[readme][docs]") {
  const std::string readme = read_file(source_dir() + "/../../README.md");
  REQUIRE_FALSE(readme.empty());
  const std::string block = between(readme, "## Example\n\n```cpp\n", "\n```\n");
  REQUIRE_FALSE(block.empty());
  const std::string self = read_file(__FILE__);
  REQUIRE_FALSE(self.empty());

  // Split the block into its #include lines and the code after them.
  std::istringstream lines(block);
  std::string line;
  std::string code;
  bool in_code = false;
  while (std::getline(lines, line)) {
    if (!in_code && (line.empty() || line.rfind("#include", 0) == 0)) {
      if (!line.empty()) {
        CAPTURE(line);
        CHECK(self.find("\n" + line + "\n") != std::string::npos);
      }
      continue;
    }
    in_code = true;
    code += line;
    code += '\n';
  }
  const std::string compiled = between(self, "// README BEGIN\n", "// README END\n");
  CHECK(compiled == code);
}
