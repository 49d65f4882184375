// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Where a breaker keeps its config so that `update_config` needs bounded
/// memory and the call path takes no lock, holds no reference count and can
/// never read a freed config.
///
/// Two pieces:
///  - the rule word: one atomic 64-bit word packing what calls decide with
///    (the four thresholds and three flags). A call loads it once; a load is
///    always a whole config's rules, old or new.
///  - the full config, in two slots with a version counter each, plus a
///    pointer to the current slot. The writer (updates are serialised by the
///    caller) fills the slot that is not current, then publishes a pointer to
///    it. A reader copies the current slot and checks that its version did
///    not move while it copied and that the slot is still the current one;
///    if not (two updates overtook it, or it copied a slot being prepared
///    for the next update through a stale pointer), it loads the pointer
///    again and retries. So a reader's copies never go back in time: after
///    config k it never gets an older one. Readers never wait for a writer:
///    a stalled writer is always filling the slot that is not current.
/// All fields are atomics, so a racing copy is a retried copy, never a data
/// race. Used for `config()`, the open duration and `call_timeout`.
///
/// Memory: a slot is a version word and the config packed into 12 words
/// (`config_codec.hpp`; 104 bytes instead of 176 for the config's bytes).
/// The first slot is inline; the second is
/// allocated by `reserve()`, which the breaker calls at its first
/// `update_config` (most breakers are never updated). It is then kept and
/// reused until the cell is destroyed, so memory stays bounded however often
/// the config changes, and is never freed while a reader may hold it.
///
/// Publications and their memory orders:
///  - the spare slot's allocation (by `reserve()`, under the writers' mutex)
///    reaches readers only through the release store of `current_` naming it
///    (see `store()`), so a reader never sees the pointer before the zeroed
///    slot; `spare_` itself is read and written by writers only.
///  - a slot's contents: odd version (relaxed), every data word (release),
///    even version (release); readers load the version (acquire), the words
///    (acquire), the version again and `current_` again (both relaxed,
///    after the acquire loads).
///  - the current slot: `current_` store (release) after the slot is filled;
///    readers load it with acquire.
///  - the rules: `rules_` store (release) after `current_`; a call that
///    loads the new rules (acquire) also sees the slot of their config.
///
/// `Atom` is the atomic template of every field (`std::atomic` in the
/// library, `ConfigCell`; the Relacy checks in tests/relacy/relacy_config.cpp
/// instantiate this very code on an adapter over `rl::atomic` and check the
/// promises above, in each execution they explore, under the values the C++
/// memory model lets each load return; see docs/reliability.md, "The config
/// cell under Relacy").

#include "breaker/config.hpp"
#include "breaker/detail/config_codec.hpp"
#include "breaker/detail/state_word.hpp"

#include <array>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

namespace breaker::detail {

/// The rules of one config, decoded from the rule word.
class Rules {
 public:
  static constexpr std::uint64_t durations_bit = std::uint64_t{1} << 60;
  static constexpr std::uint64_t call_timeout_bit = std::uint64_t{1} << 61;
  static constexpr std::uint64_t timeout_fails_bit = std::uint64_t{1} << 62;
  /// The breaker keeps a sliding window (`CircuitBreakerConfig::uses_window`).
  static constexpr std::uint64_t window_bit = std::uint64_t{1} << 63;

  constexpr explicit Rules(std::uint64_t bits) noexcept : bits_(bits) {}

  static constexpr Rules from(const CircuitBreakerConfig& c) noexcept {
    static_assert(CircuitBreakerConfig::max_count <= 0xFFFF);
    static_assert(CircuitBreakerConfig::max_half_open_requests <= 0xFFF);
    // failure_threshold 0 (never valid) encodes "no consecutive rule".
    const std::uint32_t failures = c.trip_policy == TripPolicy::failure_rate ? 0 : c.failure_threshold;
    std::uint64_t bits = std::uint64_t{failures & 0xFFFF} |
                         std::uint64_t{c.success_threshold & 0xFFFF} << 16 |
                         std::uint64_t{c.half_open_max_requests & 0xFFF} << 32 |
                         std::uint64_t{c.minimum_request_threshold & 0xFFFF} << 44;
    // The slow-call rule times every call through the duration path.
    if (c.record_call_durations || c.slow_call_duration_threshold.count() > 0) bits |= durations_bit;
    if (c.uses_window()) bits |= window_bit;
    if (c.call_timeout.count() > 0) bits |= call_timeout_bit;
    if (c.count_timeout_as_failure) bits |= timeout_fails_bit;
    return Rules{bits};
  }

