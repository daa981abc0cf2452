"""CI formats as CI systems read them: SARIF checked against the official 2.1.0 schema, GitHub workflow
commands parsed back the way the runner unescapes them, JUnit XML parsed; the exit code is the same
for every format. Also ``version`` and the committed rule reference (docs/rules.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

from kubectl_meshcheck.render import github, sarif
from kubectl_meshcheck.ruledoc import REGENERATE, markdown

from .kubeapi import KubeAPIServer, write_kubeconfig

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "kubectl-meshcheck")
EXAMPLES = ROOT / "kubectl_meshcheck" / "examples"
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

PORTS = """apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: app
spec:
  selector: {app: web}
  ports:
  - name: web
    port: 80
    targetPort: 8080
  - name: "db"
    port: 3306
"""


def run(*args, cwd=None, env=None):
    e = {k: v for k, v in os.environ.items() if k != "GITHUB_WORKSPACE"}
    e.update({"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})})
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, env=e, timeout=120)


def schema_errors(doc) -> list[str]:
    return [f"{e.json_path}: {e.message[:200]}" for e in VALIDATOR.iter_errors(doc)]


@pytest.fixture
def repo(tmp_path):
    """A repository with manifests in a subdirectory, analysed from another subdirectory."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "deploy").mkdir()
    (tmp_path / "tools").mkdir()
    shutil.copy(EXAMPLES / "ports.yaml", tmp_path / "deploy" / "ports.yaml")
    (tmp_path / "deploy" / "web.yaml").write_text(PORTS)
    return tmp_path


# -- SARIF ---------------------------------------------------------------------------------------------


def test_sarif_validates_and_points_at_the_file_and_line(repo):
    as_json = run("-f", "../deploy", "-o", "json", cwd=repo / "tools")
    p = run("-f", "../deploy", "-o", "sarif", cwd=repo / "tools")
    assert p.returncode == as_json.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert schema_errors(doc) == []
    (runobj,) = doc["runs"]
    assert doc["version"] == "2.1.0" and runobj["invocations"][0]["exitCode"] == 1
    assert runobj["originalUriBaseIds"]["SRCROOT"]["uri"] == repo.resolve().as_uri() + "/"
    rules = runobj["tool"]["driver"]["rules"]
    findings = json.loads(as_json.stdout)["findings"]
    assert len(runobj["results"]) == len(findings) > 3
    for res, f in zip(runobj["results"], findings):
        assert res["ruleId"] == f["code"] and rules[res["ruleIndex"]]["id"] == f["code"]
        assert res["level"] == {"error": "error", "warning": "warning", "info": "note"}[f["severity"]]
        assert res["message"]["text"].startswith(f["message"])
        (loc,) = res["locations"]
        phys = loc["physicalLocation"]
        file, line = f["location"].rsplit(":", 1)
        assert phys["artifactLocation"] == {"uri": "deploy/" + Path(file).name, "uriBaseId": "SRCROOT"}
        assert phys["region"]["startLine"] == int(line)
        o = f["object"]
        assert loc["logicalLocations"][0]["fullyQualifiedName"] == "/".join(
            x for x in (o["kind"], o["namespace"], o["name"]) if x)
    # the column is where the field's key is on that line
    web = next(r for r in runobj["results"] if r["properties"]["object"]["name"] == "web" and r["ruleId"] == "MC101")
    region = web["locations"][0]["physicalLocation"]["region"]
    text = (repo / "deploy" / "web.yaml").read_text().splitlines()[region["startLine"] - 1]
    assert text[region["startColumn"] - 1:].startswith("name: web")
    for r in rules:
        assert r["shortDescription"]["text"] and len(r["fullDescription"]["text"]) <= 1000
        assert r["helpUri"].endswith(f"docs/rules.md#{r['id'].lower()}") and "What Istio does" in r["help"]["text"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    assert {r["id"] for r in rules} >= {"MC101", "MC103", "MC109"}  # every rule run, not only those that fired


def test_sarif_uses_github_workspace_as_the_repository_root(repo):
    p = run("-f", str(repo / "deploy" / "web.yaml"), "-o", "sarif", cwd="/", env={"GITHUB_WORKSPACE": str(repo)})
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(p.stdout)["runs"][0]["results"]}
    assert uris == {"deploy/web.yaml"}


