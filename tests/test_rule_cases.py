"""Every rule's fixture folder: fail cases fire as expected, pass cases stay silent, fixes are proven
(jsonpatch == kubectl patch --local == fixed.<case>.yaml, and the rule is silent afterwards)."""

from pathlib import Path

import pytest

from kubectl_meshcheck.testing import cases, check_case

ROOT = Path(__file__).parent / "rules"
CASES = cases(ROOT)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_case(case, host):
    check_case(case, host, kubectl=True)
