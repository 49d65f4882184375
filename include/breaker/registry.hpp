// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `BasicRegistry<Clock>` (and `Registry`, its steady-clock form): named
/// circuit breakers shared across a program; the process-wide
/// `global_registry()` and `get_circuit_breaker()`.

#include "breaker/circuit_breaker.hpp"
#include "breaker/config.hpp"
#include "breaker/error.hpp"
#include "breaker/health.hpp"
#include "breaker/state.hpp"
#include "breaker/stats.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace breaker {

namespace detail {

/// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates, no
/// code point above U+10FFFF, no truncated sequence). Defined in src/registry.cpp.
bool is_valid_utf8(std::string_view text) noexcept;

/// Throws `CircuitBreakerError(errc::invalid_config)` unless `name` can name a
/// breaker in a registry: not empty and well-formed UTF-8.
void check_breaker_name(std::string_view name);

}  // namespace detail

/// A thread-safe collection of named circuit breakers, each shared through a
/// `std::shared_ptr`. An ordinary class: tests and libraries make their own;
/// `global_registry()` is the one a program shares.
///
/// \tparam Clock the clock of the breakers it creates (`CircuitBreaker<Clock>`);
///   tests use `breaker::testing::ManualClock`. Each breaker gets a copy of the
///   clock passed to the constructor.
///
/// Thread safety: every member function may be called concurrently. Lookups
/// (`find`, `get`, `get_or_create` of an existing name, and the read-only
/// aggregate functions) take a shared lock only, so readers never block each
/// other; inserting and removing take the exclusive lock briefly (a new breaker
/// is constructed before the lock is taken). Breakers are used without any
/// registry lock held: a breaker removed from the registry stays valid for
/// whoever still holds it.
///
/// Names: any non-empty, well-formed UTF-8 string. Names are compared byte by
/// byte; `list_names()` and every per-breaker listing are in that order.
template <class Clock = std::chrono::steady_clock>
class BasicRegistry {
  struct Shared;

 public:
  using clock_type = Clock;
  /// The type of the breakers held.
  using breaker_type = CircuitBreaker<Clock>;
  /// How breakers are handed out.
  using breaker_ptr = std::shared_ptr<breaker_type>;

  /// A handle on the registry's breakers that does not keep the registry alive
  /// and stays safe to use after it is destroyed (it then sees no breakers).
  /// The Prometheus collector holds one, so an exporter may outlive the
  /// registry. Thread safety: like the registry; copies are independent.
  class WeakView {
   public:
    /// A view of no registry (always empty, always expired).
    WeakView() = default;

    /// Like `BasicRegistry::snapshot()`; empty once the registry is destroyed.
    std::vector<breaker_ptr> snapshot() const {
      const std::shared_ptr<const Shared> shared = shared_.lock();
      if (!shared) return {};
      return shared->snapshot();
    }

    /// Whether the registry has been destroyed (or the view is empty).
    bool expired() const noexcept { return shared_.expired(); }

    /// Whether both views refer to the same registry (live or destroyed).
    friend bool operator==(const WeakView& a, const WeakView& b) noexcept {
      return !a.shared_.owner_before(b.shared_) && !b.shared_.owner_before(a.shared_);
    }

   private:
    friend class BasicRegistry;
    explicit WeakView(std::weak_ptr<const Shared> shared) : shared_(std::move(shared)) {}
    std::weak_ptr<const Shared> shared_;
  };

  /// An empty registry whose breakers will use copies of `clock`.
  explicit BasicRegistry(Clock clock = {}) : clock_(std::move(clock)) {}

  BasicRegistry(const BasicRegistry&) = delete;
  BasicRegistry& operator=(const BasicRegistry&) = delete;

  /// The breaker named `name`, whatever its config; a new breaker with the
  /// default config when there is none.
  ///
  /// Use this form where a call site only needs "the breaker called `name`"
  /// (the one that configures it may be elsewhere, or may have changed its
  /// config with `update_config`).
  /// \throws CircuitBreakerError(errc::invalid_config) when `name` is new and
  ///   empty or not well-formed UTF-8 (nothing is registered then).
  ///   `std::bad_alloc`.
  /// Thread safety: any thread. An existing name takes the shared lock only.
  /// When several threads create the same new name at once, one breaker wins
  /// and all of them receive it.
  breaker_ptr get_or_create(std::string_view name) {
    if (breaker_ptr existing = find(name)) return existing;
    return create(name, nullptr);
  }

