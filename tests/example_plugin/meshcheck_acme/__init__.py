"""meshcheck-acme: ACME Corp's own rules for ``kubectl meshcheck`` (an example third-party plugin).

It shows everything an organisation needs, using only the public API (``kubectl_meshcheck``):

* a rule (ACME101) registered through ``meshcheck_register_rules``, documented like the bundled
  ones, with a parameter the config file can override::

      rules:
        params: {ACME101: {approved: [http, grpc]}}

* an organisation policy through ``meshcheck_veto_fix``: ACME's admission policy forbids workloads
  opting out of (or into) injection by hand, so any fix that would set ``sidecar.istio.io/inject``
  is withheld, with the reason, and the next fix is offered instead.

Installed, it is found through the ``meshcheck`` entry-point group (see pyproject.toml); no
configuration is needed.
"""

from __future__ import annotations

from kubectl_meshcheck import (
    Applicability,
    Diagnostic,
    Fix,
    FixAvailability,
    PatchOp,
    Severity,
    Topic,
    escape_pointer,
    hookimpl,
    rule,
)

__version__ = "1.2.0"

#: what ACME's gateways and dashboards route and label; override with rules.params.ACME101.approved
DEFAULT_APPROVED = ("http", "grpc", "tcp")
INJECT_KEY = "sidecar.istio.io/inject"
VETO_REASON = ("ACME policy forbids setting sidecar.istio.io/inject by hand (Kyverno policy "
               "acme-require-sidecar); ask #platform-mesh for an exception")


def _approved(ctx) -> tuple[str, ...]:
    value = ctx.params.get("approved", DEFAULT_APPROVED)
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip().lower() for v in value if str(v).strip())


def _prefix_ok(name: str, approved: tuple[str, ...]) -> bool:
    low = name.lower()
    return any(low == p or low.startswith(p + "-") for p in approved)


@rule(code="ACME101", name="port-prefix-not-approved", topic=Topic.PORTS, severity=Severity.WARNING,
      summary="Service port name does not start with a protocol ACME's gateways route",
      targets={"Service"}, fix=FixAvailability.ALWAYS, params={"approved": list(DEFAULT_APPROVED)},
      sidecar_only=False)
def port_prefix_not_approved(svc, ctx):
    """What it checks: every port of a Service is named ``<prefix>`` or ``<prefix>-<suffix>`` with a
    prefix from ACME's approved list (parameter ``approved``; default ``http``, ``grpc``, ``tcp``).
    Unnamed ports fail too: they carry no prefix at all. ExternalName Services are skipped.

    What Istio does: Istio itself accepts more prefixes (``https``, ``tls``, ``mongo``, ...) and
    reads ``appProtocol`` first; but ACME's ingress gateways, dashboards and alerting select ports by
    their name prefix, so a port outside the list is invisible to them even when Istio handles it
    correctly.

    Example: ``ports: [{name: web, port: 80}]`` fails (``web`` is not approved);
    ``ports: [{name: http-web, port: 80}]`` passes.

    Fixes: when Istio already knows the port's protocol (from ``appProtocol`` or the name) and it is
    approved, rename the port ``<protocol>-<name>`` (unsafe: Ingresses, ServiceMonitors and DNS SRV
    records refer to ports by name); otherwise choose the protocol by hand (display only).

    References: ACME platform handbook, "Naming Service ports";
    https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/
    """
    if (svc.data.get("spec") or {}).get("type") == "ExternalName":
        return
    approved = _approved(ctx)
    for i, port in enumerate((svc.data.get("spec") or {}).get("ports") or []):
        if not isinstance(port, dict):
            continue
        name = str(port.get("name") or "")
        if name and _prefix_ok(name, approved):
            continue
        label = f"{name!r}" if name else "(unnamed)"
        keyword = ctx.mesh.canonical_name(ctx.mesh.protocol(port).protocol)
        base = f"/spec/ports/{i}"
        if keyword in approved:
            new = (f"{keyword}-{name}" if name else keyword)[:63].rstrip("-")
            ops = [PatchOp("test", f"{base}/port", port.get("port"))]
            ops += ([PatchOp("test", f"{base}/name", name), PatchOp("replace", f"{base}/name", new)] if name
                    else [PatchOp("add", f"{base}/name", new)])
            fix = Fix(f"Rename port {label} to {new!r}", Applicability.UNSAFE, svc.ref, tuple(ops),
                      ("Ingresses, ServiceMonitors and DNS SRV records that name the port must be updated too",))
        else:
            fix = Fix(f"Rename port {label} to <prefix>-{name or 'port'} with <prefix> one of {', '.join(approved)}",
                      Applicability.DISPLAY_ONLY, svc.ref, (),
                      ("nothing in the input says which approved protocol the app speaks",))
        yield Diagnostic(
            path=f"{base}/name" if name else base,
            message=(f"port {label} ({port.get('port')}) does not start with an approved prefix "
                     f"({', '.join(approved)}): ACME's gateways and dashboards will not see it"),
            args={"port": port.get("port"), "name": name or None, "approved": list(approved)},
            fixes=(fix,),
        )


@hookimpl
def meshcheck_register_rules(register):
    register(port_prefix_not_approved)


def _sets_inject(op: PatchOp) -> bool:
    """True if the op writes the inject label/annotation, directly or inside a whole map."""
    if op.op not in ("add", "replace"):
        return False
    escaped = escape_pointer(INJECT_KEY)
    if op.path.endswith(f"/labels/{escaped}") or op.path.endswith(f"/annotations/{escaped}"):
        return True
    if op.path.endswith(("/labels", "/annotations", "/metadata")) and isinstance(op.value, dict):
        inner = op.value
        maps = [inner.get("labels"), inner.get("annotations")] if op.path.endswith("/metadata") else [inner]
        return any(isinstance(m, dict) and INJECT_KEY in m for m in maps)
    return False


@hookimpl
def meshcheck_veto_fix(fix, finding, ctx):
    if any(_sets_inject(op) for op in fix.ops):
        return VETO_REASON
    return None
