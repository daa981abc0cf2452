"""One run, from settings to findings: read the input (files, a kustomization or the cluster), index it,
run the selected rules. The CLI and the testing harness both call :func:`run` / :func:`analyse`, so a
rule is judged the same way in a terminal, in CI and in an organisation's tests.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .engine import Engine, RunResult
from .index import SELECTABLE_KINDS, Index, label_selector
from .mesh.injection import InjectorSettings
from .model import K8sObject, MeshMode, Rule, Severity, Topic
from .plugins import PluginHost
from .sources.manifests import LoadResult, kubeconfig_namespace, load_kustomize, load_paths


class InputError(Exception):
    """The settings or the input cannot be used (a selector that matches no rule, a bad label
    selector): one line naming what is wrong."""


@dataclass
class Settings:
    """What a run needs, whatever asked for it (flags, a test, an embedding program)."""

    host: PluginHost
    config: Config = field(default_factory=Config)
    topic: Topic | None = None
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    preview: bool = False
    files: Sequence[str] = ()
    recursive: bool = False
    kustomize: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    context: str | None = None
    kubeconfig: str | None = None
    selector: str | None = None
    request_timeout: float | None = None
    force_mode: MeshMode | None = None  # --mesh-mode: every namespace as if labelled so
    assume_mode: MeshMode = MeshMode.SIDECAR  # namespaces the input does not describe
    injector: InjectorSettings | None = None
    use_annotations: bool = True
    progress: Callable[[str], None] | None = None


@dataclass
class Run:
    """A finished run: what was read, the index over it, and the findings."""

    settings: Settings
    rules: list[Rule]
    loaded: LoadResult
    live: Any  # sources.cluster.ClusterResult, or None for files
    objects: list[K8sObject]
    index: Index
    result: RunResult

    def analyse(self, objects: list[K8sObject]) -> tuple[list[K8sObject], Index, RunResult]:
        """The same analysis over other objects (what ``--fix`` leaves), with this run's settings."""
        return analyse(objects, self.rules, self.settings, self.live)


def select_rules(settings: Settings) -> list[Rule]:
    """The rules a run executes: the topic's, narrowed by ``select``/``ignore`` code prefixes."""
    registry = settings.host.registry
    unknown = registry.unknown_selectors([*settings.select, *settings.ignore])
    if unknown:
        raise InputError(f"--select/--ignore: no rule code starts with {', '.join(unknown)} "
                         "(see 'kubectl meshcheck rules')")
    return registry.select(settings.topic, settings.select, settings.ignore, settings.preview)


def run(settings: Settings, rules: list[Rule] | None = None) -> Run:
    """Read, index and judge. Raises :class:`InputError`, and ``sources.cluster.ClusterError`` when the
    cluster cannot be read at all; unreadable files are in ``Run.loaded.errors``, not raised."""
    rules = select_rules(settings) if rules is None else rules
    if settings.selector:
        try:
            label_selector(settings.selector)
        except ValueError as e:
            raise InputError(f"-l/--selector: {e}") from None
    loaded = LoadResult()
    live = None
    if settings.files or settings.kustomize:  # namespace-less objects go where kubectl apply would put them
        loaded.default_namespace = (settings.namespace or kubeconfig_namespace(settings.kubeconfig, settings.context)
                                    or "default")
    if settings.files:
        load_paths(list(settings.files), settings.recursive, loaded)
    if settings.kustomize:
        load_kustomize(settings.kustomize, loaded)
    if not settings.files and not settings.kustomize:
        live = read_live(settings, rules)
        loaded.objects = live.objects
    objects, index, result = analyse(loaded.objects, rules, settings, live)
    return Run(settings, rules, loaded, live, objects, index, result)


def read_live(settings: Settings, rules: list[Rule]) -> Any:
    """The cluster of the current (or ``context``) context: only the kinds the rules need."""
    from .sources.cluster import ClusterSettings, read_cluster

    cluster = ClusterSettings(kubeconfig=settings.kubeconfig, context=settings.context,
                              namespace=settings.namespace, all_namespaces=settings.all_namespaces,
                              selector=settings.selector, request_timeout=settings.request_timeout)
    return read_cluster(cluster, {k for r in rules for k in r.kinds}, settings.progress)


def scope_of(settings: Settings, live: Any) -> list[str] | None:
    """The namespaces judged and shown (``-n``): the live source's, else the flag's for files."""
    if live is not None:
        return live.namespaces
    if settings.namespace and not settings.all_namespaces:
        return [settings.namespace]
    return None


def analyse(objects: list[K8sObject], rules: list[Rule], settings: Settings,
            live: Any = None) -> tuple[list[K8sObject], Index, RunResult]:
    """Index ``objects`` and run ``rules`` over them (fixes verified): the part every run shares."""
    if live is None and settings.selector:  # the live source asked the server to filter
        matches = label_selector(settings.selector)
        objects = [o for o in objects if o.kind not in SELECTABLE_KINDS or matches(o.labels)]
    index = Index(objects, settings.assume_mode, force_mode=settings.force_mode,
                  injector_settings=settings.injector, scope=scope_of(settings, live),
                  pod_evidence=live.pod_evidence if live is not None else None)
    engine = Engine(index, settings.host.pm, settings.config, use_annotations=settings.use_annotations)
    with without_cyclic_gc():
        result = engine.run(rules, live.unreadable if live is not None else [])
    return objects, index, result


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """The cyclic GC off while the rules run, and what they built frozen after: the rules make no cycles
    (measured: a collection after a run with it off frees nothing), yet at 10,000 workloads its full
    collections over their memos and findings cost ~3 s. Objects still go by reference counting."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was:
            gc.enable()


def summary(r: Run, fail_on: Severity, exit_code: int) -> dict[str, Any]:
    """The run's ``summary`` as ``-o json`` and every renderer have it."""
    result, index = r.result, r.index
    by_sev = {str(s): sum(1 for f in result.findings if f.severity == s and not f.suppressed) for s in Severity}
    assumed = sorted(index.assumed_namespaces)
    force = r.settings.force_mode
    out: dict[str, Any] = {
        "topic": r.settings.topic.value if r.settings.topic else "all",
        "findings": sum(by_sev.values()),
        "bySeverity": by_sev,
        "suppressed": sum(1 for f in result.findings if f.suppressed),
        "rules": [x.code for x in r.rules],
        "objects": len(r.objects),
        "workloads": len(index.workloads),
        "files": r.loaded.files,
        "assumedMeshMode": {"mode": index.assume_mode.value, "namespaces": assumed} if assumed else None,
        "inferredMeshMode": dict(sorted(index.inferred_namespaces.items())) or None,
        "withAssumptions": sum(1 for f in result.findings if f.assumptions and not f.suppressed),
        "fullAccess": not result.gaps,
        "forcedMeshMode": force.value if force else None,
        "namespacesNotInMesh": sorted(index.unmeshed_namespaces),
        "failOn": str(fail_on),
        "exitCode": exit_code,
    }
    if r.live is not None:
        out["cluster"] = r.live.summary()
    return out