  /// The breaker named `name`, created with `config` if there is none.
  ///
  /// \returns the existing breaker when `name` exists and `config` equals
  ///   either the config the breaker was created (or added) with or its
  ///   current one (so call sites that pass the original config keep working
  ///   after `update_config`); otherwise a new breaker with `config`,
  ///   registered before returning.
  /// \throws CircuitBreakerError(errc::invalid_config) when `config` is
  ///   invalid, whether or not `name` exists (`what()` names the field), and
  ///   when a new `name` is empty or not well-formed UTF-8;
  ///   CircuitBreakerError(errc::already_exists) when `name` exists and `config`
  ///   is valid but differs from both of its configs (`breaker_name()` is
  ///   `name`; `what()` names the first differing field with the breaker's
  ///   current value and the requested one; change a live breaker's config with
  ///   `update_config`, or call `get_or_create(name)` to take it as it is).
  ///   The registry is unchanged then. `std::bad_alloc`.
  /// Thread safety: any thread. An existing name takes the shared lock only.
  /// When several threads create the same new name at once, one breaker wins
  /// and all of them receive it (or throw, if their configs conflict with it).
  breaker_ptr get_or_create(std::string_view name, const CircuitBreakerConfig& config) {
    breaker_ptr existing;
    {
      std::shared_lock lock(shared_->mutex);
      if (auto it = shared_->breakers.find(name); it != shared_->breakers.end()) {
        if (it->second.accepts(config)) return it->second.breaker;
        existing = it->second.breaker;
      }
    }
    if (existing) throw_conflict(*existing, config);
    return create(name, &config);
  }

  /// Registers a breaker built elsewhere (e.g. `std::make_shared<CircuitBreaker<>>`
  /// with its own clock or listeners) under its `name()`, so that it is listed,
  /// exported and health-checked like the ones the registry creates. Its
  /// current config counts as the config it was "created with" for later
  /// `get_or_create(name, config)` calls.
  /// \returns `breaker`.
  /// \throws CircuitBreakerError(errc::already_exists) when the name is taken
  ///   (even by this very breaker); CircuitBreakerError(errc::invalid_config)
  ///   when `breaker` is null or its name is empty or not well-formed UTF-8.
  ///   The registry is unchanged then. `std::bad_alloc`.
  /// Thread safety: any thread; exclusive lock.
  breaker_ptr add(breaker_ptr breaker) {
    if (!breaker) {
      throw CircuitBreakerError(errc::invalid_config, {},
                                "Registry::add needs a circuit breaker, not a null pointer");
    }
    detail::check_breaker_name(breaker->name());
    {
      std::unique_lock lock(shared_->mutex);
      auto [it, inserted] =
          shared_->breakers.try_emplace(breaker->name(), Entry{breaker, breaker->config(), {}});
      if (inserted) {
        if (shared_->forwarding) {
          try {
            it->second.forwarding = attach_events(*breaker);
          } catch (...) {  // bad_alloc: leave the registry unchanged
            shared_->breakers.erase(it);
            throw;
          }
        }
        return breaker;
      }
    }
    throw CircuitBreakerError(errc::already_exists, breaker->name(),
                              "a breaker of that name is already in the registry "
                              "(Registry::add needs a name of its own)");
  }

  /// The breaker named `name`, or nullptr when there is none.
  /// Thread safety: any thread; shared lock. Never throws.
  breaker_ptr find(std::string_view name) const noexcept {
    std::shared_lock lock(shared_->mutex);
    auto it = shared_->breakers.find(name);
    return it == shared_->breakers.end() ? nullptr : it->second.breaker;
  }

  /// The breaker named `name`.
  /// \throws CircuitBreakerError(errc::not_found) with `breaker_name() == name`
  ///   when there is none.
  /// Thread safety: any thread; shared lock.
  breaker_ptr get(std::string_view name) const {
    breaker_ptr found = find(name);
    if (!found) {
      throw CircuitBreakerError(errc::not_found, std::string(name), "not in the registry");
    }
    return found;
  }

