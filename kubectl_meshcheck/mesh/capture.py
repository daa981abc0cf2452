"""How to capture a workload's packets in the mesh, and why ``kubectl exec -c istio-proxy -- tcpdump`` fails.

Facts (reference/istio-facts.md §E, §F2.5), each checked at its source:

- istio-proxy's securityContext (istio/istio ``manifests/charts/istio-control/istio-discovery/files/
  injection-template.yaml``, commit 29bcc3ca): ``runAsUser: 1337``, ``runAsNonRoot: true``,
  ``capabilities.drop: [ALL]``, ``readOnlyRootFilesystem: true`` (false with core dumps), and
  ``privileged`` and ``allowPrivilegeEscalation`` both equal to ``values.global.proxy.privileged``
  (default false). ``proxyMetadata.IPTABLES_TRACE_LOGGING == "true"`` (meshConfig.defaultConfig or the
  pod's ``proxy.istio.io/config``) renders it ``privileged: true``, ``allowPrivilegeEscalation: true``,
  ``runAsUser: 0`` with NET_ADMIN instead. The injector goldens (corpus/istio-inject, default values)
  all show the unprivileged form.
- So tcpdump in istio-proxy says "You don't have permission to capture on that device" and ``sudo``
  fails (istio/istio#30982, #45383); with ``global.proxy.privileged=true`` ``sudo tcpdump`` works.
- The image (istio/istio ``pkg/kube/inject/inject.go`` ``ProxyImage``/``updateImageTypeIfPresent``):
  ``<hub>/<global.proxy.image>:<global.tag>`` with the image type appended as ``-<type>``: the type is
  ProxyConfig ``image.imageType`` (meshConfig.defaultConfig, merged with the pod's
  ``proxy.istio.io/config``), and the pod annotation ``sidecar.istio.io/proxyImageType`` wins;
  ``default`` means no suffix; an existing ``-distroless``/``-debug`` suffix of the tag is replaced.
  ``sidecar.istio.io/proxyImage`` (with a ``/``) sets the whole image. The Helm chart copies
  ``global.proxy.variant | global.variant`` into ``meshConfig.defaultConfig.image.imageType``
  (``templates/configmap.yaml``), and the ambient profile sets ``global.variant: distroless``
  (``files/profile-ambient.yaml``). Distroless images have no shell and no tcpdump; the default
  ("debug") image has both (facts sheet, ``docker/Dockerfile.base``).
- A container named ``istio-proxy`` in the pod spec is merged over the injected one ("customizing
  injection", istio.io sidecar-injection docs): its securityContext overrides the template's. That
  people use it for capture privileges is **UNCONFIRMED**.
- ``kubectl debug`` profiles for an ephemeral container (kubernetes/kubectl ``pkg/cmd/debug/profiles.go``,
  commit 42e77da): netadmin adds NET_ADMIN and NET_RAW, sysadmin sets privileged, general adds
  SYS_PTRACE, baseline clears the securityContext, restricted forces non-root, drop ALL, no escalation,
  RuntimeDefault seccomp; legacy adds nothing. Ephemeral containers share the pod's network namespace:
  they see the plaintext app<->Envoy leg (``lo``) and the mTLS leg (``eth0``); ``--target`` only shares
  a container's process namespace and is not needed to capture. GA in Kubernetes 1.25;
  netadmin since kubectl 1.27, ``--custom`` on by default since 1.31.
- Pod Security Admission checks ephemeral containers too (kubernetes.io Pod Security Standards):
  baseline allows adding only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
  NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT and forbids privileged, so it rejects
  netadmin, sysadmin and general; restricted also forces non-root and drop ALL; only privileged allows
  netadmin. The level is the Namespace label ``pod-security.kubernetes.io/enforce``; without it the
  API server's admission configuration decides (privileged unless configured).
- Under baseline, a root debug container with ``--profile=baseline`` keeps the runtime's default
  capabilities: containerd's default spec has CAP_NET_RAW (containerd ``oci/spec.go``
  ``defaultUnixCaps``), CRI-O's does not; that tcpdump then works is **UNCONFIRMED** (marked "maybe").
- Ambient pods have no istio-proxy: capture in an ephemeral container of the app pod; ztunnel's logs
  show its connections.

Not modelled: RBAC on ``pods/ephemeralcontainers`` and admission policies (Kyverno, Gatekeeper), which
need a live permission check; PSA exemptions; the Envoy tap filter (no first-class Istio API).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from ..model import MeshMode, Workload
from .apps import image_base
from .injection import (
    configmap_values,
    INJECTOR_CONFIGMAP,
    INTERCEPTION_ANNOTATION,
    PROXY_CONFIG_ANNOTATION,
    PROXY_CONTAINER,
    REV_LABEL,
    STATUS_ANNOTATION,
    command_text,
    run_words,
    is_injected,
    parse_proxy_config,
)
from .protocol import RESERVED_PORTS

PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
PSA_LEVELS = ("privileged", "baseline", "restricted")
PROXY_IMAGE_ANNOTATION = "sidecar.istio.io/proxyImage"
PROXY_IMAGE_TYPE_ANNOTATION = "sidecar.istio.io/proxyImageType"
TRACE_LOGGING = "IPTABLES_TRACE_LOGGING"
#: an image with tcpdump (and a shell) for the debug container; a rule/view parameter in spirit
DEBUG_IMAGE = "nicolaka/netshoot"
#: capabilities that let a container capture or reconfigure the pod's network
CAPTURE_CAPS = frozenset({"NET_RAW", "NET_ADMIN", "SYS_ADMIN", "ALL"})
#: programs that capture packets, and images built around them
CAPTURE_TOOLS = frozenset({"tcpdump", "tshark", "dumpcap", "termshark", "ngrep", "static-tcpdump"})
CAPTURE_IMAGES = frozenset({"netshoot", "tcpdump", "ksniff", "tshark", "wireshark", "termshark"})


# -- install facts ------------------------------------------------------------------------------------


def _revision(wl: Workload, ns_labels: dict | None) -> str:
    return str(wl.pod_labels.get(REV_LABEL) or (ns_labels or {}).get(REV_LABEL) or "default")


def injector_values(configmaps: list, revision: str = "default") -> tuple[dict, str]:
    """(values, source) of the injector ConfigMap of a revision (``istio-sidecar-injector[-<rev>]``)."""
    name = INJECTOR_CONFIGMAP if revision == "default" else f"{INJECTOR_CONFIGMAP}-{revision}"
    for cm in configmaps:
        if cm.name != name:
            continue
        values = configmap_values(cm)
        if values is not None:
            return values, f"ConfigMap {cm.namespace}/{cm.name}"
    return {}, ""


def _get(values: dict, dotted: str) -> Any:
    cur: Any = values
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def install_privileged(values: dict) -> bool:
    """``values.global.proxy.privileged`` is true (every injected istio-proxy and istio-init privileged)."""
    return _get(values, "global.proxy.privileged") is True


def trace_logging_on(proxy_metadata: Any) -> bool:
    """``IPTABLES_TRACE_LOGGING: "true"``: the template compares with the string "true" exactly."""
    return isinstance(proxy_metadata, dict) and proxy_metadata.get(TRACE_LOGGING) in ("true", True)


# -- the pod's istio-proxy ----------------------------------------------------------------------------


def raised_privileges(sc: Any) -> list[str]:
    """What a securityContext grants beyond Istio's default istio-proxy (for capture or otherwise)."""
    if not isinstance(sc, dict):
        return []
    out = [f"{k}: true" for k in ("privileged", "allowPrivilegeEscalation") if sc.get(k) is True]
    if sc.get("runAsUser") == 0:
        out.append("runAsUser: 0")
    caps = [str(c) for c in (sc.get("capabilities") or {}).get("add") or []
            if str(c).upper().removeprefix("CAP_") in CAPTURE_CAPS]
    if caps:
        out.append(f"capabilities.add: [{', '.join(caps)}]")
    return out


