// SPDX-License-Identifier: Apache-2.0
//
// Differential testing: the real CircuitBreaker<ManualClock> against the
// reference model of tests/reliability/model.hpp, over long random sequences.
//
// Reproduce a failure: the report prints the sequence seed; run
//   BREAKER_DIFF_SEQUENCE_SEED=<seed> breaker_reliability_tests "[differential]"
// Other knobs: BREAKER_DIFF_SEEDS=1,2,3 (base seeds), BREAKER_DIFF_SEQUENCES
// (sequences per base seed), BREAKER_DIFF_MAX_STEPS (longest sequence).

#include "differential.hpp"
#include "model.hpp"
#include "support.hpp"

#include <breaker/breaker.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using breaker::CircuitBreakerConfig;
using breaker::State;
using namespace breaker::reliability;

namespace {

// Base seeds of the differential test; each drives many sequences.
const std::vector<std::uint64_t> default_seeds{0x5EED0001, 0x5EED0002, 0x5EED0003, 0x5EED0004,
                                               0xC0FFEE,   0xB4EA7E5,  20240601,   42};

// Runs one sequence; on a mismatch, shrinks it and fails the test with the seed
// and the shortest sequence found.
void run_and_report(std::uint64_t base_seed, std::uint64_t sequence_seed, std::size_t length,
                    const RunOptions& options, RunCounts& counts) {
  const Sequence s = generate_sequence(sequence_seed, length);
  if (auto failure = run_sequence(s, options, &counts)) {
    const std::vector<Step> shortest = shrink(s, options);
    std::ostringstream os;
    os << "differential mismatch: base seed " << base_seed << ", sequence seed " << sequence_seed
       << " (replay: BREAKER_DIFF_SEQUENCE_SEED=" << sequence_seed
       << " BREAKER_DIFF_MAX_STEPS=" << length << ")\n"
       << "after step #" << failure->step << " of " << s.steps.size() << ": " << failure->message
       << "\n"
       << "shortest failing sequence (" << shortest.size() << " steps):\n"
       << format_sequence(s, shortest, options);
    FAIL(os.str());
  }
}

// Runs the sequences of every base seed with `options`; prints the figures.
void run_differential(const char* label, const RunOptions& options, std::uint64_t default_per_seed,
                      std::size_t default_max_steps) {
  RunCounts counts;
  const std::size_t max_steps = env_u64("BREAKER_DIFF_MAX_STEPS", default_max_steps);
  if (const std::uint64_t one = env_u64("BREAKER_DIFF_SEQUENCE_SEED", 0); one != 0) {
    run_and_report(0, one, max_steps, options, counts);
    return;
  }
  const std::vector<std::uint64_t> seeds = env_seeds("BREAKER_DIFF_SEEDS", default_seeds);
  const std::uint64_t per_seed = env_u64("BREAKER_DIFF_SEQUENCES", default_per_seed);
  for (const std::uint64_t seed : seeds) {
    std::mt19937_64 rng(seed);
    for (std::uint64_t k = 0; k < per_seed; ++k) {
      const std::uint64_t sequence_seed = rng();
      const std::size_t length = 20 + rng() % max_steps;
      run_and_report(seed, sequence_seed, length, options, counts);
    }
  }
  std::ostringstream os;
  os << label << ": " << seeds.size() << " base seeds, " << counts.sequences << " sequences, "
     << counts.steps << " steps, " << counts.admissions << " admissions, " << counts.transitions
     << " transitions";
  print_figures(os.str());
  CHECK(counts.sequences == seeds.size() * per_seed);
}

}  // namespace

TEST_CASE("the real breaker matches the reference model over random sequences",
          "[reliability][differential]") {
  // Default options: force_open()/reset() bursts may take a sequence up to
  // 140,000 epochs, past 2^15 (where the open deadline once stopped being
  // published) and past 2^16 (where the first milestone's epoch wrapped and a
  // stale outcome drove transitions), well below the 27-bit epoch's limit.
  run_differential("differential", RunOptions{}, scaled(1000, 6, 4), 1500);
}

