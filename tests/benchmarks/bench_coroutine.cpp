// SPDX-License-Identifier: Apache-2.0
// Coroutine cases, each on one asio::io_context run by the benchmark thread:
// the floor (co_await op() and a pass-through wrapper coroutine), call and
// call_with_fallback, and the throughput of 10, 100 and 1000 concurrent
// coroutines.

#include "common.hpp"

#include <breaker/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdint>
#include <exception>
#include <string>

namespace breaker::bench {
namespace {

using Breaker = CircuitBreaker<>;

/// The operation as `call` takes it: a callable returning an awaitable.
struct CoroOp {
  asio::awaitable<int> operator()() const { return coro_operation(); }
};

/// The structural floor of any awaitable wrapper: one extra coroutine frame
/// that only forwards `co_await op()` (it takes `op` by value, like `call`).
template <class Op>
asio::awaitable<int> pass_through(Op op) {
  co_return co_await op();
}

/// Runs `body(state)` (a coroutine running the timed loop) to completion on a
/// fresh io_context; an escaped exception skips the benchmark with its message.
template <class Body>
void run_on_io_context(benchmark::State& state, Body body) {
  asio::io_context ctx(1);
  std::exception_ptr error;
  asio::co_spawn(ctx, body(state), [&](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
    }
  }
}

asio::awaitable<void> direct_loop(benchmark::State& state) {
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(co_await coro_operation());
  meter.finish();
}

asio::awaitable<void> pass_through_loop(benchmark::State& state) {
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(co_await pass_through(CoroOp{}));
  meter.finish();
}

asio::awaitable<void> call_loop(benchmark::State& state, Breaker& b) {
  AllocationMeter meter(state);
  for (auto _ : state) benchmark::DoNotOptimize(co_await b.call(CoroOp{}));
  meter.finish();
}

asio::awaitable<void> call_open_throwing_loop(benchmark::State& state, Breaker& b) {
  AllocationMeter meter(state);
  for (auto _ : state) {
    try {
      benchmark::DoNotOptimize(co_await b.call(CoroOp{}));
    } catch (const CircuitBreakerError& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
  meter.finish();
}

asio::awaitable<void> call_with_fallback_loop(benchmark::State& state, Breaker& b) {
  AllocationMeter meter(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(co_await b.call_with_fallback(CoroOp{}, fallback_operation));
  }
  meter.finish();
}

Breaker& closed_breaker(bool durations) {
  static Breaker plain("bench-coro-closed", closed_config(false));
  static Breaker defaults("bench-coro-default", default_config());
  return durations ? defaults : plain;
}

Breaker& every_call_breaker() {
  static Breaker b("bench-coro-every-call", every_call_config());
  return b;
}

Breaker& open_breaker() {
  static Breaker b("bench-coro-open", open_config());
  trip_open(b);
  return b;
}

// --- Throughput: N coroutines at once, each making calls_per_coroutine calls
// of an operation that yields once, so all N interleave on the io_context.
constexpr int calls_per_coroutine = 10;

asio::awaitable<void> worker(Breaker* b) {
  for (int i = 0; i < calls_per_coroutine; ++i) {
    if (b != nullptr) {
      benchmark::DoNotOptimize(co_await b->call(yielding_coro_operation));
    } else {
      benchmark::DoNotOptimize(co_await yielding_coro_operation());
    }
  }
}

void throughput(benchmark::State& state, Breaker* b) {
  const auto coroutines = static_cast<int>(state.range(0));
  asio::io_context ctx(1);
  AllocationMeter meter(state);
  for (auto _ : state) {
    for (int i = 0; i < coroutines; ++i) asio::co_spawn(ctx, worker(b), asio::detached);
    ctx.run();
    ctx.restart();
  }
  meter.finish();
  state.SetItemsProcessed(state.iterations() * coroutines * calls_per_coroutine);
  state.counters["calls_per_iter"] = static_cast<double>(coroutines * calls_per_coroutine);
}

}  // namespace

void register_coroutine_benchmarks() {
  common(benchmark::RegisterBenchmark(
      "coro/floor/co_await_op", [](benchmark::State& s) { run_on_io_context(s, direct_loop); }));
  common(benchmark::RegisterBenchmark("coro/floor/pass_through_wrapper", [](benchmark::State& s) {
    run_on_io_context(s, pass_through_loop);
  }));
  common(benchmark::RegisterBenchmark("coro/call_closed/default", [](benchmark::State& s) {
    run_on_io_context(s, [](benchmark::State& st) { return call_loop(st, closed_breaker(true)); });
  }));
  common(benchmark::RegisterBenchmark("coro/call_closed", [](benchmark::State& s) {
    run_on_io_context(s, [](benchmark::State& st) { return call_loop(st, closed_breaker(false)); });
  }));
  common(benchmark::RegisterBenchmark("coro/call_closed/every_call", [](benchmark::State& s) {
    run_on_io_context(s, [](benchmark::State& st) { return call_loop(st, every_call_breaker()); });
  }));
  common(benchmark::RegisterBenchmark("coro/call_with_fallback_open", [](benchmark::State& s) {
    run_on_io_context(
        s, [](benchmark::State& st) { return call_with_fallback_loop(st, open_breaker()); });
  }));
  common(benchmark::RegisterBenchmark("coro/call_open_throwing", [](benchmark::State& s) {
    run_on_io_context(
        s, [](benchmark::State& st) { return call_open_throwing_loop(st, open_breaker()); });
  }));
  for (const char* variant : {"bare", "call"}) {
    const bool with_breaker = std::string(variant) == "call";
    common(benchmark::RegisterBenchmark((std::string("coro/throughput/") + variant).c_str(),
                                        [with_breaker](benchmark::State& s) {
                                          throughput(
                                              s, with_breaker ? &closed_breaker(false) : nullptr);
                                        }))
        ->Arg(10)
        ->Arg(100)
        ->Arg(1000)
        ->UseRealTime();
  }
}

}  // namespace breaker::bench
