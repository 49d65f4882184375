// SPDX-License-Identifier: Apache-2.0
#include "breaker/detail/counters.hpp"

#include <bit>

namespace breaker::detail {
namespace {

// Bit i set: exclusive slot i is owned by a live thread.
std::atomic<std::uint32_t> slots_in_use{0};

// Gives the slot back when its thread exits. After that, the thread (still
// running other thread_local destructors) counts in the shared slot.
struct SlotReleaser {
  unsigned slot = shared_slot;
  ~SlotReleaser() {
    if (slot < exclusive_slots) {
      // release: this thread's last plain writes to the slot's counters happen
      // before the next owner's (which claims with acquire).
      slots_in_use.fetch_and(~(std::uint32_t{1} << slot), std::memory_order_release);
    }
    current_thread_slot = shared_slot;
  }
};

}  // namespace

unsigned claim_thread_slot() noexcept {
  constexpr std::uint32_t all = (std::uint32_t{1} << exclusive_slots) - 1;
  unsigned slot = shared_slot;
  std::uint32_t used = slots_in_use.load(std::memory_order_relaxed);
  // CAS loop: acquire on success pairs with the release in ~SlotReleaser of
  // the slot's previous owner; relaxed on failure, we only retry.
  while ((used & all) != all) {
    const auto free_bit = static_cast<unsigned>(std::countr_one(used));
    if (slots_in_use.compare_exchange_weak(used, used | (std::uint32_t{1} << free_bit),
                                           std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
      slot = free_bit;
      break;
    }
  }
  thread_local SlotReleaser releaser;
  releaser.slot = slot;
  current_thread_slot = slot;
  return slot;
}

unsigned claimed_thread_slots() noexcept {
  return static_cast<unsigned>(std::popcount(slots_in_use.load(std::memory_order_relaxed)));
}

}  // namespace breaker::detail
