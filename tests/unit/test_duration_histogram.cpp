// SPDX-License-Identifier: Apache-2.0
// The call-duration histogram: sample and hold (duration_sample_every), its
// accuracy on a known distribution, exact _count, a valid Prometheus layout,
// every call path, and the timestamp source. Durations come from ManualClock
// (a breaker on a test clock times calls with that clock), so every number
// here is deterministic; nothing is timed.
#include "breaker/breaker.hpp"
#include "breaker/detail/duration_histogram.hpp"
#include "breaker/detail/timestamp.hpp"
#include "run.hpp"

#include <asio/awaitable.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using breaker::CallDurations;
using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::detail::DurationHistogram;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;

CircuitBreakerConfig sampling(std::uint32_t every) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(CircuitBreakerConfig::max_count)
      .minimum_request_threshold(0)
      .duration_sample_every(every)
      .build();
}

// Checks the Prometheus invariants of a snapshot: the cumulative buckets never
// decrease and the +Inf bucket equals _count.
void check_prometheus_layout(const CallDurations& d) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < d.bucket_counts.size(); ++i) {
    const std::uint64_t next = cumulative + d.bucket_counts[i];
    CHECK(next >= cumulative);
    cumulative = next;
  }
  CHECK(cumulative == d.count);
}

// Deterministic durations, log-uniform between 100 us and 10 s (xorshift64*).
struct LogUniform {
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  std::int64_t next_ns() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const std::uint64_t r = state * 0x2545F4914F6CDD1Dull;
    const double u = static_cast<double>(r >> 11) / 9007199254740992.0;  // [0, 1)
    return static_cast<std::int64_t>(1e5 * std::pow(1e5, u));           // 1e5 ns .. 1e10 ns
  }
};

// Cumulative share of calls at or below each finite bound.
std::array<double, 14> cumulative_shares(const std::array<std::uint64_t, 15>& buckets) {
  std::uint64_t total = 0;
  for (auto b : buckets) total += b;
  std::array<double, 14> out{};
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    cumulative += buckets[i];
    out[i] = static_cast<double>(cumulative) / static_cast<double>(total);
  }
  return out;
}

// Prometheus histogram_quantile: linear interpolation inside the bucket
// (the first bucket's lower bound is 0).
double quantile_seconds(const std::array<double, 14>& shares, double q) {
  double lower = 0, below = 0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    const double upper = CallDurations::bucket_bounds[i];
    if (shares[i] >= q) return lower + (upper - lower) * (q - below) / (shares[i] - below);
    lower = upper;
    below = shares[i];
  }
  return CallDurations::bucket_bounds.back();
}

// The inverse: the interpolated share of calls at or below `seconds`.
double rank_of(const std::array<double, 14>& shares, double seconds) {
  double lower = 0, below = 0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    const double upper = CallDurations::bucket_bounds[i];
    if (seconds <= upper) return below + (shares[i] - below) * (seconds - lower) / (upper - lower);
    lower = upper;
    below = shares[i];
  }
  return 1.0;
}

}  // namespace

TEST_CASE("duration_sample_every must be a power of two in [1, 1024]", "[durations][config]") {
  for (std::uint32_t ok : {1u, 2u, 16u, 1024u}) {
    CircuitBreakerConfig c;
    c.duration_sample_every = ok;
    CHECK_FALSE(c.validate());
  }
  for (std::uint32_t bad : {0u, 3u, 24u, 2048u, 0x80000000u}) {
    CAPTURE(bad);
    CircuitBreakerConfig c;
    c.duration_sample_every = bad;
    std::string message;
    CHECK(c.validate(&message) == errc::invalid_config);
    CHECK(message.find("duration_sample_every") != std::string::npos);
    CHECK_THROWS_AS(CircuitBreakerConfig::builder().duration_sample_every(bad).build(),
                    CircuitBreakerError);
  }
  CHECK(CircuitBreakerConfig{}.duration_sample_every == 64);
  CHECK(CircuitBreakerConfig{}.record_call_durations);
}

