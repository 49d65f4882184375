// SPDX-License-Identifier: Apache-2.0
#include "breaker/detail/counters.hpp"

namespace breaker::detail {
namespace {

// The process's slot claims (the protocol: BasicSlotClaims in counters.hpp).
constinit BasicSlotClaims<> slot_claims;

// Gives the slot back when its thread exits. After that, the thread (still
// running other thread_local destructors) counts in the shared slot.
struct SlotReleaser {
  unsigned slot = shared_slot;
  ~SlotReleaser() {
    if (slot < exclusive_slots) slot_claims.release(slot);
    current_thread_slot = shared_slot;
  }
};

}  // namespace

unsigned claim_thread_slot() noexcept {
  const unsigned slot = slot_claims.claim();
  thread_local SlotReleaser releaser;
  releaser.slot = slot;
  current_thread_slot = slot;
  return slot;
}

unsigned claimed_thread_slots() noexcept { return slot_claims.claimed(); }

}  // namespace breaker::detail
