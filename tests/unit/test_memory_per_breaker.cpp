// SPDX-License-Identifier: Apache-2.0
// Memory per breaker (issue 9, target 5): sizeof plus every byte requested from
// operator new while a breaker is constructed stays within 1 KiB with durations
// off and 2 KiB with the default config; the config's second slot is allocated
// at the first update_config only, once, and readers stay correct while it is.
// Part of breaker_alloc_tests: alloc_counter.cpp replaces the global operator
// new/delete with versions that count per thread. Not timing-based.
#include "breaker/breaker.hpp"
#include "breaker/detail/config_cell.hpp"
#include "breaker/detail/config_codec.hpp"
#include "breaker/testing/manual_clock.hpp"
#include "alloc_counter.hpp"  // replaces the global operator new/delete

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <random>
#include <thread>
#include <vector>

using breaker::CircuitBreaker;
using breaker::CircuitBreakerConfig;
using breaker::Outcome;
using breaker::State;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

struct Footprint {
  std::uint64_t bytes = 0;        // sizeof + owned heap (make_unique puts the object on the heap)
  std::uint64_t allocations = 0;  // the object's own block included
};

// What constructing one breaker requests from operator new, as the memory
// benchmark measures it (tests/benchmarks/bench_memory.cpp). A name of 12
// characters fits the std::string small buffer, as most do.
template <class F>
Footprint footprint_of(F&& make) {
  const std::uint64_t bytes_before = breaker::test::thread_allocated_bytes();
  const std::uint64_t allocations_before = breaker::test::thread_allocations();
  auto made = make();
  Footprint f{breaker::test::thread_allocated_bytes() - bytes_before,
              breaker::test::thread_allocations() - allocations_before};
  breaker::test::escape(made.get());
  return f;
}

template <class F>
Footprint allocated_during(F&& f) {
  const std::uint64_t bytes_before = breaker::test::thread_allocated_bytes();
  const std::uint64_t allocations_before = breaker::test::thread_allocations();
  f();
  return {breaker::test::thread_allocated_bytes() - bytes_before,
          breaker::test::thread_allocations() - allocations_before};
}

// The config's second slot: a version word and the packed config
// (detail/config_cell.hpp).
constexpr std::uint64_t config_slot_bytes = 8 + 8 * breaker::detail::ConfigCodec::words;

CircuitBreakerConfig durations_off() {
  return CircuitBreakerConfig::builder().record_call_durations(false).build();
}

}  // namespace

TEST_CASE("a breaker with the default config takes at most 2 KiB, sizeof plus heap",
          "[memory][issue-9]") {
  const Footprint f = footprint_of(
      [] { return std::make_unique<CircuitBreaker<>>("payments-api", CircuitBreakerConfig{}); });
  CAPTURE(sizeof(CircuitBreaker<>), f.bytes, f.allocations);
  CHECK(f.bytes <= 2048);
  // The object and the histogram's stripes, nothing else: the config's second
  // slot waits for an update_config, the window for a window policy.
  CHECK(f.allocations == 2);
  CHECK(f.bytes > sizeof(CircuitBreaker<>));
}

TEST_CASE("a breaker with durations off takes at most 1 KiB and owns no heap",
          "[memory][issue-9]") {
  const Footprint f = footprint_of(
      [] { return std::make_unique<CircuitBreaker<>>("payments-api", durations_off()); });
  CAPTURE(sizeof(CircuitBreaker<>), f.bytes, f.allocations);
  CHECK(f.bytes <= 1024);
  CHECK(f.allocations == 1);  // the object itself
  CHECK(f.bytes == sizeof(CircuitBreaker<>));
}

