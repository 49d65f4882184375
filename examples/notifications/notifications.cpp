// SPDX-License-Identifier: Apache-2.0
//
// Notifications that survive an outage.
//
// A Slack webhook and a generic JSON webhook, each behind NotifierWithBreaker (the seed's
// SlackSenderWithBreaker / WebhookSenderWithBreaker), with a spool on disk. The example starts
// its own sink (restinio on 127.0.0.1, port 0) that fails with 503 for a while: the breakers
// open, notifications wait in the retry queue (and the spool), and once the sink is back each
// one arrives exactly once, in order. Exit code 0 when that held, 1 otherwise.

#include "breaker/http/client.hpp"
#include "breaker/notify/notifier_with_breaker.hpp"

#include <restinio/all.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;
namespace notify = breaker::notify;

// --- the sink: records the notification id of every request it accepts ---------------------
class Sink {
 public:
  Sink() {
    auto settings = restinio::server_settings_t<>{}
                        .address("127.0.0.1")
                        .port(0)
                        .acceptor_post_bind_hook([this](asio::ip::tcp::acceptor& a) { port_ = a.local_endpoint().port(); })
                        .request_handler([this](restinio::request_handle_t req) { return handle(std::move(req)); });
    server_ = restinio::run_async(restinio::external_io_context(io_), std::move(settings), 1);
  }
  ~Sink() {
    server_->stop();
    server_->wait();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  void set_failing(bool failing) { failing_ = failing; }
  std::vector<std::string> received(const std::string& path) const {
    std::lock_guard lock(mutex_);
    auto it = received_.find(path);
    return it == received_.end() ? std::vector<std::string>{} : it->second;
  }

 private:
  restinio::request_handling_status_t handle(restinio::request_handle_t req) {
    if (failing_) {
      req->create_response(restinio::status_service_unavailable()).set_body("down").done();
      return restinio::request_accepted();
    }
    const std::string id{req->header().get_field_or(notify::notification_id_header, "")};
    {
      std::lock_guard lock(mutex_);
      received_[std::string{req->header().path()}].push_back(id);
    }
    req->create_response().set_body("ok").done();
    return restinio::request_accepted();
  }

  asio::io_context io_;
  std::uint16_t port_ = 0;
  std::atomic<bool> failing_{false};
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> received_;
  restinio::running_server_handle_t<restinio::default_traits_t> server_;
};

int main() {
  Sink sink;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  breaker::http::Client client(io.get_executor());

  const std::filesystem::path spool = std::filesystem::temp_directory_path() /
                                      ("breaker-notifications-" + std::to_string(::getpid()));

  // [docs:notifier-options]
  // for_notifications() defaults, made quicker for a demo: open after 3 failures for 300 ms.
  notify::NotifierOptions options;
  options.breaker.failure_threshold = 3;
  options.breaker.minimum_request_threshold = 0;
  options.breaker.timeout_duration = 300ms;
  options.queue.initial_backoff = 20ms;
  options.queue.max_backoff = 100ms;
  options.queue.rejected_retry = 50ms;
  options.spool_dir = spool;
  options.on_overflow = [](const notify::Notification& n, notify::OverflowReason) {
    std::cerr << "overflow: " << n.id << " not queued\n";
  };

  notify::SlackConfig slack_config;
  slack_config.webhook_url = sink.url("/slack");
  notify::WebhookConfig webhook_config;
  webhook_config.url = sink.url("/hook");
  // [docs:notifier-options]

  bool ok = true;
  {
    // [docs:notifier]
    notify::SlackSenderWithBreaker slack(io.get_executor(), notify::SlackSender(client, slack_config), options);
    // [docs:notifier]
    notify::WebhookSenderWithBreaker webhook(io.get_executor(), notify::WebhookSender(client, webhook_config),
                                             options);

    auto incident = [](int n, notify::IncidentStatus status) {
      notify::Incident i;
      i.id = "INC-" + std::to_string(n);
      i.title = "Checkout error rate above 5%";
      i.severity = notify::Severity::critical;
      i.status = status;
      i.source = "checkout-api";
      i.created_at = std::chrono::system_clock::now();
      return i;
    };

    std::vector<std::string> slack_ids;
    std::vector<std::string> webhook_ids;
    const auto first = asio::co_spawn(io, slack.send(incident(1, notify::IncidentStatus::trigger)), asio::use_future).get();
    std::cout << "first notification: " << (first == notify::SendStatus::delivered ? "delivered" : "NOT delivered") << "\n";
    slack_ids.push_back(sink.received("/slack").at(0));

    std::cout << "the sink goes down...\n";
    sink.set_failing(true);
    for (int n = 2; n <= 6; ++n) {
      slack_ids.push_back(slack.submit(incident(n, notify::IncidentStatus::trigger)).notification_id);
      webhook_ids.push_back(webhook.submit(incident(n, notify::IncidentStatus::trigger)).notification_id);
    }
    for (int i = 0; i < 400 && slack.breaker().state() != breaker::State::open; ++i) std::this_thread::sleep_for(5ms);
    std::cout << "slack breaker: " << slack.breaker().state() << ", queued: " << slack.stats().queued
              << " (spooled in " << spool << ")\n";

    std::cout << "the sink is back\n";
    sink.set_failing(false);
    asio::co_spawn(io, slack.drained(), asio::use_future).get();
    asio::co_spawn(io, webhook.drained(), asio::use_future).get();

    const auto s = slack.stats();
    std::cout << "slack: delivered " << s.delivered << ", transient failures " << s.transient_failures
              << ", rejected by the open breaker " << s.rejected_by_breaker << ", breaker "
              << slack.breaker().state() << "\n";
    ok = sink.received("/slack") == slack_ids && sink.received("/hook") == webhook_ids;
    std::cout << (ok ? "every notification arrived once, in order\n" : "MISSING, DUPLICATED OR OUT OF ORDER\n");
    asio::co_spawn(io, slack.stop(), asio::use_future).get();
    asio::co_spawn(io, webhook.stop(), asio::use_future).get();
  }
  work.reset();
  io.stop();
  io_thread.join();
  std::filesystem::remove_all(spool);
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
