"""Findings per RBAC shape against full access, on the access test data (tests/test_access.py): what a
restricted user gets judged, and how much of it names an assumption. Prints a table; asserts nothing.

    python -m tests.bench.access_shapes [--exe PATH-TO-kubectl-meshcheck]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.kubeapi import Authorizer, KubeAPIServer, write_kubeconfig
from tests.test_access import DATA, SHAPES


def findings(exe: str, srv: KubeAPIServer, args: list[str], tmp: str) -> dict:
    kc = write_kubeconfig(os.path.join(tmp, "config"), srv.start(), namespace="shop")
    env = {**os.environ, "KUBECONFIG": kc, "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", "HOME": tmp}
    p = subprocess.run([exe, *args, "-o", "json"], capture_output=True, text=True, env=env, timeout=300)
    doc = json.loads(p.stdout)
    doc["exit"] = p.returncode
    return doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", default=str(Path(sys.executable).parent / "kubectl-meshcheck"))
    exe = ap.parse_args().exe
    print(f"{'shape':34} {'args':10} {'full':>5} {'restricted':>10} {'same':>5} {'+assumption':>11} "
          f"{'errors full/restr':>17} {'exit':>4}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (grants, args) in sorted(SHAPES.items()):
            with KubeAPIServer(objects=DATA) as srv:
                full = findings(exe, srv, args, tmp)
            with KubeAPIServer(objects=DATA, authorizer=Authorizer(grants)) as srv:
                restricted = findings(exe, srv, args, tmp)

            def keyed(doc):
                return {(f["code"], f["object"]["kind"], f["object"]["namespace"], f["object"]["name"], f["path"]): f
                        for f in doc["findings"] if f["code"] != "MC003"}

            a, b = keyed(full), keyed(restricted)
            same = len(a.keys() & b.keys())
            assumed = sum(1 for f in b.values() if f.get("assumptions"))
            errs = lambda d: sum(1 for f in d.values() if f["severity"] == "error")  # noqa: E731
            print(f"{name:34} {' '.join(args):10} {len(a):5} {len(b):10} {same:5} {assumed:11} "
                  f"{errs(a):>8}/{errs(b):<8} {restricted['exit']:4}")


if __name__ == "__main__":
    main()