TEST_CASE("the first update_config allocates the config's second slot once and later ones nothing",
          "[memory][config][issue-9]") {
  CircuitBreaker<> cb("payments-api", durations_off());
  const auto a = CircuitBreakerConfig::builder()
                     .failure_threshold(7)
                     .timeout_duration(7s)
                     .record_call_durations(false)
                     .build();
  const auto b = CircuitBreakerConfig::builder()
                     .failure_threshold(9)
                     .timeout_duration(9s)
                     .record_call_durations(false)
                     .build();
  const Footprint first = allocated_during([&] { cb.update_config(a); });
  CHECK(first.allocations == 1);
  CHECK(first.bytes == config_slot_bytes);
  CHECK(cb.config() == a);
  // Both slots in turn, many times over: no further allocation.
  const Footprint later = allocated_during([&] {
    for (int i = 0; i < 1'000; ++i) cb.update_config(i % 2 == 0 ? b : a);
  });
  CHECK(later.allocations == 0);
  CHECK(cb.config() == a);  // the last update (i = 999)
  cb.update_config(b);
  CHECK(cb.config() == b);
  // The rules follow: b opens after 9 consecutive failures (volume gate 10).
  for (int i = 0; i < 10; ++i) cb.try_acquire().record(Outcome::success);
  for (int i = 0; i < 8; ++i) cb.try_acquire().record(Outcome::failure);
  CHECK(cb.state() == State::closed);
  cb.try_acquire().record(Outcome::failure);
  CHECK(cb.state() == State::open);
}

TEST_CASE("update_config that cannot allocate throws bad_alloc and leaves the breaker unchanged",
          "[memory][config][issue-9]") {
  ManualClock clock;
  const CircuitBreakerConfig before = durations_off();
  CircuitBreaker<ManualClock> cb("payments-api", before, clock);
  CircuitBreakerConfig target;
  bool durations_after = false;

  SECTION("the config's second slot (the first update)") {
    // Durations stay off: the slot is the update's only allocation.
    target = CircuitBreakerConfig::builder()
                 .failure_threshold(3)
                 .jitter_seed(3)
                 .record_call_durations(false)
                 .build();
  }
  SECTION("the histogram's stripes (the slot is there already)") {
    cb.update_config(CircuitBreakerConfig::builder()
                         .failure_threshold(4)
                         .record_call_durations(false)
                         .build());
    cb.update_config(before);
    target = CircuitBreakerConfig::builder().failure_threshold(3).build();
    durations_after = true;
  }
  SECTION("a window (a window rule turned on; the slot is there already)") {
    cb.update_config(CircuitBreakerConfig::builder()
                         .failure_threshold(4)
                         .record_call_durations(false)
                         .build());
    cb.update_config(before);
    target = CircuitBreakerConfig::builder()
                 .failure_threshold(3)
                 .trip_policy(breaker::TripPolicy::failure_rate)
                 .record_call_durations(false)
                 .build();
  }
  auto update_without_memory = [&] {
    breaker::test::FailAllocations fail;
    cb.update_config(target);
  };
  CHECK_THROWS_AS(update_without_memory(), std::bad_alloc);
  CHECK(cb.config() == before);
  CHECK(cb.execute([] { return 1; }) == 1);
  CHECK(cb.call_durations().count == 0);  // durations still off
  // before's failure_threshold (5) still rules: 10 outcomes for the volume
  // gate, then 4 failures leave it closed (3 would have opened it).
  for (int i = 0; i < 9; ++i) cb.try_acquire().record(Outcome::success);
  for (int i = 0; i < 4; ++i) cb.try_acquire().record(Outcome::failure);
  CHECK(cb.state() == State::closed);
  CHECK_FALSE(cb.window_stats().has_value());  // no window
  cb.reset();
  // Memory back: the same update succeeds.
  cb.update_config(target);
  CHECK(cb.config() == target);
  CHECK(cb.execute([] { return 2; }) == 2);
  CHECK(cb.call_durations().count == (durations_after ? 1 : 0));
  CHECK(cb.window_stats().has_value() == target.uses_window());
}

TEST_CASE("readers copy whole configs while update_config allocates the second slot",
          "[memory][config][concurrency][issue-9]") {
  // Each round is a fresh breaker (its first update allocates the slot) read by
  // two threads that started reading before that first update.
  constexpr int rounds = 40;
  constexpr int updates_per_round = 200;
  constexpr std::uint64_t min_reads = 200;
  const auto a = CircuitBreakerConfig::builder()
                     .failure_threshold(1000)
                     .success_threshold(7)
                     .timeout_duration(7s)
                     .minimum_request_threshold(7)
                     .jitter_seed(7)
                     .record_call_durations(false)
                     .build();
  const auto b = CircuitBreakerConfig::builder()
                     .failure_threshold(2000)
                     .success_threshold(9)
                     .timeout_duration(9s)
                     .minimum_request_threshold(9)
                     .jitter_seed(9)
                     .record_call_durations(true)
                     .build();
  int mixed = 0;
  for (int round = 0; round < rounds; ++round) {
    CircuitBreaker<ManualClock> cb("payments-api", a, ManualClock{});
    std::atomic<int> started{0};
    std::atomic<bool> done{false};
    std::atomic<int> round_mixed{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&] {
        std::uint64_t reads = 0;
        while (!done.load(std::memory_order_acquire) || reads < min_reads) {
          const CircuitBreakerConfig c = cb.config();
          if (!(c == a) && !(c == b)) round_mixed.fetch_add(1, std::memory_order_relaxed);
          if (reads == 0) started.fetch_add(1, std::memory_order_release);
          auto p = cb.try_acquire();
          p.record(reads % 3 == 0 ? Outcome::failure : Outcome::success);
          (void)cb.execute([] { return 1; });
          ++reads;
        }
      });
    }
    // Not a timed wait: the readers' first copy, before the first update.
    while (started.load(std::memory_order_acquire) < 2) std::this_thread::yield();
    for (int i = 0; i < updates_per_round; ++i) cb.update_config(i % 2 == 0 ? b : a);
    done.store(true, std::memory_order_release);
    for (auto& t : readers) t.join();
    mixed += round_mixed.load();
    CHECK(cb.config() == a);  // the last update (i = 199)
    const auto s = cb.stats();
    CHECK(s.total_calls ==
          s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  }
  CHECK(mixed == 0);
}

