// SPDX-License-Identifier: Apache-2.0
//
// The spool across restarts of the sender: a new notifier over the same spool directory
// replays what the old one had accepted and not finished, both after an orderly stop in
// the middle of an attempt and after the sending process was killed (SIGKILL). The
// receiver drops the notification that was in flight at the crash by its id; the test
// counts it.

#include "notify_fixture.hpp"

#include "servers/http_test_server.hpp"
#include "servers/process.hpp"

#include <csignal>
#include <fstream>

using namespace notify_test;
using namespace breaker::notify;
using breaker::test::HttpTestServer;
using breaker::test::ScriptedReply;
using breaker::test::TempDir;

namespace {

std::vector<std::string> ids_of(const HttpTestServer& server) {
  std::vector<std::string> ids;
  for (const auto& r : server.requests()) ids.push_back(r.header(notification_id_header));
  return ids;
}

WebhookSender make_webhook(breaker::http::Client& client, const HttpTestServer& server) {
  WebhookConfig c;
  c.url = server.url("/hooks/incidents");
  c.timeout = 10s;
  return WebhookSender(client, c);
}

ScriptedReply stalled() {
  ScriptedReply r;
  r.delay = 10s;  // longer than the test waits: the attempt is in flight when the sender goes
  return r;
}

}  // namespace

TEST_CASE("a notifier stopped mid-flight loses nothing: the next one on the spool replays it all, in order",
          "[notify][spool][restart]") {
  Fixture f;
  TempDir dir("notify-spool");
  HttpTestServer server;
  server.set_default(stalled());
  NotifierOptions options = test_options();
  options.spool_dir = dir.path();
  std::vector<std::string> accepted;
  {
    auto first = std::make_unique<NotifierWithBreaker<WebhookSender, ManualClock>>(
        f.io.get_executor(), make_webhook(f.client, server), options, f.clock);
    for (int i = 0; i < 5; ++i) accepted.push_back(first->submit(incident("inc-" + std::to_string(i), "spooled")).notification_id);
    REQUIRE(eventually([&] { return server.request_count() == 1; }));  // the first is in flight
    f.await([&] { return first->stop(); });
    CHECK(first->stats().delivered == 0);
    first.reset();  // destroyed with all five undelivered
  }
  ScriptedReply ok;
  server.set_default(ok);
  NotifierWithBreaker<WebhookSender, ManualClock> second(f.io.get_executor(), make_webhook(f.client, server),
                                                         options, f.clock);
  CHECK(second.stats().replayed == 5);
  REQUIRE(eventually([&] { return second.stats().queued == 0; }));
  const Received r = dedupe(ids_of(server));
  CHECK(r.distinct == accepted);   // none missing, in order
  CHECK(r.duplicates == 1);        // the one in flight at the stop, dropped by its id
  CHECK(second.stats().delivered == 5);
  // Everything finished: the spool file is empty again.
  CHECK(std::filesystem::file_size(dir.path() / "webhook.spool") == 0);
}

TEST_CASE("the sending process killed with SIGKILL mid-flight: a new notifier on its spool delivers every "
          "accepted notification, the duplicate is dropped by id and counted",
          "[notify][spool][crash]") {
  Fixture f;
  TempDir dir("notify-spool");
  HttpTestServer server;
  server.set_default(stalled());
  const int count = 6;
  breaker::test::ChildProcess child(
      {BREAKER_NOTIFY_SPOOL_CHILD, dir.str(), server.url("/hooks/incidents"), std::to_string(count)});
  REQUIRE(eventually([&] { return std::filesystem::exists(dir.path() / "accepted"); }));
  REQUIRE(eventually([&] { return server.request_count() == 1; }));  // the first is in flight
  child.stop(SIGKILL);

  std::vector<std::string> accepted;
  {
    std::ifstream in(dir.path() / "ids");
    for (std::string id; std::getline(in, id);) accepted.push_back(id);
  }
  REQUIRE(accepted.size() == static_cast<std::size_t>(count));

  ScriptedReply ok;
  server.set_default(ok);
  NotifierOptions options = test_options();
  options.spool_dir = dir.path();
  NotifierWithBreaker<WebhookSender, ManualClock> restarted(f.io.get_executor(), make_webhook(f.client, server),
                                                            options, f.clock);
  CHECK(restarted.stats().replayed == static_cast<std::uint64_t>(count));
  REQUIRE(eventually([&] { return restarted.stats().queued == 0; }));
  const Received r = dedupe(ids_of(server));
  CHECK(r.distinct == accepted);
  CHECK(r.duplicates == 1);
}
