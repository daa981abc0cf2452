#!/usr/bin/env python3
"""Start-up of every way ``kubectl meshcheck`` is installed and called; prints figures, asserts nothing.

    .venv/bin/python tests/bench/startup.py                  # builds this machine's krew archive first
    .venv/bin/python tests/bench/startup.py --archive dist/kubectl-meshcheck_v0.1.0_linux_amd64.tar.gz
    .venv/bin/python tests/bench/startup.py --repeat 10

Measured, each a fresh process, best of --repeat: ``python -c pass`` (the floor); the pip install's
``kubectl-meshcheck --help``, ``--version`` and ``kubectl meshcheck --help`` (kubectl's plugin
discovery); the krew archive laid out as krew installs it (``krew/build.py``'s ``krew_layout``) and
run as ``kubectl meshcheck --help`` on a PATH without the pip copy; completion
(``kubectl_complete-meshcheck ""`` for subcommands, ``rules ""`` for rule codes, which loads the
plugins). The target (``--help`` <= 0.2 s through kubectl) is printed beside the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_HELP_S = 0.2


def _build_module():
    spec = importlib.util.spec_from_file_location("meshcheck_krew_build", ROOT / "krew" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def best_wall(cmd: list[str], env: dict, repeat: int) -> tuple[float | None, str]:
    best = None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            return None, f"exit code {p.returncode}: {' | '.join(p.stderr.strip().splitlines()[-2:])}"
        best = wall if best is None else min(best, wall)
    return best, ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive", help="a krew archive (default: build this machine's with krew/build.py)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement; best wall (default: %(default)s)")
    args = ap.parse_args(argv)
    build = _build_module()
    bindir = Path(sys.executable).parent
    kubectl = shutil.which("kubectl")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHCHECK_", "PYTHON"))}
    base.update({"KUBECONFIG": os.devnull, "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    pip_env = {**base, "PATH": os.pathsep.join([str(bindir), os.path.dirname(kubectl) if kubectl else ""])}
    rows: list[tuple[str, float | None, str]] = []

    def row(name: str, cmd: list[str], env: dict) -> None:
        wall, err = best_wall(cmd, env, args.repeat)
        rows.append((name, wall, err))
        print(f"  measured {name}: " + (f"{wall:.3f} s" if wall is not None else f"ERROR {err}"), flush=True)

    print(f"python {sys.version.split()[0]} ({sys.executable}); {os.cpu_count()} CPUs; best of {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="meshcheck-startup-") as tmp:
        archive = Path(args.archive) if args.archive else build.build_archive(Path(tmp) / "dist").path
        version = build.normalise_version(archive.name.split("_")[1]) if "_" in archive.name else \
            build.project_version()
        root = Path(tmp) / "krew"
        build.krew_layout(archive, root, version, completion=True)
        pydir = Path(tmp) / "python"
        pydir.mkdir()
        (pydir / "python3").symlink_to(getattr(sys, "_base_executable", None) or sys.executable)
        krew_env = {**base, "PATH": os.pathsep.join([str(root / "bin"), str(pydir),
                                                     os.path.dirname(kubectl) if kubectl else ""])}
        print(f"archive {archive} ({archive.stat().st_size / 1e6:.1f} MB), laid out in {root}")
        print("runs:")
        row("python -c pass", [sys.executable, "-c", "pass"], base)
        row("pip: kubectl-meshcheck --help", [str(bindir / "kubectl-meshcheck"), "--help"], pip_env)
        row("pip: kubectl-meshcheck --version", [str(bindir / "kubectl-meshcheck"), "--version"], pip_env)
        row("pip: completion (subcommands)", [str(bindir / "kubectl_complete-meshcheck"), ""], pip_env)
        row("pip: completion (rule codes)", [str(bindir / "kubectl_complete-meshcheck"), "rules", ""], pip_env)
        row("krew: kubectl-meshcheck --help", [str(root / "bin" / "kubectl-meshcheck"), "--help"], krew_env)
        if kubectl:
            row("pip: kubectl meshcheck --help", [kubectl, "meshcheck", "--help"], pip_env)
            row("krew: kubectl meshcheck --help", [kubectl, "meshcheck", "--help"], krew_env)
            row("krew: kubectl __complete meshcheck", [kubectl, "__complete", "meshcheck", ""], krew_env)
        else:
            print("  (kubectl not on PATH: the runs through kubectl are left out)")
    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'case':{width}}  {'wall s':>7}")
    print("-" * (width + 9))
    for name, wall, err in rows:
        print(f"{name:{width}}  {wall:7.3f}" if wall is not None else f"{name:{width}}  {'ERROR':>7}  {err}")
    print("\ntargets (informational):")
    for name, wall, _ in rows:
        if name.endswith("kubectl meshcheck --help"):
            verdict = "not measured" if wall is None else ("met" if wall <= TARGET_HELP_S else
                                                           f"MISSED by {wall / TARGET_HELP_S:.1f}x")
            print(f"  {name} <= {TARGET_HELP_S} s: " + ("-" if wall is None else f"{wall:.3f} s") + f" -> {verdict}")
    return 1 if any(w is None for _, w, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
