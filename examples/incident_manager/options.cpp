// SPDX-License-Identifier: Apache-2.0
#include "options.hpp"

#include <charconv>

namespace incident_manager {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::chrono::milliseconds total{0};
  const std::chrono::milliseconds limit = std::chrono::hours(24);
  while (!text.empty()) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end == text.data()) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    std::uint64_t unit_ms = 0;
    if (text.starts_with("ms")) {
      unit_ms = 1;
      text.remove_prefix(2);
    } else if (text.starts_with("s")) {
      unit_ms = 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("m")) {
      unit_ms = 60'000;
      text.remove_prefix(1);
    } else if (text.starts_with("h")) {
      unit_ms = 3'600'000;
      text.remove_prefix(1);
    } else {
      return std::nullopt;  // a number needs its unit: "30" is ambiguous
    }
    if (value > static_cast<std::uint64_t>(limit.count()) / unit_ms) return std::nullopt;
    total += std::chrono::milliseconds(static_cast<std::int64_t>(value * unit_ms));
    if (total > limit) return std::nullopt;
  }
  if (total.count() == 0) return std::nullopt;
  return total;
}

ParseResult parse_options(const std::vector<std::string>& args) {
  DemoOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag == "--help" || flag == "-h") {
      if (inline_value) return UsageError{"--help takes no value"};
      return HelpRequested{};
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (flag == "--port") {
      const auto v = value();
      if (!v) return UsageError{"--port needs a value (0 picks a free port)"};
      unsigned long port = 0;
      const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), port);
      if (ec != std::errc{} || end != v->data() + v->size() || port > 65535) {
        return UsageError{"--port must be a number from 0 to 65535, not '" + *v + "'"};
      }
      options.port = static_cast<std::uint16_t>(port);
    } else if (flag == "--duration") {
      const auto v = value();
      if (!v) return UsageError{"--duration needs a value such as 30s"};
      const auto d = parse_duration(*v);
      if (!d) {
        return UsageError{"--duration must be a positive duration up to 24h with units ms, s, "
                          "m or h (e.g. 30s, 1m30s), not '" + *v + "'"};
      }
      options.duration = *d;
    } else if (flag == "--postgres") {
      const auto v = value();
      if (!v || v->empty()) return UsageError{"--postgres needs a connection string"};
      options.postgres_url = *v;
    } else if (flag == "--redis") {
      const auto v = value();
      if (!v || !v->starts_with("redis://")) {
        return UsageError{"--redis needs a URL of the form redis://127.0.0.1:PORT"};
      }
      options.redis_url = *v;
    } else if (flag == "--view") {
      const auto v = value();
      if (v == "auto") {
        options.view = DemoOptions::View::automatic;
      } else if (v == "plain") {
        options.view = DemoOptions::View::plain;
      } else if (v == "off") {
        options.view = DemoOptions::View::off;
      } else {
        return UsageError{"--view must be auto, plain or off"};
      }
    } else if (flag == "--seed") {
      const auto v = value();
      std::uint64_t seed = 0;
      const auto parsed = v ? std::from_chars(v->data(), v->data() + v->size(), seed)
                            : std::from_chars_result{nullptr, std::errc::invalid_argument};
      if (!v || v->empty() || parsed.ec != std::errc{} || parsed.ptr != v->data() + v->size()) {
        return UsageError{"--seed needs a non-negative integer"};
      }
      options.seed = seed;
    } else {
      return UsageError{"unknown argument '" + args[i] + "'"};
    }
  }
  return options;
}

std::string usage(std::string_view program) {
  std::string text = "usage: ";
  text += program;
  text += R"( [--port N] [--duration D] [--postgres CONNINFO] [--redis URL] [--view MODE] [--seed N]

An incident-manager service protected by circuit breakers. It starts flaky loopback servers for
its dependencies (a sentinel alert source, an LLM summariser, a Slack webhook and a PagerDuty
sink) whose failure modes switch on a schedule, and serves on 127.0.0.1:
  /             a live status page (one row per breaker)
  /api/breakers the same data as JSON
  /health       the registry's health JSON (200 healthy, 503 degraded)
  /metrics      Prometheus text exposition
  /api/alerts   a guarded endpoint: the sentinel's alerts, else the cached ones (fallback),
                else 503 + Retry-After (also while its breaker is open)

  --port N          port of the demo's server (default 0: a free port, printed as
                    "listening on http://127.0.0.1:<port>")
  --duration D      how long to run before the summary (default 30s; units ms, s, m, h)
  --postgres CONN   keep incidents in PostgreSQL (libpq connection string with hostaddr=...)
                    instead of the in-memory store
  --redis URL       cache in Redis (redis://127.0.0.1:PORT) instead of the in-memory cache
  --view MODE       auto (redraw in place on a terminal, lines otherwise), plain, or off
                    (default auto)
  --seed N          seed of the sentinel's alerts (services, problems, severities; the
                    failure schedule is fixed) (default 1)
  --help            this text

Breakers: one per dependency, named sentinel-alerts, llm-summariser (call_timeout 400 ms),
incident-store, incident-cache, notify.slack, notify.pagerduty, and api-alerts (the server guard),
with the seed's presets (for_http_api, for_llm_service, for_database, for_cache,
for_notifications) except two fields scaled to the run so that each can open, probe and close
within --duration: timeout_duration = min(preset, max(500 ms, duration / 15)) and
minimum_request_threshold = min(preset, 3). notify.pagerduty trips on a failure rate
instead (>= 50 % of its last 10 outcomes, from 4 on): its sink fails every other request,
which ten consecutive failures would never catch.

After --duration the demo stops polling, waits (at most max(5 s, duration / 4)) for the
notification retry queues to drain, prints a summary and exits.
Ctrl-C ends the demo early, with the summary. Exit codes: 0 done, 1 runtime error, 2 bad usage.
)";
  return text;
}

}  // namespace incident_manager
