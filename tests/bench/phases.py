#!/usr/bin/env python3
"""Where the time goes: per-phase wall, CPU and peak RSS of ``kubectl meshcheck`` (all topics, ``-o json``),
for files and live, beside the floors (parse only; list only) and the end-to-end run, in one run.

Prints figures only; asserts nothing about time.

    # a NON-editable install (an editable one's import finder adds ~0.1-0.3 s per process):
    python3 -m venv /tmp/bv && /tmp/bv/bin/pip install .
    /tmp/bv/bin/python tests/bench/phases.py --profiles workloads,mesh --modes files,live --sizes 1000 --repeat 3
    /tmp/bv/bin/python tests/bench/phases.py --profiles mesh --modes files --sizes 10000 --cprofile /tmp/mesh10k.prof

Data: generate.py (files) and live.py (live, served by ``python -m tests.kubeapi``) of each profile, in
``--data-dir`` (default /tmp/meshcheck-bench-phases; reused when its stamp matches).  Per size, mode and
profile, each repetition runs in fresh processes of the given python (``--python``, default this one):

* ``kubectl-meshcheck -f DIR -R -o json`` / ``-A -o json``, end to end (``bench.measure``: wall, user+sys
  of the process and its children, peak RSS);
* this script's child mode, which calls the project's functions as ``cli.run_analysis`` wires them
  (through ``pipeline`` where the installed version has it) and times each phase: start-up (imports,
  plugins), read/parse (``load_paths``) or read (``read_cluster``), index build, the engine per topic
  (in code order, one ``Engine.run`` per topic on one Index, so facts memoised by one topic serve the next
  as in one run), line numbers for findings, render ``-o json``.
  Once with fix verification on and once with it off: rule checks = off, fix verification = on - off.
  Objects go to the engine without their line maps, and the findings' ``file:line`` are computed after
  it (what the engine does inline), so line numbers are their own phase; the findings are then compared
  with the CLI's (same JSON findings, or the table says they differ; their digest is printed, so runs
  before and after an optimisation show whether the findings stayed the same);
* the floor: parse only with the project's loader (``sources.manifests``: its parallel parse, no
  objects, no shape checks), or list only with the project's client (``read_cluster`` of the kinds the
  rules read); and, live, ``kubectl get`` of the same kinds once (``--no-kubectl`` skips it).

Best of ``--repeat`` runs: each phase's wall and CPU are their own minimum; RSS is the highest high-water
mark (``ru_maxrss`` after the phase, of this process; parse workers are separate processes, their peak is
the ``children`` figure).  CPU is user+sys of the measured process (and of the parse workers it reaped):
on a loaded machine the fairer figure.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import SEED, dataset, default_exe, measure  # noqa: E402

MARK = "MESHCHECK-PHASES "  # the child's result line on stdout
MODES = ("files", "live")


# -- child side: runs in the measured install, one process per run ------------------------------------


class Clock:
    """Wall, CPU (self + reaped children) and RSS high-water per phase."""

    def __init__(self) -> None:
        self.phases: list[dict] = []
        self._t, self._c = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    def mark(self, name: str, counted: bool = True) -> None:
        t, c = time.perf_counter(), self._cpu()
        self.phases.append({"name": name, "wall": t - self._t, "cpu": c - self._c, "counted": counted,
                            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                            "children_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024})
        self._t, self._c = time.perf_counter(), self._cpu()


def _install() -> str:
    import kubectl_meshcheck

    editable = any("editable" in type(f).__name__.lower() or "editable" in getattr(f, "__module__", "")
                   for f in sys.meta_path)
    return f"{os.path.dirname(kubectl_meshcheck.__file__)} ({'EDITABLE' if editable else 'non-editable'})"


def findings_digest(findings: list) -> str:
    return hashlib.sha256(json.dumps(findings, sort_keys=True).encode()).hexdigest()[:16]


def _topics(rules) -> list[tuple[str, list]]:
    """The rules per topic, topics in code order (the engine runs rules sorted by code)."""
    by: dict[str, list] = {}
    for r in sorted(rules, key=lambda r: r.code):
        by.setdefault(r.topic.value, []).append(r)
    return list(by.items())


class _Wiring:
    """How the installed version wires a run: ``pipeline`` (Settings, read_live, scope_of) where it has
    one, else ``cli.run_analysis``'s own helpers; the phases call the same functions either way."""

    def __init__(self, opts) -> None:
        from kubectl_meshcheck import cli

        try:
            from kubectl_meshcheck import pipeline
        except ImportError:
            pipeline = None
        self.cli, self.pipeline, self.opts = cli, pipeline, opts
        if pipeline is not None:
            self.settings = cli._settings(None, opts)
            self.config, self.host = self.settings.config, self.settings.host
            self.rules = pipeline.select_rules(self.settings)
        else:
            self.config, self.host = cli._host(opts)
            self.rules = self.host.registry.select(None, [], [], False)

    def load(self, loaded) -> None:
        from kubectl_meshcheck.sources import manifests

        if self.pipeline is not None and hasattr(manifests, "kubeconfig_namespace"):  # as pipeline.run does
            loaded.default_namespace = (self.opts.namespace or manifests.kubeconfig_namespace(
                self.opts.kubeconfig, self.opts.context) or "default")
        manifests.load_paths(self.opts.filename, self.opts.recursive, loaded)

    def read_live(self):
        if self.pipeline is not None:
            return self.pipeline.read_live(self.settings, self.rules)
        return self.cli._read_live(self.opts, self.rules)

    def index(self, objects, live):
        from kubectl_meshcheck.index import Index

        evidence = live.pod_evidence if live is not None else None
        if self.pipeline is not None:
            s = self.settings
            return Index(objects, s.assume_mode, force_mode=s.force_mode, injector_settings=s.injector,
                         scope=self.pipeline.scope_of(s, live), pod_evidence=evidence)
        return Index(objects, force_mode=None, injector_settings=self.cli._injector_settings(self.opts, self.config),
                     scope=live.namespaces if live is not None else None, pod_evidence=evidence)


