"""Who is in the mesh (sidecar, ambient or none, per pod and namespace), the install's injector settings,
and what containers' commands do as they start.

Will Istio put a sidecar in this pod, enrol it in ambient, or leave it alone? What the injected pod
then looks like is ``mesh.injected_pod``'s; which webhooks select it, ``mesh.webhooks``'.

Facts (reference/istio-facts.md §F1; istio/istio pkg/kube/inject/inject.go ``injectRequired``,
manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml):

- Namespace label ``istio-injection=enabled`` or ``istio.io/rev=<rev>`` selects sidecar injection;
  ``istio-injection=disabled`` switches it off; if both labels are present ``istio-injection`` wins.
- The pod *label* ``sidecar.istio.io/inject`` is the API: ``"false"`` opts out, ``"true"`` opts in
  even in an unlabeled namespace (but not in an ``istio-injection=disabled`` one). The
  *annotation* of the same name is deprecated; ``"false"`` still opts out inside the webhook, but
  ``"true"`` cannot opt in, because the webhook's selectors only see labels.
- A pod label ``istio.io/rev`` selects injection in an unlabeled namespace.
- Never injected: ``hostNetwork: true`` pods, kube-system, kube-public, kube-node-lease and
  local-path-storage.
- Ambient: label ``istio.io/dataplane-mode=ambient`` on the namespace or pod (pod wins, ``none``
  opts out); sidecar injection takes precedence over ambient.
- Already-injected pods (``sidecar.istio.io/status`` or an ``istio-proxy`` container or init
  container) are read as they are.
"""

from __future__ import annotations

import dataclasses

import functools

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from ..model import MeshMode

if TYPE_CHECKING:
    pass

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})

INJECT_LABEL = "sidecar.istio.io/inject"
NS_INJECTION_LABEL = "istio-injection"
REV_LABEL = "istio.io/rev"
DATAPLANE_LABEL = "istio.io/dataplane-mode"
STATUS_ANNOTATION = "sidecar.istio.io/status"
PROXY_CONTAINER = "istio-proxy"


@dataclass(frozen=True)
class ModeDecision:
    """The data-plane mode of a pod and why; ``assumed`` when the input did not say."""

    mode: MeshMode
    reason: str
    assumed: bool = False
    #: decided from what the namespace's running pods show, its Namespace object being unknown
    inferred: bool = False


def _mapping(value: Any) -> dict:
    """A labels or annotations map as written, or empty when the input has something else there."""
    return value if isinstance(value, dict) else {}


def is_injected(pod_meta: dict, pod_spec: dict) -> bool:
    """The pod already carries a sidecar (live pods, or injected manifests). An ``istio-proxy`` with
    ``image: auto`` is a placeholder for the injector to fill in (gateway injection), not a sidecar."""
    if STATUS_ANNOTATION in _mapping((pod_meta or {}).get("annotations")):
        return True
    for key in ("containers", "initContainers"):
        for c in (pod_spec or {}).get(key) or []:
            if isinstance(c, dict) and c.get("name") == PROXY_CONTAINER and c.get("image") != "auto":
                return True
    return False


