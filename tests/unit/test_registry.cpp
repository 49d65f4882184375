// SPDX-License-Identifier: Apache-2.0
#include "breaker/registry.hpp"

#include "breaker/health.hpp"
#include "breaker/testing/manual_clock.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::CircuitBreakerError;
using breaker::errc;
using breaker::State;
using breaker::testing::ManualClock;
using ManualRegistry = breaker::BasicRegistry<ManualClock>;

// Opens after two consecutive failures (no volume gate); one successful probe closes it.
CircuitBreakerConfig quick_config(std::chrono::milliseconds open_for = 10s) {
  return CircuitBreakerConfig::builder()
      .failure_threshold(2)
      .success_threshold(1)
      .timeout_duration(open_for)
      .half_open_max_requests(1)
      .minimum_request_threshold(0)
      .build();
}

template <class Breaker>
void fail_once(Breaker& b) {
  try {
    b.execute([] { throw std::runtime_error("dependency down"); });
  } catch (const std::runtime_error&) {
  }
}

template <class Breaker>
void open_it(Breaker& b) {
  fail_once(b);
  fail_once(b);
  REQUIRE(b.state() == State::open);
}

}  // namespace

TEST_CASE("get_or_create returns the same breaker for an equal config", "[registry]") {
  breaker::Registry registry;
  const auto config = quick_config();

  const auto first = registry.get_or_create("payments", config);
  const auto second = registry.get_or_create("payments", config);

  REQUIRE(first != nullptr);
  CHECK(first == second);
  CHECK(first->name() == "payments");
  CHECK(first->config() == config);
  CHECK(registry.size() == 1);

  SECTION("the default config is a config like any other") {
    const auto a = registry.get_or_create("defaults");
    CHECK(registry.get_or_create("defaults", CircuitBreakerConfig{}) == a);
  }
}

TEST_CASE("get_or_create with a conflicting config throws already_exists naming the field",
          "[registry][config]") {
  breaker::Registry registry;
  const auto original = registry.get_or_create("search-api", quick_config());

  try {
    registry.get_or_create("search-api", CircuitBreakerConfig::for_database());
    FAIL("a different config was accepted");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == errc::already_exists);
    CHECK(e.code() == errc::already_exists);
    CHECK(e.breaker_name() == "search-api");
    CHECK_THAT(e.what(), Catch::Contains("search-api"));
    // quick_config: failure_threshold 2; for_database: 10. The first differing field, both values.
    CHECK_THAT(e.what(), Catch::Contains("failure_threshold (2 vs 10)"));
    CHECK_THAT(e.what(), Catch::Contains("update_config"));
  }
  // The registry and the breaker are unchanged.
  CHECK(registry.size() == 1);
  CHECK(registry.get("search-api") == original);
  CHECK(original->config() == quick_config());

  SECTION("the first differing field is named, not just any") {
    auto other = quick_config();
    other.call_timeout = 250ms;
    try {
      registry.get_or_create("search-api", other);
      FAIL("a different call_timeout was accepted");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.error() == errc::already_exists);
      CHECK_THAT(e.what(), Catch::Contains("call_timeout (0 ms vs 250 ms)"));
    }
  }
}

TEST_CASE("get_or_create without a config returns the existing breaker whatever its config",
          "[registry][config]") {
  breaker::Registry registry;
  const auto configured = registry.get_or_create("svc", quick_config());
  REQUIRE(configured->config() != CircuitBreakerConfig{});

  CHECK(registry.get_or_create("svc") == configured);
  CHECK(configured->config() == quick_config());  // not reset to the defaults

  SECTION("and creates one with the defaults when there is none") {
    const auto fresh = registry.get_or_create("new-svc");
    CHECK(fresh->config() == CircuitBreakerConfig{});
    CHECK(registry.size() == 2);
    CHECK(registry.get_or_create("new-svc") == fresh);
  }
  SECTION("also after update_config") {
    auto changed = quick_config();
    changed.failure_threshold = 9;
    registry.update_config("svc", changed);
    CHECK(registry.get_or_create("svc") == configured);
  }
}

