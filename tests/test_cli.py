"""The installed ``kubectl-meshcheck`` run as a user runs it: subprocesses, exit codes, stdout/stderr."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import require_kubectl

BIN = Path(sys.executable).parent
EXE = str(BIN / "kubectl-meshcheck")
EXAMPLES = Path(__file__).resolve().parents[1] / "kubectl_meshcheck" / "examples"


def run(*args, stdin=None, env=None, cwd=None):
    e = {**os.environ, "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
    return subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True, env=e, cwd=cwd, timeout=120)


def js(proc):
    return json.loads(proc.stdout)


def codes(proc):
    return sorted(f["code"] for f in js(proc)["findings"])


SVC_WEB = """apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  selector: {app: web}
  ports:
  - name: web
    port: 80
"""


def test_example_finds_every_ports_pitfall_with_verified_fixes():
    p = run("-f", str(EXAMPLES), "-o", "json")
    assert p.returncode == 1, p.stderr
    doc = js(p)
    assert set(codes(p)) >= {"MC101", "MC102", "MC103", "MC104", "MC105", "MC106", "MC107", "MC109"}
    for f in doc["findings"]:
        applicable = [x for x in f["fixes"] if x["applicability"] != "display-only"]
        assert all(x["verified"] is True for x in applicable), f
        origin = f["object"]["origin"]  # each topic's pitfalls live in its own example file
        assert origin.startswith(str(EXAMPLES / f"{f['category']}.yaml")), (f["category"], origin)
    documents = [d for p in EXAMPLES.glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    assert doc["summary"]["exitCode"] == 1 and doc["summary"]["objects"] == len(documents)


def test_locations_point_at_the_offending_line():
    p = run("-f", str(EXAMPLES / "ports.yaml"), "-o", "json", "--select", "MC101")
    (f,) = js(p)["findings"]
    line = int(f["location"].rsplit(":", 1)[1])
    text = (EXAMPLES / "ports.yaml").read_text().splitlines()
    assert text[line - 1].strip() == "- name: web"


def test_ports_view_explains_each_port():
    p = run("ports", "-f", str(EXAMPLES), "-o", "json")
    rows = {(r["service"], r["port"]): r for r in js(p)["rows"]}
    assert rows[("frontend", 80)]["protocol"] == "UnsupportedProtocol"
    assert rows[("frontend", 80)]["handling"].startswith("protocol sniffing")
    assert rows[("frontend", 80)]["findings"] == ["MC101"]
    assert rows[("orders-db", 13306)]["findings"] == ["MC105"]
    assert rows[("argocd-server", 443)]["findings"] == ["MC103"]
    assert rows[("cart", 7070)] | {} and rows[("cart", 7070)]["findings"] == []
    assert rows[("cart", 7070)]["why"] == "port name prefix"
    table = run("ports", "-f", str(EXAMPLES), "-o", "wide", env={"COLUMNS": "300"}).stdout
    assert "HANDLING" in table.splitlines()[0] and "TLS passthrough" in table


def test_output_formats_agree_on_exit_code():
    outputs = ("full", "concise", "wide", "json", "yaml", "patch")
    rcs = {o: run("-f", str(EXAMPLES), "-o", o).returncode for o in outputs}
    assert set(rcs.values()) == {1}, rcs
    assert run("-f", str(EXAMPLES), "--fail-on", "error", "--select", "MC101").returncode == 0


def test_patch_output_is_a_script_of_kubectl_patch_commands():
    out = run("-f", str(EXAMPLES), "-o", "patch").stdout
    assert out.startswith("#!/bin/sh")
    assert "kubectl patch service frontend -n shop --type=json -p" in out
    assert '"op":"test"' in out
    assert "unsafe fix(es) left out" in out
    assert "kubectl patch deployment" not in out or "--unsafe-fixes" in out


def test_stdin_and_json_input_and_list_kind():
    p = run("-f", "-", "-o", "json", stdin=SVC_WEB)
    assert codes(p) == ["MC101"] and js(p)["findings"][0]["object"]["origin"].startswith("stdin:")
    as_list = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "x"},
         "spec": {"ports": [{"name": "appport", "port": 8080}]}}]})
    p = run("-f", "-", "-o", "json", stdin=as_list)
    assert codes(p) == ["MC101"]


def test_values_files_and_patches_are_skipped_with_a_note(tmp_path):
    (tmp_path / "values.yaml").write_text("replicaCount: 2\nservice:\n  port: 80\n")
    (tmp_path / "patch.yaml").write_text("- op: replace\n  path: /spec/replicas\n  value: 3\n")
    (tmp_path / "svc.yaml").write_text("# Source: chart/templates/svc.yaml\n---\n---\n" + SVC_WEB)
    p = run("-f", str(tmp_path), "-o", "json")
    assert p.returncode == 0, p.stderr
    assert codes(p) == ["MC101"]
    assert "values.yaml" in p.stderr and "not a Kubernetes object" in p.stderr and "JSON patch" in p.stderr


@pytest.mark.parametrize("content,expect", [
    ("apiVersion: v1\nkind: Service\nmetadata: {name: a\n", "invalid YAML"),
    ("- just\n- a list\n", "not a mapping"),
    ("apiVersion: v1\nmetadata: {name: a}\n", "no kind"),
    ("apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n", "no metadata.name"),
])
def test_bad_documents_give_one_line_and_exit_3_but_the_rest_is_analysed(tmp_path, content, expect):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SVC_WEB + "---\n" + content)
    p = run("-f", str(bad), "-o", "json")
    assert p.returncode == 3
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and expect in errors[0], p.stderr
    assert "Traceback" not in p.stderr
    assert codes(p) == ["MC101"]  # the good document was still analysed
    if expect == "invalid YAML":
        # file:line:column of the syntax error, inside the bad (second) document: lines 10-13
        line, col = errors[0].split(f"{bad}:", 1)[1].split(":")[:2]
        assert 10 <= int(line) <= 13 and int(col) >= 1


def test_bad_paths_and_flags(tmp_path):
    p = run("-f", str(tmp_path / "nope.yaml"))
    assert p.returncode == 3 and p.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file or directory"
    (tmp_path / "README.txt").write_text("hi")
    p = run("-f", str(tmp_path))
    assert p.returncode == 3 and "no .yaml, .yml or .json files" in p.stderr
    p = run("-f", str(EXAMPLES), "-o", "xml")
    assert p.returncode == 3 and "unknown output format 'xml'" in p.stderr and "Traceback" not in p.stderr
    p = run("-f", str(EXAMPLES), "--fail-on", "fatal")
    assert p.returncode == 3 and "--fail-on" in p.stderr
    p = run("-f", str(EXAMPLES), "--select", "XYZ9")
    assert p.returncode == 3 and "XYZ9" in p.stderr
    p = run("--no-such-flag")
    assert p.returncode == 2


def test_select_ignore_and_thresholds():
    assert set(codes(run("-f", str(EXAMPLES), "-o", "json", "--select", "MC103,MC104"))) == {"MC103", "MC104"}
    assert "MC101" not in codes(run("-f", str(EXAMPLES), "-o", "json", "--ignore", "MC101"))
    shown = codes(run("-f", str(EXAMPLES), "-o", "json", "--min-severity", "error"))
    assert "MC101" not in shown and "MC103" in shown
    assert run("-f", str(EXAMPLES), "--select", "MC101", "--fail-on", "info").returncode == 1


def test_suppression_needs_a_reason_and_unused_ones_are_reported(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SVC_WEB.replace("metadata: {name: web, namespace: app}",
                                 "metadata:\n  name: web\n  namespace: app\n  annotations:\n"
                                 "    meshcheck.io/ignore-MC101: \"chart owns the name; PLAT-1\"\n"
                                 "    meshcheck.io/ignore-MC104: \"stale\""))
    p = run("-f", str(f), "-o", "json", "--fail-on", "info")
    doc = js(p)
    assert doc["summary"]["suppressed"] == 1
    assert codes(p) == ["MC002"]  # MC101 hidden, the stale MC104 suppression reported
    p = run("-f", str(f), "-o", "json", "--show-suppressed")
    sup = [x for x in js(p)["findings"] if x["code"] == "MC101"][0]["suppressed"]
    assert sup == {"by": "annotation meshcheck.io/ignore-MC101", "reason": "chart owns the name; PLAT-1"}
    f.write_text(f.read_text().replace('"chart owns the name; PLAT-1"', '""'))
    assert sorted(codes(run("-f", str(f), "-o", "json"))) == ["MC002", "MC004", "MC101"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("suppress:\n  - {code: MC101, namespace: app, name: web, reason: accepted}\n")
    g = tmp_path / "g.yaml"
    g.write_text(SVC_WEB)
    assert codes(run("-f", str(g), "-o", "json", "--config", str(cfg))) == []


def test_mesh_mode_assumption_is_said_and_can_be_overridden():
    p = run("-f", "-", stdin=SVC_WEB)
    assert "assumed sidecar mode" in p.stdout
    assert codes(run("-f", "-", "-o", "json", "--mesh-mode", "ambient", stdin=SVC_WEB)) == []
    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n"
    p = run("-f", "-", stdin=ns + SVC_WEB)
    assert "MC101" not in p.stdout and "app are not in the mesh" in p.stdout  # namespace known, not meshed
    assert codes(run("-f", "-", "-o", "json", "--mesh-mode", "sidecar", stdin=ns + SVC_WEB)) == ["MC101"]
    ns_on = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {istio-injection: enabled}}\n---\n"
    p = run("-f", "-", "-o", "json", stdin=ns_on + SVC_WEB)
    assert codes(p) == ["MC101"] and js(p)["summary"]["assumedMeshMode"] is None


def test_kustomize_directory_is_rendered(tmp_path):
    require_kubectl()
    (tmp_path / "svc.yaml").write_text(SVC_WEB)
    (tmp_path / "kustomization.yaml").write_text("resources: [svc.yaml]\nnamespace: shop\n")
    p = run("-k", str(tmp_path), "-o", "json")
    assert p.returncode == 0, p.stderr
    (f,) = js(p)["findings"]
    assert f["object"]["namespace"] == "shop" and "(kustomize)" in f["object"]["origin"]
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    p = run("-k", str(tmp_path))
    assert p.returncode == 3 and "kubectl kustomize failed" in p.stderr


def test_rules_command_documents_every_rule():
    p = run("rules", "-o", "json")
    rules = {r["code"]: r for r in js(p)["rules"]}
    assert {"MC001", "MC101", "MC109"} <= set(rules)
    p = run("rules", "MC103")
    assert p.returncode == 0 and "What Istio does" in p.stdout and "IST0137" in p.stdout
    assert run("rules", "MC999").returncode == 3


def test_help_is_fast_and_names_exit_codes():
    p = run("--help")
    assert p.returncode == 0 and "Exit codes" in p.stdout and "kubectl meshcheck" in p.stdout


def test_runs_through_kubectl_plugin_discovery():
    require_kubectl()
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "KUBECONFIG": os.devnull}
    p = subprocess.run([shutil.which("kubectl"), "meshcheck", "ports", "-f", str(EXAMPLES), "-o", "json"],
                       capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    assert p.returncode == 1, p.stderr
    assert any(r["service"] == "argocd-server" for r in json.loads(p.stdout)["rows"])


def test_label_selector_narrows_workloads_and_services_like_kubectl(tmp_path):
    f = tmp_path / "two.yaml"
    f.write_text(SVC_WEB.replace("metadata: {name: web, namespace: app}",
                                 "metadata: {name: web, namespace: app, labels: {team: a}}") + "---\n" +
                 SVC_WEB.replace("name: web, namespace: app", "name: api, namespace: app"))
    everything = {f["object"]["name"] for f in js(run("-f", str(f), "-o", "json"))["findings"]}
    assert everything == {"web", "api"}
    only_a = {f["object"]["name"] for f in js(run("-f", str(f), "-o", "json", "-l", "team in (a,b)"))["findings"]}
    assert only_a == {"web"}
    not_a = {f["object"]["name"] for f in js(run("-f", str(f), "-o", "json", "-l", "team!=a"))["findings"]}
    assert not_a == {"api"}
    p = run("-f", str(f), "-l", "team in (a")
    assert p.returncode == 3 and p.stderr.strip() == "error: -l/--selector: invalid label selector term 'team in (a'"
