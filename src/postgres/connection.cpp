// SPDX-License-Identifier: Apache-2.0
#include "breaker/postgres/connection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <new>
#include <stdexcept>
#include <variant>

namespace breaker::postgres {

// ---------------------------------------------------------------------------------------------
// ConnectionConfig
// ---------------------------------------------------------------------------------------------
std::error_code ConnectionConfig::validate(std::string* message) const {
  auto fail = [&](const char* text) {
    if (message) *message = text;
    return make_error_code(errc::invalid_argument);
  };
  constexpr std::chrono::milliseconds one_day{24LL * 60 * 60 * 1000};
  if (hostaddr.empty()) return fail("ConnectionConfig::hostaddr must not be empty");
  if (hostaddr.find('\0') != std::string::npos) return fail("ConnectionConfig::hostaddr contains a NUL byte");
  if (port == 0) return fail("ConnectionConfig::port must be in 1..65535");
  if (connect_timeout.count() <= 0 || connect_timeout > one_day)
    return fail("ConnectionConfig::connect_timeout must be in (0, 1 day]");
  if (query_timeout.count() < 0 || query_timeout > one_day)
    return fail("ConnectionConfig::query_timeout must be in [0, 1 day]");
  for (const std::string* s : {&user, &password, &dbname, &application_name, &sslmode}) {
    if (s->find('\0') != std::string::npos) return fail("a ConnectionConfig string contains a NUL byte");
  }
  if (message) message->clear();
  return {};
}

// ---------------------------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------------------------
const std::string& Result::column_name(std::size_t column) const {
  if (column >= names_.size()) throw std::out_of_range("breaker::postgres::Result: column out of range");
  return names_[column];
}

std::size_t Result::column_index(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return i;
  }
  throw std::out_of_range("breaker::postgres::Result: no column named '" + std::string(name) + "'");
}

bool Result::is_null(std::size_t row, std::size_t column) const { return !get(row, column).has_value(); }

std::optional<std::string> Result::get(std::size_t row, std::size_t column) const {
  if (row >= rows_ || column >= names_.size()) {
    throw std::out_of_range("breaker::postgres::Result: row or column out of range");
  }
  return values_[row * names_.size() + column];
}

std::optional<std::string> Result::get(std::size_t row, std::string_view column) const {
  return get(row, column_index(column));
}

struct ResultBuilder {
  static Result from(const PGresult* r) {
    Result out;
    const int rows = PQntuples(r);
    const int cols = PQnfields(r);
    out.rows_ = static_cast<std::size_t>(rows);
    out.names_.reserve(static_cast<std::size_t>(cols));
    for (int c = 0; c < cols; ++c) out.names_.emplace_back(PQfname(r, c));
    out.values_.reserve(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
    for (int row = 0; row < rows; ++row) {
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(r, row, c)) {
          out.values_.emplace_back(std::nullopt);
        } else {
          out.values_.emplace_back(std::string(PQgetvalue(r, row, c), static_cast<std::size_t>(PQgetlength(r, row, c))));
        }
      }
    }
    const char* affected = PQcmdTuples(const_cast<PGresult*>(r));
    if (affected && *affected) out.affected_rows_ = std::strtoull(affected, nullptr, 10);
    if (const char* tag = PQcmdStatus(const_cast<PGresult*>(r))) out.command_tag_ = tag;
    return out;
  }
};

// ---------------------------------------------------------------------------------------------
// Connection::Impl: everything below runs on the strand.
// ---------------------------------------------------------------------------------------------
namespace {

using clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

[[noreturn]] void throw_cancelled() {
  throw std::system_error(asio::error::operation_aborted, "breaker::postgres: operation cancelled");
}

clock::time_point deadline_after(std::chrono::milliseconds d) {
  if (d.count() <= 0) return clock::time_point::max();
  return clock::now() + d;
}

enum class Wake { readable, writable, timed_out, cancelled, error };

}  // namespace

struct Connection::Impl {
  explicit Impl(asio::any_io_executor executor, ConnectionConfig c)
      : strand(asio::make_strand(std::move(executor))), config(std::move(c)) {}
  ~Impl() { drop(); }

