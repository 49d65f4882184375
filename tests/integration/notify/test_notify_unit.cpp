// SPDX-License-Identifier: Apache-2.0
//
// The pure parts of breaker::notify, without sockets: what counts as a failure, the
// payloads, the e-mail message, the retry queue (times from ManualClock) and the spool
// (in throw-away directories).

#include "breaker/notify/delivery.hpp"
#include "breaker/notify/email.hpp"
#include "breaker/notify/error.hpp"
#include "breaker/notify/incident.hpp"
#include "breaker/notify/pagerduty.hpp"
#include "breaker/notify/retry_queue.hpp"
#include "breaker/notify/slack.hpp"
#include "breaker/notify/spool.hpp"
#include "breaker/notify/webhook.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "servers/process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

using namespace breaker::notify;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;
using Outcome = breaker::Outcome;

namespace {

Incident sample_incident(std::string id = "inc-1") {
  Incident incident;
  incident.id = std::move(id);
  incident.title = "Database latency above 2 s";
  incident.severity = Severity::critical;
  incident.status = IncidentStatus::trigger;
  incident.summary = "p99 latency of <orders-db> is 2.4 s & rising";
  incident.source = "orders-db-1";
  incident.created_at = std::chrono::system_clock::time_point{std::chrono::milliseconds{1'764'590'400'250}};
  incident.details = {{"region", "eu-west-1"}, {"p99_ms", "2400"}};
  return incident;
}

Notification notification(std::string id, std::uint64_t seq = 0, std::string incident_id = "inc-1") {
  return Notification{std::move(id), seq, sample_incident(std::move(incident_id))};
}

SlackConfig slack_config(std::string url) {
  SlackConfig c;
  c.webhook_url = std::move(url);
  return c;
}

EmailConfig email_config(std::string url, std::string from, std::vector<std::string> to) {
  EmailConfig c;
  c.smtp_url = std::move(url);
  c.from = std::move(from);
  c.to = std::move(to);
  return c;
}

RetryQueueOptions queue_options(std::size_t capacity, OverflowPolicy overflow = OverflowPolicy::reject_newest,
                                std::chrono::milliseconds initial = 1000ms, std::chrono::milliseconds max = 60000ms,
                                std::chrono::milliseconds rejected = 1000ms) {
  RetryQueueOptions o;
  o.capacity = capacity;
  o.overflow = overflow;
  o.initial_backoff = initial;
  o.max_backoff = max;
  o.rejected_retry = rejected;
  return o;
}

}  // namespace

// --- classification -----------------------------------------------------------------------

TEST_CASE("HTTP deliveries: 2xx delivered, 408/425/429/5xx transient, other statuses permanent",
          "[notify][classify]") {
  CHECK(classify_http_delivery(CURLE_OK, 200).kind == DeliveryKind::delivered);
  CHECK(classify_http_delivery(CURLE_OK, 202).kind == DeliveryKind::delivered);
  CHECK(classify_http_delivery(CURLE_OK, 204).kind == DeliveryKind::delivered);
  for (long status : {408L, 425L, 429L, 500L, 502L, 503L, 504L, 599L}) {
    INFO(status);
    CHECK(classify_http_delivery(CURLE_OK, status).kind == DeliveryKind::transient);
  }
  for (long status : {301L, 302L, 400L, 401L, 403L, 404L, 410L, 413L, 422L}) {
    INFO(status);
    CHECK(classify_http_delivery(CURLE_OK, status).kind == DeliveryKind::permanent);
  }
  CHECK(classify_http_delivery(CURLE_OK, 0).kind == DeliveryKind::transient);
  const DeliveryResult r = classify_http_delivery(CURLE_OK, 503);
  CHECK(r.status == 503);
  CHECK(r.detail == "HTTP 503");
}

TEST_CASE("transport errors: unreachable or broken is transient, misconfiguration permanent, abort is cancellation",
          "[notify][classify]") {
  for (CURLcode code : {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR, CURLE_RECV_ERROR,
                        CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_COULDNT_RESOLVE_HOST,
                        CURLE_WEIRD_SERVER_REPLY, CURLE_SSL_CONNECT_ERROR}) {
    INFO(static_cast<int>(code));
    CHECK(classify_transport_error(code) == DeliveryKind::transient);
    CHECK(classify_http_delivery(code, 0).kind == DeliveryKind::transient);
  }
  for (CURLcode code : {CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_LOGIN_DENIED,
                        CURLE_PEER_FAILED_VERIFICATION, CURLE_AUTH_ERROR}) {
    INFO(static_cast<int>(code));
    CHECK(classify_transport_error(code) == DeliveryKind::permanent);
  }
  CHECK(classify_transport_error(CURLE_ABORTED_BY_CALLBACK) == DeliveryKind::cancelled);
  CHECK(classify_http_delivery(CURLE_COULDNT_CONNECT, 0).detail == curl_easy_strerror(CURLE_COULDNT_CONNECT));
}

