from pathlib import Path

import pytest

import meshcheck_team
from kubectl_meshcheck.testing import cases, check_case, contract_problems, plugin_host

RULES = Path(__file__).parent / "rules"
HOST = plugin_host(plugins=[("team", meshcheck_team)])


@pytest.mark.parametrize("case", cases(RULES), ids=lambda c: c.id)
def test_case(case):
    check_case(case, HOST, kubectl=True)


def test_contract():
    assert contract_problems(HOST, RULES, prefix="TEAM") == []