TEST_CASE("the config cell packs every field of CircuitBreakerConfig", "[memory][config][issue-9]") {
  INFO("a field was added to CircuitBreakerConfig: list it in ConfigCodec::fields() "
       "(include/breaker/detail/config_codec.hpp) and raise known_members; until then each "
       "breaker stores the config's bytes (176 bytes a slot instead of 104)");
  CHECK(breaker::detail::member_count<CircuitBreakerConfig>() ==
        breaker::detail::ConfigCodec::known_members);
  CHECK(breaker::detail::ConfigCell::packed);
}

namespace {

// A random valid config: each field drawn from its whole valid range (edges
// included), the combinations validate() rejects repaired.
CircuitBreakerConfig random_config(std::mt19937_64& rng) {
  using ms = std::chrono::milliseconds;
  auto pick = [&](std::uint64_t lo, std::uint64_t hi) {
    switch (rng() % 4) {  // the edges often
      case 0: return lo;
      case 1: return hi;
      default: return lo + rng() % (hi - lo + 1);
    }
  };
  auto real = [&](double lo, double hi) {
    return lo + (hi - lo) * std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  };
  const auto max_ms = static_cast<std::uint64_t>(CircuitBreakerConfig::max_duration.count());
  CircuitBreakerConfig c;
  c.failure_threshold = static_cast<std::uint32_t>(pick(1, CircuitBreakerConfig::max_count));
  c.success_threshold = static_cast<std::uint32_t>(pick(1, CircuitBreakerConfig::max_count));
  c.timeout_duration = ms(pick(1, max_ms));
  c.half_open_close = rng() % 2 ? breaker::HalfOpenClose::success_ratio
                                : breaker::HalfOpenClose::consecutive_successes;
  c.half_open_max_requests = static_cast<std::uint32_t>(
      pick(1, c.half_open_close == breaker::HalfOpenClose::success_ratio
                  ? CircuitBreakerConfig::max_ratio_half_open_requests
                  : CircuitBreakerConfig::max_half_open_requests));
  c.count_timeout_as_failure = rng() % 2 == 0;
  c.trip_policy = rng() % 2 ? breaker::TripPolicy::failure_rate
                            : breaker::TripPolicy::consecutive_failures;
  c.window_type = rng() % 2 ? breaker::WindowType::time_based : breaker::WindowType::count_based;
  c.window_size = static_cast<std::uint32_t>(pick(1, CircuitBreakerConfig::max_window_size));
  c.minimum_request_threshold = static_cast<std::uint32_t>(pick(
      0, c.window_type == breaker::WindowType::count_based
             ? std::min<std::uint64_t>(c.window_size, CircuitBreakerConfig::max_count - 1)
             : CircuitBreakerConfig::max_count - 1));
  c.window_buckets = static_cast<std::uint32_t>(pick(1, CircuitBreakerConfig::max_window_buckets));
  c.window_duration = ms(pick(1, max_ms / c.window_buckets) * c.window_buckets);
  c.failure_rate_threshold = rng() % 4 == 0 ? 100.0 : real(0.001, 100.0);
  c.slow_call_duration_threshold = ms(pick(0, max_ms));
  c.slow_call_rate_threshold = rng() % 4 == 0 ? 100.0 : real(0.001, 100.0);
  c.call_timeout = ms(pick(0, max_ms));
  c.record_call_durations = rng() % 2 == 0;
  c.duration_sample_every = 1u << (rng() % 11);  // 1 .. 1024
  c.open_duration_policy = rng() % 2 ? breaker::OpenDurationPolicy::exponential_backoff
                                     : breaker::OpenDurationPolicy::fixed;
  c.backoff_multiplier = rng() % 4 == 0 ? 1000.0 : real(1.0001, 1000.0);
  c.max_open_duration = ms(pick(static_cast<std::uint64_t>(c.timeout_duration.count()), max_ms));
  c.open_duration_jitter = static_cast<breaker::Jitter>(rng() % 3);
  c.jitter_ratio = rng() % 4 == 0 ? 1.0 : real(0.0, 1.0);
  c.jitter_seed = rng();
  c.max_wait_in_half_open = ms(pick(0, max_ms));
  c.half_open_success_ratio = rng() % 4 == 0 ? 100.0 : real(0.001, 100.0);
  return c;
}

}  // namespace

