// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `CircuitBreakerHttpClient`: a `breaker::http::Client` whose every request
/// (GET, POST, PUT, PATCH, DELETE, HEAD and `request()`) goes through one
/// circuit breaker.
///
/// ```cpp
/// breaker::http::CircuitBreakerHttpClient client(io.get_executor(), "external-api",
///                                                breaker::CircuitBreakerConfig::for_http_api());
/// breaker::http::Response r = co_await client.get("http://127.0.0.1:8080/data");
/// ```
///
/// Default policy (`HttpOutcomePolicy`): transport errors and timeouts
/// (exceptions), 5xx and 429 responses are failures; every other response,
/// 4xx included, is a success (the server answered); a cancellation is
/// ignored. A failed response is still returned to the caller.

#include "breaker/circuit_breaker.hpp"
#include "breaker/config.hpp"
#include "breaker/error.hpp"
#include "breaker/http/client.hpp"
#include "breaker/http/message.hpp"
#include "breaker/http_status.hpp"
#include "breaker/outcome.hpp"
#include "breaker/registry.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/error.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace breaker::http {

/// The default outcome policy of `CircuitBreakerHttpClient`: a response is
/// classified by `breaker::classify_http_status` (5xx and 429 failures, other
/// statuses successes); an exception (a transport error, a timeout, a
/// malformed request) is a failure, except a cancellation
/// (`asio::error::operation_aborted`), which is ignored.
struct HttpOutcomePolicy {
  Outcome operator()(const Response& response) const noexcept {
    return classify_http_status(response.status);
  }
  Outcome operator()(const std::exception_ptr& error) const noexcept {
    try {
      std::rethrow_exception(error);
    } catch (const std::system_error& e) {
      if (e.code() == asio::error::operation_aborted) return Outcome::ignored;
    } catch (...) {
    }
    return Outcome::failure;
  }
};

/// The delay a `Retry-After` header of `response` asks for, measured from
/// `now`: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00
/// GMT", parsed by curl's `curl_getdate`; a date in the past gives 0 s).
/// Nothing when there is no such header or it is neither form (e.g. "-1",
/// "soon").
/// Thread safety: a pure function.
inline std::optional<std::chrono::seconds> retry_after(const Response& response,
                                                       std::chrono::system_clock::time_point now) {
  const std::optional<std::string_view> value = response.header("Retry-After");
  if (!value) return std::nullopt;
  std::string_view v = *value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (v.front() >= '0' && v.front() <= '9') {
    long long seconds = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc{} || end != v.data() + v.size()) return std::nullopt;
    return std::chrono::seconds{seconds};
  }
  const std::string text{v};
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  const auto delay = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::from_time_t(when) - now);
  return delay.count() > 0 ? delay : std::chrono::seconds{0};
}

/// An HTTP client protected by one circuit breaker.
///
/// \tparam Policy an outcome policy: a copyable object with either or both of
///   `Outcome operator()(const Response&) const` (without it, every response
///   is a success) and `Outcome operator()(const std::exception_ptr&) const`
///   (without it, `HttpOutcomePolicy`'s exception rules). Default
///   `HttpOutcomePolicy`. E.g. to count 404 as a failure too:
///   `struct P { Outcome operator()(const Response& r) const { return r.status == 404 ?
///   Outcome::failure : HttpOutcomePolicy{}(r); } };`
/// \tparam Clock the breaker's clock (`breaker::testing::ManualClock` in tests).
///
/// Every request method: rejected while the breaker is open
/// (`CircuitBreakerError` with `errc::open`, nothing sent); otherwise sends
/// the request, records the policy's outcome and returns the response (also
/// one classified as a failure) or rethrows the exception unchanged. Bound
/// requests with `Request::timeout` or `ClientOptions::default_timeout` (30 s):
/// curl's timeout is a transport error, so a failure. The breaker's
/// `call_timeout` applies too (each request runs through
/// `CircuitBreaker::call(op, policy)`): a request still running after it is
/// cancelled (the transfer removed) and the call throws
/// `CircuitBreakerError(errc::timeout)`, recorded as `CircuitBreaker::call`
/// records timeouts.
///
/// Retry-After (opt-in): with `ClientOptions::retry_after_open_max` > 0, a
/// 429 or 503 response carrying a valid `Retry-After` of more than 0 s opens
/// the breaker for that delay, capped at `retry_after_open_max`
/// (`CircuitBreaker::open_for`: not jittered, no backoff; a forced-open
/// breaker stays forced), after its outcome was recorded and before the
/// request returns; the response is still returned. Calls then fail fast
/// with `CircuitBreakerError(errc::open)` whose `retry_after()` is the time
/// left. A missing or invalid header (or another status) changes nothing.
/// Off by default: a server could otherwise hold every client's breaker
/// open for as long as it likes.
///
/// Retry-After hook: when a response classified as a failure carries a valid
/// `Retry-After`, the hook set by `on_retry_after` is called with the delay
/// (uncapped) and the response (on the awaiting coroutine's thread, before
/// the request returns; after the breaker was opened, when it was).
///
/// Thread safety: every member may be called concurrently from any thread
/// (the client and the breaker are thread-safe); `on_retry_after` must not
/// race with requests. Cancellation: through the awaiting coroutine's
/// cancellation slot; the transfer is removed and the call recorded as
/// ignored. Lifetime: the client must outlive its requests.
template <class Policy = HttpOutcomePolicy, class Clock = std::chrono::steady_clock>
class CircuitBreakerHttpClient {
 public:
  using breaker_type = CircuitBreaker<Clock>;
  using policy_type = Policy;
  /// Called with the delay a `Retry-After` asks for and the failed response.
  using RetryAfterHook = std::function<void(std::chrono::seconds, const Response&)>;

