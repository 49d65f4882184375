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

}  // namespace breaker::test
