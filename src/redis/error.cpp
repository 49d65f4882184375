// SPDX-License-Identifier: Apache-2.0
#include "breaker/redis/error.hpp"
#include "breaker/redis/policy.hpp"

#include "breaker/outcome.hpp"

#include <asio/error.hpp>

#include <string>

namespace breaker::redis {
namespace {

class RedisCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "breaker.redis"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::connection_failed:
        return "could not connect to the Redis server";
      case errc::connection_lost:
        return "the connection to the Redis server was lost";
      case errc::server_error:
        return "the Redis server answered with an error";
      case errc::timeout:
        return "the Redis command timed out";
      case errc::unexpected_reply:
        return "unexpected Redis reply type";
      case errc::invalid_argument:
        return "invalid argument";
    }
    return "unknown breaker.redis error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const RedisCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

RedisError::RedisError(errc code, std::string message)
    : std::system_error(make_error_code(code), message), message_(std::move(message)) {}

Outcome classify_error_reply(std::string_view message) noexcept {
  const std::string_view word = message.substr(0, message.find(' '));
  for (std::string_view failure : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "OOM", "MISCONF",
                                   "READONLY", "NOREPLICAS"}) {
    if (word == failure) return Outcome::failure;
  }
  return Outcome::success;
}

Outcome classify_error(const RedisError& error) noexcept {
  switch (error.error()) {
    case errc::connection_failed:
    case errc::connection_lost:
    case errc::timeout:
      return Outcome::failure;
    case errc::server_error:
      return classify_error_reply(error.server_message());
    case errc::unexpected_reply:
    case errc::invalid_argument:
      return Outcome::success;
  }
  return Outcome::failure;
}

Outcome classify_exception(const std::exception_ptr& error) noexcept {
  return breaker::classify_exception_of<RedisError>(
      error, [](const RedisError& e) noexcept { return classify_error(e); });
}

}  // namespace breaker::redis
