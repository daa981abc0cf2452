"""What the application behind a port speaks: evidence from names, port numbers and images.

Istio decides the protocol from the Service alone; whether that decision fits depends on what the
app really speaks. These are the clues the ports rules weigh. ``strong`` evidence (a container
port named after its protocol, an image of a known server on its default port) makes a fix safe;
a bare port number makes it unsafe (the user must confirm).

Server-first protocols, where the server sends the first bytes so Istio's sniffing waits forever
(protocolDetectionTimeout 0s since Istio 1.8; istio.io protocol-selection "Server first
protocols"): MySQL/MariaDB (server greeting), SMTP (220 banner), NATS (server INFO), FTP, POP3 and
IMAP (greetings). PostgreSQL, Redis, MongoDB, AMQP and Kafka are client-first (the client sends
the startup/handshake), so sniffing classifies them as TCP without hanging; they are better
declared ``tcp`` but do not hang.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .protocol import Protocol, parse_protocol

SERVER_FIRST_PORTS = {3306: "MySQL", 25: "SMTP", 587: "SMTP", 2525: "SMTP", 1025: "SMTP", 4222: "NATS",
                      21: "FTP", 110: "POP3", 143: "IMAP"}
SERVER_FIRST_IMAGES = {
    "mysql": "MySQL", "mariadb": "MySQL", "percona": "MySQL", "postfix": "SMTP", "mailhog": "SMTP",
    "mailpit": "SMTP", "exim": "SMTP", "nats": "NATS", "vsftpd": "FTP", "dovecot": "IMAP",
}
CLIENT_FIRST_TCP_IMAGES = {
    "postgres": "PostgreSQL", "postgresql": "PostgreSQL", "redis": "Redis", "valkey": "Redis",
    "mongo": "MongoDB", "mongodb": "MongoDB", "rabbitmq": "AMQP", "kafka": "Kafka",
    "zookeeper": "ZooKeeper", "memcached": "Memcached", "cassandra": "Cassandra",
}
CLIENT_FIRST_TCP_PORTS = {5432: "PostgreSQL", 6379: "Redis", 27017: "MongoDB", 5672: "AMQP",
                          9092: "Kafka", 2181: "ZooKeeper", 11211: "Memcached", 9042: "Cassandra"}
GRPC_PORTS = {50051: "gRPC", 4317: "OTLP/gRPC", 9090: ""}
TLS_PORTS = {443, 8443, 6443, 9443}
_TLS_ARG = re.compile(r"(--tls-cert-file|--tls-private-key-file|--secure-port|--ssl-cert|--tls-cert\b|--certfile)")


@dataclass(frozen=True)
class Hint:
    """A guess at the app's protocol: what, how sure, and the clue it rests on."""

    protocol: Protocol
    app: str  # "MySQL", "gRPC", "TLS", "HTTP"...
    evidence: str
    strong: bool
    server_first: bool = False


def image_base(image: str | None) -> str:
    """``docker.io/bitnami/mysql:8.0@sha256:..`` -> ``mysql``."""
    if not image:
        return ""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def _image_match(image: str | None, table: dict[str, str]) -> str | None:
    base = image_base(image)
    for key, app in table.items():
        if base == key or base.startswith(key + "-") or base.endswith("-" + key):
            return app
    return None


def _tokens(name: str | None) -> list[str]:
    return [t for t in re.split(r"[-_.]", (name or "").lower()) if t]


def effective_target_port(port: dict):
    """``targetPort`` as the API server stores it: missing, 0 or "" become ``port``."""
    target = port.get("targetPort")
    return port.get("port") if target in (None, 0, "", "0") else target


