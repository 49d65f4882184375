// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// The listeners of a breaker (state changes, events) and of a registry
/// (events): copy-on-write under a mutex that is held only to swap or copy a
/// pointer; listeners run unlocked.

#include "breaker/events.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace breaker::detail {

template <class Event>
class BasicListenerList {
 public:
  using Listener = std::function<void(const Event&)>;

  /// Adds a listener; returns its id.
  ListenerId add(Listener listener) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<Entries>(listeners_ ? *listeners_ : Entries{});
    const ListenerId id = ++last_id_;
    next->emplace_back(id, std::move(listener));
    listeners_ = std::move(next);
    any_.store(true, std::memory_order_release);
    return id;
  }

  /// Removes a listener; false when `id` is unknown.
  bool remove(ListenerId id) {
    std::lock_guard lock(mutex_);
    if (!listeners_) return false;
    auto next = std::make_shared<Entries>(*listeners_);
    const auto old_size = next->size();
    std::erase_if(*next, [id](const auto& entry) { return entry.first == id; });
    if (next->size() == old_size) return false;
    any_.store(!next->empty(), std::memory_order_release);
    listeners_ = std::move(next);
    return true;
  }

  /// Whether any listener is registered: one relaxed load, for the call path
  /// to skip building an event nobody hears.
  bool any() const noexcept { return any_.load(std::memory_order_relaxed); }

  /// Calls every listener; exceptions they throw are dropped.
  void notify(const Event& transition) const noexcept {
    if (!any_.load(std::memory_order_acquire)) return;
    std::shared_ptr<const Entries> listeners;
    {
      std::lock_guard lock(mutex_);  // only to copy the pointer; listeners run unlocked
      listeners = listeners_;
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
  mutable std::mutex mutex_;
  std::shared_ptr<const Entries> listeners_;
  ListenerId last_id_ = 0;
  std::atomic<bool> any_{false};
};

/// The state-change listeners of a breaker.
using ListenerList = BasicListenerList<StateTransition>;
/// The event listeners of a breaker or a registry.
using EventListenerList = BasicListenerList<CircuitBreakerEvent>;

}  // namespace breaker::detail