def dataplane_mode(
    namespace: str | None,
    ns_labels: dict | None,
    pod_meta: dict | None,
    pod_spec: dict | None,
    assume: MeshMode = MeshMode.SIDECAR,
) -> ModeDecision:
    """Decide the mode of one pod template.

    ``ns_labels`` is None when the input holds no Namespace object for ``namespace``: then the
    namespace labels are unknown and ``assume`` applies (flagged ``assumed``), unless the pod
    itself decides.
    """
    pod_meta = pod_meta if isinstance(pod_meta, dict) else {}
    pod_spec = pod_spec if isinstance(pod_spec, dict) else {}
    labels = _mapping(pod_meta.get("labels"))
    annotations = _mapping(pod_meta.get("annotations"))
    if is_injected(pod_meta, pod_spec):
        return ModeDecision(MeshMode.SIDECAR, "already injected (istio-proxy present)")
    if pod_spec.get("hostNetwork") is True:
        return ModeDecision(MeshMode.NONE, "hostNetwork pods are never injected")
    if namespace in SYSTEM_NAMESPACES:
        return ModeDecision(MeshMode.NONE, f"namespace {namespace} is never injected")
    pod_inject = str(labels.get(INJECT_LABEL, "")).lower()
    ann_inject = str(annotations.get(INJECT_LABEL, "")).lower()
    ns_inj = None if ns_labels is None else str(ns_labels.get(NS_INJECTION_LABEL, "")).lower()
    if pod_inject == "false":
        return ModeDecision(MeshMode.NONE, f"pod label {INJECT_LABEL}=false")
    if ann_inject == "false":
        return ModeDecision(MeshMode.NONE, f"pod annotation {INJECT_LABEL}=false")
    if ns_inj == "disabled":
        return ModeDecision(MeshMode.NONE, f"namespace label {NS_INJECTION_LABEL}=disabled")
    if pod_inject == "true":
        return ModeDecision(MeshMode.SIDECAR, f"pod label {INJECT_LABEL}=true")
    if labels.get(REV_LABEL):
        return ModeDecision(MeshMode.SIDECAR, f"pod label {REV_LABEL}={labels[REV_LABEL]}")
    if ns_labels is not None:
        if ns_inj == "enabled":
            return ModeDecision(MeshMode.SIDECAR, f"namespace label {NS_INJECTION_LABEL}=enabled")
        if ns_labels.get(REV_LABEL):
            return ModeDecision(MeshMode.SIDECAR, f"namespace label {REV_LABEL}={ns_labels[REV_LABEL]}")
    pod_dp = str(labels.get(DATAPLANE_LABEL, "")).lower()
    if pod_dp == "none":
        return ModeDecision(MeshMode.NONE, f"pod label {DATAPLANE_LABEL}=none")
    if pod_dp == "ambient":
        return ModeDecision(MeshMode.AMBIENT, f"pod label {DATAPLANE_LABEL}=ambient")
    if ns_labels is not None:
        if str(ns_labels.get(DATAPLANE_LABEL, "")).lower() == "ambient":
            return ModeDecision(MeshMode.AMBIENT, f"namespace label {DATAPLANE_LABEL}=ambient")
        return ModeDecision(MeshMode.NONE, f"namespace {namespace} has no injection or ambient label")
    return ModeDecision(assume, f"namespace {namespace or '(none)'} not in the input; assumed {assume.value}", True)


AMBIENT_REDIRECTION = "ambient.istio.io/redirection"  # set by istio-cni on enrolled pods (istio-facts §F)


def pod_mode_evidence(pod: dict) -> MeshMode | None:
    """What a running pod shows of its namespace's data-plane mode, when the Namespace cannot be read:
    injected (sidecar), enrolled in ambient (``ambient.istio.io/redirection: enabled``), or neither.
    None for pods that are not evidence: manifests that never ran (no ``status``), and pods that decide
    for themselves (pod-level inject or dataplane labels, the inject annotation, hostNetwork)."""
    meta = _mapping(pod.get("metadata"))
    spec = _mapping(pod.get("spec"))
    if not isinstance(pod.get("status"), dict):
        return None
    if is_injected(meta, spec):
        return MeshMode.SIDECAR
    labels, annotations = _mapping(meta.get("labels")), _mapping(meta.get("annotations"))
    if str(annotations.get(AMBIENT_REDIRECTION, "")).lower() == "enabled":
        return MeshMode.AMBIENT
    if (spec.get("hostNetwork") is True or INJECT_LABEL in labels or INJECT_LABEL in annotations
            or REV_LABEL in labels or DATAPLANE_LABEL in labels):
        return None
    return MeshMode.NONE


