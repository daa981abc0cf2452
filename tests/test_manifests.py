"""Manifest loading: parallel and serial parsing agree, and findings point at the right lines."""

import sys
from pathlib import Path

from kubectl_meshcheck.sources import manifests
from kubectl_meshcheck.sources.manifests import LoadResult, load_bytes, load_paths

sys.path.insert(0, str(Path(__file__).parent / "bench"))
from generate import generate


def test_parallel_parse_equals_serial(tmp_path, monkeypatch):
    generate(str(tmp_path), 400, seed=3)
    monkeypatch.setattr(manifests, "PARALLEL_MIN_BYTES", 1)
    parallel = load_paths([str(tmp_path)], recursive=True)
    monkeypatch.setattr(manifests, "PARALLEL_MIN_BYTES", 1 << 40)
    serial = load_paths([str(tmp_path)], recursive=True)
    assert [(o.ref, o.data) for o in parallel.objects] == [(o.ref, o.data) for o in serial.objects]
    assert len(serial.objects) > 1000


def test_parallel_path_is_taken_for_big_inputs(tmp_path, monkeypatch):
    generate(str(tmp_path), 60, seed=1)
    monkeypatch.setattr(manifests, "PARALLEL_MIN_BYTES", 1)
    files = sorted(tmp_path.rglob("*.yaml"))
    assert len(manifests._parse_in_parallel(files)) == len(files)


def test_field_lines_with_markers_and_inline_documents():
    text = (b"# Source: x\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n"
            b"  - name: web\n    port: 80\n...\n--- {apiVersion: v1, kind: Service, metadata: {name: b}, spec: {}}\n"
            b"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  ports:\n  - port: 1\n")
    out = LoadResult()
    load_bytes(text, "f.yaml", out)
    a, b, c = out.objects
    assert a.ref.origin == "f.yaml:3" and a.line_of("/spec/ports/0") == 8
    assert b.ref.origin == "f.yaml:11" and b.line_of("/spec") == 11
    assert c.line_of("/spec/ports/0/port") == 19 and c.location("/metadata/name") == "f.yaml:16"


def test_syntax_error_in_one_document_keeps_the_others():
    text = (b"apiVersion: v1\nkind: Service\nmetadata: {name: ok}\n...\n---\nkind: [\n---\n"
            b"apiVersion: v1\nkind: Service\nmetadata: {name: ok2}\n")
    out = LoadResult()
    load_bytes(text, "f.yaml", out)
    assert [o.name for o in out.objects] == ["ok", "ok2"]
    assert len(out.errors) == 1 and out.errors[0].startswith("f.yaml:") and "invalid YAML" in out.errors[0]


def test_a_field_of_the_wrong_type_is_one_line_naming_file_line_object_and_field(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n"
                   "  annotations:\n    sidecar.istio.io/inject: true\nspec:\n  template:\n    spec:\n"
                   "      containers: [{name: web}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api}\n"
                   "spec:\n  ports:\n  - name: web\n    port: \"80\"\n---\napiVersion: v1\nkind: Service\n"
                   "metadata: {name: ok}\nspec:\n  ports: [{name: web, port: 80}]\n")
    exe = str(Path(sys.executable).parent / "kubectl-meshcheck")
    proc = subprocess.run([exe, "ports", "-f", str(bad), "-o", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {bad}:7: Deployment shop/web: metadata.annotations.sidecar.istio.io/inject must be a string, "
        "not a boolean (quote it: \"true\")",
        f"error: {bad}:19: Service default/api: spec.ports[0].port must be an integer, not a string"]
    import json
    rows = json.loads(proc.stdout)["rows"]
    assert [r["service"] for r in rows] == ["ok"]  # the rest is still analysed


def test_mangled_examples_never_make_a_rule_crash(tmp_path, host):
    """Fields of the examples replaced by values of other types: each bad object is refused at load
    (or is fine as it is), and no rule crashes (MC001) on what is left."""
    import copy
    import random

    import yaml

    from kubectl_meshcheck.engine import Engine
    from kubectl_meshcheck.index import Index

    examples = Path(__file__).resolve().parents[1] / "kubectl_meshcheck" / "examples"
    docs = [d for f in sorted(examples.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]

    def leaves(x, pre=()):
        items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
        for k, v in items:
            yield pre + (k,)
            yield from leaves(v, pre + (k,))

    rng = random.Random(7)
    rules = host.registry.select(None, [], [], True)  # every rule, preview ones too
    for trial in range(12):
        mangled = copy.deepcopy(docs)
        for _ in range(30):
            d = rng.choice(mangled)
            spots = [p for p in leaves(d) if p[0] not in ("apiVersion", "kind") and p[:2] != ("metadata", "name")
                     and p != ("metadata",)]
            node = d
            *parents, last = rng.choice(spots)
            for k in parents:
                node = node[k]
            node[last] = rng.choice([None, "x", 7, [1, "y"], {"a": "b"}, True, []])
        f = tmp_path / f"m{trial}.yaml"
        f.write_text(yaml.safe_dump_all(mangled))
        loaded = load_paths([str(f)])
        assert all(": " in e and "Traceback" not in e for e in loaded.errors)
        result = Engine(Index(loaded.objects), host.pm).run(rules)
        crashes = [x.diagnostic.message for x in result.findings if x.code == "MC001"]
        assert not crashes, f"trial {trial}: {crashes[:3]}"
