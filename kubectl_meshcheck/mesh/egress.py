"""Egress facts: where a workload connects, whether a ServiceEntry covers it, and the outbound policy.

Facts (reference/istio-facts.md §A6, §C1-C7):

- ``outboundTrafficPolicy``: mesh config ``outboundTrafficPolicy.mode`` (default ALLOW_ANY), overridden
  by the Sidecar resource that applies to the workload (one with a matching ``workloadSelector`` in
  its namespace, else the namespace's selector-less one, else the selector-less one in the root
  namespace). A Sidecar with ``outboundTrafficPolicy: {}`` means REGISTRY_ONLY (the enum's zero
  value; istiod uses the field whenever it is non-nil). Whether the chosen Sidecar's *missing* field
  falls back to the mesh config rather than to a root-namespace Sidecar is source-derived.
- REGISTRY_ONLY: unknown TCP goes to BlackHoleCluster (reset), unknown HTTP gets a 502.
  ALLOW_ANY: PassthroughCluster (works, no mesh features).
- Explicit HTTP ports of any Service create ``0.0.0.0:<port>`` listeners routed by Host; TCP ports
  without a VIP (headless, ExternalName, address-less ServiceEntries) create ``0.0.0.0:<port>``
  listeners that take every connection on the port (A6). Server-first protocols hang when sniffed.
- ServiceEntry ``hosts`` match by Host/SNI (wildcards ``*.x`` by suffix), ``addresses`` (IPs or CIDRs)
  by destination IP, ``exportTo`` (default ``*``; ``.`` = own namespace; ``~`` = none) limits who sees it.

The inventory reads container env literals, ``valueFrom.configMapKeyRef`` / ``envFrom.configMapRef``,
the lines of ConfigMap files the container mounts (``configMap`` and ``projected`` volumes, ``items``
and ``subPath`` honoured; only when the ConfigMap is in the input: a live run reads no application
ConfigMaps), ``args`` and ``command``. Values from Secrets are never read. Every text kept here is
redacted (``redact.py``).
Recognised: URLs of any network scheme, JDBC, ``host:port`` (also Kafka-style lists), bare IPs and
hostnames in ``*_HOST``-style variables (with a sibling ``*_PORT``), Cloud SQL instance strings.
"""

from __future__ import annotations

import dataclasses

import functools

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..model import K8sObject, Workload
from ..redact import is_secret_name, redact, redact_env
from .config import MeshConfig
from .protocol import HTTP_FAMILY, Protocol, parse_protocol, service_port_protocol

#: scheme -> (application, default port, TLS from the first byte, server-first)
SCHEMES: dict[str, tuple[str, int | None, bool, bool]] = {
    "http": ("HTTP", 80, False, False), "ws": ("HTTP", 80, False, False),
    "https": ("HTTPS", 443, True, False), "wss": ("HTTPS", 443, True, False),
    "grpc": ("gRPC", None, False, False), "grpcs": ("gRPC", 443, True, False),
    "postgres": ("PostgreSQL", 5432, False, False), "postgresql": ("PostgreSQL", 5432, False, False),
    "mysql": ("MySQL", 3306, False, True), "mariadb": ("MySQL", 3306, False, True),
    "mongodb": ("MongoDB", 27017, False, False), "mongodb+srv": ("MongoDB", 27017, True, False),
    "redis": ("Redis", 6379, False, False), "rediss": ("Redis", 6379, True, False),
    "amqp": ("AMQP", 5672, False, False), "amqps": ("AMQP", 5671, True, False),
    "kafka": ("Kafka", 9092, False, False),
    "nats": ("NATS", 4222, False, True), "tls": ("TLS", None, True, False),
    "smtp": ("SMTP", 25, False, True), "smtps": ("SMTP", 465, True, False),
    "ldap": ("LDAP", 389, False, False), "ldaps": ("LDAP", 636, True, False),
    "ftp": ("FTP", 21, False, True), "sqlserver": ("SQL Server", 1433, False, False),
    "memcached": ("Memcached", 11211, False, False), "tcp": ("TCP", None, False, False),
    "clickhouse": ("ClickHouse", 9000, False, False),
}
#: well-known ports -> (application, TLS, server-first) for host:port and bare values
PORT_APPS: dict[int, tuple[str, bool, bool]] = {
    443: ("HTTPS", True, False), 80: ("HTTP", False, False), 5432: ("PostgreSQL", False, False),
    3306: ("MySQL", False, True), 27017: ("MongoDB", False, False), 6379: ("Redis", False, False),
    6380: ("Redis", True, False), 5672: ("AMQP", False, False), 5671: ("AMQP", True, False),
    9092: ("Kafka", False, False), 9093: ("Kafka", True, False), 4222: ("NATS", False, True),
    25: ("SMTP", False, True), 587: ("SMTP", False, True), 465: ("SMTP", True, False),
    1433: ("SQL Server", False, False), 1521: ("Oracle", False, False), 11211: ("Memcached", False, False),
    9042: ("Cassandra", False, False), 2181: ("ZooKeeper", False, False), 8443: ("HTTPS", True, False),
    3307: ("TLS", True, False),
}
#: key words in env names -> application (for DB_HOST=... style settings)
KEY_APPS = (("POSTGRES", "PostgreSQL"), ("PG", "PostgreSQL"), ("MYSQL", "MySQL"), ("MARIADB", "MySQL"),
            ("MONGO", "MongoDB"), ("REDIS", "Redis"), ("RABBIT", "AMQP"), ("AMQP", "AMQP"), ("KAFKA", "Kafka"),
            ("SMTP", "SMTP"), ("MAIL", "SMTP"), ("NATS", "NATS"))
APP_PORTS = {"PostgreSQL": 5432, "MySQL": 3306, "MongoDB": 27017, "Redis": 6379, "AMQP": 5672, "Kafka": 9092,
             "SMTP": 25, "NATS": 4222}
SERVER_FIRST_APPS = frozenset({"MySQL", "SMTP", "NATS", "FTP"})
#: databases and brokers that keep connections open for a long time (pools)
LONG_LIVED_APPS = frozenset({"PostgreSQL", "MySQL", "MongoDB", "Redis", "AMQP", "Kafka", "SQL Server", "Oracle",
                             "Cassandra", "NATS"})
_HOST_KEY = re.compile(
    r"(^|_|^PG)(HOST|HOSTNAME|HOSTADDR|ADDR|ADDRESS|SERVER|SERVERS|ENDPOINT|BROKERS?|URL|URI|DSN|IP)$", re.I)
#: libpq-style keyword DSNs: ``host=db.shop port=5432 dbname=orders``
_KEYWORD_DSN = re.compile(r"(?:^|\s)host=(?P<host>[A-Za-z0-9.\-]+)(?=\s|$)(?:.*?\sport=(?P<port>\d{2,5}))?", re.I)
_URL = re.compile(r"(?P<jdbc>jdbc:)?(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>[^\s'\"<>`]+)")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*"
_HOSTPORT = re.compile(rf"(?<![A-Za-z0-9.\-/:@])(?P<host>{_HOSTNAME}|\d{{1,3}}(?:\.\d{{1,3}}){{3}}):(?P<port>\d{{2,5}})"
                       r"(?![0-9A-Za-z.:/])")