def count_mode_evidence(counts: dict[str, dict[MeshMode, int]], pod: dict) -> None:
    """Add what one pod shows of its namespace's mode to ``counts`` (namespace -> mode -> pods)."""
    seen = pod_mode_evidence(pod)
    if seen is not None:
        mine = counts.setdefault(_mapping(pod.get("metadata")).get("namespace") or "", {})
        mine[seen] = mine.get(seen, 0) + 1


def infer_namespace_mode(namespace: str, counts: dict[MeshMode, int]) -> ModeDecision | None:
    """The mode most of a namespace's running pods show (ties go to sidecar, the usual assumption);
    None without evidence. The reason says which evidence decided."""
    total = sum(counts.values())
    if not total:
        return None
    order = (MeshMode.SIDECAR, MeshMode.AMBIENT, MeshMode.NONE)
    mode = max(order, key=lambda m: (counts.get(m, 0), -order.index(m)))
    shown = {MeshMode.SIDECAR: "injected", MeshMode.AMBIENT: "ambient-enrolled", MeshMode.NONE: "without a sidecar"}
    parts = ", ".join(f"{counts[m]} {shown[m]}" for m in order if counts.get(m))
    return ModeDecision(mode, f"namespace {namespace}: {mode.value} mode inferred from its running pods ({parts})",
                        inferred=True)


def namespace_mode(namespace: str | None, ns_labels: dict | None, assume: MeshMode) -> ModeDecision:
    """The mode a namespace gives pods that do not decide for themselves (for Services)."""
    return dataplane_mode(namespace, ns_labels, None, None, assume)


# -- the install: the injector's settings and the annotations it reads (the layout they produce is
# mesh.injected_pod's)

NATIVE_ANNOTATION = "sidecar.istio.io/nativeSidecar"
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
INTERCEPTION_ANNOTATION = "sidecar.istio.io/interceptionMode"
HOLD_KEY = "holdApplicationUntilProxyStarts"
INJECTOR_CONFIGMAP = "istio-sidecar-injector"
#: the first release with each behaviour (facts sheet §B1/§B2)
NATIVE_SINCE, NATIVE_ANNOTATION_SINCE, NATIVE_AUTO_SINCE, HOLD_ANNOTATION_SINCE = (1, 19), (1, 24), (1, 27), (1, 8)
#: istiod's IP allocator for ServiceEntries (PILOT_ENABLE_IP_AUTOALLOCATE): added in 1.23, on by default since
IP_AUTOALLOCATE_SINCE = (1, 25)
NATIVE_MODES = ("true", "false", "auto")