  /// A client whose breaker is `registry.get_or_create(name, config)` (so it
  /// shows in the registry's health and metrics).
  /// \throws CircuitBreakerError (`invalid_config`, `already_exists`) as
  ///   `get_or_create` does; what `Client`'s constructor throws.
  CircuitBreakerHttpClient(asio::any_io_executor executor, std::string_view name,
                           const CircuitBreakerConfig& config, BasicRegistry<Clock>& registry,
                           Policy policy = {}, ClientOptions options = {})
      : CircuitBreakerHttpClient(std::move(executor), registry.get_or_create(name, config),
                                 std::move(policy), std::move(options)) {}

  /// The seed's form: the breaker is `global_registry().get_or_create(name,
  /// config)` (steady clock only).
  CircuitBreakerHttpClient(asio::any_io_executor executor, std::string_view name,
                           const CircuitBreakerConfig& config = CircuitBreakerConfig::for_http_api(),
                           Policy policy = {}, ClientOptions options = {})
    requires std::is_same_v<Clock, std::chrono::steady_clock>
      : CircuitBreakerHttpClient(std::move(executor), global_registry().get_or_create(name, config),
                                 std::move(policy), std::move(options)) {}

  /// A client around an existing breaker (which may be shared with other
  /// clients: they then open and close together).
  /// \throws std::invalid_argument when `breaker` is null.
  CircuitBreakerHttpClient(asio::any_io_executor executor, std::shared_ptr<breaker_type> breaker,
                           Policy policy = {}, ClientOptions options = {})
      : retry_after_open_max_(options.retry_after_open_max),
        client_(std::move(executor), std::move(options)),
        breaker_(std::move(breaker)),
        policy_(std::move(policy)) {
    if (!breaker_) throw std::invalid_argument("CircuitBreakerHttpClient: breaker is null");
    if (retry_after_open_max_.count() < 0) {
      throw std::invalid_argument(
          "CircuitBreakerHttpClient: ClientOptions::retry_after_open_max must not be negative");
    }
  }

  /// Sets (or, with an empty function, clears) the Retry-After hook.
  void on_retry_after(RetryAfterHook hook) { retry_after_hook_ = std::move(hook); }

  /// `Client::request` under the breaker (see the class comment).
  asio::awaitable<Response> request(Request request) {
    // Named first: g++ 12 destroys the captures of a lambda written inside a
    // co_await expression twice.
    auto op = [this, request = std::move(request)]() mutable -> asio::awaitable<Response> {
      return client_.request(std::move(request));
    };
    const Classifier classifier{this};
    Response response = co_await breaker_->call(std::move(op), classifier);
    open_for_retry_after(response);
    notify_retry_after(response);
    co_return response;
  }

