// SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target: bytes -> a config (any values, valid or not) and a
// sequence of operations, run against the real CircuitBreaker<ManualClock>
// and the reference model of tests/reliability/model.hpp through the same
// harness as the differential test. An invalid config must give
// errc::invalid_config naming a field on every path (builder, constructor),
// never a crash; a valid one must behave exactly like the model, keep its
// probe limit, balance its totals and release every permit.
//
// Input layout:
//   config: 7 encoded fields (see read_count / read_duration) + 1 flags byte
//   (flags bit 3: the window fields follow, see read_window_fields);
//           when flags bit 2 is set, the issue-12 fields follow (see
//           read_issue12_fields: policy, multiplier, cap, jitter, ratio, seed,
//           half-open wait, close rule, success ratio), valid or not
//   clock:  2 bytes (start offset in microseconds, scaled)
//   steps:  4 bytes each: operation, b, a (16 bits)
//
// Environment: BREAKER_FUZZ_MAX_EPOCHS (default and maximum 140000: past the old
// 2^16 wrap, well below the 27-bit epoch's limit) caps the epochs per input.

#include "differential.hpp"
#include "model.hpp"

#include <breaker/breaker.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace breaker;
using namespace breaker::reliability;

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t left() const { return size_ - pos_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() {
    return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16);
  }
  std::uint64_t u64() {
    return static_cast<std::uint64_t>(u32()) | (static_cast<std::uint64_t>(u32()) << 32);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Mostly small values (frequent transitions), sometimes the edges of the
// valid range, sometimes anything at all.
std::uint32_t read_count(Bytes& in) {
  const std::uint8_t selector = in.u8();
  if (selector < 200) return selector % 8;  // 0 is invalid for thresholds
  switch (selector % 8) {
    case 0:
      return CircuitBreakerConfig::max_count;
    case 1:
      return CircuitBreakerConfig::max_count + 1;
    case 2:
      return CircuitBreakerConfig::max_half_open_requests;
    case 3:
      return CircuitBreakerConfig::max_half_open_requests + 1;
    case 4:
      return in.u16();
    default:
      return in.u32();
  }
}

std::chrono::milliseconds read_duration(Bytes& in, bool zero_is_common) {
  using ms = std::chrono::milliseconds;
  const std::uint8_t selector = in.u8();
  if (selector < 160) return ms(zero_is_common && selector < 40 ? 0 : 1 + selector % 200);
  switch (selector % 8) {
    case 0:
      return ms(0);
    case 1:
      return ms(-1);
    case 2:
      return CircuitBreakerConfig::max_duration;
    case 3:
      return CircuitBreakerConfig::max_duration + ms(1);
    case 4:
      return ms(static_cast<std::int64_t>(in.u32()));
    case 5:
      return ms(static_cast<std::int64_t>(in.u64()));  // any value, negative included
    case 6:
      return ms(std::numeric_limits<ms::rep>::min());
    default:
      return ms(1 + in.u16());
  }
}

// A double that is mostly in range, sometimes on an edge, sometimes anything.
double read_double(Bytes& in, double lo, double hi) {
  const std::uint8_t selector = in.u8();
  if (selector < 200) return lo + (hi - lo) * (selector / 199.0);
  switch (selector % 6) {
    case 0:
      return lo;
    case 1:
      return hi;
    case 2:
      return hi * 1.5 + 1;
    case 3:
      return -1;
    case 4:
      return std::numeric_limits<double>::quiet_NaN();
    default:
      return std::numeric_limits<double>::infinity();
  }
}

void read_issue12_fields(Bytes& in, CircuitBreakerConfig& c) {
  const std::uint8_t policy = in.u8();
  c.open_duration_policy = static_cast<OpenDurationPolicy>(policy < 250 ? policy % 2 : policy);
  c.backoff_multiplier = read_double(in, 1.01, 4.0);
  const std::uint8_t cap = in.u8();
  const bool timeout_valid = c.timeout_duration.count() > 0 &&
                             c.timeout_duration <= CircuitBreakerConfig::max_duration;
  c.max_open_duration = cap < 200 && timeout_valid ? c.timeout_duration * (1 + cap % 8)
                                                   : read_duration(in, false);
  const std::uint8_t jitter = in.u8();
  c.open_duration_jitter = static_cast<Jitter>(jitter < 250 ? jitter % 3 : jitter);
  c.jitter_ratio = read_double(in, 0.0, 1.0);
  c.jitter_seed = in.u16();
  c.max_wait_in_half_open = read_duration(in, true);
  const std::uint8_t close = in.u8();
  c.half_open_close = static_cast<HalfOpenClose>(close < 250 ? close % 2 : close);
  c.half_open_success_ratio = read_double(in, 0.5, 100.0);
}

// The window fields (windows12): mostly small valid windows, so that the
// harness runs them; the readers' edges and garbage otherwise.
void read_window_fields(Bytes& in, CircuitBreakerConfig& c) {
  const std::uint8_t policy = in.u8();
  c.trip_policy = static_cast<TripPolicy>(policy < 250 ? policy % 2 : policy);
  const std::uint8_t type = in.u8();
  c.window_type = static_cast<WindowType>(type < 250 ? type % 2 : type);
  const std::uint8_t size = in.u8();
  c.window_size = size < 200 ? 1 + size % 16 : read_count(in);
  const std::uint8_t buckets = in.u8();
  c.window_buckets = buckets < 200 ? 1 + buckets % 8 : read_count(in);
  const std::uint8_t duration = in.u8();
  c.window_duration = duration < 200 ? std::chrono::milliseconds(
                                           std::int64_t{c.window_buckets} * (1 + duration % 50))
                                     : read_duration(in, false);
  c.failure_rate_threshold = read_double(in, 0.5, 100.0);
  const std::uint8_t slow = in.u8();
  c.slow_call_duration_threshold = slow < 128 ? std::chrono::milliseconds(0)
                                   : slow < 240 ? std::chrono::milliseconds(1 + slow % 40)
                                                : read_duration(in, true);
  c.slow_call_rate_threshold = read_double(in, 0.5, 100.0);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "breaker fuzz: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

bool names_a_field(const std::string& text) {
  for (const char* field :
       {"failure_threshold", "success_threshold", "timeout_duration", "half_open_max_requests",
        "minimum_request_threshold", "call_timeout", "open_duration_policy", "backoff_multiplier",
        "max_open_duration", "open_duration_jitter", "jitter_ratio", "max_wait_in_half_open",
        "half_open_close", "half_open_success_ratio", "trip_policy", "window_type", "window_size",
        "window_duration", "window_buckets", "failure_rate_threshold",
        "slow_call_duration_threshold", "slow_call_rate_threshold"}) {
    if (text.find(field) != std::string::npos) return true;
  }
  return false;
}

std::uint64_t max_epochs() {
  static const std::uint64_t value = [] {
    const char* text = std::getenv("BREAKER_FUZZ_MAX_EPOCHS");
    const std::uint64_t v = text != nullptr ? std::strtoull(text, nullptr, 10) : 0;
    return v == 0 ? std::uint64_t{140'000} : std::min<std::uint64_t>(v, 140'000);
  }();
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  CircuitBreakerConfig c;
  c.failure_threshold = read_count(in);
  c.success_threshold = read_count(in);
  c.timeout_duration = read_duration(in, false);
  c.half_open_max_requests = read_count(in);
  c.minimum_request_threshold = read_count(in);
  c.call_timeout = read_duration(in, true);
  const std::uint8_t flags = in.u8();
  c.count_timeout_as_failure = (flags & 1) != 0;
  c.record_call_durations = (flags & 2) != 0;
  if ((flags & 4) != 0) read_issue12_fields(in, c);
  if ((flags & 8) != 0) read_window_fields(in, c);

  std::string message;
  const std::error_code invalid = c.validate(&message);
  std::error_code ec;
  const CircuitBreakerConfigBuilder builder(c);
  const CircuitBreakerConfig built = builder.build(ec);
  if (invalid) {
    if (invalid != errc::invalid_config || ec != errc::invalid_config)
      fail("invalid config, wrong error code");
    if (!(built == CircuitBreakerConfig{}))
      fail("build(ec) of an invalid config did not return the defaults");
    if (!names_a_field(message)) fail("validation message names no field: " + message);
    try {
      (void)builder.build();
      fail("build() accepted an invalid config: " + describe(c));
    } catch (const CircuitBreakerError& e) {
      if (e.code() != make_error_code(errc::invalid_config) || !names_a_field(e.what()))
        fail(std::string("build() threw the wrong error: ") + e.what());
    }
    try {
      CircuitBreaker<testing::ManualClock> b("fuzz", c);
      fail("the constructor accepted an invalid config: " + describe(c));
    } catch (const CircuitBreakerError& e) {
      if (e.code() != make_error_code(errc::invalid_config) || e.breaker_name() != "fuzz" ||
          !names_a_field(e.what()))
        fail(std::string("the constructor threw the wrong error: ") + e.what());
    }
    return 0;
  }
  if (ec || !(built == c)) fail("build(ec) changed or refused a valid config: " + describe(c));

  const std::int64_t start_ns = static_cast<std::int64_t>(in.u16()) * 1'000'003;
  std::vector<Step> steps;
  steps.reserve(in.left() / 4);
  while (in.left() >= 4 && steps.size() < 4096) {
    Step step;
    step.op = static_cast<Op>(in.u8() % static_cast<std::uint8_t>(Op::count_));
    step.b = in.u8();
    step.a = in.u16();
    steps.push_back(step);
  }
  RunOptions options;
  options.max_epochs = max_epochs();
  options.max_burst = 1000;
  if (auto failure = run_sequence(c, start_ns, steps, options)) {
    Sequence s{"fuzz", c, start_ns, steps};
    fail("mismatch with the reference model after step #" + std::to_string(failure->step) + ": " +
         failure->message + "\nshortest failing sequence:\n" +
         format_sequence(s, shrink(s, options, 2000), options));
  }
  return 0;
}
