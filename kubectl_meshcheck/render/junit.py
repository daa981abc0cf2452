"""``-o junit``: JUnit XML for Jenkins, GitLab and any CI that reads test reports.

One ``<testsuite>`` per manifest file (per namespace for live objects: ``namespace shop``, and
``cluster-scoped``), one failing ``<testcase>`` per finding (``failure type`` = the severity, the
message, then the location, the best fix and the rule's documentation link). A file with objects
and no finding gets one passing testcase, so clean files are counted too. Suppressed findings
(``--show-suppressed``) are ``<skipped>`` with their reason. Which findings appear follows
``--min-severity``; the exit code follows ``--fail-on``, whatever the format.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..model import Finding, K8sObject, Rule
from ..ruledoc import help_uri
from .locations import file_of, relative

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("?", text)


def suite_of(origin: str, namespace: str | None) -> str:
    """The suite an object belongs to: its file (repository-relative) or, live, its namespace."""
    if origin.startswith("cluster:"):
        return f"namespace {namespace}" if namespace else "cluster-scoped"
    file, _, _ = file_of(origin)
    if file is None:
        return origin.rsplit(":", 1)[0] if re.search(r":\d+$", origin) else origin
    return relative(file)[0]


def _case(suite: ET.Element, f: Finding, file: str | None) -> None:
    name = f"{f.code} {f.object.display()}" + (f" {f.diagnostic.path}" if f.diagnostic.path else "")
    attrs = {"classname": f"meshcheck.{f.rule.topic.value}.{f.rule.name}", "name": _clean(name), "time": "0"}
    if file:
        attrs["file"] = file
    _, line, _ = file_of(f.location)
    if line:
        attrs["line"] = str(line)
    case = ET.SubElement(suite, "testcase", attrs)
    body = [f"{f.location}: {f.diagnostic.message}"]
    body += [f"assumes: {a}" for a in getattr(f, "assumptions", None) or ()]
    best = next((r for r in f.fixes if not r.withheld and r.verified is not False), None)
    if best is not None:
        body.append(f"fix ({best.fix.applicability.value}): {best.fix.title}")
    uri = help_uri(f.rule)
    body.append(f"rule {f.code} {f.rule.name}: {f.rule.summary}" + (f" ({uri})" if uri else ""))
    if f.suppressed:
        ET.SubElement(case, "skipped", {"message": _clean(f"suppressed: {f.suppressed.reason}")})
        return
    failure = ET.SubElement(case, "failure", {"type": str(f.severity), "message": _clean(f.diagnostic.message)})
    failure.text = _clean("\n".join(body))


def render(findings: list[Finding], rules: list[Rule], summary: dict, unreadable: list,
           objects: list[K8sObject]) -> str:
    groups: dict[str, list[Finding]] = {}
    for o in objects:
        groups.setdefault(suite_of(o.ref.origin, o.namespace), [])
    for f in findings:
        groups.setdefault(suite_of(f.location, f.object.namespace), []).append(f)
    root = ET.Element("testsuites", {"name": "kubectl meshcheck"})
    total = failures = skipped = 0
    for name in sorted(groups):
        items = groups[name]
        file, _, _ = file_of(items[0].location) if items else (None, None, None)
        fails = sum(1 for f in items if not f.suppressed)
        skips = len(items) - fails
        tests = len(items) or 1
        suite = ET.SubElement(root, "testsuite", {"name": _clean(name), "tests": str(tests), "failures": str(fails),
                                                  "errors": "0", "skipped": str(skips), "time": "0"})
        for f in items:
            _case(suite, f, relative(file)[0] if file else None)
        if not items:
            ET.SubElement(suite, "testcase", {"classname": "meshcheck", "name": "no findings", "time": "0"})
        total, failures, skipped = total + tests, failures + fails, skipped + skips
    if unreadable:
        suite = ET.SubElement(root, "testsuite", {"name": "unreadable input", "tests": str(len(unreadable)),
                                                  "failures": "0", "errors": str(len(unreadable)), "skipped": "0",
                                                  "time": "0"})
        for u in unreadable:
            case = ET.SubElement(suite, "testcase", {"classname": "meshcheck", "name": _clean(str(u.get("what"))),
                                                     "time": "0"})
            err = ET.SubElement(case, "error", {"message": _clean(str(u.get("reason") or u.get("what")))})
            err.text = _clean(", ".join(u.get("skipped_rules") or []))
    root.set("tests", str(total + len(unreadable)))
    root.set("failures", str(failures))
    root.set("errors", str(len(unreadable)))
    root.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
