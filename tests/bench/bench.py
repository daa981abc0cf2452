#!/usr/bin/env python3
"""End-to-end benchmark of ``kubectl meshcheck`` on synthetic manifests.

Prints figures only; it asserts nothing about time or memory (the exit status
is 1 only when a command fails in a way that is not about speed: an exit code
other than 0, or 1 for findings, or unreadable JSON).

    /tmp/mv/bin/python tests/bench/bench.py                       # 100, 1,000 and 10,000 workloads
    /tmp/mv/bin/python tests/bench/bench.py --sizes 100,1000 --repeat 3
    /tmp/mv/bin/python tests/bench/bench.py --data-dir /tmp/mcb   # keep and reuse the manifests
    /tmp/mv/bin/python tests/bench/bench.py --exe /some/venv/bin/kubectl-meshcheck

Manifests come from tests/bench/generate.py (seed 0, about 3.4 MB of YAML per
1,000 workloads), one directory per size: ``workloads-<N>`` in --data-dir
(reused when it already holds that size and seed) or in a temporary
directory.

Each measurement is a fresh process:

* ``python -c pass``: the interpreter's own start-up, the floor for everything;
* ``kubectl-meshcheck --help``: start-up of the tool (imports, plugin loading);
* ``kubectl-meshcheck -f DIR -R -o json`` per size (exit code 1, findings, is
  expected); objects and findings are read from the JSON summary.

Wall time is measured around the process; peak RSS is ``/usr/bin/time -v``'s
"Maximum resident set size" when that exists, otherwise ``getrusage
(RUSAGE_CHILDREN)`` in a fresh wrapper process per measurement (so no other
child's peak is mixed in).  With --repeat N the best wall time and the
highest peak RSS of N runs are shown.

Growth columns: how much wall time, wall time net of ``--help`` start-up, and
peak RSS grow per 10x more input, against the previous size (sizes that are
not 10x apart are normalised: ratio ** (1 / log10(size ratio))).  About 10x
is linear; much more is superlinear.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0

# Targets, printed next to the figures (never asserted).
TARGET_HELP_S = 0.2
TARGET_10K_S = 5.0
TARGET_10K_MB = 1500.0

_TIME = "/usr/bin/time"

# Fallback measurement: a fresh interpreter runs the command and reports the
# command's own peak RSS (its RUSAGE_CHILDREN holds only that one child).
_WRAPPER = r"""
import resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
rc = subprocess.call(cmd)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss = ru.ru_maxrss
if sys.platform == "darwin":
    rss //= 1024  # bytes there, KiB on Linux
with open(out, "w") as fh:
    fh.write(f"{rc} {rss} {wall!r} {ru.ru_utime + ru.ru_stime!r}\n")