TEST_CASE("an invalid config for an existing name throws invalid_config naming the field",
          "[registry][config]") {
  breaker::Registry registry;
  const auto existing = registry.get_or_create("cache", quick_config());
  auto bad = quick_config();
  bad.timeout_duration = 0ms;

  try {
    registry.get_or_create("cache", bad);
    FAIL("an invalid config was accepted");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == errc::invalid_config);  // not already_exists: the config is the problem
    CHECK(e.breaker_name() == "cache");
    CHECK_THAT(e.what(), Catch::Contains("timeout_duration"));
  }
  CHECK(registry.get("cache") == existing);
  CHECK(existing->config() == quick_config());
}

TEST_CASE("an invalid config for a new name throws and registers nothing", "[registry][config]") {
  breaker::Registry registry;
  CircuitBreakerConfig bad;
  bad.failure_threshold = 0;

  try {
    registry.get_or_create("cache", bad);
    FAIL("an invalid config was accepted");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == errc::invalid_config);
    CHECK_THAT(e.what(), Catch::Contains("failure_threshold"));
  }
  CHECK(registry.size() == 0);
  CHECK(registry.find("cache") == nullptr);
}

TEST_CASE("empty and malformed UTF-8 names are rejected", "[registry]") {
  breaker::Registry registry;

  SECTION("empty") {
    try {
      registry.get_or_create("");
      FAIL("an empty name was accepted");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.error() == errc::invalid_config);
      CHECK_THAT(e.what(), Catch::Contains("empty"));
    }
  }
  SECTION("malformed UTF-8") {
    for (const std::string& name : {std::string("\xff"), std::string("abc\xc3"),  // truncated
                                    std::string("\xc0\xaf"),                      // overlong '/'
                                    std::string("\xed\xa0\x80")}) {               // surrogate
      CAPTURE(breaker::json_escape(name));
      CHECK_THROWS_MATCHES(registry.get_or_create(name), CircuitBreakerError,
                           Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
                             return e.error() == errc::invalid_config;
                           }));
    }
  }
  CHECK(registry.size() == 0);
}

TEST_CASE("names with quotes, backslashes, newlines and non-ASCII text are valid names",
          "[registry]") {
  breaker::Registry registry;
  const std::vector<std::string> names{"say \"hi\"", "back\\slash", "two\nlines", "tab\there",
                                       "Zürich-db",  "日本語",      "emoji 🚀"};
  for (const auto& name : names) {
    const auto b = registry.get_or_create(name);
    CHECK(b->name() == name);
    CHECK(registry.find(name) == b);
  }
  CHECK(registry.size() == names.size());
}

TEST_CASE("find returns nullptr and get throws not_found for an unknown name", "[registry]") {
  breaker::Registry registry;
  registry.get_or_create("known");

  CHECK(registry.find("unknown") == nullptr);
  CHECK(registry.find("known") != nullptr);
  try {
    registry.get("unknown");
    FAIL("get found a breaker that does not exist");
  } catch (const CircuitBreakerError& e) {
    CHECK(e.error() == errc::not_found);
    CHECK(e.breaker_name() == "unknown");
  }
}

TEST_CASE("lookups take any string_view without building a string", "[registry]") {
  breaker::Registry registry;
  const auto b = registry.get_or_create("orders-db");
  const std::string buffer = "xxorders-dbyy";
  const std::string_view middle = std::string_view(buffer).substr(2, 9);

  CHECK(registry.find(middle) == b);
  CHECK(registry.get_or_create(middle) == b);
  CHECK(registry.remove(middle));
}

