// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A scriptable HTTP server for tests: restinio on 127.0.0.1, an ephemeral
/// port, its own io_context and two threads. It replies with any status,
/// headers (e.g. `Retry-After`) and body, after a delay (to outlast a client's
/// timeout), or announces a body it never finishes and closes the connection
/// (a transport error on the client); it records every request.
/// Also `refusing_port()`: a loopback port nobody listens on.
///
/// The header does not include restinio (its compile definitions stay in
/// http_test_server.cpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace breaker::test {

/// What the server answers.
struct ScriptedReply {
  int status = 200;
  std::string body = "ok";
  std::vector<std::pair<std::string, std::string>> headers;
  /// Reply only after this long (a timer on the server's io_context; the
  /// server keeps serving other requests meanwhile).
  std::chrono::milliseconds delay{0};
  /// Send `Connection: close` and close after the reply.
  bool close_connection = false;
  /// Announce a body longer than `body`, send `body`, close the connection:
  /// the client sees a transport error (curl: CURLE_PARTIAL_FILE).
  bool close_early = false;
};

/// A request as the server received it.
struct RecordedRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, e.g. "/items?id=1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The first header named `name` (ASCII case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
};

/// The server. Starts in the constructor (returns once it listens), stops in
/// the destructor. All members are thread-safe.
class HttpTestServer {
 public:
  HttpTestServer();
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  /// The bound port (127.0.0.1).
  std::uint16_t port() const noexcept;
  /// "http://127.0.0.1:<port><path>".
  std::string url(std::string_view path = "/") const;

  /// The reply for paths without a route and when the queue is empty
  /// (initially 200 "ok").
  void set_default(ScriptedReply reply);
  /// The reply for requests whose path (target without query) is `path`.
  void route(std::string path, ScriptedReply reply);
  /// One-shot replies, used in order before routes and the default.
  void enqueue(ScriptedReply reply);

  /// Every request received so far, in arrival order.
  std::vector<RecordedRequest> requests() const;
  /// How many requests were received.
  std::size_t request_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A loopback port on which nothing listens (bound to port 0, then closed):
/// connecting to it is refused.
std::uint16_t refusing_port();

}  // namespace breaker::test
