"""ARCHITECTURE.md's severity calibration lists every bundled rule at the severity it really has: a
rule added, or a default changed, without judging it against the scale fails here."""

import re
from pathlib import Path

ARCH = Path(__file__).resolve().parents[1] / "ARCHITECTURE.md"


def test_every_rule_default_is_the_calibrated_one(host):
    section = ARCH.read_text().split(". Severity calibration\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for m in re.finditer(r"^\| (error|warning|info) \| ([^|]+)\|", section, re.M):
        for code in m.group(2).split():
            assert code not in table, f"{code} listed twice"
            table[code] = m.group(1)
    rules = {r.code: r.severity.name.lower() for r in host.registry.all() if not r.code.startswith("MC0")}
    assert table == rules
