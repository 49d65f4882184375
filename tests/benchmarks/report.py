#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads the JSON of breaker_benchmarks and prints the table of medians, the
ratios against the floor and the mutex reference, and the issue #4 targets with
PASS/MISS. Informational: always exits 0 when the JSON could be read.

    python3 tests/benchmarks/report.py build/bench/benchmarks.json [--markdown]

python3 standard library only; plot.py imports this module.
"""

import json
import sys

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

FLOOR_BARE = "floor/bare_call"
FLOOR_NOW = "floor/steady_clock_now"
CORO_FLOOR = "coro/floor/pass_through_wrapper"
REFERENCE = "reference/mutex/execute_closed"
SYNC_CLOSED = "sync/execute_closed"

# Sync cases that must not allocate (the throwing paths allocate the exception's
# message; the failure-with-fallback case allocates in the user's own throw).
NON_ALLOCATING_SYNC = [
    "sync/execute_closed",
    "sync/execute_closed/durations",
    "sync/try_acquire_record_closed",
    "sync/try_acquire_record_closed/durations",
    "sync/execute_with_fallback_closed",
    "sync/try_acquire_open",
    "sync/execute_with_fallback_open",
    "sync/closed_to_open",
    "sync/half_open_probe_cycle",
    "sync/mixed_10pct_failures/try_acquire",
    "prometheus/execute_closed",
    "prometheus/execute_closed/durations",
]


# Closed-state success cases, compared with the mutex reference's closed success.
CLOSED_SUCCESS_CASES = ("sync/execute_closed", "sync/try_acquire_record_closed",
                        "sync/execute_with_fallback_closed", "prometheus/execute_closed")


class Result:
    """The median of one benchmark (name without the /real_time/threads:N suffix)."""

    def __init__(self, entry, base, threads):
        unit = TO_NS[entry.get("time_unit", "ns")]
        self.base = base
        self.threads = threads
        self.real_ns = entry["real_time"] * unit
        self.cpu_ns = entry["cpu_time"] * unit
        self.unit = entry.get("time_unit", "ns")
        self.counters = {k: v for k, v in entry.items() if isinstance(v, (int, float))
                         and k not in ("real_time", "cpu_time", "iterations", "threads",
                                       "repetitions", "repetition_index", "family_index",
                                       "per_family_instance_index")}


def split_name(run_name):
    """'sync/x/real_time/threads:2' -> ('sync/x', 2); args such as /10 are kept."""
    threads = 1
    parts = []
    for part in run_name.split("/"):
        if part.startswith("threads:"):
            threads = int(part.split(":")[1])
        elif part in ("real_time", "manual_time", "process_time"):
            continue
        else:
            parts.append(part)
    return "/".join(parts), threads


def load(path):
    """Returns (context, {(base, threads): Result}) using median aggregates, or
    the median of the plain runs when the file has no aggregates."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    medians = {}
    plain = {}
    order = []
    for entry in data.get("benchmarks", []):
        if entry.get("error_occurred"):
            continue
        run_name = entry.get("run_name", entry["name"])
        key = split_name(run_name)
        if key not in order:
            order.append(key)
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[key] = Result(entry, *key)
        else:
            plain.setdefault(key, []).append(entry)
    results = {}
    for key in order:
        if key in medians:
            results[key] = medians[key]
        elif key in plain:
            runs = plain[key]
            runs.sort(key=lambda e: e["real_time"])
            results[key] = Result(runs[len(runs) // 2], *key)
    return data.get("context", {}), results


def get(results, base, threads=1):
    return results.get((base, threads))


def ns(results, base, threads=1):
    r = get(results, base, threads)
    return r.real_ns if r else None


def fmt_ns(value):
    if value is None:
        return "n/a"
    if value >= 1e6:
        return f"{value / 1e6:.1f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.2f} us"
    if value >= 10:
        return f"{value:.1f} ns"
    return f"{value:.2f} ns"


def fmt_ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def targets(results):
    """The issue #4 targets: list of dicts with name, measured text, target text,
    value, limit, ok (None when not measured), and normalized (<= 1 means PASS)."""
    out = []

    def add(name, value, limit, kind, measured, target_text, short=None):
        ok = None if value is None else (value <= limit if kind == "le" else value >= limit)
        if value is None:
            normalized = None
        elif kind == "le":
            normalized = value / limit if limit else (0.0 if value == 0 else float("inf"))
        else:
            normalized = limit / value if value > 0 else float("inf")
        out.append(dict(name=name, short=short or name, value=value, limit=limit, kind=kind,
                        ok=ok, measured=measured, target=target_text, normalized=normalized))

    bare = ns(results, FLOOR_BARE)
    now = ns(results, FLOOR_NOW)
    closed1 = ns(results, SYNC_CLOSED, 1)
    closed2 = ns(results, SYNC_CLOSED, 2)

    r = ratio(closed1, bare)
    add("sync closed success (execute) vs bare call", r, 1.5, "le",
        f"{fmt_ratio(r)} ({fmt_ns(closed1)} vs {fmt_ns(bare)})", "<= 1.5x",
        "sync execute, closed / bare call")

    reject = ns(results, "sync/try_acquire_open", 1)
    floor = None if bare is None or now is None else bare + now
    r = ratio(reject, floor)
    allocs = [get(results, b, t) for b in ("sync/try_acquire_open", "sync/execute_with_fallback_open")
              for t in (1, 2)]
    alloc_values = [a.counters.get("allocs_per_iter", 0.0) for a in allocs if a]
    zero = bool(alloc_values) and max(alloc_values) == 0
    value = r if zero or r is None else float("inf")
    add("rejection while open, non-throwing (try_acquire)", value, 1.5, "le",
        f"{fmt_ratio(r)} ({fmt_ns(reject)} vs {fmt_ns(bare)} + {fmt_ns(now)}), allocs/call "
        + (f"{max(alloc_values):g}" if alloc_values else "n/a"),
        "<= 1.5x, 0 allocations", "rejection / (bare call + now())")

    call = ns(results, "coro/call_closed")
    wrapper = ns(results, CORO_FLOOR)
    r = ratio(call, wrapper)
    add("coroutine call, closed success vs pass-through wrapper", r, 1.15, "le",
        f"{fmt_ratio(r)} ({fmt_ns(call)} vs {fmt_ns(wrapper)})", "<= 1.15x",
        "coroutine call / pass-through wrapper")

    r = ratio(closed1, closed2)
    add("2 threads vs 1, sync closed success throughput", r, 1.8, "ge",
        f"{fmt_ratio(r)} ({fmt_ns(closed1)} -> {fmt_ns(closed2)} per call)", ">= 1.8x",
        "2-thread / 1-thread throughput")

    reference2 = ns(results, REFERENCE, 2)
    r = ratio(reference2, closed2)
    add("vs the mutex reference, 2 threads, closed success", r, 10.0, "ge",
        f"{fmt_ratio(r)} faster ({fmt_ns(closed2)} vs {fmt_ns(reference2)})", ">= 10x",
        "speed-up over mutex breaker, 2 threads")

    worst = None
    worst_name = None
    for base in NON_ALLOCATING_SYNC:
        for t in (1, 2):
            res = get(results, base, t)
            if res is None:
                continue
            a = res.counters.get("allocs_per_iter")
            if a is not None and (worst is None or a > worst):
                worst, worst_name = a, f"{base} ({t}t)"
    add("allocations per sync call", worst, 0.0, "le",
        "n/a" if worst is None else f"{worst:g} (max over {len(NON_ALLOCATING_SYNC)} cases"
        + (f", at {worst_name}" if worst else "") + ")", "0", "allocations per sync call")

    mem = get(results, "memory/construct_breaker")
    value = mem.counters.get("bytes_per_breaker") if mem else None
    add("memory per breaker (sizeof + heap)", value, 1024, "le",
        "n/a" if value is None else
        f"{value:.0f} B (sizeof {mem.counters.get('sizeof_bytes', 0):.0f} + heap "
        f"{mem.counters.get('owned_heap_bytes', 0):.0f})", "<= 1024 B", "memory per breaker")
    return out


def floor_for(base):
    if base.startswith("coro/throughput/call/"):
        return base.replace("/call/", "/bare/")
    if base.startswith("coro/throughput/"):
        return None
    if base.startswith("coro/"):
        return CORO_FLOOR
    if base.startswith(("sync/", "reference/", "prometheus/execute")):
        return FLOOR_BARE
    return None


def table_rows(results):
    rows = []
    for (base, threads), r in results.items():
        floor = floor_for(base)
        vs_floor = ratio(r.real_ns, ns(results, floor, threads)) if floor else None
        vs_ref = None
        if base.startswith(CLOSED_SUCCESS_CASES):
            ref = ns(results, REFERENCE, threads)
            vs_ref = ratio(ref, r.real_ns)
        allocs = r.counters.get("allocs_per_iter")
        rows.append(dict(name=base, threads=threads, real=r.real_ns, cpu=r.cpu_ns,
                         allocs=allocs, vs_floor=vs_floor, vs_ref=vs_ref,
                         floor=floor, items=r.counters.get("items_per_second")))
    return rows


def print_text(context, results):
    print()
    print(f"breaker benchmarks: medians, {context.get('host_name', '?')}, "
          f"{context.get('num_cpus', '?')} CPUs, {context.get('breaker_compiler', '?')} "
          f"{context.get('breaker_cxx_flags', '')}")
    header = f"{'case':52} {'thr':>3} {'median':>10} {'cpu':>10} {'allocs':>7} {'x floor':>8} {'ref/this':>9}"
    print(header)
    print("-" * len(header))
    for row in table_rows(results):
        allocs = "" if row["allocs"] is None else f"{row['allocs']:g}"
        print(f"{row['name']:52} {row['threads']:>3} {fmt_ns(row['real']):>10} "
              f"{fmt_ns(row['cpu']):>10} {allocs:>7} "
              f"{'' if row['vs_floor'] is None else fmt_ratio(row['vs_floor']):>8} "
              f"{'' if row['vs_ref'] is None else fmt_ratio(row['vs_ref']):>9}")
    print()
    print("x floor: median / the floor at the same thread count (sync: floor/bare_call; "
          "coroutine: the pass-through wrapper; throughput: the same N without the breaker). "
          "ref/this: how many times faster than the mutex reference.")
    busy = [f"{row['name']}" for row in table_rows(results)
            if row["threads"] == 1 and row["cpu"] and row["real"] > 1.10 * row["cpu"]]
    if busy:
        print()
        print(f"warning: wall time exceeds CPU time by more than 10% in {len(busy)} single-thread "
              "cases (e.g. " + ", ".join(busy[:3]) + "): the machine was busy, re-run when "
              "`uptime` shows a low load.")
    print()
    print("Targets (issue #4; informational):")
    for t in targets(results):
        status = "n/a " if t["ok"] is None else ("PASS" if t["ok"] else "MISS")
        print(f"  [{status}] {t['name']}: {t['measured']}  (target {t['target']})")


def print_markdown(context, results):
    print("| case | threads | median time | CPU time | allocs/iter | x floor | mutex ref / this |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in table_rows(results):
        allocs = "" if row["allocs"] is None else f"{row['allocs']:g}"
        print(f"| `{row['name']}` | {row['threads']} | {fmt_ns(row['real'])} | {fmt_ns(row['cpu'])} "
              f"| {allocs} | {'' if row['vs_floor'] is None else fmt_ratio(row['vs_floor'])} "
              f"| {'' if row['vs_ref'] is None else fmt_ratio(row['vs_ref'])} |")
    print()
    print("| target | goal | measured | result |")
    print("|---|---|---|---|")
    for t in targets(results):
        status = "n/a" if t["ok"] is None else ("**PASS**" if t["ok"] else "**MISS**")
        print(f"| {t['name']} | {t['target']} | {t['measured']} | {status} |")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    context, results = load(argv[1])
    if "--markdown" in argv[2:]:
        print_markdown(context, results)
    else:
        print_text(context, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