  /// GET under the breaker.
  asio::awaitable<Response> get(std::string url, Headers headers = {}) {
    Request r{Method::get, std::move(url), std::move(headers), {}, {}};
    co_return co_await request(std::move(r));
  }
  /// POST under the breaker (the seed let POST bypass it; here it does not).
  asio::awaitable<Response> post(std::string url, std::string body, Headers headers = {}) {
    Request r{Method::post, std::move(url), std::move(headers), std::move(body), {}};
    co_return co_await request(std::move(r));
  }
  /// PUT under the breaker.
  asio::awaitable<Response> put(std::string url, std::string body, Headers headers = {}) {
    Request r{Method::put, std::move(url), std::move(headers), std::move(body), {}};
    co_return co_await request(std::move(r));
  }
  /// PATCH under the breaker.
  asio::awaitable<Response> patch(std::string url, std::string body, Headers headers = {}) {
    Request r{Method::patch, std::move(url), std::move(headers), std::move(body), {}};
    co_return co_await request(std::move(r));
  }
  /// DELETE under the breaker.
  asio::awaitable<Response> del(std::string url, Headers headers = {}) {
    Request r{Method::del, std::move(url), std::move(headers), {}, {}};
    co_return co_await request(std::move(r));
  }
  /// HEAD under the breaker.
  asio::awaitable<Response> head(std::string url, Headers headers = {}) {
    Request r{Method::head, std::move(url), std::move(headers), {}, {}};
    co_return co_await request(std::move(r));
  }

  /// The breaker (shared; never null).
  const std::shared_ptr<breaker_type>& breaker() const noexcept { return breaker_; }
  /// The underlying client (unprotected: requests made on it bypass the breaker).
  Client& client() noexcept { return client_; }
  /// The policy.
  const Policy& policy() const noexcept { return policy_; }

 private:
  Outcome classify_response(const Response& response) const {
    if constexpr (std::is_invocable_r_v<Outcome, const Policy&, const Response&>) {
      return policy_(response);
    } else {
      return Outcome::success;  // no value rule: a response is a success
    }
  }

  Outcome classify_error(const std::exception_ptr& error) const {
    if constexpr (std::is_invocable_r_v<Outcome, const Policy&, const std::exception_ptr&>) {
      return policy_(error);
    } else {
      return HttpOutcomePolicy{}(error);  // the default rules
    }
  }

  // The outcome policy handed to `CircuitBreaker::call`: `Policy`'s rules,
  // completed by this client's defaults (a response without a value rule is a
  // success; an exception without an exception rule follows HttpOutcomePolicy).
  struct Classifier {
    const CircuitBreakerHttpClient* self;
    Outcome operator()(const Response& response) const {
      return self->classify_response(response);
    }
    Outcome operator()(const std::exception_ptr& error) const {
      return self->classify_error(error);
    }
  };

  // The opt-in Retry-After rule (see the class comment).
  void open_for_retry_after(const Response& response) const {
    if (retry_after_open_max_.count() <= 0) return;
    if (response.status != 429 && response.status != 503) return;
    const std::optional<std::chrono::seconds> delay =
        retry_after(response, std::chrono::system_clock::now());
    if (!delay || delay->count() <= 0) return;
    const auto capped = std::min<std::chrono::milliseconds>(*delay, retry_after_open_max_);
    breaker_->open_for(std::chrono::ceil<typename breaker_type::duration>(capped));
  }

  void notify_retry_after(const Response& response) const {
    if (!retry_after_hook_) return;
    if (classify_response(response) != Outcome::failure) return;
    if (auto delay = retry_after(response, std::chrono::system_clock::now())) {
      retry_after_hook_(*delay, response);
    }
  }

  std::chrono::milliseconds retry_after_open_max_;
  Client client_;
  std::shared_ptr<breaker_type> breaker_;
  Policy policy_;
  RetryAfterHook retry_after_hook_;
};

/// Deduction guides: `CircuitBreakerHttpClient client(ex, "name", config);`
CircuitBreakerHttpClient(asio::any_io_executor, std::string_view)
    -> CircuitBreakerHttpClient<HttpOutcomePolicy, std::chrono::steady_clock>;
CircuitBreakerHttpClient(asio::any_io_executor, std::string_view, const CircuitBreakerConfig&)
    -> CircuitBreakerHttpClient<HttpOutcomePolicy, std::chrono::steady_clock>;

}  // namespace breaker::http
