// SPDX-License-Identifier: Apache-2.0

#include "servers/http_test_server.hpp"

#include <restinio/all.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <cctype>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace breaker::test {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequal(n, name)) return v;
  }
  return {};
}

struct HttpTestServer::Impl {
  using Traits = restinio::default_traits_t;
  using Server = restinio::running_server_handle_t<Traits>;

  asio::io_context io;
  std::uint16_t port = 0;

  mutable std::mutex mutex;
  ScriptedReply default_reply;
  std::map<std::string, ScriptedReply> routes;
  std::deque<ScriptedReply> queue;
  std::vector<RecordedRequest> recorded;

  Server server;  // last: stopped first

  ScriptedReply choose(const RecordedRequest& request) {
    std::lock_guard lock(mutex);
    recorded.push_back(request);
    if (!queue.empty()) {
      ScriptedReply reply = std::move(queue.front());
      queue.pop_front();
      return reply;
    }
    const std::string path = request.target.substr(0, request.target.find('?'));
    if (auto it = routes.find(path); it != routes.end()) return it->second;
    return default_reply;
  }

  static void send(const restinio::request_handle_t& req, const ScriptedReply& reply) {
    restinio::http_status_line_t status{
        restinio::http_status_code_t{static_cast<std::uint16_t>(reply.status)}, "Scripted"};
    const bool head = req->header().method() == restinio::http_method_head();
    if (reply.close_early) {
      auto response = req->create_response<restinio::user_controlled_output_t>(status);
      for (const auto& [name, value] : reply.headers) response.append_header(name, value);
      response.set_content_length(reply.body.size() + 1000);
      response.set_body(reply.body);
      response.connection_close();
      response.done();
      return;
    }
    auto response = req->create_response(status);
    for (const auto& [name, value] : reply.headers) response.append_header(name, value);
    if (!head) response.set_body(reply.body);
    if (reply.close_connection) response.connection_close();
    response.done();
  }

  restinio::request_handling_status_t handle(restinio::request_handle_t req) {
    RecordedRequest request;
    request.method = std::string{req->header().method().c_str()};
    request.target = std::string{req->header().request_target()};
    req->header().for_each_field([&request](const restinio::http_header_field_t& field) {
      request.headers.emplace_back(std::string{field.name()}, std::string{field.value()});
    });
    request.body = req->body();
    ScriptedReply reply = choose(request);
    if (reply.delay.count() > 0) {
      auto timer = std::make_shared<asio::steady_timer>(io, reply.delay);
      timer->async_wait([timer, req, reply](const asio::error_code& ec) {
        if (!ec) send(req, reply);
      });
    } else {
      send(req, reply);
    }
    return restinio::request_accepted();
  }

  Impl() {
    auto settings = restinio::server_settings_t<Traits>{}
                        .address("127.0.0.1")
                        .port(0)
                        .handle_request_timeout(std::chrono::seconds(60))
                        .acceptor_post_bind_hook([this](asio::ip::tcp::acceptor& acceptor) {
                          port = acceptor.local_endpoint().port();
                        })
                        .request_handler([this](restinio::request_handle_t req) {
                          return handle(std::move(req));
                        });
    server = restinio::run_async(restinio::external_io_context(io), std::move(settings), 2);
    if (port == 0) throw std::runtime_error("HttpTestServer: restinio did not report its port");
  }

  ~Impl() {
    if (server) {
      server->stop();
      server->wait();
    }
  }
};

HttpTestServer::HttpTestServer() : impl_(std::make_unique<Impl>()) {}
HttpTestServer::~HttpTestServer() = default;

std::uint16_t HttpTestServer::port() const noexcept { return impl_->port; }

std::string HttpTestServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + std::string{path};
}

void HttpTestServer::set_default(ScriptedReply reply) {
  std::lock_guard lock(impl_->mutex);
  impl_->default_reply = std::move(reply);
}

void HttpTestServer::route(std::string path, ScriptedReply reply) {
  std::lock_guard lock(impl_->mutex);
  impl_->routes[std::move(path)] = std::move(reply);
}

void HttpTestServer::enqueue(ScriptedReply reply) {
  std::lock_guard lock(impl_->mutex);
  impl_->queue.push_back(std::move(reply));
}

std::vector<RecordedRequest> HttpTestServer::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded;
}

std::size_t HttpTestServer::request_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded.size();
}

std::uint16_t refusing_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io);
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(endpoint.protocol());
  acceptor.bind(endpoint);
  const std::uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();  // never listened: connections to it are refused
  return port;
}

}  // namespace breaker::test
