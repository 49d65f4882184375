// SPDX-License-Identifier: Apache-2.0
//
// The Asio driver of a curl multi handle (multi-socket interface):
// - CURLMOPT_SOCKETFUNCTION: for each socket curl wants watched, an
//   asio::posix::stream_descriptor that does not own the fd (curl does); it is
//   released (deregistered from the reactor, fd left open) on CURL_POLL_REMOVE,
//   which curl reports before it closes a socket (Curl_multi_closed).
// - CURLMOPT_TIMERFUNCTION: one steady timer.
// Every curl call and every wait runs on the driver's strand, so the driver is
// safe on a multi-threaded io_context. Completions are posted to the
// handlers' executors, never run inside curl's callbacks.

#include "multi_driver.hpp"

#include "breaker/http/detail/completion.hpp"
#include "breaker/http/detail/protocol.hpp"
#include "breaker/http/error.hpp"

#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <utility>

namespace breaker::http::detail {
namespace {

class Driver final : public MultiDriver, public std::enable_shared_from_this<Driver> {
 public:
  explicit Driver(asio::any_io_executor executor)
      : executor_(std::move(executor)), strand_(executor_), timer_(strand_) {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) {
      throw std::system_error(make_error_code(CURLM_OUT_OF_MEMORY), "curl_multi_init failed");
    }
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Driver::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Driver::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }

  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Runs when the last reference is gone: no handler of ours is pending (each
  // holds a reference), so nothing runs concurrently.
  ~Driver() override {
    for (auto& [easy, transfer] : transfers_) curl_multi_remove_handle(multi_, easy);
    // Destroying the completions without calling them destroys their handlers
    // (e.g. coroutine frames that own the easy handles): only after removal.
    transfers_.clear();
    curl_multi_cleanup(multi_);  // may report CURL_POLL_REMOVE for cached connections
    for (auto& [fd, socket] : sockets_) {
      socket->open = false;
      socket->descriptor.release();
    }
  }

  std::uint64_t next_id() noexcept override {
    // relaxed: ids only need to be unique.
    return next_id_.fetch_add(1, std::memory_order_relaxed);
  }

  asio::any_io_executor executor() const override { return executor_; }

  void start(CURL* easy, std::uint64_t id, std::unique_ptr<Completion> completion) override {
    asio::post(strand_, [self = shared_from_this(), easy, id,
                         completion = std::move(completion)]() mutable {
      self->add(easy, id, std::move(completion));
    });
  }

  void cancel(CURL* easy, std::uint64_t id) override {
    asio::post(strand_, [self = shared_from_this(), easy, id] {
      self->remove(easy, id, asio::error::operation_aborted);
    });
  }

  std::size_t in_flight() const noexcept override {
    return in_flight_.load(std::memory_order_relaxed);
  }

  void shutdown() override {
    asio::post(strand_, [self = shared_from_this()] {
      self->shut_down_ = true;
      while (!self->transfers_.empty()) {
        auto it = self->transfers_.begin();
        self->remove(it->first, it->second.id, asio::error::operation_aborted);
      }
      self->timer_.cancel();
      // curl reports CURL_POLL_REMOVE for the sockets of removed transfers;
      // this only makes sure no wait outlives the client.
      for (auto& [fd, socket] : self->sockets_) {
        socket->open = false;
        socket->descriptor.release();
      }
      self->sockets_.clear();
    });
  }

 private:
  struct Transfer {
    std::uint64_t id;
    std::unique_ptr<Completion> completion;
  };

  struct Socket {
    Socket(const asio::strand<asio::any_io_executor>& strand) : descriptor(strand) {}
    asio::posix::stream_descriptor descriptor;
    int what = 0;
    bool reading = false;
    bool writing = false;
    bool open = true;  // false once released: late wait completions are ignored
  };

  // --- on the strand ---------------------------------------------------------
  void add(CURL* easy, std::uint64_t id, std::unique_ptr<Completion> completion) {
    if (shut_down_) {
      completion->complete(asio::error::operation_aborted);
      return;
    }
    if (transfers_.contains(easy)) {
      completion->complete(make_error_code(CURLM_ADDED_ALREADY));
      return;
    }
    // Registered first: curl_multi_add_handle may call our callbacks.
    transfers_.emplace(easy, Transfer{id, std::move(completion)});
    const CURLMcode rc = curl_multi_add_handle(multi_, easy);
    if (rc != CURLM_OK) {
      auto node = transfers_.extract(easy);
      node.mapped().completion->complete(make_error_code(rc));
      return;
    }
    in_flight_.fetch_add(1, std::memory_order_relaxed);
  }

  // Removes a running transfer and completes it with `code`.
  void remove(CURL* easy, std::uint64_t id, std::error_code code) {
    auto it = transfers_.find(easy);
    if (it == transfers_.end() || it->second.id != id) return;  // finished already
    std::unique_ptr<Completion> completion = std::move(it->second.completion);
    transfers_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    completion->complete(code);
  }

  void drain() {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      // Copied out: the message is invalid once the handle is removed.
      CURL* easy = message->easy_handle;
      const CURLcode result = message->data.result;
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      remove(easy, it->second.id, make_error_code(result));
    }
  }

