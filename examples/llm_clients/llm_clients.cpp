// SPDX-License-Identifier: Apache-2.0
//
// The seed's four LLM service clients (Sentinel, Shield, EdgeAgent, Governance),
// each an ordinary HTTP client on breaker::http::Client, each protected by a
// one-line alias of breaker::ClientWithBreaker with the for_llm_service()
// preset. The example starts the four services itself on 127.0.0.1 (restinio,
// ephemeral ports), calls them, then takes the Edge-Agent service down and
// shows its breaker opening (and the others staying closed).
//
// Exit status 0 when every result is the expected one, 1 otherwise (it runs as
// the CTest test example.llm_clients).

#include <breaker/client.hpp>
#include <breaker/config.hpp>
#include <breaker/error.hpp>
#include <breaker/http/client.hpp>
#include <breaker/http_status.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

#include <atomic>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using breaker::http::Response;
using json = nlohmann::json;

// ---------------------------------------------------------------------------
// The clients: what an application would write, knowing nothing of breakers.
// A 5xx or 429 reply is a ServiceError (the service failed); any other non-2xx
// a RequestError. Both are exceptions, so the breaker counts them as failures.
// ---------------------------------------------------------------------------
struct ServiceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

json parse_reply(const Response& r, const char* service) {
  if (breaker::classify_http_status(r.status) == breaker::Outcome::failure) {
    throw ServiceError(std::string(service) + " failed with HTTP " + std::to_string(r.status));
  }
  if (r.status < 200 || r.status > 299) {
    throw RequestError(std::string(service) + " refused the request: HTTP " + std::to_string(r.status));
  }
  return json::parse(r.body);
}

const breaker::http::Headers json_headers{{"Content-Type", "application/json"}};

struct Alert {
  std::string id;
  std::string severity;
};

// [docs:plain-client]
class SentinelClient {
 public:
  SentinelClient(std::shared_ptr<breaker::http::Client> http, std::string base)
      : http_(std::move(http)), base_(std::move(base)) {}
  asio::awaitable<std::vector<Alert>> fetch_alerts(int limit) {
    const std::string url = base_ + "/alerts?limit=" + std::to_string(limit);
    const json body = parse_reply(co_await http_->get(url), "sentinel");
    std::vector<Alert> alerts;
    for (const auto& a : body.at("alerts")) alerts.push_back({a.at("id"), a.at("severity")});
    co_return alerts;
  }

 private:
  std::shared_ptr<breaker::http::Client> http_;
  std::string base_;
};

// [docs:plain-client]

class ShieldClient {
 public:
  ShieldClient(std::shared_ptr<breaker::http::Client> http, std::string base)
      : http_(std::move(http)), base_(std::move(base)) {}
  asio::awaitable<bool> validate_content(std::string content) {
    const std::string url = base_ + "/validate";
    const std::string body = json{{"content", content}}.dump();
    co_return parse_reply(co_await http_->post(url, body, json_headers), "shield").at("safe");
  }

 private:
  std::shared_ptr<breaker::http::Client> http_;
  std::string base_;
};

class EdgeAgentClient {
 public:
  EdgeAgentClient(std::shared_ptr<breaker::http::Client> http, std::string base)
      : http_(std::move(http)), base_(std::move(base)) {}
  asio::awaitable<std::string> infer(std::string prompt) {
    const std::string url = base_ + "/infer";
    const std::string body = json{{"prompt", prompt}}.dump();
    co_return parse_reply(co_await http_->post(url, body, json_headers), "edge-agent").at("output");
  }

 private:
  std::shared_ptr<breaker::http::Client> http_;
  std::string base_;
};

class GovernanceClient {
 public:
  GovernanceClient(std::shared_ptr<breaker::http::Client> http, std::string base)
      : http_(std::move(http)), base_(std::move(base)) {}
  asio::awaitable<bool> check_compliance(std::string policy) {
    const std::string url = base_ + "/compliance";
    const std::string body = json{{"policy", policy}}.dump();
    co_return parse_reply(co_await http_->post(url, body, json_headers), "governance").at("compliant");
  }

 private:
  std::shared_ptr<breaker::http::Client> http_;
  std::string base_;
};

// ---------------------------------------------------------------------------
// The seed's four protected clients: one line each.
// ---------------------------------------------------------------------------
// [docs:client-with-breaker]
using SentinelClientWithBreaker = breaker::ClientWithBreaker<SentinelClient>;
using ShieldClientWithBreaker = breaker::ClientWithBreaker<ShieldClient>;
using EdgeAgentClientWithBreaker = breaker::ClientWithBreaker<EdgeAgentClient>;
using GovernanceClientWithBreaker = breaker::ClientWithBreaker<GovernanceClient>;
// [docs:client-with-breaker]

