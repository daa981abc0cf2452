"""Topic views: tables that explain what Istio will do, built from the same mesh facts the rules read.

Each view returns rows (dicts with documented keys); the table renderer picks columns, and
``-o json``/``-o yaml`` emit the rows whole, so table, JSON and findings never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import yaml

from .engine import RunResult
from .facts import MeshFacts
from .index import Context
from .istio import PROXY_CONTAINER
from .fixes import created_objects
from .model import Applicability, Finding, MeshMode, Topic
from .render.table import Column, head, text_of

# Columns: the default table keeps to short cells (``short``) and may leave out ``drop`` columns or cut
# ``shrink`` text to fit the terminal; ``-o wide`` adds the second list and shows every value whole.
# The abbreviations are explained in the README ("Reading the tables").

_PROTOCOL_SHORT = {"UnsupportedProtocol": "sniffed"}
_WHY_SHORT = {"port name prefix": "name", "appProtocol": "appProtocol", "port-number fallback": "port number",
              "unrecognised: sniffing": "unrecognised", "L4 protocol UDP": "UDP"}


def _protocol(value: Any) -> str:
    return _PROTOCOL_SHORT.get(text_of(value), text_of(value))


def _why(value: Any) -> str:
    return _WHY_SHORT.get(text_of(value), head(value))


def _probe_kind(value: Any) -> str:
    """``readinessProbe`` -> ``readiness`` (lifecycle hooks keep their names)."""
    return text_of(value).removesuffix("Probe")


def _http_call(value: Any) -> str:
    """What the kubelet calls, without the ``httpGet`` every rewritten probe has."""
    return text_of(value).removeprefix("httpGet ")


PORTS_COLUMNS = [
    Column("NAMESPACE", "namespace", drop=3), Column("SERVICE", "service"), Column("PORT", "port"),
    Column("NAME", "name"), Column("APPPROTOCOL", "appProtocol", drop=4), Column("TARGET", "targetPort"),
    Column("PROTOCOL", "protocol", short=_protocol), Column("WHY", "why", short=_why, drop=2),
    Column("MESH", "mesh", drop=1), Column("FINDINGS", "findings"),
]
PORTS_WIDE = [Column("HANDLING", "handling"), Column("WORKLOADS", "workloads"),
              Column("CONTAINER PORTS", "containerPorts")]


def _by_name(index) -> list:
    """The workloads in table order: namespace, kind, name."""
    return sorted(index.workloads, key=lambda w: (w.namespace or "", w.obj.kind, w.obj.name))


def _codes_by_object(result: RunResult, topic: Topic) -> dict[tuple, set[str]]:
    """Object key -> the codes of its unsuppressed findings of one topic (any plugin's rules)."""
    by_obj: dict[tuple, set[str]] = {}
    for f in result.findings:
        if not f.suppressed and f.rule.topic is topic:
            by_obj.setdefault(f.object.key, set()).add(f.code)
    return by_obj


def _codes_for_port(findings: list[Finding], svc_key: tuple, index: int, name: str | None, number: Any) -> list[str]:
    codes = set()
    prefix = f"/spec/ports/{index}"
    for f in findings:
        if f.suppressed:
            continue
        if f.object.key == svc_key and (f.diagnostic.path == prefix or f.diagnostic.path.startswith(prefix + "/")):
            codes.add(f.code)
        for s in f.diagnostic.args.get("services", []) if isinstance(f.diagnostic.args, dict) else []:
            if (f.rule.topic is Topic.PORTS and s.get("service") == svc_key[2] and s.get("port") == number
                    and any(r.key == svc_key for r in f.diagnostic.related)):
                codes.add(f.code)
    return sorted(codes)


def ports_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per Service port: Istio's protocol, why, how the sidecar handles it, findings."""
    index = result.index
    ctx = Context.for_views(index)
    rows = []
    for svc in sorted(index.objects("Service"), key=lambda s: (s.namespace or "", s.name)):
        spec = svc.data.get("spec") or {}
        mode = ctx.mesh.mode(svc)
        workloads = index.workloads_for(svc)
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            verdict = ctx.mesh.protocol(port)
            cports = []
            for wl in workloads:
                number, container, _ = ctx.mesh.resolve_target_port(port, [c for _, c in wl.containers()])
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
                "targetPort": ctx.mesh.effective_target_port(port),
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
    Column("NAMESPACE", "namespace", drop=3), Column("WORKLOAD", "workload"), Column("MESH", "mesh", drop=2),
    Column("PROXY", "proxy"), Column("HOLD", "hold", short=head), Column("INIT CONTAINERS", "initContainers",
                                                                          shrink=True),
    Column("BATCH", "batchCompletion", short=head, drop=1), Column("FINDINGS", "findings"),
]
STARTUP_WIDE = [Column("WHY", "nativeReason"), Column("CONTAINER ORDER", "containerOrder"),
                Column("INIT ORDER", "initContainerOrder")]
