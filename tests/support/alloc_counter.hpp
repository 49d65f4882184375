// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Allocation counting for tests and benchmarks. alloc_counter.cpp replaces the
/// global operator new/delete of the executable that links it with versions that count
/// calls and bytes per thread (thread-local, so counting adds no shared write
/// and no contention to the cases that run on two threads).

#include <cstdint>

namespace breaker::test {

/// Allocations (calls to any operator new) made so far by the calling thread.
std::uint64_t thread_allocations() noexcept;
/// Bytes requested from operator new so far by the calling thread.
std::uint64_t thread_allocated_bytes() noexcept;

/// Makes `p` escape to code the optimiser cannot see, so that an allocation a
/// test counts is not elided (since C++14 a compiler may remove a `new` whose
/// result never escapes, together with its `delete`, and g++ -O2 does so for a
/// `std::make_unique<int>` that is only destroyed). Defined in alloc_counter.cpp,
/// not inline, and with an empty asm that claims to read the pointer and
/// clobber memory, so neither inlining nor link-time optimisation removes it.
void escape(const void* p) noexcept;

/// While one is alive, every operator new of the calling thread fails: the
/// throwing forms throw `std::bad_alloc`, the nothrow forms return null (failed
/// attempts are not counted). For tests of what an allocation failure leaves
/// behind; keep the scope to the statement under test (a test macro that
/// allocates would fail too).
class FailAllocations {
 public:
  FailAllocations() noexcept;
  ~FailAllocations();
  FailAllocations(const FailAllocations&) = delete;
  FailAllocations& operator=(const FailAllocations&) = delete;

 private:
  bool previous_;
};

}  // namespace breaker::test
