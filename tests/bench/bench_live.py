#!/usr/bin/env python3
"""End-to-end benchmark of ``kubectl meshcheck`` on a live "cluster", next to ``kubectl get``.

Prints figures only; it asserts nothing about time or memory (the exit status is 1 only when a
command fails in a way that is not about speed: a bad exit code, unreadable JSON, a server that
does not start).

    .venv/bin/python tests/bench/bench_live.py                      # 100, 1,000 and 10,000 workloads
    .venv/bin/python tests/bench/bench_live.py --sizes 100,1000 --repeat 3
    .venv/bin/python tests/bench/bench_live.py --data-dir /tmp/mcb  # keep and reuse the live data

The cluster is the API server emulation in tests/kubeapi (``python -m tests.kubeapi``), started
per size as a subprocess on the live state tests/bench/live.py writes for generate.py's workloads
(seed 0; at 10,000 workloads about 53,500 objects and 445 MB of JSON, mostly injected Pods), one
directory per size: ``live-<N>`` in --data-dir (reused when it already holds that size and seed)
or in a temporary directory.  Starting the server and loading the data is not measured; it is
always stopped, also on errors and Ctrl-C.

Each measurement is a fresh process, with KUBECONFIG pointing at the server:

* ``python -c pass`` and ``kubectl-meshcheck --help``: the floors (interpreter, tool start-up);
* ``kubectl-meshcheck -A -o json`` (exit code 1, findings, is expected); objects, findings and
  the HTTP requests it sent are read from the JSON summary;
* ``kubectl get <kinds> -A -o json`` with a fresh ``--cache-dir`` (so discovery is not cached,
  as meshcheck's is not), stdout to a file: the kinds meshcheck reads with all rules (namespaces,
  pods, services, configmaps, the workload kinds, Ingresses, the Istio CRs, ServiceMonitors and
  PodMonitors), those the server serves (``kubectl api-resources``).  Its objects are the data
  set's objects of those kinds.

Wall time and peak RSS come from tests/bench/bench.py's ``measure`` (``/usr/bin/time -v``); with
--repeat N the best wall time and the highest peak RSS of N runs are shown.  Growth columns: how
much wall time and peak RSS grow per 10x more workloads against the previous size (~10x is
linear); mc/kubectl: meshcheck's wall time over kubectl's at the same size.
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench import _TIME, dataset, default_exe, growth, measure  # noqa: E402
from live import write_live  # noqa: E402

COUNTS = ".live-counts"  # objects per kind, next to the data (no .json suffix: the server ignores it)
LIVE_TAG = "live v1\n"  # bump when live.py's output changes, so old --data-dir copies are regenerated
SERVER_START_S = 600.0

# Targets, printed next to the figures (never asserted).
TARGET_10K_RATIO = 0.12
TARGET_10K_MB = 2500.0
TARGET_GROWTH = 12.0  # per 10x; ~10x is linear

# The kinds meshcheck reads with all rules, as kubectl names them; only those the server serves are listed.
KUBECTL_KINDS = {
    "Namespace": "namespaces", "Pod": "pods", "Service": "services", "ConfigMap": "configmaps",
    "Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps", "DaemonSet": "daemonsets.apps",
    "ReplicaSet": "replicasets.apps", "Job": "jobs.batch", "CronJob": "cronjobs.batch",
    "ServiceEntry": "serviceentries.networking.istio.io", "Sidecar": "sidecars.networking.istio.io",
    "VirtualService": "virtualservices.networking.istio.io", "Gateway": "gateways.networking.istio.io",
    "DestinationRule": "destinationrules.networking.istio.io",
    "PeerAuthentication": "peerauthentications.security.istio.io", "Ingress": "ingresses.networking.k8s.io",
    "ServiceMonitor": "servicemonitors.monitoring.coreos.com", "PodMonitor": "podmonitors.monitoring.coreos.com",
}


def make_live(d: str, workloads: int, seed: int, profile: str = "workloads") -> None:
    """live.py's data (of a generate.py profile), and its objects per kind for the table."""
    counts, _ = write_live(d, workloads, seed, profile)
    with open(os.path.join(d, COUNTS), "w") as fh:
        json.dump(dict(counts), fh)