TEST_CASE("sampling times the 1st, (N+1)-th... call and holds its duration for the others",
          "[durations]") {
  ManualClock clock;
  Breaker cb("svc", sampling(16), clock);
  // Call 1 is timed (2 ms); calls 2..16 take 20 ms but are recorded as 2 ms;
  // call 17 is timed (40 ms); calls 18..20 take 3 ms, recorded as 40 ms.
  cb.execute([&] { clock.advance(2ms); });
  for (int i = 2; i <= 16; ++i) cb.execute([&] { clock.advance(20ms); });
  cb.execute([&] { clock.advance(40ms); });
  for (int i = 18; i <= 20; ++i) cb.execute([&] { clock.advance(3ms); });
  const CallDurations d = cb.call_durations();
  CHECK(d.count == 20);
  CHECK(d.bucket_counts[1] == 16);  // 1 ms < 2 ms <= 5 ms
  CHECK(d.bucket_counts[4] == 4);   // 25 ms < 40 ms <= 50 ms
  CHECK(d.sum_seconds == Approx(16 * 0.002 + 4 * 0.040));
  check_prometheus_layout(d);
}

TEST_CASE("every call is timed exactly with duration_sample_every = 1", "[durations]") {
  ManualClock clock;
  Breaker cb("svc", sampling(1), clock);
  std::array<std::uint64_t, 15> expected{};
  std::int64_t sum_ns = 0;
  LogUniform durations;
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t ns = durations.next_ns();
    ++expected[DurationHistogram::bucket_of(ns)];
    sum_ns += ns;
    cb.execute([&] { clock.advance(std::chrono::nanoseconds(ns)); });
  }
  const CallDurations d = cb.call_durations();
  CHECK(d.count == 2000);
  CHECK(d.bucket_counts == expected);
  CHECK(d.sum_seconds == static_cast<double>(sum_ns) / 1e9);
}

TEST_CASE("sampled durations of a known distribution: exact _count, shares and quantiles "
          "within the documented error",
          "[durations][accuracy]") {
  // 160,000 calls at N = 16: m = 10,000 timed calls. Documented accuracy: a
  // cumulative share p within 2*sqrt(p(1-p)/m) <= 0.01; so a reported quantile
  // q lies at a true rank within q +- 0.01; _sum within 3 standard errors of
  // the mean (3 * CV / sqrt(m)).
  constexpr int calls = 160'000;
  constexpr double m = calls / 16.0;
  ManualClock clock;
  Breaker cb("svc", sampling(16), clock);
  std::array<std::uint64_t, 15> exact{};
  double sum = 0, sum_sq = 0;
  LogUniform durations;
  for (int i = 0; i < calls; ++i) {
    const std::int64_t ns = durations.next_ns();
    ++exact[DurationHistogram::bucket_of(ns)];
    sum += static_cast<double>(ns);
    sum_sq += static_cast<double>(ns) * static_cast<double>(ns);
    cb.execute([&] { clock.advance(std::chrono::nanoseconds(ns)); });
  }
  const CallDurations d = cb.call_durations();
  CHECK(d.count == static_cast<std::uint64_t>(calls));  // exact
  check_prometheus_layout(d);

  const auto truth = cumulative_shares(exact);
  const auto estimate = cumulative_shares(d.bucket_counts);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    CAPTURE(i, truth[i], estimate[i]);
    const double p = truth[i];
    CHECK(std::abs(estimate[i] - p) <= std::max(2 * std::sqrt(p * (1 - p) / m), 1e-9));
    CHECK(std::abs(estimate[i] - p) <= 0.01);
  }
  for (double q : {0.5, 0.9, 0.99}) {
    const double reported = quantile_seconds(estimate, q);
    const double true_rank = rank_of(truth, reported);
    CAPTURE(q, reported, true_rank);
    CHECK(std::abs(true_rank - q) <= 0.01);
  }
  const double mean = sum / calls;
  const double cv = std::sqrt(sum_sq / calls - mean * mean) / mean;
  CAPTURE(d.sum_seconds, sum / 1e9, cv);
  CHECK(std::abs(d.sum_seconds - sum / 1e9) <= 3 * cv / std::sqrt(m) * (sum / 1e9));
}

