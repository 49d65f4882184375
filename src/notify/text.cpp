// SPDX-License-Identifier: Apache-2.0

#include "text.hpp"

#include <initializer_list>

namespace breaker::notify::detail {

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr std::string_view ellipsis = "...";
  std::size_t cut = max_bytes > ellipsis.size() ? max_bytes - ellipsis.size() : 0;
  // Back up over continuation bytes (10xxxxxx) so the cut lands on a sequence start.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0u) == 0x80u) --cut;
  std::string out(text.substr(0, cut));
  if (max_bytes >= ellipsis.size()) out += ellipsis;
  return out;
}

std::string escape_mrkdwn(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string base64(std::string_view data) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += alphabet[(v >> 18) & 63u];
    out += alphabet[(v >> 12) & 63u];
    out += alphabet[(v >> 6) & 63u];
    out += alphabet[v & 63u];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16;
    out += alphabet[(v >> 18) & 63u];
    out += alphabet[(v >> 12) & 63u];
    out += "==";
  } else if (rest == 2) {
    const unsigned v = (static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16) |
                       (static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8);
    out += alphabet[(v >> 18) & 63u];
    out += alphabet[(v >> 12) & 63u];
    out += alphabet[(v >> 6) & 63u];
    out += '=';
  }
  return out;
}

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

bool valid_destination_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 100 || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_url(std::string_view url, std::initializer_list<std::string_view> schemes) noexcept {
  bool scheme_ok = false;
  for (std::string_view scheme : schemes) {
    if (url.size() > scheme.size() && url.substr(0, scheme.size()) == scheme) scheme_ok = true;
  }
  if (!scheme_ok) return false;
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool valid_address(std::string_view address) noexcept {
  const auto at = address.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= address.size()) return false;
  if (address.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : address) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '<' || c == '>' || c == 0x7f || c == ',')
      return false;
  }
  return true;
}

}  // namespace breaker::notify::detail