TEST_CASE("SMTP deliveries: a 4xx reply is transient, a 5xx reply permanent, no reply by the transport error",
          "[notify][classify][smtp]") {
  CHECK(classify_smtp_delivery(CURLE_OK, 250).kind == DeliveryKind::delivered);
  // What curl reports for "451 try again later" after DATA, and for a refused RCPT.
  CHECK(classify_smtp_delivery(CURLE_WEIRD_SERVER_REPLY, 451).kind == DeliveryKind::transient);
  CHECK(classify_smtp_delivery(CURLE_SEND_ERROR, 450).kind == DeliveryKind::transient);
  CHECK(classify_smtp_delivery(CURLE_SEND_ERROR, 421).kind == DeliveryKind::transient);
  CHECK(classify_smtp_delivery(CURLE_WEIRD_SERVER_REPLY, 554).kind == DeliveryKind::permanent);
  CHECK(classify_smtp_delivery(CURLE_SEND_ERROR, 550).kind == DeliveryKind::permanent);
  CHECK(classify_smtp_delivery(CURLE_LOGIN_DENIED, 535).kind == DeliveryKind::permanent);
  CHECK(classify_smtp_delivery(CURLE_COULDNT_CONNECT, 0).kind == DeliveryKind::transient);
  CHECK(classify_smtp_delivery(CURLE_OPERATION_TIMEDOUT, 0).kind == DeliveryKind::transient);
  CHECK(classify_smtp_delivery(CURLE_ABORTED_BY_CALLBACK, 0).kind == DeliveryKind::cancelled);
  const DeliveryResult r = classify_smtp_delivery(CURLE_WEIRD_SERVER_REPLY, 451);
  CHECK(r.status == 451);
  CHECK(r.detail.find("SMTP 451") != std::string::npos);
}

TEST_CASE("for the breaker only transient failures count, permanent ones prove the destination is up",
          "[notify][classify]") {
  CHECK(breaker_outcome(DeliveryKind::delivered) == Outcome::success);
  CHECK(breaker_outcome(DeliveryKind::permanent) == Outcome::success);
  CHECK(breaker_outcome(DeliveryKind::transient) == Outcome::failure);
  CHECK(breaker_outcome(DeliveryKind::cancelled) == Outcome::ignored);
}

// --- incidents ----------------------------------------------------------------------------

TEST_CASE("an incident needs an id of at most 255 bytes and a title", "[notify][incident]") {
  std::string message;
  CHECK_FALSE(validate(sample_incident(), &message));
  Incident bad = sample_incident();
  bad.id.clear();
  CHECK(validate(bad, &message) == errc::invalid_incident);
  CHECK(message.find("Incident::id") != std::string::npos);
  bad = sample_incident(std::string(256, 'x'));
  CHECK(validate(bad, &message) == errc::invalid_incident);
  bad = sample_incident();
  bad.title.clear();
  CHECK(validate(bad, &message) == errc::invalid_incident);
  CHECK(message.find("Incident::title") != std::string::npos);
  bad = sample_incident();
  bad.details["k"] = "\xff";  // could never be put into a JSON payload
  CHECK(validate(bad, &message) == errc::invalid_incident);
  CHECK(message.find("UTF-8") != std::string::npos);
}

TEST_CASE("message ids are 32 hex digits and differ", "[notify][incident]") {
  const std::string a = make_notification_id();
  const std::string b = make_notification_id();
  CHECK(a.size() == 32);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a != b);
}

TEST_CASE("an incident's JSON has RFC 3339 times and omits unknown ones", "[notify][incident]") {
  nlohmann::json j = sample_incident();
  CHECK(j["created_at"] == "2025-12-01T12:00:00.250Z");
  CHECK_FALSE(j.contains("updated_at"));
  CHECK(j["severity"] == "critical");
  CHECK(j["status"] == "trigger");
  CHECK(j["details"]["region"] == "eu-west-1");
  // The spool's form reads back unchanged.
  const Incident back = breaker::notify::detail::incident_from_record(
      breaker::notify::detail::incident_to_record(sample_incident()));
  CHECK(back == sample_incident());
}

