// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The messages of `breaker::http::Client`: `Method`, `Header`, `Request`,
/// `Response`. Plain values, no curl types.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace breaker::http {

/// An HTTP method. `del` is DELETE (`delete` is a keyword).
enum class Method : std::uint8_t { get, post, put, patch, del, head };

/// The method's name on the wire: "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD".
constexpr std::string_view to_string(Method method) noexcept {
  switch (method) {
    case Method::get:
      return "GET";
    case Method::post:
      return "POST";
    case Method::put:
      return "PUT";
    case Method::patch:
      return "PATCH";
    case Method::del:
      return "DELETE";
    case Method::head:
      return "HEAD";
  }
  return "?";
}

/// One header field. Names compare case-insensitively in `find_header`.
struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

/// Header fields in order; a name may repeat.
using Headers = std::vector<Header>;

/// ASCII case-insensitive equality, for header names.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

/// The value of the first header named `name` (case-insensitive), if any.
/// The view refers into `headers`.
inline std::optional<std::string_view> find_header(const Headers& headers,
                                                   std::string_view name) noexcept {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return std::string_view{h.value};
  }
  return std::nullopt;
}

/// A request for `Client::request`.
struct Request {
  /// The method; GET by default.
  Method method = Method::get;
  /// An absolute `http://` or `https://` URL. Must not be empty or contain
  /// whitespace or control characters.
  std::string url;
  /// Extra header fields, sent in order. A name must be an HTTP token; a value
  /// must not contain CR, LF or NUL. `Content-Type` is not set for you.
  Headers headers;
  /// The body (sent for POST, PUT, PATCH, DELETE when not empty; POST always
  /// sends it, even empty). HEAD must have none.
  std::string body;
  /// Timeout of the whole request; 0: the client's `default_timeout`. Must
  /// not be negative.
  std::chrono::milliseconds timeout{0};
};

/// A response: whatever status the server sent (no status is an exception).
struct Response {
  /// The status code (e.g. 200, 404, 503).
  int status = 0;
  /// The header fields of the final response, in order.
  Headers headers;
  /// The body (empty for HEAD).
  std::string body;

  /// The value of the first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return find_header(headers, name);
  }
};

}  // namespace breaker::http