TEST_CASE("update_config changes a live breaker's config and keeps its state",
          "[registry][config]") {
  ManualClock clock;
  ManualRegistry registry{clock};
  const auto b = registry.get_or_create("inventory", quick_config());
  open_it(*b);

  auto relaxed = quick_config(30s);
  relaxed.failure_threshold = 7;
  registry.update_config("inventory", relaxed);

  CHECK(b->config() == relaxed);
  CHECK(b->state() == State::open);  // state kept
  CHECK(b->stats().failed_calls == 2);
  // The registry hands out the breaker for the new config, and still for the one it was created
  // with (call sites that pass the original config keep working); a third config conflicts.
  CHECK(registry.get_or_create("inventory", relaxed) == b);
  CHECK(registry.get_or_create("inventory", quick_config()) == b);
  CHECK_THROWS_MATCHES(registry.get_or_create("inventory", CircuitBreakerConfig{}),
                       CircuitBreakerError,
                       Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
                         return e.error() == errc::already_exists;
                       }));
  SECTION("a second update keeps the creation config and the new current one, not the middle one") {
    auto third = relaxed;
    third.success_threshold = 4;
    registry.update_config("inventory", third);
    CHECK(registry.get_or_create("inventory", third) == b);
    CHECK(registry.get_or_create("inventory", quick_config()) == b);
    CHECK_THROWS_AS(registry.get_or_create("inventory", relaxed), CircuitBreakerError);
  }

  SECTION("an unknown name throws not_found") {
    try {
      registry.update_config("nope", relaxed);
      FAIL("update_config of an unknown breaker succeeded");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.error() == errc::not_found);
      CHECK(e.breaker_name() == "nope");
    }
  }
  SECTION("an invalid config throws invalid_config and changes nothing") {
    auto bad = relaxed;
    bad.half_open_max_requests = 0;
    try {
      registry.update_config("inventory", bad);
      FAIL("an invalid config was accepted");
    } catch (const CircuitBreakerError& e) {
      CHECK(e.error() == errc::invalid_config);
      CHECK(e.breaker_name() == "inventory");
      CHECK_THAT(e.what(), Catch::Contains("half_open_max_requests"));
    }
    CHECK(b->config() == relaxed);
  }
}

TEST_CASE("remove drops the breaker from the registry, holders keep a working breaker",
          "[registry]") {
  breaker::Registry registry;
  const auto held = registry.get_or_create("mailer", quick_config());

  CHECK(registry.remove("mailer"));
  CHECK_FALSE(registry.remove("mailer"));
  CHECK(registry.find("mailer") == nullptr);
  CHECK(registry.size() == 0);

  CHECK(held->execute([] { return 42; }) == 42);  // still usable
  const auto fresh = registry.get_or_create("mailer", CircuitBreakerConfig::for_notifications());
  CHECK(fresh != held);  // a new breaker, with whatever config the creator asks for
}

TEST_CASE("list_names is sorted and get_all_stats reports every breaker", "[registry]") {
  ManualClock clock;
  ManualRegistry registry{clock};
  for (const char* name : {"zeta", "alpha", "Mike", "beta"})
    registry.get_or_create(name, quick_config());
  open_it(*registry.get("beta"));
  registry.get("alpha")->execute([] {});

  CHECK(registry.list_names() == std::vector<std::string>{"Mike", "alpha", "beta", "zeta"});

  const auto stats = registry.get_all_stats();
  REQUIRE(stats.size() == 4);
  CHECK(stats.begin()->first == "Mike");
  CHECK(stats.find("beta")->second.state == State::open);
  CHECK(stats.find("beta")->second.failed_calls == 2);
  CHECK(stats.find(std::string_view("alpha"))->second.successful_calls == 1);  // transparent
  CHECK(stats.find("zeta")->second == registry.get("zeta")->stats());
}

