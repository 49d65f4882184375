// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::http::Client`: an asynchronous HTTP client for Asio coroutines on
/// libcurl's multi-socket interface, driven by Asio (one `CURLM` handle per
/// client, one `asio::posix::stream_descriptor` per socket curl reports, one
/// steady timer for curl's timeouts, all on a strand the client owns).
///
/// ```cpp
/// breaker::http::Client client(io.get_executor());
/// breaker::http::Response r = co_await client.get("http://127.0.0.1:8080/status");
/// ```
///
/// No thread per request and nothing that blocks the io thread: name lookups
/// use curl's threaded resolver (Debian's libcurl has it). Besides HTTP, the
/// generic `perform(CURL*)` runs any easy handle (SMTP, ...) on the same
/// multi handle.

#include "breaker/http/detail/completion.hpp"
#include "breaker/http/detail/protocol.hpp"
#include "breaker/http/error.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace breaker::http {

/// Settings of a `Client`, applied to every request it makes.
struct ClientOptions {
  /// Timeout of a whole request (connect, send, receive) when the request
  /// sets none (`Request::timeout == 0`). 0: no timeout. Must not be negative.
  std::chrono::milliseconds default_timeout{30'000};
  /// Timeout of the connection phase (DNS, TCP connect, TLS handshake).
  /// 0: curl's default (300 s). Must not be negative.
  std::chrono::milliseconds connect_timeout{10'000};
  /// The `User-Agent` header sent unless the request sets one. Empty: none.
  std::string user_agent = "breaker-http/0.1";
  /// Largest response body accepted; a larger one fails the request with
  /// `CURLE_FILESIZE_EXCEEDED` (announced size) or `CURLE_WRITE_ERROR`
  /// (streamed). 0: no limit.
  std::size_t max_response_bytes = std::size_t{64} << 20;
  /// Whether 3xx redirects are followed (at most `max_redirects`).
  bool follow_redirects = false;
  /// Redirects followed at most when `follow_redirects` is on.
  long max_redirects = 5;
  /// `CircuitBreakerHttpClient` only (a plain `Client` ignores it): when
  /// positive, a 429 or 503 response with a valid `Retry-After` (delta-seconds
  /// or an HTTP-date, see `breaker::http::retry_after`) opens the breaker for
  /// that long, capped at this (`CircuitBreaker::open_for`). 0: off, the
  /// default (the header is then only reported to an `on_retry_after` hook).
  /// Must not be negative.
  std::chrono::milliseconds retry_after_open_max{0};
};

/// An asynchronous HTTP client.
///
/// Thread safety: every member function may be called concurrently from any
/// thread, including on a multi-threaded `io_context`: the client serialises
/// its curl calls and socket waits on a strand it owns. Completions are
/// delivered through the awaiting coroutine's (or handler's) executor.
///
/// Lifetime: destroying the client aborts the transfers in flight (they
/// complete with `asio::error::operation_aborted`, once the client's
/// executor runs); its executor's execution context must outlive it and the
/// transfers it started.
class Client {
 public:
  using executor_type = asio::any_io_executor;

  /// A client whose socket waits and timer run on a strand of `executor`.
  /// \throws std::system_error (curl category) when curl cannot be
  ///   initialised; std::invalid_argument for negative option durations.
  explicit Client(asio::any_io_executor executor, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// The executor given to the constructor.
  executor_type get_executor() const noexcept { return executor_; }
  /// The options given to the constructor.
  const ClientOptions& options() const noexcept { return options_; }

  /// Sends `request` and returns the response, whatever its status (a 503 is
  /// a `Response`, not an exception).
  ///
  /// \throws std::invalid_argument when the request is malformed (empty URL,
  ///   URL or header with CR/LF, a header name that is not an HTTP token, a
  ///   HEAD with a body, a negative timeout): nothing is sent.
  /// \throws std::system_error with `curl_category()` for a transport error:
  ///   connection refused (`CURLE_COULDNT_CONNECT`), timeout
  ///   (`CURLE_OPERATION_TIMEDOUT`), connection closed early, ...; `what()`
  ///   carries curl's detail message.
  /// \throws std::system_error(asio::error::operation_aborted) when cancelled.
  /// Cancellation: a cancellation of the awaiting coroutine (any type:
  ///   terminal, partial, total) removes the transfer from curl and frees it
  ///   before the coroutine resumes.
  /// Exception safety: strong (the client is unchanged after an exception).
  asio::awaitable<Response> request(Request request);

  /// `request` with method GET (`headers` optional).
  asio::awaitable<Response> get(std::string url, Headers headers = {});
  /// `request` with method POST and `body`.
  asio::awaitable<Response> post(std::string url, std::string body, Headers headers = {});
  /// `request` with method PUT and `body`.
  asio::awaitable<Response> put(std::string url, std::string body, Headers headers = {});
  /// `request` with method PATCH and `body`.
  asio::awaitable<Response> patch(std::string url, std::string body, Headers headers = {});
  /// `request` with method DELETE (named `del`: `delete` is a keyword).
  asio::awaitable<Response> del(std::string url, Headers headers = {});
  /// `request` with method HEAD (the response has no body).
  asio::awaitable<Response> head(std::string url, Headers headers = {});

  /// The generic primitive the HTTP methods are built on: runs the
  /// configured easy handle `easy` (any protocol curl speaks: HTTP, SMTP, ...)
  /// on this client's multi handle and completes with its result,
  /// `void(std::error_code)`: `CURLcode` in `curl_category()`, a `CURLMcode`
  /// in `curl_multi_category()` when curl refused to add the handle (e.g. the
  /// same handle is already running), or `asio::error::operation_aborted`
  /// when cancelled or when the client was destroyed.
  ///
  /// The caller owns `easy`, sets all its options (the client sets none) and
  /// reads its results (`CURLINFO_RESPONSE_CODE`, ...) afterwards; `easy` must
  /// stay valid and unused until the completion. Set `CURLOPT_NOSIGNAL` on it.
  /// Cancellation: through the handler's cancellation slot (any type); the
  /// transfer is removed from the multi handle before the completion runs, so
  /// the caller may free `easy` right away.
  /// Thread safety: any thread. The completion runs on the handler's
  /// associated executor (the coroutine's for `use_awaitable`).
  template <class CompletionToken>
  auto async_perform(CURL* easy, CompletionToken&& token) {
    auto initiation = [driver = driver_](auto handler, CURL* handle) {
      using Handler = decltype(handler);
      auto slot = asio::get_associated_cancellation_slot(handler);
      const std::uint64_t id = driver->next_id();
      if (slot.is_connected()) {
        slot.template emplace<detail::CancelTransfer>(
            std::weak_ptr<detail::MultiDriver>(driver), handle, id);
      }
      driver->start(handle, id,
                    std::make_unique<detail::CompletionImpl<Handler>>(std::move(handler), slot,
                                                                      driver->executor()));
    };
    return asio::async_initiate<CompletionToken, void(std::error_code)>(initiation, token, easy);
  }

  /// `co_await client.perform(easy)`: `async_perform` for coroutines. Returns
  /// the result as a code (never throws for the transfer's result; see
  /// `async_perform` for the codes, ownership and cancellation). Used by the
  /// notify component for SMTP.
  asio::awaitable<std::error_code> perform(CURL* easy);

  /// Transfers currently registered with the multi handle (started and not
  /// yet completed, failed or cancelled). Read from any thread; for tests and
  /// monitoring.
  std::size_t transfers_in_flight() const noexcept;

 private:
  asio::any_io_executor executor_;
  ClientOptions options_;
  std::shared_ptr<detail::MultiDriver> driver_;
};

}  // namespace breaker::http
