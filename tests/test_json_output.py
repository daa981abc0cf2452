"""``-o json`` is written a finding at a time: the bytes are those of the whole document dumped at once."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from kubectl_meshcheck import pipeline
from kubectl_meshcheck.render import json as rjson

sys.path.insert(0, str(Path(__file__).parent / "bench"))
from generate import generate  # noqa: E402


def _whole(findings, summary, unreadable, notes, rows=None, extra=None) -> bytes:
    doc = rjson.document(findings, summary, unreadable, notes, rows)
    doc.update(extra or {})
    return (rjson.dump_json(doc) + "\n").encode()


@pytest.mark.parametrize("encoder", ["orjson", "stdlib"])
def test_the_streamed_document_is_the_whole_one_byte_for_byte(host, encoder, monkeypatch, tmp_path):
    if encoder == "stdlib":
        monkeypatch.setattr(rjson, "orjson", None)  # a build without the compiled encoder
    generate(str(tmp_path), 40, seed=2, profile="mesh")
    run = pipeline.run(pipeline.Settings(host=host, files=[str(tmp_path)], recursive=True))
    findings = run.result.findings
    assert len(findings) > 100 and any(r.fix.created for f in findings for r in f.fixes)  # patches and new objects
    summary = {"findings": len(findings), "note": "ünïcode ✓ and \"quotes\"\nand a newline", "nested": {"a": []}}
    cases = [
        (findings, summary, [{"what": "x.yaml: bad"}], ["a note"], None, None),
        (findings[:1], summary, [], [], [{"row": 1, "empty": {}}], {"preface": [{"k": "v"}]}),
        ([], {}, [], [], [], {}),
        (findings * 3, summary, [], [], None, None),  # more than one batch
    ]
    for args in cases:
        out = io.BytesIO()
        rjson.write_document(*args, out=out)
        assert out.getvalue() == _whole(*args)
        json.loads(out.getvalue())


def test_created_objects_are_dumped_as_pyyaml_dumps_them(host, tmp_path):
    """The YAML of ``kubectl create`` in a fix is built by the fast dumper: the same text as PyYAML's."""
    import yaml

    from kubectl_meshcheck.sources.yamlfast import dump_block

    generate(str(tmp_path), 40, seed=4, profile="mesh")
    run = pipeline.run(pipeline.Settings(host=host, files=[str(tmp_path)], recursive=True))
    created = [p.created for f in run.result.findings for r in f.fixes for p in r.fix.parts() if p.created]
    shared = {"a": 1}
    odd = ["yes", "no", "on", "null", "~", "", " lead", "trail ", "a: b", "- x", "#c", "a #c", "multi\nline\n",
           "x " * 90, "ünïcode ✓", "0644", "1e3", "1_000", "0x1F", "2020-01-01", "'q'", '"dq"', "*", "&a", "!t",
           "%", "@", "`", "?", ":", "-", "[a]", "{a: 1}", "tab\there", "\u2028", "\x85", "null\x00"]
    docs = [*created, {"k": odd, "n": [0, -1, 10**20, True, False, None], 80: "int key", None: "null key",
                       "empty": {}, "none": [], "nested": [[["deep"]], {"m": {"n": []}}]},
            {"twice": [shared, shared]}, {"float": 1.5, "tuple": (1, 2)}, {str(i): odd[i] for i in range(len(odd))}]
    assert len(created) > 50
    for doc in docs:
        assert dump_block(doc) == yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)
