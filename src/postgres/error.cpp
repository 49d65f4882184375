// SPDX-License-Identifier: Apache-2.0
#include "breaker/postgres/error.hpp"

#include <string>

namespace breaker::postgres {
namespace {

class PostgresCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "breaker.postgres"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::connection_failed:
        return "could not connect to the PostgreSQL server";
      case errc::connection_lost:
        return "the connection to the PostgreSQL server was lost";
      case errc::server_error:
        return "the PostgreSQL server reported an error";
      case errc::timeout:
        return "the PostgreSQL operation timed out";
      case errc::no_rows:
        return "the statement returned no rows";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::unexpected_result:
        return "unexpected result from the PostgreSQL server";
    }
    return "unknown breaker.postgres error";
  }
};

std::string make_what(const std::string& sqlstate, const std::string& message) {
  std::string what = message;
  if (!sqlstate.empty()) {
    what += what.empty() ? "" : " ";
    what += "(SQLSTATE " + sqlstate + ")";
  }
  return what;
}

}  // namespace

const std::error_category& error_category() noexcept {
  static const PostgresCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

PostgresError::PostgresError(errc code, std::string sqlstate, std::string message)
    : std::system_error(make_error_code(code), make_what(sqlstate, message)),
      sqlstate_(std::move(sqlstate)),
      message_(std::move(message)) {}

}  // namespace breaker::postgres
