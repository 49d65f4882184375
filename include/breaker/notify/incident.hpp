// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `Incident`: what the notifiers send, and `Notification`: one incident queued for
/// one destination under its own message id.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace breaker::notify {

/// How bad an incident is. The names are PagerDuty's Events API v2 severities.
enum class Severity : std::uint8_t { info, warning, error, critical };

/// Whether a notification opens (`trigger`) or closes (`resolve`) an incident.
enum class IncidentStatus : std::uint8_t { trigger, resolve };

/// `"info"`, `"warning"`, `"error"`, `"critical"`.
std::string_view to_string(Severity severity) noexcept;
/// `"trigger"`, `"resolve"`.
std::string_view to_string(IncidentStatus status) noexcept;
/// The severity named `name` (exact, lower case), or nothing.
std::optional<Severity> parse_severity(std::string_view name) noexcept;
/// The status named `name` (exact, lower case), or nothing.
std::optional<IncidentStatus> parse_status(std::string_view name) noexcept;

/// An incident as the senders see it. A plain aggregate.
///
/// `id` is the incident's stable identity: every notification about the same incident
/// (its trigger and its resolve) carries it, and PagerDuty uses it as the `dedup_key`.
struct Incident {
  /// Stable identity; required, at most 255 bytes (PagerDuty's dedup_key limit).
  std::string id;
  /// One-line title; required.
  std::string title;
  Severity severity = Severity::error;
  IncidentStatus status = IncidentStatus::trigger;
  /// Longer description (may be empty).
  std::string summary;
  /// The component or host the incident is about (may be empty; senders substitute
  /// their configured default where the destination requires one).
  std::string source;
  /// When the incident started (epoch = unknown: senders use the time of sending).
  std::chrono::system_clock::time_point created_at{};
  /// When this status was reached (epoch = unknown: senders use `created_at`).
  std::chrono::system_clock::time_point updated_at{};
  /// Extra key/value details, sent where the destination has room for them.
  std::map<std::string, std::string> details;

  friend bool operator==(const Incident&, const Incident&) = default;
};

/// Checks the required fields: returns `errc::invalid_incident` and, when `message` is
/// not null, a sentence naming the field; an empty code when the incident is valid.
std::error_code validate(const Incident& incident, std::string* message = nullptr);

/// One incident queued for one destination. `id` is the message id: unique per
/// notification (a trigger and its resolve have different ids), kept across retries and
/// spool replays, and sent to the destination so a receiver can drop duplicates
/// (delivery is at-least-once).
struct Notification {
  /// Message id: 32 lower-case hex digits, from `make_notification_id()`.
  std::string id;
  /// Position in the destination's order (increasing; assigned when accepted).
  std::uint64_t seq = 0;
  Incident incident;

  friend bool operator==(const Notification&, const Notification&) = default;
};

/// A new random message id (128 bits, 32 hex digits). Thread safety: any thread.
std::string make_notification_id();

/// `t` as RFC 3339 in UTC with milliseconds, e.g. `2026-12-01T12:00:00.250Z`.
std::string format_rfc3339(std::chrono::system_clock::time_point t);

/// The incident as JSON for receivers: `id`, `title`, `severity`, `status`, `summary`,
/// `source`, `created_at`, `updated_at` (RFC 3339; omitted when unknown), `details`.
void to_json(nlohmann::json& out, const Incident& incident);

namespace detail {
/// The lossless form the spool stores (times as integer nanoseconds since the epoch).
nlohmann::json incident_to_record(const Incident& incident);
/// Reads `incident_to_record`'s form back; throws `nlohmann::json::exception` or
/// `std::system_error(errc::invalid_incident)` on a malformed record.
Incident incident_from_record(const nlohmann::json& record);
}  // namespace detail

}  // namespace breaker::notify
