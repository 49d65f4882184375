// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// A valid `CircuitBreakerConfig` packed into 12 64-bit words instead of its
/// 21 words of bytes (168 bytes, 32 of them padding), so that the copy each
/// breaker keeps (`config_cell.hpp`) is 96 bytes.
///
/// Each field takes the bits its valid range needs (`validate()` bounds every
/// one): thresholds 10-20 bits, durations 35 bits (365 days in ms < 2^35),
/// enums 8 bits, bools 1 bit; doubles and `jitter_seed` keep all 64 bits, so
/// every valid config round-trips exactly (`decode(encode(c)) == c`, checked
/// by an assert in the cell in debug builds and by tests).
///
/// The field list is written once (`fields()`), walked by the encoder and
/// the decoder alike. A field added to `CircuitBreakerConfig` changes its
/// member count: `packs_every_field` turns false, the cell falls back to the
/// config's bytes (correct, only larger), and
/// tests/unit/test_memory_per_breaker.cpp fails until the new field is in
/// `fields()`.

#include "breaker/config.hpp"

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace breaker::detail {

/// Converts to any member type: `T{AnyField{}, ...}` compiles for up to as
/// many initialisers as the aggregate `T` has members.
struct AnyField {
  template <class T>
  operator T() const noexcept;  // never defined: unevaluated contexts only
};

template <class T, std::size_t... I>
constexpr bool takes_initializers(std::index_sequence<I...>) noexcept {
  return requires { T{((void)I, AnyField{})...}; };
}

/// The number of members of the aggregate `T`.
template <class T, std::size_t N = 0>
constexpr std::size_t member_count() noexcept {
  if constexpr (!takes_initializers<T>(std::make_index_sequence<N + 1>{})) {
    return N;
  } else {
    return member_count<T, N + 1>();
  }
}

class ConfigCodec {
 public:
  /// The packed config: 12 words (737 bits used).
  static constexpr std::size_t words = 12;
  using Words = std::array<std::uint64_t, words>;

  // The helpers before the functions that use them: clang 14 cannot evaluate
  // at compile time a member function template defined after its caller.
 private:
  static constexpr unsigned millis_bits = 35;
  static_assert(CircuitBreakerConfig::max_duration.count() < (std::int64_t{1} << millis_bits));
  static_assert(CircuitBreakerConfig::max_count < (1u << 16));
  static_assert(CircuitBreakerConfig::max_half_open_requests < (1u << 12));
  static_assert(CircuitBreakerConfig::max_window_size < (1u << 20));
  static_assert(CircuitBreakerConfig::max_window_buckets < (1u << 10));
  static_assert(CircuitBreakerConfig::max_duration_sample_every < (1u << 11));

  // The one list of fields, in declaration order, with the bits of each.
  template <class Io, class Config>
  [[gnu::always_inline]] static constexpr void fields(Io& io, Config& c) noexcept {
    io.bits(c.failure_threshold, 16);
    io.bits(c.success_threshold, 16);
    io.millis(c.timeout_duration);
    io.bits(c.half_open_max_requests, 12);
    io.bits(c.count_timeout_as_failure, 1);
    io.bits(c.minimum_request_threshold, 16);
    io.bits(c.trip_policy, 8);
    io.bits(c.window_type, 8);
    io.bits(c.window_size, 20);
    io.millis(c.window_duration);
    io.bits(c.window_buckets, 10);
    io.whole(c.failure_rate_threshold);
    io.millis(c.slow_call_duration_threshold);
    io.whole(c.slow_call_rate_threshold);
    io.millis(c.call_timeout);
    io.bits(c.record_call_durations, 1);
    io.bits(c.duration_sample_every, 11);
    io.bits(c.open_duration_policy, 8);
    io.whole(c.backoff_multiplier);
    io.millis(c.max_open_duration);
    io.bits(c.open_duration_jitter, 8);
    io.whole(c.jitter_ratio);
    io.whole(c.jitter_seed);
    io.millis(c.max_wait_in_half_open);
    io.bits(c.half_open_close, 8);
    io.whole(c.half_open_success_ratio);
  }

  static constexpr std::uint64_t mask(unsigned n) noexcept {
    return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
  }

  template <class T>
  static constexpr std::uint64_t raw(T value) noexcept {
    if constexpr (std::is_enum_v<T>) {
      return static_cast<std::uint64_t>(static_cast<std::underlying_type_t<T>>(value));
    } else {
      return static_cast<std::uint64_t>(value);
    }
  }

  // Fields are written one after the other into a stream of bits; a field
  // may straddle two words. Everything is inlined: the positions are then
  // constants and each field costs a few shifts (a call per field made the
  // encoder cost 600 instructions).
  struct Writer {
    Words out{};
    std::size_t pos = 0;

    [[gnu::always_inline]] constexpr void put(std::uint64_t value, unsigned n) noexcept {
      value &= mask(n);
      const std::size_t word = pos / 64;
      const unsigned offset = static_cast<unsigned>(pos % 64);
      out[word] |= value << offset;
      if (offset + n > 64) out[word + 1] |= value >> (64 - offset);
      pos += n;
    }
    template <class T>
    [[gnu::always_inline]] constexpr void bits(const T& value, unsigned n) noexcept {
      put(raw(value), n);
    }
    [[gnu::always_inline]] constexpr void millis(const std::chrono::milliseconds& d) noexcept {
      put(static_cast<std::uint64_t>(d.count()), millis_bits);
    }
    [[gnu::always_inline]] constexpr void whole(const double& value) noexcept { put(std::bit_cast<std::uint64_t>(value), 64); }
    [[gnu::always_inline]] constexpr void whole(const std::uint64_t& value) noexcept { put(value, 64); }
  };

  struct Reader {
    const Words& in;
    std::size_t pos = 0;

    [[gnu::always_inline]] constexpr std::uint64_t get(unsigned n) noexcept {
      const std::size_t word = pos / 64;
      const unsigned offset = static_cast<unsigned>(pos % 64);
      std::uint64_t value = in[word] >> offset;
      if (offset + n > 64) value |= in[word + 1] << (64 - offset);
      pos += n;
      return value & mask(n);
    }
    template <class T>
    [[gnu::always_inline]] constexpr void bits(T& value, unsigned n) noexcept {
      if constexpr (std::is_same_v<T, bool>) {
        value = get(n) != 0;
      } else if constexpr (std::is_enum_v<T>) {
        value = static_cast<T>(static_cast<std::underlying_type_t<T>>(get(n)));
      } else {
        value = static_cast<T>(get(n));
      }
    }
    [[gnu::always_inline]] constexpr void millis(std::chrono::milliseconds& d) noexcept {
      d = std::chrono::milliseconds(static_cast<std::int64_t>(get(millis_bits)));
    }
    [[gnu::always_inline]] constexpr void whole(double& value) noexcept { value = std::bit_cast<double>(get(64)); }
    [[gnu::always_inline]] constexpr void whole(std::uint64_t& value) noexcept { value = get(64); }
  };

  struct Counter {
    std::size_t pos = 0;
    template <class T>
    constexpr void bits(const T&, unsigned n) noexcept {
      pos += n;
    }
    constexpr void millis(const std::chrono::milliseconds&) noexcept { pos += millis_bits; }
    template <class T>
    constexpr void whole(const T&) noexcept {
      pos += 64;
    }
  };

 public:
  /// The members `fields()` lists.
  static constexpr std::size_t known_members = 26;
  /// Whether `fields()` lists every member of `CircuitBreakerConfig`.
  static constexpr bool packs_every_field =
      member_count<CircuitBreakerConfig>() == known_members;

  /// Precondition: `config.validate()` passes (out-of-range values are cut).
  static constexpr Words encode(const CircuitBreakerConfig& config) noexcept {
    Writer w;
    fields(w, config);
    return w.out;
  }

  static constexpr CircuitBreakerConfig decode(const Words& in) noexcept {
    CircuitBreakerConfig config;
    Reader r{in};
    fields(r, config);
    return config;
  }

  /// Bits `fields()` uses.
  static constexpr std::size_t bits_used() noexcept {
    Counter c;
    CircuitBreakerConfig config;
    fields(c, config);
    return c.pos;
  }

};

static_assert(ConfigCodec::bits_used() <= ConfigCodec::words * 64);
// The defaults and the largest value of every field round-trip (at compile
// time; tests/unit/test_memory_per_breaker.cpp checks random valid configs).
static_assert(ConfigCodec::decode(ConfigCodec::encode(CircuitBreakerConfig{})) ==
              CircuitBreakerConfig{});
namespace config_codec_check {
constexpr CircuitBreakerConfig largest() noexcept {
  CircuitBreakerConfig c;
  c.failure_threshold = CircuitBreakerConfig::max_count;
  c.success_threshold = CircuitBreakerConfig::max_count;
  c.timeout_duration = CircuitBreakerConfig::max_duration;
  c.half_open_max_requests = CircuitBreakerConfig::max_half_open_requests;
  c.count_timeout_as_failure = false;
  c.minimum_request_threshold = CircuitBreakerConfig::max_count - 1;
  c.trip_policy = TripPolicy::failure_rate;
  c.window_type = WindowType::time_based;
  c.window_size = CircuitBreakerConfig::max_window_size;
  c.window_duration = CircuitBreakerConfig::max_duration;
  c.window_buckets = CircuitBreakerConfig::max_window_buckets;
  c.failure_rate_threshold = 100.0;
  c.slow_call_duration_threshold = CircuitBreakerConfig::max_duration;
  c.slow_call_rate_threshold = 0.1;
  c.call_timeout = CircuitBreakerConfig::max_duration;
  c.record_call_durations = false;
  c.duration_sample_every = CircuitBreakerConfig::max_duration_sample_every;
  c.open_duration_policy = OpenDurationPolicy::exponential_backoff;
  c.backoff_multiplier = 1000.0;
  c.max_open_duration = CircuitBreakerConfig::max_duration;
  c.open_duration_jitter = Jitter::proportional;
  c.jitter_ratio = 1.0;
  c.jitter_seed = ~std::uint64_t{0};
  c.max_wait_in_half_open = CircuitBreakerConfig::max_duration;
  c.half_open_close = HalfOpenClose::success_ratio;
  c.half_open_success_ratio = 0.5;
  return c;
}
static_assert(ConfigCodec::decode(ConfigCodec::encode(largest())) == largest());
}  // namespace config_codec_check

}  // namespace breaker::detail