@functools.lru_cache(maxsize=1024)  # node and image versions repeat across a whole cluster
def parse_version(text: str | None) -> tuple[int, int] | None:
    """``1.27``, ``1.27.3``, ``v1.33.0-gke.1`` -> (major, minor); None when it is not a version."""
    m = re.match(r"^\s*v?(\d+)\.(\d+)", str(text or ""))
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class InjectorSettings:
    """How the install injects, from flags/config (offline) or the injector ConfigMap in the input.

    Defaults (documented in ``--help``): Istio version unknown, read as the newest behaviour;
    native sidecars at the version's default (``auto`` since 1.27, ``false`` before); kubelet
    versions unknown, so ``auto`` cannot decide and a classic sidecar is *assumed* (the case where
    the startup pitfalls apply; say ``--native-sidecars true`` if every node runs kubelet >= 1.33).
    ``auto`` with known versions: native only if every node's kubelet is >= 1.33.
    """

    istio_version: tuple[int, int] | None = None
    native_sidecars: str = ""  # "true" | "false" | "auto" | "" (the version's default)
    kubelet_versions: tuple[str, ...] = ()  # every node's kubelet, for auto; () = unknown
    hold_install: bool = False  # values.global.proxy.holdApplicationUntilProxyStarts
    cni: bool = False  # Istio CNI (istio-validation) instead of istio-init
    source: str = "defaults"
    namespaces_by_default: bool = False  # sidecarInjectorWebhook.enableNamespacesByDefault
    rewrite_probes: bool | None = None  # sidecarInjectorWebhook.rewriteAppHTTPProbe; None: the version's default
    #: values.global.proxy.lifecycle: the template puts it on istio-proxy *instead of* the hold's
    #: ``pilot-agent wait`` postStart hook (None: not set; True/False: it does / does not carry that hook)
    lifecycle_waits: bool | None = None
    #: istiod's PILOT_ENABLE_IP_AUTOALLOCATE (None: the version's default, on since 1.25; §C7)
    ip_autoallocate: bool | None = None

    def at_least(self, version: tuple[int, int]) -> bool:
        """Does the install have behaviour first released in ``version``? Unknown: yes (newest)."""
        return self.istio_version is None or self.istio_version >= version

    @property
    def istiod_allocates_ips(self) -> bool:
        """Does istiod's own allocator give address-less ServiceEntries addresses (``status.addresses``)?"""
        return self.ip_autoallocate if self.ip_autoallocate is not None else self.at_least(IP_AUTOALLOCATE_SINCE)

    @property
    def native_mode(self) -> str:
        if not self.at_least(NATIVE_SINCE):
            return "false"
        if self.native_sidecars in NATIVE_MODES:
            return self.native_sidecars
        return "auto" if self.at_least(NATIVE_AUTO_SINCE) else "false"

    def to_json(self) -> dict[str, Any]:
        v = self.istio_version
        return {"istioVersion": f"{v[0]}.{v[1]}" if v else None, "nativeSidecars": self.native_mode,
                "kubeletVersions": list(self.kubelet_versions), "holdInstallValue": self.hold_install,
                "cni": self.cni, "namespacesByDefault": self.namespaces_by_default, "source": self.source,
                "rewriteAppHTTPProbe": self.rewrite_probes,
                "proxyLifecycleOverride": None if self.lifecycle_waits is None else
                {"waitsForProxy": self.lifecycle_waits}}


def settings_from_injector_values(values: dict, base: InjectorSettings | None = None) -> InjectorSettings:
    """Settings from the injector ConfigMap's ``data.values`` (global.tag, pilot.env, CNI, hold)."""
    base = base or InjectorSettings()
    glob = values.get("global") if isinstance(values.get("global"), dict) else {}
    proxy = glob.get("proxy") if isinstance(glob.get("proxy"), dict) else {}
    pilot = values.get("pilot") if isinstance(values.get("pilot"), dict) else {}
    env = pilot.get("env") if isinstance(pilot.get("env"), dict) else {}
    cni = (values.get("istio_cni") or {}).get("enabled") if isinstance(values.get("istio_cni"), dict) else None
    if cni is None and isinstance(pilot.get("cni"), dict):
        cni = pilot["cni"].get("enabled")
    native = str(env.get("ENABLE_NATIVE_SIDECARS", "")).lower()
    webhook = values.get("sidecarInjectorWebhook") if isinstance(values.get("sidecarInjectorWebhook"), dict) else {}
    rewrite = webhook.get("rewriteAppHTTPProbe")
    return InjectorSettings(
        ip_autoallocate=base.ip_autoallocate if base.ip_autoallocate is not None else
        _env_bool(env.get("PILOT_ENABLE_IP_AUTOALLOCATE")),
        istio_version=base.istio_version or parse_version(glob.get("tag")),
        native_sidecars=base.native_sidecars or (native if native in NATIVE_MODES else ""),
        kubelet_versions=base.kubelet_versions,
        hold_install=base.hold_install or proxy.get(HOLD_KEY) is True,
        cni=base.cni or cni is True,
        source=base.source,
        namespaces_by_default=base.namespaces_by_default or webhook.get("enableNamespacesByDefault") is True,
        rewrite_probes=base.rewrite_probes if base.rewrite_probes is not None else
        (rewrite if isinstance(rewrite, bool) else None),
        lifecycle_waits=base.lifecycle_waits if base.lifecycle_waits is not None else
        (_is_wait_hook({"lifecycle": proxy["lifecycle"]}) if isinstance(proxy.get("lifecycle"), dict)
         and proxy["lifecycle"] else None),
    )


