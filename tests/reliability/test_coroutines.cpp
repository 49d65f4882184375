// SPDX-License-Identifier: Apache-2.0
//
// Coroutines under fault injection: thousands of co_spawned calls whose
// operations succeed, throw, hang past call_timeout, get cancelled by their
// parent (`||` against a timer, or a cancellation signal), or finish after the
// breaker has moved on (reset, force_open, reopened). Every call's fate is
// classified from what the caller saw, and the breaker's books must match
// that classification exactly; every permit must come back.
//
// Time: the breakers run on a ManualClock that only the driver advances. A
// call_timeout on a ManualClock breaker polls the clock every 1 ms of real
// time, so after advancing past call_timeout the driver waits a few real
// milliseconds for the pollers; nothing waits out an open period.

#include "support.hpp"

#include <breaker/breaker.hpp>
#include <breaker/testing/manual_clock.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::State;
using breaker::Stats;
using breaker::testing::ManualClock;
using namespace breaker::reliability;

namespace {

using Breaker = breaker::CircuitBreaker<ManualClock>;
using namespace asio::experimental::awaitable_operators;

constexpr std::array<State, 3> all_states{State::closed, State::open, State::half_open};

/// What the test operations throw; must reach the caller unchanged.
struct OperationError {
  int id;
};

enum class Behaviour : std::uint8_t {
  succeed_now,  ///< returns at once
  fail_now,     ///< throws OperationError at once
  gated,        ///< waits until the driver opens its gate (with success or failure)
  hang,         ///< waits until cancelled (by call_timeout or its parent)
};
enum class Parent : std::uint8_t {
  none,
  race_timer,  ///< the parent awaits `call || timer` with a 0-2 ms real timer
  signal,      ///< the parent's cancellation slot is emitted by the driver
};
enum class Result : std::uint8_t {
  pending,
  rejected,
  success,
  failure,
  timeout,
  cancelled,
  unexpected
};
constexpr std::size_t result_kinds = 7;

const char* to_string(Result r) {
  switch (r) {
    case Result::pending:
      return "pending";
    case Result::rejected:
      return "rejected";
    case Result::success:
      return "success";
    case Result::failure:
      return "failure";
    case Result::timeout:
      return "timeout";
    case Result::cancelled:
      return "cancelled";
    case Result::unexpected:
      return "unexpected";
  }
  return "?";
}

/// One call and everything the test knows about it. Touched only on its own
/// executor (a strand when the context runs on several threads), except
/// `done`.
struct Client {
  explicit Client(const asio::any_io_executor& ex)
      : executor(ex), gate(ex, asio::steady_timer::time_point::max()) {}
  asio::any_io_executor executor;
  std::size_t breaker = 0;
  Behaviour behaviour = Behaviour::succeed_now;
  Parent parent = Parent::none;
  bool with_fallback = false;
  std::chrono::milliseconds race_after{0};

  asio::steady_timer gate;
  std::optional<bool> gate_succeeds;  // set when the driver opens the gate
  asio::cancellation_signal signal;

  bool op_started = false;
  bool fallback_ran = false;
  Result result = Result::pending;
  std::atomic<bool> done{false};
};

/// The breakers, their listeners and the tallies of one scenario.
struct Scenario {
  explicit Scenario(bool single_threaded_) : single_threaded(single_threaded_) {
    CircuitBreakerConfig plain = CircuitBreakerConfig::builder()
                                     .failure_threshold(3)
                                     .success_threshold(2)
                                     .half_open_max_requests(2)
                                     .minimum_request_threshold(4)
                                     .timeout_duration(50ms)
                                     .build();
    CircuitBreakerConfig timed_failing = CircuitBreakerConfig::builder()
                                             .failure_threshold(2)
                                             .success_threshold(1)
                                             .half_open_max_requests(1)
                                             .minimum_request_threshold(0)
                                             .timeout_duration(50ms)
                                             .call_timeout(20ms)
                                             .count_timeout_as_failure(true)
                                             .build();
    CircuitBreakerConfig timed_ignoring = CircuitBreakerConfig::builder()
                                              .failure_threshold(2)
                                              .success_threshold(2)
                                              .half_open_max_requests(3)
                                              .minimum_request_threshold(2)
                                              .timeout_duration(50ms)
                                              .call_timeout(20ms)
                                              .count_timeout_as_failure(false)
                                              .build();
    const CircuitBreakerConfig configs[] = {plain, timed_failing, timed_ignoring};
    const char* names[] = {"plain", "timed failing", "timed ignoring"};
    for (std::size_t i = 0; i < breakers.size(); ++i) {
      breakers[i] = std::make_unique<Breaker>(names[i], configs[i], clock);
      breakers[i]->on_state_change(
          [](const breaker::StateTransition&) { throw std::logic_error("listener"); });
      breakers[i]->on_state_change([this, i](const breaker::StateTransition& t) {
        heard[i][static_cast<std::size_t>(t.from) * 3 + static_cast<std::size_t>(t.to)].fetch_add(
            1);
      });
    }
  }

