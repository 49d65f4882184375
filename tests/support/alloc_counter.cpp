// SPDX-License-Identifier: Apache-2.0
// Replaces every global operator new/delete of the executable that links it with
// malloc-based versions that count calls and bytes per thread.

#include "alloc_counter.hpp"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace breaker::test {
namespace {

// constinit + trivial type: no TLS init guard on the allocation path.
constinit thread_local std::uint64_t allocations = 0;
constinit thread_local std::uint64_t allocated_bytes = 0;
constinit thread_local bool failing = false;  // a FailAllocations is alive

void* counted_alloc(std::size_t size, std::size_t align) noexcept {
  if (failing) return nullptr;
  ++allocations;
  allocated_bytes += size;
  if (size == 0) size = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(size);
  // aligned_alloc needs a size that is a multiple of the alignment.
  return std::aligned_alloc(align, (size + align - 1) / align * align);
}

void* counted_alloc_or_throw(std::size_t size, std::size_t align) {
  if (void* p = counted_alloc(size, align)) return p;
  throw std::bad_alloc();
}

}  // namespace

std::uint64_t thread_allocations() noexcept { return allocations; }
std::uint64_t thread_allocated_bytes() noexcept { return allocated_bytes; }

FailAllocations::FailAllocations() noexcept : previous_(failing) { failing = true; }
FailAllocations::~FailAllocations() { failing = previous_; }

__attribute__((noinline)) void escape(const void* p) noexcept {
  asm volatile("" : : "g"(p) : "memory");
}

}  // namespace breaker::test

using breaker::test::counted_alloc;
using breaker::test::counted_alloc_or_throw;

void* operator new(std::size_t size) {
  return counted_alloc_or_throw(size, alignof(std::max_align_t));
}
void* operator new[](std::size_t size) {
  return counted_alloc_or_throw(size, alignof(std::max_align_t));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size, alignof(std::max_align_t));
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size, alignof(std::max_align_t));
}
void* operator new(std::size_t size, std::align_val_t align) {
  return counted_alloc_or_throw(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counted_alloc_or_throw(size, static_cast<std::size_t>(align));
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return counted_alloc(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return counted_alloc(size, static_cast<std::size_t>(align));
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
