"""A declared protocol the app behind the port does not speak: TLS (MC104), server-first (MC105),
gRPC (MC107) or a database's own wire protocol (MC110) behind an HTTP or sniffed port.
"""

from __future__ import annotations

from kubectl_meshcheck import Applicability, Diagnostic, FixAvailability, Protocol, Severity, Topic, rule

from .common import (
    HTTP_FAMILY,
    TCP_FAMILY,
    _best,
    _hints,
    _http_ports_behind,
    _istio_owned,
    _keyword,
    _port_args,
    _port_label,
    _ports,
    _protocol_fixes,
    _server_first,
    _set_app_protocol,
)


@rule(code="MC104", name="tls-port-declared-http", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a TLS port is declared http/http2/grpc, so TLS bytes meet an HTTP parser",
      targets={"Service"}, reads={"Workload"}, fix=FixAvailability.ALWAYS)
def tls_port_declared_http(svc, ctx):
    """What it checks: a Service port declared ``http``, ``http2``, ``grpc`` or ``grpc-web`` (by name or
    appProtocol) whose app serves TLS: the container port is named ``https``/``tls`` (or mentions
    it), the container is started with a TLS certificate, or the port number is a TLS convention
    (443, 8443, 6443, 9443; weaker evidence).

    What Istio does: an HTTP-declared port goes through Envoy's HTTP connection manager. Clients
    that speak TLS to it are parsed as HTTP and fail ("tls: first record does not look like a TLS
    handshake", 400/404 from Envoy). Because explicit HTTP ports share one ``0.0.0.0:<port>``
    outbound listener, an HTTP declaration on 443 also routes every meshed pod's outgoing HTTPS on
    443 through an HTTP listener (istio/istio#47088).

    Example: ``{name: http, port: 443, targetPort: 8443}`` in front of a server with
    ``--tls-cert-file``.

    Fixes: ``appProtocol: https`` (or ``tls`` off 443): opaque TLS, routed by IP:port or SNI (safe
    when the container port's name or arguments show TLS; unsafe when only the number does).

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/ ;
    https://istio.io/latest/docs/ops/configuration/traffic-management/traffic-routing/ ;
    kubernetes-sigs/metrics-server#1540.
    """
    for i, port, verdict, hint in _http_ports_behind(svc, ctx, lambda hs: _best(hs, {Protocol.TLS, Protocol.HTTPS})):
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is declared {verdict.protocol.value} ({verdict.reason.value} "
                     f"{verdict.source!r}) but the app serves TLS ({hint.evidence}); TLS clients are fed to Envoy's "
                     "HTTP parser and fail"),
            args={**_port_args(port, verdict), "evidence": hint.evidence},
            fixes=(_set_app_protocol(
                svc, i, port, _keyword(hint, port),
                f"Set appProtocol: {_keyword(hint, port)} on port {_port_label(port)}",
                Applicability.SAFE if hint.strong else Applicability.UNSAFE,
                () if hint.strong else (f"based on {hint.evidence}: if the app really serves plain HTTP here, "
                                        "keep it and suppress this finding with a reason",)),),
        )


@rule(code="MC105", name="server-first-protocol-sniffed", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a server-first protocol (MySQL, SMTP, NATS...) on a sniffed or HTTP port: connections hang",
      targets={"Service"}, reads={"Workload", "Ingress", "ServiceMonitor"}, fix=FixAvailability.ALWAYS,
      ist_codes=("IST0118",))
def server_first_protocol_sniffed(svc, ctx):
    """What it checks: a Service port that is sniffed (no recognised name or appProtocol) or
    declared HTTP, in front of an app whose protocol makes the *server* speak first: MySQL/MariaDB,
    SMTP, NATS, FTP, POP3, IMAP (by image or port number). Service ports 25, 53, 3306 and 27017
    are already treated as TCP by Istio and are not flagged; the trap is a different Service port
    (13306 -> 3306) or a non-default port.

    What Istio does: protocol sniffing waits for the client's first bytes to decide between HTTP
    and TCP. A server-first client waits for the server's greeting, which the sidecar never
    forwards: with ``protocolDetectionTimeout`` at its default 0s (since Istio 1.8) the connection
    hangs forever. PostgreSQL, Redis, MongoDB, AMQP and Kafka are client-first and do not hang.

    Example: ``{port: 13306, targetPort: 3306}`` in front of ``image: mysql:8``: ``mysql`` clients
    hang at connect (istio/istio#38284).

    Fixes: ``appProtocol: tcp`` (safe when the image and its default port agree; unsafe on a port
    number alone); or rename the port ``tcp-<name>``.

    References:
    https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/#server-first-protocols ;
    istio/api mesh/v1alpha1/config.proto (protocol_detection_timeout).
    """
    if _istio_owned(svc) or (svc.data.get("spec") or {}).get("type") == "ExternalName":
        return
    for i, port in _ports(svc):
        verdict = ctx.mesh.protocol(port)
        if not (verdict.sniffed or verdict.protocol in HTTP_FAMILY):
            continue
        hint = _server_first(_hints(svc, port, ctx))
        if hint is None:
            continue
        how = "sniffed" if verdict.sniffed else f"declared {verdict.protocol.value}"
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is {how}, but {hint.app} is server-first ({hint.evidence}): the "
                     "sidecar waits for client bytes that never come, so connections hang"),
            args={**_port_args(port, verdict), "app": hint.app, "evidence": hint.evidence},
            fixes=_protocol_fixes(svc, i, port, hint, ctx, hint.app),
        )