  ManualClock clock;
  bool single_threaded;
  std::array<std::unique_ptr<Breaker>, 3> breakers;
  std::array<std::array<std::atomic<std::uint64_t>, 9>, 3> heard{};
  std::array<std::array<std::atomic<std::uint64_t>, result_kinds>, 3> tally{};
  // Probe operations running right now, per breaker. Counted only where an
  // operation can tell it is a probe: on one thread, on a breaker without
  // call_timeout, `call` starts the operation inline right after admission,
  // so the breaker reads half-open as the operation starts exactly when it
  // was admitted as a probe. (With call_timeout the operation starts from a
  // posted handler, and other calls may run in between.)
  // Issue 8, rule 7: the limit is per half-open episode, so probes are
  // counted per episode, numbered by the open -> half-open transitions heard.
  std::array<std::map<std::uint64_t, std::uint32_t>, 3> running_probes{};
  std::array<std::uint32_t, 3> max_running_probes{};
  std::uint64_t probe_limit_violations = 0;
  std::atomic<std::uint64_t> spawned{0};
  std::atomic<std::uint64_t> finished{0};
  std::atomic<std::uint64_t> unexpected_completion{0};
};

/// Counts a running probe for as long as the operation's frame lives (the
/// frame is gone before the breaker records the outcome).
class ProbeScope {
 public:
  ProbeScope(Scenario& s, std::size_t b) : s_(s), b_(b) {
    const Breaker& breaker = *s.breakers[b];
    if (!s.single_threaded || breaker.config().call_timeout.count() != 0) return;
    if (breaker.state() != State::half_open) return;
    counted_ = true;
    episode_ = s.heard[b][static_cast<std::size_t>(State::open) * 3 +
                          static_cast<std::size_t>(State::half_open)]
                   .load();
    const std::uint32_t now = ++s.running_probes[b][episode_];
    s.max_running_probes[b] = std::max(s.max_running_probes[b], now);
    if (now > breaker.config().half_open_max_requests) ++s.probe_limit_violations;
  }
  ~ProbeScope() {
    if (counted_ && --s_.running_probes[b_][episode_] == 0) s_.running_probes[b_].erase(episode_);
  }
  ProbeScope(const ProbeScope&) = delete;
  ProbeScope& operator=(const ProbeScope&) = delete;

