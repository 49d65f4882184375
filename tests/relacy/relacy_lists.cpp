// SPDX-License-Identifier: Apache-2.0
//
// The per-thread call counters and the thread slot claims
// (include/breaker/detail/counters.hpp: BasicCallCounters, BasicSlotClaims)
// and the copy-on-write listener lists (detail/listener_list.hpp:
// BasicListenerList) under Relacy: the very code the library ships,
// instantiated on rl::atomic (and rl::mutex), every interleaving of the
// threads and every value the C++ memory model lets each load return.
//
// Counters (one or two exclusive slots, so that a third thread overflows into
// the shared slot; threads give their slot back and claim again, so that an
// exclusive slot passes from one owner to the next):
//  - at every step: no exclusive slot is owned by two live threads (the ghost
//    owner of each thread's claim; `invariant()`), and each claim of a slot
//    finds it without a live owner;
//  - every increment of an exclusive slot returns exactly the slot's count of
//    increments so far, by every owner it had (the owner's load sees its
//    predecessor's last store: the hand-over's acquire/release);
//  - every sum a thread reads (`sum`, what stats() reads) is at least its
//    own increments of that kind, at most the increments started by all
//    threads, and never less than its previous sum of that kind;
//  - at the end: every slot's counter equals the increments made in it and
//    the sums equal what the threads did (no increment lost, in the shared
//    slot either), and no slot is claimed.
// Listener lists (a list of a test event type, `Note`):
//  - two first add()s at once (the lazy allocation of the list's state):
//    distinct ids, `any()` true on each thread once its add() returned, its
//    own notify calls its own listener, and at the end one notify calls both
//    listeners once each (no listener lost; Relacy's leak check: the losing
//    allocation is freed);
//  - add/remove against notifiers: every notify calls the listeners of one
//    list that existed ({A}, {A, B}, {B}), each once, in the order added, and
//    a notifier's later notify never calls an older list; a listener whose
//    add() happened before the notify began (seen through a release/acquire
//    flag) is called; a listener whose remove() returned before the notify
//    began is not; no listener is ever called after its entry was destroyed
//    (each listener carries a token registered while its copy is alive).
// Not promised and not checked: a notify that copied the list before a
// remove() may still call the removed listener (remove_listener's doc).
//
//   breaker_relacy_lists                      every scenario
//   breaker_relacy_lists NAME...              only those
//   breaker_relacy_lists --expect-failure NAME
//       exit 0 only when Relacy REPORTS a violated assertion in NAME (the
//       broken variants in tests/relacy/CMakeLists.txt build this file
//       against a patched copy of counters.hpp or listener_list.hpp).

#include "breaker/detail/counters.hpp"
#include "breaker/detail/listener_list.hpp"

// Every standard header before relacy.hpp (it defines new, delete and the
// memory_order_x names as macros).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"  // includes relacy.hpp

namespace breaker::relacy_lists {


// The `Atom` of the counters, the slot claims and the listener list, and its mutex.
using relacy_harness::RlAtom;
using relacy_harness::RlMutex;

namespace {

// ---------------------------------------------------------------------------
// The counters and the slot claims.

constexpr int no_owner = -1;

template <class Derived, rl::thread_id_t Threads, unsigned Exclusive>
struct CountersScenario : rl::test_suite<Derived, Threads> {
  using Counters = detail::BasicCallCounters<RlAtom, Exclusive>;
  using Claims = detail::BasicSlotClaims<RlAtom, Exclusive>;
  using Kind = detail::CallCounterKinds::Kind;
  static constexpr unsigned kinds = detail::CallCounterKinds::kinds;
  static constexpr unsigned slots = Exclusive + 1;
  static constexpr unsigned none = ~0u;

  Claims claims;
  Counters counters;
  // Ghosts (plain variables: Relacy switches threads only just before an
  // atomic or mutex operation, so the code between two of them is one step).
  std::array<unsigned, Threads> slot_of{};            // each thread's slot, or none
  std::array<int, Exclusive> owner{};                 // each exclusive slot's owner
  std::array<std::array<std::uint64_t, kinds>, slots> made{};  // increments started per slot
  std::array<std::uint64_t, kinds> started{};
  std::array<std::array<std::uint64_t, kinds>, Threads> own{};
  std::array<std::array<std::uint64_t, kinds>, Threads> last_sum{};

  CountersScenario() {
    slot_of.fill(none);
    owner.fill(no_owner);
  }

