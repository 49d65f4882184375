// SPDX-License-Identifier: Apache-2.0
//
// Concurrency invariants under std::thread (2-8 threads; 8 is past the six
// exclusive counter slots, so the shared slot is exercised too): the probe
// limit, balanced totals, every permit released, exactly one listener call
// per transition, and no transition driven by a stale outcome. Bounded by
// iteration counts; time moves only through the shared ManualClock.

#include "support.hpp"

#include <breaker/breaker.hpp>
#include <breaker/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::StateTransition;
using breaker::Stats;
using breaker::testing::ManualClock;
using namespace breaker::reliability;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;
using Permit = Breaker::Permit;

constexpr std::array<State, 3> all_states{State::closed, State::open, State::half_open};

std::size_t index(State from, State to) {
  return static_cast<std::size_t>(from) * 3 + static_cast<std::size_t>(to);
}

/// Listens to a breaker: counts calls per (from, to) and keeps every epoch.
class TransitionLog {
 public:
  explicit TransitionLog(Breaker& b) {
    // A throwing listener first: it must not stop the second one.
    b.on_state_change([](const StateTransition&) { throw std::runtime_error("listener"); });
    b.on_state_change([this](const StateTransition& t) {
      counts_[index(t.from, t.to)].fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(mutex_);
      epochs_.push_back(t.epoch);
    });
  }
  std::uint64_t count(State from, State to) const { return counts_[index(from, to)].load(); }
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (const auto& c : counts_) n += c.load();
    return n;
  }
  /// Every transition has its own epoch (while fewer than 2^16 happened).
  bool epochs_distinct() const {
    std::lock_guard lock(mutex_);
    std::set<std::uint32_t> unique(epochs_.begin(), epochs_.end());
    return unique.size() == epochs_.size();
  }

 private:
  std::array<std::atomic<std::uint64_t>, 9> counts_{};
  mutable std::mutex mutex_;
  std::vector<std::uint32_t> epochs_;
};

/// What one thread did, to compare with the breaker's totals.
struct Tally {
  std::uint64_t admitted = 0, rejected = 0, success = 0, failure = 0, ignored = 0, probes = 0;
  Tally& operator+=(const Tally& o) {
    admitted += o.admitted;
    rejected += o.rejected;
    success += o.success;
    failure += o.failure;
    ignored += o.ignored;
    probes += o.probes;
    return *this;
  }
};

void check_books(const Breaker& b, const Tally& t) {
  const Stats s = b.stats();
  CHECK(s.total_calls == t.admitted + t.rejected);
  CHECK(s.rejected_calls == t.rejected);
  CHECK(s.successful_calls == t.success);
  CHECK(s.failed_calls == t.failure);
  CHECK(s.ignored_calls == t.ignored);
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(b.probes_in_flight() == 0);
}

void check_listeners(const Breaker& b, const TransitionLog& log) {
  for (State from : all_states) {
    for (State to : all_states) {
      INFO(from << " -> " << to);
      CHECK(log.count(from, to) == b.transitions(from, to));
    }
  }
  if (log.total() < 65'536) CHECK(log.epochs_distinct());
}

}  // namespace

