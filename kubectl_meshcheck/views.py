"""Topic views: tables that explain what Istio will do, built from the same mesh facts the rules read.

Each view returns rows (dicts with documented keys); the table renderer picks columns, and
``-o json``/``-o yaml`` emit the rows whole, so table, JSON and findings never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine import RunResult
from .mesh.apps import effective_target_port, resolve_target_port
from .mesh.protocol import service_port_protocol
from .model import Finding, Topic

#: (column header, row key) for the table; wide adds the second list
PORTS_COLUMNS = [
    ("NAMESPACE", "namespace"), ("SERVICE", "service"), ("PORT", "port"), ("NAME", "name"),
    ("APPPROTOCOL", "appProtocol"), ("TARGET", "targetPort"), ("PROTOCOL", "protocol"), ("WHY", "why"),
    ("HANDLING", "handling"), ("MESH", "mesh"), ("FINDINGS", "findings"),
]
PORTS_WIDE = [("WORKLOADS", "workloads"), ("CONTAINER PORTS", "containerPorts")]


def _codes_for_port(findings: list[Finding], svc_key: tuple, index: int, name: str | None, number: Any) -> list[str]:
    codes = set()
    prefix = f"/spec/ports/{index}"
    for f in findings:
        if f.suppressed:
            continue
        if f.object.key == svc_key and (f.diagnostic.path == prefix or f.diagnostic.path.startswith(prefix + "/")):
            codes.add(f.code)
        for s in f.diagnostic.args.get("services", []) if isinstance(f.diagnostic.args, dict) else []:
            if (f.code.startswith("MC1") and s.get("service") == svc_key[2] and s.get("port") == number
                    and any(r.key == svc_key for r in f.diagnostic.related)):
                codes.add(f.code)
    return sorted(codes)


def ports_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per Service port: Istio's protocol, why, how the sidecar handles it, findings."""
    index = result.index
    rows = []
    for svc in sorted(index.objects("Service"), key=lambda s: (s.namespace or "", s.name)):
        spec = svc.data.get("spec") or {}
        mode = index.mode_of(svc)
        workloads = index.workloads_for(svc)
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            verdict = service_port_protocol(port)
            cports = []
            for wl in workloads:
                number, container, _ = resolve_target_port(port, [c for _, c in wl.containers()])
                if number is not None:
                    cports.append(f"{container.get('name') if container else '?'}:{number}")
            handling = verdict.handling.value
            if spec.get("type") == "ExternalName":
                handling += f" (ExternalName {spec.get('externalName')})"
            rows.append({
                "namespace": svc.namespace or "",
                "service": svc.name,
                "port": port.get("port"),
                "name": port.get("name") or "",
                "appProtocol": port.get("appProtocol") or "",
                "targetPort": effective_target_port(port),
                "protocol": verdict.protocol.value,
                "why": verdict.reason.value,
                "source": verdict.source,
                "handling": handling,
                "mesh": mode.mode.value + ("?" if mode.assumed else ""),
                "meshReason": mode.reason,
                "findings": _codes_for_port(result.findings, svc.ref.key, i, port.get("name"), port.get("port")),
                "workloads": [f"{w.obj.kind}/{w.obj.name}" for w in workloads],
                "containerPorts": sorted(set(cports)),
                "origin": svc.location(f"/spec/ports/{i}"),
            })
    return rows


VIEWS: dict[Topic, tuple[Callable[[RunResult], list[dict]], list, list]] = {
    Topic.PORTS: (ports_rows, PORTS_COLUMNS, PORTS_WIDE),
}
