"""Fixes that create an object (the generated ServiceEntries): verified by re-checking with the object
added, printed once as `kubectl create` in `-o patch`, and as a ready-to-apply stream by `egress -o yaml`,
which the real kubectl accepts against the API server emulation."""

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from kubectl_meshcheck.model import Applicability
from kubectl_meshcheck.testing import load_objects, run_rules

from .kubeapi import KubeAPIServer, write_kubeconfig
from .test_egress import UNREGISTERED, _valid_service_entry, deployment, obj

EXAMPLES = Path(__file__).resolve().parents[1] / "kubectl_meshcheck" / "examples"
EXE = str(Path(sys.executable).parent / "kubectl-meshcheck")
REGISTRY_ONLY_SIDECAR = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                         "metadata": {"name": "default", "namespace": "crm"}, "spec": {"outboundTrafficPolicy": {}}}


def _meshcheck(*args):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def _first_fix(objects, code="MC301"):
    (f,) = [f for f in run_rules(objects, UNREGISTERED).findings if f.code == code]
    return f.fixes[0]


def test_a_generated_service_entry_is_verified_by_adding_it():
    d = deployment("crm", env=[{"name": "API", "value": "https://api.hubapi.com/v3"}])
    fr = _first_fix([d, obj(REGISTRY_ONLY_SIDECAR)])
    assert fr.fix.created is not None and fr.fix.created["spec"]["hosts"] == ["api.hubapi.com"]
    assert fr.verified is True and fr.fix.applicability is Applicability.SAFE


def test_a_creation_is_refused_when_the_object_already_exists():
    d = deployment("crm", env=[{"name": "API", "value": "https://api.hubapi.com/v3"}])
    name = _first_fix([d, obj(REGISTRY_ONLY_SIDECAR)]).fix.target.name
    # a ServiceEntry of that name that covers something else: the fix cannot create it
    squatter = obj({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                    "metadata": {"name": name, "namespace": "crm"},
                    "spec": {"hosts": ["other.example.com"], "ports": [{"number": 443, "name": "https",
                                                                        "protocol": "HTTPS"}],
                             "resolution": "DNS"}})
    fr = _first_fix([d, obj(REGISTRY_ONLY_SIDECAR), squatter])
    assert fr.verified is False and "already exists" in fr.note


def test_tcp_by_dns_name_is_unsafe_without_dns_capture():
    d = deployment("crm", env=[{"name": "DATABASE_URL", "value": "postgres://u:pw@db.example.com:5432/app"}])
    fr = _first_fix([d, obj(REGISTRY_ONLY_SIDECAR)])
    assert fr.verified is True and fr.fix.applicability is Applicability.UNSAFE
    assert any("port only" in c for c in fr.fix.caveats)


def _heredocs(script: str) -> list[str]:
    return re.findall(r"kubectl create -f - <<'EOF'\n(.*?)\nEOF", script, re.S)


def test_patch_script_creates_each_object_once_and_kubectl_accepts_it(tmp_path):
    proc = _meshcheck("egress", "-f", str(EXAMPLES), "-o", "patch", "--unsafe-fixes")
    assert proc.returncode == 1, proc.stderr
    assert subprocess.run(["sh", "-n"], input=proc.stdout, text=True).returncode == 0
    docs = [yaml.safe_load(d) for d in _heredocs(proc.stdout)]
    names = [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs]
    assert docs and len(names) == len(set(names))
    with KubeAPIServer(objects=[]) as srv:
        kc = write_kubeconfig(str(tmp_path / "config"), srv.start())
        for d in docs:
            _valid_service_entry(d)
            f = tmp_path / "se.yaml"
            f.write_text(yaml.safe_dump(d))
            got = subprocess.run(["kubectl", "--kubeconfig", kc, "create", "--dry-run=client", "--validate=false",
                                  "-f", str(f), "-o", "json"], capture_output=True, text=True, timeout=60)
            assert got.returncode == 0, got.stderr
            # kubectl maps it to the served Istio kind and keeps it whole (the emulation serves no OpenAPI
            # schema, so kubectl cannot validate fields: Istio's rules are checked on it just before)
            assert json.loads(got.stdout) == d
        assert srv.writes == 0


def test_egress_yaml_is_a_stream_to_apply_that_clears_the_findings():
    proc = _meshcheck("egress", "-f", str(EXAMPLES), "-o", "yaml")
    assert proc.returncode == 1, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert docs and all(d["kind"] == "ServiceEntry" for d in docs)
    assert "# clears MC30" in proc.stdout
    for d in docs:
        _valid_service_entry(d)
    objects = load_objects(EXAMPLES)
    before = run_rules(objects, UNREGISTERED).findings
    cleared_by_creation = {(f.object.key, f.diagnostic.subject) for f in before if f.fixes[0].fix.created}
    after = {(f.object.key, f.diagnostic.subject) for f in run_rules(objects + [obj(d) for d in docs],
                                                                      UNREGISTERED).findings}
    assert cleared_by_creation and not (after & cleared_by_creation), after & cleared_by_creation


def test_two_workloads_dialling_one_host_share_one_entry_with_both_ports():
    a = deployment("crm", env=[{"name": "API", "value": "https://api.partner.example.com/v1"}])
    b = obj({**deployment("crm", env=[{"name": "API", "value": "http://api.partner.example.com:8080/x"}]).data,
             "metadata": {"name": "other", "namespace": "crm"}})
    result = run_rules([a, b, obj(REGISTRY_ONLY_SIDECAR)], UNREGISTERED)
    from kubectl_meshcheck.views import proposed_service_entries

    (doc,) = proposed_service_entries(result)
    assert [p["number"] for p in doc["spec"]["ports"]] == [443, 8080]


def test_a_sidecar_that_hides_the_new_entry_is_patched_with_it():
    rules = Path(__file__).parent / "rules" / "MC301"
    (f,) = [f for f in run_rules(load_objects(rules / "fail.sidecar-egress-hosts.yaml"), ["MC301"]).findings]
    importing, creating = f.fixes
    assert importing.fix.ops[-1].value == "shared-egress/api.partner.example.com" and importing.verified
    (also,) = creating.fix.also  # a new entry in billing is hidden the same way: it is imported with it
    assert also.target.kind == "Sidecar" and also.ops[-1].value == "./api.partner.example.com"
    assert creating.verified is True
