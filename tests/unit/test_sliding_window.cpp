// SPDX-License-Identifier: Apache-2.0
// The sliding windows on their own (detail/count_window.hpp, time_window.hpp,
// window_counts.hpp): counts, wrap, expiry, epochs, and exact totals after
// concurrent records.
#include "breaker/detail/count_window.hpp"
#include "breaker/detail/sliding_window.hpp"
#include "breaker/detail/time_window.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <thread>
#include <vector>

using breaker::detail::CountWindow;
using breaker::detail::decide_rates;
using breaker::detail::RateRules;
using breaker::detail::RateVerdict;
using breaker::detail::TimeWindow;
using breaker::detail::WindowCounts;

namespace {
constexpr std::int64_t ms = 1'000'000;  // ns
const unsigned slot = breaker::detail::thread_slot();
}  // namespace

TEST_CASE("a count window holds the last N outcomes and wraps", "[window][count]") {
  CountWindow w(4);
  CHECK(w.counts(1) == WindowCounts{0, 0, 0});
  w.record(slot, 1, true, false);
  w.record(slot, 1, true, true);
  w.record(slot, 1, false, true);
  CHECK(w.counts(1) == WindowCounts{3, 2, 2});
  w.record(slot, 1, false, false);
  CHECK(w.counts(1) == WindowCounts{4, 2, 2});
  // The fifth outcome evicts the first (a fast failure).
  w.record(slot, 1, false, false);
  CHECK(w.counts(1) == WindowCounts{4, 1, 2});
  // Two more evict the slow failure and the slow success.
  w.record(slot, 1, false, false);
  w.record(slot, 1, false, false);
  CHECK(w.counts(1) == WindowCounts{4, 0, 0});
}

TEST_CASE("a count window answers for one epoch: a new epoch starts empty, stale records are dropped",
          "[window][count]") {
  CountWindow w(8);
  for (int i = 0; i < 5; ++i) w.record(slot, 3, true, false);
  CHECK(w.counts(3).calls == 5);
  CHECK(w.counts(4) == WindowCounts{});
  w.record(slot, 4, false, false);
  CHECK(w.counts(4) == WindowCounts{1, 0, 0});
  // A late outcome of epoch 3 neither counts in epoch 4 nor resurrects epoch 3.
  w.record(slot, 3, true, true);
  CHECK(w.counts(4) == WindowCounts{1, 0, 0});
  // Epoch 3's entries are empty for epoch 4: 8 outcomes fill it, none evicted early.
  for (int i = 0; i < 7; ++i) w.record(slot, 4, true, false);
  CHECK(w.counts(4) == WindowCounts{8, 7, 0});
}

TEST_CASE("a count window of size 1 keeps only the last outcome", "[window][count]") {
  CountWindow w(1);
  w.record(slot, 0, true, true);
  CHECK(w.counts(0) == WindowCounts{1, 1, 1});
  w.record(slot, 0, false, false);
  CHECK(w.counts(0) == WindowCounts{1, 0, 0});
}

TEST_CASE("a time window expires whole buckets as the time moves", "[window][time]") {
  TimeWindow w(100 * ms, 5);  // 500 ms in 5 buckets
  w.record(slot, 1, 0, true, false);          // bucket 0
  w.record(slot, 1, 50 * ms, false, true);    // bucket 0
  w.record(slot, 1, 120 * ms, true, true);    // bucket 1
  CHECK(w.counts(1, 120 * ms) == WindowCounts{3, 2, 2});
  CHECK(w.counts(1, 499 * ms) == WindowCounts{3, 2, 2});
  // At 500 ms bucket 0 (0..100 ms) has left the window.
  CHECK(w.counts(1, 500 * ms) == WindowCounts{1, 1, 1});
  CHECK(w.counts(1, 599 * ms) == WindowCounts{1, 1, 1});
  CHECK(w.counts(1, 600 * ms) == WindowCounts{});
}

