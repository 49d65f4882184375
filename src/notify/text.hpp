// SPDX-License-Identifier: Apache-2.0
#pragma once

// Private text helpers of the notify component (not installed).

#include <string>
#include <string_view>

namespace breaker::notify::detail {

/// `text` cut to at most `max_bytes` bytes without splitting a UTF-8 sequence; adds "..."
/// (within the limit) when it cut.
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);

/// Slack mrkdwn escaping: `&` `<` `>` become `&amp;` `&lt;` `&gt;`.
std::string escape_mrkdwn(std::string_view text);

/// Standard base64 (RFC 4648) of `data`, no line breaks.
std::string base64(std::string_view data);

/// CR, LF and NUL replaced by spaces: safe inside one header line.
std::string one_line(std::string_view text);

/// Whether `name` may name a destination (spool file): 1..100 of `[A-Za-z0-9._-]`,
/// not starting with `.`.
bool valid_destination_name(std::string_view name) noexcept;

/// Whether `url` starts with one of the schemes and has something after it, with no
/// whitespace or control characters.
bool valid_url(std::string_view url, std::initializer_list<std::string_view> schemes) noexcept;

/// Whether `address` is a bare mailbox `local@domain` without spaces, `<`, `>`, CR, LF.
bool valid_address(std::string_view address) noexcept;

}  // namespace breaker::notify::detail
