// SPDX-License-Identifier: Apache-2.0
#include "breaker/postgres/policy.hpp"

#include "breaker/error.hpp"
#include "breaker/outcome.hpp"

#include <asio/error.hpp>

#include <system_error>

namespace breaker::postgres {

Outcome classify_sqlstate(std::string_view sqlstate) noexcept {
  if (sqlstate.size() != 5) return Outcome::failure;
  const std::string_view cls = sqlstate.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "57" || cls == "58" || cls == "XX") return Outcome::failure;
  return Outcome::success;
}

Outcome classify_error(const PostgresError& error) noexcept {
  switch (error.error()) {
    case errc::connection_failed:
    case errc::connection_lost:
    case errc::timeout:
    case errc::unexpected_result:
      return Outcome::failure;
    case errc::server_error:
      return classify_sqlstate(error.sqlstate());
    case errc::no_rows:
    case errc::invalid_argument:
      return Outcome::success;
  }
  return Outcome::failure;
}

Outcome classify_exception(const std::exception_ptr& error) noexcept {
  return breaker::classify_exception_of<PostgresError>(
      error, [](const PostgresError& e) noexcept { return classify_error(e); });
}

}  // namespace breaker::postgres
