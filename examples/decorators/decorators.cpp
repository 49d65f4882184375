// SPDX-License-Identifier: Apache-2.0
//
// decorators: protect single calls with with_circuit_breaker / with_circuit_breaker_and_fallback,
// and a whole client with ClientWithBreaker.
//
// 1. A coroutine call (a weather forecast) through with_circuit_breaker: the breaker "weather" is
//    created in breaker::global_registry() on first use and shared by every later call site.
// 2. The same service down: three failures open the breaker; then calls are rejected without
//    reaching the service, and with_circuit_breaker_and_fallback serves a cached forecast.
// 3. A synchronous call (a settings lookup) through the same functions: no coroutine needed.
// 4. An alerts client wrapped by ClientWithBreaker: every member, coroutine or plain, goes through
//    one breaker; when the client fails, all its members are rejected together.
// 5. The registry's health check sees both open breakers.
//
// Every result is checked; the program exits 1 if any is not the expected one (it is also the
// CTest test example.decorators). No real time passes: nothing here waits for an open period.

#include <breaker/breaker.hpp>

#include <asio.hpp>

#include <exception>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

int mismatches = 0;

// Prints the check and counts it when it does not hold.
void expect(bool ok, const std::string& what) {
  std::cout << (ok ? "   ok:    " : "   WRONG: ") << what << '\n';
  if (!ok) ++mismatches;
}

// A forecast service on the network, simulated: `down` makes it fail.
struct WeatherService {
  bool down = false;
  int calls = 0;

  asio::awaitable<std::string> forecast(std::string city) {
    ++calls;
    co_await asio::post(asio::use_awaitable);  // the request in flight
    if (down) throw std::runtime_error("weather service unavailable");
    co_return "sunny in " + city;
  }
};

// A settings store with a blocking client.
struct SettingsDb {
  std::map<std::string, std::string> rows{{"theme", "dark"}};

  std::string lookup(const std::string& key) const {
    auto it = rows.find(key);
    if (it == rows.end()) throw std::out_of_range("no setting " + key);
    return it->second;
  }
};

// A client with coroutine and plain members, like the seed's Sentinel client.
class AlertsClient {
 public:
  bool down = false;
  int calls = 0;

  asio::awaitable<std::vector<std::string>> fetch_alerts(int limit) {
    ++calls;
    co_await asio::post(asio::use_awaitable);
    if (down) throw std::runtime_error("alerts service unavailable");
    std::vector<std::string> alerts;
    for (int i = 1; i <= limit; ++i) alerts.push_back("alert-" + std::to_string(i));
    co_return alerts;
  }
  bool ping() {
    ++calls;
    if (down) throw std::runtime_error("alerts service unavailable");
    return true;
  }
};

bool is_rejection(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const breaker::CircuitBreakerError& e) {
    return e.error() == breaker::errc::open;
  } catch (...) {
    return false;
  }
}

// Opens after 3 consecutive failures. minimum_request_threshold(0): no volume gate, so the
// breaker opens on those failures alone (the default, 10, waits for 10 calls first).
breaker::CircuitBreakerConfig three_strikes() {
  return breaker::CircuitBreakerConfig::builder()
      .failure_threshold(3)
      .minimum_request_threshold(0)
      .timeout_duration(std::chrono::seconds(30))
      .build();
}

