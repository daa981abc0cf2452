"""The data model every stage and every plugin shares.

Rules receive a :class:`K8sObject` (or a :class:`Workload` view of one) and yield
:class:`Diagnostic` values. The engine wraps each diagnostic into a :class:`Finding`, adding the
rule, the effective severity, the object, its owner and the suppression state, so a rule can never
get its own code, severity or object wrong. Fixes are RFC 6902 JSON Patch operations against a
target object, starting with ``test`` operations that pin the state the fix expects.

All classes are frozen dataclasses: values flow forward through the pipeline and nothing reaches
back to change them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from functools import cached_property
from typing import Any

CODE_RE = re.compile(r"^[A-Z]{2,5}[0-9]{3}$")


class Severity(IntEnum):
    """How bad a finding is. Ordered, so thresholds compare with ``>=``."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use info, warning or error)") from None

    def __str__(self) -> str:
        return self.name.lower()


class Topic(str, Enum):
    """The five pitfall areas (each a subcommand running only its own rules), ``org`` for an
    organisation's rules of its own (run by ``kubectl meshcheck`` and ``--select``), and the engine's."""

    PORTS = "ports"
    STARTUP = "startup"
    EGRESS = "egress"
    PROBES = "probes"
    CAPTURE = "capture"
    ORG = "org"  # an organisation's own rules that belong to none of the five (runs with every topic off)
    ENGINE = "engine"  # MC0xx: findings about the run itself; not for plugins


class Applicability(str, Enum):
    """Whether a fix can be applied blindly (ruff's meaning).

    SAFE keeps behaviour the user relies on; UNSAFE may change it (say how in ``caveats``);
    DISPLAY_ONLY needs a human to choose a value and is never applied.
    """

    SAFE = "safe"
    UNSAFE = "unsafe"
    DISPLAY_ONLY = "display-only"


class FixAvailability(str, Enum):
    """Whether a rule's findings come with fixes: never, sometimes or always (checked by the meta-tests)."""

    NEVER = "never"
    SOMETIMES = "sometimes"
    ALWAYS = "always"


class Status(str, Enum):
    """A rule's maturity: preview rules run only with ``--preview`` (or when selected by their code)."""

    STABLE = "stable"
    PREVIEW = "preview"
    DEPRECATED = "deprecated"


class MeshMode(str, Enum):
    """How a pod takes part in the mesh."""

    SIDECAR = "sidecar"
    AMBIENT = "ambient"
    NONE = "none"


def escape_pointer(token: str) -> str:
    """Escape one JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer_get(data: Any, pointer: str, default: Any = None) -> Any:
    """Resolve a JSON Pointer in plain dicts/lists; ``default`` when any step is missing."""
    if pointer in ("", "/"):
        return data
    cur = data
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict):
            if token not in cur:
                return default
            cur = cur[token]
        elif isinstance(cur, list):
            try:
                cur = cur[int(token)]
            except (ValueError, IndexError):
                return default
        else:
            return default
    return cur


@dataclass(frozen=True)
class ObjectRef:
    """Names one Kubernetes object and where it came from (``file.yaml:14`` or ``cluster:<ctx>``)."""

    api_version: str
    kind: str
    namespace: str | None
    name: str
    origin: str = ""

    def __hash__(self) -> int:
        # refs key most of the run's memos: hash once (the generated hash rebuilds a tuple per call)
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.api_version, self.kind, self.namespace, self.name, self.origin))
            object.__setattr__(self, "_hash", h)
        return h

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity inside one run: kind, namespace, name (origin and version do not matter)."""
        return (self.kind, self.namespace or "", self.name)

    def display(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "origin": self.origin,
        }