TEST_CASE("every valid config round-trips through the packed config cell",
          "[memory][config][issue-9]") {
  using breaker::detail::ConfigCodec;
  std::mt19937_64 rng(20261201);
  int checked = 0;
  for (int i = 0; i < 2'000; ++i) {
    const CircuitBreakerConfig c = random_config(rng);
    std::string why;
    INFO("config " << i);
    REQUIRE_FALSE(c.validate(&why));  // the generator makes valid configs only
    const CircuitBreakerConfig back = ConfigCodec::decode(ConfigCodec::encode(c));
    INFO(breaker::first_difference(back, c));
    REQUIRE(back == c);
    ++checked;
  }
  CHECK(checked == 2'000);
  // Through a breaker: both slots. Without window rules: each new window shape
  // would stay allocated (up to 4 MB for a window of a million outcomes).
  rng.seed(7);
  auto windowless = [&] {
    CircuitBreakerConfig c = random_config(rng);
    c.trip_policy = breaker::TripPolicy::consecutive_failures;
    c.slow_call_duration_threshold = std::chrono::milliseconds(0);
    return c;
  };
  const CircuitBreakerConfig first = windowless();
  CircuitBreaker<ManualClock> cb("payments-api", first, ManualClock{});
  CHECK(cb.config() == first);
  for (int i = 0; i < 100; ++i) {
    const CircuitBreakerConfig next = windowless();
    cb.update_config(next);
    REQUIRE(cb.config() == next);
  }
}
