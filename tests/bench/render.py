#!/usr/bin/env python3
"""What human output costs: the same run as ``-o json``, the default blocks (``-o full``) and
``-o concise``, on bench.py's synthetic manifests. Prints figures; asserts nothing about time.

    python tests/bench/render.py                      # 1,000 workloads
    python tests/bench/render.py --sizes 100,1000 --repeat 3 --data-dir /tmp/mcb

Each measurement is a fresh process with stdout to a file (``COLUMNS=120``, no colour): the human
formats pay for laying out every finding (reading snippet lines, wrapping), JSON for serialising it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench import dataset, default_exe, measure  # noqa: E402

FORMATS = ("json", "full", "concise")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000", help="comma-separated workload counts")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs")
    ap.add_argument("--data-dir", default=None, help="keep and reuse the manifests here")
    ap.add_argument("--exe", default=default_exe())
    args = ap.parse_args(argv)
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    failed = False
    with tempfile.TemporaryDirectory() as work:
        root = args.data_dir or work
        for n in (int(s) for s in args.sizes.split(",")):
            d, _, _ = dataset(root, n)
            walls = {}
            for fmt in FORMATS:
                runs = [measure([args.exe, "-f", d, "-R", "-o", fmt], work, env) for _ in range(args.repeat)]
                bad = [r for r in runs if r.rc not in (0, 1)]
                if bad:
                    print(f"    -o {fmt}: exit {bad[0].rc}: {bad[0].stderr.strip()[:200]}")
                    failed = True
                    continue
                best = min(runs, key=lambda r: r.wall)
                with open(best.stdout_path, "rb") as fh:
                    lines = fh.read().count(b"\n")
                walls[fmt] = best.wall
                extra = f" ({best.wall - walls['json']:+.2f} s against -o json)" if fmt != "json" and "json" in walls \
                    else ""
                print(f"    -o {fmt:8s} {best.wall:6.2f} s, {lines:>7,} lines{extra}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
