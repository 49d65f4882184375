// SPDX-License-Identifier: Apache-2.0
#include "breaker/error.hpp"

#include <iterator>
#include <string>
#include <string_view>

namespace breaker {
namespace {

// The message of each errc, shared by the category and CircuitBreakerError (which
// composes its what() text without building a temporary message string).
const char* message_of(int value) noexcept {
  switch (static_cast<errc>(value)) {
    case errc::open:
      return "circuit breaker is open";
    case errc::operation_failed:
      return "operation failed";
    case errc::timeout:
      return "operation timed out";
    case errc::invalid_config:
      return "invalid circuit breaker configuration";
    case errc::not_found:
      return "circuit breaker not found";
    case errc::already_exists:
      return "circuit breaker already exists";
  }
  return "unknown breaker error";
}

class BreakerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "breaker"; }
  std::string message(int value) const override { return message_of(value); }
};

// std::system_error's constructors build their what() text from code.message()
// (three allocations in libstdc++). CircuitBreakerError has its own what(), so
// its base is copied from one prototype per code, built once: the copy shares
// the prototype's reference-counted text and allocates nothing.
std::system_error base_of(errc code) {
  constexpr int first = static_cast<int>(errc::open);
  constexpr int last = static_cast<int>(errc::already_exists);
  static const std::system_error prototypes[] = {
      std::system_error(make_error_code(errc::open)),
      std::system_error(make_error_code(errc::operation_failed)),
      std::system_error(make_error_code(errc::timeout)),
      std::system_error(make_error_code(errc::invalid_config)),
      std::system_error(make_error_code(errc::not_found)),
      std::system_error(make_error_code(errc::already_exists))};
  static_assert(std::size(prototypes) == last - first + 1);
  const int value = static_cast<int>(code);
  if (value >= first && value <= last) return prototypes[value - first];
  return std::system_error(make_error_code(code));  // not an errc value
}

std::string make_what(errc code, const std::string& breaker_name, const std::string& detail) {
  // As std::system_error(code, text) would: text + ": " + message, where text
  // is "circuit breaker 'NAME'" and/or the detail. One allocation at most.
  static constexpr std::string_view prefix = "circuit breaker '";
  const std::string_view message = message_of(static_cast<int>(code));
  std::string what;
  what.reserve(prefix.size() + breaker_name.size() + 3 + detail.size() + 2 + message.size());
  if (!breaker_name.empty()) {
    what += prefix;
    what += breaker_name;
    what += "'";
  }
  if (!detail.empty()) {
    if (!what.empty()) what += ": ";
    what += detail;
  }
  what += ": ";
  what += message;
  return what;
}

}  // namespace

const std::error_category& error_category() noexcept {
  static const BreakerCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

CircuitBreakerError::CircuitBreakerError(errc code, std::string breaker_name,
                                         const std::string& detail)
    : std::system_error(base_of(code)),
      breaker_name_(std::move(breaker_name)),
      what_(make_what(code, breaker_name_, detail)) {}

CircuitBreakerError::CircuitBreakerError(errc code, std::string breaker_name,
                                         const std::string& detail,
                                         std::optional<std::chrono::milliseconds> retry_after)
    : CircuitBreakerError(code, std::move(breaker_name), detail) {
  retry_after_ = retry_after;
}

}  // namespace breaker