def unraised(sc: dict) -> dict:
    """The securityContext without what :func:`raised_privileges` names (and the root settings)."""
    out = {k: v for k, v in sc.items() if not (
        (k in ("privileged", "allowPrivilegeEscalation") and v is True) or (k in ("runAsUser", "runAsGroup")
                                                                             and v == 0)
        or (k == "runAsNonRoot" and v is False))}
    caps = out.get("capabilities")
    if isinstance(caps, dict):
        add = [c for c in caps.get("add") or [] if str(c).upper().removeprefix("CAP_") not in CAPTURE_CAPS]
        caps = {k: v for k, v in caps.items() if k != "add"} | ({"add": add} if add else {})
        if caps:
            out["capabilities"] = caps
        else:
            out.pop("capabilities")
    return out


def proxy_override(wl: Workload) -> tuple[str, dict] | None:
    """(pointer, container) of an ``istio-proxy`` container the pod template carries for the injector to
    merge (a template not yet injected: no ``sidecar.istio.io/status``)."""
    if STATUS_ANNOTATION in wl.pod_annotations:
        return None
    for init in (False, True):
        for ptr, c in wl.containers(init=init):
            if c.get("name") == PROXY_CONTAINER:
                return ptr, c
    return None


def _injected_proxy(wl: Workload) -> dict | None:
    for init in (False, True):
        for _, c in wl.containers(init=init):
            if c.get("name") == PROXY_CONTAINER:
                return c
    return None


