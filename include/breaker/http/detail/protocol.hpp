// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The client's protocol decisions as pure functions (tested without
/// sockets): request validation, how a method maps onto curl's options,
/// which socket waits curl's `CURL_POLL_*` asks for, the effective timeout.

#include "breaker/http/message.hpp"

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace breaker::http::detail {

/// Whether `c` may appear in an HTTP token (RFC 9110 `tchar`).
constexpr bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

/// Why `request` cannot be sent, or nothing when it can. The message names
/// the offending field.
inline std::optional<std::string> validate_request(const Request& request) {
  if (request.url.empty()) return std::string{"request url is empty"};
  for (const char c : request.url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return std::string{"request url contains whitespace or a control character"};
    }
  }
  if (request.timeout.count() < 0) return std::string{"request timeout is negative"};
  if (request.method == Method::head && !request.body.empty()) {
    return std::string{"a HEAD request cannot have a body"};
  }
  for (const Header& h : request.headers) {
    if (h.name.empty()) return std::string{"request header name is empty"};
    for (const char c : h.name) {
      if (!is_token_char(c)) {
        return "request header name '" + h.name + "' is not an HTTP token";
      }
    }
    for (const char c : h.value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return "request header '" + h.name + "' has CR, LF or NUL in its value";
      }
    }
  }
  return std::nullopt;
}

/// How a request maps onto curl's method options.
struct MethodPlan {
  /// `CURLOPT_NOBODY` (HEAD).
  bool no_body = false;
  /// Send `Request::body` as `CURLOPT_POSTFIELDS` (which also makes curl use POST).
  bool send_body = false;
  /// `CURLOPT_CUSTOMREQUEST`, or empty to keep curl's own choice (GET, POST, HEAD).
  std::string_view custom_method;
  friend bool operator==(const MethodPlan&, const MethodPlan&) = default;
  friend std::ostream& operator<<(std::ostream& os, const MethodPlan& p) {
    return os << "{no_body=" << p.no_body << " send_body=" << p.send_body << " custom='"
              << p.custom_method << "'}";
  }
};

/// The plan for `method` with a body of `body_size` bytes. POST always sends
/// its body (an empty one too, so curl says `Content-Length: 0`); PUT, PATCH
/// and DELETE send one when there is one; GET sends none (an empty body; a
/// non-empty GET body is sent like DELETE's).
constexpr MethodPlan plan_method(Method method, std::size_t body_size) noexcept {
  switch (method) {
    case Method::get:
      if (body_size == 0) return {};
      return {false, true, "GET"};
    case Method::post:
      return {false, true, {}};
    case Method::put:
      return {false, body_size > 0, "PUT"};
    case Method::patch:
      return {false, body_size > 0, "PATCH"};
    case Method::del:
      return {false, body_size > 0, "DELETE"};
    case Method::head:
      return {true, false, {}};
  }
  return {};
}

/// The timeout curl gets: the request's when set, else the client's default
/// (0: none).
constexpr std::chrono::milliseconds effective_timeout(std::chrono::milliseconds request,
                                                      std::chrono::milliseconds fallback) noexcept {
  return request.count() > 0 ? request : fallback;
}

/// Socket interest as curl reports it (`CURL_POLL_IN` = 1, `CURL_POLL_OUT` = 2,
/// `CURL_POLL_INOUT` = 3, `CURL_POLL_REMOVE` = 4), turned into the waits to
/// start given the waits already pending on the socket.
struct SocketWaits {
  /// Stop watching and let go of the socket (curl no longer uses it).
  bool release = false;
  /// Start a wait for readability.
  bool start_read = false;
  /// Start a wait for writability.
  bool start_write = false;
  friend bool operator==(const SocketWaits&, const SocketWaits&) = default;
  friend std::ostream& operator<<(std::ostream& os, const SocketWaits& w) {
    return os << "{release=" << w.release << " read=" << w.start_read
              << " write=" << w.start_write << "}";
  }
};

inline constexpr int poll_in = 1;
inline constexpr int poll_out = 2;
inline constexpr int poll_remove = 4;

/// The waits to start for interest `what`, with a read (`reading`) or write
/// (`writing`) wait already pending. A pending wait curl no longer wants is
/// left to complete and ignored (cancelling one direction of a descriptor
/// would cancel both).
constexpr SocketWaits plan_socket_waits(int what, bool reading, bool writing) noexcept {
  if (what == poll_remove) return {true, false, false};
  return {false, (what & poll_in) != 0 && !reading, (what & poll_out) != 0 && !writing};
}

/// Whether a completed wait in direction `direction` (`poll_in` or
/// `poll_out`) should be reported to curl: only while curl still wants it.
constexpr bool wants(int what, int direction) noexcept {
  return what != poll_remove && (what & direction) != 0;
}

}  // namespace breaker::http::detail
