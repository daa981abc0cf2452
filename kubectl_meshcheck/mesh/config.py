"""Mesh config: ConfigMap ``istio`` (or ``istio-<rev>``) in the control-plane namespace.

Its ``data.mesh`` key is a YAML MeshConfig holding only non-default fields; Istio merges it over
its defaults (istio/istio pkg/config/mesh/mesh.go; reference/istio-facts.md §G). The defaults
below are the ones the rules rely on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import yaml

ROOT_NAMESPACE = "istio-system"

DEFAULTS: dict[str, Any] = {
    "rootNamespace": ROOT_NAMESPACE,
    "outboundTrafficPolicy": {"mode": "ALLOW_ANY"},
    "protocolDetectionTimeout": "0s",
    "defaultConfig": {"holdApplicationUntilProxyStarts": False, "proxyMetadata": {}},
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class MeshConfig:
    values: dict = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    source: str = "Istio defaults"

    def get(self, dotted: str, default: Any = None) -> Any:
        cur: Any = self.values
        for part in dotted.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return default
            cur = cur[part]
        return cur


def is_mesh_configmap(kind: str, namespace: str | None, name: str, data: dict | None) -> bool:
    """``istio`` in the root namespace, or a revisioned ``istio-<rev>`` that carries ``mesh``."""
    if kind != "ConfigMap" or namespace != ROOT_NAMESPACE:
        return False
    return name == "istio" or (name.startswith("istio-") and "mesh" in (data or {}))


def mesh_config_from(data: dict | None, source: str) -> tuple[MeshConfig, str | None]:
    """Merge a ConfigMap's ``data.mesh`` over the defaults; returns (config, problem or None)."""
    text = (data or {}).get("mesh")
    if not text:
        return MeshConfig(source=source), None
    try:
        over = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        return MeshConfig(), f"{source}: data.mesh is not valid YAML ({getattr(e, 'problem', e)})"
    if not isinstance(over, dict):
        return MeshConfig(), f"{source}: data.mesh is not a mapping"
    return MeshConfig(_merge(DEFAULTS, over), source), None
