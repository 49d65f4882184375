// SPDX-License-Identifier: Apache-2.0

#include "breaker/notify/error.hpp"

#include <string>

namespace breaker::notify {
namespace {

class NotifyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "breaker.notify"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_incident:
        return "invalid incident";
      case errc::invalid_config:
        return "invalid notifier configuration";
      case errc::spool_corrupt:
        return "spool file corrupt";
      case errc::spool_locked:
        return "spool file locked by another notifier";
      case errc::queue_full:
        return "retry queue full";
      case errc::stopped:
        return "notifier stopped";
    }
    return "unknown breaker.notify error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const NotifyCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace breaker::notify