  /// Removes the breaker named `name` from the registry. Holders of the breaker
  /// keep a valid breaker; a later `get_or_create(name)` creates a new one.
  /// \returns whether a breaker was removed.
  /// Thread safety: any thread; exclusive lock. Never throws.
  bool remove(std::string_view name) noexcept {
    breaker_ptr removed;  // released after the lock, in case it is the last owner
    std::shared_ptr<Forwarding> forwarding;
    {
      std::unique_lock lock(shared_->mutex);
      auto it = shared_->breakers.find(name);
      if (it == shared_->breakers.end()) return false;
      removed = std::move(it->second.breaker);
      forwarding = std::move(it->second.forwarding);
      shared_->breakers.erase(it);
    }
    // The removed breaker stops reporting to the registry's listeners (a new
    // breaker of the same name may be created): first the flag its forwarder
    // checks (cannot fail), then the forwarder itself where memory allows.
    if (forwarding) {
      forwarding->attached.store(false, std::memory_order_release);
      try {
        removed->remove_event_listener(forwarding->id);
      } catch (...) {  // bad_alloc: the flag already silences the forwarder
      }
    }
    return true;
  }

  /// Replaces the config of the live breaker named `name`, keeping its state
  /// and counts (see `CircuitBreaker::update_config`). Afterwards
  /// `get_or_create(name, c)` returns that breaker for `c` equal to `config` or
  /// to the config it was created with.
  /// \throws CircuitBreakerError(errc::not_found) when there is no such
  ///   breaker; CircuitBreakerError(errc::invalid_config) naming the field when
  ///   `config` is invalid (the breaker is unchanged then).
  /// Thread safety: any thread; shared lock for the lookup only.
  void update_config(std::string_view name, const CircuitBreakerConfig& config) {
    get(name)->update_config(config);
  }

  /// The number of breakers. Thread safety: any thread; shared lock.
  std::size_t size() const noexcept {
    std::shared_lock lock(shared_->mutex);
    return shared_->breakers.size();
  }

  /// The names of all breakers, sorted (byte order).
  /// Thread safety: any thread; shared lock. Throws only `std::bad_alloc`.
  std::vector<std::string> list_names() const {
    std::vector<std::string> names;
    std::shared_lock lock(shared_->mutex);
    names.reserve(shared_->breakers.size());
    for (const auto& entry : shared_->breakers) names.push_back(entry.first);
    return names;
  }

  /// `stats()` of every breaker, by name.
  /// Thread safety: any thread; shared lock. Throws only `std::bad_alloc`.
  std::map<std::string, Stats, std::less<>> get_all_stats() const {
    std::map<std::string, Stats, std::less<>> all;
    std::shared_lock lock(shared_->mutex);
    for (const auto& [name, entry] : shared_->breakers) {
      all.emplace_hint(all.end(), name, entry.breaker->stats());  // sorted: O(1) per insert
    }
    return all;
  }

  /// Counts the breakers by their current `state()` (an open breaker whose open
  /// period is over counts as half-open); `healthy` is `open == 0`.
  /// Thread safety: any thread; shared lock. Never throws.
  HealthReport health_check() const noexcept {
    HealthReport report;
    std::shared_lock lock(shared_->mutex);
    report.total_breakers = shared_->breakers.size();
    for (const auto& entry : shared_->breakers) {
      switch (entry.second.breaker->state()) {
        case State::closed:
        case State::disabled:
        case State::metrics_only:
          ++report.closed;
          break;
        case State::open:
          ++report.open;
          break;
        case State::half_open:
          ++report.half_open;
          break;
      }
    }
    report.healthy = report.open == 0;
    return report;
  }

  /// Calls `reset()` on every breaker (closing it). Breakers added meanwhile
  /// may be missed. State listeners run during this call, with no registry
  /// lock held (they may use the registry).
  /// Thread safety: any thread. Throws only `std::bad_alloc`.
  void reset_all() {
    for (const breaker_ptr& breaker : snapshot()) breaker->reset();
  }