@dataclass(frozen=True)
class Privilege:
    """Will (or does) istio-proxy run privileged or as root, and because of what."""

    privileged: bool  # privileged, or root with capture capabilities: tcpdump inside istio-proxy can work
    sources: tuple[str, ...] = ()  # why, most specific first

    @property
    def text(self) -> str:
        return f"yes ({self.sources[0]})" if self.privileged else "no"


def pod_trace_logging(wl: Workload) -> bool:
    return trace_logging_on((parse_proxy_config(wl.pod_annotations.get(PROXY_CONFIG_ANNOTATION)).config or {})
                             .get("proxyMetadata"))


def privilege_of(wl: Workload, mesh_default_config: dict, values: dict, values_source: str) -> Privilege:
    """istio-proxy's privileges for this pod template (predicted), or as an injected pod shows them."""
    if is_injected(wl.pod_meta, wl.pod_spec):
        proxy = _injected_proxy(wl) or {}
        sc = proxy.get("securityContext") or {}
        raised = raised_privileges(sc)
        tproxy = str(wl.pod_annotations.get(INTERCEPTION_ANNOTATION, "")).upper() == "TPROXY"
        if sc.get("privileged") is True or (raised and not tproxy and "runAsUser: 0" in raised):
            return Privilege(True, (f"injected istio-proxy has {', '.join(raised)}",))
        return Privilege(False)
    sources = []
    override = proxy_override(wl)
    raised = raised_privileges(override[1].get("securityContext")) if override else []
    if raised:
        sources.append(f"istio-proxy override in the pod spec: {', '.join(raised)}")
    if pod_trace_logging(wl):
        sources.append(f"{TRACE_LOGGING}=true in the pod's {PROXY_CONFIG_ANNOTATION}")
    elif trace_logging_on((mesh_default_config or {}).get("proxyMetadata")):
        sources.append(f"{TRACE_LOGGING}=true in meshConfig.defaultConfig.proxyMetadata")
    if install_privileged(values):
        sources.append(f"values.global.proxy.privileged=true in {values_source or 'the install'}")
    return Privilege(bool(sources), tuple(sources))


