// SPDX-License-Identifier: Apache-2.0
// The call paths allocate nothing: this executable replaces the global
// operator new/delete with versions that count, per thread, and checks that
// the closed-state call, try_acquire + record and the rejection while open
// make no allocation, with record_call_durations on and off. Not timing-based.
#include "breaker/breaker.hpp"
#include "alloc_counter.hpp"  // replaces the global operator new/delete

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>


using breaker::CircuitBreaker;
using breaker::CircuitBreakerConfig;
using breaker::State;
using breaker::testing::ManualClock;
using namespace std::chrono_literals;

namespace {

constexpr int repeats = 1000;

/// Allocations made by the calling thread while `f()` runs.
template <class F>
std::uint64_t allocations_during(F&& f) {
  const std::uint64_t before = breaker::test::thread_allocations();
  f();
  return breaker::test::thread_allocations() - before;
}

CircuitBreakerConfig closed_config(bool record_durations) {
  return CircuitBreakerConfig::builder()
      .minimum_request_threshold(0)
      .record_call_durations(record_durations)
      .build();
}

// Opens on one failure and stays open for an hour.
CircuitBreakerConfig open_config(bool record_durations) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(1)
      .minimum_request_threshold(0)
      .timeout_duration(1h)
      .record_call_durations(record_durations)
      .build();
}

// Not inlinable into the test: a real call, as an application makes.
int operation() {
  volatile int value = 42;
  return value;
}

}  // namespace

TEST_CASE("the counting operator new sees allocations", "[allocations]") {
  // Guards the other tests against passing vacuously. The pointer escapes: without that the
  // optimiser (Release, RelWithDebInfo) removes the new/delete pair and nothing is counted.
  const auto counted = allocations_during([] {
    auto p = std::make_unique<int>(7);
    breaker::test::escape(p.get());
  });
  CHECK(counted == 1);
}

TEST_CASE("execute on a closed breaker allocates nothing", "[allocations][closed]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  CircuitBreaker<> cb("alloc-closed", closed_config(durations));
  const auto counted = allocations_during([&] {
    for (int i = 0; i < repeats; ++i) CHECK(cb.execute(operation) == 42);
  });
  CHECK(counted == 0);
  CHECK(cb.stats().successful_calls == repeats);
  CHECK(cb.call_durations().count == (durations ? repeats : 0));
}

TEST_CASE("try_acquire and record on a closed breaker allocate nothing", "[allocations][closed]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  CircuitBreaker<> cb("alloc-permit", CircuitBreakerConfig::builder()
                                          .failure_threshold(CircuitBreakerConfig::max_count)
                                          .minimum_request_threshold(0)
                                          .record_call_durations(durations)
                                          .build());
  const auto counted = allocations_during([&] {
    for (int i = 0; i < repeats; ++i) {
      auto success = cb.try_acquire();
      REQUIRE(success);
      success.record_success();
      auto failure = cb.try_acquire();  // a closed failure that does not open the breaker
      REQUIRE(failure);
      failure.record_failure();
      auto ignored = cb.try_acquire();
      REQUIRE(ignored);
      ignored.record_ignored();
      auto dropped = cb.try_acquire();  // destroyed without a record: ignored
      REQUIRE(dropped);
    }
  });
  CHECK(counted == 0);
  CHECK(cb.state() == State::closed);
  CHECK(cb.stats().successful_calls == repeats);
  CHECK(cb.stats().failed_calls == repeats);
  CHECK(cb.stats().ignored_calls == 2 * repeats);
}

TEST_CASE("rejection while open allocates nothing on the non-throwing paths",
          "[allocations][open]") {
  const bool durations = GENERATE(false, true);
  CAPTURE(durations);
  CircuitBreaker<> cb("alloc-open", open_config(durations));
  cb.try_acquire().record_failure();
  REQUIRE(cb.state() == State::open);

  SECTION("try_acquire returns an empty permit") {
    const auto counted = allocations_during([&] {
      for (int i = 0; i < repeats; ++i) {
        auto permit = cb.try_acquire();
        CHECK_FALSE(permit);
        permit.record_success();  // no effect on an empty permit
      }
    });
    CHECK(counted == 0);
  }
  SECTION("execute_with_fallback returns the fallback's value") {
    const auto counted = allocations_during([&] {
      for (int i = 0; i < repeats; ++i) {
        CHECK(cb.execute_with_fallback(operation, [] { return -1; }) == -1);
      }
    });
    CHECK(counted == 0);
  }
  CHECK(cb.state() == State::open);
  CHECK(cb.stats().rejected_calls == repeats);
}

