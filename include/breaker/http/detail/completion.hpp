// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Machinery of `Client::async_perform`: the type-erased completion of one
/// transfer, the cancellation handler bound to the caller's slot, and the
/// interface of the multi-handle driver (implemented in src/http/).

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>
#include <utility>

namespace breaker::http::detail {

/// The completion of one transfer, called exactly once by the driver (on its
/// strand) after the easy handle left the multi handle.
class Completion {
 public:
  virtual ~Completion() = default;
  /// Delivers `code` to the handler through its associated executor (never
  /// inline: the driver may be inside a curl callback).
  virtual void complete(std::error_code code) = 0;
};

/// `Completion` of a concrete handler. Keeps the handler's executor busy
/// (outstanding work) while the transfer runs, and clears the cancellation
/// slot on the handler's executor just before invoking the handler.
template <class Handler>
class CompletionImpl final : public Completion {
 public:
  using slot_type = typename asio::associated_cancellation_slot<Handler>::type;
  using handler_executor = asio::associated_executor_t<Handler, asio::any_io_executor>;

  CompletionImpl(Handler handler, slot_type slot, const asio::any_io_executor& fallback)
      : work_(asio::get_associated_executor(handler, fallback)),
        handler_(std::move(handler)),
        slot_(slot) {}

  void complete(std::error_code code) override {
    handler_executor executor = work_.get_executor();
    auto deliver = [handler = std::move(handler_), slot = slot_, code]() mutable {
      // Cleared here, on the handler's executor, where the slot's signal is
      // emitted: never concurrently with an emit.
      if (slot.is_connected()) slot.clear();
      std::move(handler)(code);
    };
    asio::post(executor, std::move(deliver));
    work_.reset();
  }

 private:
  asio::executor_work_guard<handler_executor> work_;
  Handler handler_;
  slot_type slot_;
};

/// The driver of one curl multi handle (see src/http/multi_driver.cpp).
/// Every member may be called from any thread; the work happens on the
/// driver's strand.
class MultiDriver {
 public:
  virtual ~MultiDriver() = default;
  /// A new transfer id (ids tell a cancellation which run of an easy handle it
  /// is meant for).
  virtual std::uint64_t next_id() noexcept = 0;
  /// The executor completions fall back to when a handler has none.
  virtual asio::any_io_executor executor() const = 0;
  /// Adds `easy` to the multi handle (on the strand) and calls `completion`
  /// with its result once it left the multi handle again.
  virtual void start(CURL* easy, std::uint64_t id, std::unique_ptr<Completion> completion) = 0;
  /// Removes the transfer (`easy`, `id`) if it still runs and completes it with
  /// `asio::error::operation_aborted`; nothing when it already finished.
  virtual void cancel(CURL* easy, std::uint64_t id) = 0;
  /// Transfers registered with the multi handle.
  virtual std::size_t in_flight() const noexcept = 0;
  /// Aborts every transfer (each completes with `operation_aborted`) and
  /// refuses new ones the same way. Called by `~Client`.
  virtual void shutdown() = 0;
};

/// Cancellation handler installed in the caller's cancellation slot: asks the
/// driver (if it still exists) to cancel the transfer. Any cancellation type
/// counts: a half-finished HTTP exchange cannot be resumed.
struct CancelTransfer {
  std::weak_ptr<MultiDriver> driver;
  CURL* easy;
  std::uint64_t id;

  CancelTransfer(std::weak_ptr<MultiDriver> d, CURL* e, std::uint64_t i) noexcept
      : driver(std::move(d)), easy(e), id(i) {}

  void operator()(asio::cancellation_type type) const {
    if (type == asio::cancellation_type::none) return;
    if (auto d = driver.lock()) d->cancel(easy, id);
  }
};

}  // namespace breaker::http::detail
