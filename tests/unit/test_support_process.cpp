// SPDX-License-Identifier: Apache-2.0
// Tests of tests/support/servers/process.hpp, the helpers every server-starting test relies on.

#include "servers/process.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("a child process reports its exit code and its output", "[support][process]") {
  std::string output;
  CHECK(breaker::test::run_command({"sh", "-c", "echo hello; exit 3"}, &output) == 3);
  CHECK(output == "hello\n");
  CHECK(breaker::test::run_command({"sh", "-c", "echo $BREAKER_X"}, &output, 10s,
                                   {"BREAKER_X=42"}) == 0);
  CHECK(output == "42\n");
}

TEST_CASE("stop() ends a running child with its signal and reaps it", "[support][process]") {
  breaker::test::ChildProcess child({"sleep", "30"});
  CHECK(child.running());
  CHECK(child.stop(SIGTERM) == 128 + SIGTERM);
  CHECK_FALSE(child.running());
}

TEST_CASE("a signal sent before the child has exec'd kills it with that signal",
          "[support][process]") {
  // stop() right after the constructor often reaches the child between fork and exec; the
  // test framework's handlers must not run there (the child must die of the signal).
  for (int i = 0; i < 20; ++i) {
    breaker::test::ChildProcess child({"sleep", "30"});
    REQUIRE(child.stop(SIGTERM) == 128 + SIGTERM);
  }
}

TEST_CASE("a missing executable is an error that names it", "[support][process]") {
  CHECK_THROWS_WITH(breaker::test::ChildProcess({"breaker-no-such-server"}),
                    Catch::Contains("breaker-no-such-server"));
  CHECK_THROWS_WITH(breaker::test::find_executable("breaker-no-such-server", {}, "pkg"),
                    Catch::Contains("install the Debian package pkg"));
}

TEST_CASE("wait_for_tcp sees a listener and fails on a port nobody listens on",
          "[support][process]") {
  const unsigned short port = breaker::test::free_port();
  CHECK(port != 0);
  CHECK_FALSE(breaker::test::tcp_port_open(port));
  CHECK_THROWS_WITH(breaker::test::wait_for_tcp(port, 50ms), Catch::Contains("nothing listens"));
  breaker::test::ChildProcess server(
      {"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", std::to_string(port)},
      {.env = {}, .stdout_path = "/dev/null", .stderr_path = "/dev/null", .working_directory = "/"});
  breaker::test::wait_for_tcp(port, 20s, &server);
  CHECK(breaker::test::tcp_port_open(port));
  server.stop();
}

TEST_CASE("a TempDir is removed with its contents", "[support][process]") {
  std::filesystem::path path;
  {
    breaker::test::TempDir dir("breaker-support", 0755);
    path = dir.path();
    std::ofstream(dir.file("a.txt")) << "x";
    CHECK(breaker::test::read_file(dir.file("a.txt")) == "x");
    CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::others_exec) !=
          std::filesystem::perms::none);
  }
  CHECK_FALSE(std::filesystem::exists(path));
}

namespace {
// Whether `pid` has ended: gone, or a zombie nobody reaped yet (a container's init may not).
bool process_ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}
}  // namespace

TEST_CASE("a server child dies with the test that started it, even when no destructor runs",
          "[support][process]") {
  // The middle process stands for a test killed by ctest's time-out: it starts a long-running
  // child, tells us its pid, and dies by SIGKILL (no destructor, no stop()).
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t middle = ::fork();
  REQUIRE(middle >= 0);
  if (middle == 0) {
    ::close(fds[0]);
    breaker::test::ChildProcess child({"sleep", "60"});
    const pid_t pid = child.pid();
    (void)!::write(fds[1], &pid, sizeof pid);
    ::raise(SIGKILL);
  }
  ::close(fds[1]);
  pid_t grandchild = -1;
  REQUIRE(::read(fds[0], &grandchild, sizeof grandchild) == sizeof grandchild);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(middle, &status, 0) == middle);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(grandchild > 0);
  // Bounded by iterations (500 x 10 ms); the kernel kills it at once.
  bool ended = false;
  for (int i = 0; i < 500 && !ended; ++i) {
    ended = process_ended(grandchild);
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!ended) ::kill(grandchild, SIGKILL);
  CHECK(ended);
}