  asio::strand<asio::any_io_executor> strand;
  ConnectionConfig config;
  PGconn* conn = nullptr;
  // Watches libpq's socket; never owns it (released before libpq closes it).
  std::optional<asio::posix::stream_descriptor> socket;
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> attempts{0};

  // One query at a time: the running query holds `busy`; others wait in FIFO order.
  struct Waiter {
    asio::steady_timer timer;
    bool granted = false;
  };
  bool busy = false;
  std::deque<Waiter*> waiters;

  void unwatch() noexcept {
    if (socket) {
      try {
        socket->release();  // aborts pending waits; does not close the fd
      } catch (const std::system_error&) {  // only when the reactor refuses; the fd stays libpq's
      }
      socket.reset();
    }
  }

  void drop() noexcept {
    unwatch();
    if (conn != nullptr) {
      PQfinish(conn);
      conn = nullptr;
    }
    connected.store(false, std::memory_order_relaxed);
  }

  // Watches PQsocket() afresh: the socket can change at every PQconnectPoll step, and a new
  // socket can reuse the old descriptor number, so the registration is always renewed.
  void watch() {
    unwatch();
    const int fd = PQsocket(conn);
    if (fd < 0) throw PostgresError(errc::connection_lost, "08006", "libpq has no socket");
    socket.emplace(strand, fd);
  }

  asio::awaitable<Wake> wait(bool readable, bool writable, clock::time_point deadline) {
    using namespace asio::experimental::awaitable_operators;
    using asio::posix::stream_descriptor;
    asio::steady_timer timer(strand, deadline);
    std::size_t index = 0;
    std::error_code ec;
    auto code = [](auto& t) { return std::get<0>(t); };
    if (readable && writable) {
      auto r = co_await (socket->async_wait(stream_descriptor::wait_read, tuple_awaitable) ||
                         socket->async_wait(stream_descriptor::wait_write, tuple_awaitable) ||
                         timer.async_wait(tuple_awaitable));
      index = r.index();
      ec = std::visit(code, r);
      if (index == 2) index = 3;
    } else {
      auto r = co_await (socket->async_wait(readable ? stream_descriptor::wait_read : stream_descriptor::wait_write,
                                            tuple_awaitable) ||
                         timer.async_wait(tuple_awaitable));
      index = r.index() == 0 ? (readable ? 0 : 1) : 3;
      ec = std::visit(code, r);
    }
    if (conn == nullptr) co_return Wake::error;  // closed meanwhile (close() or destruction)
    if (ec == asio::error::operation_aborted) co_return Wake::cancelled;
    if (index == 3) co_return ec ? Wake::error : Wake::timed_out;
    if (ec) co_return Wake::error;
    co_return index == 0 ? Wake::readable : Wake::writable;
  }

  // Turns a wake that is not readiness into the operation's exception (dropping the connection).
  void check(Wake w, errc lost_as) {
    switch (w) {
      case Wake::readable:
      case Wake::writable:
        return;
      case Wake::timed_out:
        drop();
        throw PostgresError(errc::timeout, "", "timed out");
      case Wake::cancelled:
        drop();
        throw_cancelled();
      case Wake::error:
        drop();
        throw PostgresError(lost_as, lost_as == errc::connection_failed ? "08001" : "08006",
                            "connection closed");
    }
  }

  asio::awaitable<void> acquire(clock::time_point deadline) {
    if (!busy) {
      busy = true;
      co_return;
    }
    Waiter w{asio::steady_timer(strand, deadline)};
    waiters.push_back(&w);
    co_await w.timer.async_wait(tuple_awaitable);
    if (w.granted) co_return;  // ownership of `busy` was handed to us
    std::erase(waiters, &w);
    if (clock::now() >= deadline) throw PostgresError(errc::timeout, "", "timed out waiting for the connection");
    throw_cancelled();
  }

  void release() noexcept {
    if (waiters.empty()) {
      busy = false;
      return;
    }
    Waiter* next = waiters.front();
    waiters.pop_front();
    next->granted = true;
    next->timer.cancel();
  }

