// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A small pool of mutexes shared by every object of the program, chosen by
/// address: for rare, short critical sections (a breaker's `update_config`)
/// that do not justify a 40-byte `std::mutex` in each object. Two objects may
/// share a mutex; each critical section must take only one and call nothing
/// that takes another.

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace breaker::detail {

/// The mutex of the pool for the object at `object`. Thread safety: any thread.
inline std::mutex& striped_mutex(const void* object) noexcept {
  static constexpr std::size_t stripes = 32;
  static std::array<std::mutex, stripes> pool;
  // Objects are at least 64-byte aligned apart: skip the low bits.
  const auto bits = reinterpret_cast<std::uintptr_t>(object) >> 6;
  return pool[(bits ^ (bits >> 5)) % stripes];
}

}  // namespace breaker::detail
