"""The capture plan: the ranked ways to see a workload's packets in the mesh, with commands and pre-checks.

Also why ``kubectl exec -c istio-proxy -- tcpdump`` fails.

Facts (reference/istio-facts.md §E, §F2.5), each checked at its source (those about istio-proxy's
privileges, its image and PodSecurity are in ``privileges.py``):

- So tcpdump in istio-proxy (unprivileged by default) says "You don't have permission to capture on that
  device" and ``sudo`` fails (istio/istio#30982, #45383); with ``global.proxy.privileged=true``
  ``sudo tcpdump`` works.
- ``kubectl debug`` profiles for an ephemeral container (kubernetes/kubectl ``pkg/cmd/debug/profiles.go``,
  commit 42e77da): netadmin adds NET_ADMIN and NET_RAW, sysadmin sets privileged, general adds
  SYS_PTRACE, baseline clears the securityContext, restricted forces non-root, drop ALL, no escalation,
  RuntimeDefault seccomp; legacy adds nothing. Ephemeral containers share the pod's network namespace:
  they see the plaintext app<->Envoy leg (``lo``) and the mTLS leg (``eth0``); ``--target`` only shares
  a container's process namespace and is not needed to capture. GA in Kubernetes 1.25;
  netadmin since kubectl 1.27, ``--custom`` on by default since 1.31.
- Under baseline, a root debug container with ``--profile=baseline`` keeps the runtime's default
  capabilities: containerd's default spec has CAP_NET_RAW (containerd ``oci/spec.go``
  ``defaultUnixCaps``), CRI-O's does not; that tcpdump then works is **UNCONFIRMED** (marked "maybe").
- Ambient pods have no istio-proxy: capture in an ephemeral container of the app pod; ztunnel's logs
  show its connections.

- The plan for one pod (``kubectl meshcheck capture TARGET``), confirmed at the source:
  kubectl's ``debug.go`` (kubernetes/kubectl, commit 42e77da) prints "Targeting container ..." and
  "Defaulting debug container name ..." to **stdout** unless ``-q``, so a pcap streamed with
  ``tcpdump -w -`` needs ``-q``; ``-i`` attaches (RBAC ``create pods/attach``) and the ephemeral
  container is added with a PATCH of ``pods/<name>/ephemeralcontainers`` (a 404 there means the feature
  is off); the same source strips the pod's labels before that unless ``--keep-labels`` (not yet in
  kubectl 1.32, whose ``--keep-labels`` exists but applies to ``--copy-to``: the flag is passed from
  1.32 on; the first release that strips is UNCONFIRMED); ``displayWarning``: with a pod-level non-root
  ``runAsUser`` "some capabilities granted by debug profile may not work", fix with ``--custom``
  ``securityContext.runAsUser: 0``; ``--custom`` may not set name, command, image, lifecycle. The
  real kubectl 1.32 accepts the commands built here (tests run them against the emulation).
- ``istioctl proxy-config`` reaches Envoy's admin (15000) through a port-forward (istio/istio
  ``pkg/kube/client.go`` ``EnvoyDo``): RBAC ``create pods/portforward``.
- lo carries the app<->Envoy leg: inbound Envoy connects to the app from 127.0.0.6 (istio/istio
  ``InboundPassthroughBindIpv4``); outbound, iptables REDIRECT sends the app's connection to Envoy on
  127.0.0.1:15001 (iptables-extensions(8)), so on lo a call to a host is addressed to port 15001.
- Ambient (istio.io "ztunnel traffic redirection"): ztunnel works inside the pod's network namespace
  (in-pod redirection), so the debug container in the pod sees the plaintext; at the node only the
  HBONE leg (15008, mTLS) is visible. Which in-pod leg shows on lo is UNCONFIRMED.
- ``proxy.istio.io/config`` has no access-log setting (ProxyConfig; UNCONFIRMED that none exists), so
  access logs for one workload come from a Telemetry resource.

Not modelled: admission policies (Kyverno, Gatekeeper) and PSA exemptions, which no access review
answers; the Envoy tap filter (no first-class Istio API).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from ..model import MeshMode, Workload
from .capture_env import (
    ADMIN_PORT,
    CUSTOM_ALPHA,
    CUSTOM_SINCE,
    DEFAULT_CONTAINER_ANNOTATION,
    EPHEMERAL_BETA,
    EPHEMERAL_GA,
    HBONE_PORT,
    KEEP_LABELS_SINCE,
    OUTBOUND_PORT,
    PATCHABLE,
    PROFILES_SINCE,
    ROOT_CUSTOM,
    ROOT_CUSTOM_FILE,
    SYSADMIN_SINCE,
    ZTUNNEL_NAMESPACE,
    Environment,
)
from .injection import (
    PROXY_CONFIG_ANNOTATION,
    PROXY_CONTAINER,
    is_injected,
    parse_proxy_config,
    parse_version,
)
from .privileges import (
    TRACE_LOGGING,
    Privilege,
    Psa,
    injected_proxy,
    privilege_of,
    psa_of,
    variant_of,
)
from .protocol import RESERVED_PORTS

#: an image with tcpdump (and a shell) for the debug container; a rule/view parameter in spirit
DEBUG_IMAGE = "nicolaka/netshoot"


# -- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One pre-check that decides the route, with what it read and what it means."""

    key: str  # server, kubectl, psa, pod-user, proxy, mesh, rbac:<permission key>
    title: str
    found: str
    status: str  # ok | blocks | limits | unknown
    effect: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "found": self.found, "status": self.status,
                "effect": self.effect}


