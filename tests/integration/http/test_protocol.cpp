// SPDX-License-Identifier: Apache-2.0
//
// The HTTP component's protocol decisions, without sockets.

#include "breaker/http/detail/protocol.hpp"

#include "breaker/http/error.hpp"
#include "breaker/http/message.hpp"
#include "breaker/http_status.hpp"

#include <catch2/catch.hpp>
#include <curl/curl.h>

#include <chrono>

using namespace breaker::http;
using namespace breaker::http::detail;
using namespace std::chrono_literals;

TEST_CASE("classify_http_status: 5xx and 429 are failures, everything else a success",
          "[http][status]") {
  using breaker::classify_http_status;
  using O = breaker::Outcome;
  for (int s : {500, 501, 502, 503, 504, 599, 429}) {
    INFO(s);
    CHECK(classify_http_status(s) == O::failure);
  }
  for (int s : {100, 200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 428, 430, 499, 600, 0, -1}) {
    INFO(s);
    CHECK(classify_http_status(s) == O::success);
  }
  static_assert(classify_http_status(503) == O::failure);
}

TEST_CASE("methods map onto curl's options", "[http][protocol]") {
  CHECK(plan_method(Method::get, 0) == MethodPlan{false, false, {}});
  CHECK(plan_method(Method::get, 3) == MethodPlan{false, true, "GET"});
  CHECK(plan_method(Method::post, 0) == MethodPlan{false, true, {}});
  CHECK(plan_method(Method::post, 5) == MethodPlan{false, true, {}});
  CHECK(plan_method(Method::put, 0) == MethodPlan{false, false, "PUT"});
  CHECK(plan_method(Method::put, 5) == MethodPlan{false, true, "PUT"});
  CHECK(plan_method(Method::patch, 5) == MethodPlan{false, true, "PATCH"});
  CHECK(plan_method(Method::del, 0) == MethodPlan{false, false, "DELETE"});
  CHECK(plan_method(Method::del, 2) == MethodPlan{false, true, "DELETE"});
  CHECK(plan_method(Method::head, 0) == MethodPlan{true, false, {}});
  CHECK(to_string(Method::del) == "DELETE");
  CHECK(to_string(Method::patch) == "PATCH");
}

TEST_CASE("validate_request names what is wrong", "[http][protocol]") {
  const Request ok{Method::get, "http://127.0.0.1/", {Header{"X-Id", "1"}}, {}, {}};
  CHECK_FALSE(validate_request(ok));
  auto problem = [](Request r) { return validate_request(r).value_or(""); };
  Request r = ok;
  r.url.clear();
  CHECK_THAT(problem(r), Catch::Contains("url is empty"));
  r = ok;
  r.url = "http://127.0.0.1/a b";
  CHECK_THAT(problem(r), Catch::Contains("url"));
  r = ok;
  r.url = "http://127.0.0.1/\n";
  CHECK_THAT(problem(r), Catch::Contains("url"));
  r = ok;
  r.timeout = -1ms;
  CHECK_THAT(problem(r), Catch::Contains("timeout"));
  r = ok;
  r.method = Method::head;
  r.body = "x";
  CHECK_THAT(problem(r), Catch::Contains("HEAD"));
  r = ok;
  r.headers = {Header{"", "v"}};
  CHECK_THAT(problem(r), Catch::Contains("name is empty"));
  r = ok;
  r.headers = {Header{"X:Y", "v"}};
  CHECK_THAT(problem(r), Catch::Contains("'X:Y'"));
  r = ok;
  r.headers = {Header{"X", "a\rb"}};
  CHECK_THAT(problem(r), Catch::Contains("CR, LF or NUL"));
  r = ok;
  r.headers = {Header{"X", std::string("a\0b", 3)}};
  CHECK(validate_request(r));
}

TEST_CASE("the request's timeout wins over the client's default", "[http][protocol]") {
  CHECK(effective_timeout(0ms, 30s) == 30s);
  CHECK(effective_timeout(250ms, 30s) == 250ms);
  CHECK(effective_timeout(0ms, 0ms) == 0ms);
}

TEST_CASE("socket interest turns into the waits still missing", "[http][protocol]") {
  static_assert(poll_in == CURL_POLL_IN && poll_out == CURL_POLL_OUT &&
                poll_remove == CURL_POLL_REMOVE && CURL_POLL_INOUT == (poll_in | poll_out));
  CHECK(plan_socket_waits(CURL_POLL_IN, false, false) == SocketWaits{false, true, false});
  CHECK(plan_socket_waits(CURL_POLL_OUT, false, false) == SocketWaits{false, false, true});
  CHECK(plan_socket_waits(CURL_POLL_INOUT, false, false) == SocketWaits{false, true, true});
  CHECK(plan_socket_waits(CURL_POLL_INOUT, true, false) == SocketWaits{false, false, true});
  CHECK(plan_socket_waits(CURL_POLL_IN, true, true) == SocketWaits{false, false, false});
  CHECK(plan_socket_waits(CURL_POLL_REMOVE, true, true) == SocketWaits{true, false, false});
  CHECK(wants(CURL_POLL_IN, poll_in));
  CHECK_FALSE(wants(CURL_POLL_IN, poll_out));
  CHECK_FALSE(wants(CURL_POLL_REMOVE, poll_in));
}

TEST_CASE("curl codes are error_codes in their own categories", "[http][errors]") {
  const auto code = make_error_code(CURLE_COULDNT_CONNECT);
  CHECK(code.category() == curl_category());
  CHECK(std::string(code.category().name()) == "curl");
  CHECK(code.message() == curl_easy_strerror(CURLE_COULDNT_CONNECT));
  CHECK_FALSE(make_error_code(CURLE_OK));
  const auto multi = make_error_code(CURLM_ADDED_ALREADY);
  CHECK(std::string(multi.category().name()) == "curl-multi");
  CHECK(multi != make_error_code(static_cast<CURLcode>(CURLM_ADDED_ALREADY)));
}

TEST_CASE("find_header compares names case-insensitively and returns the first", "[http][message]") {
  const Headers h{{"Retry-After", "5"}, {"retry-after", "9"}, {"X", ""}};
  CHECK(find_header(h, "RETRY-AFTER") == std::optional<std::string_view>{"5"});
  CHECK(find_header(h, "x") == std::optional<std::string_view>{""});
  CHECK_FALSE(find_header(h, "Y"));
  CHECK(iequals("Content-Type", "content-type"));
  CHECK_FALSE(iequals("Content-Type", "content-typ"));
}