def variant_of(wl: Workload, mesh_default_config: dict, values: dict, values_source: str) -> tuple[str, str]:
    """("debug" | "distroless", why) for istio-proxy's image, as ``ProxyImage`` builds it."""
    def by_tag(image: str, why: str) -> tuple[str, str]:
        tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
        return ("distroless", why) if tag.endswith("-distroless") else ("debug", why)

    if is_injected(wl.pod_meta, wl.pod_spec):
        image = str((_injected_proxy(wl) or {}).get("image") or "")
        return by_tag(image, f"image {image}")
    explicit = wl.pod_annotations.get(PROXY_IMAGE_ANNOTATION)
    if isinstance(explicit, str) and "/" in explicit:
        return by_tag(explicit, f"pod annotation {PROXY_IMAGE_ANNOTATION}: {explicit}")
    pod_config = parse_proxy_config(wl.pod_annotations.get(PROXY_CONFIG_ANNOTATION)).config or {}
    for value, why in (
            (wl.pod_annotations.get(PROXY_IMAGE_TYPE_ANNOTATION), f"pod annotation {PROXY_IMAGE_TYPE_ANNOTATION}"),
            (_get(pod_config, "image.imageType"), f"pod annotation {PROXY_CONFIG_ANNOTATION} image.imageType"),
            (_get(mesh_default_config or {}, "image.imageType"), "meshConfig.defaultConfig.image.imageType"),
            (_get(values, "global.proxy.variant") or _get(values, "global.variant"),
             f"global.variant in {values_source or 'the install'}")):
        if value:
            kind = "distroless" if str(value) == "distroless" else "debug"
            return kind, f"{why}: {value}"
    tag = str(_get(values, "global.tag") or "")
    if tag.endswith("-distroless"):
        return "distroless", f"global.tag in {values_source or 'the install'}: {tag}"
    return "debug", "Istio's default image (debug, with tcpdump)"


# -- capture sidecars and debug containers ------------------------------------------------------------


def capture_evidence(container: dict) -> str:
    """Why a container looks like a packet-capture tool ("" if it does not)."""
    image = image_base(container.get("image"))
    if image in CAPTURE_IMAGES:
        return f"image {container.get('image')}"
    words = [w for w in run_words(command_text(container)) if w in CAPTURE_TOOLS]
    if words:
        return f"runs {words[0]}"
    return ""


def capture_sidecars(wl: Workload) -> list[tuple[str, dict, str]]:
    """(pointer, container, evidence) of capture containers sitting beside an app container."""
    found, others = [], 0
    for init in (False, True):
        for ptr, c in wl.containers(init=init):
            if c.get("name") == PROXY_CONTAINER or (init and c.get("restartPolicy") != "Always"):
                continue
            evidence = capture_evidence(c)
            if evidence:
                found.append((ptr, c, evidence))
            else:
                others += 1
    return found if others else []


def added_caps(container: dict) -> list[str]:
    return [str(c) for c in ((container.get("securityContext") or {}).get("capabilities") or {}).get("add") or []]


@dataclass(frozen=True)
class DebugContainer:
    name: str
    image: str
    state: str
    caps: tuple[str, ...]


def ephemeral_containers(pod: Any) -> list[DebugContainer]:
    """The ephemeral containers of a live Pod (``kubectl debug``) and their state."""
    statuses = {s.get("name"): s for s in (pod.get("/status/ephemeralContainerStatuses") or []) if isinstance(s, dict)}
    out = []
    for c in pod.get("/spec/ephemeralContainers") or []:
        if not isinstance(c, dict):
            continue
        state = (statuses.get(c.get("name")) or {}).get("state") or {}
        which = next((k for k in ("running", "waiting", "terminated") if k in state), "unknown")
        out.append(DebugContainer(str(c.get("name")), str(c.get("image") or ""), which, tuple(added_caps(c))))
    return out


# -- Pod Security Admission ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Psa:
    level: str  # privileged | baseline | restricted | unknown
    source: str

    def allows(self, profile: str) -> bool:
        """Would PSA admit an ephemeral container made with this ``kubectl debug --profile``?"""
        if self.level in ("privileged", "unknown"):
            return True
        if self.level == "baseline":
            return profile in ("baseline", "restricted", "legacy")
        return profile == "restricted"


def psa_of(ns_labels: dict | None) -> Psa:
    if ns_labels is None:
        return Psa("unknown", "namespace not in the input")
    level = ns_labels.get(PSA_ENFORCE_LABEL)
    if level is None:
        return Psa("privileged", f"no {PSA_ENFORCE_LABEL} label: the cluster default applies (privileged unless "
                                 "the API server's admission configuration sets another)")
    if level not in PSA_LEVELS:
        return Psa("unknown", f"{PSA_ENFORCE_LABEL}={level} is not a level")
    return Psa(str(level), f"namespace label {PSA_ENFORCE_LABEL}={level}")


