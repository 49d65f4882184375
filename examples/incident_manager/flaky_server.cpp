// SPDX-License-Identifier: Apache-2.0
#include "flaky_server.hpp"

#include <restinio/all.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace incident_manager {

struct FlakyServer::Impl {
  using Traits = restinio::default_traits_t;
  using Server = restinio::running_server_handle_t<Traits>;

  std::string name;
  Schedule schedule;
  std::chrono::steady_clock::time_point start;
  Handler handler;
  std::chrono::milliseconds slow_delay;

  asio::io_context io;
  std::atomic<std::uint16_t> port{0};  // written by restinio's thread in the bind hook
  Server server;  // empty while down
  std::atomic<std::uint64_t> served{0};
  std::atomic<std::uint64_t> errors{0};

  mutable std::mutex mutex;
  std::vector<SeenRequest> accepted;

  // Switches the listener off and on as the schedule says.
  std::mutex watch_mutex;
  std::condition_variable watch_wake;
  bool stopping = false;
  std::thread watcher;

  Impl(std::string n, Schedule s, std::chrono::steady_clock::time_point t0, Handler h,
       std::chrono::milliseconds slow)
      : name(std::move(n)), schedule(std::move(s)), start(t0), handler(std::move(h)),
        slow_delay(slow) {
    open();
    if (port == 0) throw std::runtime_error(name + ": restinio did not report its port");
    watcher = std::thread([this] { watch(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(watch_mutex);
      stopping = true;
    }
    watch_wake.notify_all();
    watcher.join();
    close();
  }

  FailureMode mode() const {
    return schedule.mode_at(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start));
  }

  void open() {
    auto settings = restinio::server_settings_t<Traits>{}
                        .address("127.0.0.1")
                        .port(port.load())  // 0 the first time: a free port, kept for reopening
                        .handle_request_timeout(std::chrono::seconds(30))
                        .acceptor_post_bind_hook([this](asio::ip::tcp::acceptor& acceptor) {
                          port.store(acceptor.local_endpoint().port());
                        })
                        .request_handler([this](restinio::request_handle_t req) {
                          return handle(std::move(req));
                        });
    server = restinio::run_async(restinio::external_io_context(io), std::move(settings), 1);
  }

  void close() {
    if (!server) return;
    server->stop();
    server->wait();
    server.reset();
    io.restart();
  }

  void watch() {
    std::unique_lock lock(watch_mutex);
    while (!stopping) {
      const bool down = mode() == FailureMode::down;
      lock.unlock();
      if (down && server) close();
      if (!down && !server) open();
      lock.lock();
      watch_wake.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  static void send(const restinio::request_handle_t& req, const Reply& reply) {
    req->create_response(restinio::http_status_line_t{
                             restinio::http_status_code_t{static_cast<std::uint16_t>(reply.status)},
                             reply.status < 400 ? "OK" : "Error"})
        .append_header(restinio::http_field::content_type, reply.content_type)
        .set_body(reply.body)
        .done();
  }

  restinio::request_handling_status_t handle(restinio::request_handle_t req) {
    SeenRequest seen{std::string{req->header().method().c_str()},
                     std::string{req->header().request_target()}, req->body()};
    const std::uint64_t n = served.fetch_add(1);
    const FailureMode m = mode();
    if (m == FailureMode::erroring || (m == FailureMode::recovering && n % 2 == 0)) {
      errors.fetch_add(1);
      send(req, Reply{503, R"({"error":")" + name + R"( is failing"})"});
      return restinio::request_accepted();
    }
    Reply reply = handler(seen);
    if (reply.status >= 200 && reply.status < 300) {
      std::lock_guard lock(mutex);
      accepted.push_back(seen);
    } else {
      errors.fetch_add(1);
    }
    if (m == FailureMode::slow) {
      auto timer = std::make_shared<asio::steady_timer>(io, slow_delay);
      timer->async_wait([timer, req, reply](const asio::error_code& ec) {
        if (!ec) send(req, reply);
      });
    } else {
      send(req, reply);
    }
    return restinio::request_accepted();
  }
};

FlakyServer::FlakyServer(std::string name, Schedule schedule,
                         std::chrono::steady_clock::time_point start, Handler handler,
                         std::chrono::milliseconds slow_delay)
    : impl_(std::make_unique<Impl>(std::move(name), std::move(schedule), start, std::move(handler),
                                   slow_delay)) {}

FlakyServer::~FlakyServer() = default;

const std::string& FlakyServer::name() const noexcept { return impl_->name; }
std::uint16_t FlakyServer::port() const noexcept { return impl_->port.load(); }
std::string FlakyServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port.load()) + path;
}
FailureMode FlakyServer::mode() const { return impl_->mode(); }
std::vector<SeenRequest> FlakyServer::accepted() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->accepted;
}
std::uint64_t FlakyServer::errors() const { return impl_->errors.load(); }

}  // namespace incident_manager
