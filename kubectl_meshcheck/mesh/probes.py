"""Which health check will the kubelet actually run after injection, and what does it stand for?

Facts (reference/istio-facts.md §D; istio/istio ``pkg/kube/inject/app_probe.go``: ``ShouldRewriteAppHTTPProbers``,
``convertAppProber``, ``rewriteHTTPGetAction``, ``DumpAppProbers``, ``patchRewriteProbe``; ``webhook.go``
``applyRewrite``/``mergeOrAppendProbers``; ``pilot/cmd/pilot-agent/status/server.go`` ``handleAppProbe``;
shapes checked against every injector golden in corpus/istio-inject):

- Switch: the pod annotation ``sidecar.istio.io/rewriteAppHTTPProbers`` (parsed like Go's
  ``strconv.ParseBool``: 1/t/T/TRUE/true/True, 0/f/F/FALSE/false/False; anything else falls back) wins
  over the install value ``sidecarInjectorWebhook.rewriteAppHTTPProbe`` (default true since 1.6).
- Every container and init container except istio-proxy. Kinds: readiness (``readyz``), liveness
  (``livez``), startup (``startupz``, since 1.7), lifecycle ``preStop``/``postStart`` hooks
  (``/app-lifecycle/<c>/prestopz|poststartz``, since 1.25).
- ``httpGet``: a copy of the probe with ``port`` = the status port (15020, annotation
  ``status.sidecar.istio.io/port`` overrides), ``path`` = ``/app-health/<c>/<kind>z``, ``scheme: HTTPS``
  turned into ``HTTP``; ``host`` and ``httpHeaders`` are kept. ``tcpSocket`` (since 1.12) and ``grpc``
  (since 1.13): the handler is replaced by ``httpGet: {path, port}`` (the probe's timings stay). ``exec``:
  untouched.
- ``ISTIO_KUBE_APP_PROBERS`` (istio-proxy env): JSON map path -> ``{httpGet|tcpSocket|grpc,
  timeoutSeconds}`` (timeout only when set; hooks carry none), the handler as written with a named port
  resolved against the same container's ``ports[].name`` (else parsed as a number). A name that resolves
  to nothing is left out: the probe is still rewritten, and the agent answers 400. Empty: no env var.
- Re-injection of an injected pod (``sidecar.istio.io/status`` present) merges: entries already in the
  env var win over newly dumped ones.

Not modelled: ``status.sidecar.istio.io/port: "0"`` or an unparsable value (Go's ``Atoi`` error leaves 0:
**UNCONFIRMED** what the kubelet then calls); skipping probes on ports excluded from inbound capture
(present in current istio/istio source, istio/istio#53759; the release is **UNCONFIRMED**, so probes are
rewritten whatever ``traffic.sidecar.istio.io/*InboundPorts`` say); custom injection templates.
**UNCONFIRMED**: the release that started processing init containers (the goldens at the corpus commit do).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .injection import PROXY_CONTAINER, STATUS_ANNOTATION, InjectorSettings, is_injected
from .protocol import RESERVED_PORTS

if TYPE_CHECKING:
    from ..model import Workload
    from .config import MeshConfig
    from .injected_pod import InjectedPod

REWRITE_ANNOTATION = "sidecar.istio.io/rewriteAppHTTPProbers"
STATUS_PORT_ANNOTATION = "status.sidecar.istio.io/port"
EXCLUDE_INBOUND_ANNOTATION = "traffic.sidecar.istio.io/excludeInboundPorts"
INCLUDE_INBOUND_ANNOTATION = "traffic.sidecar.istio.io/includeInboundPorts"
PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
STATUS_PORT, PROXY_READY_PORT = 15020, 15021
#: ports of the sidecar itself (istio-facts.md §A7): a probe aimed at them checks Istio, not the app
ISTIO_PORTS = frozenset(RESERVED_PORTS)
#: (field, URL suffix, first release that rewrites it)
PROBE_KINDS = (("readinessProbe", "readyz", (1, 1)), ("livenessProbe", "livez", (1, 1)),
               ("startupProbe", "startupz", (1, 7)))
HOOK_KINDS = (("preStop", "prestopz", (1, 25)), ("postStart", "poststartz", (1, 25)))
REWRITE_DEFAULT_SINCE, TCP_SINCE, GRPC_SINCE = (1, 6), (1, 12), (1, 13)
HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")
_TRUE, _FALSE = {"1", "t", "T", "TRUE", "true", "True"}, {"0", "f", "F", "FALSE", "false", "False"}


def parse_go_bool(value: Any) -> bool | None:
    """Go's ``strconv.ParseBool``; None when it would fail (then the install value applies)."""
    text = str(value) if isinstance(value, str) else ""
    return True if text in _TRUE else False if text in _FALSE else None