  // At every step: no exclusive slot held by two live threads.
  void invariant() {
    for (unsigned a = 0; a < Threads; ++a) {
      if (slot_of[a] >= Exclusive) continue;
      for (unsigned b = a + 1; b < Threads; ++b) RL_ASSERT(slot_of[a] != slot_of[b]);
    }
  }

  void claim(unsigned me) {
    const unsigned s = claims.claim();
    if (s < Exclusive) {
      RL_ASSERT(owner[s] == no_owner);
      owner[s] = static_cast<int>(me);
    } else {
      RL_ASSERT(s == Exclusive);
    }
    slot_of[me] = s;
  }

  // (The ghost follows the atomic operation it mirrors: Relacy switches
  // threads just before each operation, so the code between one operation and
  // the next runs as one step with the first. A ghost owner cleared before the
  // release's fetch_and would show the slot free while its bit is still set.)
  void release(unsigned me) {
    const unsigned s = slot_of[me];
    if (s < Exclusive) {
      RL_ASSERT(owner[s] == static_cast<int>(me));
      claims.release(s);
      owner[s] = no_owner;
    }
    slot_of[me] = none;
  }

  void begin(unsigned me, Kind kind) {
    ++started[kind];
    ++own[me][kind];
    ++made[slot_of[me]][kind];
  }

  // add_at (returns the slot's new count).
  void add(unsigned me, Kind kind) {
    const unsigned s = slot_of[me];
    begin(me, kind);
    const std::uint64_t n = counters.add_at(s, kind);
    if (s < Exclusive) {
      RL_ASSERT(n == made[s][kind]);  // the single writer sees every earlier increment
    } else {
      RL_ASSERT(n >= 1 && n <= made[s][kind]);
    }
  }

  // count_at (no result).
  void count(unsigned me, Kind kind) {
    begin(me, kind);
    counters.count_at(slot_of[me], kind);
  }

  // What stats() reads.
  void read(unsigned me, Kind kind) {
    const std::uint64_t v = counters.sum(kind);
    RL_ASSERT(v >= own[me][kind]);
    RL_ASSERT(v <= started[kind]);
    RL_ASSERT(v >= last_sum[me][kind]);
    last_sum[me][kind] = v;
  }

  void after() {
    for (unsigned k = 0; k < kinds; ++k) {
      const auto kind = static_cast<Kind>(k);
      for (unsigned s = 0; s < slots; ++s) {
        RL_ASSERT(counters.at(s, kind).load(std::memory_order::relaxed) == made[s][k]);
      }
      RL_ASSERT(counters.sum(kind) == started[k]);
    }
    RL_ASSERT(claims.claimed() == 0);
  }
};

using detail::CallCounterKinds;

// Two threads, one exclusive slot: both claim it at once (one gets the
// shared slot), count, give it back and claim again: the slot passes between
// them in either order, and the shared slot takes the loser's counts.
struct HandOver2 : CountersScenario<HandOver2, 2, 1> {
  void thread(unsigned me) {
    claim(me);
    add(me, CallCounterKinds::admitted);
    count(me, CallCounterKinds::successful);
    release(me);
    claim(me);
    add(me, CallCounterKinds::admitted);
    read(me, CallCounterKinds::admitted);
    release(me);
  }
};

// Three threads, one exclusive slot: at least two share the shared slot
// (fetch_add), a reader sums twice while they count.
struct Shared3 : CountersScenario<Shared3, 3, 1> {
  void thread(unsigned me) {
    claim(me);
    if (me == 2) {
      read(me, CallCounterKinds::admitted);
      add(me, CallCounterKinds::admitted);
      read(me, CallCounterKinds::admitted);
    } else {
      add(me, CallCounterKinds::admitted);
      add(me, CallCounterKinds::admitted);
    }
    release(me);
  }
};

// Three threads, two exclusive slots: claims and releases in every order
// (the free bit each claim picks, a slot given back and taken by another).
struct Claims3 : CountersScenario<Claims3, 3, 2> {
  void thread(unsigned me) {
    claim(me);
    add(me, CallCounterKinds::admitted);
    release(me);
    claim(me);
    add(me, CallCounterKinds::admitted);
    if (me == 0) read(me, CallCounterKinds::admitted);
    release(me);
  }
};

// ---------------------------------------------------------------------------
// The listener lists.

/// The event of the test lists: who notifies, and its how-manieth notify.
struct Note {
  unsigned notifier;
  unsigned round;
};

using List = detail::BasicListenerList<Note, RlAtom, RlMutex>;

constexpr unsigned max_notifiers = 4;
constexpr unsigned max_rounds = 3;
constexpr unsigned max_listeners = 3;
constexpr unsigned max_tokens = 64;

/// The ghost state of the listener scenarios (one scenario runs at a time).
struct ListenerGhost {
  // Every Token alive (the listeners' copies in every list version).
  std::array<const void*, max_tokens> live{};
  // calls[notifier][round]: the listeners called, in call order (bits of
  // 4 per call: listener index + 1).
  std::array<std::array<std::uint32_t, max_rounds>, max_notifiers> calls{};
  std::array<std::array<unsigned, max_rounds>, max_notifiers> ncalls{};
  // What a listener does (an atomic operation: a point where Relacy may
  // switch threads in the middle of a notify's iteration).
  RlAtom<unsigned> work{0};