TEST_CASE("a time window reuses a bucket for a later interval (lazy rotation)", "[window][time]") {
  TimeWindow w(10 * ms, 3);
  CHECK(w.record(slot, 0, 1 * ms, true, false));   // a new interval: re-check
  CHECK_FALSE(w.record(slot, 0, 2 * ms, true, false));  // same interval
  // 30 ms later the same bucket index holds a new interval: the old counts go.
  CHECK(w.record(slot, 0, 31 * ms, false, false));
  CHECK(w.counts(0, 31 * ms) == WindowCounts{1, 0, 0});
  // Far later (many laps), nothing old remains.
  CHECK(w.counts(0, 10'000 * ms) == WindowCounts{});
}

TEST_CASE("a time window ignores other epochs and records older than their bucket",
          "[window][time]") {
  TimeWindow w(10 * ms, 4);
  w.record(slot, 7, 5 * ms, true, false);
  CHECK(w.counts(8, 5 * ms) == WindowCounts{});
  w.record(slot, 8, 5 * ms, false, false);
  CHECK(w.counts(8, 5 * ms) == WindowCounts{1, 0, 0});
  w.record(slot, 7, 5 * ms, true, false);  // stale: dropped
  CHECK(w.counts(8, 5 * ms) == WindowCounts{1, 0, 0});
  // A clock that went back 40 ms lands on the same bucket index: dropped, not mixed in.
  w.record(slot, 8, 45 * ms, true, false);
  w.record(slot, 8, 5 * ms, true, true);
  CHECK(w.counts(8, 45 * ms) == WindowCounts{1, 1, 0});
}

TEST_CASE("a time window handles negative times (a clock before its epoch)", "[window][time]") {
  TimeWindow w(10 * ms, 2);
  w.record(slot, 0, -15 * ms, true, false);
  w.record(slot, 0, -1 * ms, false, false);
  CHECK(w.counts(0, -1 * ms) == WindowCounts{2, 1, 0});
  CHECK(w.counts(0, 5 * ms) == WindowCounts{1, 0, 0});
}

TEST_CASE("the rate rule: exact threshold, minimum-calls gate, both rates", "[window][rates]") {
  RateRules r;
  r.failure_rate_threshold = 50.0;
  r.minimum_calls = 4;
  CHECK(decide_rates({4, 2, 0}, r) == RateVerdict::failure_rate);  // exactly 50 %
  CHECK(decide_rates({4, 1, 0}, r) == RateVerdict::below);
  CHECK(decide_rates({3, 3, 0}, r) == RateVerdict::under_minimum);
  CHECK(decide_rates({0, 0, 0}, r) == RateVerdict::below);
  // Slow-call rule off (threshold > 100): slow calls do not matter.
  CHECK(decide_rates({4, 0, 4}, r) == RateVerdict::below);
  r.slow_call_rate_threshold = 75.0;
  CHECK(decide_rates({4, 0, 3}, r) == RateVerdict::slow_call_rate);
  CHECK(decide_rates({4, 0, 2}, r) == RateVerdict::below);
  // Both over: the failure rate is named.
  CHECK(decide_rates({4, 4, 4}, r) == RateVerdict::failure_rate);
  // 100 % means every call.
  r.failure_rate_threshold = 100.0;
  CHECK(decide_rates({4, 3, 0}, r) == RateVerdict::below);
  CHECK(decide_rates({4, 4, 0}, r) == RateVerdict::failure_rate);
}

TEST_CASE("window counts are exact after concurrent records from 4 threads",
          "[window][concurrency]") {
  constexpr int threads = 4;
  constexpr int per_thread = 20'000;
  SECTION("count window larger than all outcomes") {
    CountWindow w(threads * per_thread);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&w, t] {
        const unsigned s = breaker::detail::thread_slot();
        for (int i = 0; i < per_thread; ++i) w.record(s, 2, i % 4 == 0, t == 0 && i % 2 == 0);
      });
    }
    for (auto& th : pool) th.join();
    CHECK(w.counts(2) == WindowCounts{threads * per_thread, threads * per_thread / 4, per_thread / 2});
  }
  SECTION("count window that wraps many times") {
    CountWindow w(1000);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&w] {
        const unsigned s = breaker::detail::thread_slot();
        // Every outcome a failure: whatever the interleaving, the window is full of them.
        for (int i = 0; i < per_thread; ++i) w.record(s, 2, true, false);
      });
    }
    for (auto& th : pool) th.join();
    CHECK(w.counts(2) == WindowCounts{1000, 1000, 0});
  }
  SECTION("count window that wraps, with mixed outcomes, agrees with its own ring") {
    CountWindow w(512);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&w, t] {
        const unsigned s = breaker::detail::thread_slot();
        for (int i = 0; i < per_thread; ++i) w.record(s, 2, (i + t) % 3 == 0, i % 5 == 0);
      });
    }
    for (auto& th : pool) th.join();
    WindowCounts ring;
    w.for_each_newest(2, 512, [&](bool failure, bool slow) {
      ++ring.calls;
      ring.failures += failure ? 1 : 0;
      ring.slow += slow ? 1 : 0;
    });
    CHECK(ring.calls == 512);
    CHECK(w.counts(2) == ring);
  }
  SECTION("time window") {
    TimeWindow w(10 * ms, 10);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&w] {
        const unsigned s = breaker::detail::thread_slot();
        for (int i = 0; i < per_thread; ++i) {
          // Spread over 5 intervals inside the window.
          w.record(s, 5, (i % 5) * 10 * ms, i % 2 == 0, i % 10 == 0);
        }
      });
    }
    for (auto& th : pool) th.join();
    CHECK(w.counts(5, 49 * ms) ==
          WindowCounts{threads * per_thread, threads * per_thread / 2, threads * per_thread / 10});
  }
}

