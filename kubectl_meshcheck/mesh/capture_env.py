"""What besides the pod decides a capture route: server and kubectl versions, and the permissions asked.

The API server and local kubectl versions decide what ``kubectl debug`` can do; the permissions each
route needs are asked as access reviews.

Read live by ``sources/target.py``; offline only the local kubectl is known, and the rest is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import MeshMode


EPHEMERAL_BETA = (1, 23)  # on by default (beta) since 1.23, GA in 1.25
EPHEMERAL_GA = (1, 25)
PROFILES_SINCE = (1, 27)  # kubectl debug --profile=general|baseline|restricted|netadmin
SYSADMIN_SINCE = (1, 30)
CUSTOM_ALPHA = (1, 30)  # --custom behind KUBECTL_DEBUG_CUSTOM_PROFILE=true
CUSTOM_SINCE = (1, 31)  # --custom on by default
KEEP_LABELS_SINCE = (1, 32)  # checked on kubectl 1.32; kubectl's newer source strips the pod's labels without it
ROOT_CUSTOM = '{"securityContext":{"runAsUser":0,"runAsNonRoot":false}}'
ROOT_CUSTOM_FILE = "/tmp/meshcheck-debug-root.json"
ADMIN_PORT = 15000
OUTBOUND_PORT = 15001  # where iptables REDIRECT sends the app's outbound connections (on lo)
HBONE_PORT = 15008
ZTUNNEL_NAMESPACE = "istio-system"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
#: the workload kinds whose pod template the privileged-proxy route patches: (API group, resource)
PATCHABLE = {"Deployment": ("apps", "deployments"), "StatefulSet": ("apps", "statefulsets"),
             "DaemonSet": ("apps", "daemonsets")}


@dataclass(frozen=True)
class Question:
    """One permission a route needs: the ``resourceAttributes`` of a SelfSubjectAccessReview."""

    key: str  # ephemeral, attach, exec, portforward, log, telemetry, patch-workload, ztunnel-log, node, create-pods
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def text(self) -> str:
        res = self.resource + (f".{self.group}" if self.group else "") + (f"/{self.subresource}" if self.subresource
                                                                            else "")
        return f"{self.verb} {res}" + (f" in namespace {self.namespace}" if self.namespace else " (cluster scope)")

    def attributes(self) -> dict[str, str]:
        fields = (("namespace", self.namespace), ("verb", self.verb), ("group", self.group),
                  ("resource", self.resource), ("subresource", self.subresource), ("name", self.name))
        return {k: v for k, v in fields if v}


@dataclass(frozen=True)
class Answer:
    question: Question
    allowed: bool | None  # None: the review failed
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"key": self.question.key, "permission": self.question.text, "attributes": self.question.attributes(),
                "allowed": self.allowed, "reason": self.reason}


@dataclass(frozen=True)
class Environment:
    """What decides the route besides the pod: the API server, the local kubectl, the user's permissions.
    Read live by ``sources/target.py``; offline only the local kubectl is known, and the rest is said."""

    server_version: str = ""
    ephemeral_served: bool | None = None  # ``pods/ephemeralcontainers`` in the server's discovery
    kubectl_version: str = ""
    kubectl_problem: str = ""  # why the local kubectl's version is unknown
    answers: tuple[Answer, ...] = ()
    review_skipped: str = ""  # why no access review was made (offline, --no-access-review)
    istioctl: str | None = None  # its path; "" when not on PATH; None when not looked for

    def answer(self, key: str) -> Answer | None:
        return next((a for a in self.answers if a.question.key == key), None)


def access_questions(ns: str, pod: str, mode: MeshMode, owner: tuple[str, str] | None = None,
                     node: str = "") -> tuple[Question, ...]:
    """The permissions the routes of a plan need, each asked once (``pod``/``node`` "" when unknown)."""
    qs = [Question("ephemeral", "patch", "pods", subresource="ephemeralcontainers", namespace=ns, name=pod),
          Question("attach", "create", "pods", subresource="attach", namespace=ns, name=pod)]
    if mode is MeshMode.SIDECAR:
        qs += [Question("exec", "create", "pods", subresource="exec", namespace=ns, name=pod),
               Question("portforward", "create", "pods", subresource="portforward", namespace=ns, name=pod),
               Question("log", "get", "pods", subresource="log", namespace=ns, name=pod),
               Question("telemetry", "create", "telemetries", "telemetry.istio.io", namespace=ns)]
        if owner and owner[0] in PATCHABLE:
            group, plural = PATCHABLE[owner[0]]
            qs.append(Question("patch-workload", "patch", plural, group, namespace=ns, name=owner[1]))
    elif mode is MeshMode.AMBIENT:
        qs += [Question("ztunnel-pods", "list", "pods", namespace=ZTUNNEL_NAMESPACE),
               Question("ztunnel-log", "get", "pods", subresource="log", namespace=ZTUNNEL_NAMESPACE)]
    qs += [Question("node", "get", "nodes", name=node), Question("create-pods", "create", "pods", namespace=ns)]
    return tuple(qs)
