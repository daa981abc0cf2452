"""Bundled plugin ``ownership``: who manages an object, so fixes point at the source.

A live patch on a Helm-, Argo CD- or Flux-managed object is reverted on the next sync or upgrade
(fluxcd/helm-controller#299, helm/helm#2070), so findings on such objects say where to change it.
Answers last (``trylast``): an organisation's own plugin can recognise its GitOps labels first.
"""

from __future__ import annotations

from kubectl_meshcheck import Owner, hookimpl


@hookimpl(trylast=True)
def meshcheck_detect_owner(obj, ctx):
    labels, annotations = obj.labels, obj.annotations
    tracking = annotations.get("argocd.argoproj.io/tracking-id")
    if tracking:
        app = str(tracking).split(":", 1)[0]
        return Owner("ArgoCD", app, f"change the source of Argo CD application {app!r}; "
                     "a live patch is reverted on the next sync")
    flux = labels.get("kustomize.toolkit.fluxcd.io/name") or labels.get("helm.toolkit.fluxcd.io/name")
    if flux:
        return Owner("Flux", str(flux), f"change the Git source reconciled by Flux {flux!r}; "
                     "a live patch is reverted on the next reconcile")
    release = annotations.get("meta.helm.sh/release-name")
    if release or labels.get("app.kubernetes.io/managed-by") == "Helm":
        name = str(release or labels.get("app.kubernetes.io/instance") or labels.get("release") or "?")
        return Owner("Helm", name, f"change the chart's values for release {name!r}, or add the patch through "
                     "a kustomize post-renderer; a live patch is reverted on the next helm upgrade")
    return None