def rewrite_decision(annotations: dict, settings: InjectorSettings) -> tuple[bool, str]:
    """(rewrite?, why): the pod annotation, else the install value, else the version's default."""
    raw = (annotations or {}).get(REWRITE_ANNOTATION)
    parsed = parse_go_bool(raw)
    if parsed is not None:
        return parsed, f'pod annotation {REWRITE_ANNOTATION}: "{raw}"'
    if settings.rewrite_probes is not None:
        return settings.rewrite_probes, (f"install value sidecarInjectorWebhook.rewriteAppHTTPProbe="
                                         f"{str(settings.rewrite_probes).lower()} ({settings.source})")
    on = settings.at_least(REWRITE_DEFAULT_SINCE)
    return on, "Istio default (on since 1.6)" if on else "Istio default before 1.6 (off)"


def status_port_of(annotations: dict, mesh_default_config: dict | None = None) -> int:
    """The port the kubelet calls after rewriting: the pod annotation, else ProxyConfig ``statusPort``."""
    raw = (annotations or {}).get(STATUS_PORT_ANNOTATION)
    if raw is not None:
        try:
            return int(str(raw).strip())
        except ValueError:
            return 0  # Go's Atoi error value, which patchRewriteProbe then uses (UNCONFIRMED consequence)
    port = (mesh_default_config or {}).get("statusPort")
    return port if isinstance(port, int) and port > 0 else STATUS_PORT


def handler_of(probe: Any) -> str:
    """``httpGet``, ``tcpSocket``, ``grpc``, ``exec`` or ``""`` (none, or not a probe)."""
    if not isinstance(probe, dict):
        return ""
    return next((h for h in HANDLERS if isinstance(probe.get(h), dict)), "")


def _port_numbers(container: dict) -> dict[str, int]:
    return {str(p["name"]): p["containerPort"] for p in container.get("ports") or []
            if isinstance(p, dict) and p.get("name") and isinstance(p.get("containerPort"), int)}


def resolve_port(port: Any, container: dict) -> tuple[int | None, str]:
    """A probe's port as the injector resolves it: a number, a name of the same container's ports, or a
    numeric string; (None, why) when it resolves to nothing."""
    if isinstance(port, bool):
        return None, f"port {port!r} is not a port"
    if isinstance(port, int):
        return port, ""
    if isinstance(port, str):
        named = _port_numbers(container)
        if port in named:
            return named[port], ""
        if port.strip().lstrip("-").isdigit():
            return int(port), ""
        return None, f"container {container.get('name')} declares no port named {port!r}"
    return None, "no port"


def inbound_captured(annotations: dict, port: int | None) -> bool:
    """Does the sidecar's inbound redirect catch connections to this pod port (the kubelet's too)?
    ``traffic.sidecar.istio.io/excludeInboundPorts`` lists ports left alone; ``includeInboundPorts``
    other than ``*`` captures only the listed ones (istio-facts.md §D alternatives, §A7)."""
    if port is None:
        return True
    def ports(key):
        return {p.strip() for p in str((annotations or {}).get(key) or "").split(",") if p.strip()}
    if str(port) in ports(EXCLUDE_INBOUND_ANNOTATION):
        return False
    include = (annotations or {}).get(INCLUDE_INBOUND_ANNOTATION)
    if include is not None and str(include).strip() != "*":
        return str(port) in ports(INCLUDE_INBOUND_ANNOTATION)
    return True


@dataclass(frozen=True)
class ProbePlan:
    """One probe (or lifecycle hook) of one container: as written, and as the kubelet will run it."""

    container: str
    init: bool  # an init container (a native sidecar of the user's, for instance)
    kind: str  # readinessProbe, livenessProbe, startupProbe, preStop, postStart
    path: str  # JSON Pointer of the probe inside the workload object
    original: dict  # the probe as the agent will run it against the app (or as the kubelet does, unrewritten)
    handler: str  # of the original: httpGet, tcpSocket, grpc, exec
    port: int | None  # the original's port, resolved
    port_error: str  # why the port resolves to nothing ("" if it does)
    rewritten: bool
    kubelet: dict  # what the kubelet runs after injection
    url: str  # the agent's path for it (/app-health/<c>/readyz), whether or not rewritten
    prober: dict | None  # its ISTIO_KUBE_APP_PROBERS entry (None: not rewritten, or left out)
    why: str  # why it is (not) rewritten

    @property
    def kubelet_handler(self) -> str:
        return handler_of(self.kubelet)

    @property
    def kubelet_port(self) -> Any:
        h = self.kubelet_handler
        return (self.kubelet.get(h) or {}).get("port") if h in ("httpGet", "tcpSocket", "grpc") else None

    def to_json(self) -> dict[str, Any]:
        return {"container": self.container, "init": self.init, "kind": self.kind, "path": self.path,
                "handler": self.handler, "original": self.original, "port": self.port,
                "portError": self.port_error, "rewritten": self.rewritten, "kubelet": self.kubelet,
                "url": self.url, "prober": self.prober, "why": self.why}


