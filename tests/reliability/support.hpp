// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Small helpers shared by the reliability tests: seeds and iteration counts
/// (with environment overrides), sanitizer detection, and the figures line
/// each test prints for docs/reliability.md.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace breaker::reliability {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool under_tsan = true;
#else
inline constexpr bool under_tsan = false;
#endif
#else
inline constexpr bool under_tsan = false;
#endif

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool under_asan = true;
#else
inline constexpr bool under_asan = false;
#endif
#else
inline constexpr bool under_asan = false;
#endif

/// An unsigned number from the environment, or `fallback` when unset or not a number.
inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 0);
  return end != nullptr && *end == '\0' ? static_cast<std::uint64_t>(v) : fallback;
}

/// Seeds from `name` (comma-separated, decimal or 0x hex) or `fallback`.
inline std::vector<std::uint64_t> env_seeds(const char* name, std::vector<std::uint64_t> fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  std::vector<std::uint64_t> seeds;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) seeds.push_back(std::strtoull(item.c_str(), nullptr, 0));
  }
  return seeds.empty() ? fallback : seeds;
}

/// An iteration count scaled for sanitizer builds (slower by 5-20x) and by
/// BREAKER_RELIABILITY_SCALE (percent, default 100).
inline std::uint64_t scaled(std::uint64_t n, std::uint64_t tsan_divisor = 4,
                            std::uint64_t asan_divisor = 2) {
  if (under_tsan) n /= tsan_divisor;
  if (under_asan) n /= asan_divisor;
  n = n * env_u64("BREAKER_RELIABILITY_SCALE", 100) / 100;
  return n == 0 ? 1 : n;
}

/// Prints one line of figures for docs/reliability.md (grep "[figures]").
inline void print_figures(const std::string& line) {
  std::printf("[figures] %s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace breaker::reliability
