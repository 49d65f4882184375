// SPDX-License-Identifier: Apache-2.0
#include "breaker/error.hpp"

#include <string>

namespace breaker {
namespace {

class BreakerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "breaker"; }

  std::string message(int value) const override {
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
};

std::string make_what(errc code, const std::string& breaker_name, const std::string& detail) {
  std::string what;
  if (!breaker_name.empty()) {
    what += "circuit breaker '";
    what += breaker_name;
    what += "'";
  }
  if (!detail.empty()) {
    if (!what.empty()) what += ": ";
    what += detail;
  }
  (void)code;
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
    : std::system_error(make_error_code(code), make_what(code, breaker_name, detail)),
      breaker_name_(std::move(breaker_name)) {}

}  // namespace breaker
