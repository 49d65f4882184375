// SPDX-License-Identifier: Apache-2.0
// Compiled (not run) by the package tests: breaker::prometheus brings its header and
// prometheus-cpp's headers to a consumer.

#include <breaker/prometheus.hpp>

void breaker_prometheus_consumer_compiles();
void breaker_prometheus_consumer_compiles() {}