_IP = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.]|/\d)")
_ORACLE = re.compile(rf"jdbc:oracle:[a-z]+:[^@\s]*@(?://)?(?P<host>{_HOSTNAME}):(?P<port>\d{{2,5}})", re.I)
_CLOUDSQL = re.compile(r"(?<![\w-])([a-z][a-z0-9\-]{4,28}[a-z0-9]:[a-z]+-[a-z]+\d:[a-z0-9][a-z0-9\-]*)(?:=tcp:\d+)?")
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")
#: top-level domains no one names a namespace after
CLASSIC_TLDS = frozenset({"com", "net", "org", "edu", "gov", "mil", "int", "biz", "info", "name", "pro"})
SKIP_HOSTS = frozenset({"tcp", "udp", "localhost", "0.0.0.0", "127.0.0.1", "::", "::1", "host.docker.internal"})


@dataclass(frozen=True)
class Endpoint:
    """One place a workload connects to, as far as its spec shows.

    ``text`` is the redacted value it was found in; ``found_in`` names the container field
    (``env DATABASE_URL``, ``args[2]``, ``env DB (ConfigMap shop/app key db)``); ``path`` is its JSON Pointer.
    """

    host: str
    port: int | None
    app: str  # "PostgreSQL", "HTTPS", "Kafka"...
    tls: bool
    server_first: bool
    container: str
    found_in: str
    path: str
    text: str
    in_cluster: bool
    why: str  # why in-cluster or external
    scheme: str = ""

    @property
    def is_ip(self) -> bool:
        return is_ip(self.host)

    @property
    def protocol(self) -> Protocol:
        """What a ServiceEntry port for it should declare: TLS/HTTPS when TLS from the first byte,
        HTTP only for plain HTTP, TCP for everything else (databases, brokers)."""
        if self.tls:
            return Protocol.HTTPS if self.app == "HTTPS" else Protocol.TLS
        if self.app == "HTTP":
            return Protocol.HTTP
        return Protocol.TCP

    @property
    def could_be_service(self) -> str:
        """For an external ``x.y`` name whose ``y`` reads like a namespace (not a classic gTLD or a
        country code): ``Service x in namespace y``, which pods try first through the search list, in a
        namespace the input does not show. What would make the endpoint in-cluster; "" otherwise."""
        labels = self.host.split(".")
        if self.in_cluster or self.is_ip or len(labels) != 2 or len(labels[1]) <= 2 or labels[1] in CLASSIC_TLDS:
            return ""
        return f"Service {labels[0]} in namespace {labels[1]}"

    @property
    def long_lived(self) -> bool:
        return self.app in LONG_LIVED_APPS

    def display(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "app": self.app, "protocol": self.protocol.value,
                "tls": self.tls, "serverFirst": self.server_first, "container": self.container,
                "foundIn": self.found_in, "text": self.text, "inCluster": self.in_cluster, "why": self.why,
                "couldBeService": self.could_be_service or None}


@functools.lru_cache(maxsize=8192)  # the same hosts recur across every workload and ServiceEntry
def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


# -- finding endpoints in text ------------------------------------------------------------------


@dataclass
class _Raw:
    host: str
    port: int | None
    app: str
    tls: bool
    server_first: bool
    scheme: str = ""


def _port(text: str | None) -> int | None:
    try:
        n = int(text) if text else None
    except ValueError:
        return None
    return n if n and 0 < n < 65536 else None


def _from_port(host: str, port: int | None, hint_app: str | None = None) -> _Raw:
    if hint_app and (port is None or port == APP_PORTS.get(hint_app)):
        return _Raw(host, port or APP_PORTS.get(hint_app), hint_app, False, hint_app in SERVER_FIRST_APPS)
    app, tls, first = PORT_APPS.get(port or 0, (hint_app or "TCP", False, (hint_app or "") in SERVER_FIRST_APPS))
    return _Raw(host, port, app, tls, first)


def _hosts_of(netloc: str) -> list[tuple[str, int | None]]:
    """``user:pw@h1:1,h2:2`` -> [(h1, 1), (h2, 2)]; IPv6 in brackets kept."""
    netloc = netloc.rsplit("@", 1)[-1]
    out = []
    for part in netloc.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            out.append((host, _port(rest.lstrip(":"))))
            continue
        host, _, port = part.partition(":")
        out.append((host, _port(port) if port else None))
    return out


@functools.lru_cache(maxsize=4096)  # env names repeat across every workload
def _key_app(name: str | None) -> str | None:
    up = (name or "").upper()
    for word, app in KEY_APPS:
        if re.search(rf"(^|_){word}", up):
            return app
    return None


def scan_text(text: str, key: str | None = None, siblings: dict[str, str] | None = None) -> list[_Raw]:
    """Endpoints mentioned in one value (an env value, an arg, a command line)."""
    out: list[_Raw] = []
    hint = _key_app(key)
    rest = text
    for m in _URL.finditer(text):
        scheme = m.group("scheme").lower()
        known = SCHEMES.get(scheme)
        if known is None:
            continue
        app, default, tls, first = known
        body = m.group("rest")
        netloc = re.split(r"[/?#;]", body, maxsplit=1)[0]
        if scheme == "sqlserver" or m.group("jdbc"):
            netloc = netloc.split(";", 1)[0]
        for host, port in _hosts_of(netloc):
            if host:
                tls_now = tls or (app == "HTTPS")
                out.append(_Raw(host.lower(), port or default, app, tls_now, first, scheme))
        rest = rest.replace(m.group(0), " ")
    for m in _ORACLE.finditer(rest):
        out.append(_Raw(m.group("host").lower(), _port(m.group("port")), "Oracle", False, False, "oracle"))
        rest = rest.replace(m.group(0), " ")
    for m in _KEYWORD_DSN.finditer(rest):
        out.append(_from_port(m.group("host").lower(), _port(m.group("port")), hint or "PostgreSQL"))
        rest = rest.replace(m.group(0), " ")
    for m in _CLOUDSQL.finditer(rest):
        out.append(_Raw("sqladmin.googleapis.com", 443, "HTTPS", True, False, "cloudsql"))
        rest = rest.replace(m.group(0), " ")
    for m in _HOSTPORT.finditer(rest):
        host, port = m.group("host").lower(), _port(m.group("port"))
        if port is None or port < 20 or (not is_ip(host) and not re.search(r"[a-z]", host)):
            continue
        out.append(_from_port(host, port, hint))
        rest = rest.replace(m.group(0), " ")
    if key and _HOST_KEY.search(key) and not out:
        value = text.strip()
        sibling_port = None
        if siblings is not None:
            prefix = re.sub(r"(HOST|HOSTNAME|HOSTADDR|ADDR|ADDRESS|SERVER|IP)$", "", key, flags=re.I)
            sibling_port = _port((siblings.get(prefix + "PORT") or "").strip())
        if is_ip(value) or (re.fullmatch(_HOSTNAME, value) and re.search(r"[a-z]", value.lower())):
            out.append(_from_port(value.lower(), sibling_port, hint))
    elif not out:
        for m in _IP.finditer(rest):
            if key and _HOST_KEY.search(key):
                out.append(_from_port(m.group(1), None, hint))
    return [r for r in out if r.host not in SKIP_HOSTS and not r.host.startswith("127.")
            and (is_ip(r.host) or re.fullmatch(_HOSTNAME, r.host))]


# -- classification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterNames:
    """What the input knows of in-cluster names: Services by (namespace, name), cluster IPs, namespaces."""

    services: frozenset[tuple[str, str]] = frozenset()
    cluster_ips: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    domain: str = "cluster.local"