def child_analysis(mode: str, target: str, verify: bool, cprofile: str | None) -> dict:
    """The pipeline of ``cli.run_analysis`` (all topics, -o json), phase by phase."""
    clock = Clock()
    import dataclasses

    from kubectl_meshcheck import cli
    from kubectl_meshcheck.engine import Engine, RunResult
    from kubectl_meshcheck.model import K8sObject, Severity
    from kubectl_meshcheck.render import json as rjson
    from kubectl_meshcheck.sources.manifests import LoadResult
    from kubectl_meshcheck.sources.shape import shape_problem

    if mode == "files":
        opts = cli.Options(filename=[target], recursive=True, output="json")
    else:
        opts = cli.Options(all_namespaces=True, kubeconfig=target, output="json")
    wiring = _Wiring(opts)
    rules = wiring.rules
    clock.mark("start-up: imports, plugins, rule selection")
    prof = None
    if cprofile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    live = None
    loaded = LoadResult()
    if mode == "files":
        wiring.load(loaded)
        clock.mark("read/parse: load_paths (parse, objects, shape checks)")
    else:
        live = wiring.read_live()
        loaded.objects = live.objects
        clock.mark("read: read_cluster (list, parse JSON, objects)")
    # the engine gets the objects without line maps; their file:line is computed below, as its own phase
    plain = [K8sObject(o.data, o.ref) for o in loaded.objects]
    clock.mark("(bench only: objects without line maps)", counted=False)
    index = wiring.index(plain, live)
    clock.mark("index build: Index(...)")
    engine = Engine(index, wiring.host.pm, wiring.config, verify_fixes=verify,
                    use_annotations=not opts.no_annotation_suppressions)
    findings = []
    quiet = getattr(wiring.pipeline, "without_cyclic_gc", None)  # as pipeline.analyse runs the engine
    for topic, topic_rules in _topics(rules):
        if quiet is not None:
            with quiet():
                findings += engine.run(topic_rules, live.unreadable if live else []).findings
        else:
            findings += engine.run(topic_rules, live.unreadable if live else []).findings
        clock.mark(f"rules: {topic}")
    findings.sort(key=lambda f: f.sort_key)
    by_ref = {o.ref: o for o in loaded.objects}
    lined = []
    for f in findings:
        obj = by_ref.get(f.object)
        if obj is not None and f.code not in ("MC002", "MC003", "MC004"):
            f = dataclasses.replace(f, location=obj.location(f.diagnostic.path if f.code != "MC001" else ""))
        lined.append(f)
    clock.mark("line numbers for findings")
    shown = RunResult(lined, rules, index).visible(Severity.INFO, False)
    report = os.path.join(tempfile.gettempdir(), f"meshcheck-phases-{os.getpid()}.json")
    with open(report, "wb") as fh:  # where the CLI writes: a file (the bench redirects stdout), not memory
        if hasattr(rjson, "write_document"):  # streamed, a finding at a time
            rjson.write_document(shown, {"findings": len(shown)}, [], loaded.notes, None, out=fh)
        else:
            fh.write(rjson.dump_json(rjson.document(shown, {"findings": len(shown)}, [], loaded.notes, None)).encode())
    clock.mark("render: -o json")
    if prof is not None:
        prof.disable()
        prof.dump_stats(cprofile)
    if mode == "files":
        for o in loaded.objects:
            shape_problem(o.data, o.kind)
        clock.mark("(shape checks alone: inside read/parse)", counted=False)
    with open(report, "rb") as fh:  # last: reading the report back is the bench's, not the run's memory
        text = fh.read()
    os.unlink(report)
    return {"phases": clock.phases, "objects": len(loaded.objects), "findings": len(shown),
            "digest": findings_digest(json.loads(text)["findings"]), "install": _install()}


