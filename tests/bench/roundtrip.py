#!/usr/bin/env python3
"""Benchmark: which round-trip YAML library should ``--fix`` write manifests with?

Prints figures only; it asserts nothing about time.

    # candidates live in a scratch venv, never in the project's environment:
    python3 -m venv /tmp/rt-venv
    /tmp/rt-venv/bin/pip install pyyaml yaml-edit ruamel.yaml yamluna yarutsk
    /tmp/rt-venv/bin/python tests/bench/roundtrip.py [--corpus DIR]

For every document of every .yaml/.yml file of the real corpus (documents as the product's loader splits
them, ``yamlfast.split_documents``): parse it and write it back unchanged. Reported per candidate: how
many documents come back byte for byte, how many lines differ in the others, errors, throughput, and
whether the values it reads equal PyYAML's (the loader's) on every document. Then the cost of
importing each module (fresh interpreter, best of 5). A fix then edits a few keys of a document; what
matters is that everything it does not touch stays as it was, which is what this measures.
"""
from __future__ import annotations

import argparse
import difflib
import glob
import io
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, ROOT)
DEFAULT_CORPUS = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus", "real"))

from kubectl_meshcheck.sources import yamlfast  # noqa: E402


def _ruamel():
    from ruamel.yaml import YAML

    def rt(text: str) -> tuple[str, object]:
        y = YAML()
        y.preserve_quotes = True
        y.width = 4096
        m = re.search(r"^( +)\S", text, re.M)  # the document's own indentation, as a careful user would set it
        ind = len(m.group(1)) if m else 2
        lines = text.splitlines()
        offset = 0
        for i, line in enumerate(lines[1:], 1):
            s = line.lstrip(" ")
            prev = lines[i - 1]
            if s.startswith("- ") and prev.rstrip().endswith(":") and not prev.lstrip().startswith("- "):
                offset = (len(line) - len(s)) - (len(prev) - len(prev.lstrip(" ")))
                break
        y.indent(mapping=ind, sequence=ind + offset if offset else ind, offset=offset)
        y.explicit_start = text.startswith("---")
        return _load_dump(y, text)
    return "ruamel.yaml", rt


def _load_dump(y, text: str) -> tuple[str, object]:
    """ruamel.yaml's API (yamluna keeps it): load, then dump unchanged."""
    data = y.load(text)
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue(), data


def _yaml_edit():
    import yaml_edit

    def rt(text: str) -> tuple[str, object]:
        f = yaml_edit.YamlFile.parse(text)
        docs = list(f.documents())
        return str(f), docs[0].to_python() if docs else None
    return "yaml_edit", rt


def _yamluna():
    from yamluna import YAML

    def rt(text: str) -> tuple[str, object]:
        y = YAML()
        y.preserve_quotes = True
        return _load_dump(y, text)
    return "yamluna", rt


def _yarutsk():
    import yarutsk

    def rt(text: str) -> tuple[str, object]:
        data = yarutsk.loads(text)
        return yarutsk.dumps(data), data
    return "yarutsk", rt


CANDIDATES = {"ruamel.yaml": _ruamel, "yaml_edit": _yaml_edit, "yamluna": _yamluna, "yarutsk": _yarutsk}


def plain(x):
    """A comparable plain value (round-trip types subclass dict/list/str/int)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    return str(x) if isinstance(x, str) else x


def documents(corpus: str) -> list[str]:
    out = []
    for path in sorted(glob.glob(os.path.join(corpus, "**", "*"), recursive=True)):
        if not path.endswith((".yaml", ".yml")):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        for s, e, _ in yamlfast.split_documents(data):
            chunk = data[s:e]
            if chunk.strip(b"-\n .") and any(d is not None for _, d in yamlfast.load_documents(chunk)):
                out.append(chunk.decode("utf-8"))
    return out


def import_ms(module: str) -> float:
    best = float("inf")
    for _ in range(5):
        p = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                           text=True)
        last = [ln for ln in p.stderr.splitlines() if ln.rstrip().endswith(f"| {module}")]
        if last:
            best = min(best, int(last[-1].split("|")[1]) / 1000)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    args = ap.parse_args()
    docs = documents(args.corpus)
    size = sum(len(d.encode()) for d in docs)
    print(f"corpus: {len(docs)} documents, {size / 1e6:.2f} MB ({args.corpus})")
    print(f"{'library':12} {'identical':>14} {'lines changed':>14} {'errors':>7} {'values=PyYAML':>14} "
          f"{'MB/s':>7} {'import ms':>10}")
    for make in CANDIDATES.values():
        try:
            name, rt = make()
        except ImportError as e:
            print(f"{make.__name__.lstrip('_'):12} not installed ({e.name})")
            continue
        same = changed = errors = wrong = 0
        t = 0.0
        for d in docs:
            t0 = time.perf_counter()
            try:
                out, data = rt(d)
            except Exception:
                errors += 1
                continue
            finally:
                t += time.perf_counter() - t0
            if out == d:
                same += 1
            else:
                changed += sum(1 for ln in difflib.unified_diff(d.splitlines(), out.splitlines(), n=0, lineterm="")
                               if ln[:1] in "+-" and ln[:3] not in ("+++", "---"))
            want = [x for _, x in yamlfast.load_documents(d) if x is not None]
            if [plain(data)] != want:
                wrong += 1
        module = {"ruamel.yaml": "ruamel.yaml"}.get(name, name)
        print(f"{name:12} {same:>6} ({same / len(docs):6.1%}) {changed:>14} {errors:>7} "
              f"{len(docs) - errors - wrong:>7}/{len(docs) - errors:<6} {size / 1e6 / t:>7.2f} "
              f"{import_ms(module):>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