TEST_CASE("health_check counts closed, open and half-open breakers", "[registry][health]") {
  // Setup: one breaker per situation, all on one manual clock.
  ManualClock clock;
  ManualRegistry registry{clock};
  const auto closed = registry.get_or_create("closed", quick_config(60s));
  const auto open = registry.get_or_create("open", quick_config(60s));
  const auto expired = registry.get_or_create("expired", quick_config(1s));
  const auto probing = registry.get_or_create("probing", quick_config(1s));

  CHECK(registry.health_check() == breaker::HealthReport{4, 4, 0, 0, true});
  CHECK_FALSE(registry.has_open_circuits());

  // Three breakers open.
  open_it(*open);
  open_it(*expired);
  open_it(*probing);
  CHECK(registry.health_check() == breaker::HealthReport{4, 1, 3, 0, false});
  CHECK(registry.has_open_circuits());

  // Two open periods end: "expired" has seen no call yet but reads half-open;
  // "probing" admits a probe and really is half-open.
  clock.advance(2s);
  auto probe = probing->try_acquire();
  REQUIRE(probe);
  CHECK(probing->stats().state == State::half_open);
  const auto report = registry.health_check();
  CHECK(report.total_breakers == 4);
  CHECK(report.closed == 1);
  CHECK(report.open == 1);
  CHECK(report.half_open == 2);
  CHECK_FALSE(report.healthy);
  CHECK(
      to_json(report) ==
      R"({"status":"degraded","circuit_breakers":{"total":4,"closed":1,"open":1,"half_open":2}})");

  // The last open breaker recovers: healthy again, with probes still running.
  open->reset();
  CHECK(registry.health_check() == breaker::HealthReport{4, 2, 0, 2, true});
  CHECK_FALSE(registry.has_open_circuits());

  probe.record_success();
  CHECK(registry.health_check() == breaker::HealthReport{4, 3, 0, 1, true});
}

TEST_CASE("reset_all closes every breaker", "[registry][health]") {
  ManualClock clock;
  ManualRegistry registry{clock};
  for (const char* name : {"a", "b", "c"}) open_it(*registry.get_or_create(name, quick_config()));
  registry.get("c")->force_open();
  REQUIRE(registry.health_check().open == 3);

  registry.reset_all();

  CHECK(registry.health_check() == breaker::HealthReport{3, 3, 0, 0, true});
  CHECK(registry.get("a")->transitions(State::open, State::closed) == 1);
}

TEST_CASE("state listeners may use the registry during reset_all", "[registry]") {
  breaker::Registry registry;
  const auto b = registry.get_or_create("listened", quick_config());
  std::size_t seen_size = 0;
  b->on_state_change([&](const breaker::StateTransition&) {
    registry.get_or_create("created-by-listener");
    seen_size = registry.size();
  });
  open_it(*b);
  registry.reset_all();
  CHECK(seen_size == 2);
}

TEST_CASE("an empty registry is healthy", "[registry][health]") {
  breaker::Registry registry;
  CHECK(registry.health_check() == breaker::HealthReport{0, 0, 0, 0, true});
  CHECK(to_json(registry.health_check()) ==
        R"({"status":"healthy","circuit_breakers":{"total":0,"closed":0,"open":0,"half_open":0}})");
  CHECK(registry.list_names().empty());
  CHECK(registry.get_all_stats().empty());
}

TEST_CASE("for_each and snapshot visit every breaker in name order", "[registry]") {
  breaker::Registry registry;
  for (const char* name : {"c", "a", "b"}) registry.get_or_create(name);

  std::string visited;
  registry.for_each([&](breaker::CircuitBreaker<>& b) { visited += b.name(); });
  CHECK(visited == "abc");

  const auto all = registry.snapshot();
  REQUIRE(all.size() == 3);
  CHECK(all[0]->name() == "a");
  CHECK(all[2]->name() == "c");
}

TEST_CASE("a WeakView sees nothing once its registry is destroyed", "[registry]") {
  breaker::Registry::WeakView view;
  CHECK(view.expired());
  CHECK(view.snapshot().empty());
  std::shared_ptr<breaker::CircuitBreaker<>> kept;
  {
    breaker::Registry registry;
    kept = registry.get_or_create("kept");
    view = registry.weak_view();
    CHECK_FALSE(view.expired());
    CHECK(view == registry.weak_view());
    REQUIRE(view.snapshot().size() == 1);
  }
  CHECK(view.expired());
  CHECK(view.snapshot().empty());
  CHECK(kept->name() == "kept");  // breakers handed out outlive the registry
}