# -- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    key: str  # ephemeral-netadmin, ephemeral-baseline, exec-proxy, access-log, proxy-log, proxy-config, node
    title: str
    command: str
    works: str  # yes | maybe | no
    needs: str
    gives_up: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "command": self.command, "works": self.works,
                "needs": self.needs, "givesUp": self.gives_up}


@dataclass(frozen=True)
class CapturePlan:
    mode: MeshMode
    variant: str  # debug | distroless | "" (no sidecar)
    variant_source: str
    privilege: Privilege
    psa: Psa
    pod: str  # the pod name, or a shell expression that finds one
    pod_observed: bool
    ports: tuple[int, ...]
    exec_tcpdump: str  # what ``kubectl exec -c istio-proxy -- tcpdump`` does here, and why
    methods: tuple[Method, ...] = field(default_factory=tuple)

    @property
    def recommended(self) -> Method:
        return next((m for m in self.methods if m.works == "yes"), self.methods[0])


def app_ports(wl: Workload) -> tuple[int, ...]:
    ports = []
    for _, c in wl.containers():
        if c.get("name") == PROXY_CONTAINER:
            continue
        for p in c.get("ports") or []:
            n = p.get("containerPort") if isinstance(p, dict) else None
            if isinstance(n, int) and n not in RESERVED_PORTS:
                ports.append(n)
    return tuple(dict.fromkeys(ports))


def _selector(wl: Workload) -> dict:
    sel = (wl.obj.get("/spec/selector") or {}) if wl.obj.kind != "CronJob" else {}
    labels = sel.get("matchLabels") if isinstance(sel, dict) else None
    return dict(labels) if isinstance(labels, dict) and labels else dict(wl.pod_labels)


def pod_expression(wl: Workload, ns: str, observed: list[str]) -> str:
    """A real pod name when there is one, else a ``$(kubectl get pod -l ...)`` that finds one."""
    if observed:
        return observed[0]
    if wl.obj.kind == "Pod":
        return wl.obj.name
    labels = {"job-name": wl.obj.name} if wl.obj.kind == "Job" else _selector(wl)
    if not labels:
        return f"<a pod of {wl.obj.kind}/{wl.obj.name}>"
    sel = ",".join(f"{k}={v}" for k, v in labels.items())
    return f"$(kubectl -n {ns} get pod -l {sel} -o jsonpath='{{.items[0].metadata.name}}')"


def _q(text: str) -> str:
    return text if text.startswith("$(") else shlex.quote(text)


def _needs_root(wl: Workload) -> bool:
    """Pod-level settings the debug container inherits that keep a root image from starting."""
    sc = wl.pod_spec.get("securityContext") or {}
    uid = sc.get("runAsUser")
    return sc.get("runAsNonRoot") is True or (isinstance(uid, int) and uid != 0)