@dataclass(frozen=True)
class PodProbes:
    """Every probe of a pod after injection, and the ISTIO_KUBE_APP_PROBERS value that backs them."""

    injected: bool
    predicted: bool  # False: read from an injected pod as it is
    rewrite: bool
    rewrite_reason: str
    status_port: int
    probes: tuple[ProbePlan, ...]
    app_probers: dict | None  # the env var's value, parsed (None: no such env var)
    error: str = ""  # ISTIO_KUBE_APP_PROBERS present but not valid JSON

    def to_json(self) -> dict[str, Any]:
        return {"injected": self.injected, "predicted": self.predicted, "rewrite": self.rewrite,
                "rewriteReason": self.rewrite_reason, "statusPort": self.status_port,
                "probes": [p.to_json() for p in self.probes], "appProbers": self.app_probers, "error": self.error}


def _url(kind: str, container: str) -> str:
    suffix = dict((k, s) for k, s, _ in PROBE_KINDS + HOOK_KINDS)[kind]
    base = "app-lifecycle" if kind in ("preStop", "postStart") else "app-health"
    return f"/{base}/{container}/{suffix}"


def _containers(pod_spec: dict, spec_path: str):
    for key in ("initContainers", "containers"):  # allContainers(): init containers first
        for i, c in enumerate(pod_spec.get(key) or []):
            if isinstance(c, dict) and c.get("name") != PROXY_CONTAINER:
                yield f"{spec_path}/{key}/{i}", key == "initContainers", c


def _items(container: dict, pointer: str):
    """(kind, JSON Pointer, probe, first release that rewrites it) for a container's probes and hooks."""
    for kind, _, since in PROBE_KINDS:
        if isinstance(container.get(kind), dict):
            yield kind, f"{pointer}/{kind}", container[kind], since
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for kind, _, since in HOOK_KINDS:
            if isinstance(lifecycle.get(kind), dict):
                yield kind, f"{pointer}/lifecycle/{kind}", lifecycle[kind], since


def _handler_supported(handler: str, settings: InjectorSettings) -> bool:
    return (handler == "httpGet" or (handler == "tcpSocket" and settings.at_least(TCP_SINCE))
            or (handler == "grpc" and settings.at_least(GRPC_SINCE)))


def _prober_entry(probe: dict, handler: str, container: dict, hook: bool) -> tuple[dict | None, int | None, str]:
    """``kubeProbeToInternalProber`` + ``updateNamedPort``: the env var entry, the resolved port, and why none."""
    action = copy.deepcopy(probe[handler])
    port, error = resolve_port(action.get("port"), container)
    if handler == "grpc" and not isinstance(action.get("port"), int):
        port, error = None, "gRPC probe ports are numbers"
    if port is None:
        return None, None, error
    if handler != "grpc":
        action["port"] = port
    entry: dict[str, Any] = {handler: action}
    timeout = probe.get("timeoutSeconds")
    if not hook and isinstance(timeout, int) and timeout:
        entry["timeoutSeconds"] = timeout
    return entry, port, ""


def _converted(probe: dict, handler: str, url: str, status_port: int) -> dict:
    """``convertAppProber``/``convertAppLifecycleHandler``: what the kubelet runs instead."""
    out = copy.deepcopy(probe)
    if handler == "httpGet":
        action = out["httpGet"]
        action["port"], action["path"] = status_port, url
        if action.get("scheme") == "HTTPS":
            action["scheme"] = "HTTP"
    else:
        out.pop(handler)
        out["httpGet"] = {"path": url, "port": status_port}
    return out