def _is_wait_hook(container: dict) -> bool:
    post = ((container.get("lifecycle") or {}).get("postStart") or {}).get("exec") or {}
    cmd = [str(x) for x in post.get("command") or []]
    return any("pilot-agent" in x for x in cmd) and "wait" in cmd


def _env_bool(value) -> bool | None:
    """An istiod env flag as Go's strconv.ParseBool reads it; None when unset or not a boolean."""
    text = str(value).strip().lower() if value is not None else ""
    return True if text in ("1", "t", "true") else False if text in ("0", "f", "false") else None


def _istiod(obj) -> dict | None:
    """The ``discovery`` container of an istiod Deployment in the input (facts sheet §G)."""
    if obj.kind != "Deployment" or not (obj.name == "istiod" or obj.name.startswith("istiod-")):
        return None
    for c in obj.get("/spec/template/spec/containers") or []:
        if isinstance(c, dict) and c.get("name") == "discovery":
            return c
    return None


def configmap_values(cm) -> dict | None:
    """An injector ConfigMap's ``data.values`` (the Helm values, as JSON), or None when absent or not JSON."""
    raw = (cm.data.get("data") or {}).get("values")
    try:
        values = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return values if isinstance(values, dict) else None


def settings_from_objects(objects, base: InjectorSettings | None = None) -> InjectorSettings:
    """Refine ``base`` (flags/config, which win) with what the input shows of the install: the
    ``istio-sidecar-injector`` ConfigMap's values, istiod's image tag and ENABLE_NATIVE_SIDECARS env,
    and the Nodes' kubelet versions (for ``auto``)."""
    settings = base or InjectorSettings()
    sources = [] if settings.source == "defaults" else [settings.source]
    objects = list(objects)
    for cm in objects:
        named = cm.name == INJECTOR_CONFIGMAP or cm.name.startswith(INJECTOR_CONFIGMAP + "-")
        if cm.kind != "ConfigMap" or not named:
            continue
        values = configmap_values(cm)
        if values is not None:
            settings = settings_from_injector_values(values, settings)
            sources.append(f"ConfigMap {cm.namespace}/{cm.name}")
            break
    for obj in objects:
        discovery = _istiod(obj)
        if discovery is None:
            continue
        tag = str(discovery.get("image") or "").rsplit(":", 1)[-1] if ":" in str(discovery.get("image")) else ""
        env = {e.get("name"): e.get("value") for e in discovery.get("env") or [] if isinstance(e, dict)}
        native = str(env.get("ENABLE_NATIVE_SIDECARS") or "").lower()
        settings = dataclasses.replace(
            settings, istio_version=settings.istio_version or parse_version(tag),
            native_sidecars=settings.native_sidecars or (native if native in NATIVE_MODES else ""),
            ip_autoallocate=settings.ip_autoallocate if settings.ip_autoallocate is not None else
            _env_bool(env.get("PILOT_ENABLE_IP_AUTOALLOCATE")))
        sources.append(f"Deployment {obj.namespace}/{obj.name}")
        break
    kubelets = tuple(str((n.get("/status/nodeInfo") or {}).get("kubeletVersion") or "") for n in objects
                     if n.kind == "Node")
    if kubelets and not settings.kubelet_versions:
        settings = dataclasses.replace(settings, kubelet_versions=kubelets)
        sources.append(f"{len(kubelets)} Node(s)")
    source = " + ".join(sources) or "defaults"
    return dataclasses.replace(settings, source=source)


@dataclass(frozen=True)
class ProxyConfigAnnotation:
    """The pod's ``proxy.istio.io/config``: parsed, or why it cannot be."""

    present: bool
    form: str = ""  # "JSON" or "YAML"
    config: dict | None = None
    error: str = ""

    @property
    def hold(self) -> bool | None:
        """The hold value it sets (None: not set here, or not a usable boolean)."""
        value = (self.config or {}).get(HOLD_KEY)
        return value if isinstance(value, bool) else None