class K8sObject:
    """A Kubernetes object exactly as the API server or the file has it (camelCase dict).

    The source map (JSON Pointer -> line) is kept beside the dict, never inside it, and is computed
    lazily: only objects with findings ever need it.
    """

    __slots__ = ("_line_of", "data", "ref")

    def __init__(self, data: dict, ref: ObjectRef, line_of: Callable[[str], int | None] | None = None):
        self.data = data
        self.ref = ref
        self._line_of = line_of

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def namespace(self) -> str | None:
        return self.ref.namespace

    @property
    def labels(self) -> dict:
        return (self.data.get("metadata") or {}).get("labels") or {}

    @property
    def annotations(self) -> dict:
        return (self.data.get("metadata") or {}).get("annotations") or {}

    def get(self, pointer: str, default: Any = None) -> Any:
        return pointer_get(self.data, pointer, default)

    def line_of(self, pointer: str) -> int | None:
        """Line of the field at ``pointer`` (or of its nearest parent) in the source file."""
        return self._line_of(pointer) if self._line_of else None

    def location(self, pointer: str = "") -> str:
        """``file:line`` for a field, falling back to the object's own origin."""
        line = self.line_of(pointer)
        if line is None or ":" not in self.ref.origin or self.ref.origin.startswith("cluster:"):
            return self.ref.origin
        return f"{self.ref.origin.rsplit(':', 1)[0]}:{line}"

    def replaced(self, data: dict) -> K8sObject:
        """The same object with new content (used to verify a fix); keeps ref and source map."""
        return K8sObject(data, self.ref, self._line_of)

    def __repr__(self) -> str:
        return f"K8sObject({self.ref.display()})"


@dataclass(frozen=True)
class Workload:
    """A pod template seen through the controller that owns it.

    Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and bare Pod all expose one pod
    template; ``template_path`` is the JSON Pointer of that template inside ``obj`` (``""`` for a
    Pod), so a rule's paths and a fix's ops always point into the controller, never into a Pod.
    """

    obj: K8sObject
    template_path: str

    @cached_property
    def template(self) -> dict:
        return self.obj.get(self.template_path, {}) or {}

    @cached_property
    def pod_meta(self) -> dict:
        return self.template.get("metadata") or {}

    @cached_property
    def pod_labels(self) -> dict:
        return self.pod_meta.get("labels") or {}

    @property
    def pod_annotations(self) -> dict:
        return self.pod_meta.get("annotations") or {}

    @cached_property
    def pod_spec(self) -> dict:
        return self.template.get("spec") or {}

    @property
    def spec_path(self) -> str:
        return f"{self.template_path}/spec"

    def containers(self, init: bool = False) -> Iterator[tuple[str, dict]]:
        """(JSON Pointer, container) for regular (or init) containers of the template."""
        key = "initContainers" if init else "containers"
        for i, c in enumerate(self.pod_spec.get(key) or []):
            if isinstance(c, dict):
                yield f"{self.spec_path}/{key}/{i}", c

    @property
    def ref(self) -> ObjectRef:
        return self.obj.ref

    @property
    def namespace(self) -> str | None:
        return self.obj.namespace


@dataclass(frozen=True)
class PatchOp:
    """One RFC 6902 operation, ``path`` relative to the fix's target object."""

    op: str  # "add" | "remove" | "replace" | "test"
    path: str
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op != "remove":
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class Fix:
    """A computed change that clears a finding. Best (least disruptive) fixes come first.

    ``ops`` start with ``test`` operations, so a patch generated against one state refuses to apply
    to another. ``caveats`` say what the change may break (e.g. "ServiceMonitor monitoring/app
    selects this port by name"). A fix that must change several objects at once (two Services
    behind one container port) carries the other changes in ``also``; they are applied, verified
    and printed together. A fix whose only op is ``add`` at ``""`` creates its target (a ServiceEntry
    the input lacks): it is verified by re-checking with the new object added to the input.
    """

    title: str
    applicability: Applicability
    target: ObjectRef
    ops: tuple[PatchOp, ...] = ()
    caveats: tuple[str, ...] = ()
    also: tuple[Fix, ...] = ()  # changes to other objects that belong to the same fix

    def parts(self) -> tuple[Fix, ...]:
        """This fix and the changes on other objects it needs, each with one target."""
        return (self, *self.also)

    @property
    def created(self) -> dict[str, Any] | None:
        """The whole new object, when this fix creates its target (a single ``add`` at the root)."""
        if len(self.ops) == 1 and self.ops[0].op == "add" and self.ops[0].path == "" and isinstance(
                self.ops[0].value, dict):
            return self.ops[0].value
        return None

    def patch(self) -> list[dict[str, Any]]:
        return [op.to_json() for op in self.ops]


@dataclass(frozen=True)
class Diagnostic:
    """What a rule yields: where (JSON Pointer into the object), what, and how to fix it.

    ``message`` states the consequence in Istio's terms; ``args`` carries the structured facts
    behind it for ``-o json``; ``related`` names the other objects in a conflict.
    """

    path: str
    message: str
    args: Mapping[str, Any] = field(default_factory=dict)
    related: tuple[ObjectRef, ...] = ()
    fixes: tuple[Fix, ...] = ()
    #: what at ``path`` the finding is about, when one field holds several (the hosts of a Kafka list or
    #: of a mounted file): a fix is verified when the finding with this path and subject is gone
    subject: str = ""
    #: unknown facts the verdict itself rests on ("ServiceEntries in istio-system could not be read"):
    #: the finding names them and is at most a warning, since reading them could clear it
    assumptions: tuple[str, ...] = ()


