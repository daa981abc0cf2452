#!/usr/bin/env python3
"""Benchmark: what ``--fix`` and ``--diff`` cost on top of an analysis (prints figures, asserts nothing).

    python tests/bench/fix.py [--workloads 1000] [--repeat 3] [--unsafe]

Generates the benchmark manifests (tests/bench/generate.py, seed 0) in a temporary directory, then runs
the installed ``kubectl-meshcheck`` on them as a user would, best of --repeat wall times:

- ``-o json``: the analysis alone (the baseline);
- ``--diff``: analysis, the fixes written in memory, their diff, and the re-analysis;
- ``--fix``: the same, written to a fresh copy of the files each time, then read back and re-analysed.

Also prints how many findings were fixed, how many files and documents were changed, and the size of
the diff. 10,000 workloads take minutes and several GB: use --workloads 10000 only on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate import generate  # noqa: E402

EXE = os.path.join(os.path.dirname(sys.executable), "kubectl-meshcheck")


def timed(args: list[str], repeat: int, prepare=None) -> tuple[float, subprocess.CompletedProcess]:
    best, proc = float("inf"), None
    env = {**os.environ, "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for _ in range(repeat):
        if prepare:
            prepare()
        t0 = time.perf_counter()
        proc = subprocess.run([EXE, *args], capture_output=True, text=True, env=env)
        best = min(best, time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            sys.exit(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr[-500:]}")
    return best, proc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--unsafe", action="store_true", help="also apply unsafe fixes")
    args = ap.parse_args()
    flags = ["--unsafe-fixes"] if args.unsafe else []
    with tempfile.TemporaryDirectory() as tmp:
        src, work = os.path.join(tmp, "src"), os.path.join(tmp, "work")
        generate(src, args.workloads, seed=0)
        size = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src))
        print(f"{args.workloads} workloads: {len(os.listdir(src))} files, {size / 1e6:.1f} MB; best of {args.repeat}")

        def fresh() -> None:
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(src, work)

        fresh()
        base, p = timed(["-f", work, "-o", "json", *flags], args.repeat)
        before = json.loads(p.stdout)["summary"]["findings"]
        diff, p = timed(["-f", work, "--diff", *flags], args.repeat)
        lines = p.stdout.count("\n")
        fix, p = timed(["-f", work, "--fix", "-o", "json", *flags], args.repeat, fresh)
        doc = json.loads(p.stdout)
        changed = sum(1 for f in os.listdir(src)
                      if Path(src, f).read_bytes() != Path(work, f).read_bytes())
        print(f"analysis (-o json)      {base:7.2f} s   {before} findings")
        print(f"--diff                  {diff:7.2f} s   +{diff - base:.2f} s; {lines} diff lines")
        print(f"--fix (write + re-read) {fix:7.2f} s   +{fix - base:.2f} s; {len(doc['summary']['fixed'])} findings "
              f"fixed in {changed} files, {doc['summary']['findings']} remaining")
    return 0


if __name__ == "__main__":
    sys.exit(main())