TEST_CASE("window counts stay exact with more threads than exclusive slots (the overflow slot)",
          "[window][concurrency]") {
  constexpr int threads = 9;  // > exclusive_slots: some share the overflow slot
  constexpr int per_thread = 5'000;
  CountWindow count(threads * per_thread);
  TimeWindow time(10 * ms, 4);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      const unsigned s = breaker::detail::thread_slot();
      for (int i = 0; i < per_thread; ++i) {
        count.record(s, 1, i % 2 == 0, false);
        time.record(s, 1, 15 * ms, i % 2 == 0, i % 5 == 0);
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(count.counts(1) == WindowCounts{threads * per_thread, threads * per_thread / 2, 0});
  CHECK(time.counts(1, 15 * ms) ==
        WindowCounts{threads * per_thread, threads * per_thread / 2, threads * per_thread / 5});
}

// --- the clean-window fast path (count_window.hpp) ---------------------------------------------

TEST_CASE("a count window is clean once full without failures or slow calls, and a failure or slow call clears it",
          "[window][count][clean]") {
  CountWindow w(4);
  CHECK_FALSE(w.clean(1));
  // Tickets 0..3 fill the ring; the flag is checked at ring position 0 (once per lap) and
  // after an eviction of a failure or slow call: the fifth success (position 0 again) sets it.
  for (int i = 0; i < 4; ++i) w.record(slot, 1, false, false);
  CHECK(w.counts(1) == WindowCounts{4, 0, 0});
  CHECK_FALSE(w.clean(1));
  w.record(slot, 1, false, false);
  CHECK(w.clean(1));
  CHECK_FALSE(w.clean(2));  // another epoch's window is not clean
  // Successes into the clean window change nothing (and take no ticket).
  for (int i = 0; i < 100; ++i) w.record(slot, 1, false, false);
  CHECK(w.clean(1));
  CHECK(w.counts(1) == WindowCounts{4, 0, 0});
  // A failure clears the flag and evicts a success.
  w.record(slot, 1, true, false);
  CHECK_FALSE(w.clean(1));
  CHECK(CountWindow::clean_word_in_flight(w.clean_word()) == 0);
  CHECK(w.counts(1) == WindowCounts{4, 1, 0});
  // Three successes do not evict it yet; the fourth does and sets the flag again.
  for (int i = 0; i < 3; ++i) {
    w.record(slot, 1, false, false);
    CHECK_FALSE(w.clean(1));
    CHECK(w.counts(1) == WindowCounts{4, 1, 0});
  }
  w.record(slot, 1, false, false);
  CHECK(w.counts(1) == WindowCounts{4, 0, 0});
  CHECK(w.clean(1));
  // A slow success clears it too, and counts.
  w.record(slot, 1, false, true);
  CHECK_FALSE(w.clean(1));
  CHECK(w.counts(1) == WindowCounts{4, 0, 1});
  for (int i = 0; i < 4; ++i) w.record(slot, 1, false, false);
  CHECK(w.counts(1) == WindowCounts{4, 0, 0});
  CHECK(w.clean(1));
}

TEST_CASE("the newest outcomes of a window that was clean are in ring order (a resize keeps the right ones)",
          "[window][count][clean]") {
  CountWindow w(4);
  for (int i = 0; i < 10; ++i) w.record(slot, 1, false, false);
  REQUIRE(w.clean(1));
  w.record(slot, 1, true, false);   // newest but two
  w.record(slot, 1, false, false);
  w.record(slot, 1, false, true);   // newest
  std::vector<int> newest;
  w.for_each_newest(1, 4, [&](bool failure, bool slow) { newest.push_back((failure ? 1 : 0) | (slow ? 2 : 0)); });
  CHECK(newest == std::vector<int>{2, 0, 1, 0});
}

TEST_CASE("a new epoch's window is not clean until it is full, and a stale failure only delays the flag",
          "[window][count][clean]") {
  CountWindow w(3);
  for (int i = 0; i < 4; ++i) w.record(slot, 1, false, false);
  REQUIRE(w.clean(1));
  // Epoch 2: empty, not clean; a success into it is recorded, not skipped.
  CHECK_FALSE(w.clean(2));
  w.record(slot, 2, false, false);
  CHECK(w.counts(2) == WindowCounts{1, 0, 0});
  for (int i = 0; i < 3; ++i) w.record(slot, 2, false, false);
  CHECK(w.counts(2) == WindowCounts{3, 0, 0});
  CHECK(w.clean(2));
  // A stale failure of epoch 1 is dropped, but clears the flag (conservative):
  // the next lap's check (at most N records) sets it again, counts unchanged throughout.
  w.record(slot, 1, true, false);
  CHECK(w.counts(2) == WindowCounts{3, 0, 0});
  CHECK_FALSE(w.clean(2));
  for (int i = 0; i < 3 && !w.clean(2); ++i) w.record(slot, 2, false, false);
  CHECK(w.clean(2));
  CHECK(w.counts(2) == WindowCounts{3, 0, 0});
}

TEST_CASE("window counts are exact after concurrent records that skip into a clean window",
          "[window][concurrency][clean]") {
  constexpr int threads = 4;
  constexpr int per_thread = 20'000;
  CountWindow w(64);
  // Start clean.
  for (int i = 0; i < 65; ++i) w.record(slot, 7, false, false);
  REQUIRE(w.clean(7));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&w, t] {
      const unsigned s = breaker::detail::thread_slot();
      // Rare failures and slow calls: the window turns clean and dirty again many times.
      for (int i = 0; i < per_thread; ++i) {
        w.record(s, 7, (i + 97 * t) % 997 == 0, (i + 13 * t) % 1499 == 0);
      }
    });
  }
  for (auto& th : pool) th.join();
  WindowCounts ring;
  w.for_each_newest(7, 64, [&](bool failure, bool slow) {
    ++ring.calls;
    ring.failures += failure ? 1 : 0;
    ring.slow += slow ? 1 : 0;
  });
  CHECK(ring.calls == 64);
  CHECK(w.counts(7) == ring);
  CHECK(CountWindow::clean_word_in_flight(w.clean_word()) == 0);
  if (w.clean(7)) CHECK(ring == WindowCounts{64, 0, 0});
  // Quiet again: 64 successes evict everything, and within one more lap the flag is set.
  for (int i = 0; i < 128 && !w.clean(7); ++i) w.record(slot, 7, false, false);
  CHECK(w.clean(7));
  CHECK(w.counts(7) == WindowCounts{64, 0, 0});
  // A last failure after the threads: counted exactly.
  w.record(slot, 7, true, false);
  CHECK(w.counts(7) == WindowCounts{64, 1, 0});
}
