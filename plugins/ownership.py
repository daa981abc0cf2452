"""Bundled plugin ``ownership``: who manages an object, so fixes point at the source.

A live patch on a Helm-, Argo CD- or Flux-managed object is reverted on the next sync or upgrade
(fluxcd/helm-controller#299, helm/helm#2070), so findings on such objects say who would revert it and
where to change it instead: for Helm, the chart and release, and the values key when a well-known chart
exposes the setting (``CHART_VALUES``), else a kustomize post-renderer (``-o kustomize``).
Answers last (``trylast``): an organisation's own plugin can recognise its GitOps labels first.
"""

from __future__ import annotations

import re

from kubectl_meshcheck import Owner, hookimpl

WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})
POST_RENDERER = "or keep the fix as a kustomize patch run by helm --post-renderer (-o kustomize)"

#: chart -> [(kinds, object-name suffix or component label, what it sets, values key)], read at each chart's
#: source: argo-helm's argo-cd values (servicePortHttpName/HttpsName/HttpsAppProtocol are documented "to route
#: traffic via istio"; repoServer.podAnnotations), kiali/helm-charts kiali-server (deployment.pod_annotations),
#: grafana loki (loki.podAnnotations: "common annotations for all pods"), prometheus-community prometheus
#: (server.podAnnotations), aws-containers retail-store orders (podAnnotations, postgresql.podAnnotations,
#: rabbitmq.podAnnotations; its Services have no value for port names or appProtocol).
CHART_VALUES: dict[str, list[tuple[frozenset[str], str, str, str | None]]] = {
    "argo-cd": [
        (frozenset({"Service"}), "argocd-server", "the port names and appProtocol",
         "server.service.servicePortHttpName, server.service.servicePortHttpsName and "
         "server.service.servicePortHttpsAppProtocol"),
        (WORKLOADS, "argocd-repo-server", "pod annotations", "repoServer.podAnnotations"),
    ],
    "kiali-server": [(WORKLOADS, "", "pod annotations", "deployment.pod_annotations")],
    "loki": [(WORKLOADS, "", "pod annotations", "loki.podAnnotations")],
    "prometheus": [(WORKLOADS, "server", "pod annotations", "server.podAnnotations")],
    "orders": [
        (WORKLOADS, "-postgresql", "pod annotations", "postgresql.podAnnotations"),
        (WORKLOADS, "-rabbitmq", "pod annotations", "rabbitmq.podAnnotations"),
        (WORKLOADS, "", "pod annotations", "podAnnotations"),
        (frozenset({"Service"}), "", "the port names and appProtocol", None),
    ],
}
_VERSION = re.compile(r"-v?\d+\.\d+\.\d+([-+].*)?$")


def chart_of(labels: dict) -> tuple[str, str] | None:
    """(chart name, version) from the ``helm.sh/chart`` label (``loki-7.0.0``)."""
    value = str(labels.get("helm.sh/chart") or "")
    m = _VERSION.search(value)
    if not value:
        return None
    return (value[: m.start()], value[m.start() + 1:]) if m else (value, "")


def values_hint(chart: str, kind: str, name: str, labels: dict) -> str:
    """Where the chart lets its user set what the fix changes, or that it does not (as far as we know)."""
    for kinds, match, what, key in CHART_VALUES.get(chart, []):
        component = str(labels.get("app.kubernetes.io/component") or "")
        if kind in kinds and (not match or name.endswith(match) or component == match):
            if key is None:
                return f"the chart has no value for {what}: {POST_RENDERER.removeprefix('or ')}"
            return f"set {what} with the chart's values {key}, {POST_RENDERER}"
    if kind in WORKLOADS:
        return ("pod annotations are usually the podAnnotations value (helm create's layout; check the chart), "
                f"{POST_RENDERER}")
    return f"change the chart's values if it exposes the field, {POST_RENDERER}"


@hookimpl(trylast=True)
def meshcheck_detect_owner(obj, ctx):
    labels, annotations = obj.labels, obj.annotations
    tracking = annotations.get("argocd.argoproj.io/tracking-id")
    if tracking:
        app = str(tracking).split(":", 1)[0]
        return Owner("ArgoCD", app, f"Argo CD application {app!r} reverts a live patch at its next sync: "
                     "change the application's source (Git), e.g. a kustomize patch (-o kustomize)")
    flux = labels.get("kustomize.toolkit.fluxcd.io/name") or labels.get("helm.toolkit.fluxcd.io/name")
    if flux:
        return Owner("Flux", str(flux), f"Flux {flux!r} reverts a live patch at its next reconcile: "
                     "change the Git source it reconciles, e.g. a kustomize patch (-o kustomize)")
    release = annotations.get("meta.helm.sh/release-name")
    if release or labels.get("app.kubernetes.io/managed-by") == "Helm":
        name = str(release or labels.get("app.kubernetes.io/instance") or labels.get("release") or "?")
        chart = chart_of(labels)
        source = f"chart {chart[0]} {chart[1]}".rstrip() + f", release {name!r}" if chart else f"release {name!r}"
        where = values_hint(chart[0], obj.kind, obj.name, labels) if chart else \
            f"change the chart's values, {POST_RENDERER}"
        return Owner("Helm", name, f"Helm ({source}) reverts a live patch at the next helm upgrade: {where}")
    return None