TEST_CASE("the permit path and failures are sampled and held the same way", "[durations]") {
  ManualClock clock;
  Breaker cb("svc", sampling(4), clock);
  // Admissions 1 and 5 are timed.
  for (int i = 1; i <= 8; ++i) {
    auto permit = cb.try_acquire();
    REQUIRE(permit);
    clock.advance(i == 1 ? 7ms : (i == 5 ? 2s : 1ms));
    if (i % 2 == 0) {
      permit.record_failure();
    } else {
      permit.record_success();
    }
  }
  CHECK_THROWS_AS(cb.execute([&]() -> int {  // admission 9: timed, a failure
    clock.advance(30ms);
    throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  const CallDurations d = cb.call_durations();
  CHECK(d.count == 9);
  CHECK(d.bucket_counts[2] == 4);  // 7 ms, held for admissions 2..4
  CHECK(d.bucket_counts[9] == 4);  // 2 s, held for admissions 6..8
  CHECK(d.bucket_counts[4] == 1);  // 30 ms
  CHECK(d.sum_seconds == Approx(4 * 0.007 + 4 * 2.0 + 0.030));
  check_prometheus_layout(d);
}

TEST_CASE("coroutine call records durations on its fast path", "[durations][coroutine]") {
  ManualClock clock;
  Breaker cb("svc", sampling(1), clock);
  auto op = [&]() -> asio::awaitable<int> {
    clock.advance(12ms);
    co_return 5;
  };
  auto call = [&] { return cb.call(op); };
  CHECK(breaker::test::run(call) == 5);
  CHECK(breaker::test::run(call) == 5);
  const CallDurations d = cb.call_durations();
  CHECK(d.count == 2);
  CHECK(d.bucket_counts[3] == 2);  // 10 ms < 12 ms <= 25 ms
  CHECK(d.sum_seconds == Approx(0.024));
}

TEST_CASE("durations off records nothing, update_config turning them on starts recording",
          "[durations][config]") {
  ManualClock clock;
  auto off = sampling(1);
  off.record_call_durations = false;
  Breaker cb("svc", off, clock);
  cb.execute([&] { clock.advance(3ms); });
  CHECK(cb.call_durations().count == 0);
  auto on = off;
  on.record_call_durations = true;
  cb.update_config(on);
  cb.execute([&] { clock.advance(3ms); });
  const CallDurations d = cb.call_durations();
  CHECK(d.count == 1);
  CHECK(d.bucket_counts[1] == 1);
  cb.update_config(off);
  cb.execute([&] { clock.advance(3ms); });
  CHECK(cb.call_durations().count == 1);  // kept, not growing
}

TEST_CASE("concurrent threads keep an exact _count in their own stripes", "[durations][threads]") {
  ManualClock clock;
  Breaker cb("svc", sampling(16), clock);
  constexpr int per_thread = 20'000;
  auto work = [&] {
    for (int i = 0; i < per_thread; ++i) cb.execute([] {});
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  const CallDurations d = cb.call_durations();
  CHECK(d.count == 2u * per_thread);
  CHECK(d.bucket_counts[0] == 2u * per_thread);  // 0 ns: the clock never moved
  check_prometheus_layout(d);
  CHECK(cb.stats().successful_calls == 2u * per_thread);
}

TEST_CASE("a breaker on a test clock times calls with that clock, a real clock uses the fast "
          "timestamp",
          "[durations][timestamp]") {
  STATIC_REQUIRE(breaker::detail::is_hardware_clock_v<std::chrono::steady_clock>);
  STATIC_REQUIRE_FALSE(breaker::detail::is_hardware_clock_v<ManualClock>);
  ManualClock clock;
  clock.advance(5s);
  const std::uint64_t t = breaker::detail::call_timestamp(clock);
  CHECK(t == 5'000'000'000u);
  CHECK(breaker::detail::call_elapsed_ns<ManualClock>(t, t + 42) == 42);
  CHECK(breaker::detail::call_elapsed_ns<ManualClock>(t + 42, t) == 0);  // set() backwards
}

TEST_CASE("the fast timestamp agrees with steady_clock over the same interval",
          "[durations][timestamp]") {
  // Not a timing assertion: both clocks measure one and the same interval.
  // Each end is read as fast, steady, fast; ends whose bracket is wider than
  // 20 us (the thread was preempted) are read again.
  using breaker::detail::fast_timestamp;
  using breaker::detail::steady_ns;
  const auto end = [](std::uint64_t& fast, std::int64_t& steady) {
    for (;;) {
      const std::uint64_t before = fast_timestamp();
      steady = steady_ns();
      const std::uint64_t after = fast_timestamp();
      if (breaker::detail::fast_elapsed_ns(before, after) < 20'000) {
        fast = before + (after - before) / 2;
        return;
      }
    }
  };
  std::uint64_t f0 = 0, f1 = 0;
  std::int64_t s0 = 0, s1 = 0;
  end(f0, s0);
  do {
    end(f1, s1);
  } while (s1 - s0 < 5'000'000);
  const double fast = static_cast<double>(breaker::detail::fast_elapsed_ns(f0, f1));
  const double steady = static_cast<double>(s1 - s0);
  CAPTURE(fast, steady, breaker::detail::timestamp_scale().tsc,
          breaker::detail::timestamp_scale().ns_per_tick);
  CHECK(std::abs(fast - steady) <= 0.01 * steady + 40'000);
  // The TSC is used only where the CPU says it is invariant.
  CHECK((!breaker::detail::timestamp_scale().tsc || breaker::detail::cpu_has_invariant_tsc()));
}

TEST_CASE("held calls pending between timed calls are in every snapshot, in the held bucket",
          "[durations]") {
  ManualClock clock;
  Breaker cb("svc", sampling(4), clock);
  cb.execute([&] { clock.advance(2ms); });  // call 1: timed, 2 ms held
  CallDurations d = cb.call_durations();
  CHECK(d.count == 1);
  CHECK(d.bucket_counts[1] == 1);
  cb.execute([&] { clock.advance(40ms); });  // call 2: held (2 ms), not yet folded
  cb.execute([&] { clock.advance(40ms); });  // call 3: held
  d = cb.call_durations();
  CHECK(d.count == 3);
  CHECK(d.bucket_counts[1] == 3);
  CHECK(d.sum_seconds == Approx(3 * 0.002));
  cb.execute([&] { clock.advance(40ms); });  // call 4: held
  cb.execute([&] { clock.advance(40ms); });  // call 5: timed (40 ms): folds calls 2-4
  d = cb.call_durations();
  CHECK(d.count == 5);
  CHECK(d.bucket_counts[1] == 4);
  CHECK(d.bucket_counts[4] == 1);
  CHECK(d.sum_seconds == Approx(4 * 0.002 + 0.040));
  cb.execute([] {});  // call 6: held at 40 ms
  d = cb.call_durations();
  CHECK(d.count == 6);
  CHECK(d.bucket_counts[4] == 2);
  CHECK(d.sum_seconds == Approx(4 * 0.002 + 2 * 0.040));
  check_prometheus_layout(d);
}

TEST_CASE("snapshots taken while another thread records never go backwards and end exact",
          "[durations][threads]") {
  // The recording thread folds its held calls into the buckets at every timed
  // call (every 4th) while this thread reads: no bucket, _count or _sum of a
  // snapshot is ever below the one before, and each is a valid histogram.
  ManualClock clock;
  Breaker cb("svc", sampling(4), clock);
  constexpr int calls = 200'000;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < calls; ++i) {
      // Timed calls alternate between 2 ms and 40 ms, so each fold moves
      // pending calls into a different bucket than the one it records.
      const auto step = (i / 4) % 2 == 0 ? 2ms : 40ms;
      cb.execute([&] { clock.advance(step); });
    }
    done.store(true);
  });
  CallDurations last{};
  std::uint64_t snapshots = 0;
  bool monotonic = true;
  bool valid = true;
  while (!done.load()) {
    const CallDurations d = cb.call_durations();
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < d.bucket_counts.size(); ++i) {
      if (d.bucket_counts[i] < last.bucket_counts[i]) monotonic = false;
      total += d.bucket_counts[i];
    }
    if (total != d.count || d.count > static_cast<std::uint64_t>(calls)) valid = false;
    if (d.count < last.count || d.sum_seconds < last.sum_seconds) monotonic = false;
    last = d;
    ++snapshots;
  }
  writer.join();
  CHECK(monotonic);
  CHECK(valid);
  INFO("snapshots taken while recording: " << snapshots);
  const CallDurations d = cb.call_durations();
  CHECK(d.count == static_cast<std::uint64_t>(calls));
  // Every call is recorded with its group's timed duration: half at 2 ms, half at 40 ms.
  CHECK(d.bucket_counts[1] == static_cast<std::uint64_t>(calls / 2));
  CHECK(d.bucket_counts[4] == static_cast<std::uint64_t>(calls / 2));
  CHECK(d.sum_seconds == Approx(calls / 2 * 0.002 + calls / 2 * 0.040));
  check_prometheus_layout(d);
}
