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


def test_the_quick_shape_test_passes_exactly_the_objects_the_full_check_passes(tmp_path):
    """Well-formed objects are waved through by a compiled test (no paths built); it must agree with the
    full check on every object of the examples and the bench data, mangled or not, so no wrong type slips by."""
    import copy
    import random

    from kubectl_meshcheck.sources import shape

    generate(str(tmp_path), 30, seed=9, profile="mesh")
    examples = Path(__file__).resolve().parents[1] / "kubectl_meshcheck" / "examples"
    objects = [o for o in load_paths([str(tmp_path), str(examples)], recursive=True).objects if o.kind in shape.SHAPES]
    assert {o.kind for o in objects} >= {"Deployment", "Service", "ServiceEntry", "Sidecar", "VirtualService"}

    def spots(x, pre=()):
        for k, v in x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ():
            yield pre + (k,), x
            yield from spots(v, pre + (k,))

    rng = random.Random(11)
    bad = 0
    for o in objects:
        for _ in range(8):
            doc = copy.deepcopy(o.data)
            path, parent = rng.choice(list(spots(doc)))
            parent[path[-1]] = rng.choice([None, "x", 7, True, 1.5, [1, "y"], [None], {"a": 1}, {}, [], {"a": None}])
            full = shape._check(doc.get("metadata"), shape._META, "/metadata") or shape._check(
                doc, shape.SHAPES[o.kind], "")
            assert shape._WELL_FORMED[o.kind](doc) is (full is None), (o.ref.display(), path)
            assert shape.shape_problem(doc, o.kind) == full
            bad += full is not None
    assert bad > 200  # the mangling does hit the fields the shapes describe


# Block YAML where a field's line follows from indentation, and the constructs where it does not
# (the reader must then say "not sure" and the loader compose the document instead).
_TRICKY = [
    "a:\nb: 1\n", "a: # c\nb: 1\n", "l:\n- \n- x\n", "l:\n-\n  x: 1\n", "a:\n  # c\n\n  x: 1\n",
    "k: |\n  text\n  more: no\nz: 1\n", "k: >-\n  t\n\n  - u\nz: 1\n", "s:\n- - a\n  - b\n- c\n",
    "a: &x\n  b: 1\nc: *x\n", "--- # c\na: 1\n", "a: 'x\n  y: 1'\nb: 1\n", "a: plain\n  cont\nb: 1\n",
    'm:\n  "q/k": 1\n  \'it\'\'s\': 2\n  "e\\"s": 3\n  a~b: 4\n', "m:\n  x: 1\n  x: 2\n", "m: {a: [1, {b: 2}]}\n",
    "m: [1,\n  2]\nn: 3\n", "m:\n\tx: 1\n", "? a\n: 1\nb: 2\n", "%YAML 1.1\n---\na: 1\n",
    "a:\n  - b: 1\n    c:\n    - 2\n", "a: \"x\" # \"c\ny: 1\n", "a: don't \"stop\nb: 1\n",
    "don't: 'multi\n  line'\nb: 1\n", "x: !!str 1\ny: !t\n  z: 1\n", "-x: 1\n:y: 2\n", "a:\n  b:\nc:\n",
    "list:\n-   name: a\n    port: 1\n-   name: b\n", "b: &y\n  z: 1\na: [x, *y]\n", "b: &y\n  z: 1\na:\n  *y\n",
    "m:\n  x:\n    a: 1\n  x:\n    b: 2\n", "root:\n  s: |2\n     indented\n  t: 1\n", "a: 1\r\nb: 2\r\n",
    "\ufeffa: 1\n", "a:\n  - [1, 2]\n  - {x: y}\n", "a: x\u2028b: 1\nc:\n  d: 1\n", "a: x\x85b: 1\nc: 2\n",
]


def _composed_answer(lines: dict, pointer: str, first: int) -> int:
    while pointer and pointer not in lines:
        pointer = pointer.rsplit("/", 1)[0]
    return lines[pointer] if pointer else lines.get("", first)


def _documents_of(paths):
    from kubectl_meshcheck.sources import yamlfast

    for path in paths:
        data = path.read_bytes() if isinstance(path, Path) else path.encode()
        for start, end, first in yamlfast.split_documents(data):
            try:
                composed = yamlfast.compose_lines(data[start:end], offset=first - 1)
            except yamlfast.YAMLError:
                continue
            if set(composed) - {""}:  # not an empty document (nor a lone scalar): what objects are made of
                yield data[start:end].decode("utf-8"), first, composed


def _compare(docs) -> tuple[int, int]:
    """(pointers, of which answered from the text); asserts every answer equals the composed one."""
    from kubectl_meshcheck.sources import yamlfast

    asked = answered = 0
    for text, first, composed in docs:
        reader = yamlfast.BlockLines(text, first)
        for pointer in [*composed, *(p + "/missing" for p in composed), *(p + "/7" for p in composed)]:
            got = reader.line(pointer)
            asked += 1
            if got is not None:
                answered += 1
                assert got == _composed_answer(composed, pointer, first), (text[:300], pointer)
    return asked, answered


def test_field_lines_read_off_the_text_are_the_composed_ones(tmp_path):
    """The loader reads a field's line off block YAML instead of composing the document: on every field
    (and a missing child of each) of the tricky cases, the fixtures, the examples, the bench's mesh data
    and the corpus, it answers as the composer does, or says it is not sure."""
    from .conftest import CORPUS

    asked, answered = _compare(_documents_of(_TRICKY))
    assert asked > 300 and answered < asked  # the hazards are declined, the rest answered
    root = Path(__file__).parent
    fixtures = [*root.glob("data/**/*.yaml"), *root.glob("rules/**/*.yaml"),
                *root.parent.glob("kubectl_meshcheck/examples/*.yaml")]
    corpus = [p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml", ".injected")] if CORPUS.is_dir() else []
    asked, answered = _compare(_documents_of(fixtures + corpus))
    assert answered > 0.7 * asked
    files = generate(str(tmp_path), 150, seed=5, profile="mesh")
    asked, answered = _compare(_documents_of([Path(f) for f in files]))
    assert asked > 20_000 and answered == asked  # what Helm-style output looks like: no compose needed


def test_a_quoted_scalar_over_lines_is_composed_not_read_by_indentation():
    text = (b'apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:\n    note: "one\n'
            b'  ports: no\n    two"\nspec:\n  ports:\n  - port: 80\n')
    out = LoadResult()
    load_bytes(text, "f.yaml", out)
    svc, = out.objects
    assert svc.line_of("/metadata/ports") == 4  # no such field: its parent map (indentation would say 7)
    assert svc.line_of("/metadata/annotations/note") == 6 and svc.line_of("/spec/ports/0/port") == 11
