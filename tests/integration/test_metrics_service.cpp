// SPDX-License-Identifier: Apache-2.0
//
// Scrape test of examples/02_metrics_service (and that example's CTest test): starts the example
// on a free loopback port, scrapes /metrics, /health and /breakers over real HTTP, and checks the
// seven circuit_breaker_* families and the health JSON. The example exits by itself after the
// requests made here (--exit-after-requests); it is killed if it does not.
//
// BREAKER_METRICS_SERVICE_PATH is the example's executable (set by tests/CMakeLists.txt).

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;

// The example, running; killed and reaped on destruction if it has not exited.
class ServiceProcess {
 public:
  explicit ServiceProcess(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    stdout_fd_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int error = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (error != 0) throw std::system_error(error, std::generic_category(), "posix_spawn");
  }

  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  ~ServiceProcess() {
    if (pid_ > 0 && !exit_status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_fd_);
  }

  // The next line of the example's stdout, or nullopt after `timeout` or at EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const auto end = buffer_.find('\n'); end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd fd{stdout_fd_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[512];
      const ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // The exit status once the process has exited within `timeout`.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exit_status_) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exit_status_ = status;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(10ms);  // polling for exit, not waiting out a breaker
    }
    return exit_status_;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_status_;
};

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

// GET over HTTP/1.0 (the server closes the connection after the response).
HttpResponse http_get(unsigned short port, std::string_view path) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  const std::string request = "GET " + std::string(path) + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  std::string raw;
  std::error_code ec;
  asio::read(socket, asio::dynamic_buffer(raw), ec);
  if (ec && ec != asio::error::eof) throw std::system_error(ec, "reading the response");

  HttpResponse response;
  const auto header_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || header_end == std::string::npos) {
    throw std::runtime_error("not an HTTP response: " + raw.substr(0, 80));
  }
  response.status = std::stoi(raw.substr(raw.find(' ') + 1, 3));
  response.headers = raw.substr(0, header_end);
  response.body = raw.substr(header_end + 4);
  return response;
}

bool contains_line(const std::string& text, std::string_view line) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (std::string_view(text).substr(start, end - start) == line) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

TEST_CASE("the metrics service serves /metrics and /health over HTTP on loopback",
          "[integration][example][prometheus]") {
  ServiceProcess service(
      {BREAKER_METRICS_SERVICE_PATH, "--port", "0", "--exit-after-requests", "4"});

  // The example prints what it does, then the address it listens on.
  std::optional<unsigned short> port;
  while (!port) {
    const auto line = service.read_line(30s);
    REQUIRE(line);
    constexpr std::string_view marker = "listening on http://127.0.0.1:";
    if (line->rfind(marker, 0) == 0)
      port = static_cast<unsigned short>(std::stoi(line->substr(marker.size())));
  }
  REQUIRE(*port != 0);

  {
    const HttpResponse metrics = http_get(*port, "/metrics");
    CHECK(metrics.status == 200);
    const std::string& text = metrics.body;
    for (const char* type_line : {
             "# TYPE circuit_breaker_state gauge",
             "# TYPE circuit_breaker_calls_total counter",
             "# TYPE circuit_breaker_successful_calls_total counter",
             "# TYPE circuit_breaker_failed_calls_total counter",
             "# TYPE circuit_breaker_rejected_calls_total counter",
             "# TYPE circuit_breaker_call_duration_seconds histogram",
             "# TYPE circuit_breaker_state_transitions_total counter",
         }) {
      CAPTURE(type_line);
      CHECK(contains_line(text, type_line));
    }
    for (
        const char* sample : {
            R"(circuit_breaker_state{name="payments-api"} 1)",
            R"(circuit_breaker_state{name="orders-db"} 0)",
            R"(circuit_breaker_state{name="llm \"summarizer\""} 0)",
            R"(circuit_breaker_calls_total{name="payments-api",status="allowed"} 5)",
            R"(circuit_breaker_calls_total{name="payments-api",status="rejected"} 2)",
            R"(circuit_breaker_successful_calls_total{name="payments-api"} 2)",
            R"(circuit_breaker_failed_calls_total{name="payments-api"} 3)",
            R"(circuit_breaker_rejected_calls_total{name="payments-api"} 2)",
            R"(circuit_breaker_call_duration_seconds_count{name="payments-api"} 5)",
            R"(circuit_breaker_call_duration_seconds_bucket{name="payments-api",le="+Inf"} 5)",
            R"(circuit_breaker_state_transitions_total{from_state="closed",name="payments-api",to_state="open"} 1)",
            R"(circuit_breaker_state_transitions_total{from_state="open",name="payments-api",to_state="half-open"} 0)",
        }) {
      CAPTURE(sample);
      CHECK(contains_line(text, sample));
    }

    const HttpResponse health = http_get(*port, "/health");
    CHECK(health.status == 200);
    CHECK_THAT(health.headers, Catch::Contains("Content-Type: application/json"));
    CHECK(
        health.body ==
        R"({"status":"degraded","circuit_breakers":{"total":3,"closed":2,"open":1,"half_open":0}})");

    const HttpResponse breakers = http_get(*port, "/breakers");
    CHECK(breakers.status == 200);
    CHECK_THAT(breakers.body, Catch::StartsWith(R"({"llm \"summarizer\"":{"state":"closed",)"));
    CHECK_THAT(breakers.body, Catch::Contains(R"("payments-api":{"state":"open",)"));

    CHECK(http_get(*port, "/no-such-page").status == 404);

    // Four requests answered: the service stops by itself and exits 0.
    const auto status = service.wait_for_exit(30s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
  }
}
