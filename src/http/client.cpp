// SPDX-License-Identifier: Apache-2.0

#include "breaker/http/client.hpp"

#include "breaker/http/detail/protocol.hpp"
#include "breaker/http/error.hpp"
#include "multi_driver.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <curl/curl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>

namespace breaker::http {
namespace {

void global_init() {
  // Once per process, thread-safe (a function-local static). Debian's libcurl
  // is built "threadsafe", so this may race with other curl users.
  static const CURLcode result = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (result != CURLE_OK) {
    throw std::system_error(make_error_code(result), "curl_global_init failed");
  }
}

struct EasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// Where curl writes the body; refuses more than `limit` bytes (0: no limit).
struct BodySink {
  std::string body;
  std::size_t limit = 0;

  static std::size_t write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* sink = static_cast<BodySink*>(user);
    const std::size_t n = size * count;
    if (sink->limit != 0 && sink->body.size() + n > sink->limit) return 0;  // CURLE_WRITE_ERROR
    sink->body.append(data, n);
    return n;
  }
};

// curl_easy_setopt with a check: a failed option is a bug or an unsupported
// build; either way the request must not go out half-configured.
template <class T>
void set(CURL* easy, CURLoption option, T value) {
  const CURLcode rc = curl_easy_setopt(easy, option, value);
  if (rc != CURLE_OK) throw std::system_error(make_error_code(rc), "curl_easy_setopt failed");
}

SlistPtr header_list(const Headers& headers) {
  SlistPtr list;
  auto append = [&list](const std::string& line) {
    curl_slist* next = curl_slist_append(list.get(), line.c_str());
    if (next == nullptr) throw std::bad_alloc();
    (void)list.release();
    list.reset(next);
  };
  for (const Header& h : headers) {
    // "Name;" is curl's way to send a header with an empty value.
    append(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
  }
  // No "Expect: 100-continue" round trip before larger bodies.
  if (!find_header(headers, "Expect")) append("Expect:");
  return list;
}

Headers response_headers(CURL* easy) {
  Headers out;
  curl_header* prev = nullptr;
  // -1: the last request of the transfer (after redirects).
  while (curl_header* h = curl_easy_nextheader(easy, CURLH_HEADER, -1, prev)) {
    out.push_back(Header{h->name, h->value});
    prev = h;
  }
  return out;
}

}  // namespace

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : executor_(std::move(executor)), options_(std::move(options)) {
  if (options_.default_timeout.count() < 0) {
    throw std::invalid_argument("ClientOptions::default_timeout is negative");
  }
  if (options_.connect_timeout.count() < 0) {
    throw std::invalid_argument("ClientOptions::connect_timeout is negative");
  }
  if (options_.max_redirects < 0) {
    throw std::invalid_argument("ClientOptions::max_redirects is negative");
  }
  global_init();
  driver_ = detail::make_multi_driver(executor_);
}

Client::~Client() { driver_->shutdown(); }

std::size_t Client::transfers_in_flight() const noexcept { return driver_->in_flight(); }

asio::awaitable<std::error_code> Client::perform(CURL* easy) {
  auto [code] = co_await async_perform(easy, asio::experimental::as_tuple(asio::use_awaitable));
  co_return code;
}

asio::awaitable<Response> Client::request(Request request) {
  if (auto problem = detail::validate_request(request)) throw std::invalid_argument(*problem);

  EasyPtr easy{curl_easy_init()};
  if (!easy) throw std::system_error(make_error_code(CURLE_FAILED_INIT), "curl_easy_init failed");
  CURL* e = easy.get();
  char error_buffer[CURL_ERROR_SIZE] = {};
  BodySink sink{{}, options_.max_response_bytes};
  SlistPtr headers = header_list(request.headers);

  set(e, CURLOPT_URL, request.url.c_str());
  set(e, CURLOPT_NOSIGNAL, 1L);
  set(e, CURLOPT_PROTOCOLS_STR, "http,https");
  set(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(e, CURLOPT_ERRORBUFFER, error_buffer);
  set(e, CURLOPT_HTTPHEADER, headers.get());
  set(e, CURLOPT_WRITEFUNCTION, &BodySink::write);
  set(e, CURLOPT_WRITEDATA, &sink);
  if (options_.max_response_bytes != 0) {
    set(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_response_bytes));
  }
  if (!options_.user_agent.empty()) set(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  if (options_.follow_redirects) {
    set(e, CURLOPT_FOLLOWLOCATION, 1L);
    set(e, CURLOPT_MAXREDIRS, options_.max_redirects);
  }
  const auto timeout = detail::effective_timeout(request.timeout, options_.default_timeout);
  if (timeout.count() > 0) set(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  if (options_.connect_timeout.count() > 0) {
    set(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  }
  const detail::MethodPlan plan = detail::plan_method(request.method, request.body.size());
  if (plan.no_body) set(e, CURLOPT_NOBODY, 1L);
  if (plan.send_body) {
    set(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set(e, CURLOPT_POSTFIELDS, request.body.data());  // lives in this frame until the end
  }
  const std::string custom_method{plan.custom_method};
  if (!custom_method.empty()) set(e, CURLOPT_CUSTOMREQUEST, custom_method.c_str());

  const std::error_code code = co_await perform(e);
  if (code) {
    if (code == asio::error::operation_aborted) throw std::system_error(code);
    std::string what = std::string(to_string(request.method)) + " " + request.url;
    if (error_buffer[0] != '\0') what += std::string(": ") + error_buffer;
    throw std::system_error(code, what);
  }

  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  Response response;
  response.status = static_cast<int>(status);
  response.headers = response_headers(e);
  response.body = std::move(sink.body);
  co_return response;
}

// g++ 12 destroys temporaries created inside a co_await expression twice: each
// request is named before it is awaited.
asio::awaitable<Response> Client::get(std::string url, Headers headers) {
  Request r{Method::get, std::move(url), std::move(headers), {}, {}};
  co_return co_await request(std::move(r));
}

asio::awaitable<Response> Client::post(std::string url, std::string body, Headers headers) {
  Request r{Method::post, std::move(url), std::move(headers), std::move(body), {}};
  co_return co_await request(std::move(r));
}

asio::awaitable<Response> Client::put(std::string url, std::string body, Headers headers) {
  Request r{Method::put, std::move(url), std::move(headers), std::move(body), {}};
  co_return co_await request(std::move(r));
}

asio::awaitable<Response> Client::patch(std::string url, std::string body, Headers headers) {
  Request r{Method::patch, std::move(url), std::move(headers), std::move(body), {}};
  co_return co_await request(std::move(r));
}

asio::awaitable<Response> Client::del(std::string url, Headers headers) {
  Request r{Method::del, std::move(url), std::move(headers), {}, {}};
  co_return co_await request(std::move(r));
}

asio::awaitable<Response> Client::head(std::string url, Headers headers) {
  Request r{Method::head, std::move(url), std::move(headers), {}, {}};
  co_return co_await request(std::move(r));
}

}  // namespace breaker::http
