#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus (Debian's 2.42) scrapes examples/02_metrics_service on loopback with
docs/operations/breaker.rules.yml loaded; checked through Prometheus's HTTP API:
the seven breaker families arrive with their labels and values, every rule of the file loads
and evaluates without error, the recording rules produce series, and CircuitBreakerOpen is
pending for the one open breaker (it cannot fire within a test: it needs 5 minutes).

Usage: test_prometheus_scrape.py <02_metrics_service> <breaker.rules.yml> [<prometheus binary>]
(ctest: ops.prometheus.scrape, label ops). Python standard library only.
"""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support", "servers"))
from prometheus_server import DEFAULT_BINARY, PrometheusServer  # noqa: E402

SERVICE, RULES = sys.argv[1], sys.argv[2]
BINARY = sys.argv[3] if len(sys.argv) > 3 else DEFAULT_BINARY
JOB = "breaker-example"


def rule_names_in_file(path):
    """The `- record: X` / `- alert: X` names of a rules file (one per line, as ours are written)."""
    with open(path) as f:
        return [m.group(2) for m in re.finditer(r"^\s*- (record|alert): (\S+)\s*$", f.read(), re.M)]


class PrometheusScrapesTheExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.service = subprocess.Popen([SERVICE, "--port", "0"], stdout=subprocess.PIPE, text=True)
        port = None
        for line in cls.service.stdout:  # the example prints what it did, then its address
            m = re.match(r"listening on http://127\.0\.0\.1:(\d+)$", line.strip())
            if m:
                port = int(m.group(1))
                break
        if port is None:
            cls.service.kill()
            raise RuntimeError("02_metrics_service printed no address")
        cls.prometheus = PrometheusServer([f"127.0.0.1:{port}"], rule_files=[RULES], job=JOB,
                                          binary=BINARY)
        try:
            cls.prometheus.start()
            # Two scrapes at least: rate() needs two samples for the recording rules.
            cls.prometheus.wait_until(
                lambda: cls.prometheus.query(f'count_over_time(up{{job="{JOB}"}}[1m]) >= 3'),
                what="three scrapes of the example")
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.prometheus.stop()
        cls.service.terminate()
        try:
            cls.service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cls.service.kill()
            cls.service.wait()
        cls.service.stdout.close()

    def value(self, expr):
        result = self.prometheus.query(expr)
        self.assertEqual(len(result), 1, f"{expr}: {result}")
        return float(result[0]["value"][1])

    def test_the_target_is_up(self):
        self.assertEqual(self.prometheus.targets_health(), ["up"])
        self.assertEqual(self.value(f'up{{job="{JOB}"}}'), 1)

    def test_every_breaker_family_arrives(self):
        names = {s["metric"]["__name__"] for s in self.prometheus.query(
            f'{{__name__=~"circuit_breaker_.+", job="{JOB}"}}')}
        self.assertEqual(names, {
            "circuit_breaker_state",
            "circuit_breaker_calls_total",
            "circuit_breaker_successful_calls_total",
            "circuit_breaker_failed_calls_total",
            "circuit_breaker_rejected_calls_total",
            "circuit_breaker_call_duration_seconds_bucket",
            "circuit_breaker_call_duration_seconds_sum",
            "circuit_breaker_call_duration_seconds_count",
            "circuit_breaker_state_transitions_total",
        })

    def test_the_values_are_the_examples(self):
        states = {s["metric"]["name"]: s["value"][1]
                  for s in self.prometheus.query("circuit_breaker_state")}
        self.assertEqual(states, {"payments-api": "1", "orders-db": "0", 'llm "summarizer"': "0"})
        self.assertEqual(self.value('circuit_breaker_calls_total{name="payments-api", status="allowed"}'), 5)
        self.assertEqual(self.value('circuit_breaker_calls_total{name="payments-api", status="rejected"}'), 2)
        self.assertEqual(self.value('circuit_breaker_failed_calls_total{name="payments-api"}'), 3)
        self.assertEqual(self.value(
            'circuit_breaker_state_transitions_total{name="payments-api", from_state="closed", to_state="open"}'), 1)
        self.assertEqual(self.value(
            'circuit_breaker_call_duration_seconds_bucket{name="payments-api", le="+Inf"}'), 5)

    def test_every_rule_of_the_file_loads_and_evaluates(self):
        expected = rule_names_in_file(RULES)
        self.assertGreaterEqual(len(expected), 11)

        def evaluated_rules():
            rules = [r for g in self.prometheus.rules() for r in g["rules"]]
            if any(r.get("lastEvaluation", "").startswith("0001-") for r in rules):
                return None  # not every rule has been evaluated yet
            return rules
        rules = self.prometheus.wait_until(evaluated_rules, what="every rule evaluated")
        # The API lists groups by name; rules keep their order within a group.
        self.assertEqual(sorted(g["name"] for g in self.prometheus.rules()),
                         ["breaker.alerts", "breaker.recording"])
        self.assertEqual(sorted(r["name"] for r in rules), sorted(expected))
        for rule in rules:
            self.assertEqual(rule["health"], "ok", f"{rule['name']}: {rule.get('lastError')}")

    def test_the_recording_rules_produce_series(self):
        for record in ["breaker:calls:rate5m", "breaker:outcomes:rate5m",
                       "breaker:opened_from_closed:increase15m"]:
            result = self.prometheus.wait_until(
                lambda: self.prometheus.query(f'{record}{{name="payments-api"}}'),
                what=f"{record} for payments-api")
            self.assertEqual(result[0]["metric"]["job"], JOB)

    def test_the_open_breaker_has_a_pending_alert(self):
        alerts = self.prometheus.wait_until(
            lambda: [a for a in self.prometheus.alerts() if a["labels"]["alertname"] == "CircuitBreakerOpen"],
            what="a CircuitBreakerOpen alert")
        self.assertEqual(len(alerts), 1, alerts)
        self.assertEqual(alerts[0]["labels"]["name"], "payments-api")
        self.assertEqual(alerts[0]["state"], "pending")  # `for: 5m`
        self.assertEqual(alerts[0]["labels"]["severity"], "warning")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
