// SPDX-License-Identifier: Apache-2.0
// Tests of tests/support/servers/process.hpp, the helpers every server-starting test relies on.

#include "servers/process.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

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
