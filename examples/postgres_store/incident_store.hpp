// SPDX-License-Identifier: Apache-2.0
#pragma once

// IncidentStore: the repository an incident-management service keeps in PostgreSQL
// (create / get / update / list), written on breaker::postgres::Connection. Every statement is
// parameterised. Wrapped in breaker::postgres::CircuitBreakerStore by main.cpp.

#include "breaker/postgres/connection.hpp"

#include <asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace example {

struct Incident {
  std::int64_t id = 0;
  std::string title;
  std::string severity;  // critical, high, medium, low
  std::string status;    // open, acknowledged, resolved
};

class IncidentStore {
 public:
  explicit IncidentStore(std::shared_ptr<breaker::postgres::Connection> conn) : conn_(std::move(conn)) {}

  asio::awaitable<void> migrate() {
    co_await conn_->query(
        "CREATE TABLE IF NOT EXISTS incidents ("
        " id bigserial PRIMARY KEY,"
        " title text NOT NULL UNIQUE,"
        " severity text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),"
        " status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')))");
  }

  asio::awaitable<Incident> create(std::string title, std::string severity) {
    const auto r = co_await conn_->execute(
        "INSERT INTO incidents (title, severity) VALUES ($1, $2) RETURNING id, title, severity, status", title,
        severity);
    co_return row(r, 0);
  }

  /// std::nullopt when there is no such incident ("no rows" is not a failure).
  asio::awaitable<std::optional<Incident>> get(std::int64_t id) {
    const auto r = co_await conn_->execute("SELECT id, title, severity, status FROM incidents WHERE id = $1", id);
    if (r.rows() == 0) co_return std::nullopt;
    co_return row(r, 0);
  }

  /// false when there is no such incident.
  asio::awaitable<bool> update_status(std::int64_t id, std::string status) {
    const auto r = co_await conn_->execute("UPDATE incidents SET status = $2 WHERE id = $1", id, status);
    co_return r.affected_rows() == 1;
  }

  asio::awaitable<std::vector<Incident>> list(std::string status, std::int64_t limit) {
    const auto r = co_await conn_->execute(
        "SELECT id, title, severity, status FROM incidents WHERE status = $1 ORDER BY id LIMIT $2", status, limit);
    std::vector<Incident> out;
    for (std::size_t i = 0; i < r.rows(); ++i) out.push_back(row(r, i));
    co_return out;
  }

 private:
  static Incident row(const breaker::postgres::Result& r, std::size_t i) {
    return Incident{std::stoll(*r.get(i, "id")), *r.get(i, "title"), *r.get(i, "severity"), *r.get(i, "status")};
  }

  std::shared_ptr<breaker::postgres::Connection> conn_;
};

}  // namespace example