  /// Whether any breaker's `state()` is open (`!health_check().healthy`, but
  /// stops at the first open breaker). Thread safety: any thread; shared lock.
  bool has_open_circuits() const noexcept {
    std::shared_lock lock(shared_->mutex);
    return std::any_of(shared_->breakers.begin(), shared_->breakers.end(),
                       [](const auto& entry) { return entry.second.breaker->state() == State::open; });
  }

  /// Calls `f(breaker_type&)` for every breaker, in name order, while holding
  /// the shared lock: cheap (no copies), but `f` must not add or remove
  /// breakers of this registry (that would deadlock) and should be short, as it
  /// delays insertions and removals. Use `snapshot()` otherwise.
  /// Exceptions from `f` propagate (the lock is released).
  template <class F>
  void for_each(F&& f) const {
    std::shared_lock lock(shared_->mutex);
    for (const auto& entry : shared_->breakers) f(*entry.second.breaker);
  }

  /// Every breaker, in name order, copied under the shared lock (one reference
  /// count increment each); use them with no lock held.
  /// Thread safety: any thread. Throws only `std::bad_alloc`.
  std::vector<breaker_ptr> snapshot() const { return shared_->snapshot(); }

  /// A `WeakView` of this registry. Thread safety: any thread. Never throws.
  WeakView weak_view() const noexcept { return WeakView(shared_); }

  /// Registers a listener of every breaker's events (`CircuitBreakerEvent`,
  /// see `CircuitBreaker::on_event`): those of the breakers in the registry
  /// now and of every breaker created or added later, so a service can log
  /// all transitions in one place (each event names its breaker). Called on
  /// the thread where the event happened, with no lock held; exceptions are
  /// caught and dropped. A breaker removed from the registry (`remove`) stops
  /// reporting to these listeners (its own listeners keep hearing it, since it
  /// may still be in use); a notification already under way may still reach
  /// them once. Until the first registry
  /// listener, the breakers' call paths pay nothing for this.
  /// Thread safety: any thread; exclusive lock (the first call attaches the
  /// registry to every breaker). Throws `std::bad_alloc`.
  /// \returns an id for `remove_event_listener`.
  ListenerId on_event(EventListener listener) {
    const ListenerId id = shared_->events->add(std::move(listener));
    std::unique_lock lock(shared_->mutex);
    if (!shared_->forwarding) {
      for (auto& entry : shared_->breakers) {
        entry.second.forwarding = attach_events(*entry.second.breaker);
      }
      shared_->forwarding = true;
    }
    return id;
  }

  /// Removes a registry event listener; false when `id` is unknown. A
  /// notification already under way may still call it once.
  /// Thread safety: any thread.
  bool remove_event_listener(ListenerId id) { return shared_->events->remove(id); }

 private:
  // A breaker's forwarder of events to the registry's listeners: its id in the
  // breaker's listener list and the flag `remove` clears (acquire/release: a
  // forwarder that sees false forwards nothing).
  struct Forwarding {
    ListenerId id = 0;
    std::atomic<bool> attached{true};
  };

  // One registered breaker and the config it was created (or added) with.
  struct Entry {
    breaker_ptr breaker;
    CircuitBreakerConfig created_with;
    std::shared_ptr<Forwarding> forwarding;  // set while registry listeners exist

    // Whether get_or_create(name, config) may hand out this breaker.
    bool accepts(const CircuitBreakerConfig& config) const noexcept {
      return config == created_with || config == breaker->config();
    }
  };

  // The breakers and their lock live in a shared block so that a WeakView can
  // outlive the registry safely.
  struct Shared {
    mutable std::shared_mutex mutex;
    std::map<std::string, Entry, std::less<>> breakers;  // less<>: find by string_view
    // The registry-wide event listeners; once `forwarding` (under the
    // exclusive lock), every breaker in `breakers` forwards its events here.
    std::shared_ptr<detail::EventListenerList> events =
        std::make_shared<detail::EventListenerList>();
    bool forwarding = false;