CheckFn = Callable[[Any, Any], Iterable[Diagnostic]]


@dataclass(frozen=True)
class Rule:
    """A registered check. Built with the :func:`rule` decorator; data, not a hook.

    ``targets`` are the kinds ``check`` is called for (``"Workload"`` means every pod-template
    holder, passed as a :class:`Workload`); ``reads`` the other kinds it looks up through the
    context. The live source lists only ``targets | reads`` of the selected rules.
    """

    code: str
    name: str
    topic: Topic
    summary: str
    check: CheckFn
    targets: frozenset[str]
    reads: frozenset[str] = frozenset()
    severity: Severity = Severity.WARNING
    fix: FixAvailability = FixAvailability.NEVER
    params: Mapping[str, Any] = field(default_factory=dict)
    status: Status = Status.STABLE
    doc: str = ""
    sidecar_only: bool = True
    ist_codes: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def kinds(self) -> frozenset[str]:
        return self.targets | self.reads


def rule(
    *,
    code: str,
    name: str,
    topic: Topic,
    summary: str,
    targets: Iterable[str],
    reads: Iterable[str] = (),
    severity: Severity = Severity.WARNING,
    fix: FixAvailability = FixAvailability.NEVER,
    params: Mapping[str, Any] | None = None,
    status: Status = Status.STABLE,
    sidecar_only: bool = True,
    ist_codes: Iterable[str] = (),
) -> Callable[[CheckFn], Rule]:
    """Decorator turning a check function ``(obj, ctx) -> Iterable[Diagnostic]`` into a Rule.

    The function's docstring is the rule's user documentation (sections: What it checks, What
    Istio does, Example, Fixes, References). ``sidecar_only`` (the default: most pitfalls are the
    sidecar's) rules are not run for objects in ambient or non-mesh namespaces; pass
    ``sidecar_only=False`` for a rule that holds whatever the mesh mode (``rules CODE`` says which).
    ``ist_codes`` names the ``istioctl analyze`` messages the rule matches, for users coming from there.
    """

    def wrap(fn: CheckFn) -> Rule:
        return Rule(
            code=code,
            name=name,
            topic=topic,
            summary=summary,
            check=fn,
            targets=frozenset(targets),
            reads=frozenset(reads),
            severity=severity,
            fix=fix,
            params=dict(params or {}),
            status=status,
            doc=inspect.cleandoc(fn.__doc__ or ""),
            sidecar_only=sidecar_only,
            ist_codes=tuple(ist_codes),
        )

    return wrap


@dataclass(frozen=True)
class Owner:
    """Who manages an object (Helm release, Argo CD app, Flux, an operator): fix at the source."""

    kind: str  # "Helm", "ArgoCD", "Flux", "Kustomize", "Operator", ...
    name: str
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "hint": self.hint}


@dataclass(frozen=True)
class Suppression:
    """Why a finding is silenced: an annotation or a config entry, always with a reason."""

    source: str  # "annotation meshcheck.io/ignore-MC101" or "config entry 2"
    reason: str


@dataclass(frozen=True)
class FixResult:
    """A fix as the engine hands it out: checked against the object and, if possible, proven."""

    fix: Fix
    verified: bool | None  # True: applied offline and the finding cleared; None: display-only
    withheld: str | None = None  # an organisation's veto reason
    note: str = ""


@dataclass(frozen=True)
class Finding:
    """A diagnostic placed in context by the engine."""

    rule: Rule
    severity: Severity
    object: ObjectRef
    location: str
    diagnostic: Diagnostic
    fixes: tuple[FixResult, ...] = ()
    owner: Owner | None = None
    suppressed: Suppression | None = None
    #: what the verdict rests on that could not be read (the rule's own, then the engine's: a kind the
    #: rule looked up, or an install fact it used, unreadable where this object is)
    assumptions: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def sort_key(self) -> tuple:
        return (
            self.object.namespace or "",
            self.object.kind,
            self.object.name,
            self.rule.code,
            self.diagnostic.path,
        )
