// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// `breaker::Outcome` and outcome policies: what counts as a failure.
///
/// An **outcome policy** is any copyable object `P`; each overload is
/// optional:
///
///     Outcome P::operator()(const T& value) const;              // classifies a value
///     Outcome P::operator()(const std::exception_ptr& e) const; // classifies an exception
///
/// Missing value overload: a value is a success (an Asio error-code style
/// value, `std::error_code` or `std::tuple<std::error_code, T...>`, is
/// classified by its code: `operation_aborted` ignored, other non-zero codes
/// failure, zero success). Missing exception overload: the default rules (a
/// cancellation, `std::system_error` with `asio::error::operation_aborted`,
/// is ignored; anything else is a failure). `DefaultOutcomePolicy` is both
/// defaults and costs nothing.
///
/// One line each for the cases the leading breakers offer:
///
///     breaker::record_exceptions<Timeout, Unavailable>()  // Resilience4j recordExceptions
///     breaker::ignore_exceptions<std::out_of_range>()     // Resilience4j ignoreExceptions
///     breaker::record_result([](const Response& r) { return r.status >= 500; })  // recordResult, Polly HandleResult
///     breaker::is_successful([](const std::exception_ptr& e) { ... })            // gobreaker IsSuccessful
///     breaker::combine(record_result(...), ignore_exceptions<NotFound>())
///
/// Thread safety: a policy is moved into each call and used (its `const`
/// overloads) on the thread that finishes the call. Exception safety: a
/// policy that throws makes the call count as ignored, and its exception
/// propagates to the caller instead of the operation's value or exception.

#include <asio/error.hpp>

#include <concepts>
#include <cstdint>
#include <exception>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace breaker {

/// What an admitted call counts as: a success, a failure, or neither
/// (`ignored`, e.g. a cancellation).
enum class Outcome : std::uint8_t { success, failure, ignored };

/// Today's rules exactly: every value a success (error-code style values by
/// their code), exceptions by the default rules. Zero cost.
struct DefaultOutcomePolicy {};

namespace detail {

/// The name the state-word rules use.
using Outcome = breaker::Outcome;

/// Whether `code` means the operation was cancelled (ignored, not a failure).
inline bool is_cancellation(const std::error_code& code) noexcept {
  return code == asio::error::operation_aborted;
}

/// Whether `error` is a cancellation: a `std::system_error` carrying
/// `asio::error::operation_aborted`.
inline bool is_cancelled(const std::exception_ptr& error) noexcept {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    return is_cancellation(e.code());
  } catch (...) {
  }
  return false;
}

/// The default rules for an exception.
inline Outcome default_exception_outcome(const std::exception_ptr& error) noexcept {
  return is_cancelled(error) ? Outcome::ignored : Outcome::failure;
}

/// The outcome of an error code: zero success, cancellation ignored, else failure.
inline Outcome code_outcome(const std::error_code& code) noexcept {
  if (!code) return Outcome::success;
  return is_cancellation(code) ? Outcome::ignored : Outcome::failure;
}

template <class T>
struct is_error_code_style : std::false_type {};
template <>
struct is_error_code_style<std::error_code> : std::true_type {};
template <class... T>
struct is_error_code_style<std::tuple<std::error_code, T...>> : std::true_type {};

/// Asio's error-code style results: `std::error_code` and
/// `std::tuple<std::error_code, T...>` (from `as_tuple(use_awaitable)`).
template <class T>
inline constexpr bool is_error_code_style_v = is_error_code_style<std::remove_cvref_t<T>>::value;

/// `P` has a value overload for `T`.
template <class P, class T>
concept classifies_value = !std::is_same_v<std::remove_cvref_t<T>, std::exception_ptr> &&
                           requires(const P& p, const T& v) {
                             { p(v) } -> std::convertible_to<Outcome>;
                           };

/// `P` has an exception overload.
template <class P>
concept classifies_exception = requires(const P& p, const std::exception_ptr& e) {
  { p(e) } -> std::convertible_to<Outcome>;
};

/// The outcome of a value under `policy`, with the defaults applied.
template <class Policy, class T>
constexpr Outcome classify_value(const Policy& policy, const T& value) {
  if constexpr (classifies_value<Policy, T>) {
    return static_cast<Outcome>(policy(value));
  } else if constexpr (is_error_code_style_v<T>) {
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, std::error_code>) {
      return code_outcome(value);
    } else {
      return code_outcome(std::get<0>(value));
    }
  } else {
    (void)policy;
    (void)value;
    return Outcome::success;
  }
}

/// The outcome of an exception under `policy`, with the defaults applied.
template <class Policy>
Outcome classify_exception(const Policy& policy, const std::exception_ptr& error) {
  if constexpr (classifies_exception<Policy>) {
    return static_cast<Outcome>(policy(error));
  } else {
    (void)policy;
    return default_exception_outcome(error);
  }
}