// --- payloads -----------------------------------------------------------------------------

TEST_CASE("the Slack payload has text, blocks, the ids and mrkdwn escaping", "[notify][slack]") {
  SlackConfig config = slack_config("https://hooks.slack.test/x");
  config.channel = "#ops";
  config.username = "breaker";
  config.icon_emoji = ":rotating_light:";
  const nlohmann::json p = slack_payload(notification("n1"), config);
  CHECK(p["text"] == "[CRITICAL] Database latency above 2 s (triggered)");
  CHECK(p["channel"] == "#ops");
  CHECK(p["username"] == "breaker");
  CHECK(p["icon_emoji"] == ":rotating_light:");
  CHECK(p["blocks"][0]["type"] == "header");
  CHECK(p["blocks"][0]["text"]["text"] == "Database latency above 2 s");
  CHECK(p["blocks"][2]["text"]["text"] == "p99 latency of &lt;orders-db&gt; is 2.4 s &amp; rising");
  CHECK(p["blocks"][3]["elements"][0]["text"] == "notification n1");
  CHECK(p["metadata"]["event_payload"]["notification_id"] == "n1");
  CHECK(p["metadata"]["event_payload"]["incident_id"] == "inc-1");
  SECTION("a long title is cut at 150 bytes on a UTF-8 boundary") {
    Notification n = notification("n2");
    n.incident.title = std::string(149, 'a') + "\xc3\xa9\xc3\xa9";  // 149 + two 2-byte characters
    const std::string header = slack_payload(n, config)["blocks"][0]["text"]["text"];
    CHECK(header.size() <= 150);
    CHECK(header.substr(header.size() - 3) == "...");
    CHECK(nlohmann::json(header).dump().find("\\u") == std::string::npos);  // valid UTF-8
  }
  SECTION("overrides are omitted when empty") {
    const nlohmann::json q = slack_payload(notification("n3"), slack_config("https://h/x"));
    CHECK_FALSE(q.contains("channel"));
    CHECK_FALSE(q.contains("username"));
  }
}

TEST_CASE("PagerDuty: trigger carries the payload and dedup_key, resolve only the dedup_key",
          "[notify][pagerduty]") {
  PagerDutyConfig config;
  config.routing_key = "R0UT1NGKEY";
  config.component = "db";
  nlohmann::json p = pagerduty_payload(notification("n1"), config);
  CHECK(p["routing_key"] == "R0UT1NGKEY");
  CHECK(p["event_action"] == "trigger");
  CHECK(p["dedup_key"] == "inc-1");
  CHECK(p["payload"]["summary"] == "Database latency above 2 s");
  CHECK(p["payload"]["source"] == "orders-db-1");
  CHECK(p["payload"]["severity"] == "critical");
  CHECK(p["payload"]["timestamp"] == "2025-12-01T12:00:00.250Z");
  CHECK(p["payload"]["component"] == "db");
  CHECK_FALSE(p["payload"].contains("group"));
  CHECK(p["payload"]["custom_details"]["notification_id"] == "n1");

  Notification resolve = notification("n2");
  resolve.incident.status = IncidentStatus::resolve;
  p = pagerduty_payload(resolve, config);
  CHECK(p == nlohmann::json{{"routing_key", "R0UT1NGKEY"}, {"dedup_key", "inc-1"}, {"event_action", "resolve"}});

  SECTION("no source: the configured default; summary cut at 1024 bytes") {
    Notification n = notification("n3");
    n.incident.source.clear();
    n.incident.title = std::string(2000, 's');
    p = pagerduty_payload(n, config);
    CHECK(p["payload"]["source"] == "breaker");
    CHECK(p["payload"]["summary"].get<std::string>().size() == 1024);
  }
}

TEST_CASE("the webhook payload is the notification id, the event and the incident", "[notify][webhook]") {
  const nlohmann::json p = webhook_payload(notification("n1"));
  CHECK(p["notification_id"] == "n1");
  CHECK(p["event"] == "incident.trigger");
  CHECK(p["incident"] == nlohmann::json(sample_incident()));
}

