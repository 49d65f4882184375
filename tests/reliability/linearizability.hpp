// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A linearizability checker in the style of Wing & Gong with memoisation (as in Lowe's
/// "Testing for linearizability", and Lincheck): given a concurrent history of operations, each
/// with the logical time of its invocation and of its response, it searches for a sequential
/// order that respects real time (an operation that returned before another was invoked comes
/// first) and in which a sequential model gives every recorded response.
///
/// The search is a depth-first walk over "which pending operation takes effect next". A state
/// (the set of operations already placed + the model's state) that failed once is remembered and
/// never explored again, so small histories (3 threads x 4-6 operations) are checked in
/// microseconds to milliseconds.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace breaker::reliability {

/// One completed operation of a history. `invoked` and `returned` are ticks of one logical clock
/// shared by all threads (taken just before the call and just after it returned).
template <class Op, class Response>
struct HistoryEvent {
  int thread = 0;
  Op op{};
  Response response{};
  std::uint64_t invoked = 0;
  std::uint64_t returned = 0;
};

/// The outcome of a check: linearizable or not, and the longest sequential prefix the search
/// found (indices into the history), to print with a failure.
struct LinearizabilityResult {
  bool linearizable = false;
  std::vector<std::size_t> longest_prefix;
  std::uint64_t states_explored = 0;
};

/// Checks `history` against a sequential model.
///
/// \param initial the model state before the history.
/// \param step `bool step(ModelState&, const HistoryEvent&)`: applies the event's operation to
///   the model and returns whether the model's response equals the recorded one.
/// \param key `std::string key(const ModelState&)`: a string that equals for equal model states
///   (used to memoise failed states).
/// Supports up to 64 events.
template <class ModelState, class Event, class Step, class Key>
LinearizabilityResult check_linearizable(const std::vector<Event>& history,
                                         const ModelState& initial, Step step, Key key) {
  LinearizabilityResult result;
  const std::size_t n = history.size();
  if (n > 64) return result;
  std::unordered_set<std::string> failed;
  std::vector<std::size_t> order;
  order.reserve(n);

  // An event may be placed next when every event that returned before it was invoked is placed.
  std::vector<std::uint64_t> must_precede(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      if (i != j && history[j].returned < history[i].invoked) must_precede[i] |= std::uint64_t{1} << j;
    }
  }

  const std::uint64_t all = n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
  std::function<bool(std::uint64_t, const ModelState&)> search =
      [&](std::uint64_t placed, const ModelState& state) -> bool {
    if (placed == all) return true;
    ++result.states_explored;
    std::string memo = std::to_string(placed) + '|' + key(state);
    if (failed.contains(memo)) return false;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t bit = std::uint64_t{1} << i;
      if ((placed & bit) != 0 || (must_precede[i] & ~placed) != 0) continue;
      ModelState next = state;
      if (!step(next, history[i])) continue;
      order.push_back(i);
      if (order.size() > result.longest_prefix.size()) result.longest_prefix = order;
      if (search(placed | bit, next)) return true;
      order.pop_back();
    }
    failed.insert(std::move(memo));
    return false;
  };
  result.linearizable = search(0, initial);
  if (result.linearizable) result.longest_prefix = order;
  return result;
}

}  // namespace breaker::reliability