    std::vector<breaker_ptr> snapshot() const {
      std::vector<breaker_ptr> out;
      std::shared_lock lock(mutex);
      out.reserve(breakers.size());
      for (const auto& entry : breakers) out.push_back(entry.second.breaker);
      return out;
    }
  };

  // Makes `breaker` forward its events to the registry's listeners. The
  // forwarder holds the listener list weakly: a breaker that outlives the
  // registry forwards nothing, and one removed from the registry neither.
  [[nodiscard]] std::shared_ptr<Forwarding> attach_events(breaker_type& breaker) {
    auto forwarding = std::make_shared<Forwarding>();
    std::weak_ptr<const detail::EventListenerList> hub = shared_->events;
    auto forward = [hub = std::move(hub), forwarding](const CircuitBreakerEvent& event) {
      if (!forwarding->attached.load(std::memory_order_acquire)) return;
      if (const auto events = hub.lock()) events->notify(event);
    };
    forwarding->id = breaker.on_event(std::move(forward));
    return forwarding;
  }

  // get_or_create of a name that was not there: creates a breaker with
  // `*requested` (nullptr: the defaults, and any breaker created meanwhile by
  // another thread is accepted whatever its config).
  breaker_ptr create(std::string_view name, const CircuitBreakerConfig* requested) {
    detail::check_breaker_name(name);
    // Built outside the lock: construction validates the config (naming the
    // breaker and the field) and allocates.
    auto created = std::make_shared<breaker_type>(
        std::string(name), requested != nullptr ? *requested : CircuitBreakerConfig{}, clock_);
    breaker_ptr winner;
    {
      std::unique_lock lock(shared_->mutex);
      auto [it, inserted] =
          shared_->breakers.try_emplace(created->name(), Entry{created, created->config(), {}});
      if (inserted) {
        if (shared_->forwarding) {
          try {
            it->second.forwarding = attach_events(*created);
          } catch (...) {  // bad_alloc: leave the registry unchanged
            shared_->breakers.erase(it);
            throw;
          }
        }
        return created;
      }
      // Another thread created it first.
      if (requested == nullptr || it->second.accepts(*requested)) return it->second.breaker;
      winner = it->second.breaker;
    }
    throw_conflict(*winner, *requested);
  }

  // `requested` is refused by the existing breaker `existing`: invalid_config
  // when it is invalid, else already_exists naming the first differing field.
  [[noreturn]] static void throw_conflict(const breaker_type& existing,
                                          const CircuitBreakerConfig& requested) {
    std::string message;
    if (requested.validate(&message)) {
      throw CircuitBreakerError(errc::invalid_config, existing.name(), message);
    }
    throw CircuitBreakerError(
        errc::already_exists, existing.name(),
        "already exists with a different configuration; first difference (current vs "
        "requested): " +
            first_difference(existing.config(), requested) +
            ". Use update_config to change a live breaker, or get_or_create(name) without a "
            "config to use it as it is");
  }

  Clock clock_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

/// The registry of breakers on `std::chrono::steady_clock`, the one programs use.
using Registry = BasicRegistry<std::chrono::steady_clock>;

// Compiled once in src/registry.cpp.
extern template class BasicRegistry<std::chrono::steady_clock>;

/// The process-wide registry. Created on first use and never destroyed, so it
/// stays usable from other static objects' destructors and exporter threads at
/// exit. Thread safety: any thread. Throws `std::bad_alloc` if the first call
/// cannot allocate it; never afterwards.
Registry& global_registry();

/// `global_registry().get_or_create(name)`: the breaker named `name` whatever
/// its config, created with the defaults if there is none. See
/// `BasicRegistry::get_or_create` for the errors and thread safety.
std::shared_ptr<CircuitBreaker<>> get_circuit_breaker(std::string_view name);

/// `global_registry().get_or_create(name, config)`: the breaker named `name`
/// if `config` equals its creation or current config (created with `config` if
/// there is none); `errc::already_exists` if it conflicts. See
/// `BasicRegistry::get_or_create` for the errors and thread safety.
std::shared_ptr<CircuitBreaker<>> get_circuit_breaker(std::string_view name,
                                                      const CircuitBreakerConfig& config);

}  // namespace breaker