TEST_CASE(
    "threads never see more than half_open_max_requests probes in flight, and every permit comes "
    "back",
    "[reliability][concurrency][threads]") {
  const unsigned threads = GENERATE(2u, 4u, 8u);
  const std::uint32_t limit = GENERATE(1u, 3u);
  INFO(threads << " threads, half_open_max_requests " << limit);
  ManualClock clock;
  Breaker b("threads",
            CircuitBreakerConfig::builder()
                .failure_threshold(2)
                .success_threshold(2)
                .half_open_max_requests(limit)
                .minimum_request_threshold(2)
                .timeout_duration(10ms)
                .build(),
            clock);
  TransitionLog log(b);

  // Probe operations running now, counted by the test per half-open episode
  // (issue 8, rule 7: the limit is per episode; a probe of an earlier episode
  // blocks nothing): raised after a half-open admission, lowered before the
  // outcome is recorded, so it never exceeds the breaker's own count. Indexed
  // by the episode's epoch modulo 2^16 (a probe lives a few iterations, far
  // fewer than 65,536 transitions).
  std::atomic<std::uint32_t> running_probes{0};
  std::vector<std::atomic<std::uint32_t>> running_in_episode(1u << 16);
  std::atomic<std::uint32_t> max_running_probes{0};
  std::atomic<std::uint64_t> violations{0};
  const std::uint64_t iterations = scaled(1'500'000, 2, 2) / threads;
  std::barrier start(static_cast<std::ptrdiff_t>(threads));  // all threads run at once

  std::vector<Tally> tallies(threads);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(0xC0C0A + t);
      Tally& tally = tallies[t];
      struct Held {
        Permit permit;
        bool probe;
        std::uint32_t episode;
      };
      std::vector<Held> held;
      start.arrive_and_wait();
      auto finish = [&](std::size_t i) {
        Held h = std::move(held[i]);
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        if (h.probe) {
          running_probes.fetch_sub(1);
          running_in_episode[h.episode].fetch_sub(1);
        }
        const auto r = rng() % 100;
        if (r < 55) {
          h.permit.record_success();
          ++tally.success;
        } else if (r < 85) {
          h.permit.record_failure();
          ++tally.failure;
        } else if (r < 93) {
          h.permit.record_ignored();
          ++tally.ignored;
        } else {
          h.permit = Permit{};  // move-assigning an empty permit: ignored
          ++tally.ignored;
        }
      };
      for (std::uint64_t i = 0; i < iterations; ++i) {
        const auto r = rng() % 1000;
        if (r < 450) {
          Permit p = b.try_acquire();
          if (!p) {
            ++tally.rejected;
            continue;
          }
          ++tally.admitted;
          const bool probe = p.admitted_in() == State::half_open;
          const std::uint32_t episode = p.epoch() & 0xFFFF;
          if (probe) {
            ++tally.probes;
            running_probes.fetch_add(1);
            const std::uint32_t now = running_in_episode[episode].fetch_add(1) + 1;
            if (now > limit) violations.fetch_add(1);
            std::uint32_t seen = max_running_probes.load();
            while (now > seen && !max_running_probes.compare_exchange_weak(seen, now)) {
            }
          }
          held.push_back(Held{std::move(p), probe, episode});
          if (held.size() > 3) finish(0);
        } else if (r < 880) {
          if (!held.empty()) finish(rng() % held.size());
        } else if (r < 930) {
          clock.advance(11ms);  // past the open period
        } else if (r < 960) {
          clock.advance(1ms);
        } else if (r < 963) {
          b.reset();
        } else if (r < 964) {
          b.force_open();
        } else {
          const Stats s = b.stats();
          // A snapshot is never "ahead" of itself in these two.
          if (s.rejected_calls > s.total_calls) violations.fetch_add(1);
          (void)b.state();
        }
      }
      while (!held.empty()) finish(held.size() - 1);
    });
  }
  for (auto& w : workers) w.join();

  Tally total;
  for (const Tally& t : tallies) total += t;
  CHECK(violations.load() == 0);
  CHECK(max_running_probes.load() <= limit);
  CHECK(running_probes.load() == 0);
  check_books(b, total);
  check_listeners(b, log);
  // The run really went through every state many times.
  CHECK(total.probes > 100);
  CHECK(b.transitions(State::half_open, State::closed) > 0);
  CHECK(b.transitions(State::half_open, State::open) > 0);
  std::ostringstream os;
  os << "threads (" << threads << ", limit " << limit << "): " << total.admitted + total.rejected
     << " calls, " << total.probes << " probes, at most " << max_running_probes.load()
     << " at once, " << log.total() << " transitions";
  print_figures(os.str());
}

TEST_CASE("no stale outcome drives a transition, with threads racing fresh and stale outcomes",
          "[reliability][concurrency][threads][stale]") {
  const unsigned threads = GENERATE(2u, 4u, 8u);
  INFO(threads << " threads");
  ManualClock clock;
  // Thresholds of 1: a single counted outcome would transition.
  Breaker b("stale",
            CircuitBreakerConfig::builder()
                .failure_threshold(1)
                .success_threshold(1)
                .half_open_max_requests(64)
                .minimum_request_threshold(0)
                .timeout_duration(1ms)
                .build(),
            clock);
  TransitionLog log(b);
  const std::uint64_t rounds = scaled(400, 1, 2);
  const unsigned per_thread = 6;
  std::barrier sync(static_cast<std::ptrdiff_t>(threads));

  for (std::uint64_t round = 0; round < rounds; ++round) {
    INFO("round " << round);
    // Closed permits of an old epoch.
    std::vector<Permit> stale_closed;
    for (unsigned i = 0; i < threads * per_thread; ++i) stale_closed.push_back(b.try_acquire());
    // Half-open probes of an old episode: open, expire, take probes.
    b.force_open();
    b.reset();
    b.try_acquire().record_failure();
    clock.advance(1ms);
    std::vector<Permit> stale_probes;
    for (unsigned i = 0; i < threads * per_thread; ++i) stale_probes.push_back(b.try_acquire());
    REQUIRE(b.probes_in_flight() == threads * per_thread);
    // Move on: a fresh half-open episode with one probe of its own.
    b.reset();
    b.try_acquire().record_failure();
    clock.advance(1ms);
    Permit fresh_probe = b.try_acquire();
    REQUIRE(fresh_probe);
    REQUIRE(b.state() == State::half_open);
    const std::uint64_t transitions_before = log.total();

    // Every thread records its stale outcomes at once: failures (would reopen)
    // and successes (would close), closed and half-open ones.
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        sync.arrive_and_wait();
        for (unsigned i = 0; i < per_thread; ++i) {
          Permit& c = stale_closed[t * per_thread + i];
          Permit& p = stale_probes[t * per_thread + i];
          if ((i + t) % 2 == 0) {
            c.record_failure();
            p.record_success();
          } else {
            c.record_success();
            p.record_failure();
          }
        }
      });
    }
    for (auto& w : workers) w.join();

    CHECK(log.total() == transitions_before);
    CHECK(b.state() == State::half_open);
    CHECK(b.stats().consecutive_successes == 0);
    CHECK(b.probes_in_flight() == 1);  // only the fresh probe is left
    fresh_probe.record_success();
    CHECK(b.state() == State::closed);
  }
  const Stats s = b.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(b.probes_in_flight() == 0);
  check_listeners(b, log);
}