_ISTIO_INITS = ("istio-init", "istio-validation", "enable-core-dump", PROXY_CONTAINER)


def _batch(wl, inj) -> str:
    """How a Job's pods will complete with this sidecar ("" for long-running workloads)."""
    if wl.obj.kind not in ("Job", "CronJob"):
        return ""
    if not inj.injected:
        return "no sidecar"
    if inj.native:
        return "native sidecar stops with the job"
    if any(MeshFacts.calls_quit(c) for _, c in wl.containers()):
        return "command calls quitquitquit"
    return "never completes (classic sidecar)"


def startup_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per workload: mode, where istio-proxy runs, hold and its source, init containers that
    use the network, how a Job completes, findings. Built from ``mesh.injection``, as the rules are.

    Keys: namespace, workload (Kind/name), kind, name, mesh (sidecar/ambient/none, ``?`` if assumed),
    meshReason, proxy (native/first/last/none/ambient; ``?`` if it rests on an assumption, ``(injected)``
    if read from an injected pod), placement, predicted, assumed, nativeReason, hold (yes (source) / no /
    ignored (native sidecar) / ignored (why)), holdDetail {inEffect, source, requested, ignored}, postStartWait,
    initContainers (user init containers, ``(network)`` if they use it), initNeedsNetwork [{name,
    evidence}], batchCompletion (Jobs/CronJobs only), containerOrder, initContainerOrder (after
    injection), findings (MC2xx codes), origin."""
    index = result.index
    ctx = Context.for_views(index)
    by_obj = _codes_by_object(result, Topic.STARTUP)
    rows = []
    for wl in _by_name(index):
        mode = ctx.mesh.mode(wl)
        inj = ctx.mesh.injection(wl)
        inits = [{"name": c.get("name"), "network": ctx.mesh.network_at_start(c)} for _, c in wl.containers(init=True)
                 if c.get("name") not in _ISTIO_INITS]
        if inj.hold.in_effect:
            hold = f"yes ({inj.hold.source})"
        elif inj.hold.requested:
            hold = "ignored (native sidecar)" if inj.placement == "native" else f"ignored ({inj.hold.ignored})"
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


PROBES_COLUMNS = [
    Column("NAMESPACE", "namespace", drop=2), Column("WORKLOAD", "workload"),
    Column("CONTAINER", "container", drop=1), Column("PROBE", "probe", short=_probe_kind),
    Column("ORIGINAL", "original", shrink=True), Column("KUBELET CALLS", "kubeletCalls", short=_http_call,
                                                        shrink=True),
    Column("WORKS", "works"), Column("FINDINGS", "findings"),
]
PROBES_WIDE = [Column("WHY", "why"), Column("MTLS", "mtls"), Column("REWRITE", "rewriteReason")]


def _describe(probe: dict, handler: str, resolved: Any = None) -> str:
    """``httpGet :http=8080/healthz (HTTPS, host x)``, ``tcpSocket :6379``, ``grpc :9090``, ``exec cat /x``."""
    action = probe.get(handler) or {}
    if handler == "exec":
        return "exec " + " ".join(str(x) for x in action.get("command") or [])
    if handler not in ("httpGet", "tcpSocket", "grpc"):
        return "(none)"
    port = action.get("port")
    text = f"{handler} :{port}" + (f"={resolved}" if isinstance(port, str) and resolved is not None else "")
    if handler == "httpGet":
        text += str(action.get("path") or "/")
        extra = [x for x in (action.get("scheme") if action.get("scheme") not in (None, "HTTP") else None,
                             f"host {action['host']}" if action.get("host") else None) if x]
        text += f" ({', '.join(extra)})" if extra else ""
    return text


def _probe_codes(findings: list[Finding], key: tuple, plan) -> list[str]:
    """Probe findings on this probe: by path, or naming its container (and kind) in their args."""
    codes = set()
    for f in findings:
        if f.suppressed or f.rule.topic is not Topic.PROBES or f.object.key != key:
            continue
        args = f.diagnostic.args if isinstance(f.diagnostic.args, dict) else {}
        named = [p for p in args.get("probes") or [] if isinstance(p, dict)]
        if (f.diagnostic.path == plan.path or f.diagnostic.path.startswith(plan.path + "/")
                or any(p.get("container") == plan.container and p.get("kind") == plan.kind for p in named)
                or plan.container in args.get("containers", [])):
            codes.add(f.code)
    return sorted(codes)


def probes_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per container probe (and lifecycle hook): the original, what the kubelet will call after
    injection, whether it will work and why, findings. Built from ``mesh.probes`` and ``mesh.mtls``, as
    the rules are.

    Keys: namespace, workload (Kind/name), container, init (an init container), probe (readinessProbe,
    livenessProbe, startupProbe, preStop, postStart), handler, original (summary), port, path, kubeletCalls
    (summary), rewritten, predicted, url (the agent's /app-health path), kubelet (the probe the kubelet
    runs, as JSON), prober (its ISTIO_KUBE_APP_PROBERS entry), works (yes, no, meaningless, unknown), why,
    mtls (inbound mode on the probe's port, sidecar pods only), mtlsSource, rewriteReason, mesh, findings
    (MC4xx codes), origin."""
    index = result.index
    ctx = Context.for_views(index)
    rows = []
    for wl in _by_name(index):
        pp = ctx.mesh.probes(wl)
        if not pp.probes:
            continue
        mode = ctx.mesh.mode(wl)
        for plan in pp.probes:
            mtls = ctx.mesh.mtls(wl, plan.port) if pp.injected else None
            judged = ctx.mesh.probe_verdict(plan, pp.injected, mtls.mode if mtls else "",
                             ctx.mesh.inbound_captured(wl.pod_annotations, plan.port))
            action = plan.original.get(plan.handler) if isinstance(plan.original.get(plan.handler), dict) else {}
            rows.append({
                "namespace": wl.namespace or "",
                "workload": f"{wl.obj.kind}/{wl.obj.name}",
                "container": plan.container,
                "init": plan.init,
                "probe": plan.kind,
                "handler": plan.handler,
                "original": _describe(plan.original, plan.handler, plan.port),
                "port": plan.port if plan.port is not None else action.get("port"),
                "path": action.get("path") if plan.handler == "httpGet" else None,
                "kubeletCalls": _describe(plan.kubelet, plan.kubelet_handler) if plan.rewritten else "as written",
                "rewritten": plan.rewritten,
                "predicted": pp.predicted,
                "url": plan.url,
                "kubelet": plan.kubelet,
                "prober": plan.prober,
                "works": judged.works,
                "why": judged.why,
                "mtls": mtls.mode if mtls else "",
                "mtlsSource": mtls.source if mtls else "",
                "rewriteReason": plan.why,
                "mesh": mode.mode.value + ("?" if mode.assumed else ""),
                "findings": _probe_codes(result.findings, wl.ref.key, plan),
                "origin": wl.obj.location(plan.path),
            })
    return rows