  struct Ticket {
    Impl* impl;
    ~Ticket() { impl->release(); }
  };

  asio::awaitable<void> do_connect(clock::time_point deadline) {
    drop();
    attempts.fetch_add(1, std::memory_order_relaxed);
    const std::string port = std::to_string(config.port);
    std::vector<const char*> keys;
    std::vector<const char*> values;
    auto add = [&](const char* k, const std::string& v) {
      if (v.empty()) return;
      keys.push_back(k);
      values.push_back(v.c_str());
    };
    add("hostaddr", config.hostaddr);
    add("port", port);
    add("user", config.user);
    add("password", config.password);
    add("dbname", config.dbname);
    add("application_name", config.application_name);
    add("sslmode", config.sslmode);
    static const std::string disable = "disable";
    add("gssencmode", disable);  // GSS would look for Kerberos credentials with blocking file I/O
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn = PQconnectStartParams(keys.data(), values.data(), 0);
    if (conn == nullptr) throw std::bad_alloc();
    if (PQstatus(conn) == CONNECTION_BAD) {
      std::string message = trimmed(PQerrorMessage(conn));
      drop();
      throw PostgresError(errc::connection_failed, "08001", message);
    }
    // As the libpq docs say: behave as if PQconnectPoll had last returned PGRES_POLLING_WRITING.
    PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
    for (;;) {
      watch();
      check(co_await wait(poll == PGRES_POLLING_READING, poll != PGRES_POLLING_READING, deadline),
            errc::connection_failed);
      poll = PQconnectPoll(conn);
      if (poll == PGRES_POLLING_OK) break;
      if (poll == PGRES_POLLING_FAILED) {
        std::string message = trimmed(PQerrorMessage(conn));
        drop();
        throw PostgresError(errc::connection_failed, "08001", message);
      }
    }
    if (PQsetnonblocking(conn, 1) != 0) {
      std::string message = trimmed(PQerrorMessage(conn));
      drop();
      throw PostgresError(errc::connection_failed, "08001", message);
    }
    watch();
    connected.store(true, std::memory_order_relaxed);
  }