def _apply(text: str, replacements: list[dict]) -> str:
    """Apply SARIF replacements the way a viewer does (line/column regions, 1-based, end exclusive)."""
    lines = text.split("\n")
    for rep in sorted(replacements, key=lambda r: (r["deletedRegion"]["startLine"], r["deletedRegion"]["startColumn"]),
                      reverse=True):
        reg, new = rep["deletedRegion"], rep["insertedContent"]["text"]
        i = reg["startLine"] - 1
        assert reg.get("endLine", reg["startLine"]) == reg["startLine"]
        line = lines[i]
        lines[i] = line[: reg["startColumn"] - 1] + new + line[reg["endColumn"] - 1:]
    return "\n".join(lines)


def test_sarif_fixes_are_text_edits_that_clear_the_finding(repo):
    p = run("-f", "deploy", "-o", "sarif", cwd=repo)
    results = json.loads(p.stdout)["runs"][0]["results"]
    with_edits = [r for r in results if r.get("fixes")]
    assert len(with_edits) >= 3
    for res in with_edits:
        (change,) = res["fixes"][0]["artifactChanges"]
        target = repo / change["artifactLocation"]["uri"]
        edited = repo / "edited" / target.name
        edited.parent.mkdir(exist_ok=True)
        edited.write_text(_apply(target.read_text(), change["replacements"]))
        yaml.safe_load_all(edited.read_text())  # still YAML
        after = json.loads(run("-f", str(edited), "-o", "json").stdout)["findings"]
        obj = res["properties"]["object"]
        same = [f for f in after if f["code"] == res["ruleId"] and f["object"]["name"] == obj["name"]
                and f["object"]["kind"] == obj["kind"] and f["path"] == res["properties"]["path"]]
        assert same == [], f"{res['ruleId']}: the SARIF edit did not clear the finding"


def test_sarif_of_a_live_cluster_has_logical_locations_only(tmp_path):
    objects = [d for d in yaml.safe_load_all(PORTS)]
    with KubeAPIServer(objects=objects) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start())
        p = run("-A", "-o", "sarif", env={"KUBECONFIG": kc, "HOME": str(tmp_path)})
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and schema_errors(doc) == []
    results = doc["runs"][0]["results"]
    assert results and all("physicalLocation" not in r["locations"][0] for r in results)
    assert {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results} == {"Service/app/web"}