def cluster_names(services: Iterable[K8sObject], namespaces: Iterable[str] = ()) -> ClusterNames:
    """The input's Services, cluster IPs and namespaces (named by a Namespace object or holding a Service)."""
    svcs, ips, spaces = set(), set(), set(namespaces)
    for s in services:
        svcs.add((s.namespace or "", s.name))
        if s.namespace:
            spaces.add(s.namespace)
        spec = s.data.get("spec") or {}
        for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]:
            if ip and ip != "None":
                ips.add(str(ip))
    return ClusterNames(frozenset(svcs), frozenset(ips), frozenset(spaces))


@functools.lru_cache(maxsize=1)
def _suffix_list():
    """The Public Suffix List bundled with ``publicsuffixlist`` (offline; ~50 ms to parse, so only
    loaded when a dotted name needs it, never for ``--help``)."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


@functools.lru_cache(maxsize=8192)
def public_suffix(host: str) -> str | None:
    """The public suffix a host ends in (``com``, ``co.uk``), or None when its last label is none:
    such a name cannot be resolved on the internet."""
    return _suffix_list().publicsuffix(host.lower().rstrip("."), accept_unknown=False)


def classify(host: str, namespace: str, names: ClusterNames) -> tuple[bool, str]:
    """(in cluster?, why) for a host a pod in ``namespace`` dials.

    Pods resolve names through the search list ``<ns>.svc.<domain> svc.<domain> <domain>`` with
    ``ndots:5`` (Kubernetes DNS for Services and Pods), so ``x.y`` is first tried as Service ``x`` of
    namespace ``y``. A name whose last label is no public suffix (``db.internal``, ``mysql.vm``)
    cannot be on the internet: it is in-cluster or a search-domain name, whatever the input holds.
    Limit: such a name served by private DNS outside Kubernetes (a cloud VPC's ``*.internal`` VM) is
    not in Istio's registry either, so under REGISTRY_ONLY it needs a ServiceEntry; it is judged
    in-cluster here, so that case goes unreported."""
    h = host.lower().rstrip(".")
    if is_ip(h):
        if h in names.cluster_ips:
            return True, "a Service's cluster IP"
        return False, "an IP address that is no Service's cluster IP in the input"
    if h.endswith(CLUSTER_SUFFIXES) or h.endswith("." + names.domain):
        return True, "a cluster DNS name (*.svc / *.cluster.local)"
    labels = h.split(".")
    if len(labels) == 1:
        if (namespace, h) in names.services:
            return True, f"Service {namespace}/{h}"
        return True, "a short name, resolved in the pod's namespace (no Service of that name in the input)"
    if len(labels) == 2 and ((labels[1], labels[0]) in names.services or labels[1] in names.namespaces
                             or labels[1] == namespace):
        return True, f"<service>.<namespace> name of namespace {labels[1]}"
    if public_suffix(h) is None:
        return True, (f"its last label {labels[-1]!r} is no public suffix: not an internet name, so an in-cluster "
                      "or search-domain name")
    if len(labels) == 2:
        return False, (f"an external DNS name (or Service {labels[0]} of a namespace {labels[1]} the input does "
                       "not show: pods try <service>.<namespace> first)")
    return False, "an external DNS name"


# -- the inventory ----------------------------------------------------------------------------------

ConfigMapLookup = Callable[[str, str], "K8sObject | None"]


def _env_values(c: dict, path: str, namespace: str, lookup: ConfigMapLookup | None) -> list[tuple[str, str, str, str]]:
    """(name, value, found_in, path) for each readable env value of one container; never Secrets."""
    out: list[tuple[str, str, str, str]] = []
    for i, e in enumerate(c.get("env") or []):
        if not isinstance(e, dict) or not e.get("name"):
            continue
        name = str(e["name"])
        if isinstance(e.get("value"), str):
            out.append((name, e["value"], f"env {name}", f"{path}/env/{i}/value"))
            continue
        ref = ((e.get("valueFrom") or {}).get("configMapKeyRef")) or {}
        if ref.get("name") and ref.get("key") and lookup is not None:
            cm = lookup(namespace, str(ref["name"]))
            value = ((cm.data.get("data") or {}).get(str(ref["key"])) if cm is not None else None)
            if isinstance(value, str):
                out.append((name, value, f"env {name} (ConfigMap {namespace}/{ref['name']} key {ref['key']})",
                            f"{path}/env/{i}/valueFrom/configMapKeyRef"))
    for i, ef in enumerate(c.get("envFrom") or []):
        ref = (ef or {}).get("configMapRef") or {}
        if ref.get("name") and lookup is not None:
            cm = lookup(namespace, str(ref["name"]))
            prefix = str((ef or {}).get("prefix") or "")
            for key, value in sorted(((cm.data.get("data") or {}) if cm is not None else {}).items()):
                if isinstance(value, str):
                    out.append((prefix + key, value, f"env {prefix}{key} (ConfigMap {namespace}/{ref['name']})",
                                f"{path}/envFrom/{i}/configMapRef"))
    return out


#: files bigger than this are not scanned (dashboards and bundles, not connection settings)
MAX_FILE_BYTES = 65536
_SETTING = re.compile(r"^\s*[\"']?(?P<key>[A-Za-z_][\w.\-]*)[\"']?\s*[:=]\s*(?P<value>.*?)[\s,]*$")


def _configmap_volumes(spec: dict) -> dict[str, list[tuple[str, dict]]]:
    """volume name -> [(ConfigMap name, {key: file path})] for configMap and projected volumes."""
    out: dict[str, list[tuple[str, dict]]] = {}
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict) or not v.get("name"):
            continue
        sources = [v.get("configMap")] + [src.get("configMap") for src in
                                          ((v.get("projected") or {}).get("sources") or []) if isinstance(src, dict)]
        for cm in sources:
            if isinstance(cm, dict) and cm.get("name"):
                items = {str(i.get("key")): str(i.get("path") or i.get("key")) for i in cm.get("items") or []
                         if isinstance(i, dict) and i.get("key")}
                out.setdefault(str(v["name"]), []).append((str(cm["name"]), items))
    return out


def referenced_configmaps(spec: dict) -> set[str]:
    """Names of the ConfigMaps a pod spec reads (env, envFrom, volumes): where the inventory looks."""
    names = {name for vol in _configmap_volumes(spec).values() for name, _ in vol}
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            for e in c.get("env") or []:
                ref = ((e or {}).get("valueFrom") or {}).get("configMapKeyRef") if isinstance(e, dict) else None
                if isinstance(ref, dict) and ref.get("name"):
                    names.add(str(ref["name"]))
            for ef in c.get("envFrom") or []:
                ref = (ef or {}).get("configMapRef") if isinstance(ef, dict) else None
                if isinstance(ref, dict) and ref.get("name"):
                    names.add(str(ref["name"]))
    return names


def _mounted_texts(c: dict, volumes: dict[str, list[tuple[str, dict]]], namespace: str,
                   lookup: ConfigMapLookup | None) -> list[tuple[str, str, int, str]]:
    """(file path in the container, ConfigMap name, volumeMount index, content) of the ConfigMap files
    the container mounts (``items`` and ``subPath`` honoured; files over MAX_FILE_BYTES left out)."""
    out: list[tuple[str, str, int, str]] = []
    if lookup is None:
        return out
    for i, m in enumerate(c.get("volumeMounts") or []):
        if not isinstance(m, dict) or str(m.get("name")) not in volumes:
            continue
        base, sub = str(m.get("mountPath") or "").rstrip("/"), str(m.get("subPath") or "")
        for cm_name, items in volumes[str(m["name"])]:
            cm = lookup(namespace, cm_name)
            data = (cm.data.get("data") if cm is not None else None) or {}
            for key, content in sorted(data.items()) if isinstance(data, dict) else ():
                file = items.get(key, key)
                if (items and key not in items) or (sub and file != sub) or not isinstance(content, str) \
                        or len(content) > MAX_FILE_BYTES:
                    continue
                out.append((base if sub else f"{base}/{file}", cm_name, i, content))
    return out


def _mounted_files(c: dict, path: str, volumes: dict[str, list[tuple[str, dict]]], namespace: str,
                   lookup: ConfigMapLookup | None) -> list[tuple[str | None, str, str, str, str]]:
    """(setting key, value, found_in, path, shown) per line of the ConfigMap files the container mounts:
    ``spring.datasource.url=jdbc:...`` in ``/etc/app/application.properties`` line 12."""
    out: list[tuple[str | None, str, str, str, str]] = []
    for where, cm_name, i, content in _mounted_texts(c, volumes, namespace, lookup):
        for n, line in enumerate(content.splitlines(), 1):
            if ("." not in line and ":" not in line) or line.lstrip().startswith(("#", ";", "//")):
                continue  # comments, and lines that cannot name a host (no dot, no colon)
            line = re.sub(r"^(\s*)- ", r"\1", line)  # a YAML list item: "- endpoint: http://..."
            kv = _SETTING.match(line)
            setting = re.sub(r"[.\-]", "_", kv.group("key")).upper() if kv else None
            value = kv.group("value").strip("\"'") if kv else line
            out.append((setting, value, f"file {where}:{n} (ConfigMap {namespace}/{cm_name})",
                        f"{path}/volumeMounts/{i}", redact_env(setting, value)))
    return out


def executed_files(wl: Workload, container: dict, ctx: Any) -> list[tuple[str, str]]:
    """(path, content) of the mounted ConfigMap files a container's command or args run
    (``sh /readonly-config/init.sh``): what the container really does at start is in them."""
    text = " ".join(str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])])
    if not text:
        return []
    files = _mounted_texts(container, _configmap_volumes(wl.pod_spec), wl.namespace or "default",
                           lambda n, name: ctx.get("ConfigMap", n, name))
    return [(where, content) for where, _, _, content in files
            if re.search(rf"(?<![\w/.-]){re.escape(where)}(?![\w/.-])", text)]


#: Istio's own init containers: never part of the app's inventory
_ISTIO_INIT = frozenset({"istio-init", "istio-validation", "enable-core-dump", "istio-proxy"})


def inventory(wl: Workload, names: ClusterNames, lookup: ConfigMapLookup | None = None,
              init: bool = False) -> list[Endpoint]:
    """Every endpoint the workload's containers mention, classified, deduplicated by (container, host, port).

    The app's containers (regular ones and native sidecars), or with ``init=True`` its run-once init
    containers (Istio's own left out): what they dial before any classic sidecar is up."""
    ns = wl.namespace or "default"
    out: list[Endpoint] = []
    seen: set[tuple] = set()
    if init:
        chosen = [(p, c) for p, c in wl.containers(init=True)
                  if c.get("restartPolicy") != "Always" and c.get("name") not in _ISTIO_INIT]
    else:
        chosen = [*wl.containers(),
                  *((p, c) for p, c in wl.containers(init=True) if c.get("restartPolicy") == "Always")]
    volumes = _configmap_volumes(wl.pod_spec)
    for path, c in chosen:
        cname = str(c.get("name") or "")
        if cname == "istio-proxy":
            continue
        envs = _env_values(c, path, ns, lookup)
        siblings = {n: v for n, v, _, _ in envs}
        items: list[tuple[str | None, str, str, str, str]] = []
        for name, value, where, p in envs:
            items.append((name, value, where, p, redact_env(name, value)))
        for field_ in ("command", "args"):
            for j, a in enumerate(c.get(field_) or []):
                if isinstance(a, str):
                    prev = (c.get(field_) or [None])[j - 1] if j else None
                    key = str(prev).lstrip("-").replace("-", "_") if isinstance(prev, str) and prev.startswith("-") \
                        else None
                    flag = a.split("=", 1)[0].lstrip("-").replace("-", "_") if a.startswith("-") and "=" in a else key
                    shown = "****" if flag and is_secret_name(flag) and "://" not in a else redact(a)
                    items.append((flag, a, f"{field_}[{j}]", f"{path}/{field_}/{j}", shown))
        if volumes:
            items += _mounted_files(c, path, volumes, ns, lookup)
        image = str(c.get("image") or "")
        if any(k in image for k in ("cloudsql-docker/gce-proxy", "cloud-sql-proxy", "cloud-sql-connectors")):
            # the Cloud SQL Auth Proxy calls the SQL Admin API, then the instance on 3307 (its IP is not in the spec)
            items.append((None, "https://sqladmin.googleapis.com", "image (Cloud SQL Auth Proxy)",
                          f"{path}/image", image))
        for key, value, where, p, shown in items:
            # the kubelet expands $(VAR) from the container's env: do the same for literal values
            value = _VAR.sub(lambda m, env=siblings: env.get(m.group(1), m.group(0)), value)
            for raw in scan_text(value, key, siblings):
                ident = (cname, raw.host, raw.port)
                if ident in seen:
                    continue
                seen.add(ident)
                inside, why = classify(raw.host, ns, names)
                out.append(Endpoint(raw.host, raw.port, raw.app, raw.tls, raw.server_first, cname, where, p, shown,
                                    inside, why, raw.scheme))
    return out


# -- outbound traffic policy ---------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundPolicy:
    """The outboundTrafficPolicy mode a workload's sidecar uses, and where it comes from."""

    mode: str  # ALLOW_ANY | REGISTRY_ONLY | ALLOW_ANY_DYNAMIC_DNS
    source: str
    sidecar: K8sObject | None = None
    gotcha: bool = False  # ``outboundTrafficPolicy: {}`` read as REGISTRY_ONLY

    @property
    def registry_only(self) -> bool:
        return self.mode == "REGISTRY_ONLY"

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source, "emptyPolicyGotcha": self.gotcha}


def _selects(sidecar: K8sObject, labels: dict) -> bool:
    sel = ((sidecar.data.get("spec") or {}).get("workloadSelector") or {}).get("labels") or {}
    return all(str(labels.get(k)) == str(v) and k in labels for k, v in sel.items())


def _has_selector(sidecar: K8sObject) -> bool:
    return bool(((sidecar.data.get("spec") or {}).get("workloadSelector") or {}).get("labels"))


def applicable_sidecar(namespace: str, labels: dict | None, sidecars: Iterable[K8sObject],
                       root: str) -> K8sObject | None:
    """The Sidecar resource that configures a workload (or, with ``labels=None``, a namespace's default)."""
    scs = sorted((s for s in sidecars if s.namespace in (namespace, root)), key=lambda s: (s.namespace or "", s.name))
    if labels is not None:
        for s in scs:
            if s.namespace == namespace and _has_selector(s) and _selects(s, labels):
                return s
    for ns in dict.fromkeys([namespace, root]):
        for s in scs:
            if s.namespace == ns and not _has_selector(s):
                return s
    return None


def root_namespace(mesh: MeshConfig) -> str:
    return str(mesh.get("rootNamespace") or "istio-system")


def sidecar_imports(sidecar: K8sObject | None) -> list[tuple[str, str]] | None:
    """The ``(namespace, dnsName)`` patterns a Sidecar's ``egress[].hosts`` import, or None when it
    sets no egress (then every ServiceEntry exported to the namespace is imported).

    ``*/x`` any namespace, ``./x`` the workload's own, ``~/*`` nothing; ``dnsName`` ``*`` or a left-most
    wildcard (istio/api networking/v1alpha3/sidecar.proto; ``.`` and ``~`` from istio.io's Sidecar
    reference). Ports of port-specific listeners are not told apart: the hosts of all listeners are
    joined (an approximation: a host imported on one port only counts for every port)."""
    egress = (sidecar.data.get("spec") or {}).get("egress") if sidecar is not None else None
    if not isinstance(egress, list) or not egress:
        return None
    out = []
    for listener in egress:
        for h in (listener or {}).get("hosts") or [] if isinstance(listener, dict) else []:
            ns, sep, dns = str(h).partition("/")
            out.append((ns, dns) if sep else ("*", ns))
    return out


def imported(se: K8sObject, namespace: str, imports: list[tuple[str, str]] | None) -> bool:
    """Does a Sidecar with these imports configure the ServiceEntry for a workload in ``namespace``?"""
    if imports is None:
        return True
    hosts = [h for h in se_spec(se).get("hosts") or [] if isinstance(h, str)]
    for ns, dns in imports:
        if ns == "~" or (ns not in ("*", se.namespace) and not (ns == "." and se.namespace == namespace)):
            continue
        if dns == "*" or any(host_matches(dns, h) or host_matches(h, dns) for h in hosts):
            return True
    return False


def outbound_policy(namespace: str, labels: dict | None, sidecars: Iterable[K8sObject],
                    mesh: MeshConfig) -> OutboundPolicy:
    root = root_namespace(mesh)
    sc = applicable_sidecar(namespace, labels, sidecars, root)
    if sc is not None:
        otp = (sc.data.get("spec") or {}).get("outboundTrafficPolicy")
        if isinstance(otp, dict):
            mode = str(otp.get("mode") or "REGISTRY_ONLY").upper()
            where = "root-namespace " if sc.namespace == root and namespace != root else ""
            gotcha = not otp.get("mode")
            note = " (outboundTrafficPolicy without mode means REGISTRY_ONLY)" if gotcha else ""
            return OutboundPolicy(mode, f"{where}Sidecar {sc.namespace}/{sc.name}{note}", sc, gotcha)
    mode = str(mesh.get("outboundTrafficPolicy.mode") or "ALLOW_ANY").upper()
    src = f"mesh config ({mesh.source})" if mesh.source != "Istio defaults" else "Istio defaults"
    return OutboundPolicy(mode, src, None)


# -- ServiceEntry coverage -------------------------------------------------------------------------


def se_spec(se: K8sObject) -> dict:
    spec = se.data.get("spec")
    return spec if isinstance(spec, dict) else {}


def export_to(obj: K8sObject, mesh: MeshConfig) -> list[str]:
    spec = se_spec(obj)
    value = spec.get("exportTo")
    if not value:
        value = mesh.get("defaultServiceExportTo") or ["*"]
    return [str(v) for v in value]


def visible_to(obj: K8sObject, namespace: str, mesh: MeshConfig) -> bool:
    """Does a ServiceEntry's ``exportTo`` make it visible to pods of ``namespace``?"""
    targets = export_to(obj, mesh)
    if "~" in targets and len(targets) == 1:
        return False
    return "*" in targets or namespace in targets or ("." in targets and obj.namespace == namespace)


def host_matches(pattern: str, host: str) -> bool:
    """ServiceEntry host matching: exact (case-insensitive) or a ``*.suffix`` wildcard by suffix
    (whether ``*.x`` also matches ``a.b.x`` is source-derived, UNCONFIRMED by experiment)."""
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*"):
        return h.endswith(p[1:]) and h != p[2:]
    return p == h


def address_matches(addresses: Iterable[str], ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for a in addresses:
        try:
            if addr in ipaddress.ip_network(str(a), strict=False):
                return True
        except ValueError:
            continue
    return False


def se_ports(se: K8sObject) -> list[dict]:
    return [p for p in se_spec(se).get("ports") or [] if isinstance(p, dict)]


def se_port_protocol(port: dict) -> Protocol:
    """A ServiceEntry port's protocol (empty = sniffed), parsed like a port name (case-insensitive)."""
    return parse_protocol(str(port.get("protocol") or ""))


@dataclass(frozen=True)
class Coverage:
    """Which visible ServiceEntry covers an endpoint, and how (``host``, ``address``)."""

    entry: K8sObject | None
    how: str = ""
    port_missing: bool = False  # host/address matched but no port of that number
    hidden_by: K8sObject | None = None  # the entry would cover it, but this Sidecar does not import it
    #: why an entry that would cover it may exist unseen (ServiceEntries that could not be read)
    unknown: tuple[str, ...] = ()

    @property
    def covered(self) -> bool:
        return self.entry is not None and not self.port_missing and self.hidden_by is None


def coverage(ep: Endpoint, namespace: str, entries: Iterable[K8sObject], mesh: MeshConfig) -> Coverage:
    """The first ServiceEntry (by namespace and name) visible to ``namespace`` that covers the endpoint."""
    return covering(EntryIndex([se for se in sorted(entries, key=lambda s: (s.namespace or "", s.name))
                                if visible_to(se, namespace, mesh)]), ep)


class EntryIndex:
    """Visible ServiceEntries, sorted, with their exact hosts indexed: an endpoint is only checked
    against entries naming its host, wildcard hosts, or addresses (10,000 workloads x 200 entries)."""

    def __init__(self, entries: list[K8sObject], memo: dict | None = None) -> None:
        self.entries = entries
        self._exact: dict[str, list[int]] = {}
        self._always: list[int] = []
        memo = {} if memo is None else memo
        for i, se in enumerate(entries):
            hosts, always = _of_entry(memo, ("index", se.ref), se, lambda se=se: _index_keys(se))
            if always:
                self._always.append(i)
            for h in hosts:
                self._exact.setdefault(h, []).append(i)

    def candidates(self, host: str) -> list[K8sObject]:
        found = self._exact.get(host.lower().rstrip("."), [])
        picks = sorted({*found, *self._always}) if self._always and found else (found or self._always)
        return [self.entries[i] for i in picks]


def _index_keys(se: K8sObject) -> tuple[list[str], bool]:
    """An entry's exact hosts, and whether it must be checked for every endpoint (wildcards, addresses)."""
    spec = se_spec(se)
    hosts = [h.lower().rstrip(".") for h in spec.get("hosts") or [] if isinstance(h, str)]
    return hosts, bool(spec.get("addresses")) or any(h.startswith("*") for h in hosts)


class PatchedIndex(EntryIndex):
    """An :class:`EntryIndex` as a fix being re-checked leaves it: some entries replaced or added."""

    def __init__(self, base: EntryIndex, removed: set[tuple[str, str, str]], added: list[K8sObject]) -> None:
        self.base, self.removed, self.added = base, removed, [(se, _index_keys(se)) for se in added]

    def candidates(self, host: str) -> list[K8sObject]:
        found = [e for e in self.base.candidates(host) if e.ref.key not in self.removed]
        h = host.lower().rstrip(".")
        extra = [se for se, (hosts, always) in self.added if always or h in hosts]
        return sorted(found + extra, key=lambda s: (s.namespace or "", s.name)) if extra else found


def covering(index: EntryIndex, ep: Endpoint) -> Coverage:
    """:func:`coverage` over an :class:`EntryIndex` of the entries already visible (the per-run path)."""
    partial: K8sObject | None = None
    for se in index.candidates(ep.host):
        spec = se_spec(se)
        how = ""
        if ep.is_ip and address_matches(spec.get("addresses") or [], ep.host):
            how = "address"
        elif any(isinstance(h, str) and host_matches(h, ep.host) for h in spec.get("hosts") or []):
            how = "host"
        if not how:
            continue
        numbers = {p.get("number") for p in se_ports(se)}
        if ep.port is None or ep.port in numbers:
            return Coverage(se, how)
        partial = partial or se
    return Coverage(partial, "host", True) if partial is not None else Coverage(None)


# -- DNS capture and address auto-allocation (§C7) ----------------------------------------------------

AUTOALLOCATE_OPT_OUT = "networking.istio.io/enable-autoallocate-ip"


def auto_allocated(se: K8sObject, mesh: MeshConfig, istiod_allocates: bool) -> bool:
    """Do sidecars reach this address-less ServiceEntry through an auto-allocated VIP, so its TCP ports
    are no ``0.0.0.0:<port>`` listener taking every connection on the port?

    Sidecars use auto-allocated IPs only with DNS capture on (``ISTIO_META_DNS_CAPTURE``;
    ``nodeUsesAutoallocatedIPs``). Then the agent's v1 allocation (``ISTIO_META_DNS_AUTO_ALLOCATE``)
    gives every such entry one, as istioctl's IST0134 reads it; istiod's v2 allocator
    (``istiod_allocates``: PILOT_ENABLE_IP_AUTOALLOCATE, default on since 1.25) does too, except for
    ``resolution: NONE``, wildcard hosts and entries labelled
    ``networking.istio.io/enable-autoallocate-ip: "false"`` (reference/istio-facts.md §C7). Whether the
    agent's v1 allocation also skips NONE/wildcards is UNCONFIRMED (taken as IST0134 does: it does not)."""
    spec = se_spec(se)
    if spec.get("addresses"):
        return False
    meta = mesh.get("defaultConfig.proxyMetadata") or {}
    if str(meta.get("ISTIO_META_DNS_CAPTURE")).lower() != "true":
        return False
    if str(meta.get("ISTIO_META_DNS_AUTO_ALLOCATE")).lower() == "true":
        return True
    hosts = [h for h in spec.get("hosts") or [] if isinstance(h, str)]
    if str(spec.get("resolution") or "NONE").upper() == "NONE" or any("*" in h for h in hosts) \
            or str(se.labels.get(AUTOALLOCATE_OPT_OUT)).lower() == "false":
        return False
    return istiod_allocates


# -- what else listens on the port ------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    """Another mesh service whose outbound listener on ``0.0.0.0:<port>`` takes this traffic."""

    ref: Any  # ObjectRef
    port: int
    how: str  # "HTTP" (routed by Host) | "TCP" (every connection on the port)

    def to_json(self) -> dict[str, Any]:
        return {"object": self.ref.display(), "port": self.port, "listener": self.how}


def wildcard_listeners(services: Iterable[K8sObject], entries: Iterable[K8sObject],
                       has_vip: Callable[[K8sObject], bool] | None = None) -> dict[int, list[Capture]]:
    """port -> the Services / ServiceEntries that make sidecars listen on ``0.0.0.0:<port>`` (A6):
    explicit HTTP ports of any Service; TCP/sniffed ports without a VIP (headless, ExternalName,
    ServiceEntries without ``addresses`` unless ``has_vip`` says sidecars use an auto-allocated one).
    UDP ports are not proxied."""
    out: dict[int, list[Capture]] = {}
    for svc in services:
        spec = svc.data.get("spec") or {}
        no_vip = spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None"
        for p in spec.get("ports") or []:
            if not isinstance(p, dict) or not isinstance(p.get("port"), int):
                continue
            proto = service_port_protocol(p).protocol
            if proto in HTTP_FAMILY:
                out.setdefault(p["port"], []).append(Capture(svc.ref, p["port"], "HTTP"))
            elif no_vip and proto not in (Protocol.UDP, Protocol.HTTPS, Protocol.TLS):
                out.setdefault(p["port"], []).append(Capture(svc.ref, p["port"], "TCP"))
    for se in entries:
        spec = se_spec(se)
        for p in se_ports(se):
            if not isinstance(p.get("number"), int):
                continue
            proto = se_port_protocol(p)
            if proto in HTTP_FAMILY:
                out.setdefault(p["number"], []).append(Capture(se.ref, p["number"], "HTTP"))
            elif not spec.get("addresses") and proto not in (Protocol.UDP, Protocol.HTTPS, Protocol.TLS) \
                    and not (has_vip is not None and has_vip(se)):
                out.setdefault(p["number"], []).append(Capture(se.ref, p["number"], "TCP"))
    return out


# -- generated ServiceEntries -----------------------------------------------------------------------

_NAME_BAD = re.compile(r"[^a-z0-9\-]+")


def _dns_label(text: str, limit: int = 63) -> str:
    return _NAME_BAD.sub("-", text.lower()).strip("-")[:limit].rstrip("-") or "x"


def port_name(protocol: Protocol, port: int) -> str:
    """``<protocol>-<number>``: Istio's naming convention, a valid DNS-1123 label."""
    return f"{protocol.value.lower()}-{port}"


def generated_service_entry(eps: list[Endpoint], namespace: str, name_hint: str) -> dict:
    """A ServiceEntry that covers endpoints of one host (same host, several ports merge).

    Names: ``resolution: DNS`` with the host itself; an IP gets a made-up host
    ``<ip-dashed>.external.invalid`` (hosts may not be IPs), ``addresses: [<ip>/32]`` and
    ``resolution: NONE`` (traffic goes to the original IP). Ports: TLS/HTTPS for TLS-first
    protocols, HTTP only for plain HTTP, TCP for the rest. ``exportTo: ["."]`` so it does not
    change other namespaces."""
    host = eps[0].host
    ports: dict[int, dict] = {}
    for ep in eps:
        if ep.port is None or ep.port in ports:
            continue
        ports[ep.port] = {"number": ep.port, "name": port_name(ep.protocol, ep.port), "protocol": ep.protocol.value}
    spec: dict[str, Any] = {}
    if is_ip(host):
        suffix = "/128" if ":" in host else "/32"
        spec["hosts"] = [f"{_dns_label(host.replace(':', '-').replace('.', '-'))}.external.invalid"]
        spec["addresses"] = [host + suffix]
        spec["location"] = "MESH_EXTERNAL"
        spec["resolution"] = "NONE"
    else:
        spec["hosts"] = [host]
        spec["location"] = "MESH_EXTERNAL"
        spec["resolution"] = "DNS"
    spec["ports"] = [ports[k] for k in sorted(ports)]
    spec["exportTo"] = ["."]
    name = _dns_label(f"{name_hint}-{host.replace('.', '-').replace(':', '-')}", 63)
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


# -- capture annotations (C6) -----------------------------------------------------------------------

#: pod annotations whose CIDR lists the injector parses with netip.ParsePrefix, split on "," untrimmed
CIDR_ANNOTATIONS = ("traffic.sidecar.istio.io/includeOutboundIPRanges",
                    "traffic.sidecar.istio.io/excludeOutboundIPRanges")


def cidr_list_problem(value: str) -> tuple[str, str] | None:
    """(problem, corrected value) for a CIDR-list annotation the injector would reject, else None.

    ``*`` and ``""`` are valid; every item must carry a prefix length and no spaces (the list is
    split on ``,`` without trimming). The correction adds ``/32`` (``/128``) and drops spaces."""
    if value.strip() in ("*", ""):
        return None
    problems, fixed = [], []
    for item in value.split(","):
        bare = item.strip()
        if bare != item:
            problems.append(f"{item!r} has spaces")
        try:
            if "/" in bare:
                ipaddress.ip_network(bare, strict=False)
                fixed.append(bare)
            else:
                addr = ipaddress.ip_address(bare)
                problems.append(f"{bare!r} has no prefix length")
                fixed.append(f"{bare}/{'128' if addr.version == 6 else '32'}")
        except ValueError:
            problems.append(f"{bare!r} is not a CIDR")
            fixed.append(bare)
    if not problems:
        return None
    return "; ".join(problems), ",".join(f for f in fixed if f)


# -- one workload's egress, judged -----------------------------------------------------------------


# -- egress gateways ---------------------------------------------------------------------------------


def _egress_gateway_host(host: str, services: dict[tuple[str, str], K8sObject], namespace: str) -> bool:
    """Is a route destination an egress gateway (a Service selecting ``istio: egressgateway`` pods, or
    one named like Istio's ``istio-egressgateway``)?"""
    short, _, rest = host.partition(".")
    ns = rest.split(".", 1)[0] if rest else namespace
    svc = services.get((ns, short))
    selector = ((svc.data.get("spec") or {}).get("selector") or {}) if svc is not None else {}
    return selector.get("istio") == "egressgateway" or "egressgateway" in short


def gateway_route(ep: Endpoint, namespace: str, virtual_services: Iterable[K8sObject],
                  services: dict[tuple[str, str], K8sObject], mesh: MeshConfig) -> tuple[K8sObject, str] | None:
    """(VirtualService, gateway host) when sidecars send this endpoint's traffic to an egress gateway.

    The pattern of istio.io's Egress Gateways task: a VirtualService for the external host bound to
    ``mesh`` (and the gateway), whose routes matching ``gateways: [mesh]`` (and the port) go to the
    egress gateway's Service (https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/)."""
    for vs in virtual_services:
        spec = vs.data.get("spec") if isinstance(vs.data.get("spec"), dict) else {}
        gateways = spec.get("gateways") or ["mesh"]
        if "mesh" not in gateways or not visible_to(vs, namespace, mesh):
            continue
        if not any(isinstance(h, str) and host_matches(h, ep.host) for h in spec.get("hosts") or []):
            continue
        for kind in ("http", "tls", "tcp"):
            for r in spec.get(kind) or []:
                if not isinstance(r, dict):
                    continue
                matches = [m for m in r.get("match") or [{}] if isinstance(m, dict)]
                if not any(("mesh" in (m.get("gateways") or gateways)) and m.get("port") in (None, ep.port)
                           for m in matches):
                    continue
                for dest in r.get("route") or []:
                    host = str(((dest or {}).get("destination") or {}).get("host") or "")
                    if host and _egress_gateway_host(host, services, vs.namespace or namespace):
                        return vs, host
    return None


@dataclass(frozen=True)
class Judged:
    """An endpoint with what covers it, what else listens on its port, and the egress gateway (with the
    VirtualService sending it there) when there is one."""

    endpoint: Endpoint
    coverage: Coverage
    captures: tuple[Capture, ...] = ()
    gateway: tuple[K8sObject, str] | None = None

    def fate(self, policy: OutboundPolicy) -> str:
        """What Istio will do with the connection (§A6, §C1, §C4)."""
        ep = self.endpoint
        if ep.in_cluster:
            return "in-cluster"
        if self.coverage.covered and self.coverage.entry is not None:
            if self.gateway is not None:
                vs, host = self.gateway
                return f"routed via egress gateway {host.split('.')[0]} (VirtualService {vs.namespace}/{vs.name})"
            return f"routed (ServiceEntry {self.coverage.entry.namespace}/{self.coverage.entry.name})"
        if self.coverage.hidden_by is not None and policy.registry_only:
            return (f"{'502' if ep.protocol is Protocol.HTTP else 'blackhole'}: Sidecar "
                    f"{self.coverage.hidden_by.namespace}/{self.coverage.hidden_by.name} does not import the entry")
        tcp = [c for c in self.captures if c.how == "TCP"]
        if tcp:
            return f"captured by {tcp[0].ref.display()} (0.0.0.0:{tcp[0].port})"
        if ep.server_first and self.captures:
            return f"hangs: HTTP listener of {self.captures[0].ref.display()} waits for client bytes"
        if policy.registry_only:
            if ep.protocol is Protocol.HTTP:
                return "502 (REGISTRY_ONLY)"
            return "blackhole: connection reset (REGISTRY_ONLY)"
        return "passthrough (no mesh features)"

    def to_json(self, policy: OutboundPolicy) -> dict[str, Any]:
        cov = self.coverage.entry
        return {**self.endpoint.to_json(),
                "coveredBy": f"{cov.namespace}/{cov.name}" if cov is not None and self.coverage.covered else None,
                "portMissingIn": f"{cov.namespace}/{cov.name}" if cov is not None and self.coverage.port_missing
                else None,
                "notImportedBy": (f"{self.coverage.hidden_by.namespace}/{self.coverage.hidden_by.name}"
                                  if self.coverage.hidden_by is not None else None),
                "capturedBy": [c.to_json() for c in self.captures],
                "coverageUnknown": list(self.coverage.unknown) or None,
                "egressGateway": self.gateway[1] if self.gateway else None,
                "routedBy": f"{self.gateway[0].namespace}/{self.gateway[0].name}" if self.gateway else None,
                "fate": self.fate(policy)}


@dataclass(frozen=True)
class WorkloadEgress:
    policy: OutboundPolicy
    judged: tuple[Judged, ...]
    sidecar: K8sObject | None = None  # the Sidecar resource that configures the workload, if any

    @property
    def uncovered_external(self) -> list[Judged]:
        return [j for j in self.judged if not j.endpoint.in_cluster and not j.coverage.covered]


def _merged(a: dict[int, list[Capture]], b: dict[int, list[Capture]]) -> dict[int, list[Capture]]:
    out = {k: list(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, []).extend(v)
    return out


def _of_entry(memo: dict, key: tuple, se: K8sObject, compute: Callable[[], Any]) -> Any:
    """A fact about one ServiceEntry, memoised by the identity of its content: re-checking a fix that
    creates (or patches) one entry recomputes that entry's facts, not all of them. The memo holds the
    content it was computed from, so an identity can never be reused by another object."""
    hit = memo.get(key)
    if hit is None or hit[0] is not se.data:
        hit = memo[key] = (se.data, compute())
    return hit[1]


def _entry_listeners(entries: list[K8sObject], memo: dict,
                     has_vip: Callable[[K8sObject], bool] | None = None) -> dict[int, list[Capture]]:
    """wildcard_listeners of the entries, each entry's part memoised (:func:`_of_entry`)."""
    out: dict[int, list[Capture]] = {}
    for se in entries:
        part = _of_entry(memo, ("listeners", se.ref), se, lambda se=se: wildcard_listeners([], [se], has_vip))
        for port, caps in part.items():
            out.setdefault(port, []).extend(caps)
    return out


def egress_of(wl: Workload, ctx: Any) -> WorkloadEgress:
    """A workload's egress from a rule's or a view's Context (its ``objects``, ``get``, ``mesh_config``
    and ``cached``): outbound policy, endpoints, coverage, captures. Memoised per run."""
    return ctx.cached(("egress.of", wl.ref, wl.template_path), lambda: _egress_of(wl, ctx))


def _entry_facts(ctx: Any, ns: str, services: list[K8sObject], sidecar: K8sObject | None,
                 imports: list[tuple[str, str]] | None) -> tuple[EntryIndex, EntryIndex, dict[int, list[Capture]]]:
    """What the namespace's sidecars see of the ServiceEntries: the visible ones (indexed), those the
    workload's Sidecar imports, and the ``0.0.0.0:<port>`` listeners. Built once per namespace from the
    input; while a fix that creates or patches entries is re-checked, updated for those entries only."""
    base, mesh = ctx.base(), ctx.mesh_config
    per_entry = base.cached(("egress.per-entry",), dict)
    entries = base.cached(("egress.entries",), lambda: sorted(base.objects("ServiceEntry"),
                                                             key=lambda s: (s.namespace or "", s.name)))
    visible = base.cached(("egress.visible", ns), lambda: [se for se in entries if visible_to(se, ns, mesh)])
    vindex = base.cached(("egress.visible.index", ns), lambda: EntryIndex(visible, per_entry))
    delta = ctx.changes("ServiceEntry")
    removed, changed = delta or (set(), [])
    added = [se for se in changed if visible_to(se, ns, mesh)]
    if delta is not None:
        vindex = PatchedIndex(vindex, removed, added)
    if imports is None or sidecar is None:
        seen = vindex
    elif base.get("Sidecar", sidecar.namespace, sidecar.name) is sidecar:  # the input's Sidecar
        seen = base.cached(("egress.imported", ns, sidecar.ref),
                           lambda: EntryIndex([se for se in visible if imported(se, ns, imports)], per_entry))
        if delta is not None:
            seen = PatchedIndex(seen, removed, [se for se in added if imported(se, ns, imports)])
    else:  # the fix changes the Sidecar itself: rebuilt from the entries as the fix leaves them
        seen = EntryIndex([se for se in _patched(visible, delta, ns, mesh) if imported(se, ns, imports)])
    by_services = ctx.cached(("egress.listeners.services",), lambda: wildcard_listeners(services, []),
                             kinds={"Service"})
    settings = ctx.injector_settings
    has_vip = functools.partial(auto_allocated, mesh=mesh, istiod_allocates=settings.istiod_allocates_ips)
    if delta is None and "Service" not in ctx.changed_kinds():
        listeners = base.cached(("egress.listeners", ns), lambda: _merged(
            by_services, _entry_listeners(visible, per_entry, has_vip)))
    else:
        of_entries = {port: [c for c in caps if c.ref.key not in removed]
                      for port, caps in _entry_listeners(visible, per_entry, has_vip).items()}
        listeners = _merged(by_services, _merged(of_entries, wildcard_listeners([], added, has_vip)))
    return vindex, seen, listeners


def _patched(visible: list[K8sObject], delta, ns: str, mesh: MeshConfig) -> list[K8sObject]:
    """The visible entries as a fix being re-checked leaves them, in order."""
    if delta is None:
        return visible
    removed, changed = delta
    kept = [se for se in visible if se.ref.key not in removed]
    return sorted(kept + [se for se in changed if visible_to(se, ns, mesh)], key=lambda s: (s.namespace or "", s.name))


def _services(ctx: Any) -> list[K8sObject]:
    # looked up once per run, not per workload (10,000 workloads x 10,000 Services otherwise)
    return ctx.cached(("egress.services",), lambda: ctx.objects("Service"), kinds={"Service"})


def _names(ctx: Any) -> ClusterNames:
    """What the input knows of in-cluster names; namespaces from Namespace objects, and from those
    holding Services or workloads (they exist)."""
    return ctx.cached(("egress.names",), lambda: cluster_names(
        _services(ctx), [n.name for n in ctx.objects("Namespace")] + [w.namespace for w in ctx.workloads()
                                                                     if w.namespace]),
        kinds={"Service", "Namespace"})


def init_endpoints(wl: Workload, ctx: Any) -> list[Endpoint]:
    """The endpoints a workload's run-once init containers name (env, args, mounted config), classified
    as the app's are: the same inventory, so startup and egress never disagree on what a pod dials."""
    return ctx.cached(("egress.inventory.init", wl.ref, wl.template_path),
                      lambda: inventory(wl, _names(ctx), lambda n, name: ctx.get("ConfigMap", n, name), init=True),
                      kinds={wl.obj.kind, "Service", "Namespace", "ConfigMap"})


def _egress_of(wl: Workload, ctx: Any) -> WorkloadEgress:
    ns = wl.namespace or "default"
    services = _services(ctx)
    names = _names(ctx)
    sidecars = ctx.cached(("egress.sidecars",), lambda: ctx.objects("Sidecar"), kinds={"Sidecar"})
    virtual_services = ctx.cached(("egress.vs",), lambda: sorted(ctx.objects("VirtualService"),
                                                                 key=lambda v: (v.namespace or "", v.name)),
                                  kinds={"VirtualService"})
    by_key = ctx.cached(("egress.services.by_key",), lambda: {(s.namespace or "", s.name): s for s in services},
                        kinds={"Service"})
    policy = outbound_policy(ns, wl.pod_labels, sidecars, ctx.mesh_config)
    sidecar = applicable_sidecar(ns, wl.pod_labels, sidecars, root_namespace(ctx.mesh_config))
    imports = sidecar_imports(sidecar)
    visible_index, seen, listeners = _entry_facts(ctx, ns, services, sidecar, imports)
    judged = []
    # what the workload names does not depend on ServiceEntries or Sidecars: kept while their fixes are re-checked
    endpoints = ctx.cached(("egress.inventory", wl.ref, wl.template_path),
                           lambda: inventory(wl, names, lambda n, name: ctx.get("ConfigMap", n, name)),
                           kinds={wl.obj.kind, "Service", "Namespace", "ConfigMap"})
    for ep in endpoints:
        cov = Coverage(None) if ep.in_cluster else covering(seen, ep)
        if not cov.covered and seen is not visible_index:
            full = covering(visible_index, ep)
            if full.covered:
                cov = Coverage(full.entry, full.how, hidden_by=sidecar)
        if not ep.in_cluster and not cov.covered:
            unknown = ctx.unknown("ServiceEntry", ns)
            if unknown:  # judged on what could be read; the entry that covers it may be among the rest
                cov = dataclasses.replace(cov, unknown=tuple(unknown))
        caps: tuple[Capture, ...] = ()
        if not ep.in_cluster and not cov.covered and ep.port is not None:
            caps = tuple(c for c in listeners.get(ep.port, []) if c.how == "TCP" or ep.server_first)
        gw = gateway_route(ep, ns, virtual_services, by_key, ctx.mesh_config) if cov.covered and virtual_services \
            else None
        judged.append(Judged(ep, cov, caps, gw))
    return WorkloadEgress(policy, tuple(judged), sidecar)
