// SPDX-License-Identifier: Apache-2.0
// Issue 8 (core hardening): one test per numbered point that lives in the core. Each failed on
// the code before its fix. Points 1 (timeout race), 9 (static_asserts) and 13 (lifetime check)
// have their own files: test_timeout_race.cpp, tests/compile_fail/, test_lifetime_check.cpp.
#include "breaker/circuit_breaker.hpp"
#include "breaker/testing/manual_clock.hpp"

#include "run.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// From the sanitizer runtime (its header is not installed with gcc 12).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using breaker::CircuitBreaker;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::testing::ManualClock;

namespace {

using Breaker = CircuitBreaker<ManualClock>;

CircuitBreakerConfig opens_on_first_failure() {
  return CircuitBreakerConfig::builder()
      .failure_threshold(1)
      .success_threshold(1)
      .half_open_max_requests(1)
      .minimum_request_threshold(0)
      .timeout_duration(10s)
      .record_call_durations(false)
      .build();
}

std::uint64_t outcomes(const breaker::Stats& s) {
  return s.successful_calls + s.failed_calls + s.ignored_calls;
}

}  // namespace

// --- 2. stale outcomes and the epoch -------------------------------------------------------

TEST_CASE("a stale outcome never drives a transition, even after 65,536 epochs",
          "[breaker][stale][issue-8]") {
  ManualClock clock;
  Breaker cb("svc", opens_on_first_failure(), clock);
  auto permit = cb.try_acquire();
  REQUIRE(permit);
  for (int i = 0; i < 32'768; ++i) {
    cb.force_open();
    cb.reset();
  }
  permit.record_failure();
  CHECK(cb.state() == State::closed);
  CHECK(cb.transitions(State::closed, State::open) == 32'768);  // only the force_open()s
  CHECK(cb.stats().failed_calls == 1);
}

TEST_CASE("reset() of a closed breaker with zero counts is not a transition and starts no epoch",
          "[breaker][stale][issue-8]") {
  ManualClock clock;
  Breaker cb("svc", opens_on_first_failure(), clock);
  int heard = 0;
  cb.on_state_change([&](const breaker::StateTransition&) { ++heard; });
  auto permit = cb.try_acquire();
  const std::uint32_t epoch = permit.epoch();
  cb.reset();
  CHECK(heard == 0);
  CHECK(cb.try_acquire().epoch() == epoch);
  permit.record_failure();  // still current: it opens the breaker
  CHECK(cb.state() == State::open);
  CHECK(heard == 1);
}

// --- 3. the just-opened deadline -----------------------------------------------------------

namespace {

/// A manual clock whose `now()` blocks on one chosen thread until released: parks an opener
/// between its word CAS and the publication of its deadline.
class ParkingClock {
 public:
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<ParkingClock, duration>;
  static constexpr bool is_steady = true;

  ParkingClock() : shared_(std::make_shared<Shared>()) {}

  time_point now() const {
    Shared& s = *shared_;
    if (s.armed.load(std::memory_order_acquire)) {
      std::unique_lock lock(s.mutex);
      if (s.armed.load(std::memory_order_relaxed) && s.park_on == std::this_thread::get_id()) {
        s.armed.store(false, std::memory_order_relaxed);
        s.parked = true;
        s.changed.notify_all();
        s.changed.wait(lock, [&] { return s.released; });
      }
    }
    return time_point{duration{s.now.load(std::memory_order_acquire)}};
  }
  void advance(duration d) { shared_->now.fetch_add(d.count(), std::memory_order_acq_rel); }
  /// The next `now()` on the calling thread blocks until `release()`.
  void park_next_read_here() {
    std::lock_guard lock(shared_->mutex);
    shared_->park_on = std::this_thread::get_id();
    shared_->armed.store(true, std::memory_order_release);
  }
  void wait_until_parked() {
    std::unique_lock lock(shared_->mutex);
    shared_->changed.wait(lock, [&] { return shared_->parked; });
  }
  void release() {
    std::lock_guard lock(shared_->mutex);
    shared_->released = true;
    shared_->changed.notify_all();
  }

 private:
  struct Shared {
    std::atomic<rep> now{0};
    std::atomic<bool> armed{false};
    std::mutex mutex;
    std::condition_variable changed;
    std::thread::id park_on;
    bool parked = false;
    bool released = false;
  };
  std::shared_ptr<Shared> shared_;
};

}  // namespace

TEST_CASE("a breaker never turns half-open before timeout_duration, even with its opener parked",
          "[breaker][open][deadline][issue-8]") {
  ParkingClock clock;
  CircuitBreaker<ParkingClock> cb("svc", opens_on_first_failure(), clock);
  // An open period whose deadline is in the past, at epoch 1...
  cb.try_acquire().record_failure();
  REQUIRE(cb.state() == State::open);
  clock.advance(10s);
  // ...then 65,535 epochs more, so the next opening (epoch 65,537) shares epoch 1's low 16 bits.
  cb.reset();
  for (int i = 0; i < 32'767; ++i) {
    cb.force_open();
    cb.reset();
  }
  auto permit = cb.try_acquire();
  REQUIRE(permit);
  std::thread opener([&] {
    clock.park_next_read_here();
    permit.record_failure();  // word CAS, then now() parks, then the deadline
  });
  clock.wait_until_parked();
  CHECK(cb.state() == State::open);
  CHECK_FALSE(cb.try_acquire());
  clock.advance(20s);  // long past any deadline there was
  CHECK(cb.state() == State::open);
  CHECK_FALSE(cb.try_acquire());
  CHECK(cb.transitions(State::open, State::half_open) == 0);
  clock.release();
  opener.join();
  // The open period started when the opener read the clock.
  CHECK(cb.state() == State::open);
  clock.advance(10s - 1ns);
  CHECK_FALSE(cb.try_acquire());
  clock.advance(1ns);
  CHECK(cb.try_acquire());
  CHECK(cb.transitions(State::open, State::half_open) == 1);
}

// --- 4. the volume gate after update_config ------------------------------------------------

TEST_CASE("the volume gate counts every outcome since closing, whatever the minimum was then",
          "[breaker][closed][config][issue-8]") {
  ManualClock clock;
  auto config = CircuitBreakerConfig::builder()
                    .failure_threshold(5)
                    .minimum_request_threshold(10)
                    .record_call_durations(false)
                    .build();
  Breaker cb("svc", config, clock);
  for (int i = 0; i < 1'000; ++i) cb.execute([] { return 1; });
  config.minimum_request_threshold = 20;
  cb.update_config(config);
  for (int i = 0; i < 5; ++i) cb.try_acquire().record_failure();
  CHECK(cb.state() == State::open);  // 1,005 outcomes since it closed

  SECTION("up to the largest minimum a config may hold") {
    cb.reset();
    config.minimum_request_threshold = 10;
    cb.update_config(config);
    for (std::uint32_t i = 0; i < CircuitBreakerConfig::max_count; ++i) cb.try_acquire().record_success();
    config.minimum_request_threshold = CircuitBreakerConfig::max_count;
    cb.update_config(config);
    for (int i = 0; i < 5; ++i) cb.try_acquire().record_failure();
    CHECK(cb.state() == State::open);
  }
  SECTION("and only since the last close") {
    cb.reset();
    for (int i = 0; i < 15; ++i) cb.try_acquire().record_failure();
    CHECK(cb.state() == State::closed);  // 15 < 20
    cb.try_acquire().record_failure();
    cb.try_acquire().record_failure();
    cb.try_acquire().record_failure();
    cb.try_acquire().record_failure();
    CHECK(cb.state() == State::closed);  // 19
    cb.try_acquire().record_failure();
    CHECK(cb.state() == State::open);  // 20
  }
}

// --- 5. one outcome per call, even when moving the result throws --------------------------

namespace {

struct MoveError : std::runtime_error {
  MoveError() : std::runtime_error("move failed") {}
};

/// Throws from the move or copy that brings `moves_left` to zero (per thread, test-global).
struct MoveBomb {
  static inline thread_local int moves_left = -1;  // -1: never throws
  int value = 0;
  explicit MoveBomb(int v) : value(v) {}
  MoveBomb(MoveBomb&& other) : value(other.value) { tick(); }
  MoveBomb(const MoveBomb& other) : value(other.value) { tick(); }
  MoveBomb& operator=(MoveBomb&& other) {
    value = other.value;
    tick();
    return *this;
  }
  MoveBomb& operator=(const MoveBomb& other) {
    value = other.value;
    tick();
    return *this;
  }
  static void tick() {
    if (moves_left < 0) return;
    if (moves_left-- == 0) throw MoveError{};
  }
};

}  // namespace

TEST_CASE("every admitted call records exactly one outcome, even when moving its value throws",
          "[breaker][outcomes][issue-8]") {
  for (const bool durations : {false, true}) {
    for (int k = 0; k < 12; ++k) {
      CAPTURE(durations, k);
      ManualClock clock;
      auto config = CircuitBreakerConfig::builder().record_call_durations(durations).build();
      Breaker cb("svc", config, clock);
      asio::io_context ctx;
      bool threw = false;
      breaker::test::run(ctx, [&]() -> asio::awaitable<void> {
        auto op = []() -> asio::awaitable<MoveBomb> { co_return MoveBomb{7}; };
        MoveBomb::moves_left = k;
        try {
          MoveBomb got = co_await cb.call(op);
          CHECK(got.value == 7);
        } catch (const MoveError&) {
          threw = true;
        }
        MoveBomb::moves_left = -1;
      });
      const auto s = cb.stats();
      CHECK(s.total_calls == 1);
      CHECK(outcomes(s) == 1);

      MoveBomb::moves_left = k;
      try {
        (void)cb.execute([] { return MoveBomb{8}; });
      } catch (const MoveError&) {
      }
      try {
        (void)cb.execute_with_fallback([] { return MoveBomb{8}; }, [] { return MoveBomb{9}; });
      } catch (const MoveError&) {
      }
      MoveBomb::moves_left = -1;
      const auto after = cb.stats();
      CHECK(after.total_calls == 3);
      CHECK(outcomes(after) == 3);
      (void)threw;
    }
  }
}

// --- 6. coarse clocks ----------------------------------------------------------------------

namespace {

/// A manual clock that counts whole seconds.
class SecondsClock {
 public:
  using rep = std::int64_t;
  using period = std::ratio<1>;
  using duration = std::chrono::seconds;
  using time_point = std::chrono::time_point<SecondsClock, duration>;
  static constexpr bool is_steady = true;
  SecondsClock() : now_(std::make_shared<std::atomic<rep>>(0)) {}
  time_point now() const noexcept { return time_point{duration{now_->load()}}; }
  void advance(duration d) noexcept { now_->fetch_add(d.count()); }

 private:
  std::shared_ptr<std::atomic<rep>> now_;
};

}  // namespace

TEST_CASE("a coarse clock never shortens timeout_duration or call_timeout",
          "[breaker][clock][issue-8]") {
  SecondsClock clock;
  SECTION("timeout_duration = 1500ms stays open for two ticks of a one-second clock") {
    auto config = opens_on_first_failure();
    config.timeout_duration = 1500ms;
    CircuitBreaker<SecondsClock> cb("svc", config, clock);
    cb.try_acquire().record_failure();
    clock.advance(1s);
    CHECK(cb.state() == State::open);
    CHECK_FALSE(cb.try_acquire());
    clock.advance(1s);
    CHECK(cb.state() == State::half_open);
  }
  SECTION("call_timeout = 500ms is not zero") {
    auto config = CircuitBreakerConfig::builder().call_timeout(500ms).build();
    CircuitBreaker<SecondsClock> cb("svc", config, clock);
    asio::io_context ctx;
    const int v = breaker::test::run(ctx, [&]() -> asio::awaitable<int> {
      auto op = []() -> asio::awaitable<int> {
        for (int i = 0; i < 3; ++i) co_await asio::post(asio::use_awaitable);
        co_return 7;
      };
      co_return co_await cb.call(op);
    });
    CHECK(v == 7);
    CHECK(cb.stats().successful_calls == 1);
  }
}

// --- 7. a hung probe -----------------------------------------------------------------------

TEST_CASE("the probe limit counts only probes of the current half-open episode",
          "[breaker][half-open][issue-8]") {
  ManualClock clock;
  Breaker cb("svc", opens_on_first_failure(), clock);
  cb.try_acquire().record_failure();
  clock.advance(10s);
  auto hung = cb.try_acquire();  // a probe that never returns
  REQUIRE(hung);
  CHECK_FALSE(cb.try_acquire());

  SECTION("after reset()") { cb.reset(); }
  SECTION("after force_open() and reset()") {
    cb.force_open();
    CHECK(cb.probes_in_flight() == 0);
    cb.reset();
  }
  cb.try_acquire().record_failure();
  clock.advance(10s);
  auto probe = cb.try_acquire();
  CHECK(probe);
  CHECK(cb.probes_in_flight() == 1);
  hung.record_failure();  // from an earlier episode: returns nothing, decides nothing
  CHECK(cb.probes_in_flight() == 1);
  CHECK(cb.state() == State::half_open);
  probe.record_success();
  CHECK(cb.state() == State::closed);
}

TEST_CASE("a probe of an earlier episode returns no slot to the new one",
          "[breaker][half-open][issue-8]") {
  ManualClock clock;
  auto config = opens_on_first_failure();
  config.half_open_max_requests = 2;
  config.success_threshold = 2;
  Breaker cb("svc", config, clock);
  cb.try_acquire().record_failure();
  clock.advance(10s);
  auto a = cb.try_acquire();
  auto b = cb.try_acquire();
  REQUIRE(a);
  REQUIRE(b);
  a.record_failure();  // reopens
  clock.advance(10s);
  auto c = cb.try_acquire();
  auto d = cb.try_acquire();
  REQUIRE(c);
  REQUIRE(d);
  CHECK(cb.probes_in_flight() == 2);
  b.record_success();  // stale
  CHECK(cb.probes_in_flight() == 2);
  CHECK_FALSE(cb.try_acquire());
  CHECK(cb.stats().consecutive_successes == 0);
}

// --- 8. update_config memory and safety ----------------------------------------------------

namespace {

std::size_t heap_bytes_in_use() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

}  // namespace

TEST_CASE("update_config keeps memory bounded however many updates", "[breaker][config][issue-8]") {
  ManualClock clock;
  Breaker cb("svc", {}, clock);
  auto a = CircuitBreakerConfig::builder().failure_threshold(3).build();
  auto b = CircuitBreakerConfig::builder().failure_threshold(4).build();
  for (int i = 0; i < 1'000; ++i) cb.update_config(i % 2 ? a : b);  // warm up
  const std::size_t before = heap_bytes_in_use();
  for (int i = 0; i < 200'000; ++i) cb.update_config(i % 2 ? a : b);
  const std::size_t after = heap_bytes_in_use();
  // The old code kept every config: 200,000 list nodes, more than 10 MB.
  CHECK(after < before + 64 * 1024);
  CHECK(cb.config() == a);  // the last update (i = 199,999)
}

TEST_CASE("calls and config() during update_config see a whole config, old or new",
          "[breaker][config][concurrency][issue-8]") {
  Breaker cb("svc", {}, ManualClock{});
  const auto a = CircuitBreakerConfig::builder()
                     .failure_threshold(1000)
                     .success_threshold(7)
                     .timeout_duration(7s)
                     .minimum_request_threshold(7)
                     .record_call_durations(false)
                     .build();
  const auto b = CircuitBreakerConfig::builder()
                     .failure_threshold(2000)
                     .success_threshold(9)
                     .timeout_duration(9s)
                     .minimum_request_threshold(9)
                     .record_call_durations(true)
                     .build();
  cb.update_config(a);
  std::atomic<bool> done{false};
  std::atomic<int> mixed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      std::uint64_t calls = 0;
      while (!done.load(std::memory_order_acquire) || calls < 1000) {
        const CircuitBreakerConfig c = cb.config();
        if (!(c == a) && !(c == b)) mixed.fetch_add(1);
        auto p = cb.try_acquire();
        p.record(calls % 3 == 0 ? breaker::Outcome::failure : breaker::Outcome::success);
        (void)cb.execute([] { return 1; });
        ++calls;
      }
    });
  }
  for (int i = 0; i < 20'000; ++i) cb.update_config(i % 2 ? a : b);
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  CHECK(mixed.load() == 0);
  const auto s = cb.stats();
  CHECK(s.total_calls == outcomes(s) + s.rejected_calls);
}