def test_sarif_carries_suppressions_unreadable_input_and_assumptions(tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(PORTS.replace("  namespace: app\n", "  namespace: app\n  annotations:\n"
                                                     "    meshcheck.io/ignore-MC101: \"legacy clients; PLAT-1\"\n"))
    (tmp_path / "broken.yaml").write_text("kind: [\n")
    p = run("-f", str(tmp_path), "-o", "sarif", "--show-suppressed")
    doc = json.loads(p.stdout)
    assert p.returncode == 3 and schema_errors(doc) == []
    (inv,) = doc["runs"][0]["invocations"]
    assert inv["exitCode"] == 3 and inv["executionSuccessful"] is False
    assert any("broken.yaml" in n["message"]["text"] for n in inv["toolExecutionNotifications"])
    sup = [r for r in doc["runs"][0]["results"] if r.get("suppressions")]
    assert sup and sup[0]["suppressions"][0]["kind"] == "inSource"
    assert "legacy clients; PLAT-1" in sup[0]["suppressions"][0]["justification"]


def test_sarif_result_properties_carry_a_findings_assumptions(host, tmp_path):
    from kubectl_meshcheck.engine import Engine
    from kubectl_meshcheck.index import Index
    from kubectl_meshcheck.sources.manifests import load_paths

    f = tmp_path / "web.yaml"
    f.write_text(PORTS)
    loaded = load_paths([str(f)])
    index = Index(loaded.objects)
    rules = host.registry.select(None)
    findings = Engine(index, host.pm, None).run(rules).findings

    said = ("namespace app assumed sidecar mode",)
    if "assumptions" in findings[0].__dataclass_fields__:  # the engine's Finding field
        assuming = dataclasses.replace(findings[0], assumptions=said)
    else:  # before the engine had it: any finding-like object that carries them

        @dataclass(frozen=True)
        class Assuming(type(findings[0])):
            assumptions: tuple = said

        assuming = Assuming(**{k: getattr(findings[0], k) for k in findings[0].__dataclass_fields__})
    doc = sarif.document([assuming], rules, {"exitCode": 1}, [], loaded.objects)
    assert doc["runs"][0]["results"][0]["properties"]["assumptions"] == ["namespace app assumed sidecar mode"]
    assert "assumptions" not in sarif.document(findings[:1], rules, {}, [], loaded.objects)["runs"][0]["results"][0][
        "properties"]


# -- GitHub workflow commands ---------------------------------------------------------------------------

_CMD = re.compile(r"^::(?P<cmd>error|warning|notice)(?: (?P<props>[^:]*))?::(?P<msg>.*)$")


def _unescape(text: str) -> str:  # the runner's side (actions/runner ActionCommand.Unescape)
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def parse_commands(out: str) -> list[dict]:
    cmds = []
    for line in out.splitlines():
        m = _CMD.match(line)
        if m:
            props = dict(kv.split("=", 1) for kv in m.group("props").split(",")) if m.group("props") else {}
            cmds.append({"cmd": m.group("cmd"), **{k: _unescape(v) for k, v in props.items()},
                         "message": _unescape(m.group("msg"))})
    return cmds


def test_github_annotations_one_per_finding_with_file_line_and_title(repo):
    as_json = json.loads(run("-f", "deploy", "-o", "json", cwd=repo).stdout)["findings"]
    p = run("-f", "deploy", "-o", "github", cwd=repo)
    assert p.returncode == 1
    cmds = parse_commands(p.stdout)
    assert len(cmds) == len(as_json)
    for c, f in zip(cmds, as_json):
        assert c["cmd"] == {"error": "error", "warning": "warning", "info": "notice"}[f["severity"]]
        assert c["title"] == f"meshcheck ({f['code']})"
        file, line = f["location"].rsplit(":", 1)
        assert c["file"] == f"deploy/{Path(file).name}" and c["line"] == line
        assert f["message"] in c["message"]
    assert p.stdout.splitlines()[-1].startswith(f"meshcheck: {len(as_json)} finding(s)")


def test_github_escaping_matches_actions_core():
    # @actions/core escapeData / escapeProperty
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.command("error", "line1\n::warning::injected", file="a,b.yaml", title="meshcheck (MC1)")
    assert "\n" not in line and line.startswith("::error file=a%2Cb.yaml,title=meshcheck (MC1)::")  # one command
    (c,) = parse_commands(line)
    assert c["message"] == "line1\n::warning::injected" and c["file"] == "a,b.yaml"


# -- JUnit --------------------------------------------------------------------------------------------


def test_junit_one_suite_per_file_one_failing_case_per_finding(repo):
    clean = PORTS.replace("name: web\n    port: 80", "name: http-web\n    port: 80")
    clean = clean.replace('name: "db"', 'name: "mysql"')
    (repo / "deploy" / "clean.yaml").write_text(clean.replace("name: web\n", "name: ok\n"))
    as_json = json.loads(run("-f", "deploy", "-o", "json", cwd=repo).stdout)["findings"]
    p = run("-f", "deploy", "-o", "junit", cwd=repo)
    assert p.returncode == 1
    root = ET.fromstring(p.stdout)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"deploy/ports.yaml", "deploy/web.yaml", "deploy/clean.yaml"}
    failures = root.findall(".//failure")
    assert len(failures) == len(as_json) == int(root.get("failures"))
    assert [c.get("name") for c in suites["deploy/clean.yaml"]] == ["no findings"]
    for s in suites.values():
        assert int(s.get("tests")) == len(s.findall("testcase"))
        assert int(s.get("failures")) == len(s.findall(".//failure"))
    case = next(c for c in suites["deploy/web.yaml"] if c.get("name").startswith("MC101 Service app/web"))
    assert case.get("file") == "deploy/web.yaml" and case.find("failure").get("type") == "info"


