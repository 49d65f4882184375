// SPDX-License-Identifier: Apache-2.0
//
// The sending process of the crash test (test_notify_spool.cpp): accepts N notifications
// into a spooled webhook notifier, writes "<dir>/accepted" once they are all on disk, and
// keeps sending until it is killed (SIGKILL: no destructor, no cleanup).
//
// usage: breaker_notify_spool_child <spool-dir> <webhook-url> <count>

#include "breaker/http/client.hpp"
#include "breaker/notify/notifier_with_breaker.hpp"

#include <asio/io_context.hpp>

#include <fstream>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: breaker_notify_spool_child <spool-dir> <webhook-url> <count>\n";
    return 2;
  }
  using namespace breaker::notify;
  asio::io_context io;
  breaker::http::Client client(io.get_executor());
  WebhookConfig config;
  config.url = argv[2];
  config.timeout = std::chrono::seconds(30);
  NotifierOptions options;
  options.spool_dir = argv[1];
  NotifierWithBreaker<WebhookSender> notifier(io.get_executor(), WebhookSender(client, config), options);
  const int count = std::stoi(argv[3]);
  {
    std::ofstream ids(std::string(argv[1]) + "/ids");
    for (int i = 0; i < count; ++i) {
      Incident incident;
      incident.id = "crash-" + std::to_string(i);
      incident.title = "sent by the process that crashes";
      ids << notifier.submit(incident).notification_id << "\n";
    }
  }
  std::ofstream(std::string(argv[1]) + "/accepted") << count << "\n";
  io.run();  // until killed
  return 0;
}
