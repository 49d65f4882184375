// SPDX-License-Identifier: Apache-2.0
//
// breaker::http::Client against real restinio servers on 127.0.0.1.

#include "breaker/http/client.hpp"

#include "breaker/http/error.hpp"
#include "run.hpp"
#include "servers/http_test_server.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <catch2/catch.hpp>
#include <curl/curl.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

using breaker::http::Client;
using breaker::http::ClientOptions;
using breaker::http::Header;
using breaker::http::Method;
using breaker::http::Request;
using breaker::http::Response;
using breaker::test::HttpTestServer;
using breaker::test::ScriptedReply;
using namespace std::chrono_literals;

namespace {

// Runs `make(client)` on a fresh io_context with a fresh client.
template <class Make>
auto with_client(Make make, ClientOptions options = {}) {
  asio::io_context io;
  Client client(io.get_executor(), options);
  return breaker::test::run(io, [&]() { return make(client); });
}

std::error_code transport_error(Client& client, Request request, asio::io_context& io) {
  try {
    breaker::test::run(io, [&]() -> asio::awaitable<void> {
      co_await client.request(std::move(request));
    });
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

// A curl write callback that keeps the body out of stdout.
std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

}  // namespace

TEST_CASE("GET returns the server's status, headers and body", "[http][client]") {
  HttpTestServer server;
  server.route("/hello", ScriptedReply{200, "hello world", {{"X-Reply", "yes"}}});
  const Response r = with_client([&](Client& c) { return c.get(server.url("/hello?x=1")); });
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
  REQUIRE(r.header("x-reply"));
  CHECK(*r.header("X-REPLY") == "yes");
  REQUIRE(server.request_count() == 1);
  const auto recorded = server.requests().front();
  CHECK(recorded.method == "GET");
  CHECK(recorded.target == "/hello?x=1");
  CHECK(recorded.header("User-Agent") == "breaker-http/0.1");
}

TEST_CASE("POST sends its body and headers", "[http][client]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{201, "created", {}});
  const Response r = with_client([&](Client& c) {
    return c.post(server.url("/items"), R"({"id":1})",
                  {Header{"Content-Type", "application/json"}, Header{"X-Empty", ""}});
  });
  CHECK(r.status == 201);
  CHECK(r.body == "created");
  const auto recorded = server.requests().at(0);
  CHECK(recorded.method == "POST");
  CHECK(recorded.body == R"({"id":1})");
  CHECK(recorded.header("content-type") == "application/json");
  CHECK(recorded.header("Expect").empty());
  bool has_empty = false;
  for (const auto& [name, value] : recorded.headers) has_empty |= (name == "X-Empty" && value.empty());
  CHECK(has_empty);
}

TEST_CASE("PUT, PATCH, DELETE and HEAD use their methods", "[http][client]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{200, "body", {}});
  asio::io_context io;
  Client client(io.get_executor());
  const auto responses = breaker::test::run(io, [&]() -> asio::awaitable<std::vector<Response>> {
    // Named first: g++ 12 destroys temporaries inside a co_await expression twice.
    std::vector<Response> out;
    const std::string a = server.url("/a"), b = server.url("/b"), c = server.url("/c"),
                      d = server.url("/d");
    Request e{Method::del, server.url("/e"), {}, "del-body", {}};
    out.push_back(co_await client.put(a, "put-body"));
    out.push_back(co_await client.patch(b, "patch-body"));
    out.push_back(co_await client.del(c));
    out.push_back(co_await client.head(d));
    out.push_back(co_await client.request(e));
    co_return out;
  });
  const auto recorded = server.requests();
  REQUIRE(recorded.size() == 5);
  CHECK(recorded[0].method == "PUT");
  CHECK(recorded[0].body == "put-body");
  CHECK(recorded[1].method == "PATCH");
  CHECK(recorded[1].body == "patch-body");
  CHECK(recorded[2].method == "DELETE");
  CHECK(recorded[2].body.empty());
  CHECK(recorded[3].method == "HEAD");
  CHECK(recorded[4].method == "DELETE");
  CHECK(recorded[4].body == "del-body");
  CHECK(responses[0].body == "body");
  CHECK(responses[3].status == 200);
  CHECK(responses[3].body.empty());
}

TEST_CASE("a 5xx or 4xx status is a response, not an exception", "[http][client]") {
  HttpTestServer server;
  server.route("/down", ScriptedReply{503, "unavailable", {{"Retry-After", "7"}}});
  server.route("/missing", ScriptedReply{404, "nope", {}});
  asio::io_context io;
  Client client(io.get_executor());
  const Response down = breaker::test::run(io, [&] { return client.get(server.url("/down")); });
  const Response missing = breaker::test::run(io, [&] { return client.get(server.url("/missing")); });
  CHECK(down.status == 503);
  CHECK(down.body == "unavailable");
  CHECK(down.header("Retry-After") == std::optional<std::string_view>{"7"});
  CHECK(missing.status == 404);
}

TEST_CASE("transport errors are system_errors in the curl category", "[http][client][errors]") {
  asio::io_context io;
  Client client(io.get_executor());

  SECTION("a port that refuses") {
    const auto port = breaker::test::refusing_port();
    const auto code = transport_error(
        client, Request{Method::get, "http://127.0.0.1:" + std::to_string(port) + "/", {}, {}, {}}, io);
    CHECK(code.category() == breaker::http::curl_category());
    CHECK(code == breaker::http::make_error_code(CURLE_COULDNT_CONNECT));
  }
  SECTION("a reply slower than the request's timeout") {
    HttpTestServer server;
    server.set_default(ScriptedReply{200, "late", {}, 2s});
    const auto code = transport_error(client, Request{Method::get, server.url("/slow"), {}, {}, 100ms}, io);
    CHECK(code == breaker::http::make_error_code(CURLE_OPERATION_TIMEDOUT));
  }
  SECTION("a connection closed before the whole body arrived") {
    HttpTestServer server;
    ScriptedReply reply;
    reply.close_early = true;
    server.set_default(reply);
    const auto code = transport_error(client, Request{Method::get, server.url("/"), {}, {}, {}}, io);
    CHECK(code == breaker::http::make_error_code(CURLE_PARTIAL_FILE));
  }
  SECTION("what() names the request and curl's detail") {
    const auto port = breaker::test::refusing_port();
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";
    try {
      breaker::test::run(io, [&]() -> asio::awaitable<void> { co_await client.get(url); });
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK_THAT(e.what(), Catch::Contains("GET " + url));
    }
  }
  CHECK(client.transfers_in_flight() == 0);
}

TEST_CASE("the client's default timeout applies when a request sets none", "[http][client][errors]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{200, "late", {}, 2s});
  asio::io_context io;
  ClientOptions options;
  options.default_timeout = 100ms;
  Client client(io.get_executor(), options);
  CHECK(transport_error(client, Request{Method::get, server.url("/"), {}, {}, {}}, io) ==
        breaker::http::make_error_code(CURLE_OPERATION_TIMEDOUT));
}

TEST_CASE("a response larger than max_response_bytes fails the request", "[http][client][errors]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{200, std::string(1000, 'x'), {}});
  asio::io_context io;
  ClientOptions options;
  options.max_response_bytes = 100;
  Client client(io.get_executor(), options);
  CHECK(transport_error(client, Request{Method::get, server.url("/"), {}, {}, {}}, io) ==
        breaker::http::make_error_code(CURLE_FILESIZE_EXCEEDED));
}

TEST_CASE("malformed requests are rejected before anything is sent", "[http][client][errors]") {
  HttpTestServer server;
  asio::io_context io;
  Client client(io.get_executor());
  auto send = [&](Request r) {
    breaker::test::run(io, [&]() -> asio::awaitable<void> { co_await client.request(r); });
  };
  CHECK_THROWS_AS(send(Request{Method::get, "", {}, {}, {}}), std::invalid_argument);
  CHECK_THROWS_AS(send(Request{Method::get, server.url("/a\r\nX: y"), {}, {}, {}}), std::invalid_argument);
  CHECK_THROWS_AS(send(Request{Method::get, server.url("/"), {Header{"Bad Name", "v"}}, {}, {}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(send(Request{Method::get, server.url("/"), {Header{"X", "a\r\nInjected: 1"}}, {}, {}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(send(Request{Method::head, server.url("/"), {}, "body", {}}), std::invalid_argument);
  CHECK_THROWS_AS(send(Request{Method::get, server.url("/"), {}, {}, -1ms}), std::invalid_argument);
  CHECK(server.request_count() == 0);
}

TEST_CASE("invalid client options are rejected", "[http][client][errors]") {
  asio::io_context io;
  ClientOptions options;
  options.default_timeout = -1ms;
  CHECK_THROWS_AS(Client(io.get_executor(), options), std::invalid_argument);
  options = {};
  options.connect_timeout = -1ms;
  CHECK_THROWS_AS(Client(io.get_executor(), options), std::invalid_argument);
}

TEST_CASE("other protocols are refused for HTTP requests", "[http][client][errors]") {
  asio::io_context io;
  Client client(io.get_executor());
  CHECK(transport_error(client, Request{Method::get, "file:///etc/passwd", {}, {}, {}}, io) ==
        breaker::http::make_error_code(CURLE_UNSUPPORTED_PROTOCOL));
}

TEST_CASE("cancelling an in-flight request removes and frees the transfer", "[http][client][cancel]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{200, "late", {}, 5s});
  asio::io_context io;
  Client client(io.get_executor());
  asio::cancellation_signal signal;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, client.get(server.url("/slow")),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, Response) {
                   error = e;
                   done = true;
                 }));
  // Cancel once the server has the request (the transfer is in flight).
  asio::steady_timer poll(io);
  std::size_t in_flight_seen = 0;
  std::function<void()> check = [&] {
    if (server.request_count() == 1) {
      in_flight_seen = client.transfers_in_flight();
      signal.emit(asio::cancellation_type::terminal);
      return;
    }
    poll.expires_after(1ms);
    poll.async_wait([&](std::error_code) { check(); });
  };
  check();
  io.run();
  REQUIRE(done);
  CHECK(in_flight_seen == 1);
  REQUIRE(error);
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    CHECK(e.code() == asio::error::operation_aborted);
  }
  CHECK(client.transfers_in_flight() == 0);
}

TEST_CASE("a request raced against a timer with operator|| is cancelled when the timer wins",
          "[http][client][cancel]") {
  using namespace asio::experimental::awaitable_operators;
  HttpTestServer server;
  server.set_default(ScriptedReply{200, "late", {}, 5s});
  asio::io_context io;
  Client client(io.get_executor());
  const std::string url = server.url("/slow");
  const std::size_t winner = breaker::test::run(io, [&]() -> asio::awaitable<std::size_t> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
    // Named first: g++ 12 and temporaries inside co_await expressions.
    auto request = client.get(url);
    auto wait = timer.async_wait(asio::use_awaitable);
    auto result = co_await (std::move(request) || std::move(wait));
    co_return result.index();
  });
  CHECK(winner == 1);
  CHECK(server.request_count() == 1);
  CHECK(client.transfers_in_flight() == 0);
}

TEST_CASE("perform runs a caller-configured easy handle on the multi handle", "[http][client][perform]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{202, "", {}});
  asio::io_context io;
  Client client(io.get_executor());
  CURL* easy = curl_easy_init();
  REQUIRE(easy != nullptr);
  const std::string url = server.url("/raw");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  const std::error_code code = breaker::test::run(io, [&] { return client.perform(easy); });
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  CHECK_FALSE(code);
  CHECK(status == 202);

  SECTION("its result code comes back as an error_code, not an exception") {
    const std::string refused = "http://127.0.0.1:" + std::to_string(breaker::test::refusing_port()) + "/";
    curl_easy_setopt(easy, CURLOPT_URL, refused.c_str());
    const std::error_code failed = breaker::test::run(io, [&] { return client.perform(easy); });
    CHECK(failed == breaker::http::make_error_code(CURLE_COULDNT_CONNECT));
  }
  curl_easy_cleanup(easy);
}

TEST_CASE("perform refuses an easy handle that is already running", "[http][client][perform]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{200, "late", {}, 300ms});
  asio::io_context io;
  Client client(io.get_executor());
  CURL* easy = curl_easy_init();
  REQUIRE(easy != nullptr);
  const std::string url = server.url("/twice");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &discard);
  std::error_code first{make_error_code(std::errc::interrupted)};
  std::error_code second{make_error_code(std::errc::interrupted)};
  client.async_perform(easy, [&](std::error_code ec) { first = ec; });
  client.async_perform(easy, [&](std::error_code ec) { second = ec; });
  io.run();
  CHECK_FALSE(first);
  CHECK(second == breaker::http::make_error_code(CURLM_ADDED_ALREADY));
  CHECK(second.category() == breaker::http::curl_multi_category());
  CHECK(server.request_count() == 1);
  curl_easy_cleanup(easy);
}

TEST_CASE("many requests share connections and the multi handle", "[http][client]") {
  HttpTestServer server;
  asio::io_context io;
  Client client(io.get_executor());
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(io, client.get(server.url("/n")), [&](std::exception_ptr e, Response r) {
      if (!e && r.status == 200) ++ok;
    });
  }
  io.run();
  CHECK(ok == 20);
  CHECK(server.request_count() == 20);
  CHECK(client.transfers_in_flight() == 0);
}

TEST_CASE("destroying the client aborts its transfers", "[http][client][cancel]") {
  HttpTestServer server;
  server.set_default(ScriptedReply{200, "late", {}, 5s});
  asio::io_context io;
  std::optional<Client> client(std::in_place, io.get_executor());
  std::exception_ptr error;
  asio::co_spawn(io, client->get(server.url("/slow")), [&](std::exception_ptr e, Response) { error = e; });
  asio::steady_timer poll(io);
  std::function<void()> check = [&] {
    if (server.request_count() == 1) {
      client.reset();
      return;
    }
    poll.expires_after(1ms);
    poll.async_wait([&](std::error_code) { check(); });
  };
  check();
  io.run();
  REQUIRE(error);
  CHECK_THROWS_MATCHES(std::rethrow_exception(error), std::system_error,
                       Catch::Predicate<std::system_error>([](const std::system_error& e) {
                         return e.code() == asio::error::operation_aborted;
                       }));
}