/// Whether `error` holds an exception of one of `E...` (or derived from one).
template <class... E>
bool holds_any_of(const std::exception_ptr& error) {
  if constexpr (sizeof...(E) == 0) {
    (void)error;
    return false;
  } else {
    return ([&error]<class One>() {
      try {
        std::rethrow_exception(error);
      } catch (const One&) {
        return true;
      } catch (...) {
      }
      return false;
    }.template operator()<E>() || ...);
  }
}

template <class... E>
struct RecordExceptions {
  Outcome operator()(const std::exception_ptr& error) const {
    if (is_cancelled(error)) return Outcome::ignored;
    return holds_any_of<E...>(error) ? Outcome::failure : Outcome::success;
  }
};

template <class... E>
struct IgnoreExceptions {
  Outcome operator()(const std::exception_ptr& error) const {
    if (holds_any_of<E...>(error)) return Outcome::ignored;
    return default_exception_outcome(error);
  }
};

template <class Pred>
struct RecordResult {
  Pred is_failure;
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, std::exception_ptr> &&
             std::predicate<const Pred&, const T&>)
  Outcome operator()(const T& value) const {
    return is_failure(value) ? Outcome::failure : Outcome::success;
  }
};

template <class Pred>
struct IsSuccessful {
  Pred successful;
  Outcome operator()(const std::exception_ptr& error) const {
    if (is_cancelled(error)) return Outcome::ignored;
    return successful(error) ? Outcome::success : Outcome::failure;
  }
};

template <class... P>
struct Combined {
  std::tuple<P...> policies;

  template <class T>
    requires(classifies_value<P, T> || ...)
  Outcome operator()(const T& value) const {
    return first_value<0>(value);
  }

  Outcome operator()(const std::exception_ptr& error) const
    requires(classifies_exception<P> || ...)
  {
    return first_exception<0>(error);
  }

 private:
  template <std::size_t I, class T>
  Outcome first_value(const T& value) const {
    using Pi = std::tuple_element_t<I, std::tuple<P...>>;
    if constexpr (classifies_value<Pi, T>) {
      return static_cast<Outcome>(std::get<I>(policies)(value));
    } else {
      return first_value<I + 1>(value);
    }
  }
  template <std::size_t I>
  Outcome first_exception(const std::exception_ptr& error) const {
    using Pi = std::tuple_element_t<I, std::tuple<P...>>;
    if constexpr (classifies_exception<Pi>) {
      return static_cast<Outcome>(std::get<I>(policies)(error));
    } else {
      return first_exception<I + 1>(error);
    }
  }
};

}  // namespace detail

/// The exception rule of an adapter whose own exception type `E` it
/// classifies with `classify(const E&) -> Outcome`: no exception is a
/// success, an `E` (or derived) is what `classify` says, a cancellation
/// (`std::system_error` with `asio::error::operation_aborted`) is ignored,
/// anything else is a failure. The PostgreSQL and Redis policies use it.
/// Thread safety: as `classify`. Never throws when `classify` does not.
template <class E, class Classify>
Outcome classify_exception_of(const std::exception_ptr& error, const Classify& classify) {
  if (!error) return Outcome::success;
  try {
    std::rethrow_exception(error);
  } catch (const E& e) {
    return static_cast<Outcome>(classify(e));
  } catch (...) {
  }
  return detail::default_exception_outcome(error);
}

/// Resilience4j `recordExceptions`: only exceptions of the types `E...` (and
/// types derived from them) are failures; other exceptions are successes; a
/// cancellation is ignored. Values follow the defaults.
template <class... E>
constexpr detail::RecordExceptions<E...> record_exceptions() noexcept {
  return {};
}

/// Resilience4j `ignoreExceptions`: exceptions of the types `E...` (and
/// derived) are ignored; others follow the default rules.
template <class... E>
constexpr detail::IgnoreExceptions<E...> ignore_exceptions() noexcept {
  return {};
}

/// Resilience4j `recordResult` / Polly `HandleResult`: `is_failure(const T&)`
/// returns true for a value that is a failure (e.g. an HTTP 503 response).
/// Values it cannot take follow the defaults; so do exceptions.
template <class Pred>
constexpr detail::RecordResult<std::decay_t<Pred>> record_result(Pred&& is_failure) {
  return {std::forward<Pred>(is_failure)};
}

/// gobreaker `IsSuccessful(err)`: `successful(const std::exception_ptr&)`
/// returns true for an exception that counts as a success. A cancellation
/// stays ignored. Values follow the defaults.
template <class Pred>
constexpr detail::IsSuccessful<std::decay_t<Pred>> is_successful(Pred&& successful) {
  return {std::forward<Pred>(successful)};
}

/// Several policies in one: for a value, the first policy that can classify
/// it decides; for an exception, the first policy with an exception overload;
/// what none of them classifies follows the defaults.
template <class... P>
constexpr detail::Combined<std::decay_t<P>...> combine(P&&... policies) {
  return {std::tuple<std::decay_t<P>...>(std::forward<P>(policies)...)};
}

}  // namespace breaker
