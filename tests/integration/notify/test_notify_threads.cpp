// SPDX-License-Identifier: Apache-2.0
//
// One notifier on an io_context run by 4 threads, fed by 4 submitting threads while the sink
// fails now and then: every notification arrives once and each submitter's notifications
// arrive in its order. Bounded by counts (4 x 50), not by time. Label sanitize: also run
// under ASan/UBSan and TSan.

#include "notify_fixture.hpp"

#include "servers/http_test_server.hpp"

#include <asio/executor_work_guard.hpp>

using namespace notify_test;
using namespace breaker::notify;

TEST_CASE("4 io threads and 4 submitting threads: every notification once, in each submitter's order",
          "[notify][threads]") {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> io_threads;
  for (int i = 0; i < 4; ++i) io_threads.emplace_back([&] { io.run(); });
  {
    breaker::http::Client client(io.get_executor());
    ManualClock clock;
    breaker::test::HttpTestServer server;
    breaker::test::ScriptedReply failing;
    failing.status = 503;
    for (int i = 0; i < 2; ++i) server.enqueue(failing);  // two transient failures up front

    WebhookConfig config;
    config.url = server.url("/hooks");
    NotifierOptions options = test_options();
    options.queue.capacity = 1000;
    NotifierWithBreaker<WebhookSender, ManualClock> notifier(io.get_executor(), WebhookSender(client, config),
                                                             options, clock);
    constexpr int submitters = 4;
    constexpr int per_submitter = 50;
    std::vector<std::vector<std::string>> ids(submitters);
    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_submitter; ++i) {
          const Accepted a = notifier.submit(incident("t" + std::to_string(t) + "-" + std::to_string(i), "load"));
          ids[static_cast<std::size_t>(t)].push_back(a.notification_id);
          (void)notifier.stats();
        }
      });
    }
    for (auto& th : threads) th.join();
    bool drained = false;
    for (int step = 0; step < 5000 && !drained; ++step) {
      drained = notifier.stats().queued == 0;
      clock.advance(10ms);
      std::this_thread::sleep_for(1ms);
    }
    REQUIRE(drained);

    std::vector<std::string> arrived;
    for (const auto& r : server.requests()) arrived.push_back(r.header(notification_id_header));
    const Received received = dedupe(arrived);
    CHECK(received.distinct.size() == submitters * per_submitter);
    CHECK(received.duplicates == 2);  // the two attempts answered 503, retried
    for (const auto& mine : ids) {
      std::vector<std::string> order;
      for (const auto& id : received.distinct) {
        if (std::find(mine.begin(), mine.end(), id) != mine.end()) order.push_back(id);
      }
      CHECK(order == mine);
    }
    CHECK(notifier.stats().delivered == submitters * per_submitter);
    CHECK(notifier.stats().transient_failures == 2);
    auto stopped = asio::co_spawn(io, notifier.stop(), asio::use_future);
    stopped.get();
  }
  work.reset();
  for (auto& th : io_threads) th.join();
}
