// SPDX-License-Identifier: Apache-2.0
//
// The count-based sliding window (include/breaker/detail/count_window.hpp, the
// very code the library ships, instantiated on rl::atomic) under Relacy:
// every interleaving of its records and snapshots and every value the C++
// memory model lets each load return, with the clean-window fast path (a
// success into a full window without failures is skipped; see the header).
//
// Invariants:
//  - at every write of any window atomic: while the clean flag is set for the
//    epoch (the latest value of the clean word in its modification order),
//    every ring entry (its latest value) is present, of that epoch, and
//    neither a failure nor a slow call ("the flag never set while a failure is
//    in the window");
//  - every snapshot (`counts`) a thread takes while records run: the window
//    is full from the start, so calls == N; failures within [0, failures
//    recorded so far]; no slow call; and a trip decision on it
//    (`decide_rates`) says failure_rate only when a failure was recorded
//    ("a trip decision never sees a torn count");
//  - at the end (all threads joined): the counts are exact (calls, failures,
//    slow calls equal the ring's entries), and a set flag means a clean ring.
// (What the ring holds under a lap race, two records a full lap apart on one
// entry, is the later CAS's entry: counts match the ring exactly, but with N
// smaller than the threads the ring is not always the last N outcomes of one
// linearization; count_window.hpp says so. The scenarios check exactness
// against the ring.)
//
//   breaker_relacy_windows                      every scenario
//   breaker_relacy_windows NAME...              only those
//   breaker_relacy_windows --expect-failure NAME
//       exit 0 only when Relacy REPORTS a violated assertion in NAME (the
//       ctests of the broken variants in tests/relacy/CMakeLists.txt build
//       this file against a patched copy of count_window.hpp).

#include "breaker/detail/count_window.hpp"
#include "breaker/detail/window_counts.hpp"

// Every standard header before relacy.hpp (it defines new, delete and the
// memory_order_x names as macros).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"  // includes relacy.hpp

namespace breaker::relacy_windows {

using relacy_harness::to_rl;

// Called after every write of a window atomic (the per-step invariant).
inline void (*on_write)(void*) = nullptr;
inline void* on_write_context = nullptr;

struct WindowWrites {
  static void wrote() {
    if (on_write != nullptr) on_write(on_write_context);
  }
};

/// The window's `Atom`: an rl::atomic with the latest value of its modification order as a
/// ghost, calling `on_write` after every write (relacy_harness::TrackedAtom).
template <class T>
class WinAtom : public relacy_harness::TrackedAtom<T, WindowWrites> {
 public:
  using relacy_harness::TrackedAtom<T, WindowWrites>::TrackedAtom;
};

}  // namespace breaker::relacy_windows

// The window's fences, as Relacy fences.
template <>
struct breaker::detail::AtomicFence<breaker::relacy_windows::WinAtom> {
  static void fence(std::memory_order mo) noexcept {
    rl::atomic_thread_fence(breaker::relacy_windows::to_rl(mo), $);
  }
};

namespace breaker::relacy_windows {
namespace {

// One exclusive slot per thread and the overflow slot (unused): few slots keep
// each snapshot short (it reads every slot).
template <rl::thread_id_t Threads>
using Window = detail::BasicCountWindow<WinAtom, Threads + 1>;
constexpr std::uint32_t epoch = 5;

template <class Derived, rl::thread_id_t Threads>
struct WindowScenario : rl::test_suite<Derived, Threads> {
  using Window = relacy_windows::Window<Threads>;
  const std::uint32_t n;
  Window window;
  unsigned failures_recorded = 0;  // ghost: failure records started
  detail::RateRules rules{50.0, 101.0, 1};

  explicit WindowScenario(std::uint32_t size) : n(size), window(size) {}

  // Fills the window with successes (before the threads): n + 1 records, so
  // that one lands on ring position 0 with the window full: the flag is set.
  // One from each thread's slot first (so the threads' first records do not
  // start their slots: fewer steps to explore).
  void before() {
    for (unsigned s = 1; s < Threads; ++s) window.record(s, epoch, false, false);
    for (std::uint32_t i = Threads - 1; i <= n; ++i) window.record(0, epoch, false, false);
    RL_ASSERT(Window::clean_word_set_for(window.clean_word(), epoch));
    RL_ASSERT(window.counts(epoch) == (detail::WindowCounts{n, 0, 0}));
    on_write_context = this;
    on_write = [](void* self) { static_cast<WindowScenario*>(self)->check_step(); };
  }

