#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Self-test of the status page and its browser harness (ctest ops.browser.self_test, label ops).

Serves examples/incident_manager/status_page/ with python3's http.server on 127.0.0.1, and a
scripted stand-in for the demo's /api/breakers and /health: each GET /api/breakers answers the
next step of a fixed sequence (payments-api closed, open, half-open, closed), so the page is
driven through every state without the demo. Then runs status_page_check.mjs (chromium through
playwright-core) twice:
  1. waiting on payments-api: must pass and write a PNG screenshot;
  2. waiting on orders-db, which never opens: must fail, saying so (the harness can fail).
The real test of the page, against the running demo, belongs to the demo.

Usage: self_test.py <node> <npm dir with playwright-core> <status_page dir> <output dir> [<chromium>]
Python standard library only.
"""

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import time

NODE, NPM_DIR, PAGE_DIR, OUT_DIR = sys.argv[1:5]
CHROMIUM = sys.argv[5] if len(sys.argv) > 5 else "/usr/bin/chromium"
HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "status_page_check.mjs")

# payments-api's state at each answer of /api/breakers (the last one repeats).
SCHEDULE = ["closed"] * 3 + ["open"] * 6 + ["half-open"] * 3 + ["closed"]
NAMES = ["payments-api", "orders-db", 'llm "summarizer" <b>not bold</b>']


class FakeDemo:
    """The answers of the demo's JSON endpoints, advancing one step per /api/breakers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.step = 0
        self.start = int(time.time() * 1000) - 60_000
        self.history = {name: [] for name in NAMES}
        self.totals = {name: {"calls": 0, "failures": 0, "rejections": 0} for name in NAMES}

    def breakers(self):
        with self.lock:
            state = SCHEDULE[min(self.step, len(SCHEDULE) - 1)]
            t = self.start + 5000 * self.step
            self.step += 1
            answer = []
            for name in NAMES:
                s = state if name == "payments-api" else "closed"
                totals = self.totals[name]
                totals["calls"] += 10 + 4 * (self.step % 3)
                if s == "open":
                    totals["rejections"] += 9
                    totals["failures"] += 0
                elif s == "half-open" or (name == "payments-api" and self.step == 3):
                    totals["failures"] += 3
                else:
                    totals["failures"] += 0
                self.history[name].append({"t": t, "state": s, **totals})
                answer.append({
                    "name": name,
                    "state": s,
                    **totals,
                    "time_left_open_ms": 25_000 if s == "open" else 0,
                    "history": self.history[name][-60:],
                })
            return answer

    def health(self):
        with self.lock:
            state = SCHEDULE[min(max(self.step - 1, 0), len(SCHEDULE) - 1)]
        open_ = 1 if state == "open" else 0
        half = 1 if state == "half-open" else 0
        return {"status": "healthy" if state == "closed" else "degraded",
                "circuit_breakers": {"total": 3, "closed": 3 - open_ - half, "open": open_,
                                     "half_open": half}}


def make_handler(demo):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path in ("/api/breakers", "/health"):
                body = json.dumps(demo.breakers() if path == "/api/breakers" else demo.health()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    return functools.partial(Handler, directory=PAGE_DIR)


def run_harness(port, breaker, screenshot, timeout_ms):
    return subprocess.run(
        [NODE, HARNESS, "--npm", NPM_DIR, "--url", f"http://127.0.0.1:{port}/?interval=150",
         "--breaker", breaker, "--screenshot", screenshot, "--timeout", str(timeout_ms),
         "--chromium", CHROMIUM],
        capture_output=True, text=True, timeout=120)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    failures = []

    def check(condition, message):
        print(("ok: " if condition else "FAILED: ") + message)
        if not condition:
            failures.append(message)

    for run, (breaker, should_pass, timeout_ms) in enumerate(
            [("payments-api", True, 20000), ("orders-db", False, 3000)], start=1):
        demo = FakeDemo()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(demo))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        screenshot = os.path.join(OUT_DIR, f"status-page-self-test-{run}.png")
        for stale in (screenshot, screenshot + ".failed.png"):
            if os.path.exists(stale):
                os.remove(stale)
        try:
            result = run_harness(server.server_address[1], breaker, screenshot, timeout_ms)
        finally:
            server.shutdown()
            server.server_close()
        sys.stdout.write(result.stdout)
        sys.stdout.write(result.stderr)
        if should_pass:
            check(result.returncode == 0, f"the harness sees {breaker} open, then closed")
            check("shows open" in result.stdout and "shows closed" in result.stdout
                  and result.stdout.index("shows open") < result.stdout.index("shows closed"),
                  "open is seen before closed")
            png = open(screenshot, "rb").read() if os.path.exists(screenshot) else b""
            check(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000,
                  f"a PNG screenshot was written ({len(png)} bytes, {screenshot})")
            check(demo.step >= len(SCHEDULE), f"the page polled through the schedule ({demo.step} polls)")
        else:
            check(result.returncode == 1, f"the harness fails for {breaker}, which never opens")
            check(f'did not show open within {timeout_ms} ms' in result.stderr,
                  "and says which state it waited for")
            check(not os.path.exists(screenshot), "and writes no success screenshot")

    print(f"{4 + 3 - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
