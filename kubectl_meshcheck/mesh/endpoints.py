"""Endpoints: what a workload's containers connect to, and whether each host is in the cluster.

The inventory reads container env literals, ``valueFrom.configMapKeyRef`` / ``envFrom.configMapRef``,
the lines of ConfigMap files the container mounts (``configMap`` and ``projected`` volumes, ``items``
and ``subPath`` honoured; only when the ConfigMap is in the input: a live run reads no application
ConfigMaps), ``args`` and ``command``. Values from Secrets are never read. Every text kept here is
redacted (``redact.py``).
Recognised: URLs of any network scheme, JDBC, ``host:port`` (also Kafka-style lists), bare IPs and
hostnames in ``*_HOST``-style variables (with a sibling ``*_PORT``), Cloud SQL instance strings.
Host classes (in-cluster or external): :func:`classify`, the one place that decides.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..model import K8sObject, Workload
from ..redact import is_secret_name, redact, redact_env
from .protocol import Protocol

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
    """An IPv4 or IPv6 address (brackets allowed), not a name."""
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


def executed_files(wl: Workload, container: dict, lookup: ConfigMapLookup) -> list[tuple[str, str]]:
    """(path, content) of the mounted ConfigMap files a container's command or args run
    (``sh /readonly-config/init.sh``): what the container really does at start is in them."""
    text = " ".join(str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])])
    if not text:
        return []
    files = _mounted_texts(container, _configmap_volumes(wl.pod_spec), wl.namespace or "default", lookup)
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