def build_plan(wl: Workload, mode: MeshMode, ns_labels: dict | None, mesh_default_config: dict, values: dict,
               values_source: str, observed: list[str], image: str = DEBUG_IMAGE) -> CapturePlan:
    """The ranked ways to see this workload's traffic, with commands naming its pod and ports."""
    ns = wl.namespace or "default"
    sidecar = mode is MeshMode.SIDECAR
    variant, variant_source = variant_of(wl, mesh_default_config, values, values_source) if sidecar else ("", "")
    privilege = privilege_of(wl, mesh_default_config, values, values_source) if sidecar else Privilege(False)
    psa = psa_of(ns_labels)
    pod = pod_expression(wl, ns, observed)
    ports = app_ports(wl)
    filt = " or ".join(f"port {p}" for p in ports)
    tcpdump = "tcpdump -i any -nn" + (f" {filt}" if filt else "")
    target = f"-n {ns} {_q(pod)}"

    if mode is MeshMode.AMBIENT:
        exec_text = "no istio-proxy in ambient pods (ztunnel on the node carries the traffic): capture in the pod"
    elif not sidecar:
        exec_text = "no sidecar: nothing to exec into; capture in the pod"
    elif variant == "distroless":
        exec_text = "fails: the distroless proxy image has no shell and no tcpdump"
    elif privilege.privileged:
        exec_text = f"works ({privilege.sources[0]}), at the cost of a privileged sidecar" + (
            f"; but PodSecurity {psa.level} rejects pods with a privileged container" if psa.level in
            ("baseline", "restricted") else "")
    else:
        exec_text = ("fails: istio-proxy runs as UID 1337 with every capability dropped and no privilege "
                     "escalation ('You don't have permission to capture on that device'; sudo fails too; "
                     "ksniff's default mode fails the same way)")

    methods: list[Method] = []
    custom = ""
    root_note = ""
    if _needs_root(wl):
        custom = " --custom=/tmp/debug-root.json"
        root_note = ("; the pod sets a non-root user, so run the debug container as root: first "
                     "echo '{\"securityContext\":{\"runAsUser\":0,\"runAsNonRoot\":false}}' > /tmp/debug-root.json "
                     "(--custom: kubectl >= 1.31)")
    debug = f"kubectl debug {target} -it --image={image}"
    blocked = f"PodSecurity {psa.level} rejects it" if psa.level in ("baseline", "restricted") else ""
    methods.append(Method(
        "ephemeral-netadmin", "ephemeral debug container with NET_ADMIN/NET_RAW",
        f"{debug} --profile=netadmin{custom} -- {tcpdump}",
        "no" if blocked else "yes",
        "kubectl >= 1.27 (--profile=netadmin), Kubernetes >= 1.25, RBAC patch on pods/ephemeralcontainers, "
        "PodSecurity privileged in the namespace, admission policies that allow NET_ADMIN/NET_RAW" + root_note
        + (f" ({blocked})" if blocked else "") + (f" (PodSecurity level {psa.source})" if psa.level == "unknown"
                                                 else ""),
        "the ephemeral container stays in the pod spec until the pod is replaced; -i any shows both legs: "
        "lo is app<->sidecar plaintext, eth0 the mTLS traffic between pods"))
    if sidecar and privilege.privileged and variant != "distroless":
        sudo = "" if any("runAsUser: 0" in s or TRACE_LOGGING in s for s in privilege.sources) else "sudo "
        methods.append(Method(
            "exec-proxy", "tcpdump inside the privileged istio-proxy",
            f"kubectl exec {target} -c {PROXY_CONTAINER} -- {sudo}{tcpdump}", "no" if blocked else "yes",
            "the privileged istio-proxy this workload already has" + (
                f" (PodSecurity {psa.level} rejects pods with it)" if blocked else ""),
            "keeps a privileged sidecar in every pod: turn it off (MC501-MC503) and use the debug container"))
    if psa.level == "baseline":
        methods.append(Method(
            "ephemeral-baseline", "ephemeral debug container within PodSecurity baseline",
            f"{debug} --profile=baseline{custom} -- {tcpdump}", "maybe",
            "a root image and a container runtime whose default capabilities include NET_RAW (containerd's do, "
            "CRI-O's do not; UNCONFIRMED per cluster)" + root_note,
            "may fail with 'Operation not permitted'; same ephemeral-container caveats"))
    if mode is MeshMode.AMBIENT:
        node = f"$(kubectl -n {ns} get pod {_q(pod)} -o jsonpath='{{.spec.nodeName}}')"
        methods.append(Method(
            "ztunnel-log", "ztunnel's connection logs on the pod's node",
            f"kubectl -n istio-system logs $(kubectl -n istio-system get pod -l app=ztunnel "
            f"--field-selector spec.nodeName={node} -o name) | grep {_q(pod)}",
            "yes", "read access to pods/log in istio-system",
            "connections only (source, destination, bytes, identities), no packets"))
    elif sidecar:
        sel = _selector(wl)
        selector = "{" + ", ".join(f"{k}: {json.dumps(str(v))}" for k, v in sel.items()) + "}"
        methods.append(Method(
            "access-log", "Envoy access logs for this workload (Telemetry API)",
            f"kubectl apply -n {ns} -f - <<'EOF'\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
            f"metadata: {{name: {wl.obj.name}-access-log}}\nspec:\n  selector: {{matchLabels: {selector}}}\n"
            "  accessLogging: [{providers: [{name: envoy}]}]\nEOF\n"
            f"kubectl logs {target} -c {PROXY_CONTAINER} -f",
            "yes", "create Telemetry in the namespace (or meshConfig.accessLogFile: /dev/stdout mesh-wide); "
                   "telemetry.istio.io/v1 needs a recent Istio (v1alpha1 before, release UNCONFIRMED)",
            "one line per request or connection (response flags, upstream, timings), no payload"))
        methods.append(Method(
            "proxy-log", "Envoy debug logs at runtime",
            f"istioctl proxy-config log {_q(pod)} -n {ns} --level connection:debug,http:debug && "
            f"kubectl logs {target} -c {PROXY_CONTAINER} -f", "yes",
            "istioctl and access to the pod's Envoy admin (port-forward rights)",
            "very noisy; headers and connection events, no bodies; reset with --level warning"))
        methods.append(Method(
            "proxy-config", "what Envoy is configured to do (listeners, routes, clusters)",
            f"istioctl proxy-config listener {_q(pod)} -n {ns}" + (f" --port {ports[0]}" if ports else "")
            + f" && istioctl proxy-config route {_q(pod)} -n {ns} && istioctl proxy-config cluster {_q(pod)} -n {ns}",
            "yes", "istioctl and access to the pod's Envoy admin",
            "configuration, not traffic"))
    node = f"$(kubectl -n {ns} get pod {_q(pod)} -o jsonpath='{{.spec.nodeName}}')"
    ip = f"$(kubectl -n {ns} get pod {_q(pod)} -o jsonpath='{{.status.podIP}}')"
    methods.append(Method(
        "node", "capture on the node (cluster admin)",
        f"kubectl debug node/{node} -it --image={image} --profile=sysadmin -- tcpdump -i any -nn host {ip}"
        + (f" and \\( {filt} \\)" if filt else ""), "yes",
        "rights to run a privileged host-network pod (PodSecurity privileged where kubectl debug creates it)",
        "sees only what leaves the pod (mTLS-encrypted between sidecars), not the plaintext loopback leg"))
    return CapturePlan(mode, variant, variant_source, privilege, psa, pod, bool(observed), ports, exec_text,
                       tuple(methods))