 private:
  Scenario& s_;
  std::size_t b_;
  std::uint64_t episode_ = 0;
  bool counted_ = false;
};

asio::awaitable<int> operation(std::shared_ptr<Client> c, Scenario* s) {
  ProbeScope probe(*s, c->breaker);
  c->op_started = true;
  switch (c->behaviour) {
    case Behaviour::succeed_now:
      co_return 1;
    case Behaviour::fail_now:
      throw OperationError{1};
    case Behaviour::gated:
    case Behaviour::hang:
      // The gate may have been opened before the operation started waiting.
      if (!c->gate_succeeds)
        co_await c->gate.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      // Woken without a verdict: cancelled (by call_timeout or the parent).
      if (!c->gate_succeeds) throw std::system_error(asio::error::operation_aborted);
      if (!*c->gate_succeeds) throw OperationError{2};
      co_return 1;
  }
  co_return 0;
}

// gcc 12 destroys the captures of a lambda written as a prvalue argument
// inside a co_await expression twice (clang does not): every callable that
// owns its captures is named before it is passed to call().
asio::awaitable<void> attempt(std::shared_ptr<Client> c, Scenario* s) {
  Breaker& b = *s->breakers[c->breaker];
  auto op = [c, s] { return operation(c, s); };
  auto fallback = [c] {
    c->fallback_ran = true;
    return 2;
  };
  try {
    if (c->with_fallback) {
      const int v = co_await b.call_with_fallback(op, fallback);
      if (!c->fallback_ran) {
        c->result = v == 1 ? Result::success : Result::unexpected;
      } else if (!c->op_started) {
        c->result = Result::rejected;
      } else if (c->behaviour == Behaviour::fail_now) {
        c->result = Result::failure;
      } else if (c->behaviour == Behaviour::hang) {
        c->result = Result::timeout;  // a hanging operation ends only by timeout or cancellation
      } else {
        c->result = Result::unexpected;
      }
    } else {
      const int v = co_await b.call(op);
      c->result = v == 1 ? Result::success : Result::unexpected;
    }
  } catch (const CircuitBreakerError& e) {
    c->result = e.code() == make_error_code(errc::open) && !c->op_started     ? Result::rejected
                : e.code() == make_error_code(errc::timeout) && c->op_started ? Result::timeout
                                                                              : Result::unexpected;
    if (e.breaker_name() != b.name()) c->result = Result::unexpected;
  } catch (const OperationError&) {
    c->result = c->with_fallback ? Result::unexpected : Result::failure;
  } catch (const std::system_error& e) {
    // A cancellation passes through call_with_fallback: the fallback must not run.
    c->result = e.code() == asio::error::operation_aborted && !c->fallback_ran ? Result::cancelled
                                                                               : Result::unexpected;
  } catch (...) {
    c->result = Result::unexpected;
  }
}

asio::awaitable<void> client_main(std::shared_ptr<Client> c, Scenario* s) {
  asio::awaitable<void> call = attempt(c, s);
  if (c->parent == Parent::race_timer) {
    asio::steady_timer timer(c->executor, c->race_after);
    asio::awaitable<void> wait = timer.async_wait(asio::use_awaitable);
    co_await (std::move(call) || std::move(wait));
  } else {
    co_await std::move(call);
  }
}

void spawn(std::shared_ptr<Client> c, Scenario& s) {
  s.spawned.fetch_add(1);
  auto done = [c, &s](std::exception_ptr e) {
    if (e) s.unexpected_completion.fetch_add(1);
    s.tally[c->breaker][static_cast<std::size_t>(c->result)].fetch_add(1);
    c->done.store(true);
    s.finished.fetch_add(1);
  };
  asio::co_spawn(c->executor, client_main(c, &s),
                 asio::bind_cancellation_slot(c->signal.slot(), done));
}

/// Runs `f` on the client's executor (its strand when multi-threaded).
template <class F>
void on_client(const std::shared_ptr<Client>& c, F f) {
  asio::post(c->executor, [c, f = std::move(f)]() mutable { f(*c); });
}

asio::awaitable<void> real_sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<void> yield() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

/// The driver's decisions, kept out of the driving coroutine: only plain
/// functions touch the random generator and the list of pending calls, and
/// the coroutine only awaits (gcc 12 mishandles some locals of complex
/// coroutine bodies, so coroutine bodies here stay trivial).
class Driver {
 public:
  enum class Wait : std::uint8_t { none, yield, real_sleep };

  Driver(Scenario& s, asio::io_context& ctx, std::uint64_t seed) : s_(s), ctx_(ctx), rng_(seed) {}

  void spawn_round(std::uint64_t calls) {
    for (std::uint64_t i = 0; i < calls; ++i) {
      auto c = std::make_shared<Client>(s_.single_threaded
                                            ? asio::any_io_executor(ctx_.get_executor())
                                            : asio::any_io_executor(asio::make_strand(ctx_)));
      c->breaker = rng_() % 3;
      const bool timed = c->breaker != 0;
      const auto behaviour = rng_() % 100;
      c->behaviour = behaviour < 40   ? Behaviour::succeed_now
                     : behaviour < 55 ? Behaviour::fail_now
                     : behaviour < 88 ? Behaviour::gated
                                      : Behaviour::hang;
      const auto parent = rng_() % 100;
      c->parent = parent < 70 ? Parent::none : parent < 85 ? Parent::race_timer : Parent::signal;
      c->race_after = std::chrono::milliseconds(rng_() % 3);
      // A hanging call needs something to end it.
      if (c->behaviour == Behaviour::hang && !timed && c->parent == Parent::none)
        c->parent = Parent::signal;
      // A fallback hides why the operation ended, so the test can classify
      // it only where the operation's behaviour says it (not gated ones).
      c->with_fallback = c->behaviour != Behaviour::gated && rng_() % 4 == 0;
      spawn(c, s_);
      pending_.push_back(std::move(c));
    }
  }

