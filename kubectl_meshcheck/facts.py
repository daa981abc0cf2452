"""The one door to Istio's facts about a run's objects (``ctx.mesh``): protocol, injection, probes, mTLS,
egress and capture, memoised for the run and recomputed while a fix is re-checked only where the fix
changes what the fact rests on. ``mesh/`` computes the facts from typed inputs; this module gathers the
inputs from the Context and owns the memo.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .mesh import annotations as _annotations
from .mesh import apps as _apps
from .mesh import egress as _egress
from .mesh import endpoints as _endpoints
from .mesh import injection as _injection
from .mesh import privileges as _privileges
from .mesh import probes as _probes
from .mesh import protocol as _protocol
from .mesh import serviceentries as _serviceentries
from .mesh import visibility as _visibility
from .mesh import webhooks as _webhooks
from .mesh.endpoints import ClusterNames, Endpoint, cluster_names, executed_files, inventory
from .mesh.protocol import PortProtocol, service_port_protocol
from .mesh.serviceentries import auto_allocated
from .mesh.visibility import (
    applicable_sidecar,
    export_to,
    importer,
    outbound_policy,
    root_namespace,
    sidecar_imports,
    visible_in,
    visible_to,
)
from .model import K8sObject, MeshMode, Workload

if TYPE_CHECKING:
    from .index import Context
    from .mesh.capture import CapturePlan
    from .mesh.config import MeshConfig
    from .mesh.egress import EntryIndex, WorkloadEgress
    from .mesh.injected_pod import InjectedPod
    from .mesh.injection import InjectorSettings, ModeDecision
    from .mesh.mtls import MtlsMode
    from .mesh.probes import PodProbes

#: what each per-workload fact rests on besides the workload itself: a fix that replaces an object of
#: one of these kinds (or the workload) is re-checked with the fact computed afresh
_INJECTION_KINDS = frozenset({"Namespace", "Pod"})
_INVENTORY_KINDS = frozenset({"Service", "Namespace", "ConfigMap"})
_EGRESS_KINDS = _INVENTORY_KINDS | {"ServiceEntry", "Sidecar", "VirtualService", "Pod"}
_MTLS_KINDS = frozenset({"PeerAuthentication"})
_CAPTURE_KINDS = frozenset({"Pod", "Namespace", "ConfigMap"})


class MeshFacts:
    """What Istio will do with the objects a rule or view sees (``ctx.mesh``).

    Every fact is computed once per run and shared by all rules and views; while a fix is re-checked, a
    fact whose inputs the fix changes is computed from the objects as the fix leaves them. Reading a fact
    counts as reading what it rests on (the install facts, the kinds it looks up), so a gap in those
    (RBAC) is stated on the finding.
    """

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _fact(self, key: tuple, compute: Callable[[], Any], kinds: Iterable[str], wl: Workload | None = None) -> Any:
        """Memoised ``compute()``: afresh while a fix that replaces ``wl`` or an object of ``kinds`` is re-checked."""
        ctx = self._ctx
        if wl is not None and ctx.replaces(wl.ref):
            return compute()
        return ctx.cached(key, compute, kinds=kinds)

    # -- the install ----------------------------------------------------------------------------

    @property
    def settings(self) -> InjectorSettings:
        """How the install injects: Istio version, native sidecars, CNI, hold (flags refined by the input)."""
        return self._ctx.injector_settings

    @property
    def config(self) -> MeshConfig:
        """The mesh config (``istio`` ConfigMap, ``--mesh-config``, else Istio's defaults), with its source."""
        return self._ctx.mesh_config

    @property
    def root_namespace(self) -> str:
        """The mesh config's root namespace (``istio-system`` by default): its policies apply mesh-wide."""
        return root_namespace(self._ctx.mesh_config)

    @property
    def forced_mode(self) -> MeshMode | None:
        """The ``--mesh-mode`` every namespace is treated with ("as if labelled so"), or None."""
        return self._ctx.force_mode

    def mode(self, obj: K8sObject | Workload) -> ModeDecision:
        """Sidecar, ambient or none for a workload's pods (or a namespace's, for any other object), and why."""
        return self._ctx.mode_of(obj)

    # -- ports -----------------------------------------------------------------------------------

    @staticmethod
    def protocol(port: dict) -> PortProtocol:
        """Istio's protocol for one entry of ``Service.spec.ports`` (appProtocol, then the name's prefix)."""
        return service_port_protocol(port)

    canonical_name = staticmethod(_protocol.canonical_name)
    effective_target_port = staticmethod(_apps.effective_target_port)
    resolve_target_port = staticmethod(_apps.resolve_target_port)
    image_base = staticmethod(_apps.image_base)
    app_hints = staticmethod(_apps.hints)
    gateway_clue = staticmethod(_webhooks.gateway_clue)

    # -- annotations -----------------------------------------------------------------------------

    is_istio_annotation = staticmethod(_annotations.is_istio_annotation)
    closest_annotation = staticmethod(_annotations.closest_annotation)
    alpha_reported = staticmethod(_annotations.alpha_reported)
    annotation_value_problem = staticmethod(_annotations.annotation_value_problem)
    corrected_annotation_value = staticmethod(_annotations.corrected_annotation_value)
    parse_proxy_config = staticmethod(_injection.parse_proxy_config)
    parse_version = staticmethod(_injection.parse_version)

    # -- what containers do as they start --------------------------------------------------------

    is_injected = staticmethod(_injection.is_injected)
    network_at_start = staticmethod(_injection.network_at_start)
    network_in_script = staticmethod(_injection.network_in_script)
    only_moves_files = staticmethod(_injection.only_moves_files)
    waits_for_sidecar = staticmethod(_injection.waits_for_sidecar)
    calls_quit = staticmethod(_injection.calls_quit)
    auto_image_containers = staticmethod(_webhooks.auto_image_containers)
    injector_webhooks = staticmethod(_webhooks.injector_webhooks)
    selected_by_webhooks = staticmethod(_webhooks.selected_by_webhooks)
    inbound_captured = staticmethod(_probes.inbound_captured)
    probe_verdict = staticmethod(_probes.verdict)

    # -- injection, probes, mTLS ----------------------------------------------------------------

    def injection(self, wl: Workload) -> InjectedPod:
        """What injection will do (or did) to a workload's pods: sidecar or not, native or classic, hold."""
        from .mesh.injected_pod import injection_of

        return self._fact(("injection", wl.ref, wl.template_path),
                          lambda: injection_of(wl, self.mode(wl).mode, self.settings, self.config),
                          _INJECTION_KINDS, wl)

    def probes(self, wl: Workload) -> PodProbes:
        """The workload's probes after injection: rewritten to the agent's status port or left alone."""
        from .mesh.probes import probes_of

        return self._fact(("probes", wl.ref, wl.template_path),
                          lambda: probes_of(wl, self.injection(wl), self.settings, self.config),
                          _INJECTION_KINDS, wl)

    def mtls(self, wl: Workload, port: int | None = None) -> MtlsMode:
        """The inbound mTLS mode of the workload's pods (on ``port``), from the PeerAuthentications
        (declare ``PeerAuthentication`` in ``reads``): root-namespace policies count even outside ``-n``."""
        from .mesh.mtls import effective_mtls

        return self._fact(("mtls", wl.ref, wl.template_path, port),
                          lambda: effective_mtls(wl.namespace, wl.pod_labels, port,
                                                 self._ctx.objects("PeerAuthentication"), self.root_namespace),
                          _MTLS_KINDS, wl)

    # -- egress ----------------------------------------------------------------------------------

    def endpoints(self, wl: Workload, init: bool = False) -> list[Endpoint]:
        """Every endpoint the workload's containers name (env, args, mounted config), classified; with
        ``init``, those of its run-once init containers: what they dial before a classic sidecar is up."""
        ctx = self._ctx
        return self._fact(("endpoints", init, wl.ref, wl.template_path),
                          lambda: inventory(wl, self._names(), lambda n, name: ctx.get("ConfigMap", n, name),
                                            init=init),
                          _INVENTORY_KINDS, wl)

    def executed_files(self, wl: Workload, container: dict) -> list[tuple[str, str]]:
        """(path, content) of the mounted ConfigMap files a container's command runs (``sh /config/init.sh``)."""
        ctx = self._ctx
        return executed_files(wl, container, lambda n, name: ctx.get("ConfigMap", n, name))

    is_ip = staticmethod(_endpoints.is_ip)
    export_to = staticmethod(_visibility.export_to)
    imported = staticmethod(_visibility.imported)
    sidecar_imports = staticmethod(_visibility.sidecar_imports)
    se_port_protocol = staticmethod(_serviceentries.se_port_protocol)
    generated_service_entry = staticmethod(_serviceentries.generated_service_entry)
    cidr_list_problem = staticmethod(_egress.cidr_list_problem)

    def outbound_policy(self, namespace: str) -> _visibility.OutboundPolicy:
        """The outbound policy a namespace's pods get by default (a workload-selecting Sidecar may still
        override it: :meth:`egress` gives a workload's own), and where it comes from."""
        return outbound_policy(namespace, None, self._sidecars(namespace), self.config)

    def _sidecars(self, ns: str) -> list[K8sObject]:
        """The Sidecars that can configure the namespace's pods: its own and the root namespace's (looked
        up once per namespace: every workload scanning every Sidecar grew with the square of the mesh)."""
        ctx, root = self._ctx, self.root_namespace
        every = ctx.cached(("egress.sidecars",), lambda: ctx.objects("Sidecar"), kinds={"Sidecar"})
        return ctx.cached(("egress.sidecars", ns), lambda: [s for s in every if s.namespace in (ns, root)],
                          kinds={"Sidecar"})

    def auto_allocated(self, se: K8sObject) -> bool:
        """Do sidecars reach this address-less ServiceEntry through an auto-allocated VIP (DNS capture and
        auto-allocation in the mesh config, or istiod allocating), so its TCP ports get no 0.0.0.0 listener?"""
        return auto_allocated(se, self.config, self.settings.istiod_allocates_ips)

    def egress(self, wl: Workload) -> WorkloadEgress:
        """The workload's outbound policy and every endpoint with what covers it (ServiceEntry, or not),
        what else listens on its port, and its egress gateway."""
        return self._fact(("egress", wl.ref, wl.template_path), lambda: self._egress(wl), _EGRESS_KINDS, wl)

    def _egress(self, wl: Workload) -> WorkloadEgress:
        ctx, ns, mesh = self._ctx, wl.namespace or "default", self.config
        sidecars = self._sidecars(ns)
        policy = outbound_policy(ns, wl.pod_labels, sidecars, mesh)
        sidecar = applicable_sidecar(ns, wl.pod_labels, sidecars, root_namespace(mesh))
        visible, seen, listeners = self._entry_facts(ns, sidecar, sidecar_imports(sidecar))
        unknown = tuple(ctx.unknown("ServiceEntry", ns))
        virtual_services = ctx.cached(("egress.vs",), lambda: sorted(ctx.objects("VirtualService"),
                                                                     key=lambda v: (v.namespace or "", v.name)),
                                      kinds={"VirtualService"})
        route = functools.partial(self._gateway, ns, virtual_services) if virtual_services else None
        return _egress.judge(self.endpoints(wl), policy, sidecar, visible, seen, listeners, unknown, route)

    def _services(self) -> list[K8sObject]:
        # looked up once per run, not per workload (10,000 workloads x 10,000 Services otherwise)
        return self._ctx.cached(("egress.services",), lambda: self._ctx.objects("Service"), kinds={"Service"})

    def _names(self) -> ClusterNames:
        """What the input knows of in-cluster names; namespaces from Namespace objects, and from those
        holding Services or workloads (they exist)."""
        ctx = self._ctx
        return ctx.cached(("egress.names",), lambda: cluster_names(
            self._services(), [n.name for n in ctx.objects("Namespace")] + [w.namespace for w in ctx.workloads()
                                                                            if w.namespace]),
            kinds={"Service", "Namespace"})

    def _gateway(self, ns: str, virtual_services: list[K8sObject], ep: Endpoint) -> tuple[K8sObject, str] | None:
        """The egress gateway a covered endpoint is routed through, and the VirtualService that does it."""
        ctx, mesh = self._ctx, self.config
        by_key = ctx.cached(("egress.services.by_key",),
                            lambda: {(s.namespace or "", s.name): s for s in self._services()}, kinds={"Service"})
        vs_index = ctx.cached(("egress.vs.index",), lambda: _egress.mesh_bound_index(virtual_services),
                              kinds={"VirtualService"})
        return ctx.cached(("egress.gateway", ns, ep.host.lower(), ep.port),
                          lambda: _egress.gateway_route(ep, ns, virtual_services, by_key, mesh, vs_index),
                          kinds={"VirtualService", "Service"})

    def _entry_facts(self, ns: str, sidecar: K8sObject | None, imports: list[tuple[str, str]] | None
                     ) -> tuple[EntryIndex, EntryIndex, _egress.Listeners]:
        """What the namespace's sidecars see of the ServiceEntries: the visible ones (indexed), those the
        workload's Sidecar imports, and the ``0.0.0.0:<port>`` listeners. Built once per namespace from the
        input; while a fix that creates or patches entries is re-checked, updated for those entries only."""
        ctx = self._ctx
        base, mesh = ctx.base(), self.config
        per_entry = base.cached(("egress.per-entry",), dict)
        entries = base.cached(("egress.entries",), lambda: sorted(base.objects("ServiceEntry"),
                                                                 key=lambda s: (s.namespace or "", s.name)))
        targets = base.cached(("egress.export-to",), lambda: [export_to(se, mesh) for se in entries])
        visible = base.cached(("egress.visible", ns), lambda: [se for se, to in zip(entries, targets)
                                                                if visible_in(se, to, ns)])
        vindex = vindex_base = base.cached(("egress.visible.index", ns),
                                           lambda: _egress.EntryIndex(visible, per_entry))
        delta = ctx.changes("ServiceEntry")
        removed, changed = delta or (set(), [])
        added = [se for se in changed if visible_to(se, ns, mesh)]
        if delta is not None:
            vindex = _egress.PatchedIndex(vindex, removed, added)
        if imports is None or sidecar is None:
            seen = vindex
        elif base.get("Sidecar", sidecar.namespace, sidecar.name) is sidecar:  # the input's Sidecar
            seen = base.cached(("egress.imported", ns, sidecar.ref),
                               lambda: _egress.EntryIndex(list(filter(importer(ns, imports), visible)), per_entry))
            if delta is not None:
                seen = _egress.PatchedIndex(seen, removed, list(filter(importer(ns, imports), added)))
        else:  # the fix changes the Sidecar itself
            seen = self._reimported(ns, sidecar, imports, visible, vindex_base, per_entry, delta)
        services = self._services()
        by_services = ctx.cached(("egress.listeners.services",), lambda: _egress.wildcard_listeners(services, []),
                                 kinds={"Service"})
        has_vip = functools.partial(auto_allocated, mesh=mesh, istiod_allocates=self.settings.istiod_allocates_ips)
        # the visible entries' listeners, from the input: a re-check removes and adds the few a fix touches
        by_entries = base.cached(("egress.entry-listeners", ns),
                                 lambda: _egress.entry_listeners(visible, per_entry, has_vip))
        if "Service" in ctx.changed_kinds():  # the Services' listeners as the fix leaves them: not the input's
            listeners = _egress.Listeners(_egress.merged(by_services, by_entries))
        else:
            listeners = base.cached(("egress.listeners", ns),
                                    lambda: _egress.Listeners(_egress.merged(by_services, by_entries)))
        if delta is not None:
            listeners = _egress.PatchedListeners(listeners, removed, _egress.wildcard_listeners([], added, has_vip))
        return vindex, seen, listeners

    def _reimported(self, ns: str, sidecar: K8sObject, imports: list[tuple[str, str]], visible: list[K8sObject],
                    visible_index: EntryIndex, per_entry: dict, delta: tuple[set, list[K8sObject]] | None
                    ) -> EntryIndex:
        """The entries a Sidecar that a fix being re-checked changes imports. A fix that adds hosts to
        ``egress.hosts`` (the usual one) gets the input Sidecar's index plus the entries the new hosts
        import, found through the visible index; any other change rebuilds the index."""
        base, mesh = self._ctx.base(), self.config
        removed, changed = delta or (set(), [])
        before = base.get("Sidecar", sidecar.namespace, sidecar.name)
        old = sidecar_imports(before) if before is not None else None
        if old is None or not set(old) <= set(imports):
            return _egress.EntryIndex(list(filter(importer(ns, imports),
                                                  _egress.patched_entries(visible, delta, ns, mesh))))
        old_seen = base.cached(("egress.imported", ns, before.ref),
                               lambda: _egress.EntryIndex(list(filter(importer(ns, old), visible)), per_entry))
        was_imported, now_imported = importer(ns, old), importer(ns, imports)
        newly: dict[tuple, K8sObject] = {}
        for pattern in dict.fromkeys(p for p in imports if p not in old):
            pool = visible if "*" in pattern[1] else visible_index.candidates(pattern[1])
            by_pattern = importer(ns, [pattern])
            for se in pool:
                if se.ref.key not in removed and by_pattern(se) and not was_imported(se):
                    newly.setdefault(se.ref.key, se)
        added = [se for se in changed if visible_to(se, ns, mesh) and now_imported(se)]
        return _egress.PatchedIndex(old_seen, removed, [*newly.values(), *added])

    # -- capture ---------------------------------------------------------------------------------

    capture_sidecars = staticmethod(_privileges.capture_sidecars)
    ephemeral_containers = staticmethod(_privileges.ephemeral_containers)
    install_privileged = staticmethod(_privileges.install_privileged)
    proxy_override = staticmethod(_privileges.proxy_override)
    raised_privileges = staticmethod(_privileges.raised_privileges)
    unraised = staticmethod(_privileges.unraised)
    without_network_powers = staticmethod(_privileges.without_network_powers)
    trace_logging_on = staticmethod(_privileges.trace_logging_on)

    def _namespace_labels(self, wl: Workload) -> dict | None:
        """The labels of the workload's Namespace object; None when the input does not hold it."""
        ns = self._ctx.get("Namespace", None, wl.namespace) if wl.namespace else None
        return dict(ns.labels) if ns is not None else None

    def install_values(self, wl: Workload, revision: str | None = None) -> tuple[dict, str]:
        """(values, source) of the injector ConfigMap that injects this workload (by its revision, or
        ``revision``). Install facts, like :attr:`settings`: ConfigMaps need not be declared (a live run
        reads the install's own, never all of them)."""
        from .mesh.privileges import injector_revision, injector_values

        rev = revision or injector_revision(wl, self._namespace_labels(wl))
        ctx = self._ctx
        return ctx.cached(("capture.values", rev), lambda: injector_values(ctx.objects("ConfigMap"), rev),
                          kinds=("ConfigMap",))

    def capture(self, wl: Workload) -> CapturePlan:
        """How to capture the workload's traffic safely: the ranked methods, their pre-checks and commands
        (live pods give the pod's real name)."""
        from .mesh.capture import build_plan

        def compute() -> CapturePlan:
            pods = self._ctx.observed_pods(wl)
            observed = sorted(p.ref.name for p in pods if p.phase == "Running") or sorted(p.ref.name for p in pods)
            values, source = self.install_values(wl)
            return build_plan(wl, self.mode(wl).mode, self._namespace_labels(wl),
                              self.config.get("defaultConfig") or {}, values, source, observed)
        return self._fact(("capture", wl.ref, wl.template_path), compute, _CAPTURE_KINDS, wl)
