// SPDX-License-Identifier: Apache-2.0
#pragma once

// Internal to the http component: the factory of the multi-handle driver.

#include "breaker/http/detail/completion.hpp"

#include <asio/any_io_executor.hpp>

#include <memory>

namespace breaker::http::detail {

/// A driver of a new curl multi handle whose waits run on a strand of `executor`.
/// \throws std::system_error (curl-multi category) when curl_multi_init fails.
std::shared_ptr<MultiDriver> make_multi_driver(asio::any_io_executor executor);

}  // namespace breaker::http::detail
