// SPDX-License-Identifier: Apache-2.0
#include "breaker/redis/connection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <new>
#include <tuple>

namespace breaker::redis {

// ---------------------------------------------------------------------------------------------
// ConnectionConfig, Value
// ---------------------------------------------------------------------------------------------
std::error_code ConnectionConfig::validate(std::string* message) const {
  auto fail = [&](const char* text) {
    if (message) *message = text;
    return make_error_code(errc::invalid_argument);
  };
  constexpr std::chrono::milliseconds one_day{24LL * 60 * 60 * 1000};
  unsigned char buffer[sizeof(in6_addr)];
  if (host.find('\0') != std::string::npos ||
      (::inet_pton(AF_INET, host.c_str(), buffer) != 1 && ::inet_pton(AF_INET6, host.c_str(), buffer) != 1)) {
    return fail("ConnectionConfig::host must be a numeric IPv4 or IPv6 address");
  }
  if (port == 0) return fail("ConnectionConfig::port must be in 1..65535");
  if (connect_timeout.count() <= 0 || connect_timeout > one_day)
    return fail("ConnectionConfig::connect_timeout must be in (0, 1 day]");
  if (command_timeout.count() < 0 || command_timeout > one_day)
    return fail("ConnectionConfig::command_timeout must be in [0, 1 day]");
  if (message) message->clear();
  return {};
}

const std::string& Value::str() const {
  if (type_ != Type::string && type_ != Type::status) throw RedisError(errc::unexpected_reply, "not a string reply");
  return text_;
}

std::int64_t Value::as_integer() const {
  if (type_ != Type::integer) throw RedisError(errc::unexpected_reply, "not an integer reply");
  return integer_;
}

const std::vector<Value>& Value::elements() const {
  if (type_ != Type::array) throw RedisError(errc::unexpected_reply, "not an array reply");
  return elements_;
}

std::optional<std::string> Value::as_optional_string() const {
  if (type_ == Type::nil) return std::nullopt;
  return str();
}

// ---------------------------------------------------------------------------------------------
// Connection::Impl: hiredis' async context with an Asio adapter. Everything runs on the strand.
// ---------------------------------------------------------------------------------------------
namespace {

using clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

clock::time_point deadline_after(std::chrono::milliseconds d) {
  if (d.count() <= 0) return clock::time_point::max();
  return clock::now() + d;
}

Value convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return Value::string(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return Value::status(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return Value::integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Value> elements;
      elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) elements.push_back(convert(r->element[i]));
      return Value::array(std::move(elements));
    }
    default:  // REDIS_REPLY_NIL (errors are handled by the caller)
      return Value();
  }
}

}  // namespace

