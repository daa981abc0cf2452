"""Meta-tests over every registered rule: the contract each rule must keep."""

import re
from pathlib import Path

import pytest

from kubectl_meshcheck.engine import fix_availability_ok
from kubectl_meshcheck.index import ALWAYS_READ
from kubectl_meshcheck.model import CODE_RE, Topic
from kubectl_meshcheck.testing import cases, load_objects, run_rules

ROOT = Path(__file__).parent / "rules"
SECTIONS = ("What it checks", "What Istio does", "Example", "Fixes", "References")


def bundled(host):
    return [r for r in host.registry.all() if r.topic is not Topic.ENGINE]


def test_codes_valid_unique_and_in_their_topic_range(host):
    rules = host.registry.all()
    assert len({r.code for r in rules}) == len(rules)
    assert len({r.name for r in rules}) == len(rules)
    ranges = {Topic.ENGINE: "MC0", Topic.PORTS: "MC1", Topic.STARTUP: "MC2", Topic.EGRESS: "MC3",
              Topic.PROBES: "MC4", Topic.CAPTURE: "MC5"}
    for r in rules:
        assert CODE_RE.match(r.code), r.code
        assert r.code.startswith(ranges[r.topic]), (r.code, r.topic)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name), r.name
        assert r.check.__name__ in ("<lambda>", r.name.replace("-", "_")), (r.code, r.check.__name__)


def test_every_rule_documents_itself(host):
    for r in host.registry.all():
        positions = [r.doc.find(s + ":") for s in SECTIONS]
        assert all(p >= 0 for p in positions), (
            f"{r.code}: docstring lacks {[s for s, p in zip(SECTIONS, positions) if p < 0]}"
        )
        assert positions == sorted(positions), f"{r.code}: docstring sections out of order"
        assert r.summary and len(r.summary) < 110, r.code


def test_every_rule_has_fail_and_pass_cases(host):
    by_code = {}
    for c in cases(ROOT):
        by_code.setdefault(c.code, set()).add(c.outcome)
    for r in bundled(host):
        assert by_code.get(r.code) == {"fail", "pass"}, (
            f"{r.code} needs fail.* and pass.* cases in tests/rules/{r.code}/"
        )


@pytest.mark.parametrize("code", [c for c in sorted({c.code for c in cases(ROOT)})])
def test_declared_kinds_match_lookups_and_fix_availability(code, host):
    rule = host.registry.get(code)
    looked = set()
    for c in cases(ROOT):
        if c.code != code:
            continue
        result = run_rules(load_objects(c.path), [code], host)
        looked |= result.looked_up[code]
        diags = [f.diagnostic for f in result.findings if f.code == code]
        assert fix_availability_ok(rule, diags), f"{c.id}: fix availability {rule.fix.value} not kept"
    undeclared = looked - ALWAYS_READ - rule.kinds  # ALWAYS_READ: install facts every rule may read
    assert not undeclared, f"{code} looked up {undeclared} without declaring them"
    assert looked >= rule.reads, f"{code} declares reads {rule.reads - looked} that its cases never use"
