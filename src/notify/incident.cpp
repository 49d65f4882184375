// SPDX-License-Identifier: Apache-2.0

#include "breaker/notify/incident.hpp"
#include "breaker/notify/error.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

namespace breaker::notify {

std::string_view to_string(Severity severity) noexcept {
  switch (severity) {
    case Severity::info:
      return "info";
    case Severity::warning:
      return "warning";
    case Severity::error:
      return "error";
    case Severity::critical:
      return "critical";
  }
  return "error";
}

std::string_view to_string(IncidentStatus status) noexcept {
  return status == IncidentStatus::resolve ? "resolve" : "trigger";
}

std::optional<Severity> parse_severity(std::string_view name) noexcept {
  for (Severity s : {Severity::info, Severity::warning, Severity::error, Severity::critical}) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<IncidentStatus> parse_status(std::string_view name) noexcept {
  for (IncidentStatus s : {IncidentStatus::trigger, IncidentStatus::resolve}) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

std::error_code validate(const Incident& incident, std::string* message) {
  auto fail = [&](const char* text) {
    if (message != nullptr) *message = text;
    return make_error_code(errc::invalid_incident);
  };
  if (incident.id.empty()) return fail("Incident::id must not be empty");
  if (incident.id.size() > 255) return fail("Incident::id must be at most 255 bytes");
  if (incident.title.empty()) return fail("Incident::title must not be empty");
  if (static_cast<unsigned>(incident.severity) > static_cast<unsigned>(Severity::critical)) {
    return fail("Incident::severity is not one of info, warning, error, critical");
  }
  if (static_cast<unsigned>(incident.status) > static_cast<unsigned>(IncidentStatus::resolve)) {
    return fail("Incident::status is not one of trigger, resolve");
  }
  try {
    (void)detail::incident_to_record(incident).dump();  // throws on invalid UTF-8
  } catch (const nlohmann::json::type_error&) {
    return fail("Incident fields must be valid UTF-8");
  }
  return {};
}

std::string make_notification_id() {
  // One generator per thread, seeded from the OS: ids from different threads and
  // processes do not collide in practice (128 random bits).
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  std::array<char, 33> text{};
  std::snprintf(text.data(), text.size(), "%016llx%016llx",
                static_cast<unsigned long long>(engine()), static_cast<unsigned long long>(engine()));
  return std::string(text.data(), 32);
}

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t.time_since_epoch());
  const auto secs = floor<seconds>(ms);
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 32> date{};
  std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::array<char, 48> text{};
  std::snprintf(text.data(), text.size(), "%s.%03dZ", date.data(),
                static_cast<int>((ms - secs).count()));
  return text.data();
}

void to_json(nlohmann::json& out, const Incident& incident) {
  out = nlohmann::json::object();
  out["id"] = incident.id;
  out["title"] = incident.title;
  out["severity"] = to_string(incident.severity);
  out["status"] = to_string(incident.status);
  out["summary"] = incident.summary;
  out["source"] = incident.source;
  const std::chrono::system_clock::time_point unknown{};
  if (incident.created_at != unknown) out["created_at"] = format_rfc3339(incident.created_at);
  if (incident.updated_at != unknown) out["updated_at"] = format_rfc3339(incident.updated_at);
  out["details"] = incident.details;
}

namespace detail {

nlohmann::json incident_to_record(const Incident& incident) {
  nlohmann::json out;
  out["id"] = incident.id;
  out["title"] = incident.title;
  out["severity"] = to_string(incident.severity);
  out["status"] = to_string(incident.status);
  out["summary"] = incident.summary;
  out["source"] = incident.source;
  out["created_at_ns"] =
      std::chrono::duration_cast<std::chrono::nanoseconds>(incident.created_at.time_since_epoch()).count();
  out["updated_at_ns"] =
      std::chrono::duration_cast<std::chrono::nanoseconds>(incident.updated_at.time_since_epoch()).count();
  out["details"] = incident.details;
  return out;
}

Incident incident_from_record(const nlohmann::json& record) {
  Incident incident;
  incident.id = record.at("id").get<std::string>();
  incident.title = record.at("title").get<std::string>();
  const auto severity = parse_severity(record.at("severity").get<std::string>());
  const auto status = parse_status(record.at("status").get<std::string>());
  if (!severity || !status) {
    throw std::system_error(make_error_code(errc::invalid_incident), "unknown severity or status");
  }
  incident.severity = *severity;
  incident.status = *status;
  incident.summary = record.at("summary").get<std::string>();
  incident.source = record.at("source").get<std::string>();
  using std::chrono::system_clock;
  incident.created_at = system_clock::time_point{std::chrono::duration_cast<system_clock::duration>(
      std::chrono::nanoseconds{record.at("created_at_ns").get<std::int64_t>()})};
  incident.updated_at = system_clock::time_point{std::chrono::duration_cast<system_clock::duration>(
      std::chrono::nanoseconds{record.at("updated_at_ns").get<std::int64_t>()})};
  incident.details = record.at("details").get<std::map<std::string, std::string>>();
  return incident;
}

}  // namespace detail
}  // namespace breaker::notify
