// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// What every Relacy executable of tests/relacy shares: the memory-order mapping of the `Atom`
/// adapters, the table of scenarios (`Run`), running one scenario with its report in a file, and
/// the command line (`run_main`). Include it after the breaker headers under test: it includes
/// relacy.hpp, whose macros must not reach them.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <relacy/relacy.hpp>

namespace breaker::relacy_harness {

// (Spelled std::memory_order::x: relacy.hpp defines macros named
// memory_order_x. The protocol headers above were read before them.)
constexpr rl::memory_order to_rl(std::memory_order mo) noexcept {
  switch (mo) {
    case std::memory_order::relaxed:
      return rl::mo_relaxed;
    case std::memory_order::consume:
      return rl::mo_consume;
    case std::memory_order::acquire:
      return rl::mo_acquire;
    case std::memory_order::release:
      return rl::mo_release;
    case std::memory_order::acq_rel:
      return rl::mo_acq_rel;
    case std::memory_order::seq_cst:
      break;
  }
  return rl::mo_seq_cst;
}

/// rl::atomic<T> with std::atomic<T>'s spelling (the `Atom` of the headers under test); not
/// copyable (rl::atomic is not). A default-constructed one holds T{}, as a value-initialised
/// std::atomic.
template <class T>
class RlAtom {
 public:
  RlAtom() : a_(T{}) {}
  RlAtom(T initial) : a_(initial) {}  // NOLINT: the headers brace-initialise

  T load(std::memory_order mo) const { return a_.load(to_rl(mo), $); }
  void store(T v, std::memory_order mo) { a_.store(v, to_rl(mo), $); }
  T exchange(T v, std::memory_order mo) { return a_.exchange(v, to_rl(mo), $); }
  T fetch_add(T v, std::memory_order mo) { return a_.fetch_add(v, to_rl(mo), $); }
  T fetch_and(T v, std::memory_order mo) { return a_.fetch_and(v, to_rl(mo), $); }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure) {
    return a_.compare_exchange_weak(expected, desired, to_rl(success), $, to_rl(failure), $);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure) {
    return a_.compare_exchange_strong(expected, desired, to_rl(success), $, to_rl(failure), $);
  }

 private:
  rl::atomic<T> a_;
};

/// RlAtom plus a ghost: the latest value in the atomic's modification order (Relacy runs the
/// threads as fibers and orders every atomic's writes as it executes them, so the last value
/// written is the last in modification order). After every write it calls `Hook::wrote()` (a
/// scenario's per-step invariant).
template <class T, class Hook>
class TrackedAtom {
 public:
  TrackedAtom() : a_(T{}), latest_(T{}) {}
  TrackedAtom(T initial) : a_(initial), latest_(initial) {}  // NOLINT: brace-initialised members

  T load(std::memory_order mo) const { return a_.load(mo); }
  void store(T v, std::memory_order mo) {
    a_.store(v, mo);
    wrote(v);
  }
  T exchange(T v, std::memory_order mo) {
    const T old = a_.exchange(v, mo);
    wrote(v);
    return old;
  }
  T fetch_add(T v, std::memory_order mo) {
    const T old = a_.fetch_add(v, mo);
    wrote(static_cast<T>(old + v));
    return old;
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure) {
    const bool ok = a_.compare_exchange_weak(expected, desired, success, failure);
    if (ok) wrote(desired);
    return ok;
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure) {
    const bool ok = a_.compare_exchange_strong(expected, desired, success, failure);
    if (ok) wrote(desired);
    return ok;
  }

  /// The ghost: the latest value written (no atomic operation).
  T latest() const { return latest_; }

 private:
  void wrote(T v) {
    latest_ = v;
    Hook::wrote();
  }
  RlAtom<T> a_;
  T latest_;
};

/// rl::mutex with std::mutex's spelling (for std::lock_guard).
class RlMutex {
 public:
  void lock() { m_.lock($); }
  void unlock() { m_.unlock($); }