  int actions() { return 2 + static_cast<int>(rng_() % 5); }

  /// One injected fault or clock move; says what the coroutine should await.
  Wait inject() {
    const auto r = rng_() % 100;
    if (r < 40 && !pending_.empty()) {
      // Open a few gates: the operations finish now, possibly long after
      // the breaker moved on.
      for (int k = 0; k < 4; ++k) {
        const std::shared_ptr<Client> c = pending_[rng_() % pending_.size()];
        if (c->behaviour != Behaviour::gated) continue;
        const bool succeeds = rng_() % 100 < 65;
        on_client(c, [succeeds](Client& cl) {
          if (!cl.gate_succeeds) cl.gate_succeeds = succeeds;
          cl.gate.cancel();
        });
      }
    } else if (r < 50 && !pending_.empty()) {
      const std::shared_ptr<Client> c = pending_[rng_() % pending_.size()];
      if (c->parent == Parent::signal)
        on_client(c, [](Client& cl) { cl.signal.emit(asio::cancellation_type::terminal); });
    } else if (r < 60) {
      s_.clock.advance(1ms);
    } else if (r < 68) {
      s_.clock.advance(25ms);  // past call_timeout: wait for the pollers
      return Wait::real_sleep;
    } else if (r < 84) {
      s_.clock.advance(60ms);  // past timeout_duration: open breakers may probe
    } else if (r < 87) {
      s_.breakers[rng_() % 3]->reset();
    } else if (r < 88) {
      s_.breakers[rng_() % 3]->force_open();
    } else {
      return Wait::yield;
    }
    return Wait::none;
  }

  void prune() {
    std::erase_if(pending_, [](const std::shared_ptr<Client>& c) { return c->done.load(); });
  }

  /// One drain pass: open every gate, cancel every signalled call, let every
  /// timeout fire. Returns true once every call has finished.
  bool drain() {
    prune();
    if (s_.finished.load() == s_.spawned.load()) return true;
    for (const std::shared_ptr<Client>& c : pending_) {
      on_client(c, [](Client& cl) {
        if (cl.behaviour == Behaviour::gated) {
          if (!cl.gate_succeeds) cl.gate_succeeds = true;
          cl.gate.cancel();
        }
        if (cl.parent == Parent::signal) cl.signal.emit(asio::cancellation_type::terminal);
      });
    }
    s_.clock.advance(25ms);
    return false;
  }

  /// Some call could not be ended: stop, so that the test reports it instead
  /// of waiting forever (destroying the context destroys the suspended calls).
  void give_up() { ctx_.stop(); }

