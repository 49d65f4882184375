// SPDX-License-Identifier: Apache-2.0
//
// The pure parts of the destinations: config validation and payload / message builders.

#include "breaker/notify/email.hpp"
#include "breaker/notify/error.hpp"
#include "breaker/notify/pagerduty.hpp"
#include "breaker/notify/slack.hpp"
#include "breaker/notify/webhook.hpp"

#include "text.hpp"

#include <array>
#include <cctype>
#include <ctime>

namespace breaker::notify {
namespace {

constexpr std::chrono::milliseconds max_timeout{10 * 60 * 1000};

std::error_code config_error(std::string* message, std::string text) {
  if (message != nullptr) *message = std::move(text);
  return make_error_code(errc::invalid_config);
}

std::error_code check_common(std::string* message, const char* type, const std::string& name,
                             std::chrono::milliseconds timeout) {
  if (!detail::valid_destination_name(name)) {
    return config_error(message, std::string(type) +
                                     "::name must be 1..100 of letters, digits, '.', '_', '-' "
                                     "(not starting with '.')");
  }
  if (timeout <= std::chrono::milliseconds::zero() || timeout > max_timeout) {
    return config_error(message, std::string(type) + "::timeout must be in (0, 10 min]");
  }
  return {};
}

std::chrono::system_clock::time_point event_time(const Incident& incident) {
  const std::chrono::system_clock::time_point unknown{};
  if (incident.updated_at != unknown) return incident.updated_at;
  return incident.created_at;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string status_word(IncidentStatus status) {
  return status == IncidentStatus::resolve ? "resolved" : "triggered";
}

}  // namespace

// --- Slack -------------------------------------------------------------------------------

std::error_code SlackConfig::validate(std::string* message) const {
  if (!detail::valid_url(webhook_url, {"http://", "https://"})) {
    return config_error(message, "SlackConfig::webhook_url must be an http:// or https:// URL");
  }
  return check_common(message, "SlackConfig", name, timeout);
}

nlohmann::json slack_payload(const Notification& notification, const SlackConfig& config) {
  const Incident& incident = notification.incident;
  using nlohmann::json;
  const std::string sev = upper(to_string(incident.severity));
  json payload;
  payload["text"] = detail::escape_mrkdwn("[" + sev + "] " + incident.title + " (" +
                                          status_word(incident.status) + ")");
  json blocks = json::array();
  blocks.push_back({{"type", "header"},
                    {"text", {{"type", "plain_text"}, {"text", detail::truncate_utf8(incident.title, 150)}}}});
  json fields = json::array();
  auto field = [&](const char* label, std::string_view value) {
    // Appended, not chained operator+: GCC 12 -O3 warns -Wrestrict (falsely) on the chain.
    std::string text = "*";
    text.append(label).append("*\n").append(detail::escape_mrkdwn(value));
    fields.push_back({{"type", "mrkdwn"}, {"text", detail::truncate_utf8(text, 2000)}});
  };
  field("Severity", to_string(incident.severity));
  field("Status", status_word(incident.status));
  field("Source", incident.source.empty() ? std::string_view{"-"} : std::string_view{incident.source});
  field("Incident", incident.id);
  blocks.push_back({{"type", "section"}, {"fields", fields}});
  if (!incident.summary.empty()) {
    blocks.push_back(
        {{"type", "section"},
         {"text", {{"type", "mrkdwn"}, {"text", detail::truncate_utf8(detail::escape_mrkdwn(incident.summary), 3000)}}}});
  }
  blocks.push_back({{"type", "context"},
                    {"elements", json::array({{{"type", "mrkdwn"}, {"text", "notification " + notification.id}}})}});
  payload["blocks"] = std::move(blocks);
  if (!config.channel.empty()) payload["channel"] = config.channel;
  if (!config.username.empty()) payload["username"] = config.username;
  if (!config.icon_emoji.empty()) payload["icon_emoji"] = config.icon_emoji;
  payload["metadata"] = {{"event_type", "breaker_incident"},
                         {"event_payload",
                          {{"incident_id", incident.id},
                           {"notification_id", notification.id},
                           {"status", to_string(incident.status)}}}};
  return payload;
}

// --- PagerDuty ---------------------------------------------------------------------------

std::error_code PagerDutyConfig::validate(std::string* message) const {
  if (routing_key.empty()) return config_error(message, "PagerDutyConfig::routing_key must not be empty");
  if (!detail::valid_url(events_url, {"http://", "https://"})) {
    return config_error(message, "PagerDutyConfig::events_url must be an http:// or https:// URL");
  }
  if (default_source.empty()) {
    return config_error(message, "PagerDutyConfig::default_source must not be empty");
  }
  return check_common(message, "PagerDutyConfig", name, timeout);
}

nlohmann::json pagerduty_payload(const Notification& notification, const PagerDutyConfig& config) {
  const Incident& incident = notification.incident;
  nlohmann::json body;
  body["routing_key"] = config.routing_key;
  body["dedup_key"] = incident.id;
  if (incident.status == IncidentStatus::resolve) {
    body["event_action"] = "resolve";
    return body;
  }
  body["event_action"] = "trigger";
  body["client"] = "breaker";
  nlohmann::json payload;
  payload["summary"] = detail::truncate_utf8(incident.title, 1024);
  payload["source"] = incident.source.empty() ? config.default_source : incident.source;
  payload["severity"] = to_string(incident.severity);
  if (event_time(incident) != std::chrono::system_clock::time_point{}) {
    payload["timestamp"] = format_rfc3339(event_time(incident));
  }
  if (!config.component.empty()) payload["component"] = config.component;
  if (!config.group.empty()) payload["group"] = config.group;
  if (!config.event_class.empty()) payload["class"] = config.event_class;
  nlohmann::json custom;
  custom["summary"] = incident.summary;
  custom["details"] = incident.details;
  custom["incident_id"] = incident.id;
  custom["notification_id"] = notification.id;
  payload["custom_details"] = std::move(custom);
  body["payload"] = std::move(payload);
  return body;
}

// --- Webhook -----------------------------------------------------------------------------

std::error_code WebhookConfig::validate(std::string* message) const {
  if (!detail::valid_url(url, {"http://", "https://"})) {
    return config_error(message, "WebhookConfig::url must be an http:// or https:// URL");
  }
  for (const auto& [header, value] : headers) {
    if (header.empty() || header.find_first_of(" \t\r\n:") != std::string::npos) {
      return config_error(message, "WebhookConfig::headers has an invalid header name '" + header + "'");
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      return config_error(message, "WebhookConfig::headers value of '" + header + "' contains CR or LF");
    }
  }
  return check_common(message, "WebhookConfig", name, timeout);
}

nlohmann::json webhook_payload(const Notification& notification) {
  nlohmann::json body;
  body["notification_id"] = notification.id;
  body["event"] = std::string("incident.") + std::string(to_string(notification.incident.status));
  body["incident"] = notification.incident;
  return body;
}

// --- E-mail ------------------------------------------------------------------------------

std::error_code EmailConfig::validate(std::string* message) const {
  if (!detail::valid_url(smtp_url, {"smtp://", "smtps://"})) {
    return config_error(message, "EmailConfig::smtp_url must be an smtp:// or smtps:// URL");
  }
  if (!detail::valid_address(from)) {
    return config_error(message, "EmailConfig::from must be a bare address user@domain");
  }
  if (to.empty()) return config_error(message, "EmailConfig::to must name at least one recipient");
  for (const std::string& rcpt : to) {
    if (!detail::valid_address(rcpt)) {
      return config_error(message, "EmailConfig::to has an invalid address '" + detail::one_line(rcpt) + "'");
    }
  }
  if (subject_prefix.find_first_of("\r\n") != std::string::npos) {
    return config_error(message, "EmailConfig::subject_prefix must not contain CR or LF");
  }
  return check_common(message, "EmailConfig", name, timeout);
}

namespace {

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// RFC 2047 encoded word(s) for a header value that is not ASCII. Each encoded word
// carries whole UTF-8 sequences and stays under the 75-character limit.
std::string encode_header(std::string_view text) {
  if (is_ascii(text)) return std::string(text);
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = std::min(text.size(), i + 45);  // 45 bytes -> 60 base64 characters
    while (end < text.size() && end > i && (static_cast<unsigned char>(text[end]) & 0xC0u) == 0x80u) --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + detail::base64(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%s, %02d %s %04d %02d:%02d:%02d +0000",
                days[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                months[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return text.data();
}

}  // namespace

std::string email_message(const Notification& notification, const EmailConfig& config,
                          std::chrono::system_clock::time_point date) {
  const Incident& incident = notification.incident;
  std::string to_line;
  for (const std::string& rcpt : config.to) {
    if (!to_line.empty()) to_line += ", ";
    to_line += detail::one_line(rcpt);
  }
  std::string subject = detail::one_line(config.subject_prefix);
  if (!subject.empty()) subject += ' ';
  subject += "[" + upper(to_string(incident.severity)) + "] " + detail::one_line(incident.title) +
             " (" + status_word(incident.status) + ")";

  std::string body;
  body += incident.title + "\n\n";
  body += "Status:   " + status_word(incident.status) + "\n";
  body += "Severity: " + std::string(to_string(incident.severity)) + "\n";
  body += "Incident: " + incident.id + "\n";
  if (!incident.source.empty()) body += "Source:   " + incident.source + "\n";
  if (event_time(incident) != std::chrono::system_clock::time_point{}) {
    body += "Time:     " + format_rfc3339(event_time(incident)) + "\n";
  }
  if (!incident.summary.empty()) body += "\n" + incident.summary + "\n";
  if (!incident.details.empty()) {
    body += "\nDetails:\n";
    for (const auto& [key, value] : incident.details) body += "  " + key + ": " + value + "\n";
  }
  body += "\nNotification " + notification.id + "\n";

  std::string message;
  message += "From: " + detail::one_line(config.from) + "\r\n";
  message += "To: " + to_line + "\r\n";
  message += "Subject: " + encode_header(subject) + "\r\n";
  message += "Date: " + rfc5322_date(date) + "\r\n";
  message += "Message-ID: <" + detail::one_line(notification.id) + "@breaker.notify>\r\n";
  message += std::string("X-Breaker-Notification-Id: ") + detail::one_line(notification.id) + "\r\n";
  message += "X-Breaker-Incident-Id: " + encode_header(detail::one_line(incident.id)) + "\r\n";
  message += "MIME-Version: 1.0\r\n";
  message += "Content-Type: text/plain; charset=utf-8\r\n";
  message += "Content-Transfer-Encoding: base64\r\n";
  message += "\r\n";
  const std::string encoded = detail::base64(body);
  for (std::size_t i = 0; i < encoded.size(); i += 76) {
    message += encoded.substr(i, 76);
    message += "\r\n";
  }
  return message;
}

}  // namespace breaker::notify