struct Connection::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor executor, ConnectionConfig c)
      : strand(asio::make_strand(std::move(executor))), config(std::move(c)) {}
  ~Impl() { drop(); }

  // One command awaiting its reply. Shared by the awaiting coroutine and hiredis' callback
  // (which owns one reference through privdata until hiredis calls it, exactly once).
  struct Op {
    explicit Op(const asio::strand<asio::any_io_executor>& s, clock::time_point deadline) : timer(s, deadline) {}
    asio::steady_timer timer;  // expires at the deadline; cancelled by the reply
    bool done = false;
    std::optional<Value> value;
    std::optional<RedisError> error;
    std::uint64_t generation = 0;  // the context it was sent on
  };

  asio::strand<asio::any_io_executor> strand;
  ConnectionConfig config;
  redisAsyncContext* ac = nullptr;
  std::optional<asio::posix::stream_descriptor> socket;  // hiredis' fd, never owned
  bool reading = false, writing = false;                 // what hiredis asked for
  bool read_armed = false, write_armed = false;          // our waits in flight
  std::uint64_t generation = 0;                          // one per context
  std::uint64_t connected_generation = 0;                // last context that connected
  // Replies hiredis still owes us. Reads are awaited only while this is > 0, so an idle
  // connection leaves no operation on the io_context (io_context::run() can return).
  std::size_t replies_owed = 0;
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> attempts{0};

  // --- the adapter: hiredis' ev hooks --------------------------------------------------------
  static void add_read(void* data) {
    auto* self = static_cast<Impl*>(data);
    self->reading = true;
    self->arm(true);
  }
  static void del_read(void* data) { static_cast<Impl*>(data)->reading = false; }
  static void add_write(void* data) {
    auto* self = static_cast<Impl*>(data);
    self->writing = true;
    self->arm(false);
  }
  static void del_write(void* data) { static_cast<Impl*>(data)->writing = false; }
  // Called by hiredis just before it frees the context (and closes the fd).
  static void cleanup(void* data) {
    auto* self = static_cast<Impl*>(data);
    self->reading = self->writing = false;
    self->unwatch();
    self->ac = nullptr;
    self->replies_owed = 0;  // hiredis has failed every pending callback by now
    self->connected.store(false, std::memory_order_relaxed);
  }

  void unwatch() noexcept {
    read_armed = write_armed = false;
    if (socket) {
      try {
        socket->release();  // aborts our pending waits; the fd stays hiredis'
      } catch (const std::system_error&) {
      }
      socket.reset();
    }
  }

  // Starts one wait for readability (or writability) unless one is in flight. The handler
  // holds a reference to the Impl and ignores completions of an older context.
  void arm(bool read) {
    bool& armed = read ? read_armed : write_armed;
    if (armed || !socket || (read && replies_owed == 0)) return;
    std::shared_ptr<Impl> self = weak_from_this().lock();
    if (!self) return;  // being destroyed
    armed = true;
    const std::uint64_t gen = generation;
    socket->async_wait(read ? asio::posix::stream_descriptor::wait_read : asio::posix::stream_descriptor::wait_write,
                       [self = std::move(self), gen, read](std::error_code ec) {
                         if (gen != self->generation) return;  // an older context's wait
                         bool& still_armed = read ? self->read_armed : self->write_armed;
                         if (!ec && self->ac != nullptr && (read ? self->reading : self->writing)) {
                           // May call reply callbacks, and may free the context (cleanup()).
                           // The wait counts as armed during the call, so hiredis' own
                           // addRead (made before it runs the callbacks) starts nothing: we
                           // decide below, once the replies owed are known.
                           if (read) {
                             redisAsyncHandleRead(self->ac);
                           } else {
                             redisAsyncHandleWrite(self->ac);
                           }
                         }
                         if (gen != self->generation) return;
                         still_armed = false;
                         if (!ec && self->ac != nullptr && (read ? self->reading : self->writing)) self->arm(read);
                       });
  }

  static void on_connect(const redisAsyncContext* c, int status) {
    auto* self = static_cast<Impl*>(c->data);
    if (status == REDIS_OK) {
      self->connected_generation = self->generation;
      self->connected.store(true, std::memory_order_relaxed);
    }
  }
  static void on_disconnect(const redisAsyncContext* c, int) {
    static_cast<Impl*>(c->data)->connected.store(false, std::memory_order_relaxed);
  }

  static void on_reply(redisAsyncContext* c, void* reply_ptr, void* privdata) {
    std::unique_ptr<std::shared_ptr<Op>> holder(static_cast<std::shared_ptr<Op>*>(privdata));
    Op& op = **holder;
    auto* self = static_cast<Impl*>(c->data);
    if (self->replies_owed > 0) --self->replies_owed;
    if (op.done) return;  // abandoned (timed out or cancelled)
    op.done = true;
    const auto* reply = static_cast<const redisReply*>(reply_ptr);
    if (reply == nullptr) {
      std::string why = c->errstr != nullptr && c->err != 0 ? std::string(c->errstr) : std::string("connection closed");
      if (self->connected_generation == op.generation) {
        op.error.emplace(errc::connection_lost, why);
      } else {
        op.error.emplace(errc::connection_failed, why);
      }
    } else if (reply->type == REDIS_REPLY_ERROR) {
      op.error.emplace(errc::server_error, std::string(reply->str, reply->len));
    } else {
      try {
        op.value.emplace(convert(reply));
      } catch (const std::bad_alloc&) {
        op.error.emplace(errc::unexpected_reply, "out of memory converting the reply");
      }
    }
    op.timer.cancel();  // wakes the awaiting coroutine (through the strand, not from here)
  }

  // --- connection -----------------------------------------------------------------------------
  void drop() noexcept {
    if (ac != nullptr) redisAsyncFree(ac);  // fails pending callbacks (NULL reply), then cleanup()
    ac = nullptr;
    unwatch();
    connected.store(false, std::memory_order_relaxed);
  }

  void ensure_context() {
    if (ac != nullptr) return;
    attempts.fetch_add(1, std::memory_order_relaxed);
    ++generation;
    redisAsyncContext* c = redisAsyncConnect(config.host.c_str(), config.port);
    if (c == nullptr) throw std::bad_alloc();
    if (c->err != 0) {
      std::string why = c->errstr;
      redisAsyncFree(c);
      throw RedisError(errc::connection_failed, why);
    }
    ac = c;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = &Impl::add_read;
    ac->ev.delRead = &Impl::del_read;
    ac->ev.addWrite = &Impl::add_write;
    ac->ev.delWrite = &Impl::del_write;
    ac->ev.cleanup = &Impl::cleanup;
    socket.emplace(strand, ac->c.fd);
    redisAsyncSetConnectCallback(ac, &Impl::on_connect);
    redisAsyncSetDisconnectCallback(ac, &Impl::on_disconnect);
  }

  asio::awaitable<Value> do_command(std::vector<std::string> args) {
    if (args.empty()) throw RedisError(errc::invalid_argument, "empty command");
    clock::time_point deadline = deadline_after(config.command_timeout);
    if (ac == nullptr || connected_generation != generation) {
      deadline = std::min(deadline, deadline_after(config.connect_timeout));
    }
    ensure_context();
    auto op = std::make_shared<Op>(strand, deadline);
    op->generation = generation;
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* privdata = new std::shared_ptr<Op>(op);
    ++replies_owed;
    if (redisAsyncCommandArgv(ac, &Impl::on_reply, privdata, static_cast<int>(args.size()), argv.data(),
                              lengths.data()) != REDIS_OK) {
      --replies_owed;
      delete privdata;
      drop();
      throw RedisError(errc::connection_lost, "the connection is closing");
    }
    std::error_code ec;
    if (!op->done) std::tie(ec) = co_await op->timer.async_wait(tuple_awaitable);
    if (op->done) {
      if (op->error) throw *op->error;
      co_return std::move(*op->value);
    }
    op->done = true;  // abandon: the callback, when it comes, discards the reply
    if (!ec) {
      // The deadline passed: hiredis cannot skip one pending reply, so the connection goes.
      if (op->generation == generation) drop();
      throw RedisError(errc::timeout, "no reply within the timeout");
    }
    throw std::system_error(asio::error::operation_aborted, "breaker::redis: command cancelled");
  }
};