def child_floor(mode: str, target: str) -> dict:
    """Files: parse only, with the loader's own parse step. Live: list only, with the project's client."""
    clock = Clock()
    from pathlib import Path

    if mode == "files":
        from kubectl_meshcheck.sources import manifests

        files = manifests._files_in(Path(target), True)
        clock.mark("start-up: imports")
        gc.disable()  # as load_paths does
        parsed = manifests._parse_in_parallel(files)  # the loader's parallel parse (serial below 4 MB)
        for f in files:
            if str(f) not in parsed:
                parsed[str(f)] = manifests._parse(f.read_bytes())
        clock.mark("floor: parse only (sources.manifests' parse step)")
        return {"phases": clock.phases, "files": len(parsed), "install": _install()}
    from kubectl_meshcheck import cli

    wiring = _Wiring(cli.Options(all_namespaces=True, kubeconfig=target, output="json"))
    clock.mark("start-up: imports, plugins")
    live = wiring.read_live()
    clock.mark("floor: list only (read_cluster of the rules' kinds)")
    return {"phases": clock.phases, "objects": len(live.objects), "install": _install()}


def child_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="phases.py --child")
    ap.add_argument("what", choices=("analysis", "floor"))
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("target", help="manifests directory (files) or kubeconfig (live)")
    ap.add_argument("--verify", choices=("on", "off"), default="on")
    ap.add_argument("--cprofile")
    a = ap.parse_args(argv)
    if a.what == "analysis":
        out = child_analysis(a.mode, a.target, a.verify == "on", a.cprofile)
    else:
        out = child_floor(a.mode, a.target)
    sys.stdout.write(MARK + json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # as the CLI does: no heap teardown


# -- orchestrator ---------------------------------------------------------------------------------------


def _child(python: str, args: list[str], work: str, env: dict) -> tuple[dict | None, object]:
    r = measure([python, os.path.abspath(__file__), "--child", *args], work, env)
    with open(r.stdout_path, errors="replace") as fh:
        line = next((x for x in fh if x.startswith(MARK)), None)
    if r.rc != 0 or line is None:
        tail = " | ".join(r.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"child {' '.join(args[:3])}: exit code {r.rc}: {tail or '(no stderr)'}")
    return json.loads(line[len(MARK):]), r


def _best(runs: list[dict]) -> list[dict]:
    """Per phase (by position): the lowest wall and CPU, the highest RSS, over the runs."""
    out = []
    for i, p in enumerate(runs[0]["phases"]):
        same = [r["phases"][i] for r in runs]
        out.append({**p, "wall": min(x["wall"] for x in same), "cpu": min(x["cpu"] for x in same),
                    "rss": max(x["rss"] for x in same), "children_rss": max(x["children_rss"] for x in same)})
    return out


def _cli_digest(path: str) -> tuple[dict, str]:
    with open(path, "rb") as fh:
        doc = json.load(fh)
    return doc["summary"], findings_digest(doc["findings"])


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _row(name: str, wall, cpu, rss, note: str = "") -> str:
    return f"  {name:66} {_fmt(wall, '8.3f')} {_fmt(cpu, '8.3f')} {_fmt(rss, '8.0f')}  {note}".rstrip()


def run_case(profile: str, mode: str, n: int, args, root: str, work: str, env: dict) -> dict:
    import bench_live
    from generate import generate

    if mode == "files":
        d, nfiles, size = dataset(root, n, name=f"files-{profile}", tag=f"profile {profile}\n",
                                  make=lambda out, w, seed: generate(out, w, seed, profile))
    else:
        d, nfiles, size = dataset(root, n, name=f"live-{profile}", suffix=".json", prefix="",
                                  tag=bench_live.LIVE_TAG + f"profile {profile}\n",
                                  make=lambda out, w, seed: bench_live.make_live(out, w, seed, profile))
    exe = args.exe
    case = {"profile": profile, "mode": mode, "workloads": n, "files": nfiles, "mb": size / 1e6, "errors": []}

    def repeat(target: str, env: dict) -> None:
        on, off, floor, e2e = [], [], [], []
        cmd = [exe, "-f", d, "-R", "-o", "json"] if mode == "files" else [exe, "-A", "-o", "json"]
        for rep in range(args.repeat):
            r = measure(cmd, work, env)
            if r.rc not in (0, 1):
                raise RuntimeError(f"{' '.join(cmd)}: exit code {r.rc}: {r.stderr.strip()[-300:]}")
            summary, digest = _cli_digest(r.stdout_path)
            e2e.append(r)
            on.append(_child(args.python, ["analysis", mode, target, "--verify", "on"], work, env)[0])
            off.append(_child(args.python, ["analysis", mode, target, "--verify", "off"], work, env)[0])
            fl, fr = _child(args.python, ["floor", mode, target], work, env)
            floor.append({**fl, "process": fr})
            print(f"  {profile} {mode} {n:,}: run {rep + 1}/{args.repeat}: end-to-end {r.wall:.2f} s wall, "
                  f"{r.cpu or 0:.2f} s CPU", flush=True)
        if args.cprofile:
            _child(args.python, ["analysis", mode, target, "--verify", "on", "--cprofile", args.cprofile], work, env)
            print(f"  cProfile of the analysis (verify on) written to {args.cprofile}", flush=True)
        case.update(summary=summary, cli_digest=digest, on=on, off=off, floor=floor, e2e=e2e)

    if mode == "files":
        repeat(d, env)
        return case
    with bench_live.Server(d, work) as srv:
        env = {**env, "KUBECONFIG": srv.kubeconfig}
        repeat(srv.kubeconfig, env)
        if args.kubectl:  # the reference of the live target: the same kinds, as kubectl reads them
            cache = os.path.join(work, "kubectl-cache")
            served = bench_live.served_kinds(args.kubectl, env, cache)
            kinds = set(bench_live.KUBECTL_KINDS) | set((case["summary"].get("cluster") or {}).get("kindsRead") or [])
            names = sorted({bench_live.kubectl_name(k) for k in kinds} & served)
            shutil.rmtree(cache, ignore_errors=True)
            r = measure([args.kubectl, "get", ",".join(names), "-A", "-o", "json", "--cache-dir", cache], work, env)
            case["kubectl"] = r if r.rc == 0 else None
    return case


def print_case(c: dict, repeat: int) -> None:
    on, off = _best(c["on"]), _best(c["off"])
    floor = _best(c["floor"])
    e2e = c["e2e"]
    wall = min(r.wall for r in e2e)
    cpu = min(r.cpu for r in e2e if r.cpu is not None) if any(r.cpu is not None for r in e2e) else None
    rss = max((r.rss_mb for r in e2e if r.rss_mb is not None), default=None)
    first = c["on"][0]
    same = "yes" if all(x["digest"] == c["cli_digest"] for x in c["on"]) else "NO: the mirror differs from the CLI"
    print()
    what = "files of YAML" if c["mode"] == "files" else "files of live JSON (served by tests.kubeapi)"
    print(f"profile {c['profile']}, {c['mode']}, {c['workloads']:,} workloads: {c['files']} {what}, {c['mb']:.1f} MB, "
          f"{c['summary']['objects']:,} objects, {c['summary']['findings']:,} findings "
          f"(in-process findings = the CLI's: {same}; digest {c['cli_digest']})")
    print(f"  measured install: {first['install']}; best of {repeat} run(s) per phase")
    print(f"  {'phase':66} {'wall s':>8} {'CPU s':>8} {'RSS MB':>8}")
    total_w = total_c = 0.0
    off_by = {p["name"]: p for p in off}
    for p in on:
        if not p["counted"]:
            continue
        total_w += p["wall"]
        total_c += p["cpu"]
        note = f"parse workers' peak {p['children_rss']:.0f} MB" if p["children_rss"] > 1 and \
            p["name"].startswith("read/parse") else ""
        print(_row(p["name"], p["wall"], p["cpu"], p["rss"], note))
        if p["name"].startswith("rules: ") and p["name"] in off_by:
            q = off_by[p["name"]]
            print(_row("    rule checks (verify_fixes off)", q["wall"], q["cpu"], None))
            print(_row("    fix verification (on - off)", p["wall"] - q["wall"], p["cpu"] - q["cpu"], None))
    for p in on:
        if not p["counted"] and p["name"].startswith("(shape"):
            print(_row(p["name"], p["wall"], p["cpu"], None))
    print(_row("sum of phases (in-process, after interpreter start)", total_w, total_c,
               max(p["rss"] for p in on if p["counted"])))
    how = "-f DIR -R -o json" if c["mode"] == "files" else "-A -o json"
    print(_row(f"end to end: kubectl-meshcheck {how} (fresh process)", wall, cpu, rss))
    fl = floor[-1]
    fproc = c["floor"]
    fwall = min(x["process"].wall for x in fproc)
    fcpu = min((x["process"].cpu for x in fproc if x["process"].cpu is not None), default=None)
    frss = max((x["process"].rss_mb for x in fproc if x["process"].rss_mb is not None), default=None)
    print(_row(fl["name"], fl["wall"], fl["cpu"], fl["rss"],
               f"workers' peak {fl['children_rss']:.0f} MB" if fl["children_rss"] > 1 else ""))
    print(_row("  the same, whole fresh process", fwall, fcpu, frss))
    ratio = f"{wall / fwall:.2f}x wall" + (f", {cpu / fcpu:.2f}x CPU" if cpu and fcpu else "")
    print(f"  end to end / floor process: {ratio}")
    k = c.get("kubectl")
    if c["mode"] == "live" and k is not None:
        print(_row("kubectl get (same kinds) -A -o json, once", k.wall, k.cpu, k.rss_mb))
        print(f"  end to end / kubectl get: {wall / k.wall:.3f}x wall" +
              (f", {cpu / k.cpu:.3f}x CPU" if cpu and k.cpu else ""))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    ap = argparse.ArgumentParser(description="Per-phase wall, CPU and RSS of kubectl meshcheck, with the floors.")
    ap.add_argument("--profiles", default="workloads,mesh", help="generate.py profiles (default: %(default)s)")
    ap.add_argument("--modes", default="files,live", help="files, live or both (default: %(default)s)")
    ap.add_argument("--sizes", default="1000", help="comma list of workload counts (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (default: %(default)s)")
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "meshcheck-bench-phases"),
                    help="where the data goes and is reused from (default: %(default)s)")
    ap.add_argument("--python", default=sys.executable, help="the measured install's python (default: this one)")
    ap.add_argument("--exe", help="its kubectl-meshcheck (default: next to --python)")
    ap.add_argument("--kubectl", default=shutil.which("kubectl"), help="for the live reference (default: %(default)s)")
    ap.add_argument("--no-kubectl", dest="kubectl", action="store_const", const=None)
    ap.add_argument("--cprofile", metavar="FILE", help="also one cProfile'd analysis run per case, written here")
    args = ap.parse_args(argv)
    profiles = [p for p in args.profiles.split(",") if p]
    modes = [m for m in args.modes.split(",") if m]
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    if any(m not in MODES for m in modes):
        ap.error(f"--modes: use {', '.join(MODES)}")
    args.exe = args.exe or os.path.join(os.path.dirname(args.python), os.path.basename(default_exe()))
    if not os.access(args.exe, os.X_OK):
        ap.error(f"--exe: {args.exe} is not an executable")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["MESHCHECK_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    print(f"python {sys.version.split()[0]}; measured: {args.python}, {args.exe}; {os.cpu_count()} CPUs; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; seed {SEED}")
    os.makedirs(args.data_dir, exist_ok=True)
    cases = []
    errors = []
    with tempfile.TemporaryDirectory(prefix="meshcheck-phases-") as work:
        for n in sizes:
            for profile in profiles:
                for mode in modes:
                    try:
                        cases.append(run_case(profile, mode, n, args, args.data_dir, work, env))
                    except RuntimeError as e:
                        errors.append(f"{profile} {mode} {n:,}: {e}")
                        print(f"  ERROR {errors[-1]}", flush=True)
    for c in cases:
        print_case(c, args.repeat)
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if errors:
        print("errors:\n  " + "\n  ".join(errors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