TEST_CASE("get_or_create of an existing name does not wait for other readers",
          "[registry][concurrency]") {
  breaker::Registry registry;
  const auto existing = registry.get_or_create("shared");

  // for_each holds the shared lock while another thread looks the name up: an
  // exclusive lock in get_or_create would block until for_each returns.
  bool finished_while_locked = false;
  registry.for_each([&](breaker::CircuitBreaker<>&) {
    auto lookup = std::async(std::launch::async, [&] { return registry.get_or_create("shared"); });
    finished_while_locked = lookup.wait_for(10s) == std::future_status::ready;
    CHECK(lookup.get() == existing);
  });
  CHECK(finished_while_locked);
}

TEST_CASE("threads creating the same new name all receive one breaker", "[registry][concurrency]") {
  breaker::Registry registry;
  constexpr int thread_count = 8;
  std::latch start(thread_count);
  std::vector<std::shared_ptr<breaker::CircuitBreaker<>>> results(thread_count);
  std::vector<std::thread> threads;
  threads.reserve(thread_count);
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[static_cast<std::size_t>(t)] = registry.get_or_create("contended", quick_config());
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(registry.size() == 1);
  for (const auto& r : results) CHECK(r == results.front());
}

TEST_CASE("threads creating, finding and removing the same names keep the registry consistent",
          "[registry][concurrency]") {
  breaker::Registry registry;
  const std::vector<std::string> names{"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"};
  constexpr int thread_count = 4;
  constexpr int iterations = 3000;
  std::atomic<int> wrong{0};
  std::latch start(thread_count + 1);

  std::vector<std::thread> threads;
  threads.reserve(thread_count + 1);
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < iterations; ++i) {
        const std::string& name = names[static_cast<std::size_t>(i * 7 + t) % names.size()];
        switch ((i + t) % 4) {
          case 0:
          case 1: {
            const auto b = registry.get_or_create(name);
            if (!b || b->name() != name) ++wrong;
            b->execute([] {});
            break;
          }
          case 2: {
            const auto b = registry.find(name);
            if (b && b->name() != name) ++wrong;
            break;
          }
          case 3:
            registry.remove(name);
            break;
        }
      }
    });
  }
  // A reader of the aggregates runs alongside.
  threads.emplace_back([&] {
    start.arrive_and_wait();
    for (int i = 0; i < iterations / 10; ++i) {
      const auto report = registry.health_check();
      if (report.total_breakers > names.size() || report.closed != report.total_breakers) ++wrong;
      if (registry.list_names().size() > names.size()) ++wrong;
      registry.get_all_stats();
    }
  });
  for (auto& thread : threads) thread.join();

  CHECK(wrong == 0);
  CHECK(registry.size() <= names.size());
  const auto listed = registry.list_names();
  CHECK(listed.size() == registry.size());
  for (const auto& name : listed) CHECK(registry.get(name)->name() == name);
}

TEST_CASE("a registry holds ten thousand breakers", "[registry][scale]") {
  breaker::Registry registry;
  constexpr std::size_t count = 10'000;
  for (std::size_t i = 0; i < count; ++i) registry.get_or_create("breaker-" + std::to_string(i));
  registry.get("breaker-4242")->force_open();

  CHECK(registry.size() == count);
  CHECK(registry.list_names().size() == count);
  CHECK(registry.health_check() == breaker::HealthReport{count, count - 1, 1, 0, false});
  CHECK(registry.get_all_stats().size() == count);
  CHECK(registry.find("breaker-9999") != nullptr);
}