def parse_proxy_config(text: Any) -> ProxyConfigAnnotation:
    """Parse a ``proxy.istio.io/config`` value the way Istio accepts it (YAML, of which JSON is a subset)."""
    if text is None:
        return ProxyConfigAnnotation(False)
    if not isinstance(text, str):
        return ProxyConfigAnnotation(True, "", None, "annotation values must be strings")
    return _parse_proxy_config_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_proxy_config_text(text: str) -> ProxyConfigAnnotation:
    """Memoised: the same annotation value recurs on many workloads (and every rule asks)."""
    form = "JSON" if text.strip().startswith("{") else "YAML"
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        return ProxyConfigAnnotation(True, form, None, f"not valid {form}: {getattr(e, 'problem', None) or e}")
    if data is None:
        return ProxyConfigAnnotation(True, form, {})
    if not isinstance(data, dict):
        return ProxyConfigAnnotation(True, form, None, f"not a ProxyConfig mapping but a {type(data).__name__}")
    return ProxyConfigAnnotation(True, form, data)


# -- startup evidence: does a container use the network as it starts? -----------------------------
#
# Heuristic, from the container's command, args and image. A tool counts only where it is *run*: as
# the first word of a command or of a shell segment (after ``;``, ``&&``, ``||``, ``|``, ``then``,
# ``do``; past ``exec``, ``sh -c``, ``VAR=value``...), so ``--db=mongo:27017`` or ``/vault/secrets``
# are not mistaken for clients. Network clients: curl, wget, nc, psql, mysql, redis-cli, git clone...
# Schema migrations: flyway, liquibase, migrate, goose, ``alembic upgrade``, ``manage.py migrate``,
# ``rake db:migrate``, ``prisma migrate``... "Wait for the sidecar" loops (15020/15021 on
# localhost, facts sheet §B5) are told apart: they are a mitigation, judged by their own rule.

NETWORK_TOOLS = frozenset({"curl", "wget", "nc", "ncat", "nslookup", "dig", "pg_isready", "psql", "mysqladmin",
                           "mysql", "redis-cli", "mongosh", "mongo", "grpcurl", "wait-for-it", "wait-for-it.sh",
                           "dockerize", "gsutil", "gcloud", "aws", "az", "kubectl", "helm", "vault",
                           "consul-template", "envconsul", "pg_dump", "pg_restore", "mysqldump", "mongodump",
                           "mongorestore", "rclone", "s3cmd", "mc", "kafka-topics", "kafka-topics.sh"})
#: images that talk to the network when run with no command of their own (their entrypoint does), by
#: image name (``image_base``): what they reach
NETWORK_IMAGES = {"curl": "curl", "git-sync": "git-sync (clones a repository)",
                  "kubectl": "kubectl (the Kubernetes API)",
                  "vault": "Vault agent (Vault's API)", "consul-template": "consul-template (Consul's API)",
                  "cloud-sql-proxy": "the Cloud SQL Auth Proxy", "gce-proxy": "the Cloud SQL Auth Proxy",
                  "cloud-sdk": "gcloud", "aws-cli": "the AWS CLI", "wait-for": "a wait-for (a dependency's port)"}
MIGRATION_TOOLS = frozenset({"flyway", "liquibase", "migrate", "goose", "dbmate", "sqitch"})
_MIGRATION_PHRASES = re.compile(r"(manage\.py\s+migrate|db:migrate|alembic\s+upgrade|prisma\s+migrate|"
                                r"knex\s+migrate|sequelize(?:-cli)?\s+db:migrate|git\s+clone|aws\s+s3\s+(?:cp|sync))")
