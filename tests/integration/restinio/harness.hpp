// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Test harness of the restinio integration tests: a restinio server with an
/// express router on 127.0.0.1, port 0, run on its own thread; and a blocking
/// libcurl easy client (test side only).

#include <restinio/all.hpp>

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace breaker::test {

using Router = ::restinio::router::express_router_t<>;
using ServerTraits = ::restinio::traits_t<::restinio::asio_timer_manager_t,
                                          ::restinio::null_logger_t, Router>;

/// A restinio server on 127.0.0.1 (port picked by the system) serving `router`
/// on background threads until destroyed.
class LoopbackServer {
 public:
  /// \param threads how many threads run the server's io_context.
  explicit LoopbackServer(std::unique_ptr<Router> router, unsigned threads = 1)
      : server_(::restinio::external_io_context(ctx_), [&](auto& settings) {
          settings.address("127.0.0.1")
              .port(0)
              .request_handler(std::move(router))
              .acceptor_post_bind_hook([this](asio::ip::tcp::acceptor& acceptor) {
                port_ = acceptor.local_endpoint().port();
              });
        }) {
    std::promise<void> opened;
    auto ready = opened.get_future();
    asio::post(ctx_, [&] {
      try {
        server_.open_sync();
        opened.set_value();
      } catch (...) {
        opened.set_exception(std::current_exception());
      }
    });
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { ctx_.run(); });
    try {
      ready.get();
    } catch (...) {
      ctx_.stop();
      for (auto& t : threads_) t.join();
      throw;
    }
  }

  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  ~LoopbackServer() {
    asio::post(ctx_, [this] {
      server_.close_sync();
      ctx_.stop();
    });
    for (auto& t : threads_) t.join();
  }

  std::uint16_t port() const noexcept { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  asio::io_context& io_context() noexcept { return ctx_; }

 private:
  asio::io_context ctx_;
  ::restinio::http_server_t<ServerTraits> server_;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
};

/// libcurl's global state, set up before any thread sends a request.
inline const bool curl_initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;

/// What the client received.
struct Reply {
  long status = 0;
  std::string body;
  std::optional<std::string> retry_after;
  std::optional<std::string> content_type;
  std::optional<std::string> allow;
};

/// One blocking request with libcurl easy (a new connection each time).
/// \throws std::runtime_error on a transport error (e.g. the server closed the
///   connection without replying), with curl's message.
inline Reply request(const std::string& url, const char* method = "GET") {
  if (!curl_initialised) throw std::runtime_error("curl_global_init failed");
  CURL* easy = curl_easy_init();
  if (easy == nullptr) throw std::runtime_error("curl_easy_init failed");
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> guard(easy, &curl_easy_cleanup);
  Reply reply;
  const auto write = +[](char* data, std::size_t size, std::size_t count, void* out) -> std::size_t {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  };
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  const CURLcode code = curl_easy_perform(easy);
  if (code != CURLE_OK) {
    throw std::runtime_error(std::string("curl: ") + curl_easy_strerror(code));
  }
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
  const auto header = [&](const char* name) -> std::optional<std::string> {
    curl_header* h = nullptr;
    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK) return std::nullopt;
    return std::string(h->value);
  };
  reply.retry_after = header("Retry-After");
  reply.content_type = header("Content-Type");
  reply.allow = header("Allow");
  return reply;
}

}  // namespace breaker::test