def predict_probes(pod_meta: dict | None, pod_spec: dict | None, settings: InjectorSettings,
                   mesh_default_config: dict | None = None, spec_path: str = "/spec") -> PodProbes:
    """What the injector does to the probes of this template (the caller has decided it is injected).

    An already-injected template is re-injected the way the webhook does it (existing env entries win);
    for judging live pods use :func:`read_probes`, which reads them as they are."""
    pod_meta, pod_spec = pod_meta or {}, pod_spec or {}
    annotations = pod_meta.get("annotations") or {}
    rewrite, why = rewrite_decision(annotations, settings)
    status_port = status_port_of(annotations, mesh_default_config)
    plans: list[ProbePlan] = []
    dumped: dict[str, dict] = {}
    for pointer, init, c in _containers(pod_spec, spec_path):
        name = str(c.get("name"))
        for kind, path, probe, since in _items(c, pointer):
            handler, url = handler_of(probe), _url(kind, name)
            hook = kind in ("preStop", "postStart")
            entry, port, error = (None, None, "")
            if handler in ("httpGet", "tcpSocket", "grpc"):
                entry, port, error = _prober_entry(probe, handler, c, hook)
            if handler == "grpc" and hook:
                handler = ""  # lifecycle hooks have no gRPC handler
            do = rewrite and _handler_supported(handler, settings) and settings.at_least(since)
            if not rewrite:
                reason = f"rewriting off: {why}"
            elif handler == "exec":
                reason = "exec probes run inside the container: nothing to rewrite"
            elif not handler:
                reason = "no handler the injector rewrites"
            elif not do:
                need = since if not settings.at_least(since) else TCP_SINCE if handler == "tcpSocket" else GRPC_SINCE
                reason = f"{handler} {kind} is rewritten only since Istio {need[0]}.{need[1]}"
            else:
                reason = f"rewritten ({why})"
            if do and entry is not None:
                dumped[url] = entry
            plans.append(ProbePlan(name, init, kind, path, probe, handler, port, error, do,
                                   _converted(probe, handler, url, status_port) if do else copy.deepcopy(probe),
                                   url, entry if do else None, reason))
    previous = (_env_probers(pod_spec)[0] or {}) if STATUS_ANNOTATION in annotations else {}
    merged = {**dumped, **previous} if rewrite and dumped else previous  # mergeOrAppendProbers: existing win
    return PodProbes(True, True, rewrite, why, status_port, tuple(plans), merged or None)


def _proxy(pod_spec: dict) -> dict | None:
    for key in ("containers", "initContainers"):
        for c in pod_spec.get(key) or []:
            if isinstance(c, dict) and c.get("name") == PROXY_CONTAINER:
                return c
    return None


def _env_probers(pod_spec: dict) -> tuple[dict | None, str]:
    """The istio-proxy's ISTIO_KUBE_APP_PROBERS, parsed; (None, "") when there is none."""
    proxy = _proxy(pod_spec) or {}
    for e in proxy.get("env") or []:
        if isinstance(e, dict) and e.get("name") == PROBERS_ENV:
            try:
                value = json.loads(str(e.get("value") or ""))
            except ValueError as err:
                return None, f"{PROBERS_ENV} is not valid JSON ({err})"
            return (value, "") if isinstance(value, dict) else (None, f"{PROBERS_ENV} is not a JSON object")
    return None, ""


def read_probes(pod_meta: dict | None, pod_spec: dict | None, spec_path: str = "/spec") -> PodProbes:
    """An injected pod as it is: a probe is rewritten when it calls ``/app-health/...`` (or
    ``/app-lifecycle/...``) on the agent, and its original is the ISTIO_KUBE_APP_PROBERS entry."""
    pod_meta, pod_spec = pod_meta or {}, pod_spec or {}
    annotations = pod_meta.get("annotations") or {}
    probers, error = _env_probers(pod_spec)
    status_port = status_port_of(annotations)
    plans = []
    for pointer, init, c in _containers(pod_spec, spec_path):
        name = str(c.get("name"))
        for kind, path, probe, _ in _items(c, pointer):
            handler, url = handler_of(probe), _url(kind, name)
            action = probe.get("httpGet") if handler == "httpGet" else None
            rewritten = bool(action and action.get("path") == url)
            if rewritten:
                entry = (probers or {}).get(url)
                orig_handler = handler_of(entry) if entry else ""
                original = {k: v for k, v in probe.items() if k != "httpGet"}
                if entry:
                    original[orig_handler] = entry[orig_handler]
                port = (entry or {}).get(orig_handler, {}).get("port") if entry else None
                plans.append(ProbePlan(name, init, kind, path, original, orig_handler, port if isinstance(port, int)
                                       else None, "" if entry else f"no {PROBERS_ENV} entry for {url}: the agent "
                                       "answers 400", True, probe, url, entry, "rewritten (read from the pod)"))
            else:
                port, err = resolve_port((probe.get(handler) or {}).get("port"), c) if handler in (
                    "httpGet", "tcpSocket", "grpc") else (None, "")
                plans.append(ProbePlan(name, init, kind, path, probe, handler, port, err, False, probe, url, None,
                                       "not rewritten (read from the pod)"))
    rewrite = any(p.rewritten for p in plans) or bool(probers)
    if not rewrite:
        on, why = rewrite_decision(annotations, InjectorSettings())
        reason = f"nothing rewritten in the injected pod ({why})" if not on else "nothing rewritten in the pod"
    else:
        reason = "read from the injected pod"
    return PodProbes(True, False, rewrite, reason, status_port, tuple(plans), probers, error)