class Server:
    """``python -m tests.kubeapi`` on one data directory; a context manager that always stops it."""

    def __init__(self, data: str, work: str):
        self.data, self.work = data, work
        self.kubeconfig = os.path.join(work, "kubeconfig")
        self.ready = os.path.join(work, "ready")
        self.log = os.path.join(work, "server.log")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        for f in (self.ready, self.kubeconfig):
            if os.path.exists(f):
                os.remove(f)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.kubeapi", "--data", self.data, "--kubeconfig", self.kubeconfig,
                 "--ready-file", self.ready], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while not os.path.exists(self.ready):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    with open(self.log, errors="replace") as fh:
                        tail = " | ".join(fh.read().strip().splitlines()[-3:])
                    why = f"exit code {self.proc.returncode}" if self.proc.returncode is not None else "timeout"
                    raise RuntimeError(f"the API server emulation did not start ({why}): {tail or '(no output)'}")
                time.sleep(0.1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def kubectl_name(kind: str) -> str:
    return KUBECTL_KINDS.get(kind) or kind.lower() + "s"


def served_kinds(kubectl: str, env: dict, cache: str) -> set[str]:
    """The resource names (``plural.group``) the server serves, from ``kubectl api-resources``."""
    out = subprocess.run([kubectl, "api-resources", "--no-headers", "--cache-dir", cache],
                         env=env, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl api-resources: exit code {out.returncode}: {out.stderr.strip()[-300:]}")
    names = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4:  # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND
            group = parts[-3].rpartition("/")[0]
            names.add(f"{parts[0]}.{group}" if group else parts[0])
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Wall time and peak RSS of kubectl-meshcheck and kubectl on a "
                                             "live cluster emulation.")
    ap.add_argument("--sizes", default="100,1000,10000", help="comma list of workload counts (default: %(default)s)")
    ap.add_argument("--data-dir", help="where live data goes and is reused from (default: a temporary directory)")
    ap.add_argument("--exe", default=default_exe(), help="the kubectl-meshcheck executable (default: %(default)s)")
    ap.add_argument("--kubectl", default=shutil.which("kubectl") or "kubectl", help="default: %(default)s")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; best wall, highest RSS")
    args = ap.parse_args(argv)
    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        ap.error(f"--sizes: not a comma list of integers: {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        ap.error("--sizes: give at least one workload count >= 1")
    exe = args.exe if os.sep in args.exe else (shutil.which(args.exe) or args.exe)
    for what, path in (("--exe", exe), ("--kubectl", args.kubectl)):
        if not os.access(path, os.X_OK):
            ap.error(f"{what}: {path} is not an executable")

    kv = subprocess.run([args.kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        kubectl_version = json.loads(kv.stdout)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError):
        kubectl_version = "?"
    how = f"{_TIME} -v" if os.access(_TIME, os.X_OK) else "getrusage(RUSAGE_CHILDREN) in a wrapper process"
    print(f"python {sys.version.split()[0]} ({sys.executable}); {os.cpu_count()} CPUs; executable {exe}; "
          f"kubectl {kubectl_version}")
    print(f"peak RSS from {how}; best wall of {args.repeat} run(s)")

    errors: list[str] = []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="meshcheck-bench-live-") as tmp:
        root = os.path.abspath(args.data_dir) if args.data_dir else tmp
        os.makedirs(root, exist_ok=True)
        print("data:")
        data = {n: dataset(root, n, name="live", make=make_live, suffix=".json", prefix="", tag=LIVE_TAG)
                for n in sizes}
        base_env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        base_env["MESHCHECK_DISABLE_PLUGIN_AUTOLOAD"] = "1"

        def run(case: str, cmd: list[str], env: dict, workloads: int | None = None, mb: float | None = None,
                objects: int | None = None, check: str | None = None, fresh_cache: str | None = None) -> dict:
            """Measure cmd; check: "summary" (meshcheck's JSON, exit code 1 allowed) or "json" (kubectl's)."""
            row = {"case": case, "workloads": workloads, "mb": mb, "objects": objects, "findings": None,
                   "requests": None, "wall": None, "rss": None, "error": None}
            best = peak = None
            for _ in range(max(args.repeat, 1)):
                if fresh_cache:
                    shutil.rmtree(fresh_cache, ignore_errors=True)
                r = measure(cmd, tmp, env)
                if not (r.rc == 0 or (check == "summary" and r.rc == 1)):
                    row["error"] = f"{case}" + (f" ({workloads:,} workloads)" if workloads else "") + \
                        f": exit code {r.rc}; stderr:\n{r.stderr.rstrip() or '(empty)'}"
                    break
                if check == "summary":
                    try:
                        with open(r.stdout_path, "rb") as fh:
                            summary = json.load(fh)["summary"]
                        row["objects"], row["findings"] = summary["objects"], summary["findings"]
                        row["requests"] = (summary.get("cluster") or {}).get("requests")
                        row["kinds_read"] = (summary.get("cluster") or {}).get("kindsRead") or []
                    except (ValueError, KeyError, TypeError) as e:
                        row["error"] = f"{case}: output is not the expected JSON document: {e}"
                        break
                elif check == "json":
                    with open(r.stdout_path, "rb") as fh:
                        if fh.read(1) != b"{":
                            row["error"] = f"{case}: output is not a JSON document"
                            break
                best = r.wall if best is None else min(best, r.wall)
                if r.rss_mb is not None:
                    peak = r.rss_mb if peak is None else max(peak, r.rss_mb)
            if row["error"]:
                errors.append(row["error"])
            else:
                row["wall"], row["rss"] = best, peak
            rows.append(row)
            print(f"  measured {case}" + (f" ({workloads:,} workloads)" if workloads else "")
                  + (f": {row['wall']:.3f} s" if row["wall"] is not None else ": ERROR"), flush=True)
            return row

        print("runs:")
        run("python -c pass", [sys.executable, "-c", "pass"], base_env)
        run("meshcheck --help", [exe, "--help"], base_env)
        for n in sizes:
            d, _, size = data[n]
            try:
                with open(os.path.join(d, COUNTS)) as fh:
                    counts = json.load(fh)
            except (OSError, ValueError):
                counts = {}  # only the kubectl row's object count is missing then
            try:
                with Server(d, tmp) as srv:
                    cache = os.path.join(tmp, "kubectl-cache")
                    env = {**base_env, "KUBECONFIG": srv.kubeconfig}
                    mc = run("meshcheck -A -o json", [exe, "-A", "-o", "json"], env, n, size / 1e6,
                             check="summary")
                    served = served_kinds(args.kubectl, env, cache)
                    kinds = set(KUBECTL_KINDS) | set(mc.get("kinds_read", ()))
                    names = sorted({kubectl_name(k) for k in kinds} & served)
                    if n == sizes[0]:
                        print(f"  kubectl lists: {','.join(names)}")
                    objects = sum(c for k, c in counts.items() if kubectl_name(k) in names) if counts else None
                    run("kubectl get -A -o json", [args.kubectl, "get", ",".join(names), "-A", "-o", "json",
                                                   "--cache-dir", cache], env, n, size / 1e6, objects,
                        check="json", fresh_cache=cache)
            except RuntimeError as e:
                errors.append(f"{n:,} workloads: {e}")
                print(f"  {n:,} workloads: ERROR {e}", flush=True)

    # -- table -------------------------------------------------------------
    def fmt(v, spec: str, unit: str = "") -> str:
        return "-" if v is None else format(v, spec) + unit

    hdr = (f"{'case':22} {'workloads':>9} {'objects':>8} {'JSON MB':>7} {'findings':>8} {'requests':>8} "
           f"{'wall s':>7} {'peak RSS MB':>11} {'mc/kubectl':>10} {'wall/10x':>8} {'RSS/10x':>8}")
    print()
    print(hdr)
    print("-" * len(hdr))
    prev: dict[str, dict] = {}
    kubectl_at = {r["workloads"]: r for r in rows if r["case"].startswith("kubectl")}
    for row in sorted(rows, key=lambda r: (r["workloads"] is not None, r["workloads"] or 0, r["case"].startswith("k"))):
        w = row["workloads"]
        g_wall = g_rss = ratio = "-"
        p = prev.get(row["case"])
        if w is not None and p is not None:
            g_wall = growth(row["wall"], p["wall"], w, p["workloads"])
            g_rss = growth(row["rss"], p["rss"], w, p["workloads"])
        k = kubectl_at.get(w)
        if row["case"].startswith("meshcheck -A") and k and k["wall"] and row["wall"] is not None:
            ratio = f"{row['wall'] / k['wall']:.3f}x"
        print(f"{row['case']:22} {fmt(w, ',d'):>9} {fmt(row['objects'], ',d'):>8} {fmt(row['mb'], '.1f'):>7} "
              f"{fmt(row['findings'], ',d'):>8} {fmt(row['requests'], ',d'):>8} {fmt(row['wall'], '.3f'):>7} "
              f"{fmt(row['rss'], '.0f'):>11} {ratio:>10} {g_wall:>8} {g_rss:>8}" + ("  ERROR" if row["error"] else ""))
        if w is not None:
            prev[row["case"]] = row
    print("(objects: meshcheck's from its summary; kubectl's: the data set's objects of the kinds it listed. "
          "x/10x: growth per 10x more workloads vs the previous size; ~10x is linear)")

    # -- targets (printed, not asserted) -----------------------------------
    print("\ntargets (informational):")

    def pair(n: int) -> tuple[dict | None, dict | None]:
        mc = next((r for r in rows if r["workloads"] == n and r["case"].startswith("meshcheck")), None)
        return mc, kubectl_at.get(n)

    def ratio_of(mc, k) -> float | None:
        if not mc or not k or mc["wall"] is None or not k["wall"]:
            return None
        return mc["wall"] / k["wall"]

    def verdict(value, limit) -> str:
        if value is None:
            return "not measured"
        return "met" if value <= limit else f"MISSED by {value / limit:.1f}x"

    mc, k = pair(10000)
    r = ratio_of(mc, k)
    print(f"  10,000 workloads: meshcheck <= {TARGET_10K_RATIO}x kubectl's wall time: {fmt(r, '.3f', 'x')} -> "
          f"{verdict(r, TARGET_10K_RATIO)}")
    rss = mc["rss"] if mc else None
    print(f"  10,000 workloads: meshcheck <= {TARGET_10K_MB / 1000:.1f} GB peak RSS: {fmt(rss, '.0f')} MB -> "
          f"{verdict(rss, TARGET_10K_MB)}")
    mc, k = pair(100)
    r = ratio_of(mc, k)
    print(f"  100 workloads: meshcheck no slower than kubectl: {fmt(r, '.3f', 'x')} -> {verdict(r, 1.0)}")
    mcs = [r for r in rows if r["case"].startswith("meshcheck -A") and r["wall"] is not None]
    worst = None
    for a, b in zip(mcs, mcs[1:]):
        g = growth(b["wall"], a["wall"], b["workloads"], a["workloads"])
        if g != "-":
            worst = max(worst or 0.0, float(g.rstrip("x")))
    print(f"  meshcheck wall time grows linearly (<= {TARGET_GROWTH:.0f}x per 10x): worst {fmt(worst, '.1f', 'x')} -> "
          f"{verdict(worst, TARGET_GROWTH)}")

    if errors:
        print("\nerrors:")
        for e in errors:
            print("  " + e.replace("\n", "\n    "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
