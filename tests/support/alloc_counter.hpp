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

}  // namespace breaker::test
