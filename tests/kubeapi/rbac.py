"""RBAC for the API server emulation: who may get/list what, where, as kube-apiserver's RBAC authorizer
decides it for the requests meshcheck sends.

A :class:`Grant` is one rule of a (Cluster)Role as bound: ``namespace=None`` is a ClusterRoleBinding
(every namespace, cluster-scoped resources and cluster-wide lists included); a namespace is a RoleBinding
there (only requests *in* that namespace: never a cluster-wide list, never a cluster-scoped resource).
A GET of a Namespace object is a request in that namespace, as the real authorizer sees it. Requests no
grant allows are answered 403 with the real server's message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Grant:
    resources: frozenset[str] | None = None  # plurals ("deployments"); None: every resource ("*")
    verbs: frozenset[str] = frozenset({"get", "list"})
    namespace: str | None = None  # None: bound cluster-wide (ClusterRoleBinding)
    groups: frozenset[str] | None = None  # API groups; None: every group

    def allows(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        if verb not in self.verbs or (self.resources is not None and resource not in self.resources):
            return False
        if self.groups is not None and group not in self.groups:
            return False
        return self.namespace is None or self.namespace == namespace


def grant(*resources: str, namespace: str | None = None, verbs: Iterable[str] = ("get", "list"),
          groups: Iterable[str] | None = None) -> Grant:
    """``grant()``: everything; ``grant("pods", "services", namespace="shop")``: a Role bound in shop."""
    return Grant(frozenset(resources) or None, frozenset(verbs), namespace,
                 frozenset(groups) if groups is not None else None)


class Authorizer:
    """The union of the grants, as RBAC is: no deny rules, anything not granted is forbidden."""

    def __init__(self, grants: Iterable[Grant]):
        self.grants = tuple(grants)

    def allows(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        return any(g.allows(verb, group, resource, namespace) for g in self.grants)
