"""Meta-tests over every registered rule: the contract each rule must keep."""

from pathlib import Path

import pytest

from kubectl_meshcheck.model import Topic
from kubectl_meshcheck.testing import cases, doc_problems, lookup_problems

ROOT = Path(__file__).parent / "rules"


def bundled(host):
    return [r for r in host.registry.all() if r.topic is not Topic.ENGINE]


def test_codes_valid_unique_and_in_their_topic_range(host):
    rules = host.registry.all()
    assert len({r.code for r in rules}) == len(rules)
    assert len({r.name for r in rules}) == len(rules)
    ranges = {Topic.ENGINE: "MC0", Topic.PORTS: "MC1", Topic.STARTUP: "MC2", Topic.EGRESS: "MC3",
              Topic.PROBES: "MC4", Topic.CAPTURE: "MC5"}
    for r in rules:
        assert r.code.startswith(ranges[r.topic]), (r.code, r.topic)


def test_every_rule_documents_itself(host):
    assert [p for r in host.registry.all() for p in doc_problems(r)] == []


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
    assert lookup_problems(host.registry.get(code), [c for c in cases(ROOT) if c.code == code], host) == []