  // The flag never set while the ring holds anything but successes of the epoch.
  void check_step() const {
    if (!Window::clean_word_set_for(window.clean_atomic().latest(), epoch)) return;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t e = window.ring_atomic(i).latest();
      RL_ASSERT(Window::entry_present(e));
      RL_ASSERT(Window::entry_epoch(e) == epoch);
      RL_ASSERT(!Window::entry_failure(e));
      RL_ASSERT(!Window::entry_slow(e));
    }
  }

  void success(unsigned slot) { window.record(slot, epoch, false, false); }
  void failure(unsigned slot) {
    ++failures_recorded;
    window.record(slot, epoch, true, false);
  }
  // A snapshot and the trip decision on it, while records run.
  void snapshot() {
    const unsigned before_failures = failures_recorded;
    const detail::WindowCounts c = window.counts(epoch);
    RL_ASSERT(c.calls == n);
    RL_ASSERT(c.slow == 0);
    RL_ASSERT(c.failures <= failures_recorded);
    const detail::RateVerdict v = detail::decide_rates(c, rules);
    RL_ASSERT(v != detail::RateVerdict::slow_call_rate);
    if (v == detail::RateVerdict::failure_rate) RL_ASSERT(failures_recorded > 0);
    (void)before_failures;
  }

  void after() {
    on_write = nullptr;
    detail::WindowCounts ring;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t e = window.entry_at(i);
      if (!Window::entry_present(e) || Window::entry_epoch(e) != epoch) continue;
      ++ring.calls;
      if (Window::entry_failure(e)) ++ring.failures;
      if (Window::entry_slow(e)) ++ring.slow;
    }
    RL_ASSERT(ring.calls == n);
    RL_ASSERT(window.counts(epoch) == ring);
    if (Window::clean_word_set_for(window.clean_word(), epoch)) RL_ASSERT(ring.failures == 0);
    RL_ASSERT(Window::clean_word_in_flight(window.clean_word()) == 0);
  }
};

// Two threads, a window of 2: a failure and successes against successes and
// a snapshot. The failure clears the flag; a later record that evicts it
// (or lands on position 0) sets it again, racing the other thread.
struct Window2 : WindowScenario<Window2, 2> {
  Window2() : WindowScenario(2) {}
  void thread(unsigned index) {
    if (index == 0) {
      failure(0);
      success(0);
      success(0);
    } else {
      success(1);
      snapshot();
      success(1);
    }
  }
};

// Two failures from two threads, successes between them, a window of 2.
struct Window2Failures : WindowScenario<Window2Failures, 2> {
  Window2Failures() : WindowScenario(2) {}
  void thread(unsigned index) {
    if (index == 0) {
      failure(0);
      success(0);
    } else {
      success(1);
      failure(1);
      snapshot();
    }
  }
};

// Three threads, a window of 3.
struct Window3 : WindowScenario<Window3, 3> {
  Window3() : WindowScenario(3) {}
  void thread(unsigned index) {
    if (index == 0) {
      failure(0);
      success(0);
      success(0);
    } else if (index == 1) {
      success(1);
      success(1);
      snapshot();
    } else {
      success(2);
      failure(2);
      success(2);
    }
  }
};

using relacy_harness::Run;
using relacy_harness::run;

std::vector<Run> runs() {
  return {
      run<"window_2t", Window2>(
          "2 threads, window of 2: a failure, successes, a snapshot, the clean flag",
          rl::sched_random, 500000, 0),
      run<"window_2t_failures", Window2Failures>(
          "2 threads, window of 2: a failure each, successes, a snapshot", rl::sched_random, 500000,
          0),
      run<"window_3t", Window3>("3 threads, window of 3: two failures, successes, a snapshot",
                                rl::sched_random, 500000, 0),
  };
}

}  // namespace
}  // namespace breaker::relacy_windows

int main(int argc, char** argv) {
  return breaker::relacy_harness::run_main(argc, argv, breaker::relacy_windows::runs());
}