TEST_CASE("a throwing rejection allocates at most twice", "[allocations][open]") {
  // Short name: only the what() text is allocated. A name longer than the
  // small-string buffer is one more. The exception object itself comes from
  // the C++ runtime (__cxa_allocate_exception), not operator new.
  const std::string name = GENERATE(std::string("alloc-open"),
                                    std::string("a-breaker-name-longer-than-sso"));
  CAPTURE(name);
  CircuitBreaker<> cb(name, open_config(false));
  cb.try_acquire().record_failure();
  REQUIRE(cb.state() == State::open);
  auto reject = [&] {
    try {
      (void)cb.execute(operation);
      FAIL("not rejected");
    } catch (const breaker::CircuitBreakerError& e) {
      CHECK(e.error() == breaker::errc::open);
    }
  };
  reject();  // the first one builds the per-code prototype once
  const auto counted = allocations_during([&] {
    for (int i = 0; i < repeats; ++i) reject();
  });
  CHECK(counted <= 2u * repeats);
  CHECK(counted == (name.size() > 15 ? 2u : 1u) * repeats);
}

TEST_CASE("CircuitBreakerError composes what() as std::system_error would", "[errors]") {
  const breaker::CircuitBreakerError e(breaker::errc::open, "payments", "call rejected");
  CHECK(std::string(e.what()) == "circuit breaker 'payments': call rejected: circuit breaker is open");
  CHECK(e.code() == breaker::errc::open);
  CHECK(e.breaker_name() == "payments");
  const breaker::CircuitBreakerError copy = e;
  CHECK(std::string(copy.what()) == e.what());
  CHECK(copy.code() == e.code());
  const breaker::CircuitBreakerError bare(breaker::errc::timeout, "");
  CHECK(std::string(bare.what()) == ": operation timed out");
  const breaker::CircuitBreakerError config(breaker::errc::invalid_config, "", "x must be 1");
  CHECK(std::string(config.what()) == "x must be 1: invalid circuit breaker configuration");
  const std::system_error& base = e;
  CHECK(std::string(base.what()) == e.what());  // virtual: the same text through the base
}

TEST_CASE("transitions without listeners allocate nothing", "[allocations][transitions]") {
  ManualClock clock;
  CircuitBreaker<ManualClock> cb("alloc-transitions",
                                 CircuitBreakerConfig::builder()
                                     .failure_threshold(1)
                                     .success_threshold(1)
                                     .half_open_max_requests(1)
                                     .minimum_request_threshold(0)
                                     .timeout_duration(1s)
                                     .build(),
                                 clock);
  const auto counted = allocations_during([&] {
    for (int i = 0; i < repeats; ++i) {
      cb.try_acquire().record_failure();  // closed -> open
      clock.advance(1s);
      cb.try_acquire().record_success();  // open -> half-open (probe) -> closed
      cb.force_open();
      cb.reset();
    }
  });
  CHECK(counted == 0);
  CHECK(cb.transitions(State::half_open, State::closed) == repeats);
}

TEST_CASE("the first call on a new thread allocates nothing", "[allocations][threads]") {
  CircuitBreaker<> cb("alloc-thread", closed_config(false));
  std::uint64_t counted = ~std::uint64_t{0};
  // Counted inside the thread: the thread's own first count claims its slot.
  std::thread([&] { counted = allocations_during([&] { cb.execute(operation); }); }).join();
  CHECK(counted == 0);
  CHECK(cb.stats().successful_calls == 1);
}

TEST_CASE("the issue-12 states, open_for, backoff, jitter and half-open rules allocate nothing",
          "[allocations][issue12]") {
  ManualClock clock;
  CircuitBreaker<ManualClock> cb("alloc-issue12",
                                 CircuitBreakerConfig::builder()
                                     .failure_threshold(1)
                                     .half_open_max_requests(2)
                                     .minimum_request_threshold(0)
                                     .timeout_duration(1s)
                                     .open_duration_policy(breaker::OpenDurationPolicy::exponential_backoff)
                                     .max_open_duration(10s)
                                     .open_duration_jitter(breaker::Jitter::proportional)
                                     .max_wait_in_half_open(5ms)
                                     .half_open_close(breaker::HalfOpenClose::success_ratio)
                                     .half_open_success_ratio(50)
                                     .build(),
                                 clock);
  const auto counted = allocations_during([&] {
    for (int i = 0; i < repeats; ++i) {
      cb.try_acquire().record_failure();  // closed -> open (backed off, jittered)
      clock.advance(20s);
      auto probe = cb.try_acquire();       // half-open, with a maximum wait
      clock.advance(5ms);
      (void)cb.try_acquire();              // the wait has passed: open again (rejected)
      probe.record_success();              // stale
      cb.open_for(1ms);
      clock.advance(1ms);
      cb.try_acquire().record_success();   // ratio episode: 1 of 2 at 50 % closes
      cb.disable();
      cb.try_acquire().record_failure();
      cb.metrics_only();
      cb.try_acquire().record_failure();
      cb.reset();
    }
  });
  CHECK(counted == 0);
  CHECK(cb.transitions(State::half_open, State::closed) == repeats);
  CHECK(cb.transitions(State::half_open, State::open) == repeats);
}
