// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Generic JSON webhook destination: `WebhookConfig`, `webhook_payload`, `WebhookSender`.

#include "breaker/notify/delivery.hpp"
#include "breaker/notify/incident.hpp"
#include "breaker/notify/sender.hpp"

#include <asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace breaker::notify {

/// Settings of a generic JSON webhook.
struct WebhookConfig {
  /// The URL the notifications are POSTed to; required, http(s).
  std::string url;
  /// Extra header fields (e.g. an `Authorization`), sent with every request.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Timeout of one attempt. Range (0, 10 min].
  std::chrono::milliseconds timeout{10'000};
  /// Name of the destination (breaker and spool file name). Letters, digits, `._-`.
  std::string name = "webhook";

  /// `errc::invalid_config` naming the first bad field, or an empty code.
  std::error_code validate(std::string* message = nullptr) const;
};

/// The JSON body: `notification_id`, `event` (`"incident.trigger"` or
/// `"incident.resolve"`) and `incident` (see `to_json(json&, const Incident&)`).
nlohmann::json webhook_payload(const Notification& notification);

/// POSTs notifications as JSON over `breaker::http::Client`. Thread safety, lifetime,
/// cancellation: as `SlackSender`.
class WebhookSender {
 public:
  /// \throws std::system_error(errc::invalid_config) naming the bad field.
  WebhookSender(http::Client& client, WebhookConfig config);

  /// One attempt: POST of `webhook_payload` (JSON, the configured headers and
  /// `X-Breaker-Notification-Id`).
  /// \throws std::system_error(errc::invalid_incident) for an invalid incident.
  asio::awaitable<DeliveryResult> send(const Notification& notification);
  /// `send` of a new notification (fresh message id) about `incident`.
  asio::awaitable<DeliveryResult> send(const Incident& incident);

  const std::string& destination() const noexcept { return config_.name; }
  const WebhookConfig& config() const noexcept { return config_; }

 private:
  // The coroutine owns its copy: the caller's notification may be a temporary.
  asio::awaitable<DeliveryResult> attempt(Notification notification);

  http::Client* client_;
  WebhookConfig config_;
};

}  // namespace breaker::notify
