// SPDX-License-Identifier: Apache-2.0
//
// Linearizability of the real breaker (issue 13, part 2). Three threads run a few random
// operations each on one CircuitBreaker<ManualClock>, logging every operation's invocation and
// response on a shared logical clock; check_linearizable() then searches for a sequential order,
// consistent with real time, in which the reference model (model.hpp) gives every response.
// Thousands of small histories per run, bounded by count. A failure prints the history and the
// longest order the search found.

#include "linearizability.hpp"
#include "model.hpp"
#include "support.hpp"

#include <breaker/circuit_breaker.hpp>
#include <breaker/testing/manual_clock.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <barrier>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

namespace {

using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::testing::ManualClock;
using breaker::reliability::Model;
using breaker::reliability::ModelOutcome;
using breaker::reliability::ModelPermit;
using Breaker = breaker::CircuitBreaker<ManualClock>;
using namespace std::chrono_literals;

constexpr int thread_count = 3;

enum class Op : std::uint8_t {
  acquire,
  record_success,
  record_failure,
  record_ignored,
  state,
  stats,
  reset,
  force_open
};

const char* name(Op op) {
  switch (op) {
    case Op::acquire: return "try_acquire";
    case Op::record_success: return "record_success";
    case Op::record_failure: return "record_failure";
    case Op::record_ignored: return "record_ignored";
    case Op::state: return "state";
    case Op::stats: return "stats";
    case Op::reset: return "reset";
    case Op::force_open: return "force_open";
  }
  return "?";
}

// What an operation returned. Only the fields an operation returns are compared.
struct Response {
  bool admitted = false;
  State state = State::closed;  // try_acquire: admitted_in; state/stats: the state
  std::uint32_t consecutive_failures = 0;
  std::uint32_t consecutive_successes = 0;
};

using Event = breaker::reliability::HistoryEvent<Op, Response>;

// The model's side: the model and the permit each thread holds.
struct ModelState {
  Model model;
  std::array<ModelPermit, thread_count> permits{};
};

std::string key(const ModelState& s) {
  const auto st = s.model.stats();
  std::string k = fmt::format("{}{}{} {} {} {} {} {} {} {} {}", static_cast<int>(s.model.internal_state()),
                              s.model.forced() ? 'F' : '-', static_cast<int>(st.state),
                              s.model.epoch(), st.consecutive_failures, st.consecutive_successes,
                              s.model.probes_in_flight(), st.total_calls, st.successful_calls,
                              st.failed_calls, st.rejected_calls);
  for (const auto& p : s.permits) {
    k += fmt::format("|{}{}{}", p.admitted ? 'A' : '-', static_cast<int>(p.admitted_in), p.epoch);
  }
  return k;
}

bool step(ModelState& s, const Event& e) {
  ModelPermit& permit = s.permits[static_cast<std::size_t>(e.thread)];
  auto record = [&](ModelOutcome outcome) {
    s.model.record(permit, outcome);
    permit = ModelPermit{};
    return true;
  };
  switch (e.op) {
    case Op::acquire: {
      permit = s.model.acquire();
      if (permit.admitted != e.response.admitted) return false;
      return !permit.admitted || permit.admitted_in == e.response.state;
    }
    case Op::record_success: return record(ModelOutcome::success);
    case Op::record_failure: return record(ModelOutcome::failure);
    case Op::record_ignored: return record(ModelOutcome::ignored);
    case Op::state: return s.model.state() == e.response.state;
    case Op::stats: {
      const auto st = s.model.stats();
      return st.state == e.response.state &&
             st.consecutive_failures == e.response.consecutive_failures &&
             st.consecutive_successes == e.response.consecutive_successes;
    }
    case Op::reset: s.model.reset(); return true;
    case Op::force_open: s.model.force_open(); return true;
  }
  return false;
}

std::string describe(const std::vector<Event>& history, const std::vector<std::size_t>& order) {
  std::ostringstream out;
  out << "history (thread: operation -> response [invoked, returned]):\n";
  for (std::size_t i = 0; i < history.size(); ++i) {
    const Event& e = history[i];
    out << fmt::format("  #{} T{}: {} -> admitted={} state={} cf={} cs={} [{}, {}]\n", i, e.thread,
                       name(e.op), e.response.admitted, breaker::to_string(e.response.state),
                       e.response.consecutive_failures, e.response.consecutive_successes,
                       e.invoked, e.returned);
  }
  out << "longest sequential order the model accepts:";
  for (auto i : order) out << " #" << i;
  out << '\n';
  return out.str();
}

// A starting point reached sequentially before the threads run.
enum class Scenario { closed, one_failure, open_expired, half_open_probe_out, forced_open };

}  // namespace