 private:
  Scenario& s_;
  asio::io_context& ctx_;
  std::mt19937_64 rng_;
  std::vector<std::shared_ptr<Client>> pending_;
};

asio::awaitable<void> drive(Driver& d, std::uint64_t rounds, std::uint64_t per_round) {
  for (std::uint64_t round = 0; round < rounds; ++round) {
    d.spawn_round(per_round);
    co_await yield();
    const int actions = d.actions();
    for (int a = 0; a < actions; ++a) {
      const Driver::Wait wait = d.inject();
      if (wait == Driver::Wait::yield) co_await yield();
      if (wait == Driver::Wait::real_sleep) co_await real_sleep(3ms);
    }
    co_await yield();
    d.prune();
  }
  for (int spin = 0; spin < 20'000; ++spin) {
    if (d.drain()) co_return;
    co_await real_sleep(1ms);
  }
  d.give_up();
}

void run_scenario(unsigned threads, std::uint64_t seed, std::uint64_t rounds,
                  std::uint64_t per_round) {
  Scenario s(threads == 1);
  {
    asio::io_context ctx(static_cast<int>(threads));
    auto driver_executor = threads == 1 ? asio::any_io_executor(ctx.get_executor())
                                        : asio::any_io_executor(asio::make_strand(ctx));
    std::exception_ptr driver_error;
    Driver driver(s, ctx, seed);
    asio::co_spawn(driver_executor, drive(driver, rounds, per_round),
                   [&](std::exception_ptr e) { driver_error = e; });
    std::vector<std::thread> extra;
    for (unsigned t = 1; t < threads; ++t) extra.emplace_back([&ctx] { ctx.run(); });
    ctx.run();
    for (auto& t : extra) t.join();
    if (driver_error) std::rethrow_exception(driver_error);
  }

  INFO("seed " << seed << ", " << threads << " thread(s)");
  REQUIRE(s.finished.load() == s.spawned.load());
  CHECK(s.unexpected_completion.load() == 0);
  CHECK(s.probe_limit_violations == 0);

  std::array<std::uint64_t, result_kinds> overall{};
  for (std::size_t i = 0; i < s.breakers.size(); ++i) {
    Breaker& b = *s.breakers[i];
    INFO("breaker " << b.name());
    auto count = [&](Result r) { return s.tally[i][static_cast<std::size_t>(r)].load(); };
    for (std::size_t k = 0; k < result_kinds; ++k) overall[k] += s.tally[i][k].load();
    CHECK(count(Result::unexpected) == 0);
    CHECK(count(Result::pending) == 0);

    const Stats st = b.stats();
    const bool timeouts_fail = b.config().count_timeout_as_failure;
    CHECK(st.rejected_calls == count(Result::rejected));
    CHECK(st.successful_calls == count(Result::success));
    CHECK(st.failed_calls == count(Result::failure) + (timeouts_fail ? count(Result::timeout) : 0));
    CHECK(st.ignored_calls ==
          count(Result::cancelled) + (timeouts_fail ? 0 : count(Result::timeout)));
    CHECK(st.total_calls ==
          st.successful_calls + st.failed_calls + st.ignored_calls + st.rejected_calls);
    CHECK(b.probes_in_flight() == 0);
    for (State from : all_states) {
      for (State to : all_states) {
        INFO(from << " -> " << to);
        CHECK(
            s.heard[i][static_cast<std::size_t>(from) * 3 + static_cast<std::size_t>(to)].load() ==
            b.transitions(from, to));
      }
    }
    if (s.single_threaded) CHECK(s.max_running_probes[i] <= b.config().half_open_max_requests);
  }
  // The faults were really injected.
  CHECK(overall[static_cast<std::size_t>(Result::rejected)] > 0);
  CHECK(overall[static_cast<std::size_t>(Result::success)] > 0);
  CHECK(overall[static_cast<std::size_t>(Result::failure)] > 0);
  CHECK(overall[static_cast<std::size_t>(Result::timeout)] > 0);
  CHECK(overall[static_cast<std::size_t>(Result::cancelled)] > 0);
  std::uint64_t probing = 0;
  for (auto& b : s.breakers) probing += b->transitions(State::open, State::half_open);
  CHECK(probing > 0);

  std::ostringstream os;
  os << "coroutines (" << threads << " thread(s), seed " << seed << "): " << s.spawned.load()
     << " calls";
  for (Result r :
       {Result::success, Result::failure, Result::timeout, Result::cancelled, Result::rejected})
    os << ", " << overall[static_cast<std::size_t>(r)] << " " << to_string(r);
  std::uint64_t transitions = 0;
  for (auto& b : s.breakers)
    for (State from : all_states)
      for (State to : all_states) transitions += b->transitions(from, to);
  os << ", " << transitions << " transitions";
  if (s.single_threaded) {
    os << ", at most " << s.max_running_probes[0] << " probe(s) running at once (limit "
       << s.breakers[0]->config().half_open_max_requests << ")";
    if (s.max_running_probes[0] == 0) WARN("no probe of the plain breaker ran in this scenario");
  }
  print_figures(os.str());
}

// Runs `make()` on `ctx` until it finishes.
template <class T>
T run_on(asio::io_context& ctx, asio::awaitable<T> a) {
  std::exception_ptr error;
  std::optional<T> value;
  asio::co_spawn(ctx, std::move(a), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value.emplace(std::move(v));
  });
  ctx.restart();
  ctx.run();
  if (error) std::rethrow_exception(error);
  REQUIRE(value.has_value());
  return std::move(*value);
}