namespace {

asio::awaitable<Value> run_command(std::shared_ptr<Connection::Impl> impl, std::vector<std::string> args) {
  co_return co_await impl->do_command(std::move(args));
}

ConnectionConfig validated(ConnectionConfig config) {
  std::string message;
  if (config.validate(&message)) throw RedisError(errc::invalid_argument, message);
  return config;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------
Connection::Connection(asio::any_io_executor executor, ConnectionConfig config)
    : impl_(std::make_shared<Impl>(std::move(executor), validated(std::move(config)))) {}

Connection::~Connection() { close(); }

asio::awaitable<Value> Connection::command(std::vector<std::string> args) {
  // Runs on the strand; co_spawn resumes us on our executor and forwards our cancellation.
  co_return co_await asio::co_spawn(impl_->strand, run_command(impl_, std::move(args)), asio::use_awaitable);
}

asio::awaitable<std::optional<std::string>> Connection::get(std::string key) {
  std::vector<std::string> args{"GET", std::move(key)};  // (g++ 12: no braced list inside co_await)
  const Value v = co_await command(std::move(args));
  co_return v.as_optional_string();
}

asio::awaitable<void> Connection::set(std::string key, std::string value, std::chrono::milliseconds ttl) {
  std::vector<std::string> args{"SET", std::move(key), std::move(value)};
  if (ttl.count() > 0) {
    args.emplace_back("PX");
    args.push_back(std::to_string(ttl.count()));
  }
  co_await command(std::move(args));
}

asio::awaitable<std::int64_t> Connection::del(std::string key) {
  std::vector<std::string> args{"DEL", std::move(key)};
  const Value v = co_await command(std::move(args));
  co_return v.as_integer();
}

void Connection::close() {
  asio::post(impl_->strand, [impl = impl_] { impl->drop(); });
}

bool Connection::is_connected() const noexcept { return impl_->connected.load(std::memory_order_relaxed); }

std::uint64_t Connection::connection_attempts() const noexcept {
  return impl_->attempts.load(std::memory_order_relaxed);
}

Connection::executor_type Connection::get_executor() const noexcept { return impl_->strand; }

}  // namespace breaker::redis