  constexpr Limits limits() const noexcept {
    const auto failures = static_cast<std::uint32_t>(bits_ & 0xFFFF);
    Limits l{failures == 0 ? Limits::never : failures,
             static_cast<std::uint32_t>((bits_ >> 16) & 0xFFFF),
             static_cast<std::uint32_t>((bits_ >> 32) & 0xFFF),
             static_cast<std::uint32_t>((bits_ >> 44) & 0xFFFF)};
    l.windowed = windowed();
    return l;
  }
  /// The breaker keeps a sliding window.
  constexpr bool windowed() const noexcept { return (bits_ & window_bit) != 0; }
  constexpr bool record_call_durations() const noexcept { return (bits_ & durations_bit) != 0; }
  constexpr bool has_call_timeout() const noexcept { return (bits_ & call_timeout_bit) != 0; }
  constexpr bool count_timeout_as_failure() const noexcept {
    return (bits_ & timeout_fails_bit) != 0;
  }
  /// Neither durations nor a call timeout: the closed fast path of `call()`.
  constexpr bool plain_calls() const noexcept {
    return (bits_ & (durations_bit | call_timeout_bit)) == 0;
  }
  constexpr std::uint64_t bits() const noexcept { return bits_; }

 private:
  std::uint64_t bits_;
};

/// What a reader of the cell does before it retries a copy, for the atomic
/// template `Atom`: nothing for `std::atomic` (the hardware makes the
/// writer's stores visible in finite time). The Relacy checks specialise it
/// to tell Relacy the thread spins (`rl::yield`), which models that: without
/// it, Relacy may let a retrying reader load the same stale value forever
/// and report a livelock no real machine has.
template <template <class> class Atom>
struct ConfigRetryHint {
  static void before_retry() noexcept {}
};

/// A breaker's config: the rule word for calls, the full config for the rest
/// (`ConfigCell`; `Atom` as in the file comment).
template <template <class> class Atom = std::atomic>
class BasicConfigCell {
 public:
  explicit BasicConfigCell(const CircuitBreakerConfig& config) noexcept
      : rules_(Rules::from(config).bits()) {
    write_slot(inline_, config);
  }

  BasicConfigCell(const BasicConfigCell&) = delete;
  BasicConfigCell& operator=(const BasicConfigCell&) = delete;

  /// The rules of the current config (one load).
  Rules rules() const noexcept { return Rules{rules_.load(std::memory_order_acquire)}; }

  /// A copy of the current config, old or new, never a mix, and never older
  /// than a copy (or the rules, `rules()`) this thread got before. Lock-free.
  CircuitBreakerConfig load() const noexcept {
    Words copy{};
    for (;;) {
      // acquire: pairs with the release store of the pointer in store(), so
      // the slot (allocated and filled before it) is visible.
      const Slot& slot = *current_.load(std::memory_order_acquire);
      const std::uint64_t version = slot.version.load(std::memory_order_acquire);
      if ((version & 1) == 0) {
        // acquire loads: each pairs with the writer's release store of that
        // word, which follows its odd version store; the version re-read below
        // cannot move before them, so a copy that raced a writer sees the
        // version changed.
        for (std::size_t i = 0; i < words; ++i) copy[i] = slot.data[i].load(std::memory_order_acquire);
        // The slot still current too: a reader whose pointer was stale may
        // have copied, whole, the slot the writer filled for the next update
        // but has not published yet; returning it, then the current (older)
        // config at the next load, would go back in time (found by the
        // Relacy checks, tests/relacy/relacy_config.cpp). relaxed: the
        // acquire load of the version that saw the filled slot synchronises
        // with the writer, so this load sees at least the pointer stored
        // before that slot was refilled (the other slot: retry).
        if (slot.version.load(std::memory_order_relaxed) == version &&
            current_.load(std::memory_order_relaxed) == &slot) {
          break;
        }
      }
      ConfigRetryHint<Atom>::before_retry();
    }
    return from_words(copy);
  }