# -- egress ----------------------------------------------------------------------------------------

EGRESS_COLUMNS = [
    Column("NAMESPACE", "namespace", drop=4), Column("WORKLOAD", "workload"), Column("HOST", "host"),
    Column("PORT", "port"), Column("PROTOCOL", "protocol", drop=2), Column("FOUND IN", "foundIn", shrink=True, drop=3),
    Column("COVERED BY", "coveredBy", drop=5), Column("POLICY", "policy", drop=1),
    Column("ISTIO WILL", "fate", short=head), Column("FINDINGS", "findings"),
]
EGRESS_WIDE = [Column("CONTAINER", "container"), Column("APP", "app"), Column("VALUE", "text"),
               Column("WHY", "why"), Column("POLICY SOURCE", "policySource")]
NAMESPACE_COLUMNS = [Column("NAMESPACE", "namespace"), Column("POLICY", "policy"),
                     Column("SOURCE", "policySource", shrink=True)]


def _egress_codes(result: RunResult, ref_key: tuple, path: str, host: str) -> list[str]:
    return sorted({f.code for f in result.findings if not f.suppressed and f.rule.topic is Topic.EGRESS
                   and f.object.key == ref_key and f.diagnostic.path == path
                   and (f.diagnostic.args or {}).get("host") == host})


