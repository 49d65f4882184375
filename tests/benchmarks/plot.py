#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns the JSON of breaker_benchmarks into an SVG chart, written by hand
(python3 standard library only, no matplotlib).

    python3 tests/benchmarks/plot.py build/bench/benchmarks.json docs/performance.svg

Top panel: median time per call on a log scale, 1 and 2 threads; first the
headline (default config vs durations off vs the mutex reference), then the
floors and the other cases. Bottom panel: each issue #9 target as measured /
allowed (left of the line: PASS); the instruction-count target reads
instructions.json next to the benchmark JSON when the `instructions` script
wrote it.
"""

import math
import os
import sys
from xml.sax.saxutils import escape

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (sibling module)

WIDTH = 980
LABEL_W = 300
PLOT_X = LABEL_W + 10
PLOT_W = WIDTH - PLOT_X - 90
ROW_H = 24
BAR_H = 9
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"
C_ONE = "#2b6cb0"
C_TWO = "#90cdf4"
C_PASS = "#2f855a"
C_MISS = "#c53030"
C_GRID = "#e2e8f0"
C_TEXT = "#1a202c"
C_MUTED = "#4a5568"
INSTRUCTIONS = None  # {case: instructions per call}, set by main()

GROUPS = [
    ("Headline: closed success through execute(), 1 and 2 threads", [
        ("breaker, default config (durations sampled)", report.SYNC_DEFAULT),
        ("breaker, durations off", report.SYNC_CLOSED),
        ("breaker, every call timed", report.SYNC_EVERY_CALL),
        ("mutex breaker (reference, no timing)", report.REFERENCE),
        ("bare call (floor)", report.FLOOR_BARE),
    ]),
    ("Floor (same binary, same run)", [
        ("steady_clock::now()", report.FLOOR_NOW),
        ("timestamp (TSC)", report.FLOOR_TIMESTAMP),
    ]),
    ("Reference design: mutex breaker", [
        ("try_acquire, open (rejection)", "reference/mutex/try_acquire_open"),
    ]),
    ("breaker, synchronous", [
        ("try_acquire + record_success, default", "sync/try_acquire_record_closed/default"),
        ("try_acquire + record_success, durations off", "sync/try_acquire_record_closed"),
        ("execute, default, every 16th timed", "sync/execute_closed/sample_every_16"),
        ("execute, default, Prometheus attached", "prometheus/execute_closed/default"),
        ("state(), closed", "sync/state_closed"),
        ("try_acquire, open (rejection)", "sync/try_acquire_open"),
        ("execute_with_fallback, open", "sync/execute_with_fallback_open"),
        ("execute, open (throws)", "sync/execute_open_throwing"),
        ("mixed: 10% failures (permit)", "sync/mixed_10pct_failures/try_acquire"),
        ("closed -> open (reset + 5 failures)", "sync/closed_to_open"),
        ("half-open probe cycle (ManualClock)", "sync/half_open_probe_cycle"),
    ]),
    ("breaker, coroutines (one io_context)", [
        ("co_await op()", "coro/floor/co_await_op"),
        ("pass-through wrapper coroutine", report.CORO_FLOOR),
        ("call, closed, default config", report.CORO_DEFAULT),
        ("call, closed, durations off", "coro/call_closed"),
        ("call, closed, every call timed", "coro/call_closed/every_call"),
        ("call_with_fallback, open", "coro/call_with_fallback_open"),
        ("call, open (throws)", "coro/call_open_throwing"),
        ("1000 coroutines, bare op, per call", "coro/throughput/bare/1000"),
        ("1000 coroutines, via call, per call", "coro/throughput/call/1000"),
    ]),
]


def tick_label(value_ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3), ("ns", 1.0)):
        if value_ns >= scale:
            return f"{value_ns / scale:g} {unit}"
    return f"{value_ns:g} ns"


def per_call_ns(results, base, threads):
    r = report.get(results, base, threads)
    if r is None:
        return None
    calls = r.counters.get("calls_per_iter", 1.0) or 1.0
    return r.real_ns / calls


def text(x, y, s, size=12, anchor="start", color=C_TEXT, weight="normal"):
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' "
            f"fill='{color}' font-weight='{weight}' {FONT}>{escape(s)}</text>")


def rect(x, y, w, h, color, title=None):
    t = f"<title>{escape(title)}</title>" if title else ""
    return f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(w, 0.5):.1f}' height='{h:.1f}' fill='{color}'>{t}</rect>"


def line(x1, y1, x2, y2, color, width=1, dash=None):
    d = f" stroke-dasharray='{dash}'" if dash else ""
    return (f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
            f"stroke='{color}' stroke-width='{width}'{d}/>")


def times_panel(results, y0):
    """Log-scale bars; returns (svg elements, height)."""
    rows = []
    values = []
    for title, cases in GROUPS:
        present = [(label, base) for label, base in cases
                   if report.get(results, base, 1) is not None]
        if not present:
            continue
        rows.append(("group", title, None))
        for label, base in present:
            one = per_call_ns(results, base, 1)
            two = per_call_ns(results, base, 2)
            rows.append(("case", label, (one, two, base)))
            values += [v for v in (one, two) if v]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(hi) - math.log10(lo)

    def xpos(v):
        return PLOT_X + (math.log10(v) - math.log10(lo)) / span * PLOT_W

    out = [text(20, y0, "Time per call: median of the repetitions, wall clock "
                "(log scale, lower is better)", 15, weight="bold")]
    out.append(rect(PLOT_X, y0 + 12, 12, 10, C_ONE))
    out.append(text(PLOT_X + 16, y0 + 21, "1 thread", 11, color=C_MUTED))
    out.append(rect(PLOT_X + 90, y0 + 12, 12, 10, C_TWO))
    out.append(text(PLOT_X + 106, y0 + 21, "2 threads, one shared breaker (time per call "
                    "of the pair: lower = more total throughput)", 11, color=C_MUTED))
    top = y0 + 36
    height = sum(ROW_H if kind == "case" else 22 for kind, _, _ in rows)
    decade = lo
    while decade <= hi * 1.0001:
        x = xpos(decade)
        out.append(line(x, top, x, top + height, C_GRID))
        out.append(text(x, top + height + 14, tick_label(decade), 10, "middle", C_MUTED))
        decade *= 10
    y = top
    for kind, label, data in rows:
        if kind == "group":
            out.append(text(20, y + 16, label, 12, color=C_MUTED, weight="bold"))
            y += 22
            continue
        one, two, base = data
        out.append(text(LABEL_W, y + 15, label, 12, "end"))
        for i, (v, color) in enumerate(((one, C_ONE), (two, C_TWO))):
            if v is None:
                continue
            by = y + 3 + i * (BAR_H + 1)
            out.append(rect(PLOT_X, by, xpos(v) - PLOT_X, BAR_H, color,
                            f"{base}, {i + 1} thread(s): {report.fmt_ns(v)}"))
            out.append(text(xpos(v) + 4, by + 8, report.fmt_ns(v), 9, color=C_MUTED))
        y += ROW_H
    return out, (y - y0) + 24


def targets_panel(results, y0):
    ts = report.targets(results, INSTRUCTIONS)
    out = [text(20, y0, "Issue #9 targets: measured / allowed (left of the line: PASS)", 15,
                weight="bold")]
    top = y0 + 14
    finite = [t["normalized"] for t in ts if t["normalized"] not in (None, float("inf"))]
    xmax = max(2.0, math.ceil(max(finite + [1.0]) * 2) / 2)

    width = PLOT_W * 0.5

    def xpos(v):
        return PLOT_X + min(v, xmax) / xmax * width

    rows_h = len(ts) * 30
    step = 0.5 if xmax <= 4 else 1.0
    v = 0.0
    while v <= xmax + 1e-9:
        out.append(line(xpos(v), top, xpos(v), top + rows_h, C_GRID))
        out.append(text(xpos(v), top + rows_h + 14, f"{v:g}", 10, "middle", C_MUTED))
        v += step
    y = top
    for t in ts:
        out.append(text(LABEL_W, y + 13, t["short"], 11, "end"))
        out.append(text(LABEL_W, y + 25, f"target {t['target']}", 9, "end", C_MUTED))
        n = t["normalized"]
        if t["ok"] is None:
            out.append(text(PLOT_X + 4, y + 18, "not measured", 11, color=C_MUTED))
        else:
            color = C_PASS if t["ok"] else C_MISS
            bar = xpos(n if math.isfinite(n) else xmax) - PLOT_X
            if n == 0:
                bar = 2
            out.append(rect(PLOT_X, y + 6, bar, 14, color, t["measured"]))
            status = "PASS" if t["ok"] else "MISS"
            label = f"{status}  {t['measured']}"
            out.append(text(xpos(xmax) + 10, y + 17, label, 10, "start", color, "bold"))
        y += 30
    out.append(line(xpos(1.0), top - 4, xpos(1.0), top + rows_h, C_TEXT, 1.5, "4,3"))
    return out, (y - y0) + 30


def render(context, results):
    parts = []
    y = 30
    parts.append(text(20, y, "breaker benchmarks", 18, weight="bold"))
    machine = (f"{context.get('num_cpus', '?')} CPUs @ {context.get('mhz_per_cpu', '?')} MHz, "
               f"{context.get('breaker_compiler', '?')} {context.get('breaker_cxx_flags', '')}, "
               f"Google Benchmark, {context.get('date', '')}")
    parts.append(text(20, y + 18, machine, 11, color=C_MUTED))
    y += 50
    panel, h = times_panel(results, y)
    parts += panel
    y += h + 10
    panel, h = targets_panel(results, y)
    parts += panel
    y += h
    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{y:.0f}' "
           f"viewBox='0 0 {WIDTH} {y:.0f}'>",
           f"<rect width='{WIDTH}' height='{y:.0f}' fill='#ffffff'/>"]
    svg += parts
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    global INSTRUCTIONS
    context, results = report.load(argv[1])
    INSTRUCTIONS = report.load_instructions(
        os.path.join(os.path.dirname(os.path.abspath(argv[1])), "instructions.json"))
    if not results:
        print(f"plot.py: no benchmark results in {argv[1]}", file=sys.stderr)
        return 1
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(render(context, results))
    print(f"wrote {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