CircuitBreakerConfig small_config(std::chrono::milliseconds call_timeout = 0ms,
                                  bool timeouts_fail = true) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(1)
      .success_threshold(1)
      .half_open_max_requests(2)
      .minimum_request_threshold(0)
      .timeout_duration(100ms)
      .call_timeout(call_timeout)
      .count_timeout_as_failure(timeouts_fail)
      .build();
}

// An operation that waits for `gate` (a timer set to expire never), then
// returns 1 when `*verdict` is true, throws OperationError when false, and
// reports a cancellation when unset.
asio::awaitable<int> wait_for(asio::steady_timer& gate, const std::optional<bool>& verdict) {
  co_await gate.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (!verdict) throw std::system_error(asio::error::operation_aborted);
  if (!*verdict) throw OperationError{3};
  co_return 1;
}

// Opens `b` (failure_threshold 1) and moves the clock past its open period.
void open_and_expire(Breaker& b, ManualClock& clock) {
  b.try_acquire().record_failure();
  REQUIRE(b.state() == State::open);
  clock.advance(b.config().timeout_duration);
  REQUIRE(b.state() == State::half_open);
}

}  // namespace

TEST_CASE("thousands of coroutine calls under injected faults keep exact books on one thread",
          "[reliability][concurrency][coroutines][faults]") {
  const std::uint64_t seed = GENERATE(1u, 2u, 3u);
  run_scenario(1, env_u64("BREAKER_CORO_SEED", seed), scaled(400, 1, 2), 25);
}

TEST_CASE("coroutine calls on a multi-threaded io_context keep exact books",
          "[reliability][concurrency][coroutines][faults][threads]") {
  const unsigned threads = GENERATE(2u, 4u);
  run_scenario(threads, env_u64("BREAKER_CORO_SEED", 11) + threads, scaled(300, 1, 2), 25);
}

TEST_CASE("an operation's exception reaches the caller unchanged, with and without call_timeout",
          "[reliability][coroutines][faults]") {
  const auto call_timeout = GENERATE(0ms, 50ms);
  INFO("call_timeout " << call_timeout.count() << " ms");
  ManualClock clock;
  Breaker b("throws", small_config(call_timeout), clock);
  b.update_config(breaker::CircuitBreakerConfigBuilder(b.config()).failure_threshold(10).build());
  asio::io_context ctx;

  struct Custom : std::runtime_error {
    Custom() : std::runtime_error("custom") {}
    int payload = 1234;
  };
  const int caught = run_on(ctx, [&]() -> asio::awaitable<int> {
    int seen = 0;
    try {
      co_await b.call([]() -> asio::awaitable<int> {
        throw Custom{};
        co_return 0;
      });
    } catch (const Custom& e) {
      seen += e.payload;
    }
    try {
      co_await b.call([]() -> asio::awaitable<void> {
        throw 7;  // not even an exception class
        co_return;
      });
    } catch (int v) {
      seen += v;
    }
    try {
      co_await b.call([]() -> asio::awaitable<int> {
        throw std::system_error(std::make_error_code(std::errc::connection_refused));
        co_return 0;
      });
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::connection_refused) seen += 1;
    }
    co_return seen;
  }());
  CHECK(caught == 1234 + 7 + 1);
  CHECK(b.stats().failed_calls == 3);
  CHECK(b.stats().consecutive_failures == 3);
  CHECK(b.probes_in_flight() == 0);
}