_MIGRATION_IMAGES = ("flyway", "liquibase", "migrate")
_SKIP_WORDS = frozenset({"exec", "time", "until", "while", "if", "!", "nohup", "env", "sh", "bash", "ash", "dash",
                         "-c", "-ec", "-ce", "-e", "-x", "-xe", "-ex", "-eu", "-euo", "pipefail", "set", "{", "("})
_SEGMENTS = re.compile(r"[;&|\n()]+|\b(?:then|do|else)\b")
#: a readiness poll of the sidecar: ``localhost:15021/healthz/ready`` (or 15020), or the bare port; a
#: ``POST .../quitquitquit`` is the opposite (the job is done: stop the proxy), never a wait
SIDECAR_WAIT = re.compile(r"(localhost|127\.0\.0\.1):(15020|15021)(/healthz/ready|(?![/\w]))")
QUIT_CALL = re.compile(r"(15020/quitquitquit|15000/quitquitquit|pilot-agent\s+request\s+POST\s+quitquitquit)")


def command_text(container: dict) -> str:
    parts = [*(container.get("command") or []), *(container.get("args") or [])]
    return " ".join(str(p) for p in parts)


def run_words(text: str) -> list[str]:
    """The program each shell segment runs (basename, lower case)."""
    out = []
    for segment in _SEGMENTS.split(text):
        for word in segment.replace('"', " ").replace("'", " ").split():
            name = word.rsplit("/", 1)[-1].lower()
            if name in _SKIP_WORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word):
                continue
            out.append(name)
            break
    return out


#: programs that only move files around: an init container running just these (copying a mounted
#: config for the app) does not dial what that config names
FILE_TOOLS = frozenset({"cp", "cat", "mv", "ln", "chmod", "chown", "chgrp", "mkdir", "rm", "touch", "sed", "awk",
                        "envsubst", "tee", "echo", "printf", "tar", "install", "test", "[", "true", "grep", "cut",
                        "ls", "base64", "export", "exit", "sleep", "getent", "rsync", "gomplate", "jq", "yq"})


def network_in_script(text: str) -> str:
    """Evidence that a command line or a shell script talks to the network ("" when none is seen)."""
    if SIDECAR_WAIT.search(text):
        return ""  # it waits for the sidecar first: a mitigation, not a race
    m = _MIGRATION_PHRASES.search(text)
    if m:
        what = " ".join(m.group(1).split())
        return f"runs {what}" if what.startswith(("git", "aws")) else f"runs a schema migration ({what})"
    words = run_words(text)
    for w in words:
        if w in MIGRATION_TOOLS:
            return f"runs a schema migration ({w})"
    for w in words:
        if w in NETWORK_TOOLS:
            return f"runs {w} as it starts"
    return ""


def only_moves_files(container: dict) -> bool:
    """Its command runs nothing but file tools (cp, sed, envsubst...): a config copier."""
    words = run_words(command_text(container))
    return bool(words) and all(w in FILE_TOOLS for w in words)


def network_at_start(container: dict) -> str:
    """Evidence from its command and image that a container talks to the network as it starts ("" when
    none is seen). The endpoints its env, args and mounted config name are the egress inventory's
    (``MeshFacts.endpoints(wl, init=True)``); the scripts it runs from mounted files, ``executed_files``."""
    found = network_in_script(command_text(container))
    if found or SIDECAR_WAIT.search(command_text(container)):
        return found
    image = str(container.get("image") or "").split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0].lower()
    if image in _MIGRATION_IMAGES:
        return f"image {image} runs a schema migration"
    if image in NETWORK_IMAGES and not container.get("command"):
        return f"runs image {image}: {NETWORK_IMAGES[image]}"
    return ""


def waits_for_sidecar(container: dict) -> bool:
    """The entrypoint polls the sidecar's readiness (15020/15021 on localhost) before starting."""
    return bool(SIDECAR_WAIT.search(command_text(container)))


def calls_quit(container: dict) -> bool:
    """The command ends the sidecar when it is done (POST localhost:15020/quitquitquit)."""
    return bool(QUIT_CALL.search(command_text(container)))