 private:
  rl::mutex m_;
};

/// One scenario: its name, what it runs, and how Relacy explores it.
struct Run {
  const char* name;
  const char* what;
  rl::scheduler_type_e scheduler;
  rl::iteration_t iterations;  // sched_random only
  unsigned bound;              // sched_bound only: preemptions per execution
  std::function<bool(rl::test_params&)> simulate;
};

/// A scenario's name as a template argument (`run<"expiry", Expiry>(...)`).
template <std::size_t N>
struct ScenarioName {
  char text[N];
  consteval ScenarioName(const char (&name)[N]) {  // NOLINT: implicit, for the literal
    for (std::size_t i = 0; i < N; ++i) text[i] = name[i];
  }
  constexpr bool operator==(std::string_view other) const {
    return std::string_view(text, N - 1) == other;
  }
};

// A broken variant runs one scenario: its build defines BREAKER_RELACY_ONLY=<scenario> and
// instantiates that scenario's simulation only (the others' make most of a Relacy executable's
// compile time; tests/relacy/CMakeLists.txt).
#define BREAKER_RELACY_STR2(x) #x
#define BREAKER_RELACY_STR(x) BREAKER_RELACY_STR2(x)

/// The table entry of scenario `Name`, the test suite `T`: what it runs and how Relacy explores
/// it. Under BREAKER_RELACY_ONLY, the entries of the other scenarios have no `simulate` (not
/// instantiated) and `run_main` leaves them out.
template <ScenarioName Name, class T>
Run run(const char* what, rl::scheduler_type_e scheduler, rl::iteration_t iterations,
        unsigned bound) {
  std::function<bool(rl::test_params&)> simulate;
#ifdef BREAKER_RELACY_ONLY
  if constexpr (Name == std::string_view(BREAKER_RELACY_STR(BREAKER_RELACY_ONLY)))
#endif
    simulate = [](rl::test_params& p) { return rl::simulate<T>(p); };
  return Run{Name.text, what, scheduler, iterations, bound, std::move(simulate)};
}

// Relacy's report (and, on a failure, the history) goes to a file in the
// working directory: Relacy serves every allocation during a simulation from
// its own heap, so a stream that grows meanwhile (a std::ostringstream) would
// free memory from the wrong heap; a file stream's buffer exists beforehand.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// `accept_uninitialized` (with `expect_failure`): Relacy's report of an access to an atomic
/// before its initialisation reached the reader counts as caught too.
inline int run_one(const Run& r, bool expect_failure, bool accept_uninitialized = false) {
  const std::string log = std::string("relacy-") + r.name + ".log";
  std::ofstream out(log, std::ios::trunc);
  rl::test_params p;
  p.search_type = r.scheduler;
  if (r.iterations != 0) p.iteration_count = r.iterations;
  if (r.scheduler == rl::sched_bound) p.context_bound = r.bound;
  p.output_stream = &out;
  p.progress_stream = &out;
  const auto start = std::chrono::steady_clock::now();
  const bool ok = r.simulate(p);
  out.close();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << r.name << ": " << r.what << "\n  ";
  if (r.scheduler == rl::sched_full) {
    std::cout << "sched_full (exhaustive), ";
  } else if (r.scheduler == rl::sched_bound) {
    std::cout << "sched_bound (every execution with at most " << r.bound << " preemptions), ";
  } else {
    std::cout << "sched_random, ";
  }
  if (ok) {
    std::cout << "iterations: " << p.stop_iteration << ", " << seconds << " s: all invariants hold\n";
  } else {
    std::cout << "Relacy REPORTS " << rl::test_result_str(p.test_result) << " at iteration "
              << p.stop_iteration << " (" << seconds << " s)\n";
  }
  if (expect_failure) {
    if (ok) {
      std::cout << "FAIL: the broken variant passed " << r.name
                << ": the check cannot see this bug\n";
      return 1;
    }
    if (p.test_result != rl::test_result_user_assert_failed &&
        !(accept_uninitialized && p.test_result == rl::test_result_unitialized_access)) {
      std::cout << "FAIL: expected a violated assertion, got "
                << rl::test_result_str(p.test_result) << "\n" << read_file(log);
      return 1;
    }
    // The failing assertion, then the end of the history that led to it.
    std::istringstream lines(read_file(log));
    std::vector<std::string> all;
    for (std::string line; std::getline(lines, line);) {
      if (line.find("% (") == std::string::npos) all.push_back(line);  // not a progress line
    }
    for (std::size_t i = 0; i < all.size() && i < 3; ++i) std::cout << "  | " << all[i] << "\n";
    std::cout << "  | ...\n";
    for (std::size_t i = all.size() > 24 ? all.size() - 21 : 3; i < all.size(); ++i) {
      std::cout << "  | " << all[i] << "\n";
    }
    std::cout << "OK: the broken variant is caught (history in " << log << ")\n";
    return 0;
  }
  if (!ok) {
    std::cout << read_file(log);
    return 1;
  }
  return 0;
}