def resolve_target_port(port: dict, containers: list[dict]) -> tuple[int | None, dict | None, dict | None]:
    """(container port number, container, container port entry) a Service port reaches.

    ``targetPort`` may be a number, a name of a container port, or absent, ``0`` or ``""``, which the
    API server defaults to ``port``. A named targetPort that no container declares resolves to
    nothing (kube-proxy drops it).
    """
    target = effective_target_port(port)
    if isinstance(target, str) and not target.isdigit():
        for c in containers:
            for cp in c.get("ports") or []:
                if isinstance(cp, dict) and cp.get("name") == target:
                    return cp.get("containerPort"), c, cp
        return None, None, None
    try:
        number = int(target) if target is not None else None
    except (TypeError, ValueError):
        return None, None, None
    for c in containers:
        for cp in c.get("ports") or []:
            if isinstance(cp, dict) and cp.get("containerPort") == number:
                return number, c, cp
    if len(containers) == 1:
        return number, containers[0], None
    return number, None, None


def hints(port: dict, container: dict | None, container_port: dict | None, number: int | None) -> list[Hint]:
    """Every clue about what the app behind this Service port speaks, strongest first."""
    out: list[Hint] = []
    cp_name = (container_port or {}).get("name")
    image = (container or {}).get("image")
    # 1. the container port's own name is the app author's statement: it outranks every guess
    named = parse_protocol(cp_name)
    if named not in (Protocol.UNSUPPORTED, Protocol.UDP):
        return [Hint(named, named.value, f"container port is named {cp_name!r}", True, named is Protocol.MYSQL)]
    # 2. protocol words anywhere in the names (otlp-grpc, metrics-http, web-tls)
    for label, text in (("container port", cp_name), ("Service port", port.get("name"))):
        toks = _tokens(text)
        if "grpc" in toks and toks[0] != "grpc":
            out.append(Hint(Protocol.GRPC, "gRPC", f"{label} name {text!r} mentions grpc", True))
        if ("https" in toks or "tls" in toks) and toks[0] not in ("https", "tls"):
            out.append(Hint(Protocol.TLS, "TLS", f"{label} name {text!r} mentions TLS", True))
    # 3. well-known servers by image, on their own port (a mail server's web UI is not SMTP); on an
    #    unknown or only port they are a weak clue
    declared = len((container or {}).get("ports") or [])
    for table, first in ((SERVER_FIRST_IMAGES, True), (CLIENT_FIRST_TCP_IMAGES, False)):
        app = _image_match(image, table)
        if not app:
            continue
        own = SERVER_FIRST_PORTS if first else CLIENT_FIRST_TCP_PORTS
        on_own_port = own.get(number) == app
        if on_own_port or number is None or declared <= 1:
            out.append(Hint(Protocol.TCP, app, f"image {image_base(image)!r}", on_own_port, first))
    # 4. TLS configuration on the container
    c = container or {}
    args = " ".join(str(a) for a in [*(c.get("command") or []), *(c.get("args") or [])])
    if _TLS_ARG.search(args):
        out.append(Hint(Protocol.TLS, "TLS", "container arguments configure a TLS certificate", False))
    # 5. bare port numbers: weak clues
    for n, label in ((number, "container port"), (port.get("port"), "Service port")):
        if not isinstance(n, int):
            continue
        if n in SERVER_FIRST_PORTS:
            app = SERVER_FIRST_PORTS[n]
            out.append(Hint(Protocol.TCP, app, f"{label} {n} is {app}'s", False, True))
        elif n in CLIENT_FIRST_TCP_PORTS:
            app = CLIENT_FIRST_TCP_PORTS[n]
            out.append(Hint(Protocol.TCP, app, f"{label} {n} is {app}'s", False))
        elif n in TLS_PORTS:
            out.append(Hint(Protocol.TLS, "TLS", f"{label} {n} is a TLS port by convention", False))
        elif n in (50051, 4317):
            out.append(Hint(Protocol.GRPC, GRPC_PORTS[n], f"{label} {n} is {GRPC_PORTS[n]}'s", False))
    return out


def best(hs: list[Hint]) -> Hint | None:
    strong = [h for h in hs if h.strong]
    return (strong or hs or [None])[0]