TEST_CASE("every preset matches the reference model under failure storms and recoveries",
          "[reliability][differential]") {
  // Long, failure-heavy then success-heavy phases on the exact presets, so
  // that their larger thresholds (10 failures, volume 20) are crossed often.
  RunCounts counts;
  std::mt19937_64 rng(0xF00D);
  const std::uint64_t rounds = scaled(12, 3, 2);
  for (const auto& [name, config] : preset_configs()) {
    for (std::uint64_t round = 0; round < rounds; ++round) {
      Sequence s;
      s.config_name = name;
      s.config = config;
      s.start_ns = static_cast<std::int64_t>(rng() % 1'000'000'000);
      for (int phase = 0; phase < 8; ++phase) {
        const bool storm = phase % 2 == 0;
        for (int i = 0; i < 120; ++i) {
          const auto r = rng() % 100;
          Step step;
          step.a = static_cast<std::uint32_t>(rng());
          step.b = static_cast<std::uint32_t>(rng());
          if (r < 45)
            step.op = Op::acquire;
          else if (r < 80)
            step.op = (rng() % 10 < (storm ? 9u : 1u)) ? Op::record_failure : Op::record_success;
          else if (r < 85)
            step.op = Op::drop;
          else if (r < 92)
            step.op = Op::advance_to_deadline;
          else if (r < 97)
            step.op = Op::advance;
          else
            step.op = storm ? Op::execute_failure : Op::execute_success;
          s.steps.push_back(step);
        }
      }
      if (auto failure = run_sequence(s, {}, &counts)) {
        const std::vector<Step> shortest = shrink(s);
        FAIL("preset " << name << " round " << round << ": after step #" << failure->step << ": "
                       << failure->message << "\nshortest failing sequence:\n"
                       << format_sequence(s, shortest));
      }
    }
  }
  std::ostringstream os;
  os << "differential presets: " << counts.sequences << " sequences, " << counts.steps << " steps, "
     << counts.transitions << " transitions";
  print_figures(os.str());
}

// The model itself, checked against narrated walks of the documented rules, so
// that it cannot drift together with the implementation.
TEST_CASE("the reference model follows the documented rules",
          "[reliability][differential][model]") {
  CircuitBreakerConfig c;
  c.failure_threshold = 2;
  c.success_threshold = 2;
  c.half_open_max_requests = 2;
  c.minimum_request_threshold = 3;
  c.timeout_duration = 100ms;
  Model m(c, 0);

  // Closed: two failures are not enough while fewer than 3 outcomes were seen.
  m.record(m.acquire(), ModelOutcome::failure);
  m.record(m.acquire(), ModelOutcome::failure);
  CHECK(m.state() == State::closed);
  CHECK(m.stats().consecutive_failures == 2);
  // The third failure passes the volume gate: open, remembering the run.
  m.record(m.acquire(), ModelOutcome::failure);
  CHECK(m.state() == State::open);
  CHECK(m.stats().consecutive_failures == 3);
  CHECK_FALSE(m.acquire().admitted);

  // Expired: reads half-open before any call, with no counts.
  m.set_now(100'000'000);
  CHECK(m.state() == State::half_open);
  CHECK(m.internal_state() == State::open);
  CHECK(m.stats().consecutive_failures == 0);
  // The first caller turns it half-open and is its first probe.
  const ModelPermit p1 = m.acquire();
  const ModelPermit p2 = m.acquire();
  CHECK(p1.admitted);
  CHECK(p1.admitted_in == State::half_open);
  CHECK(p2.admitted);
  CHECK_FALSE(m.acquire().admitted);  // limit 2
  CHECK(m.probes_in_flight() == 2);
  m.record(p1, ModelOutcome::success);
  CHECK(m.stats().consecutive_successes == 1);
  // A failed probe reopens it; the other probe (p2) is now stale.
  const ModelPermit p3 = m.acquire();
  m.record(p3, ModelOutcome::failure);
  CHECK(m.state() == State::open);
  CHECK(m.stats().consecutive_failures == 1);
  CHECK(m.probes_in_flight() == 0);

  // Next episode (issue 8, rule 7): both slots are free although p2 is still
  // out; it belongs to an earlier episode and returns nothing to this one.
  m.set_now(200'000'000);
  const ModelPermit p4 = m.acquire();
  const ModelPermit p5 = m.acquire();
  CHECK(p4.admitted);
  CHECK(p5.admitted);
  CHECK_FALSE(m.acquire().admitted);
  m.record(p2, ModelOutcome::success);  // stale: counts in totals only
  CHECK(m.stats().consecutive_successes == 0);
  CHECK(m.probes_in_flight() == 2);
  m.record(p4, ModelOutcome::success);
  m.record(p5, ModelOutcome::success);
  CHECK(m.state() == State::closed);

  // force_open() holds until reset(), whatever the clock says.
  m.force_open();
  m.set_now(10'000'000'000);
  CHECK(m.state() == State::open);
  CHECK_FALSE(m.acquire().admitted);
  m.reset();
  CHECK(m.state() == State::closed);

  const breaker::Stats s = m.stats();
  CHECK(s.total_calls == s.successful_calls + s.failed_calls + s.ignored_calls + s.rejected_calls);
  CHECK(m.transitions(State::closed, State::open) == 2);
  CHECK(m.transitions(State::open, State::half_open) == 2);
  CHECK(m.transitions(State::half_open, State::open) == 1);
  CHECK(m.transitions(State::half_open, State::closed) == 1);
  CHECK(m.transitions(State::open, State::closed) == 1);

  // Rule 2: a reset() with nothing to clear is no transition and starts no
  // epoch; a call admitted before it stays current.
  const std::uint64_t epoch = m.epoch();
  const ModelPermit before_reset = m.acquire();
  m.reset();
  CHECK(m.epoch() == epoch);
  m.record(before_reset, ModelOutcome::failure);
  CHECK(m.stats().consecutive_failures == 1);
  // ...but with a failure run to clear it is, and that call would be stale.
  m.reset();
  CHECK(m.epoch() == epoch + 1);
}

TEST_CASE("the reference model counts the volume gate from the last close, whatever the minimum",
          "[reliability][differential][model]") {
  // Issue 8, rule 4: 1,000 successes with minimum 10, minimum raised to 20,
  // then failure_threshold failures open the breaker.
  CircuitBreakerConfig c;
  c.failure_threshold = 5;
  c.minimum_request_threshold = 10;
  Model m(c, 0);
  for (int i = 0; i < 1'000; ++i) m.record(m.acquire(), ModelOutcome::success);
  c.minimum_request_threshold = 20;
  m.update_config(c);
  for (int i = 0; i < 5; ++i) m.record(m.acquire(), ModelOutcome::failure);
  CHECK(m.state() == State::open);
  // And from zero after closing: 19 outcomes are not enough.
  m.reset();
  for (int i = 0; i < 19; ++i) m.record(m.acquire(), ModelOutcome::failure);
  CHECK(m.state() == State::closed);
  m.record(m.acquire(), ModelOutcome::failure);
  CHECK(m.state() == State::open);
}

TEST_CASE("the harness catches a wrong model and shrinks the sequence that shows it",
          "[reliability][differential][model]") {
  // Mutants: the model runs with one threshold off by one. The harness must
  // notice within a random sequence, and the shrinker must cut it down to the
  // few steps that show the difference.
  struct Mutant {
    const char* what;
    void (*mutate)(CircuitBreakerConfig&);
  };
  const Mutant mutants[] = {
      {"failure_threshold + 1", [](CircuitBreakerConfig& c) { ++c.failure_threshold; }},
      {"success_threshold + 1", [](CircuitBreakerConfig& c) { ++c.success_threshold; }},
      {"half_open_max_requests + 1", [](CircuitBreakerConfig& c) { ++c.half_open_max_requests; }},
      {"minimum_request_threshold + 1",
       [](CircuitBreakerConfig& c) { ++c.minimum_request_threshold; }},
      {"timeout_duration + 1 ms", [](CircuitBreakerConfig& c) { c.timeout_duration += 1ms; }},
  };
  for (const Mutant& mutant : mutants) {
    INFO("mutant: model with " << mutant.what);
    bool caught = false;
    for (std::uint64_t seed = 1; seed < 200 && !caught; ++seed) {
      Sequence s = generate_sequence(seed, 400);
      s.config = random_valid_config(seed);
      s.config.failure_threshold = 2;
      s.config.success_threshold = 2;
      s.config.half_open_max_requests = 2;
      s.config.minimum_request_threshold = 1;
      RunOptions wrong;
      wrong.model_config = s.config;
      mutant.mutate(*wrong.model_config);
      if (!run_sequence(s, wrong)) continue;
      caught = true;
      const std::vector<Step> shortest = shrink(s, wrong);
      INFO(format_sequence(s, shortest, wrong));
      CHECK(run_sequence(s.config, s.start_ns, shortest, wrong).has_value());
      CHECK_FALSE(run_sequence(s.config, s.start_ns, shortest).has_value());  // the real rules pass
      CHECK(shortest.size() <= 12);
    }
    CHECK(caught);
  }
}