  // After the connection broke: collects what libpq still has (the server's last error, e.g.
  // 57P01 on an immediate shutdown), drops the connection and throws connection_lost.
  [[noreturn]] void lost(std::string sqlstate = {}, std::string message = {}) {
    if (conn != nullptr) {
      if (message.empty()) message = trimmed(PQerrorMessage(conn));
      for (int i = 0; i < 16; ++i) {  // bounded: a broken connection yields few results
        ResultPtr r(PQgetResult(conn));
        if (!r) break;
        if (sqlstate.empty()) {
          if (const char* s = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE)) {
            sqlstate = s;
            message = trimmed(PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY));
          }
        }
      }
    }
    drop();
    throw PostgresError(errc::connection_lost, sqlstate.empty() ? "08006" : sqlstate,
                        message.empty() ? "connection lost" : message);
  }

  asio::awaitable<void> ensure_connected(clock::time_point deadline) {
    if (conn != nullptr && PQstatus(conn) == CONNECTION_OK) co_return;
    co_await do_connect(std::min(deadline, deadline_after(config.connect_timeout)));
  }

  asio::awaitable<Result> do_query(std::string sql, std::vector<Param> params) {
    if (sql.find('\0') != std::string::npos) {
      throw PostgresError(errc::invalid_argument, "", "the SQL text contains a NUL byte");
    }
    if (params.size() > 65535) throw PostgresError(errc::invalid_argument, "", "more than 65535 parameters");
    for (const Param& p : params) {
      if (p && p->find('\0') != std::string::npos) {
        throw PostgresError(errc::invalid_argument, "", "a parameter contains a NUL byte");
      }
    }
    const clock::time_point deadline = deadline_after(config.query_timeout);
    co_await acquire(deadline);
    Ticket ticket{this};
    co_await ensure_connected(deadline);

    std::vector<const char*> values;
    values.reserve(params.size());
    for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
    if (PQsendQueryParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(), nullptr,
                          nullptr, 0) == 0) {
      lost();
    }
    for (;;) {
      const int flushed = PQflush(conn);
      if (flushed == 0) break;
      if (flushed < 0) lost();
      const Wake w = co_await wait(true, true, deadline);
      check(w, errc::connection_lost);
      if (w == Wake::readable && PQconsumeInput(conn) == 0) lost();
    }

    std::optional<Result> result;
    std::optional<PostgresError> error;
    bool unexpected = false;
    for (bool done = false; !done;) {
      while (PQisBusy(conn) == 0) {
        ResultPtr r(PQgetResult(conn));
        if (!r) {
          done = true;
          break;
        }
        switch (PQresultStatus(r.get())) {
          case PGRES_TUPLES_OK:
          case PGRES_COMMAND_OK:
          case PGRES_EMPTY_QUERY:
            result = ResultBuilder::from(r.get());
            break;
          case PGRES_FATAL_ERROR: {
            if (error) break;  // keep the first
            const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
            const char* primary = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY);
            error.emplace(errc::server_error, state ? state : "",
                          trimmed(primary ? primary : PQresultErrorMessage(r.get())));
            break;
          }
          default:  // COPY, pipeline, bad response: not something this client speaks
            unexpected = true;
            done = true;
            break;
        }
        if (done) break;
      }
      if (done) break;
      if (PQstatus(conn) == CONNECTION_BAD) break;
      check(co_await wait(true, false, deadline), errc::connection_lost);
      if (PQconsumeInput(conn) == 0) lost();
    }
    if (unexpected) {
      drop();
      throw PostgresError(errc::unexpected_result, "", "unsupported result (COPY or pipeline)");
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
      if (error) lost(error->sqlstate(), error->server_message());
      lost();
    }
    if (error) {
      // A server-side error without SQLSTATE cannot be classified: treat it as a broken link.
      if (error->sqlstate().empty()) lost({}, error->server_message());
      throw *error;
    }
    if (!result) throw PostgresError(errc::unexpected_result, "", "the statement returned no result");
    co_return std::move(*result);
  }
};

namespace {

asio::awaitable<void> run_connect(std::shared_ptr<Connection::Impl> impl) {
  const clock::time_point deadline = deadline_after(impl->config.connect_timeout);
  co_await impl->acquire(deadline);
  Connection::Impl::Ticket ticket{impl.get()};
  co_await impl->ensure_connected(deadline);
}

asio::awaitable<Result> run_query(std::shared_ptr<Connection::Impl> impl, std::string sql,
                                  std::vector<Param> params) {
  co_return co_await impl->do_query(std::move(sql), std::move(params));
}

ConnectionConfig validated(ConnectionConfig config) {
  std::string message;
  if (config.validate(&message)) throw PostgresError(errc::invalid_argument, "", message);
  return config;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------
Connection::Connection(asio::any_io_executor executor, ConnectionConfig config)
    : impl_(std::make_shared<Impl>(std::move(executor), validated(std::move(config)))) {}

Connection::~Connection() { close(); }

asio::awaitable<void> Connection::connect() {
  // The work runs on the strand; co_spawn resumes us on our own executor and forwards our
  // cancellation to it.
  co_await asio::co_spawn(impl_->strand, run_connect(impl_), asio::use_awaitable);
}

asio::awaitable<Result> Connection::query(std::string sql, std::vector<Param> params) {
  co_return co_await asio::co_spawn(impl_->strand, run_query(impl_, std::move(sql), std::move(params)),
                                    asio::use_awaitable);
}

void Connection::close() {
  asio::post(impl_->strand, [impl = impl_] { impl->drop(); });
}

bool Connection::is_connected() const noexcept { return impl_->connected.load(std::memory_order_relaxed); }

std::uint64_t Connection::connection_attempts() const noexcept {
  return impl_->attempts.load(std::memory_order_relaxed);
}

Connection::executor_type Connection::get_executor() const noexcept { return impl_->strand; }

const ConnectionConfig& Connection::config() const noexcept { return impl_->config; }

}  // namespace breaker::postgres
