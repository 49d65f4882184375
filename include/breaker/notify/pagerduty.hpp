// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// PagerDuty Events API v2 destination: `PagerDutyConfig`, the payload builder
/// `pagerduty_payload`, and `PagerDutySender`.

#include "breaker/notify/delivery.hpp"
#include "breaker/notify/incident.hpp"
#include "breaker/notify/sender.hpp"

#include <asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <system_error>

namespace breaker::notify {

/// Settings of a PagerDuty Events API v2 integration.
struct PagerDutyConfig {
  /// The integration's routing key (32 characters in PagerDuty); required.
  std::string routing_key;
  /// The events endpoint; http(s).
  std::string events_url = "https://events.pagerduty.com/v2/enqueue";
  /// `payload.source` when the incident has none (the API requires one).
  std::string default_source = "breaker";
  /// Optional `payload.component`, `payload.group`, `payload.class`; empty: omitted.
  std::string component;
  std::string group;
  std::string event_class;
  /// Timeout of one attempt. Range (0, 10 min].
  std::chrono::milliseconds timeout{10'000};
  /// Name of the destination (breaker and spool file name). Letters, digits, `._-`.
  std::string name = "pagerduty";

  /// `errc::invalid_config` naming the first bad field, or an empty code.
  std::error_code validate(std::string* message = nullptr) const;
};

/// The Events API v2 body. Trigger: `routing_key`, `event_action` `"trigger"`,
/// `dedup_key` = `Incident::id` (so the resolve finds the alert), `client` `"breaker"`,
/// `payload` {`summary` (the title, cut at 1024 bytes on a UTF-8 boundary), `source`,
/// `severity`, `timestamp` (RFC 3339, when known), `component`/`group`/`class` when
/// configured, `custom_details` {summary, details, incident_id, notification_id}}.
/// Resolve: `routing_key`, `event_action` `"resolve"`, `dedup_key` only (as the API wants).
nlohmann::json pagerduty_payload(const Notification& notification, const PagerDutyConfig& config);

/// Sends notifications to PagerDuty over `breaker::http::Client` (202 is delivered,
/// 400 permanent, 429 and 5xx transient). Thread safety, lifetime, cancellation: as
/// `SlackSender`.
class PagerDutySender {
 public:
  /// \throws std::system_error(errc::invalid_config) naming the bad field.
  PagerDutySender(http::Client& client, PagerDutyConfig config);

  /// One attempt: POST of `pagerduty_payload` (JSON, with `X-Breaker-Notification-Id`).
  /// \throws std::system_error(errc::invalid_incident) for an invalid incident.
  asio::awaitable<DeliveryResult> send(const Notification& notification);
  /// `send` of a new notification (fresh message id) about `incident`.
  asio::awaitable<DeliveryResult> send(const Incident& incident);

  const std::string& destination() const noexcept { return config_.name; }
  const PagerDutyConfig& config() const noexcept { return config_; }

 private:
  // The coroutine owns its copy: the caller's notification may be a temporary.
  asio::awaitable<DeliveryResult> attempt(Notification notification);

  http::Client* client_;
  PagerDutyConfig config_;
};

}  // namespace breaker::notify
