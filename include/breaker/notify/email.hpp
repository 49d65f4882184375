// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// E-mail destination over SMTP: `EmailConfig`, the message builder `email_message`, and
/// `EmailSender` (libcurl's SMTP on `breaker::http::Client`'s multi handle).

#include "breaker/notify/delivery.hpp"
#include "breaker/notify/incident.hpp"
#include "breaker/notify/sender.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <system_error>
#include <vector>

namespace breaker::notify {

/// Settings of an SMTP destination.
struct EmailConfig {
  /// `smtp://host:port` or `smtps://host:port`; required.
  std::string smtp_url;
  /// Envelope and header sender, a bare address `user@domain`; required.
  std::string from;
  /// Recipients, bare addresses; at least one.
  std::vector<std::string> to;
  /// SMTP AUTH credentials; empty username: no AUTH.
  std::string username;
  std::string password;
  /// Require STARTTLS on `smtp://` (fail rather than send in clear).
  bool require_tls = false;
  /// Prefix of the subject line.
  std::string subject_prefix = "[incident]";
  /// Timeout of one attempt. Range (0, 10 min].
  std::chrono::milliseconds timeout{20'000};
  /// Name of the destination (breaker and spool file name). Letters, digits, `._-`.
  std::string name = "email";

  /// `errc::invalid_config` naming the first bad field, or an empty code.
  std::error_code validate(std::string* message = nullptr) const;
};

/// The RFC 5322 message for one notification, lines ended by CRLF: `From`, `To`,
/// `Subject` (`<prefix> [SEVERITY] <title> (trigger|resolve)`, RFC 2047 encoded when not
/// ASCII), `Date`, `Message-ID` `<notification-id@breaker.notify>` (receivers drop
/// duplicates by it), `X-Breaker-Notification-Id`, `X-Breaker-Incident-Id`,
/// `MIME-Version`, `Content-Type: text/plain; charset=utf-8`,
/// `Content-Transfer-Encoding: base64`, then the base64 body (76-character lines) with the
/// title, status, severity, source, summary and details. CR and LF in header values are
/// replaced by spaces (no header injection). `date` is the `Date` header's time.
std::string email_message(const Notification& notification, const EmailConfig& config,
                          std::chrono::system_clock::time_point date);

/// Sends notifications by e-mail: one SMTP transaction per attempt through
/// `http::Client::perform` (the same Asio-driven curl multi handle as HTTP).
/// Classified by `classify_smtp_delivery`: a 4xx reply is transient, 5xx permanent.
/// Thread safety, lifetime, cancellation: as `SlackSender`.
class EmailSender {
 public:
  /// \throws std::system_error(errc::invalid_config) naming the bad field.
  EmailSender(http::Client& client, EmailConfig config);

  /// One attempt. \throws std::system_error(errc::invalid_incident) for an invalid incident.
  asio::awaitable<DeliveryResult> send(const Notification& notification);
  /// `send` of a new notification (fresh message id) about `incident`.
  asio::awaitable<DeliveryResult> send(const Incident& incident);

  const std::string& destination() const noexcept { return config_.name; }
  const EmailConfig& config() const noexcept { return config_; }

 private:
  // The coroutine owns its copy: the caller's notification may be a temporary.
  asio::awaitable<DeliveryResult> attempt(Notification notification);

  http::Client* client_;
  EmailConfig config_;
};

}  // namespace breaker::notify