TEST_CASE("threads racing to make the same transition make it exactly once",
          "[reliability][concurrency][threads][listeners]") {
  const unsigned threads = GENERATE(2u, 4u, 8u);
  INFO(threads << " threads");
  ManualClock clock;
  const std::uint32_t limit = 3;
  Breaker b("race",
            CircuitBreakerConfig::builder()
                .failure_threshold(1)
                .success_threshold(1)
                .half_open_max_requests(limit)
                .minimum_request_threshold(0)
                .timeout_duration(5ms)
                .build(),
            clock);
  TransitionLog log(b);
  const std::uint64_t rounds = scaled(3000, 1, 2);
  std::vector<Permit> permits(threads);
  std::atomic<unsigned> admitted{0};

  // The same worker threads run every phase of every round; the main thread
  // sets each phase up and checks it, between two barrier waits.
  enum class Phase { fail_closed, acquire, finish_probes };
  Phase phase = Phase::fail_closed;
  std::uint64_t round = 0;
  std::barrier sync(static_cast<std::ptrdiff_t>(threads) + 1);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t r = 0; r < rounds; ++r) {
        for (int p = 0; p < 3; ++p) {
          sync.arrive_and_wait();  // phase set up
          switch (phase) {
            case Phase::fail_closed:
              permits[t].record_failure();
              break;
            case Phase::acquire:
              permits[t] = b.try_acquire();
              if (permits[t]) admitted.fetch_add(1);
              break;
            case Phase::finish_probes:
              if (!permits[t]) break;
              if (round % 2 == 1 || t % 2 == 0) {
                permits[t].record_success();
              } else {
                permits[t].record_failure();
              }
              break;
          }
          sync.arrive_and_wait();  // phase done
        }
      }
    });
  }
  auto run_phase = [&](Phase p) {
    phase = p;
    sync.arrive_and_wait();
    sync.arrive_and_wait();
  };

  for (round = 0; round < rounds; ++round) {
    INFO("round " << round);
    const auto opened = b.transitions(State::closed, State::open);
    const auto probing = b.transitions(State::open, State::half_open);
    const auto closed = b.transitions(State::half_open, State::closed);
    const auto reopened = b.transitions(State::half_open, State::open);

    // All fail at once in closed: one closed -> open.
    for (auto& p : permits) p = b.try_acquire();
    run_phase(Phase::fail_closed);
    CHECK(b.transitions(State::closed, State::open) == opened + 1);
    CHECK(b.state() == State::open);

    // All ask at once after the open period: one open -> half-open, and
    // exactly min(threads, limit) admitted.
    clock.advance(5ms);
    admitted = 0;
    run_phase(Phase::acquire);
    CHECK(b.transitions(State::open, State::half_open) == probing + 1);
    CHECK(admitted.load() == std::min(threads, limit));

    // The probes finish at once, some succeeding and some failing (odd
    // rounds: all succeed): exactly one transition out of half-open.
    run_phase(Phase::finish_probes);
    const auto left = (b.transitions(State::half_open, State::closed) - closed) +
                      (b.transitions(State::half_open, State::open) - reopened);
    CHECK(left == 1);
    CHECK(b.probes_in_flight() == 0);
    if (b.state() != State::closed) b.reset();
  }
  for (auto& w : workers) w.join();
  check_listeners(b, log);
  const Stats s = b.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
}

TEST_CASE("a permit moved to another thread is recorded there exactly once",
          "[reliability][concurrency][threads][permit]") {
  ManualClock clock;
  Breaker b("handoff",
            CircuitBreakerConfig::builder()
                .failure_threshold(1000)
                .half_open_max_requests(2)
                .minimum_request_threshold(0)
                .build(),
            clock);
  const std::uint64_t n = scaled(20'000, 1, 2);
  std::vector<Permit> permits;
  permits.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) permits.push_back(b.try_acquire());
  // Two threads record the same permits: the first record wins, the other is
  // a no-op (each permit is used by one thread at a time: split by halves,
  // then swapped).
  std::thread first([&] {
    for (std::uint64_t i = 0; i < n / 2; ++i) permits[i].record_failure();
  });
  std::thread second([&] {
    for (std::uint64_t i = n / 2; i < n; ++i) permits[i].record_success();
  });
  first.join();
  second.join();
  std::thread again([&] {
    for (auto& p : permits) p.record_ignored();  // all already recorded
  });
  again.join();
  const Stats s = b.stats();
  CHECK(s.failed_calls == n / 2);
  CHECK(s.successful_calls == n - n / 2);
  CHECK(s.ignored_calls == 0);
  CHECK(s.total_calls == n);
}
