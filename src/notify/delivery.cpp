// SPDX-License-Identifier: Apache-2.0

#include "breaker/notify/delivery.hpp"

#include <ostream>

namespace breaker::notify {

std::string_view to_string(DeliveryKind kind) noexcept {
  switch (kind) {
    case DeliveryKind::delivered:
      return "delivered";
    case DeliveryKind::transient:
      return "transient";
    case DeliveryKind::permanent:
      return "permanent";
    case DeliveryKind::cancelled:
      return "cancelled";
  }
  return "transient";
}

std::ostream& operator<<(std::ostream& os, DeliveryKind kind) { return os << to_string(kind); }

std::ostream& operator<<(std::ostream& os, const DeliveryResult& result) {
  os << to_string(result.kind) << " (status " << result.status << ", curl " << static_cast<int>(result.transport);
  if (!result.detail.empty()) os << ": " << result.detail;
  return os << ')';
}

DeliveryKind classify_transport_error(CURLcode code) noexcept {
  switch (code) {
    case CURLE_OK:
      return DeliveryKind::delivered;
    case CURLE_ABORTED_BY_CALLBACK:
      return DeliveryKind::cancelled;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_LOGIN_DENIED:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_USE_SSL_FAILED:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_SETOPT_OPTION_SYNTAX:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_AUTH_ERROR:
      return DeliveryKind::permanent;
    default:
      // COULDNT_CONNECT, OPERATION_TIMEDOUT, SEND_ERROR, RECV_ERROR, GOT_NOTHING,
      // PARTIAL_FILE, WEIRD_SERVER_REPLY, COULDNT_RESOLVE_*, SSL_CONNECT_ERROR, AGAIN,
      // HTTP2*, OUT_OF_MEMORY... and anything unknown: retry rather than lose it.
      return DeliveryKind::transient;
  }
}

DeliveryResult classify_http_delivery(CURLcode transport, long status) {
  DeliveryResult result;
  result.status = status;
  result.transport = transport;
  if (transport != CURLE_OK) {
    result.kind = classify_transport_error(transport);
    result.detail = curl_easy_strerror(transport);
    return result;
  }
  if (status >= 200 && status < 300) {
    result.kind = DeliveryKind::delivered;
  } else if (status == 408 || status == 425 || status == 429 || (status >= 500 && status < 600)) {
    result.kind = DeliveryKind::transient;
    result.detail = "HTTP " + std::to_string(status);
  } else if (status == 0) {
    result.kind = DeliveryKind::transient;  // no status line at all: a broken reply
    result.detail = "no HTTP status";
  } else {
    result.kind = DeliveryKind::permanent;
    result.detail = "HTTP " + std::to_string(status);
  }
  return result;
}

DeliveryResult classify_smtp_delivery(CURLcode transport, long reply) {
  DeliveryResult result;
  result.status = reply;
  result.transport = transport;
  if (transport == CURLE_OK) {
    result.kind = DeliveryKind::delivered;
    return result;
  }
  result.detail = curl_easy_strerror(transport);
  if (transport == CURLE_ABORTED_BY_CALLBACK) {
    result.kind = DeliveryKind::cancelled;
  } else if (reply >= 400 && reply < 500) {
    result.kind = DeliveryKind::transient;
  } else if (reply >= 500 && reply < 600) {
    result.kind = DeliveryKind::permanent;
  } else {
    result.kind = classify_transport_error(transport);
  }
  if (reply != 0) result.detail += " (SMTP " + std::to_string(reply) + ")";
  return result;
}

breaker::detail::Outcome breaker_outcome(DeliveryKind kind) noexcept {
  switch (kind) {
    case DeliveryKind::transient:
      return breaker::detail::Outcome::failure;
    case DeliveryKind::cancelled:
      return breaker::detail::Outcome::ignored;
    case DeliveryKind::delivered:
    case DeliveryKind::permanent:
      break;
  }
  return breaker::detail::Outcome::success;
}

}  // namespace breaker::notify