asio::awaitable<void> demo() {
  using breaker::with_circuit_breaker;
  using breaker::with_circuit_breaker_and_fallback;
  const breaker::CircuitBreakerConfig config = three_strikes();

  std::cout << "1. A coroutine call through with_circuit_breaker.\n";
  WeatherService weather;
  // [docs:with-circuit-breaker]
  // Named before the co_await (a g++ 12 bug destroys the captures of a lambda written inside a
  // co_await expression twice); invoked only when the breaker admits the call.
  auto forecast = [&weather] { return weather.forecast("Lisbon"); };
  std::string result = co_await with_circuit_breaker("weather", config, forecast);
  // [docs:with-circuit-breaker]
  expect(result == "sunny in Lisbon", "the forecast is \"" + result + "\"");
  const auto weather_breaker = breaker::global_registry().get("weather");
  expect(weather_breaker->stats().successful_calls == 1, "the \"weather\" breaker saw 1 success");

  std::cout << "2. The service goes down: three failures open the breaker.\n";
  weather.down = true;
  for (int i = 1; i <= 3; ++i) {
    try {
      co_await with_circuit_breaker("weather", config, forecast);
      expect(false, "call " + std::to_string(i) + " should have failed");
    } catch (const std::runtime_error& e) {  // the service's own exception, unchanged
      expect(std::string(e.what()) == "weather service unavailable",
             "call " + std::to_string(i) + " failed: " + e.what());
    }
  }
  expect(weather_breaker->state() == breaker::State::open, "the breaker is open");
  const int calls_when_opened = weather.calls;
  std::exception_ptr error;
  try {
    co_await with_circuit_breaker("weather", config, forecast);
  } catch (...) {
    error = std::current_exception();
  }
  expect(is_rejection(error), "the next call is rejected (errc::open)");
  // [docs:with-fallback]
  auto cached = [] { return std::string("cached: mild in Lisbon"); };
  result = co_await with_circuit_breaker_and_fallback("weather", config, forecast, cached);
  // [docs:with-fallback]
  expect(result == "cached: mild in Lisbon", "with a fallback: \"" + result + "\"");
  expect(weather.calls == calls_when_opened, "the service was not called while open");

  std::cout << "3. A synchronous call through the same functions.\n";
  SettingsDb db;
  auto theme = [&db] { return db.lookup("theme"); };
  result = with_circuit_breaker("settings-db", breaker::CircuitBreakerConfig::for_database(), theme);
  expect(result == "dark", "the theme is \"" + result + "\"");
  auto missing = [&db] { return db.lookup("font"); };
  result = with_circuit_breaker_and_fallback(
      "settings-db", breaker::CircuitBreakerConfig::for_database(), missing,
      [] { return std::string("default"); });
  expect(result == "default", "a missing setting falls back to \"" + result + "\"");

  std::cout << "4. A whole client behind one breaker: ClientWithBreaker.\n";
  breaker::ClientWithBreaker<AlertsClient> alerts{AlertsClient{}, "alerts", config};
  auto fetched = co_await alerts.call(&AlertsClient::fetch_alerts, 2);
  expect(fetched == std::vector<std::string>{"alert-1", "alert-2"},
         "fetch_alerts(2) returned " + std::to_string(fetched.size()) + " alerts");
  expect(alerts.call(&AlertsClient::ping), "ping() (a plain member) returned true");
  alerts.client().down = true;
  for (int i = 0; i < 3; ++i) {  // failures of any member count for the one breaker
    try {
      if (i % 2 == 0) {
        co_await alerts.call(&AlertsClient::fetch_alerts, 1);
      } else {
        alerts.call(&AlertsClient::ping);
      }
    } catch (const std::runtime_error&) {
    }
  }
  expect(alerts.breaker()->state() == breaker::State::open,
         "after 3 failures across its members the \"alerts\" breaker is open");
  const int client_calls = alerts.client().calls;
  auto none = [] { return std::vector<std::string>{}; };
  fetched = co_await alerts.call_with_fallback(&AlertsClient::fetch_alerts, none, 5);
  expect(fetched.empty(), "fetch_alerts with a fallback returned the fallback (no alerts)");
  error = nullptr;
  try {
    alerts.call(&AlertsClient::ping);
  } catch (...) {
    error = std::current_exception();
  }
  expect(is_rejection(error), "ping() is rejected too");
  expect(alerts.client().calls == client_calls, "the client was not called while open");

  std::cout << "5. The global registry sees every breaker the decorators and the client use.\n";
  const breaker::HealthReport health = breaker::global_registry().health_check();
  std::cout << "   " << breaker::to_json(health) << '\n';
  expect(health.total_breakers == 3 && health.open == 2 && !health.healthy,
         "3 breakers, 2 open: degraded");
}

}  // namespace

int main() {
  asio::io_context ctx;
  std::exception_ptr error;
  asio::co_spawn(ctx, demo(), [&](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cout << "demo failed: " << e.what() << '\n';
    }
    return 1;
  }
  std::cout << (mismatches == 0 ? "Done: every result as expected.\n" : "Done, with WRONG results.\n");
  return mismatches == 0 ? 0 : 1;
}