  /// Whether the config is stored packed (`config_codec.hpp`: 12 words
  /// instead of 21): the codec lists every field of `CircuitBreakerConfig`.
  static constexpr bool packed = ConfigCodec::packs_every_field;

  /// Allocates the second slot, once (later calls do nothing). Writers only
  /// (serialised by the caller), before the first `store`.
  /// \throws std::bad_alloc (the cell is then unchanged).
  void reserve() {
    if (!spare_) spare_ = std::make_unique<Slot>();
  }

  /// Makes `config` current. Callers serialise calls of `store` and `reserve`
  /// (a mutex). Precondition: `reserve()` has run.
  void store(const CircuitBreakerConfig& config) noexcept {
    // relaxed: only writers store it, and they are serialised.
    Slot* const current = current_.load(std::memory_order_relaxed);
    assert(spare_ != nullptr && "BasicConfigCell::store before reserve");
    Slot& next = current == &inline_ ? *spare_ : inline_;
    write_slot(next, config);
    // release: a reader that sees the new pointer sees the slot it names
    // allocated and filled.
    current_.store(&next, std::memory_order_release);
    // release: a call that loads the new rules (acquire) also sees the slot.
    rules_.store(Rules::from(config).bits(), std::memory_order_release);
  }

  /// The number of 64-bit data words in a slot.
  static constexpr std::size_t words =
      packed ? ConfigCodec::words : (sizeof(CircuitBreakerConfig) + 7) / 8;
  using Words = std::array<std::uint64_t, words>;

  /// One slot (public for the Relacy checks, which read the latest value of
  /// each atomic; nothing else touches a slot).
  struct Slot {
    Atom<std::uint64_t> version{0};  // odd while being written
    std::array<Atom<std::uint64_t>, words> data{};
  };

  /// The atomics themselves (the Relacy checks read their ghosts).
  const Atom<std::uint64_t>& rules_atomic() const noexcept { return rules_; }
  const Atom<Slot*>& current_atomic() const noexcept { return current_; }

  /// A config's slot contents (the Relacy checks compare slots with them).
  static Words to_words(const CircuitBreakerConfig& config) noexcept {
    if constexpr (packed) {
      return ConfigCodec::encode(config);
    } else {
      Words copy{};
      std::memcpy(copy.data(), &config, sizeof config);
      return copy;
    }
  }

 private:
  static_assert(std::is_trivially_copyable_v<CircuitBreakerConfig>);

  static CircuitBreakerConfig from_words(const Words& copy) noexcept {
    if constexpr (packed) {
      return ConfigCodec::decode(copy);
    } else {
      CircuitBreakerConfig config;
      std::memcpy(static_cast<void*>(&config), copy.data(), sizeof config);
      return config;
    }
  }

  static void write_slot(Slot& slot, const CircuitBreakerConfig& config) noexcept {
    const Words copy = to_words(config);
    // Validated configs only: every field within the bits the codec gives it.
    assert(from_words(copy) == config && "ConfigCell: a config the codec cannot hold");
    const std::uint64_t version = slot.version.load(std::memory_order_relaxed);
    slot.version.store(version + 1, std::memory_order_relaxed);
    // release stores: a reader whose acquire load sees one of them also sees
    // the odd version stored before it, and retries.
    for (std::size_t i = 0; i < words; ++i) slot.data[i].store(copy[i], std::memory_order_release);
    slot.version.store(version + 2, std::memory_order_release);
  }

  Atom<std::uint64_t> rules_;
  // The current slot: &inline_ or spare_.get(); never null.
  Atom<Slot*> current_{&inline_};
  // The second slot, allocated by reserve(); writers only.
  std::unique_ptr<Slot> spare_;
  Slot inline_{};
};

/// The library's config cell.
using ConfigCell = BasicConfigCell<>;

}  // namespace breaker::detail
