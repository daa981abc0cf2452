"""Which hosts a pod dials are in the cluster: Kubernetes names, <service>.<namespace> of namespaces the
input shows, and names no one can resolve on the internet (no public suffix); the rest is external."""

import pytest

from kubectl_meshcheck.mesh.egress import ClusterNames, classify, public_suffix

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