  void socket_action(curl_socket_t fd, int events) {
    int running = 0;
    curl_multi_socket_action(multi_, fd, events, &running);
    drain();
  }

  static int on_socket(CURL* /*easy*/, curl_socket_t fd, int what, void* driver,
                       void* /*socketp*/) {
    return static_cast<Driver*>(driver)->watch(fd, what);
  }

  int watch(curl_socket_t fd, int what) {
    const SocketWaits plan = [&] {
      auto it = sockets_.find(fd);
      if (it == sockets_.end()) return plan_socket_waits(what, false, false);
      return plan_socket_waits(what, it->second->reading, it->second->writing);
    }();
    if (plan.release) {
      auto it = sockets_.find(fd);
      if (it != sockets_.end()) {
        it->second->open = false;
        // Deregisters fd from the reactor and aborts pending waits; curl keeps
        // (and later closes) the fd.
        it->second->descriptor.release();
        sockets_.erase(it);
      }
      return 0;
    }
    std::shared_ptr<Socket>& socket = sockets_[fd];
    if (!socket) {
      socket = std::make_shared<Socket>(strand_);
      std::error_code ec;
      socket->descriptor.assign(fd, ec);
      if (ec) {
        sockets_.erase(fd);
        return -1;
      }
    }
    socket->what = what;
    if (plan.start_read) wait(socket, poll_in);
    if (plan.start_write) wait(socket, poll_out);
    return 0;
  }

  void wait(const std::shared_ptr<Socket>& socket, int direction) {
    const bool read = direction == poll_in;
    (read ? socket->reading : socket->writing) = true;
    auto on_ready = [self = shared_from_this(), socket, direction](std::error_code ec) {
      self->ready(socket, direction, ec);
    };
    socket->descriptor.async_wait(read ? asio::posix::stream_descriptor::wait_read
                                       : asio::posix::stream_descriptor::wait_write,
                                  std::move(on_ready));
  }

  void ready(const std::shared_ptr<Socket>& socket, int direction, std::error_code ec) {
    (direction == poll_in ? socket->reading : socket->writing) = false;
    if (!socket->open || ec == asio::error::operation_aborted) return;
    if (!wants(socket->what, direction)) return;
    const int events =
        ec ? CURL_CSELECT_ERR : (direction == poll_in ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
    socket_action(socket->descriptor.native_handle(), events);
    // Level-triggered like poll(): wait again while curl still wants this
    // direction and no wait is pending (watch() may have started one).
    if (socket->open && wants(socket->what, direction) &&
        !(direction == poll_in ? socket->reading : socket->writing)) {
      wait(socket, direction);
    }
  }

  static int on_timer(CURLM* /*multi*/, long timeout_ms, void* driver) {
    static_cast<Driver*>(driver)->schedule(timeout_ms);
    return 0;
  }

  void schedule(long timeout_ms) {
    ++timer_generation_;
    if (timeout_ms < 0) {
      timer_.cancel();
      return;
    }
    // Also for 0: curl must not be called back from inside its own callback.
    timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    auto on_expiry = [self = shared_from_this(), generation = timer_generation_](std::error_code ec) {
      if (ec || generation != self->timer_generation_) return;
      self->socket_action(CURL_SOCKET_TIMEOUT, 0);
    };
    timer_.async_wait(std::move(on_expiry));
  }

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  asio::steady_timer timer_;
  CURLM* multi_ = nullptr;
  std::unordered_map<CURL*, Transfer> transfers_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
  std::uint64_t timer_generation_ = 0;
  bool shut_down_ = false;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace

std::shared_ptr<MultiDriver> make_multi_driver(asio::any_io_executor executor) {
  return std::make_shared<Driver>(std::move(executor));
}

}  // namespace breaker::http::detail