def egress_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per endpoint a workload's containers name (in-cluster ones too).

    Keys: namespace, workload (Kind/name), mesh (sidecar/ambient/none, ``?`` if assumed), container,
    host, port, app (PostgreSQL, HTTPS, Kafka...), protocol (what a ServiceEntry port should declare),
    tls, serverFirst, foundIn (``env X``, ``args[2]``, ``env X (ConfigMap ns/name key k)``), text (the
    value, redacted), inCluster, why (the classification), coveredBy (``ns/name`` of the ServiceEntry or
    null), portMissingIn, notImportedBy (the Sidecar whose egress.hosts leave the covering entry out),
    capturedBy [{object, port, listener}], policy (ALLOW_ANY/REGISTRY_ONLY), policySource, fate
    (passthrough / blackhole / 502 / routed / captured / hangs / in-cluster / no sidecar),
    findings (MC3xx codes), origin."""
    index = result.index
    ctx = Context.for_views(index)
    rows = []
    for wl in _by_name(index):
        mode = ctx.mesh.mode(wl)
        eg = ctx.mesh.egress(wl)
        for j in eg.judged:
            ep = j.endpoint
            row = {"namespace": wl.namespace or "", "workload": f"{wl.obj.kind}/{wl.obj.name}",
                   "mesh": mode.mode.value + ("?" if mode.assumed else ""),
                   **j.to_json(eg.policy), "policy": eg.policy.mode, "policySource": eg.policy.source,
                   "findings": _egress_codes(result, wl.ref.key, ep.path, ep.host), "origin": wl.obj.location(ep.path)}
            if mode.mode is not MeshMode.SIDECAR:
                row["fate"] = f"no sidecar ({mode.mode.value}): the pod connects directly"
            rows.append(row)
    return rows


def egress_namespace_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per namespace with workloads: the outbound policy its pods get by default, and where it comes from
    (a workload-selecting Sidecar may still override it for some pods; the endpoint rows show that)."""
    index = result.index
    namespaces = sorted({w.namespace or "default" for w in index.workloads})
    ctx = Context.for_views(index)
    out = []
    for ns in namespaces:
        p = ctx.mesh.outbound_policy(ns)
        out.append({"namespace": ns, "policy": p.mode, "policySource": p.source, "emptyPolicyGotcha": p.gotcha})
    return out


def _proposals(result: RunResult) -> list[tuple[dict[str, Any], list[Finding]]]:
    """The ServiceEntries the egress findings' best fixes create (MC301-MC303, and any plugin's), once
    each (ports merged), with the findings each one clears."""
    fixes, cleared = [], defaultdict(list)
    for f in result.findings:
        if f.suppressed or f.rule.topic is not Topic.EGRESS or not f.fixes or not any(
                p.created is not None and p.target.kind == "ServiceEntry" for p in f.fixes[0].fix.parts()):
            continue
        fixes.append(f.fixes[0].fix)
        for part in f.fixes[0].fix.parts():
            if part.created is not None:
                cleared[part.target.key].append(f)
    docs = created_objects(fixes)
    return [(docs[k], cleared[k]) for k in sorted(docs)]


def proposed_service_entries(result: RunResult) -> list[dict[str, Any]]:
    """The ServiceEntries the MC301-MC303 fixes propose, once each, ready to apply."""
    return [doc for doc, _ in _proposals(result)]


def proposed_documents(result: RunResult) -> str:
    """``egress -o yaml``: the proposed ServiceEntries as a YAML stream for ``kubectl apply -f -``,
    each preceded by comments naming what it clears and what to check first (unsafe fixes say why)."""
    out = []
    for doc, findings in _proposals(result):
        out.append("---")
        for f in findings:
            args = f.diagnostic.args or {}
            out.append(f"# clears {f.code} on {f.object.display()}: {args.get('host')}:{args.get('port')} "
                       f"({args.get('app') or args.get('protocol')})")
        fix = findings[0].fixes[0].fix
        if fix.applicability is Applicability.UNSAFE:
            out.append("# unsafe: review before applying")
        out += [f"# caveat: {c}" for c in fix.caveats]
        out.append(yaml.safe_dump(doc, sort_keys=False).rstrip())
    if not out:
        return "# no ServiceEntry to propose: every external endpoint found is covered (or none was found)\n"
    return "\n".join(out) + "\n"


#: per topic, a table shown before the rows (and under that JSON key): (key, rows function, columns)
PREFACES: dict[Topic, tuple[str, Callable[[RunResult], list[dict]], list]] = {
    Topic.EGRESS: ("namespaces", egress_namespace_rows, NAMESPACE_COLUMNS),
}
#: per topic, the objects its fixes would create, as ``-o yaml`` prints them (ready to apply)
PROPOSALS: dict[Topic, Callable[[RunResult], str]] = {Topic.EGRESS: proposed_documents}