TEST_CASE("the e-mail message has the headers, a Message-ID from the notification id and a base64 body",
          "[notify][email]") {
  EmailConfig config = email_config("smtp://127.0.0.1:2525", "alerts@example.test", {"oncall@example.test", "ops@example.test"});
  const auto date = std::chrono::system_clock::time_point{std::chrono::seconds{1'764'590'400}};
  const std::string m = email_message(notification("n1"), config, date);
  CHECK(m.find("From: alerts@example.test\r\n") == 0);
  CHECK(m.find("\r\nTo: oncall@example.test, ops@example.test\r\n") != std::string::npos);
  CHECK(m.find("\r\nSubject: [incident] [CRITICAL] Database latency above 2 s (triggered)\r\n") != std::string::npos);
  CHECK(m.find("\r\nDate: Mon, 01 Dec 2025 12:00:00 +0000\r\n") != std::string::npos);
  CHECK(m.find("\r\nMessage-ID: <n1@breaker.notify>\r\n") != std::string::npos);
  CHECK(m.find("\r\nX-Breaker-Incident-Id: inc-1\r\n") != std::string::npos);
  CHECK(m.find("\r\nContent-Transfer-Encoding: base64\r\n\r\n") != std::string::npos);
  // Every line ends in CRLF and none is longer than 78 characters plus CRLF.
  std::size_t start = 0;
  while (start < m.size()) {
    const std::size_t end = m.find("\r\n", start);
    REQUIRE(end != std::string::npos);
    CHECK(end - start <= 78);
    start = end + 2;
  }
  SECTION("CR/LF in a title cannot inject a header; non-ASCII subjects are RFC 2047 encoded") {
    Notification n = notification("n2");
    n.incident.title = "boom\r\nBcc: victim@example.test";
    const std::string injected = email_message(n, config, date);
    CHECK(injected.find("\r\nBcc:") == std::string::npos);
    n.incident.title = "Störung";
    CHECK(email_message(n, config, date).find("Subject: =?UTF-8?B?") != std::string::npos);
  }
}

TEST_CASE("sender configs name the bad field", "[notify][config]") {
  std::string message;
  CHECK(SlackConfig{}.validate(&message) == errc::invalid_config);
  CHECK(message.find("SlackConfig::webhook_url") != std::string::npos);
  CHECK_FALSE(slack_config("http://127.0.0.1:1/hook").validate());
  SlackConfig bad_name = slack_config("http://127.0.0.1:1/hook");
  bad_name.name = "../etc";
  CHECK(bad_name.validate(&message) == errc::invalid_config);
  CHECK(message.find("SlackConfig::name") != std::string::npos);
  PagerDutyConfig pd;
  CHECK(pd.validate(&message) == errc::invalid_config);
  CHECK(message.find("routing_key") != std::string::npos);
  WebhookConfig hook;
  hook.url = "http://127.0.0.1:1/x";
  hook.headers = {{"X-Evil", "a\r\nb"}};
  CHECK(hook.validate(&message) == errc::invalid_config);
  EmailConfig email = email_config("smtp://127.0.0.1:25", "alerts@example.test", {});
  CHECK(email.validate(&message) == errc::invalid_config);
  CHECK(message.find("EmailConfig::to") != std::string::npos);
  email.to = {"not an address"};
  CHECK(email.validate(&message) == errc::invalid_config);
  email.to = {"a@b.test"};
  email.smtp_url = "http://x";
  CHECK(email.validate(&message) == errc::invalid_config);
  email.smtp_url = "smtp://127.0.0.1:25";
  CHECK_FALSE(email.validate());
  email.timeout = 0ms;
  CHECK(email.validate(&message) == errc::invalid_config);
}

// --- retry queue --------------------------------------------------------------------------

TEST_CASE("the retry queue attempts in order, one at a time, and keeps a failed front in front",
          "[notify][queue]") {
  ManualClock clock;
  RetryQueue<ManualClock> q(queue_options(10, OverflowPolicy::reject_newest, 100ms, 1000ms, 50ms));
  q.push(notification("a"));
  q.push(notification("b"));
  const Notification* first = q.begin_attempt(clock.now());
  REQUIRE(first != nullptr);
  CHECK(first->id == "a");
  CHECK(q.begin_attempt(clock.now()) == nullptr);  // one in flight at a time
  q.finish_transient(clock.now());
  CHECK(q.front_attempts() == 1);
  CHECK(q.next_due() == clock.now() + 100ms);
  CHECK(q.begin_attempt(clock.now()) == nullptr);  // not due yet; "b" waits behind "a"
  clock.advance(100ms);
  REQUIRE(q.begin_attempt(clock.now()) != nullptr);
  CHECK(q.entries().front().id == "a");
  CHECK(q.finish_removed().id == "a");
  const Notification* second = q.begin_attempt(clock.now());  // due at once
  REQUIRE(second != nullptr);
  CHECK(second->id == "b");
}

TEST_CASE("backoff doubles from initial_backoff up to max_backoff, a rejection waits rejected_retry",
          "[notify][queue]") {
  ManualClock clock;
  RetryQueue<ManualClock> q(queue_options(10, OverflowPolicy::reject_newest, 100ms, 350ms, 40ms));
  CHECK(q.backoff(1) == 100ms);
  CHECK(q.backoff(2) == 200ms);
  CHECK(q.backoff(3) == 350ms);
  CHECK(q.backoff(30) == 350ms);
  q.push(notification("a"));
  REQUIRE(q.begin_attempt(clock.now()));
  q.finish_rejected(clock.now());
  CHECK(q.front_attempts() == 0);
  CHECK(q.next_due() == clock.now() + 40ms);
  clock.advance(39ms);
  CHECK(q.begin_attempt(clock.now()) == nullptr);
  clock.advance(1ms);
  CHECK(q.begin_attempt(clock.now()) != nullptr);
  q.finish_cancelled();
  CHECK(q.begin_attempt(clock.now()) != nullptr);  // still due
  CHECK_THROWS_AS(RetryQueue<ManualClock>(queue_options(0)), std::system_error);
  CHECK_THROWS_AS(RetryQueue<ManualClock>(queue_options(1, OverflowPolicy::reject_newest, 2000ms, 1000ms)),
                  std::system_error);
}

TEST_CASE("a full queue refuses the newest by default and hands it back", "[notify][queue][overflow]") {
  RetryQueue<ManualClock> q(queue_options(2));
  CHECK(q.push(notification("a")).outcome == PushOutcome::queued);
  CHECK(q.push(notification("b")).outcome == PushOutcome::queued);
  const PushResult r = q.push(notification("c"));
  CHECK(r.outcome == PushOutcome::rejected_newest);
  REQUIRE(r.displaced);
  CHECK(r.displaced->id == "c");
  CHECK(q.size() == 2);
  CHECK(q.push(notification("replayed"), true).outcome == PushOutcome::queued);  // beyond capacity
  CHECK(q.size() == 3);
}

TEST_CASE("drop_oldest drops the oldest waiting notification, never the one in flight",
          "[notify][queue][overflow]") {
  ManualClock clock;
  RetryQueue<ManualClock> q(queue_options(2, OverflowPolicy::drop_oldest));
  q.push(notification("a"));
  q.push(notification("b"));
  PushResult r = q.push(notification("c"));
  CHECK(r.outcome == PushOutcome::dropped_oldest);
  CHECK(r.displaced->id == "a");
  REQUIRE(q.begin_attempt(clock.now())->id == "b");
  r = q.push(notification("d"));  // "b" is in flight: "c" goes
  CHECK(r.displaced->id == "c");
  CHECK(q.entries().front().id == "b");
  CHECK(q.entries().back().id == "d");
  SECTION("capacity 1 with its only entry in flight refuses the new one") {
    RetryQueue<ManualClock> one(queue_options(1, OverflowPolicy::drop_oldest));
    one.push(notification("x"));
    REQUIRE(one.begin_attempt(clock.now()));
    CHECK(one.push(notification("y")).outcome == PushOutcome::rejected_newest);
  }
}

// --- spool --------------------------------------------------------------------------------

TEST_CASE("a spool replays what was accepted and not finished, in order, with ids and seqs",
          "[notify][spool]") {
  breaker::test::TempDir dir("notify-spool");
  std::vector<Notification> accepted;
  {
    Spool spool(dir.path(), "slack");
    CHECK(spool.recovered().empty());
    for (const char* id : {"a", "b", "c", "d"}) {
      Notification n = notification(id);
      spool.append(n);
      accepted.push_back(n);
    }
    CHECK(accepted[0].seq == 1);
    CHECK(accepted[3].seq == 4);
    spool.mark_done(accepted[0].seq);
    spool.mark_done(accepted[2].seq);
    spool.mark_done(99);  // unknown: no effect
    CHECK(spool.pending() == 2);
  }
  Spool reopened(dir.path(), "slack");
  REQUIRE(reopened.recovered().size() == 2);
  CHECK(reopened.recovered()[0] == accepted[1]);
  CHECK(reopened.recovered()[1] == accepted[3]);
  Notification e = notification("e");
  reopened.append(e);
  CHECK(e.seq == 5);  // numbering continues
}

TEST_CASE("a spool whose notifications are all finished is empty on disk", "[notify][spool]") {
  breaker::test::TempDir dir("notify-spool");
  Spool spool(dir.path(), "webhook");
  Notification n = notification("a");
  spool.append(n);
  CHECK(std::filesystem::file_size(spool.path()) > 0);
  spool.mark_done(n.seq);
  CHECK(std::filesystem::file_size(spool.path()) == 0);
}

TEST_CASE("compaction keeps only the pending records", "[notify][spool]") {
  breaker::test::TempDir dir("notify-spool");
  {
    Spool spool(dir.path(), "email", SpoolOptions{false, 3});
    std::vector<Notification> ns;
    for (int i = 0; i < 6; ++i) {
      Notification n = notification("n" + std::to_string(i));
      spool.append(n);
      ns.push_back(n);
    }
    for (int i = 0; i < 3; ++i) spool.mark_done(ns[static_cast<std::size_t>(i)].seq);  // third triggers compaction
    const std::string text = breaker::test::read_file(spool.path());
    CHECK(text.find("\"done\"") == std::string::npos);
    CHECK(std::count(text.begin(), text.end(), '\n') == 3);
  }
  Spool reopened(dir.path(), "email");
  REQUIRE(reopened.recovered().size() == 3);
  CHECK(reopened.recovered()[0].id == "n3");
}

TEST_CASE("a torn last record (crash mid-write) is dropped and counted, a bad record elsewhere is an error",
          "[notify][spool]") {
  breaker::test::TempDir dir("notify-spool");
  std::filesystem::path file;
  {
    Spool spool(dir.path(), "pd");
    Notification n = notification("a");
    spool.append(n);
    file = spool.path();
  }
  {
    std::ofstream out(file, std::ios::app);
    out << R"({"op":"add","seq":2,"id":"b","incid)";  // no newline: never acknowledged
  }
  {
    Spool spool(dir.path(), "pd");
    CHECK(spool.torn_records() == 1);
    REQUIRE(spool.recovered().size() == 1);
    CHECK(spool.recovered()[0].id == "a");
    Notification c = notification("c");
    spool.append(c);  // appends after the cut, not after the torn bytes
  }
  {
    Spool spool(dir.path(), "pd");
    CHECK(spool.torn_records() == 0);
    CHECK(spool.recovered().size() == 2);
  }
  {
    std::ofstream out(file, std::ios::app);
    out << "this is not json\n" << R"({"op":"done","seq":1})" << "\n";
  }
  try {
    Spool spool(dir.path(), "pd");
    FAIL("a corrupt spool opened");
  } catch (const std::system_error& e) {
    CHECK(e.code() == errc::spool_corrupt);
    CHECK(std::string(e.what()).find("pd.spool:3") != std::string::npos);
  }
}

TEST_CASE("a spool is locked: a second one on the same destination fails until the first is gone",
          "[notify][spool]") {
  breaker::test::TempDir dir("notify-spool");
  auto first = std::make_unique<Spool>(dir.path(), "slack");
  try {
    Spool second(dir.path(), "slack");
    FAIL("two spools on one destination");
  } catch (const std::system_error& e) {
    CHECK(e.code() == errc::spool_locked);
  }
  Spool other(dir.path(), "email");  // other destinations are independent
  first.reset();
  CHECK_NOTHROW(Spool(dir.path(), "slack"));
}

TEST_CASE("a spool refuses destination names that are not plain file names", "[notify][spool]") {
  breaker::test::TempDir dir("notify-spool");
  for (const char* name : {"", "../x", "a/b", ".hidden", "sp ace"}) {
    INFO(name);
    try {
      Spool spool(dir.path(), name);
      FAIL("accepted");
    } catch (const std::system_error& e) {
      CHECK(e.code() == errc::invalid_config);
    }
  }
}

TEST_CASE("a failed spool write leaves the notification unaccepted and the file unchanged",
          "[notify][spool]") {
  breaker::test::TempDir dir("notify-spool");
  Spool spool(dir.path(), "slack");
  Notification a = notification("a");
  spool.append(a);
  const auto size_before = std::filesystem::file_size(spool.path());
  // A record that cannot be encoded (invalid UTF-8) throws before anything is written.
  Notification bad = notification("b");
  bad.incident.title = "\xff\xfe";
  CHECK_THROWS(spool.append(bad));
  CHECK(std::filesystem::file_size(spool.path()) == size_before);
  CHECK(spool.pending() == 1);
}
