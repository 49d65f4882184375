// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The listeners of a breaker (state changes, events) and of a registry
/// (events): copy-on-write under a mutex that is held only to swap or copy a
/// pointer; listeners run unlocked. The mutex and the list live in a block
/// allocated by the first `add()`, so a breaker nobody listens to pays 16 bytes.
///
/// What a notification promises: it calls the listeners of one list, the
/// latest one its copy of the pointer (under the mutex) saw, so every
/// listener whose `add()` happened before the notification began (and was not
/// removed before it began) is called, once; a listener `remove()`d while a
/// notification is under way (it copied the list before the removal) may
/// still be called by it, once, as `remove_listener` says. The entries a
/// notification iterates stay alive until it is done (its copy of the
/// shared_ptr).
///
/// `Atom` (the atomic template) and `Mutex` default to `std::atomic` and
/// `std::mutex`; the Relacy checks run this very code on `rl::atomic` and
/// `rl::mutex` (tests/relacy/relacy_lists.cpp).

#include "breaker/events.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace breaker::detail {

template <class Event, template <class> class Atom = std::atomic, class Mutex = std::mutex>
class BasicListenerList {
 public:
  using Listener = std::function<void(const Event&)>;

  BasicListenerList() noexcept = default;
  BasicListenerList(const BasicListenerList&) = delete;
  BasicListenerList& operator=(const BasicListenerList&) = delete;
  ~BasicListenerList() { delete impl_.load(std::memory_order_acquire); }

  /// Adds a listener; returns its id. The first one allocates the list's
  /// state (a breaker nobody listens to keeps 16 bytes here).
  ListenerId add(Listener listener) {
    Impl& impl = state();
    std::lock_guard lock(impl.mutex);
    auto next = std::make_shared<Entries>(impl.listeners ? *impl.listeners : Entries{});
    const ListenerId id = ++impl.last_id;
    next->emplace_back(id, std::move(listener));
    impl.listeners = std::move(next);
    any_.store(true, std::memory_order_release);
    return id;
  }

  /// Removes a listener; false when `id` is unknown.
  bool remove(ListenerId id) {
    Impl* impl = impl_.load(std::memory_order_acquire);
    if (impl == nullptr) return false;
    std::lock_guard lock(impl->mutex);
    if (!impl->listeners) return false;
    auto next = std::make_shared<Entries>(*impl->listeners);
    const auto old_size = next->size();
    std::erase_if(*next, [id](const auto& entry) { return entry.first == id; });
    if (next->size() == old_size) return false;
    any_.store(!next->empty(), std::memory_order_release);
    impl->listeners = std::move(next);
    return true;
  }

  /// Whether any listener is registered: one relaxed load, for the call path
  /// to skip building an event nobody hears.
  bool any() const noexcept { return any_.load(std::memory_order_relaxed); }

  /// Calls every listener; exceptions they throw are dropped.
  void notify(const Event& transition) const noexcept {
    // acquire: pairs with add()'s release store, after the state was installed.
    if (!any_.load(std::memory_order_acquire)) return;
    const Impl* impl = impl_.load(std::memory_order_acquire);
    if (impl == nullptr) return;
    std::shared_ptr<const Entries> listeners;
    {
      std::lock_guard lock(impl->mutex);  // only to copy the pointer; listeners run unlocked
      listeners = impl->listeners;
    }
    if (!listeners) return;
    for (const auto& entry : *listeners) {
      try {
        entry.second(transition);
      } catch (...) {  // a listener must never break the breaker
      }
    }
  }

 private:
  using Entries = std::vector<std::pair<ListenerId, Listener>>;
  struct Impl {
    mutable Mutex mutex;
    std::shared_ptr<const Entries> listeners;
    ListenerId last_id = 0;
  };

  // The state, allocated by the first add(). CAS: acq_rel on success publishes
  // the new state to later acquire loads; acquire on failure to use the one
  // another thread installed first (ours is freed).
  Impl& state() {
    Impl* impl = impl_.load(std::memory_order_acquire);
    if (impl != nullptr) return *impl;
    auto fresh = std::make_unique<Impl>();
    if (impl_.compare_exchange_strong(impl, fresh.get(), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      return *fresh.release();
    }
    return *impl;
  }

  Atom<Impl*> impl_{nullptr};
  Atom<bool> any_{false};
};

/// The state-change listeners of a breaker.
using ListenerList = BasicListenerList<StateTransition>;
/// The event listeners of a breaker or a registry.
using EventListenerList = BasicListenerList<CircuitBreakerEvent>;

}  // namespace breaker::detail
