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