def not_rewritten(pod_spec: dict | None, reason: str, spec_path: str = "/spec") -> PodProbes:
    """A pod without a sidecar: the kubelet runs every probe as written."""
    plans = []
    for pointer, init, c in _containers(pod_spec or {}, spec_path):
        name = str(c.get("name"))
        for kind, path, probe, _ in _items(c, pointer):
            handler = handler_of(probe)
            port, err = resolve_port((probe.get(handler) or {}).get("port"), c) if handler in (
                "httpGet", "tcpSocket", "grpc") else (None, "")
            plans.append(ProbePlan(name, init, kind, path, probe, handler, port, err, False, probe,
                                   _url(kind, name), None, reason))
    return PodProbes(False, True, False, reason, STATUS_PORT, tuple(plans), None)


def probes_of(wl: Workload, inj: InjectedPod, settings: InjectorSettings, mesh: MeshConfig) -> PodProbes:
    """The probes of a workload's pods after injection (``inj``: what injection does to them)."""
    if is_injected(wl.pod_meta, wl.pod_spec):
        return read_probes(wl.pod_meta, wl.pod_spec, wl.spec_path)
    if not inj.injected:
        return not_rewritten(wl.pod_spec, inj.native_reason, wl.spec_path)
    return predict_probes(wl.pod_meta, wl.pod_spec, settings, mesh.get("defaultConfig") or {}, wl.spec_path)


@dataclass(frozen=True)
class Verdict:
    """Will the probe do its job after injection? ``works``: yes, no, meaningless (always passes), unknown."""

    works: str
    why: str


def verdict(plan: ProbePlan, injected: bool, mtls_mode: str, captured: bool = True) -> Verdict:
    """Judge one probe from the facts (istio-facts.md §D): kubelet has no mesh certificate, so an
    unrewritten HTTP/gRPC probe to a captured port fails under STRICT; an unrewritten TCP probe is
    accepted by Envoy whatever the app does; a rewritten probe is run by the agent against the app."""
    if plan.handler == "exec":
        return Verdict("yes", "exec probe: runs inside the container")
    if plan.port_error:
        if plan.rewritten and plan.handler:
            return Verdict("no", f"{plan.port_error}: left out of {PROBERS_ENV}, the agent answers 400")
        return Verdict("no", plan.port_error if plan.rewritten else f"{plan.port_error}: the kubelet cannot resolve it")
    if not plan.handler:
        return Verdict("unknown", "no probe handler")
    if not injected:
        return Verdict("yes", "no sidecar: the kubelet calls the app directly")
    if plan.rewritten:
        if plan.handler == "httpGet" and (plan.kubelet.get("httpGet") or {}).get("host"):
            return Verdict("no", "httpGet.host is kept: the kubelet calls that host's status port, not this pod")
        return Verdict("yes", f"kubelet -> agent :{plan.kubelet_port}{plan.url} -> app :{plan.port}")
    if plan.port in ISTIO_PORTS:
        return Verdict("meaningless", f"port {plan.port} is the sidecar's own: it checks Istio, not the app")
    if not captured:
        return Verdict("yes", f"port {plan.port} is excluded from inbound capture: the kubelet reaches the app")
    if plan.handler == "tcpSocket":
        return Verdict("meaningless", "the sidecar accepts the TCP connection: it always passes while istio-proxy "
                                      "runs")
    if mtls_mode == "STRICT":
        return Verdict("no", "not rewritten and inbound mTLS is STRICT: the kubelet has no mesh certificate")
    return Verdict("yes", f"not rewritten; inbound mTLS {mtls_mode} accepts the kubelet's plaintext")