// ---------------------------------------------------------------------------
// The four services, on loopback (stand-ins for the real ones).
// ---------------------------------------------------------------------------
class Service {
 public:
  using Handler = std::function<restinio::request_handling_status_t(const restinio::request_handle_t&)>;
  explicit Service(Handler handler) {
    server_ = restinio::run_async(
        restinio::own_io_context(),
        restinio::server_settings_t<>{}
            .address("127.0.0.1")
            .port(0)
            .acceptor_post_bind_hook([this](asio::ip::tcp::acceptor& a) { port_ = a.local_endpoint().port(); })
            .request_handler([h = std::move(handler)](restinio::request_handle_t req) { return h(req); }),
        1);
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::uint16_t port_ = 0;
  restinio::running_server_handle_t<restinio::default_traits_t> server_;
};

restinio::request_handling_status_t reply(const restinio::request_handle_t& req, int status,
                                          const json& body) {
  req->create_response(restinio::http_status_line_t{
                           restinio::http_status_code_t{static_cast<std::uint16_t>(status)}, "Reply"})
      .append_header(restinio::http_field::content_type, "application/json")
      .set_body(body.dump())
      .done();
  return restinio::request_accepted();
}

int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok:  " : "FAIL:", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  std::atomic<bool> edge_down{false};
  std::atomic<int> edge_requests{0};
  Service sentinel_service([](const restinio::request_handle_t& req) {
    return reply(req, 200, {{"alerts", {{{"id", "a-1"}, {"severity", "high"}}, {{"id", "a-2"}, {"severity", "low"}}}}});
  });
  Service shield_service([](const restinio::request_handle_t& req) {
    const json in = json::parse(req->body());
    return reply(req, 200, {{"safe", in.at("content").get<std::string>().find("attack") == std::string::npos}});
  });
  Service edge_service([&](const restinio::request_handle_t& req) {
    ++edge_requests;
    if (edge_down) return reply(req, 503, {{"error", "overloaded"}});
    return reply(req, 200, {{"output", "echo: " + json::parse(req->body()).at("prompt").get<std::string>()}});
  });
  Service governance_service([](const restinio::request_handle_t& req) {
    return reply(req, 200, {{"compliant", json::parse(req->body()).at("policy") == "gdpr"}});
  });

  asio::io_context io;
  // [docs:client-with-breaker-use]
  auto http = std::make_shared<breaker::http::Client>(io.get_executor());
  const auto preset = breaker::CircuitBreakerConfig::for_llm_service();
  SentinelClientWithBreaker sentinel{SentinelClient{http, sentinel_service.base()}, "sentinel", preset};
  ShieldClientWithBreaker shield{ShieldClient{http, shield_service.base()}, "shield", preset};
  EdgeAgentClientWithBreaker edge{EdgeAgentClient{http, edge_service.base()}, "edge-agent", preset};
  GovernanceClientWithBreaker governance{GovernanceClient{http, governance_service.base()}, "governance",
                                         preset};
  // [docs:client-with-breaker-use]

  auto scenario = [&]() -> asio::awaitable<void> {
    // All calls automatically protected.
    // [docs:client-call]
    const std::vector<Alert> alerts = co_await sentinel.call(&SentinelClient::fetch_alerts, 10);
    // [docs:client-call]
    expect(alerts.size() == 2 && alerts[0].severity == "high", "sentinel: fetch_alerts(10) returns 2 alerts");
    expect(co_await shield.call(&ShieldClient::validate_content, std::string("hello")),
           "shield: harmless content is safe");
    expect(!co_await shield.call(&ShieldClient::validate_content, std::string("an attack")),
           "shield: an attack is not");
    const std::string output = co_await edge.call(&EdgeAgentClient::infer, std::string("2+2?"));
    expect(output == "echo: 2+2?", "edge-agent: infer answers");
    expect(co_await governance.call(&GovernanceClient::check_compliance, std::string("gdpr")),
           "governance: check_compliance(gdpr)");

    // The Edge-Agent service goes down. for_llm_service(): 3 consecutive
    // failures open the breaker once 5 calls were seen.
    co_await edge.call(&EdgeAgentClient::infer, std::string("warm-up"));
    co_await edge.call(&EdgeAgentClient::infer, std::string("warm-up"));
    edge_down = true;
    int service_errors = 0;
    for (int i = 0; i < 3; ++i) {
      try {
        co_await edge.call(&EdgeAgentClient::infer, std::string("are you there?"));
      } catch (const ServiceError& e) {
        std::printf("      edge-agent: %s\n", e.what());
        ++service_errors;
      }
    }
    expect(service_errors == 3, "edge-agent: three 503 replies surface as ServiceError");
    expect(edge.breaker()->state() == breaker::State::open, "edge-agent: its breaker is open");
    const int requests_before = edge_requests;
    bool rejected = false;
    try {
      co_await edge.call(&EdgeAgentClient::infer, std::string("still down?"));
    } catch (const breaker::CircuitBreakerError& e) {
      rejected = e.error() == breaker::errc::open;
      std::printf("      edge-agent: %s\n", e.what());
    }
    expect(rejected && edge_requests == requests_before,
           "edge-agent: the next call is rejected without reaching the service");
    expect(sentinel.breaker()->state() == breaker::State::closed &&
               shield.breaker()->state() == breaker::State::closed &&
               governance.breaker()->state() == breaker::State::closed,
           "the other three breakers stay closed");
    const std::vector<Alert> again = co_await sentinel.call(&SentinelClient::fetch_alerts, 5);
    expect(again.size() == 2, "sentinel still answers");
  };
  std::exception_ptr error;
  asio::co_spawn(io, scenario, [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::printf("FAIL: unexpected exception: %s\n", e.what());
    }
    return 1;
  }
  std::printf("%s\n", failures == 0 ? "all results as expected" : "some results were wrong");
  return failures == 0 ? 0 : 1;
}