TEST_CASE(
    "an operation hanging past call_timeout times out, is cancelled and returns its probe slot",
    "[reliability][coroutines][faults][timeout]") {
  const bool timeouts_fail = GENERATE(true, false);
  INFO("count_timeout_as_failure " << timeouts_fail);
  ManualClock clock;
  Breaker b("hangs", small_config(30ms, timeouts_fail), clock);
  open_and_expire(b, clock);
  asio::io_context ctx;

  asio::steady_timer gate(ctx, asio::steady_timer::time_point::max());
  std::optional<bool> verdict;  // never set: the operation hangs
  bool timed_out = false;
  bool cancelled_inside = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        try {
          co_await b.call([&]() -> asio::awaitable<int> {
            try {
              co_return co_await wait_for(gate, verdict);
            } catch (const std::system_error&) {
              cancelled_inside = true;  // the breaker cancelled the operation
              throw;
            }
          });
        } catch (const CircuitBreakerError& e) {
          timed_out = e.code() == make_error_code(errc::timeout) && e.breaker_name() == "hangs";
        }
      },
      asio::detached);
  // Let the probe start, then move the manual clock past call_timeout; the
  // deadline poller notices within a millisecond of real time.
  for (int i = 0; i < 5; ++i) ctx.poll();
  CHECK(b.probes_in_flight() == 1);
  clock.advance(31ms);
  for (int spin = 0; spin < 10'000 && !timed_out; ++spin) ctx.run_one_for(5ms);
  ctx.run();

  CHECK(timed_out);
  CHECK(cancelled_inside);
  CHECK(b.probes_in_flight() == 0);
  const Stats s = b.stats();
  if (timeouts_fail) {
    CHECK(s.failed_calls == 2);  // the opening failure and the timeout
    CHECK(b.state() == State::open);
  } else {
    CHECK(s.ignored_calls == 1);
    CHECK(b.state() == State::half_open);  // a timeout that does not count changes nothing
    CHECK(b.try_acquire());                // and the slot is free again
  }
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
}

TEST_CASE("a probe cancelled by its parent is ignored, returns its slot and skips the fallback",
          "[reliability][coroutines][faults][cancellation]") {
  const bool with_timeout = GENERATE(false, true);
  const bool via_signal = GENERATE(false, true);
  const bool with_fallback = GENERATE(false, true);
  INFO("call_timeout " << with_timeout << ", signal " << via_signal << ", fallback "
                       << with_fallback);
  ManualClock clock;
  Breaker b("cancelled", small_config(with_timeout ? 1000ms : 0ms), clock);
  open_and_expire(b, clock);
  asio::io_context ctx;
  asio::steady_timer gate(ctx, asio::steady_timer::time_point::max());
  std::optional<bool> verdict;
  bool fallback_ran = false;
  bool finished = false;
  asio::cancellation_signal signal;

  auto the_call = [&]() -> asio::awaitable<void> {
    try {
      auto op = [&] { return wait_for(gate, verdict); };
      if (with_fallback) {
        co_await b.call_with_fallback(op, [&] {
          fallback_ran = true;
          return 0;
        });
      } else {
        co_await b.call(op);
      }
    } catch (const std::system_error& e) {
      CHECK(e.code() == asio::error::operation_aborted);
    }
    finished = true;
  };
  if (via_signal) {
    asio::co_spawn(ctx, the_call(), asio::bind_cancellation_slot(signal.slot(), asio::detached));
    for (int i = 0; i < 5; ++i) ctx.poll();
    REQUIRE(b.probes_in_flight() == 1);
    signal.emit(asio::cancellation_type::terminal);
  } else {
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer parent_timer(ctx, 0ms);
          co_await (the_call() || parent_timer.async_wait(asio::use_awaitable));
        },
        asio::detached);
  }
  for (int spin = 0; spin < 10'000 && !finished; ++spin) ctx.run_one_for(5ms);
  ctx.run();

  CHECK(finished);
  CHECK_FALSE(fallback_ran);
  CHECK(b.probes_in_flight() == 0);
  CHECK(b.stats().ignored_calls == 1);
  CHECK(b.state() == State::half_open);
  CHECK(b.transitions(State::half_open, State::open) == 0);
}

