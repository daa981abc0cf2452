"""Which hosts a pod dials are in the cluster: Kubernetes names, <service>.<namespace> of namespaces the
input shows, and names no one can resolve on the internet (no public suffix); the rest is external."""

import json

import pytest

from kubectl_meshcheck.mesh.endpoints import ClusterNames, classify, public_suffix

NAMES = ClusterNames(services=frozenset({("billing", "reports")}), namespaces=frozenset({"billing"}))


@pytest.mark.parametrize("host, inside", [
    ("orders-db.shop", True),            # the pod's own namespace
    ("reports.billing", True),           # a Service the input holds
    ("ledger.billing", True),            # a namespace the input shows
    ("redis", True), ("redis.cache.svc", True), ("db.shop.svc.cluster.local", True),
    ("db.internal", True), ("mysqldb.vm", True), ("bus.prod.corp", True), ("x.local", True),
    ("api.partner.example", True),       # a reserved name (RFC 2606): never on the internet
    ("api.stripe.com", False), ("stripe.com", False), ("a.b.co.uk", False),
    ("orders.cluster-x.eu-west-1.rds.amazonaws.com", False),
    ("orders-db.shopping", False),       # .shopping is a public suffix, and no namespace shopping is known
    ("104.155.22.115", False),
])
def test_host_class(host, inside):
    got, why = classify(host, "shop", NAMES)
    assert got is inside, why
    assert why


def test_public_suffix_of_the_bundled_list():
    assert public_suffix("a.b.co.uk") == "co.uk" and public_suffix("db.internal") is None


def test_an_external_service_namespace_lookalike_says_what_would_make_it_in_cluster(tmp_path):
    from .test_cli import run

    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: orders, namespace: web}\nspec:\n"
                   "  selector: {matchLabels: {app: orders}}\n  template:\n    metadata: {labels: {app: orders}}\n"
                   "    spec:\n      containers:\n      - name: orders\n        image: example/orders:1\n"
                   "        env:\n        - {name: DB_URL, value: 'mysql://orders-db.shop:3306/orders'}\n"
                   "        - {name: API, value: 'https://stripe.com/v1'}\n")
    doc = json.loads(run("egress", "-f", str(app), "-o", "json").stdout)
    by_host = {r["host"]: r for r in doc["rows"]}
    assert by_host["orders-db.shop"]["couldBeService"] == "Service orders-db in namespace shop"
    assert by_host["stripe.com"]["couldBeService"] is None
    (mc302,) = [f for f in doc["findings"] if f["code"] == "MC302"]
    assert "unless it is Service orders-db in namespace shop" in mc302["message"]