TEST_CASE("the global registry is shared by get_circuit_breaker", "[registry][global]") {
  const auto b = breaker::get_circuit_breaker("test_registry.global", quick_config());
  CHECK(&breaker::global_registry() == &breaker::global_registry());
  CHECK(breaker::global_registry().find("test_registry.global") == b);
  CHECK(breaker::get_circuit_breaker("test_registry.global", quick_config()) == b);
  // Without a config: the existing breaker, whatever its config.
  CHECK(breaker::get_circuit_breaker("test_registry.global") == b);
  // A conflicting config: already_exists, as for any registry.
  CHECK_THROWS_MATCHES(breaker::get_circuit_breaker("test_registry.global", CircuitBreakerConfig{}),
                       CircuitBreakerError,
                       Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
                         return e.error() == errc::already_exists;
                       }));
  CHECK(breaker::global_registry().remove("test_registry.global"));
  // Without a config and no such breaker: created with the defaults.
  const auto fresh = breaker::get_circuit_breaker("test_registry.global");
  CHECK(fresh != b);
  CHECK(fresh->config() == CircuitBreakerConfig{});
  CHECK(breaker::global_registry().remove("test_registry.global"));
}

TEST_CASE("add registers a user-built breaker so it is listed and health-checked",
          "[registry][add]") {
  ManualClock clock;
  ManualRegistry registry{clock};
  const auto mine = std::make_shared<breaker::CircuitBreaker<ManualClock>>("mine", quick_config(),
                                                                             clock);
  int transitions_heard = 0;
  mine->on_state_change([&](const breaker::StateTransition&) { ++transitions_heard; });

  CHECK(registry.add(mine) == mine);
  CHECK(registry.find("mine") == mine);
  CHECK(registry.get_or_create("mine") == mine);
  CHECK(registry.get_or_create("mine", quick_config()) == mine);  // its config counts as created
  CHECK(registry.list_names() == std::vector<std::string>{"mine"});

  open_it(*mine);
  CHECK(registry.health_check() == breaker::HealthReport{1, 0, 1, 0, false});
  CHECK(registry.get_all_stats().at("mine").failed_calls == 2);
  registry.reset_all();
  CHECK(mine->state() == State::closed);
  CHECK(transitions_heard == 2);  // its own listener heard the registry's reset

  SECTION("a taken name throws already_exists and keeps the registered breaker") {
    registry.get_or_create("theirs");
    const auto clash = std::make_shared<breaker::CircuitBreaker<ManualClock>>("theirs",
                                                                                quick_config());
    for (const auto& b : {clash, mine}) {  // a created name, and the same breaker added twice
      try {
        registry.add(b);
        FAIL("add accepted a taken name");
      } catch (const CircuitBreakerError& e) {
        CHECK(e.error() == errc::already_exists);
        CHECK(e.breaker_name() == b->name());
      }
    }
    CHECK(registry.get("theirs") != clash);
    CHECK(registry.get("mine") == mine);
    CHECK(registry.size() == 2);
  }
  SECTION("a conflicting config for an added breaker throws already_exists") {
    CHECK_THROWS_MATCHES(registry.get_or_create("mine", CircuitBreakerConfig{}),
                         CircuitBreakerError,
                         Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
                           return e.error() == errc::already_exists;
                         }));
  }
  SECTION("null and badly named breakers are refused with invalid_config") {
    CHECK_THROWS_MATCHES(registry.add(nullptr), CircuitBreakerError,
                         Catch::Predicate<CircuitBreakerError>([](const CircuitBreakerError& e) {
                           return e.error() == errc::invalid_config;
                         }));
    for (const char* name : {"", "bad\xff"}) {
      CHECK_THROWS_MATCHES(
          registry.add(std::make_shared<breaker::CircuitBreaker<ManualClock>>(name)),
          CircuitBreakerError,
          Catch::Predicate<CircuitBreakerError>(
              [](const CircuitBreakerError& e) { return e.error() == errc::invalid_config; }));
    }
    CHECK(registry.size() == 1);
  }
  SECTION("removing it leaves the user's breaker working") {
    CHECK(registry.remove("mine"));
    CHECK(mine->execute([] { return 1; }) == 1);
    CHECK(registry.add(mine) == mine);  // and it may be added again
  }
}

