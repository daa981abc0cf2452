"""The Index over all objects of a run, and the per-rule Context that rules query.

The Index is built once: objects by kind, the :class:`Workload` view of every pod-template
holder, Service <-> workload selection, namespace data-plane modes and the mesh config. Rules never
see the Index itself; they get a :class:`Context`, which refuses lookups of kinds the rule did not
declare (so the live source can list only what the selected rules need) and which can present a
patched object in place of the original (so a fix can be re-checked offline).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .mesh import injection
from .mesh.config import MeshConfig, is_mesh_configmap, mesh_config_from
from .mesh.observed import ObservedPod, observe
from .access import Gap
from .model import K8sObject, MeshMode, ObjectRef, Workload

if TYPE_CHECKING:
    from .facts import MeshFacts

#: kind -> JSON Pointer of its pod template
TEMPLATE_PATHS = {
    "Deployment": "/spec/template",
    "StatefulSet": "/spec/template",
    "DaemonSet": "/spec/template",
    "ReplicaSet": "/spec/template",
    "ReplicationController": "/spec/template",
    "Job": "/spec/template",
    "CronJob": "/spec/jobTemplate/spec/template",
    "Pod": "",
}

#: kinds every run reads whatever the rules declare: they decide who is in the mesh
ALWAYS_READ = frozenset({"Namespace", "ConfigMap"})


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """A Service-style equality selector; an empty or missing selector selects nothing."""
    if not selector:
        return False
    return all(k in labels and str(labels[k]) == str(v) for k, v in selector.items())


#: kinds a label selector (-l) narrows: the workloads and Services the user asks about; mesh-wide
#: configuration (Namespaces, ServiceEntries, PeerAuthentications...) always counts in full
SELECTABLE_KINDS = frozenset(TEMPLATE_PATHS) | {"Service"}

_SET_OP = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_OP = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def label_selector(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """kubectl's ``-l``: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``,
    comma-separated (all must hold). Raises ValueError naming the bad term."""
    terms: list[Callable[[Mapping[str, Any]], bool]] = []
    for term in re.split(r",(?![^(]*\))", text):
        eq = _EQ_OP.match(term)
        st = None if eq else _SET_OP.match(term)
        if eq:
            key, op, value = eq.groups()
            if op == "!=":
                terms.append(lambda labels, k=key, v=value: str(labels.get(k, "")) != v or k not in labels)
            else:
                terms.append(lambda labels, k=key, v=value: k in labels and str(labels[k]) == v)
        elif st and not (st.group(1) and st.group(3)):
            neg, key, op, values = st.groups()
            choices = {v.strip() for v in (values or "").split(",") if v.strip()}
            if op == "in":
                terms.append(lambda labels, k=key, c=choices: k in labels and str(labels[k]) in c)
            elif op == "notin":
                terms.append(lambda labels, k=key, c=choices: k not in labels or str(labels[k]) not in c)
            else:
                terms.append(lambda labels, k=key, n=bool(neg): (k in labels) != n)
        else:
            raise ValueError(f"invalid label selector term {term.strip()!r}")
    return lambda labels: all(t(labels) for t in terms)


def _controlled(obj: K8sObject) -> bool:
    """Owned by a controller (ReplicaSet of a Deployment, Pod of a Job...): its template is the truth."""
    for ref in (obj.data.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return True
    return False


def _file_of(ref: ObjectRef) -> str:
    return ref.origin.rsplit(":", 1)[0]


def _prefer_same_file(svc: K8sObject, matched: list[Workload]) -> list[Workload]:
    """When the input renders one workload several times (install.yaml and ha/install.yaml), pair a
    Service with the copy from its own file, so alternatives are not mixed into false conflicts."""
    by_key: dict[tuple, Workload] = {}
    for w in matched:
        seen = by_key.get(w.ref.key)
        if seen is None or (_file_of(w.ref) == _file_of(svc.ref) and _file_of(seen.ref) != _file_of(svc.ref)):
            by_key[w.ref.key] = w
    return list(by_key.values())


def _dedupe_services(wl: ObjectRef, services: list[K8sObject]) -> list[K8sObject]:
    """One Service per identity when the input renders it several times: the workload's own file's."""
    seen: dict[tuple, K8sObject] = {}
    for svc in services:
        other = seen.get(svc.ref.key)
        if other is None or (_file_of(svc.ref) == _file_of(wl) and _file_of(other.ref) != _file_of(wl)):
            seen[svc.ref.key] = svc
    return list(seen.values())


class Index:
    def __init__(
        self,
        objects: Iterable[K8sObject],
        assume_mode: MeshMode = MeshMode.SIDECAR,
        mesh_config: MeshConfig | None = None,
        force_mode: MeshMode | None = None,
        injector_settings: injection.InjectorSettings | None = None,
        scope: Iterable[str] | None = None,
        pod_evidence: Mapping[str, Mapping[MeshMode, int]] | None = None,
    ) -> None:
        """``assume_mode`` applies to namespaces the input does not describe; ``force_mode`` (an
        explicit ``--mesh-mode``) to every namespace, as if labelled so: "what if we meshed this?".
        Pod-level labels and Istio's never-inject rules still apply.

        ``scope`` (``-n``): the namespaces whose objects are judged and shown. Objects elsewhere (the
        root namespace's PeerAuthentications, istiod, the mesh config...) still inform every lookup.

        ``pod_evidence``: per namespace, how many running pods show each mode (the live source counts
        them as it reads, also the owned pods it drops); without it, counted from the input's Pods. It
        decides the mode of namespaces whose Namespace object the input lacks, before any assumption."""
        self.scope = frozenset(scope) if scope is not None else None
        self.by_kind: dict[str, list[K8sObject]] = defaultdict(list)  # in scope: judged and shown
        self._all_by_kind: dict[str, list[K8sObject]] = defaultdict(list)  # also what only informs lookups
        self._by_key: dict[tuple[str, str, str], K8sObject] = {}
        self._by_ref: dict[ObjectRef, K8sObject] = {}
        for obj in objects:
            self._all_by_kind[obj.kind].append(obj)
            if self.in_scope(obj):
                self.by_kind[obj.kind].append(obj)
            self._by_key.setdefault(obj.ref.key, obj)
            self._by_ref[obj.ref] = obj
        self.assume_mode = force_mode or assume_mode
        self.force_mode = force_mode
        self._injector_base = injector_settings or injection.InjectorSettings()
        self._injector: injection.InjectorSettings | None = None
        self.problems: list[str] = []
        self.mesh_config = mesh_config or self._find_mesh_config()
        self.namespace_labels: dict[str, dict] = {
            o.name: dict(o.labels) for o in self._all_by_kind.get("Namespace", [])
        }
        self.workloads: list[Workload] = []
        for kind, path in TEMPLATE_PATHS.items():
            for obj in self.by_kind.get(kind, []):
                if kind in ("Pod", "ReplicaSet", "Job") and _controlled(obj):
                    continue
                if isinstance(obj.get(path), dict):
                    self.workloads.append(Workload(obj, path))
        self._pods_of: dict[ObjectRef, list[K8sObject]] | None = None
        self._by_uid: dict[str, K8sObject] = {}
        self._svc_to_wl: dict[tuple, list[Workload]] | None = None
        self._wl_to_svc: dict[ObjectRef, list[K8sObject]] | None = None
        self.assumed_namespaces: set[str] = set()
        self.inferred_namespaces: dict[str, str] = {}  # namespace -> which pods decided its mode
        self.unmeshed_namespaces: set[str] = set()
        if pod_evidence is None:
            pod_evidence = {}
            for pod in self._all_by_kind.get("Pod", []):
                injection.count_mode_evidence(pod_evidence, pod.data)
        self._inferred_mode = {ns: d for ns, c in pod_evidence.items()
                               if (d := injection.infer_namespace_mode(ns, dict(c))) is not None}
        self._modes: dict[tuple, injection.ModeDecision] = {}
        self.memo: dict[tuple, Any] = {}
        self.gaps: list[Gap] = []  # what the live source could not read (set by the engine)

    def in_scope(self, obj: K8sObject) -> bool:
        """Judged and shown in this run: everything without ``-n``; else its namespace's objects
        (a Namespace by its own name) and cluster-scoped ones."""
        if self.scope is None:
            return True
        ns = obj.name if obj.kind == "Namespace" else obj.namespace
        return ns is None or ns in self.scope

    def _find_mesh_config(self) -> MeshConfig:
        for cm in self._all_by_kind.get("ConfigMap", []):
            data = cm.data.get("data") or {}
            if is_mesh_configmap(cm.kind, cm.namespace, cm.name, data):
                cfg, problem = mesh_config_from(data, f"ConfigMap {cm.namespace}/{cm.name}")
                if problem:
                    self.problems.append(problem)
                return cfg
        return MeshConfig()

    @property
    def injector_settings(self) -> injection.InjectorSettings:
        """Flags/config refined by what the input shows of the install (injector ConfigMap, istiod, Nodes)."""
        if self._injector is None:
            install = [*self.all_objects("ConfigMap"), *self.all_objects("Deployment"), *self.all_objects("Node")]
            self._injector = injection.settings_from_objects(install, self._injector_base)
        return self._injector

    # -- lookups ---------------------------------------------------------------------------

    def objects(self, kind: str) -> list[K8sObject]:
        """The objects of a kind in scope (what is judged and shown)."""
        return self.by_kind.get(kind, [])

    def all_objects(self, kind: str) -> list[K8sObject]:
        """Every object of a kind the run read, in scope or not (what lookups see)."""
        return self._all_by_kind.get(kind, [])

    def get(self, kind: str, namespace: str | None, name: str) -> K8sObject | None:
        """The object with this identity (the first one read, if the input holds several)."""
        return self._by_key.get((kind, namespace or "", name))

    def by_ref(self, ref: ObjectRef) -> K8sObject | None:
        """The exact object a ref names (identity and origin), else the first with its identity."""
        return self._by_ref.get(ref) or self._by_key.get(ref.key)

    def kinds(self) -> set[str]:
        return set(self._all_by_kind)

    def _build_selection(self) -> None:
        # (namespace, label, value) -> workloads, so each selector only checks real candidates
        by_label: dict[tuple, list[Workload]] = defaultdict(list)
        for wl in self.workloads:
            ns = wl.namespace or ""
            for k, v in wl.pod_labels.items():
                by_label[(ns, k, str(v))].append(wl)
        svc_to_wl: dict[tuple, list[Workload]] = {}
        wl_to_svc: dict[ObjectRef, list[K8sObject]] = defaultdict(list)
        for svc in self.by_kind.get("Service", []):
            selector = (svc.data.get("spec") or {}).get("selector")
            matched: list[Workload] = []
            if selector and isinstance(selector, dict):
                ns = svc.namespace or ""
                first_k, first_v = next(iter(selector.items()))
                candidates = by_label.get((ns, first_k, str(first_v)), [])
                matched = _prefer_same_file(svc, [w for w in candidates if selector_matches(selector, w.pod_labels)])
            svc_to_wl[svc.ref.key] = matched
            for w in matched:
                wl_to_svc[w.ref].append(svc)
        self._svc_to_wl = svc_to_wl
        self._wl_to_svc = {ref: _dedupe_services(ref, v) for ref, v in wl_to_svc.items()}

    def workloads_for(self, service: K8sObject) -> list[Workload]:
        if self._svc_to_wl is None:
            self._build_selection()
        return self._svc_to_wl.get(service.ref.key, [])  # type: ignore[union-attr]

    def services_for(self, workload: Workload) -> list[K8sObject]:
        if self._wl_to_svc is None:
            self._build_selection()
        return self._wl_to_svc.get(workload.ref, [])  # type: ignore[union-attr]

    def _controller_of(self, obj: K8sObject) -> K8sObject | None:
        """The object's controller (by uid when the input has them, else by kind and name)."""
        for ref in (obj.data.get("metadata") or {}).get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("controller"):
                by_uid = self._by_uid.get(ref.get("uid")) if ref.get("uid") else None
                return by_uid or self._by_key.get((str(ref.get("kind")), obj.namespace or "", str(ref.get("name"))))
        return None

    def pods_of(self, workload: Workload) -> list[K8sObject]:
        """The live Pods a workload runs: Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, ..."""
        if self._pods_of is None:
            self._by_uid = {o.data["metadata"]["uid"]: o for kind in TEMPLATE_PATHS for o in self.by_kind.get(kind, [])
                            if isinstance(o.data.get("metadata"), dict) and o.data["metadata"].get("uid")}
            pods_of: dict[ObjectRef, list[K8sObject]] = defaultdict(list)
            for pod in self.by_kind.get("Pod", []):
                top, seen = pod, 0
                while seen < 4 and (parent := self._controller_of(top)) is not None:
                    top, seen = parent, seen + 1
                if top is not pod:
                    pods_of[top.ref].append(pod)
            self._pods_of = pods_of
        if workload.obj.kind == "Pod":
            return [workload.obj]
        return self._pods_of.get(workload.ref, [])

    # -- mesh view ---------------------------------------------------------------------------

    def mode_of(self, obj: K8sObject | Workload) -> injection.ModeDecision:
        """Data-plane mode of a workload's pods, or of a namespace's pods for any other object."""
        key = (obj.ref, obj.template_path) if isinstance(obj, Workload) else (obj.namespace,)
        d = self._modes.get(key)
        if d is None:
            d = self._modes[key] = self._decide_mode(obj)
        return d

    def _decide_mode(self, obj: K8sObject | Workload, record: bool = True) -> injection.ModeDecision:
        """``record``: note assumed and unmeshed namespaces for the summary (not while a fix is re-checked)."""
        ns = obj.namespace
        ns_labels = self.namespace_labels.get(ns) if ns is not None and not self.force_mode else None
        inferred = self._inferred_mode.get(ns or "") if ns_labels is None and not self.force_mode else None
        assume = inferred.mode if inferred else self.assume_mode
        if isinstance(obj, Workload):
            d = injection.dataplane_mode(ns, ns_labels, obj.pod_meta, obj.pod_spec, assume)
        else:
            d = injection.namespace_mode(ns, ns_labels, assume)
        if d.assumed and self.force_mode:
            return injection.ModeDecision(d.mode, f"--mesh-mode {d.mode.value}")
        if d.assumed and inferred:
            if record:
                self.inferred_namespaces[ns or ""] = inferred.reason
                if inferred.mode is MeshMode.NONE:
                    self.unmeshed_namespaces.add(ns or "")
            return inferred
        if record and d.assumed:
            self.assumed_namespaces.add(ns or "")
        elif record and d.mode is MeshMode.NONE and ns in self.namespace_labels and (
                not isinstance(obj, Workload)  # a pod opting out does not take its namespace out of the mesh
                or injection.namespace_mode(ns, ns_labels, self.assume_mode).mode is MeshMode.NONE):
            self.unmeshed_namespaces.add(ns)
        return d


def _mesh_facts() -> type[MeshFacts]:
    """The facade's class, imported on first use (it imports every topic's facts)."""
    global _MESH_FACTS
    if _MESH_FACTS is None:
        from .facts import MeshFacts

        _MESH_FACTS = MeshFacts
    return _MESH_FACTS


_MESH_FACTS: type[MeshFacts] | None = None


class UndeclaredKind(Exception):
    """A rule looked up a kind it did not declare in ``targets`` or ``reads``."""


class Context:
    """What a rule sees: declared-kind lookups, the mesh view, and its parameters."""

    def __init__(
        self,
        index: Index,
        kinds: frozenset[str],
        params: Mapping[str, Any] | None = None,
        rule_code: str = "",
        replacements: Mapping[ObjectRef, K8sObject] | None = None,
    ) -> None:
        self._index = index
        self._kinds = kinds | ALWAYS_READ
        self.params: Mapping[str, Any] = params or {}
        self.rule_code = rule_code
        self._repl = replacements or {}
        #: a fix is being re-checked: lookups see the objects as it leaves them, and only whether the
        #: finding is still there counts, so a rule may skip building its fixes
        self.rechecking = bool(self._repl)
        # replacements of objects the input lacks are objects a fix creates: lookups see them too
        self._added: dict[str, list[K8sObject]] = defaultdict(list)
        for ref, obj in self._repl.items():
            if index.by_ref(ref) is None:
                self._added[ref.kind].append(obj)
        self.looked_up: set[str] = set()
        self.facts_used: set[str] = set()  # install facts read: "mesh-config", "injector", "mode"
        self._any_kind = False

    @classmethod
    def for_views(cls, index: Index) -> Context:
        """What a topic view sees: every kind, the run's memo, no replacements (so the mesh facts a
        view shows are the very ones the rules judged)."""
        ctx = cls(index, frozenset(), rule_code="view")
        ctx._any_kind = True
        return ctx

    def base(self) -> Context:
        """The same view without the fix being re-checked: facts memoised from here are the input's."""
        if not self._repl:
            return self
        ctx = Context(self._index, self._kinds, self.params, self.rule_code)
        ctx._any_kind = self._any_kind
        ctx.looked_up = self.looked_up
        ctx.facts_used = self.facts_used
        return ctx

    def changes(self, kind: str) -> tuple[set[tuple[str, str, str]], list[K8sObject]] | None:
        """While a fix is re-checked: the identities of the input's objects of ``kind`` it replaces, and
        the objects of ``kind`` as the fix leaves them (replaced or created); None when it touches none.
        Lets a fact over many objects be updated for the few a fix changes, not rebuilt."""
        changed = [(ref, obj) for ref, obj in self._repl.items() if ref.kind == kind]
        if not changed:
            return None
        return {ref.key for ref, _ in changed}, [obj for _, obj in changed]

    def changed_kinds(self) -> set[str]:
        """The kinds of the objects a fix being re-checked replaces or creates (empty otherwise)."""
        return {ref.kind for ref in self._repl}

    def replaces(self, ref: ObjectRef) -> bool:
        """Whether a fix being re-checked replaces this object."""
        return self.rechecking and ref in self._repl

    @property
    def mesh(self) -> MeshFacts:
        """Istio's facts about the objects this context sees (:class:`~kubectl_meshcheck.facts.MeshFacts`).

        A new view per access, not kept on the context: the two would make a reference cycle, and the
        rules run with the cyclic GC off (``pipeline.without_cyclic_gc``)."""
        return _mesh_facts()(self)

    def _need(self, kind: str) -> None:
        if kind not in self._kinds and not self._any_kind:
            raise UndeclaredKind(
                f"rule {self.rule_code} looked up {kind!r} without declaring it in targets or reads"
            )
        self.looked_up.add(kind)

    def _swap(self, obj: K8sObject) -> K8sObject:
        return self._repl.get(obj.ref, obj) if self._repl else obj

    def _swap_wl(self, wl: Workload) -> Workload:
        new = self._swap(wl.obj)
        return wl if new is wl.obj else Workload(new, wl.template_path)

    @property
    def mesh_config(self) -> MeshConfig:
        """The mesh config, counted as read (rules read it as ``ctx.mesh.config``: the facade's input)."""
        self.facts_used.add("mesh-config")
        return self._index.mesh_config

    @property
    def injector_settings(self) -> injection.InjectorSettings:
        """How the install injects (Istio version, native sidecars, CNI, hold): install facts like the
        mesh config, so not a declared-kind lookup (rules read it as ``ctx.mesh.settings``)."""
        self.facts_used.add("injector")
        return self._index.injector_settings

    def unknown(self, kind: str, namespace: str | None) -> list[str]:
        """Why objects of ``kind`` that could apply to ``namespace`` may be missing from the input (RBAC,
        timeouts): one sentence per gap, empty when all were read. A fact that says "none covers it"
        should say "unknown" instead when this is not empty (see :mod:`kubectl_meshcheck.access`)."""
        root = str(self._index.mesh_config.get("rootNamespace") or "istio-system")
        return [g.assumption() for g in self._index.gaps if g.kind == kind and g.affects(namespace, root)]

    @property
    def force_mode(self) -> MeshMode | None:
        """The ``--mesh-mode`` every namespace is treated with ("as if labelled so"), or None."""
        return self._index.force_mode

    def objects(self, kind: str) -> list[K8sObject]:
        """Every object of the kind, also outside ``-n`` (a root-namespace PeerAuthentication applies to all)."""
        self._need(kind)
        return [self._swap(o) for o in self._index.all_objects(kind)] + self._added.get(kind, [])

    def get(self, kind: str, namespace: str | None, name: str) -> K8sObject | None:
        self._need(kind)
        obj = self._index.get(kind, namespace, name)
        if obj is None:
            return next((o for o in self._added.get(kind, ()) if o.ref.key == (kind, namespace or "", name)), None)
        return self._swap(obj)

    def workloads(self) -> list[Workload]:
        self._need("Workload")
        return [self._swap_wl(w) for w in self._index.workloads]

    def workloads_for(self, service: K8sObject) -> list[Workload]:
        """Workloads whose pod template the Service's selector matches (same namespace)."""
        self._need("Workload")
        return [self._swap_wl(w) for w in self._index.workloads_for(service)]

    def services_for(self, workload: Workload) -> list[K8sObject]:
        """Services whose selector matches the workload's pod template labels."""
        self._need("Service")
        return [self._swap(s) for s in self._index.services_for(workload)]

    def observed_pods(self, workload: Workload) -> list[ObservedPod]:
        """What the workload's live Pods show (injected? proxy running? restarts?); empty for manifests.

        Declare ``Pod`` in ``reads`` to use it: the live source lists Pods only for rules that need them."""
        self._need("Pod")
        return self.cached(("observed", workload.ref), lambda: [observe(p) for p in self._index.pods_of(workload)],
                           kinds={"Pod"})

    def mode_of(self, obj: K8sObject | Workload) -> injection.ModeDecision:
        """Sidecar, ambient or none for a workload's pods (or a namespace's, for other objects)."""
        self.facts_used.add("mode")
        if self._repl:  # a fix may have changed the labels that decide it
            return self._index._decide_mode(obj, record=False)
        return self._index.mode_of(obj)

    def cached(self, key: tuple, compute: Callable[[], Any], kinds: Iterable[str] | None = None) -> Any:
        """Memoise a derived fact for the whole run (shared by all rules), e.g. per Service port.

        While a fix is re-checked the objects differ from the input, so the fact is computed afresh,
        unless ``kinds`` names every kind it depends on and the fix changes none of them (a fact over
        all Services need not be rebuilt to re-check a Deployment's annotation).
        """
        if self._repl and (kinds is None or any(ref.kind in kinds for ref in self._repl)):
            return compute()
        try:
            return self._index.memo[key]
        except KeyError:
            value = self._index.memo[key] = compute()
            return value