  void born(const void* t) {
    for (auto& slot : live) {
      if (slot == nullptr) {
        slot = t;
        return;
      }
    }
    RL_ASSERT(false);  // more tokens than max_tokens
  }
  void died(const void* t) {
    for (auto& slot : live) {
      if (slot == t) {
        slot = nullptr;
        return;
      }
    }
    RL_ASSERT(false);  // a token died twice
  }
  bool alive(const void* t) const {
    for (const void* slot : live) {
      if (slot == t) return true;
    }
    return false;
  }
};
inline ListenerGhost* ghost = nullptr;

/// Carried by each listener: registered while this copy exists.
class Token {
 public:
  explicit Token(unsigned listener) : listener_(listener) { ghost->born(this); }
  Token(const Token& other) : listener_(other.listener_) { ghost->born(this); }
  ~Token() { ghost->died(this); }

  void heard(const Note& n) const {
    ghost->work.fetch_add(1, std::memory_order::relaxed);
    RL_ASSERT(ghost->alive(this));  // never called through a destroyed entry
    RL_ASSERT(n.notifier < max_notifiers && n.round < max_rounds);
    unsigned& k = ghost->ncalls[n.notifier][n.round];
    RL_ASSERT(k < 8);
    ghost->calls[n.notifier][n.round] |= (listener_ + 1) << (4 * k);
    ++k;
  }

 private:
  unsigned listener_;
};

List::Listener listener(unsigned index) {
  Token token(index);
  return [token](const Note& n) { token.heard(n); };
}

// The call sequence of the lists {A}, {A, B}, ... (listener i is i + 1 in a
// 4-bit field, in call order).
constexpr std::uint32_t seq(unsigned a) { return a + 1; }
constexpr std::uint32_t seq(unsigned a, unsigned b) { return (a + 1) | ((b + 1) << 4); }

template <class Derived, rl::thread_id_t Threads>
struct ListScenario : rl::test_suite<Derived, Threads> {
  ListenerGhost g;
  std::unique_ptr<List> list;  // destroyed before after() checks the tokens

  ListScenario() {
    ghost = &g;
    list = std::make_unique<List>();
  }
  ~ListScenario() {
    list.reset();
    ghost = nullptr;
  }

  void notify(unsigned notifier, unsigned round) {
    list->notify(Note{notifier, round});
  }
  std::uint32_t heard(unsigned notifier, unsigned round) const {
    return g.calls[notifier][round];
  }
  void all_tokens_gone() {
    list.reset();
    for (const void* t : g.live) RL_ASSERT(t == nullptr);
  }
};

// Two first add()s at once: both race to allocate the list's state.
struct FirstAdd : ListScenario<FirstAdd, 2> {
  std::array<ListenerId, 2> id{};

  void thread(unsigned me) {
    id[me] = list->add(listener(me));
    RL_ASSERT(list->any());
    notify(me, 0);
    // Our own listener is called (our add() is sequenced before), once.
    const std::uint32_t h = heard(me, 0);
    RL_ASSERT((h & 0xF) == seq(me) || ((h >> 4) & 0xF) == seq(me));
    RL_ASSERT(g.ncalls[me][0] == 1 || g.ncalls[me][0] == 2);
  }