@dataclass(frozen=True)
class Method:
    key: str  # ephemeral-netadmin, ephemeral-baseline, exec-proxy, privileged-proxy, access-log, proxy-log,
    #           proxy-config, ztunnel-node, ztunnel-log, node
    title: str
    command: str
    works: str  # yes | maybe | no
    needs: str
    gives_up: str
    variants: tuple[tuple[str, str], ...] = ()  # (label, command): the interactive session, Wireshark, undo
    blocked: tuple[str, ...] = ()  # what stops it here, from the checks

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "command": self.command, "works": self.works,
                "needs": self.needs, "givesUp": self.gives_up,
                "variants": [{"label": label, "command": c} for label, c in self.variants],
                "blockedBy": list(self.blocked)}


WORKS_ORDER = {"yes": 0, "maybe": 1, "no": 2}


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
    methods: tuple[Method, ...] = field(default_factory=tuple)  # ranked: what works first, then by preference
    checks: tuple[Check, ...] = ()
    proxy_fields: tuple[str, ...] = ()  # the fields read from the pod that decide exec_tcpdump
    container: str = ""  # the app container the debug container targets
    filter: str = ""  # the tcpdump filter
    interfaces: tuple[tuple[str, str], ...] = ()

    @property
    def recommended(self) -> Method:
        return self.methods[0]


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


def app_containers(wl: Workload) -> list[str]:
    return [str(c.get("name")) for _, c in wl.containers() if c.get("name") and c.get("name") != PROXY_CONTAINER]


def default_container(wl: Workload) -> str:
    """The container ``--target`` names: kubectl's default-container annotation, else the first app container."""
    names = app_containers(wl)
    chosen = wl.pod_annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    return str(chosen) if chosen in names else (names[0] if names else "")


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


def pod_non_root(wl: Workload) -> str:
    """The pod-level setting a debug container inherits that keeps it from running as root ("" if none).

    kubectl warns that a profile's capabilities may not work then, and suggests ``--custom`` with
    ``securityContext.runAsUser: 0`` (kubernetes/kubectl pkg/cmd/debug/debug.go ``displayWarning``)."""
    sc = wl.pod_spec.get("securityContext") or {}
    uid = sc.get("runAsUser")
    if isinstance(uid, int) and uid != 0:
        return f"spec.securityContext.runAsUser: {uid}"
    if sc.get("runAsNonRoot") is True:
        return "spec.securityContext.runAsNonRoot: true"
    return ""