TEST_CASE("outcomes completing after the breaker moved on change only the totals",
          "[reliability][coroutines][faults][stale]") {
  ManualClock clock;
  Breaker b("moved on", small_config(), clock);
  std::uint64_t transitions_heard = 0;
  b.on_state_change([&](const breaker::StateTransition&) { ++transitions_heard; });
  asio::io_context ctx;
  asio::steady_timer gate(ctx, asio::steady_timer::time_point::max());
  std::optional<bool> verdict;
  int outcomes = 0;
  auto spawn_calls = [&](int n) {
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          ctx,
          [&]() -> asio::awaitable<void> {
            try {
              co_await b.call([&] { return wait_for(gate, verdict); });
            } catch (const OperationError&) {
            }
            ++outcomes;
          },
          asio::detached);
    }
    for (int i = 0; i < 5; ++i) ctx.poll();
  };
  auto release = [&](bool succeed) {
    verdict = succeed;
    gate.cancel();
    ctx.run();
    ctx.restart();
    gate.expires_at(asio::steady_timer::time_point::max());
    verdict.reset();
  };

  SECTION("closed calls failing after reset() do not open it") {
    b.try_acquire().record_success();  // something to clear, so reset() starts an epoch (issue 8)
    spawn_calls(20);
    b.reset();
    const std::uint64_t before = transitions_heard;
    release(false);
    CHECK(outcomes == 20);
    CHECK(b.state() == State::closed);
    CHECK(b.stats().consecutive_failures == 0);
    CHECK(b.stats().failed_calls == 20);
    CHECK(b.stats().successful_calls == 1);
    CHECK(transitions_heard == before);
  }
  SECTION("closed calls finishing after force_open() do not close or reopen it") {
    spawn_calls(10);
    b.force_open();
    const std::uint64_t before = transitions_heard;
    release(true);
    CHECK(b.state() == State::open);
    clock.advance(1h);
    CHECK(b.state() == State::open);  // forced: stays open
    CHECK(transitions_heard == before);
    CHECK(b.stats().successful_calls == 10);
  }
  SECTION("probes of an earlier half-open episode succeeding late do not close the next one") {
    open_and_expire(b, clock);
    spawn_calls(2);  // two probes (the limit) waiting at the gate
    REQUIRE(b.probes_in_flight() == 2);
    CHECK_FALSE(b.try_acquire());
    // The breaker moves on: reset, opens again and its open period ends.
    b.reset();
    open_and_expire(b, clock);
    // Issue 8, rule 7: the old probes hold no slot of the new episode.
    auto probe = b.try_acquire();
    REQUIRE(probe);
    CHECK(b.state() == State::half_open);
    CHECK(b.probes_in_flight() == 1);
    const std::uint64_t before = transitions_heard;
    release(true);  // stale successes (success_threshold 1 would close it)
    CHECK(b.state() == State::half_open);
    CHECK(b.stats().consecutive_successes == 0);
    CHECK(b.probes_in_flight() == 1);  // they returned nothing to this episode
    CHECK(transitions_heard == before);
    probe.record_success();
    CHECK(b.state() == State::closed);
  }
  SECTION("closed calls failing after the breaker opened, probed and closed again are stale") {
    spawn_calls(5);
    open_and_expire(b, clock);
    b.try_acquire().record_success();  // closes again (success_threshold 1)
    REQUIRE(b.state() == State::closed);
    const std::uint64_t before = transitions_heard;
    release(false);
    CHECK(b.state() == State::closed);
    CHECK(transitions_heard == before);
    CHECK(b.stats().failed_calls == 1 + 5);
  }
  const Stats s = b.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(b.probes_in_flight() == 0);
}

TEST_CASE("destroying the io_context under a suspended call releases its permit as ignored",
          "[reliability][coroutines][faults][lifetime]") {
  const bool with_timeout = GENERATE(false, true);
  ManualClock clock;
  Breaker b("destroyed", small_config(with_timeout ? 1000ms : 0ms), clock);
  open_and_expire(b, clock);
  {
    asio::io_context ctx;
    auto gate = std::make_shared<asio::steady_timer>(ctx, asio::steady_timer::time_point::max());
    auto verdict = std::make_shared<std::optional<bool>>();
    for (int i = 0; i < 2; ++i) {
      asio::co_spawn(
          ctx,
          [&b, gate, verdict]() -> asio::awaitable<void> {
            auto op = [gate, verdict] { return wait_for(*gate, *verdict); };
            co_await b.call(op);
          },
          asio::detached);
    }
    for (int i = 0; i < 5; ++i) ctx.poll();
    REQUIRE(b.probes_in_flight() == 2);
  }  // ~io_context destroys the suspended frames
  CHECK(b.probes_in_flight() == 0);
  CHECK(b.stats().ignored_calls == 2);
  CHECK(b.state() == State::half_open);
  CHECK(b.try_acquire());
}