"""


class Run:
    def __init__(self, rc: int, wall: float, rss_mb: float | None, stdout_path: str, stderr: str,
                 cpu: float | None = None):
        self.rc, self.wall, self.rss_mb, self.stdout_path, self.stderr = rc, wall, rss_mb, stdout_path, stderr
        self.cpu = cpu  # user + sys seconds of the process and the children it waited for


def measure(cmd: list[str], work: str, env: dict[str, str] | None = None) -> Run:
    """Run cmd once in a fresh process (environment ``env``, default ours): exit code, wall seconds, peak RSS
    in MB, CPU seconds (user + sys; on a loaded machine the fairer figure)."""
    stdout_path = os.path.join(work, "stdout")
    report = os.path.join(work, "rusage")
    if os.path.exists(report):
        os.remove(report)
    use_time = os.access(_TIME, os.X_OK)
    if use_time:
        full = [_TIME, "-v", "-o", report, *cmd]
    else:
        full = [sys.executable, "-c", _WRAPPER, report, *cmd]
    with open(stdout_path, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.run(full, stdout=out, stderr=subprocess.PIPE, env=env)
        wall = time.perf_counter() - t0
    stderr = proc.stderr.decode("utf-8", "replace")
    rss_mb = cpu = None
    rc = proc.returncode
    try:
        with open(report) as fh:
            text = fh.read()
    except OSError:
        text = ""
    if use_time:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        rss_mb = int(m.group(1)) / 1024 if m else None
        times = [float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)]
        cpu = sum(times) if len(times) == 2 else None
        m = re.search(r"Exit status: (\d+)", text)
        if m:
            rc = int(m.group(1))
        elif "Command terminated by signal" in text:
            rc = -1
    elif text:
        rc_s, rss_s, wall_s, cpu_s = text.split()
        rc, rss_mb, wall, cpu = int(rc_s), int(rss_s) / 1024, float(wall_s), float(cpu_s)
    return Run(rc, wall, rss_mb, stdout_path, stderr, cpu)


def dataset(root: str, workloads: int, name: str = "workloads", make=None, suffix: str = ".yaml",
            prefix: str = "ns-", tag: str = "") -> tuple[str, int, int]:
    """Directory with the data for ``workloads`` workloads: (dir, files, bytes).

    Reused when its stamp matches; else ``make(dir, workloads, seed)`` writes it (default: generate.py's
    manifests).  The data files are those named ``prefix*suffix``; ``tag`` goes into the stamp.
    """
    d = os.path.join(root, f"{name}-{workloads}")
    stamp = os.path.join(d, ".bench-params")  # no .yaml/.json suffix: the tool ignores it
    want = f"workloads={workloads} seed={SEED}\n{tag}"

    def data_files() -> list[str]:
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d) if f.startswith(prefix) and f.endswith(suffix))

    files = data_files()
    try:
        with open(stamp) as fh:
            reuse = bool(files) and fh.read() == want
    except OSError:
        reuse = False
    if reuse:
        how = "reused"
    else:
        if make is None:
            sys.path.insert(0, HERE)
            from generate import generate as make
        t0 = time.perf_counter()
        make(d, workloads, SEED)
        files = data_files()
        with open(stamp, "w") as fh:
            fh.write(want)
        how = f"generated in {time.perf_counter() - t0:.1f} s"
    size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
    print(f"  {workloads:>6,} workloads: {len(files)} files, {size / 1e6:.1f} MB in {d} ({how})", flush=True)
    return d, len(files), size


def default_exe() -> str:
    name = "kubectl-meshcheck.exe" if os.name == "nt" else "kubectl-meshcheck"
    return os.path.join(os.path.dirname(sys.executable), name)


def growth(value: float | None, prev: float | None, n: int, prev_n: int) -> str:
    if value is None or prev is None or prev <= 0 or value <= 0 or n <= prev_n:
        return "-"
    return f"{(value / prev) ** (1 / math.log10(n / prev_n)):.1f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Wall time and peak RSS of kubectl-meshcheck on synthetic manifests.")
    ap.add_argument("--sizes", default="100,1000,10000", help="comma list of workload counts (default: %(default)s)")
    ap.add_argument("--data-dir", help="where manifests go and are reused from (default: a temporary directory)")
    ap.add_argument("--exe", default=default_exe(), help="the kubectl-meshcheck executable (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; best wall, highest RSS")
    args = ap.parse_args(argv)
    try:
        sizes = sorted({int(s.replace("_", "").replace(",", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        ap.error(f"--sizes: not a comma list of integers: {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        ap.error("--sizes: give at least one workload count >= 1")
    exe = args.exe if os.sep in args.exe else (shutil.which(args.exe) or args.exe)
    if not os.access(exe, os.X_OK):
        ap.error(f"--exe: {exe} is not an executable (install the package, or pass --exe)")

    how = f"{_TIME} -v" if os.access(_TIME, os.X_OK) else "getrusage(RUSAGE_CHILDREN) in a wrapper process"
    print(f"python {sys.version.split()[0]} ({sys.executable}); {os.cpu_count()} CPUs; executable {exe}")
    print(f"peak RSS from {how}; best wall of {args.repeat} run(s)")

    errors: list[str] = []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="meshcheck-bench-") as tmp:
        root = os.path.abspath(args.data_dir) if args.data_dir else tmp
        os.makedirs(root, exist_ok=True)
        print("data:")
        data = {n: dataset(root, n) for n in sizes}

        def run(case: str, cmd: list[str], workloads: int | None = None, in_mb: float | None = None,
                json_out: bool = False) -> dict:
            best: Run | None = None
            peak = None
            row = {"case": case, "workloads": workloads, "in_mb": in_mb, "objects": None, "findings": None,
                   "wall": None, "rss": None, "error": None}
            for _ in range(max(args.repeat, 1)):
                r = measure(cmd, tmp)
                ok = r.rc == 0 or (json_out and r.rc == 1)
                if not ok:
                    tail = " | ".join(r.stderr.strip().splitlines()[-3:])
                    row["error"] = f"{case}: exit code {r.rc}: {tail or '(no stderr)'}"
                    break
                if json_out and (best is None or r.wall < best.wall):
                    try:
                        with open(r.stdout_path, "rb") as fh:
                            doc = json.load(fh)
                        summary = doc["summary"]
                        row["objects"] = summary.get("objects")
                        row["findings"] = summary.get("findings", len(doc.get("findings", [])))
                    except (ValueError, KeyError, TypeError) as e:
                        row["error"] = f"{case}: output is not the expected JSON document: {e}"
                        break
                if best is None or r.wall < best.wall:
                    best = r
                if r.rss_mb is not None:
                    peak = r.rss_mb if peak is None else max(peak, r.rss_mb)
            if best is not None and row["error"] is None:
                row["wall"], row["rss"] = best.wall, peak
            if row["error"]:
                errors.append(row["error"])
            rows.append(row)
            print(f"  measured {case}" + (f" ({workloads:,} workloads)" if workloads else "")
                  + (f": {row['wall']:.3f} s" if row["wall"] is not None else ": ERROR"), flush=True)
            return row

        print("runs:")
        run("python -c pass", [sys.executable, "-c", "pass"])
        help_row = run("--help", [exe, "--help"])
        for n in sizes:
            d, _, size = data[n]
            run("-f DIR -R -o json", [exe, "-f", d, "-R", "-o", "json"], n, size / 1e6, json_out=True)

    # -- table -------------------------------------------------------------
    start = help_row["wall"]

    def fmt(v, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    hdr = (f"{'case':18} {'workloads':>9} {'input MB':>8} {'objects':>8} {'findings':>8} {'wall s':>7} "
           f"{'peak RSS MB':>11} {'wall/10x':>8} {'net/10x':>8} {'RSS/10x':>8}")
    print()
    print(hdr)
    print("-" * len(hdr))
    prev = None
    for row in rows:
        w = row["workloads"]
        g_wall = g_net = g_rss = "-"
        if w is not None and prev is not None:
            pw = prev["workloads"]
            g_wall = growth(row["wall"], prev["wall"], w, pw)
            if start is not None and row["wall"] is not None and prev["wall"] is not None:
                g_net = growth(row["wall"] - start, prev["wall"] - start, w, pw)
            g_rss = growth(row["rss"], prev["rss"], w, pw)
        print(f"{row['case']:18} {fmt(w, ',d'):>9} {fmt(row['in_mb'], '.1f'):>8} {fmt(row['objects'], ',d'):>8} "
              f"{fmt(row['findings'], ',d'):>8} {fmt(row['wall'], '.3f'):>7} {fmt(row['rss'], '.0f'):>11} "
              f"{g_wall:>8} {g_net:>8} {g_rss:>8}" + ("  ERROR" if row["error"] else ""))
        if w is not None:
            prev = row
    print("(x/10x: growth per 10x more workloads vs the previous size; ~10x is linear. "
          "net = wall minus --help start-up)")

    # -- targets (printed, not asserted) -----------------------------------
    print("\ntargets (informational):")

    def verdict(value, limit) -> str:
        if value is None:
            return "not measured"
        return "met" if value <= limit else f"MISSED by {value / limit:.1f}x"

    print(f"  --help <= {TARGET_HELP_S} s: {fmt(help_row['wall'], '.3f')} s "
          f"-> {verdict(help_row['wall'], TARGET_HELP_S)}")
    big = next((r for r in rows if r["workloads"] == 10000), None)
    if big is None:
        print(f"  10,000 workloads <= {TARGET_10K_S:.0f} s and <= {TARGET_10K_MB / 1000:.1f} GB: "
              "not measured (add 10000 to --sizes)")
    else:
        print(f"  10,000 workloads <= {TARGET_10K_S:.0f} s: {fmt(big['wall'], '.2f')} s -> "
              f"{verdict(big['wall'], TARGET_10K_S)}")
        print(f"  10,000 workloads <= {TARGET_10K_MB / 1000:.1f} GB peak RSS: {fmt(big['rss'], '.0f')} MB -> "
              f"{verdict(big['rss'], TARGET_10K_MB)}")

    if errors:
        print("\nerrors:")
        for e in errors:
            print(f"  {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