def capture_filter(ports: tuple[int, ...], hosts: tuple[str, ...], sidecar: bool) -> str:
    """A tcpdump filter for the ports and hosts asked about. With hosts in sidecar mode the lo leg of
    outbound calls is added: iptables REDIRECT sends the app's outbound connections to Envoy on
    127.0.0.1:15001 (iptables-extensions(8): locally generated packets go to the localhost address), so
    on lo the plaintext of a call to ``host H`` is not addressed to H."""
    by_port = " or ".join(f"port {p}" for p in ports)
    by_host = " or ".join(f"host {h}" for h in hosts)
    if by_port and by_host:
        text = f"({by_port}) and ({by_host})"
    else:
        text = by_port or by_host
    return f"{text} or port {OUTBOUND_PORT}" if hosts and sidecar else text


def interfaces_of(mode: MeshMode) -> tuple[tuple[str, str], ...]:
    if mode is MeshMode.SIDECAR:
        return (("lo", "the plaintext leg between the app and Envoy (inbound from 127.0.0.6, outbound to "
                       f"127.0.0.1:{OUTBOUND_PORT})"),
                ("eth0", "the mTLS leg between pods (encrypted; plaintext only to non-mesh peers)"),
                ("any", "both (the default here)"))
    if mode is MeshMode.AMBIENT:
        return (("lo", "the plaintext between the app and ztunnel's in-pod listeners (which leg shows on lo "
                       "rather than the pod IP is UNCONFIRMED)"),
                ("eth0", f"HBONE (mTLS on port {HBONE_PORT}) between ztunnels, plaintext to non-mesh peers"),
                ("any", "everything the pod sends and receives (the default here)"))
    return (("eth0", "everything (no mesh: plaintext unless the app encrypts)"), ("any", "the same, plus lo"))


def why_exec_fails(wl: Workload, mode: MeshMode, variant: str, privilege: Privilege,
                   psa: Psa) -> tuple[tuple[str, ...], str]:
    """(the fields read from this pod, what ``kubectl exec -c istio-proxy -- tcpdump`` does here)."""
    if mode is MeshMode.AMBIENT:
        return (), "no istio-proxy in ambient pods (ztunnel on the node carries the traffic): capture in the pod"
    if mode is not MeshMode.SIDECAR:
        return (), "no sidecar: nothing to exec into; capture in the pod"
    fields: list[str] = []
    if is_injected(wl.pod_meta, wl.pod_spec):
        proxy = injected_proxy(wl) or {}
        sc = proxy.get("securityContext")
        where = "istio-proxy"
        if isinstance(sc, dict):
            for key in ("runAsUser", "runAsNonRoot", "privileged", "allowPrivilegeEscalation",
                        "readOnlyRootFilesystem"):
                if key in sc:
                    fields.append(f"{where} securityContext.{key}: {json.dumps(sc[key])}")
            caps = sc.get("capabilities") or {}
            for key in ("drop", "add"):
                if caps.get(key):
                    fields.append(f"{where} securityContext.capabilities.{key}: [{', '.join(map(str, caps[key]))}]")
        else:
            fields.append(f"{where} securityContext: not in the pod read (Istio's template sets runAsUser 1337, "
                          "capabilities.drop [ALL], allowPrivilegeEscalation false)")
        fields.append(f"{where} image: {proxy.get('image') or '?'} ({variant})")
    else:
        fields.append("istio-proxy not injected yet: predicted from Istio's injection template (runAsUser 1337, "
                      "runAsNonRoot true, capabilities.drop [ALL], allowPrivilegeEscalation false, "
                      "readOnlyRootFilesystem true)")
        fields += [f"raised by {s}" for s in privilege.sources]
        fields.append(f"proxy image variant: {variant}")
    if variant == "distroless":
        return tuple(fields), "fails: the distroless proxy image has no shell and no tcpdump"
    if privilege.privileged:
        return tuple(fields), f"works ({privilege.sources[0]}), at the cost of a privileged sidecar" + (
            f"; but PodSecurity {psa.level} rejects pods with a privileged container" if psa.level in
            ("baseline", "restricted") else "")
    return tuple(fields), ("fails: istio-proxy runs as UID 1337 with every capability dropped and no privilege "
                           "escalation ('You don't have permission to capture on that device'; sudo fails too; "
                           "ksniff's default mode fails the same way)")


