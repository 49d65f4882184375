// SPDX-License-Identifier: Apache-2.0
//
// The e-mail notifier against a real SMTP server: the aiosmtpd sink
// (tests/support/servers/smtp_sink.py, run with /usr/bin/python3 as a child process of the
// test), killed, restarted, answering 451 and 554 on command. Breaker time: ManualClock.

#include "notify_fixture.hpp"

#include "servers/process.hpp"
#include "servers/smtp_sink.hpp"

using namespace notify_test;
using namespace breaker::notify;
using breaker::test::SmtpSink;
using breaker::test::TempDir;

namespace {

EmailSender make_email(breaker::http::Client& client, const SmtpSink& sink) {
  EmailConfig c;
  c.smtp_url = sink.url();
  c.from = "alerts@breaker.test";
  c.to = {"oncall@breaker.test", "ops@breaker.test"};
  c.timeout = 5s;
  return EmailSender(client, c);
}

std::vector<std::string> notification_ids(const SmtpSink& sink) {
  std::vector<std::string> ids;
  for (const auto& m : sink.messages()) ids.push_back(m["notification_id"].get<std::string>());
  return ids;
}

}  // namespace

TEST_CASE("e-mail over SMTP arrives with its headers, recipients and body", "[notify][email][smtp]") {
  Fixture f;
  TempDir dir("notify-smtp");
  SmtpSink sink(BREAKER_SMTP_SINK_SCRIPT, dir.path() / "sink");
  EmailSender sender = make_email(f.client, sink);
  const Notification n{make_notification_id(), 0, incident("inc-mail", "Checkout errors")};
  const DeliveryResult r = f.await([&] { return sender.send(n); });
  CHECK(r.kind == DeliveryKind::delivered);
  const auto messages = sink.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0]["message_id"] == "<" + n.id + "@breaker.notify>");
  CHECK(messages[0]["incident_id"] == "inc-mail");
  CHECK(messages[0]["from"] == "alerts@breaker.test");
  CHECK(messages[0]["to"] == nlohmann::json::array({"oncall@breaker.test", "ops@breaker.test"}));
  CHECK(messages[0]["subject"] == "[incident] [CRITICAL] Checkout errors (triggered)");
  CHECK(messages[0]["body"].get<std::string>().find("error rate above 5%") != std::string::npos);
}

TEST_CASE("SMTP 451 is transient (queued, retried, delivered), 554 is permanent (reported, not retried)",
          "[notify][email][smtp]") {
  Fixture f;
  TempDir dir("notify-smtp");
  SmtpSink sink(BREAKER_SMTP_SINK_SCRIPT, dir.path() / "sink");
  NotifierOptions options = test_options();
  std::vector<long> permanent_codes;
  options.on_permanent_failure = [&](const Notification&, const DeliveryResult& r) {
    permanent_codes.push_back(r.status);
  };
  NotifierWithBreaker<EmailSender, ManualClock> notifier(f.io.get_executor(), make_email(f.client, sink), options,
                                                         f.clock);
  SECTION("451 try again later") {
    sink.fail_with(451);
    CHECK(f.await([&] { return notifier.send(incident("inc-451", "greylisted")); }) == SendStatus::queued);
    CHECK(notifier.stats().transient_failures == 1);
    CHECK(sink.messages().empty());
    sink.clear_failure();
    REQUIRE(f.advance_until([&] { return notifier.stats().delivered == 1; }));
    CHECK(sink.messages().size() == 1);
    CHECK(notifier.breaker().state() == breaker::State::closed);
  }
  SECTION("554 rejected") {
    sink.fail_with(554);
    CHECK(f.await([&] { return notifier.send(incident("inc-554", "rejected")); }) == SendStatus::failed_permanently);
    CHECK(permanent_codes == std::vector<long>{554});
    CHECK(notifier.stats().queued == 0);
    CHECK(notifier.breaker().state() == breaker::State::closed);
  }
}

TEST_CASE("SMTP server killed: the breaker opens, nothing connects while open, and after a restart every "
          "e-mail of the outage arrives once, in order",
          "[notify][email][smtp][outage]") {
  Fixture f;
  TempDir dir("notify-smtp");
  SmtpSink sink(BREAKER_SMTP_SINK_SCRIPT, dir.path() / "sink");
  NotifierWithBreaker<EmailSender, ManualClock> notifier(f.io.get_executor(), make_email(f.client, sink),
                                                         test_options(), f.clock);
  CHECK(f.await([&] { return notifier.send(incident("inc-0", "before")); }) == SendStatus::delivered);

  sink.kill();
  std::vector<std::string> outage_ids;
  for (int i = 1; i <= 6; ++i) outage_ids.push_back(notifier.submit(incident("inc-" + std::to_string(i), "during")).notification_id);
  // Both: the attempt's outcome opens the breaker just before the notifier counts it (and
  // attempts_when_open below must include that attempt).
  const bool opened = f.advance_until([&] {
    return notifier.breaker().state() == breaker::State::open && notifier.stats().transient_failures >= 3;
  });
  INFO("attempts " << notifier.stats().attempts << ", transient " << notifier.stats().transient_failures
                   << ", delivered " << notifier.stats().delivered << ", queued " << notifier.stats().queued
                   << "; config: threshold " << notifier.breaker().config().failure_threshold << ", min volume " << notifier.breaker().config().minimum_request_threshold << "; breaker: succeeded " << notifier.breaker().stats().successful_calls << ", consecutive failures " << notifier.breaker().stats().consecutive_failures << ", failed " << notifier.breaker().stats().failed_calls << ", ignored "
                   << notifier.breaker().stats().ignored_calls << ", rejected " << notifier.breaker().stats().rejected_calls
                   << ", closed->open " << notifier.breaker().transitions(breaker::State::closed, breaker::State::open)
                   << ", open->half-open "
                   << notifier.breaker().transitions(breaker::State::open, breaker::State::half_open));
  REQUIRE(opened);
  CHECK(notifier.stats().transient_failures == 3);
  const auto attempts_when_open = notifier.stats().attempts;
  const auto rejected = notifier.stats().rejected_by_breaker;
  REQUIRE(f.advance_until([&] { return notifier.stats().rejected_by_breaker >= rejected + 5; }, 100));
  CHECK(notifier.stats().attempts == attempts_when_open);  // fail fast: no connection attempts

  sink.start();
  f.clock.advance(30s);
  REQUIRE(eventually([&] { return notifier.stats().queued == 0; }));
  CHECK(notifier.breaker().state() == breaker::State::closed);
  const std::vector<std::string> ids = notification_ids(sink);
  REQUIRE(ids.size() == 7);
  const Received r = dedupe({ids.begin() + 1, ids.end()});
  CHECK(r.duplicates == 0);
  CHECK(r.distinct == outage_ids);
}
