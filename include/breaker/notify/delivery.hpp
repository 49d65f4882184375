// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// What the result of one delivery attempt means: delivered, a transient failure (retry
/// later, counts against the breaker), a permanent failure (never retried, reported), or
/// cancelled. Pure functions of the transport's result codes, tested without sockets.

#include "breaker/detail/state_word.hpp"

#include <curl/curl.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace breaker::notify {

/// The meaning of one delivery attempt.
enum class DeliveryKind : std::uint8_t {
  /// The destination accepted the notification.
  delivered,
  /// The destination could not take it now (unreachable, timed out, 5xx, 429, SMTP 4xx):
  /// the notification stays queued and is retried; the breaker counts a failure.
  transient,
  /// The destination refused it for good (HTTP 4xx other than 408/425/429, SMTP 5xx,
  /// a malformed URL, rejected credentials): retrying cannot help, so it is not retried;
  /// it is reported to `on_permanent_failure` and counted. The breaker counts a success:
  /// the destination is up and answering, and a bad request must not open the circuit.
  permanent,
  /// The attempt was cancelled (the notifier is stopping): the notification stays queued
  /// (and spooled); the breaker records nothing.
  cancelled,
};

/// `"delivered"`, `"transient"`, `"permanent"`, `"cancelled"`.
std::string_view to_string(DeliveryKind kind) noexcept;
std::ostream& operator<<(std::ostream& os, DeliveryKind kind);

/// The classified result of one attempt.
struct DeliveryResult {
  DeliveryKind kind = DeliveryKind::delivered;
  /// The protocol's status: the HTTP status or SMTP reply code (0 when none arrived).
  long status = 0;
  /// The transport's code (`CURLE_OK` when the transport succeeded).
  CURLcode transport = CURLE_OK;
  /// Human-readable detail for logs and callbacks (may be empty).
  std::string detail;

  friend bool operator==(const DeliveryResult&, const DeliveryResult&) = default;
};
std::ostream& operator<<(std::ostream& os, const DeliveryResult& result);

/// Whether a transport error (no protocol answer, or a broken one) is worth retrying.
/// Transient: connection refused/reset, timeouts, send/receive errors, an empty or
/// broken reply, name resolution (DNS outages pass), TLS handshake failures, and any code
/// not listed as permanent (nothing is lost on an unknown error; the breaker and the
/// bounded queue limit the cost). Permanent: a malformed URL, an unsupported protocol,
/// rejected credentials, a certificate that does not verify, a bad option or argument.
/// `CURLE_ABORTED_BY_CALLBACK` is cancellation.
DeliveryKind classify_transport_error(CURLcode code) noexcept;

/// An HTTP attempt: `transport` is curl's result, `status` the HTTP status (0 if none).
/// 2xx delivered; 408, 425, 429 and 5xx transient; every other status permanent
/// (3xx: redirects are not followed, the URL is wrong; 4xx: the request is refused).
/// A transport error is classified by `classify_transport_error`.
DeliveryResult classify_http_delivery(CURLcode transport, long status);

/// An SMTP attempt: `transport` is curl's result, `reply` the last SMTP reply code
/// (`CURLINFO_RESPONSE_CODE`, 0 if none). Success: delivered. Otherwise a 4xx reply is
/// transient (e.g. 451 "try again later"; curl reports it as `CURLE_WEIRD_SERVER_REPLY`
/// or `CURLE_SEND_ERROR` depending on the command), a 5xx reply permanent (e.g. 550
/// mailbox unavailable, 554 rejected), and without a reply code the transport error
/// decides (`classify_transport_error`).
DeliveryResult classify_smtp_delivery(CURLcode transport, long reply);

/// How an attempt counts for the breaker: transient is a failure, delivered and
/// permanent a success (the destination answered), cancelled is ignored.
breaker::detail::Outcome breaker_outcome(DeliveryKind kind) noexcept;

}  // namespace breaker::notify
