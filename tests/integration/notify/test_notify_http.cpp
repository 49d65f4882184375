// SPDX-License-Identifier: Apache-2.0
//
// Slack, PagerDuty and webhook notifiers against restinio sinks started by the tests
// (tests/support/servers/http_test_server.hpp): they record every request and fail or
// stall on command. Breaker time moves only through ManualClock.

#include "notify_fixture.hpp"

#include "servers/http_test_server.hpp"

#include <nlohmann/json.hpp>

using namespace notify_test;
using namespace breaker::notify;
using breaker::test::HttpTestServer;
using breaker::test::RecordedRequest;
using breaker::test::ScriptedReply;

namespace {

ScriptedReply reply(int status, std::string body = "ok") {
  ScriptedReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::vector<std::string> ids_of(const std::vector<RecordedRequest>& requests, std::size_t from = 0) {
  std::vector<std::string> ids;
  for (std::size_t i = from; i < requests.size(); ++i) ids.push_back(requests[i].header(notification_id_header));
  return ids;
}

SlackSender make_slack(breaker::http::Client& client, const HttpTestServer& server) {
  SlackConfig c;
  c.webhook_url = server.url("/services/T000/B000/XXXX");
  c.timeout = 2s;
  return SlackSender(client, c);
}

PagerDutySender make_pagerduty(breaker::http::Client& client, const HttpTestServer& server) {
  PagerDutyConfig c;
  c.routing_key = "0123456789abcdef0123456789abcdef";
  c.events_url = server.url("/v2/enqueue");
  c.timeout = 2s;
  return PagerDutySender(client, c);
}

WebhookSender make_webhook(breaker::http::Client& client, const HttpTestServer& server) {
  WebhookConfig c;
  c.url = server.url("/hooks/incidents");
  c.headers = {{"Authorization", "Bearer test-token"}};
  c.timeout = 2s;
  return WebhookSender(client, c);
}

// The outage story, the same for every HTTP destination:
// healthy -> the sink fails (503) -> the breaker opens within its threshold -> no request
// reaches the sink while open -> the sink recovers -> the breaker closes -> every
// notification accepted during the outage arrives once, in order.
template <class S, class Check>
void outage_and_recovery(S (*make)(breaker::http::Client&, const HttpTestServer&), int ok_status,
                         Check check_payload) {
  Fixture f;
  HttpTestServer server;
  server.set_default(reply(ok_status));
  NotifierWithBreaker<S, ManualClock> notifier(f.io.get_executor(), make(f.client, server), test_options(),
                                               f.clock);

  // Healthy: delivered at the first attempt.
  CHECK(f.await([&] { return notifier.send(incident("inc-0", "before the outage")); }) ==
        SendStatus::delivered);
  REQUIRE(server.request_count() == 1);
  check_payload(server.requests()[0]);

  // The sink fails: three transient failures open the breaker.
  server.set_default(reply(503, "unavailable"));
  std::vector<std::string> outage_ids;
  for (int i = 0; i < 8; ++i) {
    const Accepted a = notifier.submit(incident("inc-" + std::to_string(i + 1), "during the outage"));
    REQUIRE(a.accepted);
    outage_ids.push_back(a.notification_id);
  }
  // Both: the attempt's outcome opens the breaker just before the notifier counts it.
  REQUIRE(f.advance_until([&] {
    return notifier.breaker().state() == breaker::State::open && notifier.stats().transient_failures >= 3;
  }));
  CHECK(notifier.stats().transient_failures == 3);
  CHECK(server.request_count() == 1 + 3);

  // Open: attempts are rejected without a connection.
  const auto rejected_before = notifier.stats().rejected_by_breaker;
  REQUIRE(f.advance_until([&] { return notifier.stats().rejected_by_breaker >= rejected_before + 5; }, 100));
  CHECK(server.request_count() == 1 + 3);
  CHECK(notifier.breaker().state() == breaker::State::open);
  CHECK(notifier.stats().queued == 8);

  // Recovery: after the open period the probe succeeds, the breaker closes and the queue drains.
  server.set_default(reply(ok_status));
  const std::size_t recovered_from = server.request_count();
  f.clock.advance(30s);
  REQUIRE(eventually([&] { return notifier.stats().queued == 0; }));
  CHECK(notifier.breaker().state() == breaker::State::closed);

  const Received after = dedupe(ids_of(server.requests(), recovered_from));
  CHECK(after.duplicates == 0);
  CHECK(after.distinct == outage_ids);  // all of them, once, in order
  for (const auto& r : server.requests()) check_payload(r);
  const NotifierStats s = notifier.stats();
  CHECK(s.accepted == 9);
  CHECK(s.delivered == 9);
  CHECK(s.overflowed == 0);
  CHECK(s.permanent_failures == 0);
}

}  // namespace

TEST_CASE("Slack: every notification sent during an outage reaches the webhook after recovery, once, in order",
          "[notify][slack][outage]") {
  outage_and_recovery<SlackSender>(&make_slack, 200, [](const RecordedRequest& r) {
    CHECK(r.method == "POST");
    CHECK(r.target == "/services/T000/B000/XXXX");
    CHECK(r.header("Content-Type") == "application/json");
    const auto body = nlohmann::json::parse(r.body);
    CHECK(body["blocks"][0]["type"] == "header");
    CHECK(body["metadata"]["event_payload"]["notification_id"] == r.header(notification_id_header));
  });
}

TEST_CASE("PagerDuty: every event sent during an outage reaches the Events API after recovery, once, in order",
          "[notify][pagerduty][outage]") {
  outage_and_recovery<PagerDutySender>(&make_pagerduty, 202, [](const RecordedRequest& r) {
    CHECK(r.target == "/v2/enqueue");
    const auto body = nlohmann::json::parse(r.body);
    CHECK(body["routing_key"] == "0123456789abcdef0123456789abcdef");
    CHECK(body["event_action"] == "trigger");
    CHECK(body["dedup_key"].get<std::string>().rfind("inc-", 0) == 0);
    CHECK(body["payload"]["severity"] == "critical");
  });
}

TEST_CASE("webhook: every notification sent during an outage reaches the endpoint after recovery, once, in order",
          "[notify][webhook][outage]") {
  outage_and_recovery<WebhookSender>(&make_webhook, 204, [](const RecordedRequest& r) {
    CHECK(r.header("Authorization") == "Bearer test-token");
    const auto body = nlohmann::json::parse(r.body);
    CHECK(body["notification_id"] == r.header(notification_id_header));
    CHECK(body["event"] == "incident.trigger");
  });
}

TEST_CASE("a refused notification (HTTP 400) is not retried, is reported, and does not open the breaker",
          "[notify][webhook][permanent]") {
  Fixture f;
  HttpTestServer server;
  server.set_default(reply(400, "bad payload"));
  NotifierOptions options = test_options();
  std::vector<std::pair<std::string, long>> reported;
  options.on_permanent_failure = [&](const Notification& n, const DeliveryResult& r) {
    reported.emplace_back(n.id, r.status);
  };
  NotifierWithBreaker<WebhookSender, ManualClock> notifier(f.io.get_executor(), make_webhook(f.client, server),
                                                           options, f.clock);
  for (int i = 0; i < 5; ++i) {
    CHECK(f.await([&] { return notifier.send(incident("inc-p", "refused")); }) == SendStatus::failed_permanently);
  }
  CHECK(server.request_count() == 5);  // one attempt each
  CHECK(notifier.breaker().state() == breaker::State::closed);
  CHECK(notifier.stats().permanent_failures == 5);
  CHECK(notifier.stats().queued == 0);
  REQUIRE(reported.size() == 5);
  CHECK(reported[0].second == 400);
}

TEST_CASE("the overflow rule refuses the newest when the queue is full, counts it and reports it",
          "[notify][slack][overflow]") {
  Fixture f;
  HttpTestServer server;
  NotifierOptions options = test_options();
  options.queue.capacity = 3;
  std::vector<std::string> overflowed;
  options.on_overflow = [&](const Notification& n, OverflowReason reason) {
    CHECK(reason == OverflowReason::rejected_newest);
    overflowed.push_back(n.id);
  };
  NotifierWithBreaker<SlackSender, ManualClock> notifier(f.io.get_executor(), make_slack(f.client, server),
                                                         options, f.clock);
  notifier.breaker().force_open();
  std::vector<std::string> accepted;
  std::vector<std::string> refused;
  for (int i = 0; i < 5; ++i) {
    const Accepted a = notifier.submit(incident("inc-" + std::to_string(i), "while forced open"));
    (a.accepted ? accepted : refused).push_back(a.notification_id);
  }
  CHECK(accepted.size() == 3);
  CHECK(refused == overflowed);
  CHECK(notifier.stats().overflowed == 2);
  CHECK(f.await([&] { return notifier.send(incident("inc-x", "one more")); }) == SendStatus::overflow);
  CHECK(notifier.stats().overflowed == 3);

  notifier.breaker().reset();
  REQUIRE(f.advance_until([&] { return notifier.stats().queued == 0; }));
  CHECK(dedupe(ids_of(server.requests())).distinct == accepted);
}

TEST_CASE("drop_oldest makes room by dropping the oldest waiting notification, reported to the callback",
          "[notify][webhook][overflow]") {
  Fixture f;
  HttpTestServer server;
  NotifierOptions options = test_options();
  options.queue.capacity = 2;
  options.queue.overflow = OverflowPolicy::drop_oldest;
  std::vector<std::string> dropped;
  options.on_overflow = [&](const Notification& n, OverflowReason reason) {
    CHECK(reason == OverflowReason::dropped_oldest);
    dropped.push_back(n.id);
  };
  NotifierWithBreaker<WebhookSender, ManualClock> notifier(f.io.get_executor(), make_webhook(f.client, server),
                                                           options, f.clock);
  notifier.breaker().force_open();
  std::vector<std::string> ids;
  // On the io thread, so the drain cannot hold the front in flight meanwhile: a front in
  // flight is not "waiting", and drop_oldest would drop the second one instead (which is
  // what CI once saw when the submits ran on this thread).
  f.on_io_thread([&] {
    for (int i = 0; i < 4; ++i) ids.push_back(notifier.submit(incident("inc", "n" + std::to_string(i))).notification_id);
  });
  CHECK(dropped == std::vector<std::string>{ids[0], ids[1]});
  notifier.breaker().reset();
  REQUIRE(f.advance_until([&] { return notifier.stats().queued == 0; }));
  CHECK(ids_of(server.requests()) == std::vector<std::string>{ids[2], ids[3]});
}

TEST_CASE("a stalled sink times out, the attempt is retried, and the receiver drops the duplicate by its id",
          "[notify][webhook][stall]") {
  Fixture f;
  HttpTestServer server;
  WebhookConfig c;
  c.url = server.url("/hooks/incidents");
  c.timeout = 300ms;
  NotifierWithBreaker<WebhookSender, ManualClock> notifier(f.io.get_executor(), WebhookSender(f.client, c),
                                                           test_options(), f.clock);
  ScriptedReply slow = reply(200);
  slow.delay = 1500ms;  // outlasts the 300 ms attempt timeout: the sink records it, the client gives up
  server.enqueue(slow);
  const Accepted a = notifier.submit(incident("inc-s", "stalled"));
  REQUIRE(eventually([&] { return notifier.stats().transient_failures == 1; }));
  REQUIRE(f.advance_until([&] { return notifier.stats().delivered == 1; }));
  const Received r = dedupe(ids_of(server.requests()));
  CHECK(r.distinct == std::vector<std::string>{a.notification_id});
  CHECK(r.duplicates == 1);  // at-least-once: the timed-out attempt reached the sink too
}

TEST_CASE("an unreachable destination is a transient failure that opens the breaker", "[notify][slack][refused]") {
  Fixture f;
  SlackConfig c;
  c.webhook_url = "http://127.0.0.1:" + std::to_string(breaker::test::refusing_port()) + "/hook";
  NotifierWithBreaker<SlackSender, ManualClock> notifier(f.io.get_executor(), SlackSender(f.client, c),
                                                         test_options(), f.clock);
  CHECK(f.await([&] { return notifier.send(incident("inc-r", "nobody listens")); }) == SendStatus::queued);
  // Both: the attempt's outcome opens the breaker just before the notifier counts it.
  REQUIRE(f.advance_until([&] {
    return notifier.breaker().state() == breaker::State::open && notifier.stats().transient_failures >= 3;
  }));
  CHECK(notifier.stats().transient_failures == 3);
  CHECK(notifier.stats().queued == 1);  // still there, waiting for the destination
}

TEST_CASE("an invalid incident is refused at once with a message naming the field", "[notify][validate]") {
  Fixture f;
  HttpTestServer server;
  NotifierWithBreaker<WebhookSender, ManualClock> notifier(f.io.get_executor(), make_webhook(f.client, server),
                                                           test_options(), f.clock);
  Incident bad = incident("", "no id");
  try {
    notifier.submit(bad);
    FAIL("accepted an incident without id");
  } catch (const std::system_error& e) {
    CHECK(e.code() == errc::invalid_incident);
    CHECK(std::string(e.what()).find("Incident::id") != std::string::npos);
  }
  CHECK(notifier.stats().accepted == 0);
  CHECK(server.request_count() == 0);
}
