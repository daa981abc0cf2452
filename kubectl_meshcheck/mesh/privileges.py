"""Capture powers in a pod: istio-proxy's privileges and image, capture sidecars, debug containers, PodSecurity.

istio-proxy's privileges and image variant (install values, overrides, the trace-logging knob),
containers beside the app that can capture or steer its traffic, debug containers, and the namespace's
PodSecurity level.

Facts (reference/istio-facts.md §E, §F2.5), each checked at its source:

- istio-proxy's securityContext (istio/istio ``manifests/charts/istio-control/istio-discovery/files/
  injection-template.yaml``, commit 29bcc3ca): ``runAsUser: 1337``, ``runAsNonRoot: true``,
  ``capabilities.drop: [ALL]``, ``readOnlyRootFilesystem: true`` (false with core dumps), and
  ``privileged`` and ``allowPrivilegeEscalation`` both equal to ``values.global.proxy.privileged``
  (default false). ``proxyMetadata.IPTABLES_TRACE_LOGGING == "true"`` (meshConfig.defaultConfig or the
  pod's ``proxy.istio.io/config``) renders it ``privileged: true``, ``allowPrivilegeEscalation: true``,
  ``runAsUser: 0`` with NET_ADMIN instead. The injector goldens (corpus/istio-inject, default values)
  all show the unprivileged form.
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
- Pod Security Admission checks ephemeral containers too (kubernetes.io Pod Security Standards):
  baseline allows adding only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
  NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT and forbids privileged, so it rejects
  netadmin, sysadmin and general; restricted also forces non-root and drop ALL; only privileged allows
  netadmin. The level is the Namespace label ``pod-security.kubernetes.io/enforce``; without it the
  API server's admission configuration decides (privileged unless configured).
- Pod Security Standards (kubernetes.io, and PSA's ``policy/check_capabilities_baseline.go``): the
  capability and privileged checks cover ``spec.ephemeralContainers[*]`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Workload
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

PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
PSA_LEVELS = ("privileged", "baseline", "restricted")
PROXY_IMAGE_ANNOTATION = "sidecar.istio.io/proxyImage"
PROXY_IMAGE_TYPE_ANNOTATION = "sidecar.istio.io/proxyImageType"
TRACE_LOGGING = "IPTABLES_TRACE_LOGGING"
#: capabilities that let a container capture or reconfigure the pod's network
CAPTURE_CAPS = frozenset({"NET_RAW", "NET_ADMIN", "SYS_ADMIN", "ALL"})
#: programs that capture packets, and images built around them
CAPTURE_TOOLS = frozenset({"tcpdump", "tshark", "dumpcap", "termshark", "ngrep", "static-tcpdump"})
CAPTURE_IMAGES = frozenset({"netshoot", "tcpdump", "ksniff", "tshark", "wireshark", "termshark"})


# -- install facts ------------------------------------------------------------------------------------


def injector_revision(wl: Workload, ns_labels: dict | None) -> str:
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
    return _without_caps(out, CAPTURE_CAPS)


def _without_caps(sc: dict, drop: frozenset[str]) -> dict:
    """``sc`` with the ``drop`` capabilities taken out of ``capabilities.add`` (empty parts removed)."""
    out = dict(sc)
    caps = out.get("capabilities")
    if isinstance(caps, dict):
        add = [c for c in caps.get("add") or [] if str(c).upper().removeprefix("CAP_") not in drop]
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


def injected_proxy(wl: Workload) -> dict | None:
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
        proxy = injected_proxy(wl) or {}
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
        image = str((injected_proxy(wl) or {}).get("image") or "")
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


#: capabilities that let a container beside the app read its traffic (NET_RAW: packet sockets) or rewrite
#: the pod's iptables (NET_ADMIN); ALL includes both
NETWORK_CAPS = frozenset({"NET_ADMIN", "NET_RAW", "ALL"})
#: Istio's own containers hold NET_ADMIN/NET_RAW by design: istio-init (injection template), istio-validation
#: (the istio-cni variant), istio-proxy (MC502 judges its overrides), install-cni and ztunnel (their charts)
ISTIO_CONTAINERS = frozenset({PROXY_CONTAINER, "istio-init", "istio-validation", "install-cni", "ztunnel"})
ISTIO_IMAGES = frozenset({"proxyv2", "install-cni", "ztunnel"})


@dataclass(frozen=True)
class NetworkSidecar:
    """A container beside the app that can see or steer the pod's traffic, and why we think so."""

    pointer: str
    container: dict
    evidence: str  # the image or command that marks a capture tool ("" when only its privileges do)
    powers: tuple[str, ...]  # privileged: true / capabilities.add: [...] (network ones only)
    reads: bool  # can capture packets (NET_RAW, privileged, or a capture tool)
    rewrites: bool  # can rewrite the pod's iptables (NET_ADMIN, privileged)

    @property
    def name(self) -> str:
        return str(self.container.get("name"))


def network_powers(container: dict) -> tuple[tuple[str, ...], bool, bool]:
    """(what in the securityContext grants network powers, can capture, can rewrite iptables)."""
    sc = container.get("securityContext") or {}
    if not isinstance(sc, dict):
        return (), False, False
    powers: list[str] = []
    caps = [str(c) for c in (sc.get("capabilities") or {}).get("add") or []
            if str(c).upper().removeprefix("CAP_") in NETWORK_CAPS]
    names = {c.upper().removeprefix("CAP_") for c in caps}
    privileged = sc.get("privileged") is True
    if privileged:
        powers.append("privileged: true")
    if caps:
        powers.append(f"capabilities.add: [{', '.join(caps)}]")
    return (tuple(powers), privileged or bool(names & {"NET_RAW", "ALL"}),
            privileged or bool(names & {"NET_ADMIN", "ALL"}))


def istio_own(container: dict) -> bool:
    return container.get("name") in ISTIO_CONTAINERS or image_base(container.get("image")) in ISTIO_IMAGES


def capture_sidecars(wl: Workload) -> list[NetworkSidecar]:
    """Containers running beside an app container (regular ones and native sidecars) that can capture its
    traffic or rewrite the pod's iptables: privileged, NET_ADMIN/NET_RAW added, or a known capture tool.
    Istio's own containers and run-to-completion init containers (done before the app sends a byte) are out."""
    found, others = [], 0
    for init in (False, True):
        for ptr, c in wl.containers(init=init):
            if istio_own(c) or (init and c.get("restartPolicy") != "Always"):
                continue
            evidence = capture_evidence(c)
            powers, reads, rewrites = network_powers(c)
            if evidence or powers:
                found.append(NetworkSidecar(ptr, c, evidence, powers, reads or bool(evidence), rewrites))
            else:
                others += 1
    return found if others else []


def without_network_powers(sc: dict) -> dict:
    """The securityContext without ``privileged: true`` and the network capabilities it adds."""
    return _without_caps({k: v for k, v in sc.items() if not (k == "privileged" and v is True)}, NETWORK_CAPS)


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
