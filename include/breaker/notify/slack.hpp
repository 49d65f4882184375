// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Slack incoming-webhook destination: `SlackConfig`, the payload builder
/// `slack_payload`, and `SlackSender`.

#include "breaker/notify/delivery.hpp"
#include "breaker/notify/incident.hpp"
#include "breaker/notify/sender.hpp"

#include <asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <system_error>

namespace breaker::notify {

/// Settings of a Slack incoming webhook.
struct SlackConfig {
  /// The webhook URL (`https://hooks.slack.com/services/...`); required, http(s).
  std::string webhook_url;
  /// Channel override (legacy webhooks only); empty: the webhook's channel.
  std::string channel;
  /// Display name override; empty: none.
  std::string username;
  /// Icon override such as `:rotating_light:`; empty: none.
  std::string icon_emoji;
  /// Timeout of one attempt. Range (0, 10 min].
  std::chrono::milliseconds timeout{10'000};
  /// Name of the destination (breaker and spool file name). Letters, digits, `._-`.
  std::string name = "slack";

  /// `errc::invalid_config` naming the first bad field, or an empty code.
  std::error_code validate(std::string* message = nullptr) const;
};

/// The JSON body for one notification: `text` (the notification fallback line),
/// `blocks` (header with the title, fields severity/status/source/incident, the summary,
/// a context line with the notification id), the optional overrides, and `metadata`
/// (`event_type` `breaker_incident`, `event_payload` with incident and notification id).
/// Text is escaped for Slack's mrkdwn (`&`, `<`, `>`) and cut at Slack's limits (header
/// 150, section 3000 characters) on UTF-8 boundaries.
nlohmann::json slack_payload(const Notification& notification, const SlackConfig& config);

/// Sends notifications to a Slack incoming webhook over `breaker::http::Client`.
///
/// Thread safety: `send` may be called concurrently. Lifetime: `client` must outlive the
/// sender and every `send` in flight. Cancellation: cancelling the awaiting coroutine
/// aborts the request (the result is `DeliveryKind::cancelled`).
class SlackSender {
 public:
  /// \throws std::system_error(errc::invalid_config) naming the bad field.
  SlackSender(http::Client& client, SlackConfig config);

  /// One attempt: POST of `slack_payload` with `Content-Type: application/json` and the
  /// `X-Breaker-Notification-Id` header; classified by `classify_http_delivery`.
  /// \throws std::system_error(errc::invalid_incident) for an invalid incident.
  asio::awaitable<DeliveryResult> send(const Notification& notification);
  /// `send` of a new notification (fresh message id) about `incident`.
  asio::awaitable<DeliveryResult> send(const Incident& incident);

  const std::string& destination() const noexcept { return config_.name; }
  const SlackConfig& config() const noexcept { return config_; }

 private:
  // The coroutine owns its copy: the caller's notification may be a temporary.
  asio::awaitable<DeliveryResult> attempt(Notification notification);

  http::Client* client_;
  SlackConfig config_;
};

}  // namespace breaker::notify
