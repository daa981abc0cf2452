"""The egress view (kubectl_meshcheck/views.py): one row per
endpoint saying what Istio will do, per-namespace policy rows, and the proposed ServiceEntries,
checked on the bundled example."""

from pathlib import Path

from kubectl_meshcheck.views import (
    EGRESS_COLUMNS,
    EGRESS_WIDE,
    NAMESPACE_COLUMNS,
    egress_namespace_rows,
    egress_rows,
    proposed_service_entries,
)
from kubectl_meshcheck.engine import Engine
from kubectl_meshcheck.index import Index
from kubectl_meshcheck.testing import load_objects

EXAMPLES = Path(__file__).resolve().parents[1] / "kubectl_meshcheck" / "examples"


def _example_result(host):
    objects = load_objects(EXAMPLES)
    rules = [r for r in host.registry.all() if r.code.startswith("MC3")]
    return Engine(Index(objects), host.pm).run(rules)


def test_egress_view_explains_each_endpoint_of_the_example(host):
    result = _example_result(host)
    rows = {(r["workload"], r["host"]): r for r in egress_rows(result)}
    db = rows[("Deployment/orders-worker", "orders-db.cluster-abc.eu-west-1.rds.amazonaws.com")]
    assert db["policy"] == "REGISTRY_ONLY" and "outboundTrafficPolicy without mode" in db["policySource"]
    assert db["fate"].startswith("blackhole") and db["findings"] == ["MC301"] and db["coveredBy"] is None
    assert db["text"] == "postgres://orders:****@orders-db.cluster-abc.eu-west-1.rds.amazonaws.com:5432/orders"
    assert rows[("Deployment/orders-worker", "cart.shop.svc.cluster.local")]["fate"] == "in-cluster"
    smtp = rows[("Deployment/newsletter", "smtp.sendgrid.net")]
    assert (smtp["port"], smtp["serverFirst"], smtp["findings"]) == (587, True, ["MC302"])
    stripe = rows[("Deployment/newsletter", "api.stripe.com")]
    assert stripe["fate"].startswith("captured by Service") and stripe["findings"] == ["MC302"]
    legacy = rows[("Deployment/newsletter", "104.155.22.115")]
    assert legacy["coveredBy"] is None and legacy["findings"] == ["MC303"] and legacy["protocol"] == "TLS"
    (entry,) = [d for d in proposed_service_entries(result) if d["spec"].get("addresses")]
    assert entry["spec"]["addresses"] == ["104.155.22.115/32"] and entry["spec"]["resolution"] == "NONE"
    assert entry["spec"]["hosts"] == ["104-155-22-115.external.invalid"]
    assert rows[("Deployment/newsletter", "cache.example.com")]["findings"] == ["MC303", "MC310"]
    shop = {r["namespace"]: r for r in egress_namespace_rows(result)}["shop"]
    assert shop["policy"] == "ALLOW_ANY"  # the REGISTRY_ONLY Sidecar selects orders-worker only




def test_every_column_is_a_row_key(host):
    result = _example_result(host)
    rows = egress_rows(result)
    assert rows and all(c.key in row for row in rows for c in EGRESS_COLUMNS + EGRESS_WIDE)
    assert all(c.key in row for row in egress_namespace_rows(result) for c in NAMESPACE_COLUMNS)


def test_egress_command_shows_each_namespace_policy_before_the_endpoints():
    import json
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "kubectl-meshcheck")
    table = subprocess.run([exe, "egress", "-f", str(EXAMPLES)], capture_output=True, text=True, timeout=120)
    first = table.stdout.splitlines()[0].split()
    assert first == ["NAMESPACE", "POLICY", "SOURCE"], table.stdout[:300]
    doc = json.loads(subprocess.run([exe, "egress", "-f", str(EXAMPLES), "-o", "json"], capture_output=True,
                                    text=True, timeout=120).stdout)
    assert {r["namespace"] for r in doc["namespaces"]} >= {r["namespace"] for r in doc["rows"]}
