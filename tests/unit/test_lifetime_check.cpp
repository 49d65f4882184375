// SPDX-License-Identifier: Apache-2.0
// Issue 8, point 13: destroying a breaker while calls are in flight is caught by a check (on in
// debug builds; forced on here, in every build type, for a clock type only this file uses, so no
// other translation unit instantiates the same breaker differently).
#define BREAKER_CHECK_CALLS_IN_FLIGHT 1
#include "breaker/circuit_breaker.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>

namespace {

/// A clock of this file's own (see the comment at the top).
struct LifetimeClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<LifetimeClock, duration>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return time_point{}; }
};

using Breaker = breaker::CircuitBreaker<LifetimeClock>;

struct ChildResult {
  int status = 0;
  std::string stderr_text;
};

/// Runs `body` in a child process and collects its exit status and stderr.
template <class Body>
ChildResult in_child(Body body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child must die as a user's program would: without Catch2's signal handlers, and
    // without Catch2's reporter writing to the parent's stdout.
    std::signal(SIGABRT, SIG_DFL);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    body();
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildResult result;
  char buffer[512];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) result.stderr_text.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  REQUIRE(::waitpid(pid, &result.status, 0) == pid);
  return result;
}

}  // namespace

TEST_CASE("destroying a breaker with a permit in flight aborts with a message naming it",
          "[breaker][lifetime][issue-8]") {
  const ChildResult r = in_child([] {
    auto* cb = new Breaker("orders-db");
    auto* permit = new Breaker::Permit(cb->try_acquire());  // never recorded, never destroyed
    (void)permit;
    delete cb;
  });
  CHECK(WIFSIGNALED(r.status));
  if (WIFSIGNALED(r.status)) CHECK(WTERMSIG(r.status) == SIGABRT);
  CHECK_THAT(r.stderr_text, Catch::Contains("\"orders-db\" destroyed with 1 call(s) in flight"));
  CHECK_THAT(r.stderr_text, Catch::Contains("must outlive"));
}

TEST_CASE("destroying a breaker after its calls finished is fine",
          "[breaker][lifetime][issue-8]") {
  const ChildResult r = in_child([] {
    auto cb = std::make_unique<Breaker>("orders-db");
    cb->try_acquire().record_success();
    { auto p = cb->try_acquire(); }  // ignored on destruction
    cb->execute([] { return 1; });
    cb->try_acquire().record_failure();
    cb.reset();
  });
  CHECK(WIFEXITED(r.status));
  if (WIFEXITED(r.status)) CHECK(WEXITSTATUS(r.status) == 0);
  CHECK(r.stderr_text.empty());
}