@rule(code="MC107", name="grpc-port-declared-http", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a gRPC server behind a port declared http (HTTP/1.1 upstream) breaks",
      targets={"Service"}, reads={"Workload"}, fix=FixAvailability.ALWAYS)
def grpc_port_declared_http(svc, ctx):
    """What it checks: a Service port declared exactly ``http`` (name prefix or appProtocol) in
    front of a gRPC server: the container port is named ``grpc*`` or mentions grpc, or the
    Service port name does (``http-grpc``), or the port is gRPC's by convention (50051, OTLP 4317;
    weaker evidence).

    What Istio does: for ``http`` the sidecar speaks HTTP/1.1 to the destination, even when the
    client spoke HTTP/2. gRPC needs HTTP/2, so calls fail. ``grpc``, ``grpc-web`` and ``http2``
    force HTTP/2 upstream.

    Example: ``{name: http-grpc, port: 9000}`` in front of a gRPC server.

    Fixes: ``appProtocol: grpc`` (safe when a name says grpc; unsafe on a port number alone).

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/ ;
    istio/istio pilot/pkg/networking/core/cluster_builder.go (setUpstreamProtocol).
    """
    if _istio_owned(svc):
        return
    for i, port in _ports(svc):
        verdict = ctx.mesh.protocol(port)
        if verdict.protocol is not Protocol.HTTP:
            continue
        hint = _best(_hints(svc, port, ctx), {Protocol.GRPC})
        if hint is None:
            continue
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is declared HTTP, so the sidecar speaks HTTP/1.1 upstream, but the app "
                     f"is a gRPC server ({hint.evidence}) and gRPC needs HTTP/2: calls fail"),
            args={**_port_args(port, verdict), "evidence": hint.evidence},
            fixes=(_set_app_protocol(
                svc, i, port, "grpc", f"Set appProtocol: grpc on port {_port_label(port)}",
                Applicability.SAFE if hint.strong else Applicability.UNSAFE,
                () if hint.strong else (f"based on {hint.evidence}: confirm the app serves gRPC",)),),
        )


def _opaque_app(hints: list):
    """The clue that the app speaks a client-first TCP protocol (a database's or a broker's wire
    protocol: PostgreSQL, Redis, MongoDB, AMQP, Kafka...): its image on that image's own port, or its
    container port's name. A bare port number, or the image on another port (a database's web UI), is
    not enough. Server-first apps are MC105's."""
    return _best([h for h in hints if h.protocol in TCP_FAMILY and not h.server_first and h.strong])


@rule(code="MC110", name="http-declared-for-tcp-app", topic=Topic.PORTS, severity=Severity.ERROR,
      summary="a port declared http/http2/grpc in front of a database or broker that speaks its own protocol",
      targets={"Service"}, reads={"Workload", "Ingress", "ServiceMonitor"}, fix=FixAvailability.ALWAYS)
def http_declared_for_tcp_app(svc, ctx):
    """What it checks: a Service port declared ``http``, ``http2``, ``grpc``, ``grpc-web`` or
    ``http_proxy`` (by name or appProtocol) in front of an app that speaks a non-HTTP wire protocol:
    an image of a known database or broker (PostgreSQL, Redis/Valkey, MongoDB, RabbitMQ, Kafka,
    ZooKeeper, Memcached, Cassandra) on its own port, or a container port named ``tcp``/``mongo``/``redis``.
    Server-first ones (MySQL, SMTP, NATS...) are MC105's; TLS ones MC104's.

    What Istio does: an HTTP-declared port goes through Envoy's HTTP connection manager on both
    sidecars; the client's first bytes (a PostgreSQL startup message, a RESP command) are no HTTP,
    so the connection is closed with a protocol error. Explicit HTTP ports also make every sidecar
    listen on ``0.0.0.0:<port>`` routed by Host, so other meshed pods' traffic on that port to any
    host (an external Redis on 6379) meets the same HTTP parser.

    Example: ``{name: http-redis, port: 6379}`` in front of ``image: redis:7``; ``{name: grpc, port:
    5432}`` in front of ``postgres:16``.

    Fixes: ``appProtocol: tcp`` (safe: the image and its default port agree, or the container port's
    name says it); or rename the port ``tcp-<name>``.

    References: https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/ ;
    https://istio.io/latest/docs/ops/configuration/traffic-management/traffic-routing/ ;
    reference/istio-facts.md §A1, §A6.
    """
    for i, port, verdict, hint in _http_ports_behind(svc, ctx, _opaque_app):
        yield Diagnostic(
            path=f"/spec/ports/{i}",
            message=(f"port {_port_label(port)} is declared {verdict.protocol.value} ({verdict.reason.value} "
                     f"{verdict.source!r}), but the app speaks {hint.app} ({hint.evidence}): the sidecars parse its "
                     "bytes as HTTP and close the connections"),
            args={**_port_args(port, verdict), "app": hint.app, "evidence": hint.evidence},
            fixes=_protocol_fixes(svc, i, port, hint, ctx, hint.app),
        )