def _ns_labels(wl: Workload, ctx: Any) -> dict | None:
    """The labels of the workload's Namespace object; None when the input does not hold it."""
    ns = ctx.get("Namespace", None, wl.namespace) if wl.namespace else None
    return dict(ns.labels) if ns is not None else None


def install_values_of(wl: Workload, ctx: Any, revision: str | None = None) -> tuple[dict, str]:
    """(values, source) of the injector ConfigMap that injects this workload (by its revision, or
    ``revision``).

    Install facts, like ``ctx.injector_settings`` (built from the same ConfigMap): ConfigMaps are always
    readable by rules without being declared (a live run reads the install's own, never all of them)."""
    rev = revision or _revision(wl, _ns_labels(wl, ctx))
    return ctx.cached(("capture.values", rev),
                      lambda: injector_values(ctx.objects("ConfigMap"), rev), kinds=("ConfigMap",))


def capture_plan(wl: Workload, ctx: Any) -> CapturePlan:
    """The capture plan for a workload, from a view's Context: live pods give the pod's real name."""
    def compute() -> CapturePlan:
        pods = ctx.observed_pods(wl)
        observed = sorted(p.ref.name for p in pods if p.phase == "Running") or sorted(p.ref.name for p in pods)
        values, source = install_values_of(wl, ctx)
        return build_plan(wl, ctx.mode_of(wl).mode, _ns_labels(wl, ctx), ctx.mesh_config.get("defaultConfig") or {},
                          values, source, observed)
    return ctx.cached(("capture.plan", wl.ref, wl.template_path), compute)
