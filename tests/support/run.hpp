// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Test helpers: run a coroutine to completion on an io_context and rethrow.

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/awaitable.hpp>

#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace breaker::test {

/// Runs `make()` (returning `asio::awaitable<T>`) on `ctx` until the context
/// runs out of work, then returns its value or rethrows its exception.
template <class MakeAwaitable>
auto run(asio::io_context& ctx, MakeAwaitable&& make) {
  using Aw = std::invoke_result_t<MakeAwaitable&>;
  using T = typename Aw::value_type;
  std::exception_ptr error;
  bool done = false;
  if constexpr (std::is_void_v<T>) {
    asio::co_spawn(ctx, make(), [&](std::exception_ptr e) {
      error = e;
      done = true;
    });
    ctx.restart();
    ctx.run();
    if (!done) throw std::logic_error("coroutine did not finish");
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<T> value;
    asio::co_spawn(ctx, make(), [&](std::exception_ptr e, T v) {
      error = e;
      if (!e) value.emplace(std::move(v));
      done = true;
    });
    ctx.restart();
    ctx.run();
    if (!done) throw std::logic_error("coroutine did not finish");
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
}

/// Same, on a fresh io_context.
template <class MakeAwaitable>
auto run(MakeAwaitable&& make) {
  asio::io_context ctx;
  return run(ctx, std::forward<MakeAwaitable>(make));
}

}  // namespace breaker::test