TEST_CASE("every concurrent history of the real breaker is linearizable under the model",
          "[reliability][linearizability]") {
  // Bounded by counts: run until `wanted` histories had operations of different threads
  // overlapping in time (the ones that test anything beyond sequential behaviour), or until
  // `max_histories`. The threads invoke their first operations before any of them runs one
  // (see the worker), so every history overlaps, whatever the machine's load.
  const std::uint64_t wanted = breaker::reliability::scaled(2500, 6, 2);
  const std::uint64_t max_histories = 20 * wanted;
  std::mt19937_64 rng(breaker::reliability::env_u64("BREAKER_LINEARIZABILITY_SEED", 13));

  std::atomic<std::uint64_t> ticks{0};
  std::barrier start(thread_count + 1);
  std::barrier done(thread_count + 1);
  std::unique_ptr<Breaker> cb;
  std::array<Breaker::Permit, thread_count> held;
  std::array<std::vector<Op>, thread_count> intents;
  std::array<std::vector<Event>, thread_count> logs;
  std::array<std::vector<unsigned>, thread_count> pauses;
  std::atomic<bool> stop{false};
  // Threads leave the barrier microseconds apart, longer than a whole history takes: after it
  // they count themselves in and spin until the last one arrives, so they start together.
  std::atomic<int> arrived{0};
  std::atomic<std::uint64_t> round{0};
  std::atomic<int> first_invoked{0};

  auto worker = [&](int t) {
    std::uint64_t my_round = 0;
    for (;;) {
      start.arrive_and_wait();
      if (stop.load()) return;
      ++my_round;
      if (arrived.fetch_add(1) + 1 == thread_count) round.store(my_round);
      // Spin, yielding now and then: three threads on two cores must not spin away for long
      // the core that the last one needs, but a thread that yields at once starts late.
      for (unsigned spins = 1; round.load() != my_round; ++spins) {
        if (spins % 4096 == 0) std::this_thread::yield();
      }
      auto& log = logs[static_cast<std::size_t>(t)];
      auto& permit = held[static_cast<std::size_t>(t)];
      std::size_t op_index = 0;
      for (Op intent : intents[static_cast<std::size_t>(t)]) {
        // A short random pause between operations varies the interleavings.
        for (unsigned spin = 0; spin < pauses[static_cast<std::size_t>(t)][op_index]; ++spin) {
          ticks.load(std::memory_order_relaxed);
        }
        ++op_index;
        // A record needs a permit, an acquire needs none: do what the permit allows.
        Op op = intent;
        const bool records = op == Op::record_success || op == Op::record_failure ||
                             op == Op::record_ignored;
        if (records && !permit) op = Op::acquire;
        if (op == Op::acquire && permit) op = Op::record_success;
        Event e;
        e.thread = t;
        e.op = op;
        e.invoked = ticks.fetch_add(1);
        if (op_index == 1) {
          // Every thread's first operation is invoked before any of them runs, so each history
          // has overlapping operations however the threads are scheduled (on a loaded machine
          // the start spin above alone left whole runs without one), and the threads leave this
          // spin together, racing on the breaker. Never stuck: every thread has a first op.
          first_invoked.fetch_add(1);
          for (unsigned spins = 1; first_invoked.load() != thread_count; ++spins) {
            if (spins % 64 == 0) std::this_thread::yield();
          }
        }
        switch (op) {
          case Op::acquire:
            permit = cb->try_acquire();
            e.response.admitted = static_cast<bool>(permit);
            if (permit) e.response.state = permit.admitted_in();
            break;
          case Op::record_success: permit.record_success(); break;
          case Op::record_failure: permit.record_failure(); break;
          case Op::record_ignored: permit.record_ignored(); break;
          case Op::state: e.response.state = cb->state(); break;
          case Op::stats: {
            const auto st = cb->stats();
            e.response.state = st.state;
            e.response.consecutive_failures = st.consecutive_failures;
            e.response.consecutive_successes = st.consecutive_successes;
            break;
          }
          case Op::reset: cb->reset(); break;
          case Op::force_open: cb->force_open(); break;
        }
        e.returned = ticks.fetch_add(1);
        log.push_back(e);
      }
      // Hand back a permit still held: its (ignored) outcome is part of the history.
      if (permit) {
        Event e;
        e.thread = t;
        e.op = Op::record_ignored;
        e.invoked = ticks.fetch_add(1);
        permit.record_ignored();
        e.returned = ticks.fetch_add(1);
        log.push_back(e);
      }
      done.arrive_and_wait();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) threads.emplace_back(worker, t);

  std::uint64_t checked = 0, events = 0, explored = 0, overlapping = 0;
  std::string failure;
  for (std::uint64_t h = 0; h < max_histories && overlapping < wanted && failure.empty(); ++h) {
    CircuitBreakerConfig config;
    config.failure_threshold = 2;
    config.success_threshold = 2;
    config.timeout_duration = 10s;
    config.half_open_max_requests = 1 + static_cast<std::uint32_t>(rng() % 2);
    config.minimum_request_threshold = (rng() % 2) == 0 ? 0 : 2;
    config.record_call_durations = false;
    ManualClock clock;
    cb = std::make_unique<Breaker>("lin", config, clock);
    ModelState model{Model(config, 0), {}};

    // The sequential prefix, applied to both sides.
    const auto scenario = static_cast<Scenario>(rng() % 5);
    auto both_fail = [&] {
      auto p = cb->try_acquire();
      p.record_failure();
      auto mp = model.model.acquire();
      model.model.record(mp, ModelOutcome::failure);
    };
    if (scenario != Scenario::closed && scenario != Scenario::forced_open) {
      for (std::uint32_t i = 0; i < config.minimum_request_threshold; ++i) {
        auto p = cb->try_acquire();
        p.record_success();
        auto mp = model.model.acquire();
        model.model.record(mp, ModelOutcome::success);
      }
      both_fail();
    }
    if (scenario == Scenario::open_expired || scenario == Scenario::half_open_probe_out) {
      both_fail();
      clock.advance(11s);
      model.model.set_now(std::chrono::nanoseconds(11s).count());
    }
    if (scenario == Scenario::half_open_probe_out) {
      held[0] = cb->try_acquire();
      model.permits[0] = model.model.acquire();
      REQUIRE(static_cast<bool>(held[0]) == model.permits[0].admitted);
    }
    if (scenario == Scenario::forced_open) {
      cb->force_open();
      model.model.force_open();
    }

    arrived.store(0);
    first_invoked.store(0);
    for (std::size_t t = 0; t < thread_count; ++t) {
      auto& intent = intents[t];
      intent.clear();
      pauses[t].clear();
      const std::size_t ops = 4 + rng() % 3;
      for (std::size_t i = 0; i < ops; ++i) {
        pauses[t].push_back(static_cast<unsigned>(rng() % 64));
        const auto r = rng() % 100;
        Op op = r < 30   ? Op::acquire
                : r < 45 ? Op::record_success
                : r < 62 ? Op::record_failure
                : r < 67 ? Op::record_ignored
                : r < 80 ? Op::state
                : r < 90 ? Op::stats
                : r < 95 ? Op::reset
                         : Op::force_open;
        intent.push_back(op);
      }
    }
    for (auto& log : logs) log.clear();
    start.arrive_and_wait();
    done.arrive_and_wait();

    std::vector<Event> history;
    for (const auto& log : logs) history.insert(history.end(), log.begin(), log.end());
    for (std::size_t i = 0; i < history.size(); ++i) {
      for (std::size_t j = i + 1; j < history.size(); ++j) {
        if (history[i].thread != history[j].thread && history[i].invoked < history[j].returned &&
            history[j].invoked < history[i].returned) {
          ++overlapping;
          i = history.size();
          break;
        }
      }
    }
    const auto result = breaker::reliability::check_linearizable(history, model, step, key);
    ++checked;
    events += history.size();
    explored += result.states_explored;
    if (!result.linearizable) {
      failure = fmt::format("history {} (scenario {}, half_open_max_requests {}, minimum {}) is not "
                            "linearizable\n{}",
                            h, static_cast<int>(scenario), config.half_open_max_requests,
                            config.minimum_request_threshold,
                            describe(history, result.longest_prefix));
    }
    for (auto& p : held) p = Breaker::Permit{};
    cb.reset();
  }
  stop.store(true);
  start.arrive_and_wait();
  for (auto& t : threads) t.join();

  INFO(failure);
  CHECK(failure.empty());
  // The check means something only if threads really overlapped: by construction every
  // history does, and this verifies the construction.
  CHECK(overlapping == checked);
  CHECK(checked >= wanted);
  breaker::reliability::print_figures(fmt::format(
      "linearizability: {} histories, {} operations, {} with overlapping operations, {} search "
      "states explored",
      checked, events, overlapping, explored));
}

TEST_CASE("the linearizability checker rejects a history no order explains",
          "[reliability][linearizability]") {
  // Two sequential (non-overlapping) operations on a fresh closed breaker: a failure recorded,
  // then stats() claiming 0 consecutive failures. No order that respects real time explains it.
  CircuitBreakerConfig config;
  config.minimum_request_threshold = 0;
  ModelState model{Model(config, 0), {}};
  std::vector<Event> history;
  history.push_back({0, Op::acquire, {true, State::closed, 0, 0}, 0, 1});
  history.push_back({0, Op::record_failure, {}, 2, 3});
  history.push_back({1, Op::stats, {false, State::closed, 0, 0}, 4, 5});
  CHECK_FALSE(breaker::reliability::check_linearizable(history, model, step, key).linearizable);
  // Overlapping with the failure, the same stats() answer is explained (it took effect first).
  history[2].invoked = 1;
  CHECK(breaker::reliability::check_linearizable(history, model, step, key).linearizable);
  // And with the answer the model gives after the failure, the sequential history passes too.
  history[2].invoked = 4;
  history[2].response.consecutive_failures = 1;
  CHECK(breaker::reliability::check_linearizable(history, model, step, key).linearizable);
}