# -- capture ---------------------------------------------------------------------------------------

CAPTURE_COLUMNS = [
    Column("NAMESPACE", "namespace", drop=2), Column("WORKLOAD", "workload"), Column("MESH", "mesh", drop=1),
    Column("PROXY IMAGE", "proxyImage"), Column("PRIVILEGED", "privileged", short=head), Column("PSA", "psa"),
    Column("FINDINGS", "findings"),
]
CAPTURE_WIDE = [Column("EXEC TCPDUMP IN ISTIO-PROXY", "execTcpdump"), Column("POD", "pod"),
                Column("PORTS", "ports"), Column("IMAGE WHY", "proxyImageSource")]


def capture_detail(row: dict[str, Any]) -> list[str]:
    """Under each capture row: the recommended way as a comment, then its command exactly as it is run
    (one line to copy, or a heredoc kept intact), so pasting both into a shell works."""
    return [f"  # {row['recommended']}", *str(row["command"]).splitlines(), ""]


def capture_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per workload: how to see its packets, and what stands in the way. Built from
    ``mesh.capture``, as the MC5xx rules are.

    Keys: namespace, workload (Kind/name), kind, name, mesh (sidecar/ambient/none, ``?`` if assumed),
    meshReason, proxyImage (debug/distroless; "" without a sidecar), proxyImageSource, privileged (yes
    (why) / no), privilegedSources, psa (privileged/baseline/restricted/unknown: the namespace's
    PodSecurity enforce level), psaSource, pod (the live pod, or a ``$(kubectl get pod -l ...)`` that
    finds one), podObserved, ports (the app containers' ports the tcpdump filter uses), execTcpdump
    (what ``kubectl exec -c istio-proxy -- tcpdump`` does here, and why), recommended (title of the first
    method that works), command, methods [{key, title, command, works (yes/maybe/no), needs, givesUp,
    variants [{label, command}], blockedBy [what stops it]}] best first, checks [{key, title, found, status
    (ok/blocks/limits/unknown), effect}] (the pre-checks the input can answer), findings (MC5xx codes), origin.
    ``kubectl meshcheck capture TARGET`` prints the same plan for one pod, with the live pre-checks."""
    index = result.index
    ctx = Context.for_views(index)
    by_obj = _codes_by_object(result, Topic.CAPTURE)
    rows = []
    for wl in _by_name(index):
        mode = ctx.mesh.mode(wl)
        plan = ctx.mesh.capture(wl)
        best = plan.recommended
        rows.append({
            "namespace": wl.namespace or "",
            "workload": f"{wl.obj.kind}/{wl.obj.name}",
            "kind": wl.obj.kind,
            "name": wl.obj.name,
            "mesh": mode.mode.value + ("?" if mode.assumed else ""),
            "meshReason": mode.reason,
            "proxyImage": plan.variant,
            "proxyImageSource": plan.variant_source,
            "privileged": plan.privilege.text if plan.variant else "",
            "privilegedSources": list(plan.privilege.sources),
            "psa": plan.psa.level,
            "psaSource": plan.psa.source,
            "pod": plan.pod,
            "podObserved": plan.pod_observed,
            "ports": list(plan.ports),
            "execTcpdump": plan.exec_tcpdump,
            "recommended": best.title,
            "command": best.command,
            "methods": [m.to_json() for m in plan.methods],
            "checks": [c.to_json() for c in plan.checks],
            "findings": sorted(by_obj.get(wl.ref.key, ())),
            "origin": wl.obj.location(wl.template_path),
        })
    return rows


VIEWS: dict[Topic, tuple[Callable[[RunResult], list[dict]], list, list]] = {
    Topic.PORTS: (ports_rows, PORTS_COLUMNS, PORTS_WIDE),
    Topic.STARTUP: (startup_rows, STARTUP_COLUMNS, STARTUP_WIDE),
    Topic.PROBES: (probes_rows, PROBES_COLUMNS, PROBES_WIDE),
    Topic.EGRESS: (egress_rows, EGRESS_COLUMNS, EGRESS_WIDE),
    Topic.CAPTURE: (capture_rows, CAPTURE_COLUMNS, CAPTURE_WIDE),
}
#: per topic, lines printed under each row of its table (what is too long for a column)
DETAILS: dict[Topic, Callable[[dict[str, Any]], list[str]]] = {Topic.CAPTURE: capture_detail}