/// The command line of a Relacy executable: scenario names (none: all), `--expect-failure`
/// (exactly one scenario, which must be reported with a violated assertion; with
/// `--caught-uninitialized`, Relacy's uninitialised-access report counts too), `--full`,
/// `--bound N`, `--random N`.
inline int run_main(int argc, char** argv, const std::vector<Run>& all_runs) {
  bool expect_failure = false;
  bool accept_uninitialized = false;
  std::vector<std::string> names;
  // --full, --bound N, --random N: another scheduler for every scenario run
  // (to explore further by hand; the ctests use each scenario's own).
  int override_sched = -1;
  unsigned long override_n = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--expect-failure") == 0) {
      expect_failure = true;
    } else if (std::strcmp(argv[i], "--caught-uninitialized") == 0) {
      accept_uninitialized = true;
    } else if (std::strcmp(argv[i], "--full") == 0) {
      override_sched = rl::sched_full;
    } else if ((std::strcmp(argv[i], "--bound") == 0 || std::strcmp(argv[i], "--random") == 0) &&
               i + 1 < argc) {
      override_sched = std::strcmp(argv[i], "--bound") == 0 ? rl::sched_bound : rl::sched_random;
      override_n = std::strtoul(argv[++i], nullptr, 10);
    } else {
      names.emplace_back(argv[i]);
    }
  }
  if (expect_failure && names.size() != 1) {
    std::cerr << "--expect-failure takes exactly one scenario\n";
    return 2;
  }
  if (accept_uninitialized && !expect_failure) {
    std::cerr << "--caught-uninitialized goes with --expect-failure\n";
    return 2;
  }
  int failures = 0;
  unsigned matched = 0;
  const auto start = std::chrono::steady_clock::now();
  for (Run r : all_runs) {
    if (!r.simulate) continue;  // not built into this executable (BREAKER_RELACY_ONLY)
    if (!names.empty() && std::find(names.begin(), names.end(), r.name) == names.end()) continue;
    if (override_sched >= 0) {
      r.scheduler = static_cast<rl::scheduler_type_e>(override_sched);
      r.iterations = static_cast<rl::iteration_t>(override_n);
      r.bound = static_cast<unsigned>(override_n);
    }
    ++matched;
    failures += run_one(r, expect_failure, accept_uninitialized);
  }
  if (matched == 0 || (!names.empty() && matched != names.size())) {
    std::cerr << "unknown scenario name (or not built into this executable; built:";
    for (const Run& r : all_runs) {
      if (r.simulate) std::cerr << ' ' << r.name;
    }
    std::cerr << ")\n";
    return 2;
  }
  std::cout << "total: "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
            << " s\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace breaker::relacy_harness
