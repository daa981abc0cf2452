"""Pods the injector handles specially: which injector webhooks select a pod, istio-proxy containers
left at ``image: auto`` for it to fill in, and Istio's own gateways.
"""

from __future__ import annotations

from typing import Any

from .injection import PROXY_CONTAINER


# -- which injector webhooks select a pod ---------------------------------------------------------
#
# Istio's injector webhooks (MutatingWebhookConfiguration ``istio-sidecar-injector[-<rev>]`` and
# ``istio-revision-tag-<tag>``) select pods with a namespaceSelector and an objectSelector (the
# Kubernetes LabelSelector: matchLabels and matchExpressions In/NotIn/Exists/DoesNotExist; a missing
# selector selects everything). A pod is sent to the injector if any webhook's both selectors match.
# The gateway "injection" (``image: auto`` on an istio-proxy container) relies on the same webhooks.

AUTO_IMAGE = "auto"
INJECTOR_WEBHOOK_PREFIXES = ("istio-sidecar-injector", "istio-revision-tag")


def label_selector_matches(selector: Any, labels: dict) -> bool:
    """A Kubernetes LabelSelector against labels; a missing or empty selector matches everything."""
    if not isinstance(selector, dict):
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if str(labels.get(k)) != str(v) or k not in labels:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            continue
        key, op, values = expr.get("key"), str(expr.get("operator")), [str(v) for v in expr.get("values") or []]
        present = key in labels
        if op == "In" and not (present and str(labels[key]) in values):
            return False
        if op == "NotIn" and present and str(labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def injector_webhooks(configs) -> list[dict]:
    """The webhooks of Istio's injector MutatingWebhookConfigurations among ``configs``."""
    out = []
    for cfg in configs:
        if cfg.kind == "MutatingWebhookConfiguration" and cfg.name.startswith(INJECTOR_WEBHOOK_PREFIXES):
            out.extend(w for w in cfg.data.get("webhooks") or [] if isinstance(w, dict))
    return out


def selected_by_webhooks(webhooks: list[dict], ns_labels: dict | None, pod_labels: dict) -> bool:
    """Does any injector webhook send this pod to the injector? Unknown namespace labels count as none."""
    return any(label_selector_matches(w.get("namespaceSelector"), ns_labels or {})
               and label_selector_matches(w.get("objectSelector"), pod_labels or {}) for w in webhooks)


def auto_image_containers(pod_spec: dict) -> list[int]:
    """Indexes of ``istio-proxy`` containers with ``image: auto`` (left for the injector to fill in)."""
    return [i for i, c in enumerate(pod_spec.get("containers") or [])
            if isinstance(c, dict) and c.get("name") == PROXY_CONTAINER and c.get("image") == AUTO_IMAGE]


# -- Istio's own gateways ---------------------------------------------------------------------------
#
# A gateway Deployment *is* the proxy: the istio/gateway Helm chart and istio.io's "Installing
# Gateways" page inject it with the ``gateway`` template (``inject.istio.io/templates: gateway``) into
# a container named istio-proxy with ``image: auto``, running as UID/GID 1337; older installs run the
# ``proxyv2`` image directly. Nothing in such a pod is an app behind a sidecar.
# https://istio.io/latest/docs/setup/additional-setup/gateway/ ; istio/istio manifests/charts/gateway.

TEMPLATES_ANNOTATION = "inject.istio.io/templates"
PROXY_IMAGES = ("proxyv2",)


def gateway_clue(pod_meta: dict, pod_spec: dict) -> str:
    """Why a pod is one of Istio's gateways ("" when it is not): the ``gateway`` injection template,
    or regular containers that are all the proxy (istio-proxy, or the proxyv2 image)."""
    templates = str((pod_meta.get("annotations") or {}).get(TEMPLATES_ANNOTATION) or "")
    if "gateway" in [t.strip() for t in templates.split(",")]:
        return f"injection template gateway ({TEMPLATES_ANNOTATION})"
    containers = [c for c in pod_spec.get("containers") or [] if isinstance(c, dict)]
    images = [str(c.get("image") or "").split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0] for c in containers]
    if containers and all(c.get("name") == PROXY_CONTAINER or i in PROXY_IMAGES for c, i in zip(containers, images)):
        return "its only container is the proxy (istio-proxy / proxyv2)"
    return ""
