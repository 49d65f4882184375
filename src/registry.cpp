// SPDX-License-Identifier: Apache-2.0
#include "breaker/registry.hpp"

#include "breaker/health.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <iterator>

namespace breaker {

template class BasicRegistry<std::chrono::steady_clock>;

namespace detail {
namespace {

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 when the
// byte there does not start one (Unicode 15, table 3-7).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;  // range of the second byte
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // no overlong forms
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

bool is_valid_utf8(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

void check_breaker_name(std::string_view name) {
  if (name.empty()) {
    throw CircuitBreakerError(errc::invalid_config, {}, "a circuit breaker name must not be empty");
  }
  if (!is_valid_utf8(name)) {
    // The name itself is not valid text: show it escaped rather than raw.
    throw CircuitBreakerError(
        errc::invalid_config, {},
        fmt::format("circuit breaker name \"{}\" is not well-formed UTF-8", json_escape(name)));
  }
}

}  // namespace detail

Registry& global_registry() {
  // Never destroyed (see the header): a pointer to a leaked object.
  static auto* const instance = new Registry();
  return *instance;
}

std::shared_ptr<CircuitBreaker<>> get_circuit_breaker(std::string_view name) {
  return global_registry().get_or_create(name);
}

std::shared_ptr<CircuitBreaker<>> get_circuit_breaker(std::string_view name,
                                                      const CircuitBreakerConfig& config) {
  return global_registry().get_or_create(name, config);
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t length = detail::utf8_sequence_length(text, i);
      if (length == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out;
}

std::string to_json(const HealthReport& report) {
  return fmt::format(
      R"({{"status":"{}","circuit_breakers":{{"total":{},"closed":{},"open":{},"half_open":{}}}}})",
      report.healthy ? "healthy" : "degraded", report.total_breakers, report.closed, report.open,
      report.half_open);
}

std::string to_json(const std::map<std::string, Stats, std::less<>>& stats) {
  std::string out = "{";
  bool first = true;
  for (const auto& [name, s] : stats) {
    if (!first) out += ',';
    first = false;
    fmt::format_to(std::back_inserter(out),
                   R"("{}":{{"state":"{}","consecutive_failures":{},"consecutive_successes":{},)"
                   R"("total_calls":{},"successful_calls":{},"failed_calls":{},)"
                   R"("rejected_calls":{},"ignored_calls":{}}})",
                   json_escape(name), to_string(s.state), s.consecutive_failures,
                   s.consecutive_successes, s.total_calls, s.successful_calls, s.failed_calls,
                   s.rejected_calls, s.ignored_calls);
  }
  out += '}';
  return out;
}

}  // namespace breaker