TEST_CASE("threads creating one name with conflicting configs receive one breaker or "
          "already_exists",
          "[registry][concurrency]") {
  breaker::Registry registry;
  constexpr int thread_count = 8;
  std::latch start(thread_count);
  std::vector<std::shared_ptr<breaker::CircuitBreaker<>>> results(thread_count);
  std::atomic<int> conflicts{0};
  std::atomic<int> other_errors{0};
  std::vector<std::thread> threads;
  threads.reserve(thread_count);
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      auto config = quick_config();
      config.failure_threshold = static_cast<std::uint32_t>(2 + t % 2);  // two configs
      start.arrive_and_wait();
      try {
        results[static_cast<std::size_t>(t)] = registry.get_or_create("contended", config);
      } catch (const CircuitBreakerError& e) {
        (e.error() == errc::already_exists ? conflicts : other_errors)++;
      }
    });
  }
  for (auto& thread : threads) thread.join();

  REQUIRE(registry.size() == 1);
  const auto winner = registry.get("contended");
  int received = 0;
  for (const auto& r : results) {
    if (!r) continue;
    ++received;
    CHECK(r == winner);
  }
  // Exactly the threads whose config matches the winner's receive it; the others conflict.
  CHECK(received == thread_count / 2);
  CHECK(conflicts == thread_count / 2);
  CHECK(other_errors == 0);
}

TEST_CASE("to_json of a health report has the exact documented shape", "[health][json]") {
  CHECK(to_json(breaker::HealthReport{3, 2, 0, 1, true}) ==
        R"({"status":"healthy","circuit_breakers":{"total":3,"closed":2,"open":0,"half_open":1}})");
  CHECK(
      to_json(breaker::HealthReport{12, 10, 2, 0, false}) ==
      R"({"status":"degraded","circuit_breakers":{"total":12,"closed":10,"open":2,"half_open":0}})");
}

TEST_CASE("json_escape escapes quotes, backslashes, control characters and malformed UTF-8",
          "[health][json]") {
  using breaker::json_escape;
  CHECK(json_escape("plain-name_1.2") == "plain-name_1.2");
  CHECK(json_escape("say \"hi\"") == R"(say \"hi\")");
  CHECK(json_escape("C:\\temp") == R"(C:\\temp)");
  CHECK(json_escape("two\nlines") == R"(two\nlines)");
  CHECK(json_escape("tab\there\r") == R"(tab\u0009here\u000d)");
  CHECK(json_escape(std::string_view("nul\0byte", 8)) == R"(nul\u0000byte)");
  CHECK(json_escape("\x1f\x7f") == "\\u001f\x7f");  // DEL needs no escape in JSON
  CHECK(json_escape("Zürich 日本 🚀") == "Zürich 日本 🚀");
  CHECK(json_escape("bad\xff") == R"(bad\ufffd)");
  CHECK(json_escape("cut\xe6\x97") == R"(cut\ufffd\ufffd)");
  CHECK(json_escape("") == "");
}

TEST_CASE("to_json of stats lists every breaker with an escaped name", "[health][json]") {
  ManualClock clock;
  ManualRegistry registry{clock};
  open_it(*registry.get_or_create("a \"b\"\n", quick_config()));
  registry.get_or_create("plain", quick_config())->execute([] {});

  CHECK(
      to_json(registry.get_all_stats()) ==
      R"({"a \"b\"\n":{"state":"open","consecutive_failures":2,"consecutive_successes":0,)"
      R"("total_calls":2,"successful_calls":0,"failed_calls":2,"rejected_calls":0,"ignored_calls":0},)"
      R"("plain":{"state":"closed","consecutive_failures":0,"consecutive_successes":0,)"
      R"("total_calls":1,"successful_calls":1,"failed_calls":0,"rejected_calls":0,"ignored_calls":0}})");
  CHECK(to_json(std::map<std::string, breaker::Stats, std::less<>>{}) == "{}");
}
