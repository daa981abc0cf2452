"""Topic views: tables that explain what Istio will do, built from the same mesh facts the rules read.

Each view returns rows (dicts with documented keys); the table renderer picks columns, and
``-o json``/``-o yaml`` emit the rows whole, so table, JSON and findings never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine import RunResult
from .mesh.apps import effective_target_port, resolve_target_port
from .mesh.injection import PROXY_CONTAINER, calls_quit, injection_of, network_at_start
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


STARTUP_COLUMNS = [
    ("NAMESPACE", "namespace"), ("WORKLOAD", "workload"), ("MESH", "mesh"), ("PROXY", "proxy"), ("HOLD", "hold"),
    ("INIT CONTAINERS", "initContainers"), ("BATCH", "batchCompletion"), ("FINDINGS", "findings"),
]
STARTUP_WIDE = [("WHY", "nativeReason"), ("CONTAINER ORDER", "containerOrder"),
                ("INIT ORDER", "initContainerOrder")]
_ISTIO_INITS = ("istio-init", "istio-validation", "enable-core-dump", PROXY_CONTAINER)


def _batch(wl, inj) -> str:
    """How a Job's pods will complete with this sidecar ("" for long-running workloads)."""
    if wl.obj.kind not in ("Job", "CronJob"):
        return ""
    if not inj.injected:
        return "no sidecar"
    if inj.native:
        return "native sidecar stops with the job"
    if any(calls_quit(c) for _, c in wl.containers()):
        return "command calls quitquitquit"
    return "never completes (classic sidecar)"


def startup_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per workload: mode, where istio-proxy runs, hold and its source, init containers that
    use the network, how a Job completes, findings. Built from ``mesh.injection``, as the rules are.

    Keys: namespace, workload (Kind/name), kind, name, mesh (sidecar/ambient/none, ``?`` if assumed),
    meshReason, proxy (native/first/last/none/ambient; ``?`` if it rests on an assumption, ``(injected)``
    if read from an injected pod), placement, predicted, assumed, nativeReason, hold (yes (source) / no /
    ignored (native sidecar)), holdDetail {inEffect, source, requested, ignored}, postStartWait,
    initContainers (user init containers, ``(network)`` if they use it), initNeedsNetwork [{name,
    evidence}], batchCompletion (Jobs/CronJobs only), containerOrder, initContainerOrder (after
    injection), findings (MC2xx codes), origin."""
    index = result.index
    by_obj: dict[tuple, set[str]] = {}
    for f in result.findings:
        if not f.suppressed and f.code.startswith("MC2"):
            by_obj.setdefault(f.object.key, set()).add(f.code)
    rows = []
    for wl in sorted(index.workloads, key=lambda w: (w.namespace or "", w.obj.kind, w.obj.name)):
        mode = index.mode_of(wl)
        inj = injection_of(wl, index)
        inits = [{"name": c.get("name"), "network": network_at_start(c)} for _, c in wl.containers(init=True)
                 if c.get("name") not in _ISTIO_INITS]
        if inj.hold.in_effect:
            hold = f"yes ({inj.hold.source})"
        elif inj.hold.requested:
            hold = "ignored (native sidecar)"
        else:
            hold = "no"
        proxy = inj.placement + ("?" if inj.assumed else "") + ("" if inj.predicted else " (injected)")
        rows.append({
            "namespace": wl.namespace or "",
            "workload": f"{wl.obj.kind}/{wl.obj.name}",
            "kind": wl.obj.kind,
            "name": wl.obj.name,
            "mesh": mode.mode.value + ("?" if mode.assumed else ""),
            "meshReason": mode.reason,
            "proxy": proxy,
            "placement": inj.placement,
            "predicted": inj.predicted,
            "assumed": inj.assumed,
            "nativeReason": inj.native_reason,
            "hold": hold,
            "holdDetail": inj.hold.to_json(),
            "postStartWait": inj.post_start_wait,
            "initContainers": [f"{i['name']} (network)" if i["network"] else str(i["name"]) for i in inits],
            "initNeedsNetwork": [{"name": i["name"], "evidence": i["network"]} for i in inits if i["network"]],
            "batchCompletion": _batch(wl, inj),
            "containerOrder": list(inj.containers),
            "initContainerOrder": list(inj.init_containers),
            "findings": sorted(by_obj.get(wl.ref.key, ())),
            "origin": wl.obj.location(wl.template_path),
        })
    return rows


VIEWS: dict[Topic, tuple[Callable[[RunResult], list[dict]], list, list]] = {
    Topic.PORTS: (ports_rows, PORTS_COLUMNS, PORTS_WIDE),
    Topic.STARTUP: (startup_rows, STARTUP_COLUMNS, STARTUP_WIDE),
}