  void after() {
    RL_ASSERT(id[0] != 0 && id[1] != 0 && id[0] != id[1]);
    RL_ASSERT(list->any());
    notify(2, 0);
    RL_ASSERT(g.ncalls[2][0] == 2);  // both listeners, once each
    const std::uint32_t h = heard(2, 0);
    RL_ASSERT(h == seq(0, 1) || h == seq(1, 0));
    // (the order is the order of the ids: the first id was added first)
    RL_ASSERT((h == seq(0, 1)) == (id[0] < id[1]));
    all_tokens_gone();
  }
};

// A writer adds B and removes A (added before the threads) while notifiers
// notify: the lists are {A}, then {A, B}, then {B}.
template <class Derived, rl::thread_id_t Threads>
struct AddRemoveScenario : ListScenario<Derived, Threads> {
  using Base = ListScenario<Derived, Threads>;
  static constexpr unsigned a = 0;
  static constexpr unsigned b = 1;
  static constexpr unsigned rounds = 2;
  ListenerId id_a = 0;
  RlAtom<int> b_added{0};
  RlAtom<int> a_removed{0};

  void before() { id_a = this->list->add(listener(a)); }

  void writer() {
    const ListenerId id_b = this->list->add(listener(b));
    RL_ASSERT(id_b != id_a);
    RL_ASSERT(this->list->any());
    b_added.store(1, std::memory_order::release);
    RL_ASSERT(this->list->remove(id_a));
    RL_ASSERT(!this->list->remove(id_a));  // unknown now
    RL_ASSERT(this->list->any());          // B is still there
    a_removed.store(1, std::memory_order::release);
  }

  // The version of a call sequence: 0 {A}, 1 {A, B}, 2 {B}.
  static int version(std::uint32_t h) {
    if (h == seq(a)) return 0;
    if (h == seq(a, b)) return 1;
    if (h == seq(b)) return 2;
    RL_ASSERT(false);  // a notify called a list that never existed
    return -1;
  }

  void notifier(unsigned me) {
    int last = -1;
    for (unsigned r = 0; r < rounds; ++r) {
      const bool added = b_added.load(std::memory_order::acquire) != 0;
      const bool removed = a_removed.load(std::memory_order::acquire) != 0;
      this->notify(me, r);
      const int v = version(this->heard(me, r));
      RL_ASSERT(v >= last);                 // never an older list than before
      if (added) RL_ASSERT(v >= 1);         // B's add() happened before: B called
      if (removed) RL_ASSERT(v == 2);       // A's remove() returned before: A not called
      last = v;
    }
  }

  void after() {
    this->notify(max_notifiers - 1, 0);
    RL_ASSERT(this->heard(max_notifiers - 1, 0) == seq(b));
    this->all_tokens_gone();
  }
};

struct AddRemove2 : AddRemoveScenario<AddRemove2, 2> {
  void thread(unsigned me) {
    if (me == 0) {
      writer();
    } else {
      notifier(me);
    }
  }
};

struct AddRemove3 : AddRemoveScenario<AddRemove3, 3> {
  void thread(unsigned me) {
    if (me == 0) {
      writer();
    } else {
      notifier(me);
    }
  }
};

using relacy_harness::Run;
using relacy_harness::run;

std::vector<Run> runs() {
  // (sched_full does not finish in seconds for any of them: one add() or
  // notify() is a dozen scheduling points; the counters' scenarios are
  // explored exhaustively up to a bound of preemptions, the listeners'
  // at random.)
  return {
      run<"counters_handover", HandOver2>(
          "2 threads, 1 exclusive slot: claim, count, release, claim again", rl::sched_bound, 0, 5),
      run<"counters_shared_3t", Shared3>(
          "3 threads, 1 exclusive slot: two share the shared slot, a reader", rl::sched_bound, 0,
          3),
      run<"slot_claims_3t", Claims3>(
          "3 threads, 2 exclusive slots: claim, count, release, claim again", rl::sched_bound, 0,
          2),
      run<"listeners_first_add", FirstAdd>("2 threads: two first add()s at once, each notifies",
                                           rl::sched_random, 500000, 0),
      run<"listeners_add_remove", AddRemove2>(
          "2 threads: add B, remove A against a notifier (2 notifies)", rl::sched_random, 500000,
          0),
      run<"listeners_add_remove_3t", AddRemove3>("3 threads: add B, remove A against two notifiers",
                                                 rl::sched_random, 500000, 0),
  };
}

}  // namespace
}  // namespace breaker::relacy_lists

int main(int argc, char** argv) {
  return breaker::relacy_harness::run_main(argc, argv, breaker::relacy_lists::runs());
}