def test_junit_groups_live_findings_by_namespace(tmp_path):
    objects = [*yaml.safe_load_all(PORTS), *yaml.safe_load_all(PORTS.replace("namespace: app", "namespace: b"))]
    with KubeAPIServer(objects=objects) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start())
        p = run("-A", "-o", "junit", env={"KUBECONFIG": kc, "HOME": str(tmp_path)})
    root = ET.fromstring(p.stdout)
    assert {"namespace app", "namespace b"} <= {s.get("name") for s in root.findall("testsuite")}


def test_exit_code_does_not_depend_on_the_format(repo):
    codes = {fmt: run("-f", "deploy", "-o", fmt, "--fail-on", "warning", cwd=repo).returncode
             for fmt in ("full", "json", "sarif", "github", "junit")}
    assert set(codes.values()) == {1}, codes
    codes = {fmt: run("-f", "deploy/web.yaml", "-o", fmt, "--fail-on", "error", cwd=repo).returncode
             for fmt in ("full", "sarif", "github", "junit")}
    assert set(codes.values()) == {0}, codes


# -- version and the rule reference -----------------------------------------------------------------


def test_version_names_tool_python_client_istio_and_plugins():
    p = run("version", "-o", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", doc["meshcheck"]) and doc["python"]["version"] == \
        ".".join(map(str, sys.version_info[:3]))
    from importlib import metadata
    assert doc["kubernetesClient"] == metadata.version("kubernetes")
    assert re.fullmatch(r"1\.\d+", doc["istioBehaviour"]["version"])
    assert {"ports", "startup", "egress", "probes", "capture"} <= {pl["name"] for pl in doc["plugins"]}
    text = run("--version")
    assert text.returncode == 0 and text.stdout.startswith(f"kubectl meshcheck {doc['meshcheck']} (")
    assert Path(doc["location"]) == ROOT / "kubectl_meshcheck" or "site-packages" in doc["location"]
    assert f"Istio behaviour modelled up to {doc['istioBehaviour']['version']}" in text.stdout
    assert run("version", "-o", "yaml").returncode == 0
    assert run("version", "-o", "sarif").returncode == 3


def test_rules_json_has_docstring_sections_and_sources():
    rules = {r["code"]: r for r in json.loads(run("rules", "-o", "json").stdout)["rules"]}
    mc103 = rules["MC103"]
    assert list(mc103["sections"]) == ["What it checks", "What Istio does", "Example", "Fixes", "References"]
    assert any(s.startswith("https://istio.io/") for s in mc103["sources"])
    assert mc103["helpUri"].endswith("#mc103")
    assert run("rules", "--format", "html").returncode == 3


def test_committed_rule_reference_is_fresh(host):
    """docs/rules.md is generated; when a rule or its docstring changes, regenerate it."""
    want = markdown(host.registry.all())
    have = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert have == want, f"docs/rules.md is stale: regenerate it with `{REGENERATE}`"
    assert run("rules", "--format", "markdown").stdout == want  # the command the message names writes this
    for r in host.registry.all():
        assert f"\n## {r.code}\n" in want and f"(#{r.code.lower()})" in want