class _Gate:
    """The pre-checks' verdicts, as reasons that block (or weaken) route groups and permissions."""

    def __init__(self, env: Environment):
        self.env = env
        self.blocks: dict[str, list[str]] = {}
        self.checks: list[Check] = []

    def add(self, check: Check, *groups: str) -> None:
        self.checks.append(check)
        if check.status == "blocks":
            for g in groups:
                self.blocks.setdefault(g, []).append(f"{check.title}: {check.found}")

    def reasons(self, groups: tuple[str, ...], perms: tuple[str, ...]) -> tuple[str, ...]:
        out = [r for g in groups for r in self.blocks.get(g, [])]
        for key in perms:
            a = self.env.answer(key)
            if a is not None and a.allowed is False:
                out.append(f"RBAC: you may not {a.question.text}" + (f" ({a.reason})" if a.reason else ""))
        return tuple(dict.fromkeys(out))


def _pre_checks(gate: _Gate, mode: MeshMode, psa: Psa, non_root: str, kubectl: tuple[int, int] | None,
                variant: str, variant_source: str, privilege: Privilege, exec_text: str, phase: str) -> None:
    env = gate.env
    server = parse_version(env.server_version)
    if phase in ("Succeeded", "Failed"):
        gate.add(Check("pod", "pod phase", phase, "blocks", "a finished pod runs nothing more: no debug container, "
                       "exec or port-forward; plan for a running pod of the workload"), "debug", "exec", "running")
    elif phase and phase != "Running":
        gate.add(Check("pod", "pod phase", phase, "limits", "a debug container starts only once the pod runs"))
    if env.ephemeral_served is False or (server is not None and server < EPHEMERAL_BETA):
        gate.add(Check("server", "API server", f"{env.server_version or 'version unknown'}; pods/ephemeralcontainers "
                       "not served", "blocks", "no debug container can be added to a running pod (GA in 1.25)"),
                 "debug")
    elif server is not None or env.ephemeral_served:
        served = "pods/ephemeralcontainers served" if env.ephemeral_served else "ephemeral containers GA since 1.25"
        beta = server is not None and server < EPHEMERAL_GA
        gate.add(Check("server", "API server", f"{env.server_version}; {served}", "limits" if beta else "ok",
                       "ephemeral containers are beta before 1.25" if beta else "debug containers can be added"))
    else:
        gate.add(Check("server", "API server", "not read (offline)", "unknown",
                       "assumed >= 1.25 (ephemeral containers GA); a live run reads it"))
    if kubectl is None:
        gate.add(Check("kubectl", "local kubectl", env.kubectl_problem or "not read", "unknown",
                       "assumed >= 1.31 (--profile=netadmin needs 1.27, --custom 1.31)"))
    elif kubectl < PROFILES_SINCE:
        gate.add(Check("kubectl", "local kubectl", f"{env.kubectl_version} has no --profile=netadmin "
                       "(kubectl >= 1.27)", "blocks", "only the legacy debug container (no added capabilities)"),
                 "netadmin")
    elif server is not None and abs(kubectl[1] - server[1]) > 1 and kubectl[0] == server[0]:
        gate.add(Check("kubectl", "local kubectl", f"{env.kubectl_version}, server {env.server_version}", "limits",
                       "outside kubectl's supported version skew (one minor version either way)"))
    else:
        gate.add(Check("kubectl", "local kubectl", env.kubectl_version, "ok",
                       "--profile=netadmin" + (", --profile=sysadmin" if kubectl >= SYSADMIN_SINCE else "")
                       + (", --custom" if kubectl >= CUSTOM_SINCE else "")))
    if env.istioctl is not None and mode is MeshMode.SIDECAR:
        gate.add(Check("istioctl", "local istioctl", env.istioctl or "not on PATH", "ok" if env.istioctl else "limits",
                       "" if env.istioctl else "the Envoy log and config routes need it"))
    if psa.level == "restricted":
        gate.add(Check("psa", "PodSecurity", psa.source, "blocks", "restricted forces non-root, drop ALL: no debug "
                       "container can capture, no privileged container is admitted"),
                 "netadmin", "runtime-caps", "privileged-pod", "node")
    elif psa.level == "baseline":
        gate.add(Check("psa", "PodSecurity", psa.source, "blocks", "baseline rejects NET_ADMIN/NET_RAW (and "
                       "privileged) debug containers; only the runtime's default capabilities remain"),
                 "netadmin", "privileged-pod", "node")
    elif psa.level == "unknown":
        gate.add(Check("psa", "PodSecurity", psa.source, "unknown", "assumed privileged (the cluster default)"))
    else:
        gate.add(Check("psa", "PodSecurity", psa.source, "ok", "NET_ADMIN/NET_RAW debug containers are admitted"))
    if non_root:
        if psa.level == "restricted":
            gate.add(Check("pod-user", "pod user", non_root, "blocks", "restricted forbids a root debug container"),
                     "debug")
        elif kubectl is not None and kubectl < CUSTOM_ALPHA:
            gate.add(Check("pod-user", "pod user", non_root, "blocks",
                           f"the debug container inherits it, so added capabilities do not apply, and kubectl "
                           f"{env.kubectl_version} cannot override it (--custom needs >= 1.30)"), "capture-debug")
        else:
            gate.add(Check("pod-user", "pod user", non_root, "limits", "the debug container inherits it: the "
                           "command runs it as root with --custom (runAsUser 0)"))
    else:
        gate.add(Check("pod-user", "pod user", "no pod-level non-root user", "ok",
                       "the debug image's root user applies"))
    if mode is MeshMode.SIDECAR:
        status = "ok" if privilege.privileged and variant != "distroless" else "blocks"
        gate.add(Check("proxy", "istio-proxy", f"{variant} image ({variant_source}); "
                       + ("privileged" if privilege.privileged else "unprivileged"), status,
                       "tcpdump inside it works" if status == "ok" else "no tcpdump inside it (see above)"), "exec")
    else:
        gate.add(Check("mesh", "data plane", mode.value, "ok" if mode is MeshMode.AMBIENT else "limits",
                       "no istio-proxy: capture in the pod's network namespace"), "exec")
    if env.review_skipped:
        gate.add(Check("rbac", "permissions", f"not reviewed: {env.review_skipped}", "unknown",
                       "assumed allowed; kubectl will say 'forbidden' if not"))
    allowed = [a.question.text for a in env.answers if a.allowed]
    if allowed:  # one line for what is allowed; each denied or unanswered permission on its own
        gate.add(Check("rbac", "permissions", "allowed: " + "; ".join(allowed), "ok"))
    for a in env.answers:
        if a.allowed:
            continue
        status = "blocks" if a.allowed is False else "unknown"
        found = f"{a.question.text}: " + ("denied" if a.allowed is False else f"no answer ({a.reason})")
        gate.add(Check(f"rbac:{a.question.key}", "permission", found, status,
                       a.reason if a.reason and a.allowed is not None else ""))


