"""What ``rules``, ``plugins`` and ``version`` print, in each of their outputs (full, wide, json, yaml)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .json import dump_json, dump_yaml


def _doc(doc: dict[str, Any], output: str) -> str | None:
    return dump_json(doc) if output == "json" else dump_yaml(doc) if output == "yaml" else None


def rules_text(rules: Sequence[Any], output: str, single: bool, fmt: str | None = None) -> str:
    """The rule table, one rule in full (``single``: what ``rules CODE`` prints), the documents, or the
    Markdown reference (``fmt="markdown"``, docs/rules.md)."""
    from ..ruledoc import markdown, rule_to_json
    from .table import listing

    if fmt == "markdown":
        return markdown(rules)
    doc = _doc({"rules": [rule_to_json(r) for r in rules]}, output) if output in ("json", "yaml") else None
    if doc is not None:
        return doc + "\n"
    if single:
        r = rules[0]
        runs_on = ("sidecar-mode namespaces only (ambient and non-mesh namespaces are skipped; "
                   "rule(sidecar_only=False) to judge them too)" if r.sidecar_only
                   else "every namespace, whatever its mesh mode")
        lines = [f"{r.code} {r.name} ({r.topic.value}, {r.severity}, fix: {r.fix.value}, plugin: {r.plugin})",
                 r.summary, f"Runs on: {runs_on}\n", r.doc]
        if r.ist_codes:
            lines.append(f"\nistioctl analyze equivalent: {', '.join(r.ist_codes)}")
        if r.params:
            lines.append(f"Parameters: {r.params}")
        return "\n".join(lines) + "\n"
    rows = [[r.code, r.name, r.topic.value, str(r.severity), r.fix.value, r.status.value, r.plugin, r.summary]
            for r in rules]
    return listing(["CODE", "NAME", "TOPIC", "SEVERITY", "FIX", "STATUS", "PLUGIN", "SUMMARY"], rows,
                   shrink=["SUMMARY"], drop=["STATUS", "PLUGIN", "FIX", "NAME"], wide=output == "wide") + "\n"


def plugins_text(infos: Sequence[Any], output: str) -> str:
    """The loaded plugins: name, version, origin, status, rule count (and hooks, ``-o wide``)."""
    from .table import table

    doc = _doc({"plugins": [i.to_json() for i in infos]}, output)
    if doc is not None:
        return doc + "\n"
    wide = output == "wide"
    rows = [[i.name, i.version or "-", i.origin, i.status, str(i.rules)] + ([",".join(i.hooks)] if wide else [])
            for i in infos]
    return table(["NAME", "VERSION", "ORIGIN", "STATUS", "RULES"] + (["HOOKS"] if wide else []), rows) + "\n"


def version_text(report: dict[str, Any], output: str) -> str:
    """The version report (tool, Python, dependencies, plugins) as text or a document."""
    from ..version import text

    doc = _doc(report, output)
    return (doc if output == "yaml" else doc + "\n") if doc is not None else text(report) + "\n"
