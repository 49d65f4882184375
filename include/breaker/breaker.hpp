// SPDX-License-Identifier: Apache-2.0
#pragma once

/// \file
/// Umbrella header of the core library (not the Prometheus component).

#include "breaker/circuit_breaker.hpp"
#include "breaker/client.hpp"
#include "breaker/config.hpp"
#include "breaker/decorators.hpp"
#include "breaker/error.hpp"
#include "breaker/events.hpp"
#include "breaker/fallback_context.hpp"
#include "breaker/outcome.hpp"
#include "breaker/permit.hpp"
#include "breaker/state.hpp"
#include "breaker/stats.hpp"
#include "breaker/window_stats.hpp"
#include "breaker/testing/manual_clock.hpp"
#include "breaker/health.hpp"
#include "breaker/registry.hpp"
