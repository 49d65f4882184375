# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus server (Debian's `prometheus`, 2.42) for tests, on 127.0.0.1.

    with PrometheusServer(targets=["127.0.0.1:8080"], rule_files=["breaker.rules.yml"]) as prom:
        prom.wait_until(lambda: prom.query('up') ...)
        prom.query('circuit_breaker_state')     # the "result" of /api/v1/query
        prom.rules()                            # the "groups" of /api/v1/rules

Each server gets a throw-away directory (config, TSDB, log) and a free loopback port; it scrapes
and evaluates every `interval` (default 1 s) and is stopped (SIGTERM, then SIGKILL) on exit.
A missing binary raises FileNotFoundError: tests that need Prometheus fail, never skip.
Python standard library only.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_BINARY = "/usr/bin/prometheus"


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusError(RuntimeError):
    pass


class PrometheusServer:
    def __init__(self, targets, rule_files=(), interval="1s", job="breaker",
                 binary=DEFAULT_BINARY, start_timeout=30.0):
        self.targets = list(targets)
        self.rule_files = [os.path.abspath(f) for f in rule_files]
        self.interval = interval
        self.job = job
        self.binary = binary
        self.start_timeout = start_timeout
        self.port = None
        self.directory = None
        self.process = None
        self._log = None

    # -- lifetime ---------------------------------------------------------------------------
    def start(self):
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise FileNotFoundError(
                f"Prometheus server not found at {self.binary} (install the Debian package prometheus)")
        self.directory = tempfile.mkdtemp(prefix="breaker-prometheus-")
        config = os.path.join(self.directory, "prometheus.yml")
        # JSON is YAML: the config is written with the json module.
        with open(config, "w") as f:
            json.dump({
                "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval,
                           "scrape_timeout": self.interval},
                "rule_files": self.rule_files,
                "scrape_configs": [{"job_name": self.job,
                                    "static_configs": [{"targets": self.targets}]}],
            }, f, indent=2)
        self.port = free_port()
        self._log = open(os.path.join(self.directory, "prometheus.log"), "wb")
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(self.directory, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=1h"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(f"prometheus not ready after {self.start_timeout} s:\n{self.log()}")
            time.sleep(0.1)  # polling readiness of a server, not waiting out a breaker

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        """What the server has logged so far (for failure messages)."""
        if self.directory is None:
            return ""
        try:
            with open(os.path.join(self.directory, "prometheus.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    # -- HTTP API -------------------------------------------------------------------------------
    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, path, **params):
        """GET /api/v1/<path>; returns the "data" member, raises PrometheusError on an error."""
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        try:
            with urllib.request.urlopen(self.url(f"/api/v1/{path}{query}"), timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as e:
            raise PrometheusError(f"/api/v1/{path}: HTTP {e.code}: {e.read()[:500]!r}") from e
        if body.get("status") != "success":
            raise PrometheusError(f"/api/v1/{path}: {body}")
        return body["data"]

    def query(self, expr):
        """The instant vector of `expr` now: a list of {"metric": {...}, "value": [t, "v"]}."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr}: a {data['resultType']}, not a vector")
        return data["result"]

    def rules(self):
        return self.api("rules")["groups"]

    def alerts(self):
        return self.api("alerts")["alerts"]

    def targets_health(self):
        return [t["health"] for t in self.api("targets")["activeTargets"]]

    def wait_until(self, condition, timeout=20.0, what="the condition"):
        """Polls `condition()` (every 0.2 s) until it returns a true value, which it returns."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except PrometheusError as e:
                last_error = e
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.2)  # polling a scrape result, not waiting out a breaker
        raise PrometheusError(f"timed out after {timeout} s waiting for {what}"
                              + (f" (last error: {last_error})" if last_error else ""))