def build_plan(wl: Workload, mode: MeshMode, ns_labels: dict | None, mesh_default_config: dict, values: dict,
               values_source: str, observed: list[str], image: str = DEBUG_IMAGE, env: Environment | None = None,
               container: str = "", ports: tuple[int, ...] = (), hosts: tuple[str, ...] = (), node: str = "",
               pod_ip: str = "", owner: tuple[str, str] | None = None, phase: str = "") -> CapturePlan:
    """The ranked ways to see this workload's (or this pod's) traffic, each decided by the pre-checks
    (server, local kubectl, PodSecurity, the pod's user, istio-proxy, permissions) and with commands
    naming its pod, container and ports. ``owner``: (kind, name) of the controller the pod comes from."""
    env = env or Environment()
    ns = wl.namespace or "default"
    sidecar = mode is MeshMode.SIDECAR
    variant, variant_source = variant_of(wl, mesh_default_config, values, values_source) if sidecar else ("", "")
    privilege = privilege_of(wl, mesh_default_config, values, values_source) if sidecar else Privilege(False)
    psa = psa_of(ns_labels)
    pod = pod_expression(wl, ns, observed)
    app = container or default_container(wl)
    ports = tuple(ports) or app_ports(wl)
    filt = capture_filter(ports, tuple(hosts), sidecar)
    fields, exec_text = why_exec_fails(wl, mode, variant, privilege, psa)
    kubectl = parse_version(env.kubectl_version)
    non_root = pod_non_root(wl)
    gate = _Gate(env)
    _pre_checks(gate, mode, psa, non_root, kubectl, variant, variant_source, privilege, exec_text, phase)

    def known_at_least(version: tuple[int, int]) -> bool:  # unknown: assume a recent kubectl
        return kubectl is None or kubectl >= version

    target = f"-n {ns} {_q(pod)}"
    image = shlex.quote(image)
    quoted = f" {shlex.quote(filt)}" if filt else ""
    pcap = f"{pod if not pod.startswith(('$', '<')) else wl.obj.name}.pcap"
    prefix, custom = "", ""
    if non_root and psa.level != "restricted" and known_at_least(CUSTOM_ALPHA):
        prefix = f"echo '{ROOT_CUSTOM}' > {ROOT_CUSTOM_FILE} && "
        prefix += "" if known_at_least(CUSTOM_SINCE) else "KUBECTL_DEBUG_CUSTOM_PROFILE=true "
        custom = f" --custom={ROOT_CUSTOM_FILE}"
    keep = " --keep-labels" if known_at_least(KEEP_LABELS_SINCE) else ""
    aim = f" --target={app}" if app else ""
    stream = f"tcpdump -i any -U -w -{quoted}"

    def debug(profile: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        flag = f" --profile={profile}" if profile else ""
        base = f"{prefix}kubectl debug {target} %s{keep} --image={image}{flag}{custom}{aim} -- "
        return (base % "-i -q" + f"{stream} > {pcap}",
                (("interactive", base % "-it" + f"tcpdump -i any -nn{quoted}"),
                 ("into Wireshark", base % "-i -q" + f"{stream} | wireshark -k -i -")))

    root_needs = (f"; the pod sets {non_root}, so the debug container runs as root via --custom (kubectl >= 1.31)"
                  if custom else "")
    methods: list[tuple[Method, int]] = []

    def offer(key: str, title: str, command: str, works: str, needs: str, gives_up: str,
              groups: tuple[str, ...] = (), perms: tuple[str, ...] = (),
              variants: tuple[tuple[str, str], ...] = ()) -> Method:
        blocked = gate.reasons(groups, perms)
        if env.istioctl == "" and command.startswith("istioctl"):
            works, needs = "maybe", "istioctl is not on PATH (install it first); " + needs
        m = Method(key, title, command, "no" if blocked else works, needs, gives_up, variants, blocked)
        methods.append((m, len(methods)))
        return m

    lingers = ("the ephemeral container stays in the pod spec (terminated) until the pod is replaced; "
               "-i any shows both legs (lo plaintext, eth0 mTLS)")
    command, variants = debug("netadmin")
    offer("ephemeral-netadmin", "ephemeral debug container with NET_ADMIN/NET_RAW", command, "yes",
          "kubectl >= 1.27 (--profile=netadmin), Kubernetes >= 1.25, RBAC patch on pods/ephemeralcontainers and "
          "create on pods/attach, PodSecurity privileged in the namespace, admission policies that allow "
          f"NET_ADMIN/NET_RAW{root_needs}", lingers, ("debug", "capture-debug", "netadmin"),
          ("ephemeral", "attach"), variants)
    if gate.blocks.get("netadmin") and psa.level != "restricted":  # what the runtime grants by default may do
        command, variants = debug("baseline" if known_at_least(PROFILES_SINCE) else "")
        offer("ephemeral-baseline", "ephemeral debug container with the runtime's default capabilities", command,
              "maybe", "a root debug container and a container runtime whose default capabilities include NET_RAW "
              "(containerd's do, CRI-O's do not; UNCONFIRMED per cluster); RBAC as above" + root_needs,
              "may fail with 'Operation not permitted'; same ephemeral-container caveats",
              ("debug", "capture-debug", "runtime-caps"), ("ephemeral", "attach"), variants)
    tcpdump_nn = f"tcpdump -i any -nn{quoted}"
    if sidecar and privilege.privileged and variant != "distroless":
        sudo = "" if any("runAsUser: 0" in s or TRACE_LOGGING in s for s in privilege.sources) else "sudo "
        offer("exec-proxy", "tcpdump inside the privileged istio-proxy",
              f"kubectl exec {target} -c {PROXY_CONTAINER} -- {sudo}{tcpdump_nn}", "yes",
              "the privileged istio-proxy this workload already has; RBAC create on pods/exec",
              "keeps a privileged sidecar in every pod: turn it off (MC501-MC503) and use the debug container",
              ("exec",) + (() if observed else ("privileged-pod",)), ("exec",))
    node_expr = node or f"$(kubectl -n {ns} get pod {_q(pod)} -o jsonpath='{{.spec.nodeName}}')"
    ip = pod_ip or f"$(kubectl -n {ns} get pod {_q(pod)} -o jsonpath='{{.status.podIP}}')"
    node_profile = " --profile=sysadmin" if known_at_least(SYSADMIN_SINCE) else ""
    node_works = "yes" if node_profile else "maybe"
    node_needs = ("RBAC get on nodes and create on pods, PodSecurity privileged where kubectl debug creates the "
                  f"node pod (here {ns}: {psa.level}; -n another namespace to move it)"
                  + ("" if node_profile else "; kubectl < 1.30 has no --profile=sysadmin: root in the host "
                                             "network with the runtime's default capabilities"))
    if mode is MeshMode.AMBIENT:
        offer("ztunnel-node", "capture the pod's HBONE traffic on its node (where its ztunnel runs)",
              f"kubectl debug node/{node_expr} -n {ns} -it --image={image}{node_profile} -- tcpdump -i any -nn "
              f"host {ip} and port {HBONE_PORT}", node_works, node_needs,
              "mTLS-encrypted HBONE only: ztunnel's plaintext sockets live in the pod's own network namespace "
              "(in-pod redirection), which the ephemeral container sees", ("node",), ("node", "create-pods"))
        offer("ztunnel-log", "ztunnel's connection logs on the pod's node",
              f"kubectl -n {ZTUNNEL_NAMESPACE} logs $(kubectl -n {ZTUNNEL_NAMESPACE} get pod -l app=ztunnel "
              f"--field-selector spec.nodeName={node_expr} -o name) | grep {_q(pod)}",
              "yes", f"RBAC list on pods and get on pods/log in {ZTUNNEL_NAMESPACE}",
              "connections only (source, destination, bytes, identities), no packets", (),
              ("ztunnel-pods", "ztunnel-log"))
    elif sidecar:
        sel = _selector(wl)
        selector = "{" + ", ".join(f"{k}: {json.dumps(str(v))}" for k, v in sel.items()) + "}"
        telemetry = f"{owner[1] if owner else wl.obj.name}-access-log"
        offer("access-log", "Envoy access logs for this workload (Telemetry API)",
              f"kubectl apply -n {ns} -f - <<'EOF'\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
              f"metadata: {{name: {telemetry}}}\nspec:\n  selector: {{matchLabels: {selector}}}\n"
              "  accessLogging: [{providers: [{name: envoy}]}]\nEOF\n"
              f"kubectl logs {target} -c {PROXY_CONTAINER} -f",
              "yes", "RBAC create on telemetries.telemetry.istio.io and get on pods/log (or meshConfig.accessLogFile: "
                     "/dev/stdout mesh-wide); telemetry.istio.io/v1 needs a recent Istio (v1alpha1 before, release "
                     "UNCONFIRMED)",
              "one line per request or connection (response flags, upstream, timings), no payload",
              (), ("telemetry", "log"),
              (("undo", f"kubectl delete -n {ns} telemetry {telemetry}"),))
        offer("proxy-log", "Envoy debug logs at runtime",
              f"istioctl proxy-config log {_q(pod)} -n {ns} --level connection:debug,http:debug && "
              f"kubectl logs {target} -c {PROXY_CONTAINER} -f", "yes",
              "istioctl; RBAC create on pods/portforward (istioctl reaches Envoy's admin port through a "
              "port-forward) and get on pods/log",
              "very noisy; headers and connection events, no bodies; reset with --level warning",
              ("running",), ("portforward", "log"))
        offer("proxy-config", "what Envoy is configured to do (listeners, routes, clusters)",
              f"istioctl proxy-config listener {_q(pod)} -n {ns}" + (f" --port {ports[0]}" if ports else "")
              + f" && istioctl proxy-config route {_q(pod)} -n {ns} && istioctl proxy-config cluster {_q(pod)} -n {ns}",
              "yes", "istioctl; RBAC create on pods/portforward",
              "configuration, not traffic", ("running",), ("portforward",),
              (("admin endpoints", f"kubectl port-forward {target} {ADMIN_PORT}:{ADMIN_PORT} (then "
                                   f"http://localhost:{ADMIN_PORT}/ : /stats, /clusters, /config_dump, /logging)"),))
    if mode is not MeshMode.AMBIENT:
        host_filter = f"host {ip}" + (f" and \\( {' or '.join(f'port {p}' for p in ports)} \\)" if ports else "")
        offer("node", "capture on the node (cluster admin)",
              f"kubectl debug node/{node_expr} -n {ns} -it --image={image}{node_profile} -- tcpdump -i any -nn "
              f"{host_filter}", node_works, node_needs,
              "sees only what leaves the pod (mTLS-encrypted between sidecars), not the plaintext loopback leg",
              ("node",), ("node", "create-pods"))
    # the most invasive capture (restarts the workload, a privileged sidecar): only when no debug container
    # or privileged proxy can capture, and ranked after everything else that works
    captures = [m for m, _ in methods if m.works == "yes" and m.key in ("ephemeral-netadmin", "exec-proxy")]
    if sidecar and not captures and variant != "distroless" and not privilege.privileged and owner \
            and owner[0] in PATCHABLE:
        kind, name = owner
        raw = wl.pod_annotations.get(PROXY_CONFIG_ANNOTATION)
        config = dict(parse_proxy_config(raw).config or {})
        config["proxyMetadata"] = {**(config.get("proxyMetadata") or {}), TRACE_LOGGING: "true"}

        def patch(value: Any) -> str:
            body = {"spec": {"template": {"metadata": {"annotations": {PROXY_CONFIG_ANNOTATION: value}}}}}
            return (f"kubectl -n {ns} patch {kind.lower()}/{name} --type=merge -p "
                    f"{shlex.quote(json.dumps(body, separators=(',', ':')))}")
        offer("privileged-proxy", f"make {kind}/{name}'s istio-proxy privileged for the capture, then undo it",
              f"{patch(json.dumps(config, separators=(',', ':')))} && kubectl -n {ns} rollout status "
              f"{kind.lower()}/{name} && kubectl exec -n {ns} {kind.lower()}/{name} -c {PROXY_CONTAINER} -- "
              f"{tcpdump_nn}",
              "yes", f"RBAC patch on {kind.lower()}s and create on pods/exec, PodSecurity privileged; only when no "
                     f"debug container is allowed (the {PROXY_CONFIG_ANNOTATION} {TRACE_LOGGING} knob: "
                     "undocumented, source-derived)",
              "restarts every pod of the workload (the pod you debug is replaced, and the problem may go with "
              "it); istio-proxy runs privileged as root with iptables trace logs until undone (MC503 flags it)",
              ("privileged-pod",), ("patch-workload", "exec"),
              (("undo", patch(raw if raw is not None else None) + f" && kubectl -n {ns} rollout status "
                                                                    f"{kind.lower()}/{name}"),))
    ranked = tuple(m for m, _ in sorted(methods, key=lambda mi: (WORKS_ORDER[mi[0].works], mi[1])))
    return CapturePlan(mode, variant, variant_source, privilege, psa, pod, bool(observed), ports, exec_text,
                       ranked, tuple(gate.checks), fields, app, filt, interfaces_of(mode))
