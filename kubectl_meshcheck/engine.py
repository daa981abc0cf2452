"""Run the selected rules over the Index and turn their diagnostics into findings.

One pass: rules run sorted by code; each diagnostic becomes a :class:`Finding` with the rule's
effective severity, the object, its owner, its fixes (vetted by plugins, applied offline and
re-checked) and its suppression state. A rule that crashes on an object becomes one MC001 finding
and every other rule and object still runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from .access import Gap, effect, group
from .config import Config
from .fixes import FixDoesNotApply, apply_ops, patched
from .index import TEMPLATE_PATHS, Context, Index, UndeclaredKind
from .model import (
    Applicability,
    Diagnostic,
    Finding,
    FixAvailability,
    FixResult,
    K8sObject,
    MeshMode,
    ObjectRef,
    Rule,
    Severity,
    Topic,
    Workload,
    rule,
)
from .suppress import apply_suppressions

_ENGINE_DOC = """What it checks: {what}

What Istio does: nothing; this finding is about the meshcheck run itself.

Example: {example}

Fixes: {fixes}

References: DESIGN.md section 5 (codes, severity, suppression)."""


def _engine_rule(code: str, name: str, summary: str, severity: Severity, what: str, example: str, fixes: str) -> Rule:
    r = rule(code=code, name=name, topic=Topic.ENGINE, summary=summary, targets=(), severity=severity,
             sidecar_only=False)(lambda obj, ctx: ())
    return dataclasses.replace(r, doc=_ENGINE_DOC.format(what=what, example=example, fixes=fixes), plugin="engine")


RULE_CRASHED = _engine_rule(
    "MC001", "rule-crashed", "a rule failed on an object; other rules still ran", Severity.ERROR,
    "a rule raised an exception (or looked up a kind it did not declare) while checking an object, or a "
    "plugin's owner or veto hook raised one (reported once per hook and plugin; the hook is skipped there).",
    "a third-party rule assumes spec.ports is always present and meets an ExternalName Service.",
    "report it to the plugin's authors (the message names the rule and the error); --ignore the code meanwhile.")
UNUSED_SUPPRESSION = _engine_rule(
    "MC002", "unused-suppression", "a suppression matches no finding", Severity.INFO,
    "an ignore annotation or config entry whose rule ran but found nothing to silence on that object.",
    "meshcheck.io/ignore-MC101 left on a Service after its ports were renamed.",
    "delete the annotation or config entry.")
INPUT_UNREADABLE = _engine_rule(
    "MC003", "input-unreadable", "part of the input could not be read; what rests on it is named",
    Severity.WARNING,
    "a kind, a namespace or an install object could not be read (RBAC 403, timeout, 429/5xx after "
    "retries). One finding per run lists them; objects that could not be read are not judged, and every "
    "finding whose verdict rests on one of them names the assumption it was judged on (`assumptions`).",
    "the user may not list ServiceEntries in istio-system, so external endpoints are judged as if no "
    "ServiceEntry there covered them.",
    "grant get/list on the kinds named, or narrow the run with --select; --require-full-access makes such a "
    "run exit 4.")
SUPPRESSION_WITHOUT_REASON = _engine_rule(
    "MC004", "suppression-without-reason", "a suppression has no reason, so it suppresses nothing",
    Severity.WARNING,
    "an ignore annotation or config entry with an empty value; meshcheck requires a reason for every suppression.",
    'meshcheck.io/ignore-MC101: ""',
    "write why the finding is acceptable as the annotation's value (e.g. a ticket).")
ENGINE_RULES = (RULE_CRASHED, UNUSED_SUPPRESSION, INPUT_UNREADABLE, SUPPRESSION_WITHOUT_REASON)


@dataclass
class RunResult:
    findings: list[Finding]
    rules: list[Rule]
    index: Index
    unreadable: list[dict[str, Any]] = field(default_factory=list)  # the gaps, with their effect, for output
    looked_up: dict[str, set[str]] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    def visible(self, min_severity: Severity, show_suppressed: bool) -> list[Finding]:
        return [f for f in self.findings if f.severity >= min_severity and (show_suppressed or not f.suppressed)]

    def failing(self, fail_on: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= fail_on and not f.suppressed]


def _subjects(rule_: Rule, index: Index) -> Iterable[K8sObject | Workload]:
    for kind in sorted(rule_.targets):
        if kind == "Workload":
            yield from index.workloads
        else:
            yield from index.objects(kind)


def _expand(kinds: Iterable[str]) -> set[str]:
    """Kinds with ``Workload`` replaced by the kinds behind it."""
    out = set(kinds)
    if "Workload" in out:
        out |= set(TEMPLATE_PATHS)
    return out


def _obj(subject: K8sObject | Workload) -> K8sObject:
    return subject.obj if isinstance(subject, Workload) else subject


class Engine:
    def __init__(self, index: Index, pm: pluggy.PluginManager, config: Config | None = None,
                 verify_fixes: bool = True, use_annotations: bool = True) -> None:
        self.index = index
        self.pm = pm
        self.config = config or Config()
        self.verify_fixes = verify_fixes
        self.use_annotations = use_annotations
        self._hook_crashes: dict[tuple[str, str], Finding] = {}

    def params_for(self, r: Rule) -> dict[str, Any]:
        return {**r.params, **self.config.params.get(r.code, {})}

    def context(self, r: Rule, replacements: dict | None = None) -> Context:
        return Context(self.index, r.kinds, self.params_for(r), r.code, replacements)

    def run(self, rules: list[Rule], gaps: list[Gap] | None = None) -> RunResult:
        """Every rule over its subjects. ``gaps`` (what the live source could not read) never skip a
        rule: a target kind that could not be read has no objects to judge, and a looked-up kind or an
        install fact that could not be read is judged on its default, named on each finding it touches."""
        gaps = list(gaps or [])
        self.index.gaps = gaps
        findings: list[Finding] = []
        looked_up: dict[str, set[str]] = {}
        targeted: set[str] = set()
        used: set[str] = set()
        root = str(self.index.mesh_config.get("rootNamespace") or "istio-system")
        for r in sorted(rules, key=lambda x: x.code):
            ctx = self.context(r)
            if r.sidecar_only:
                ctx.facts_used.add("mode")
            mine: list[Finding] = []
            for subject in _subjects(r, self.index):
                obj = _obj(subject)
                if r.sidecar_only and self.index.mode_of(subject).mode is not MeshMode.SIDECAR:
                    continue
                try:
                    diags = list(r.check(subject, ctx))
                except Exception as e:  # isolate a crashing rule: one MC001, the rest runs
                    findings.append(self._crash(r, obj, e))
                    continue
                for d in diags:
                    mine.append(self._finding(r, subject, d, ctx))
            looked_up[r.code] = set(ctx.looked_up)
            lookups = _expand(r.reads | ctx.looked_up)
            targeted |= _expand(r.targets)
            used |= lookups
            relevant = [g for g in gaps if (g.kind in lookups and not g.fact) or g.fact in ctx.facts_used]
            findings += [self._qualified(f, relevant, root) for f in mine] if relevant else mine
        findings += self._hook_crashes.values()
        if gaps:
            findings.append(self._unreadable(gaps))
        unreadable = [{**g.to_json(), "effect": effect(g, targeted, used)} for g in gaps]
        objects = [o for objs in self.index.by_kind.values() for o in objs]
        findings, problems = apply_suppressions(
            findings, objects, self.config.suppress, {r.code for r in rules}, self.use_annotations
        )
        for p in problems:
            er = UNUSED_SUPPRESSION if p.kind == "unused" else SUPPRESSION_WITHOUT_REASON
            diagnostic = Diagnostic(p.path, p.message, {"code": p.code})
            findings.append(Finding(er, er.severity, p.obj, p.obj.origin, diagnostic))
        findings.sort(key=lambda f: f.sort_key)
        return RunResult(findings, rules, self.index, unreadable, looked_up, gaps)

    def _qualified(self, f: Finding, gaps: list[Gap], root: str) -> Finding:
        """The finding with the gaps that could change it named: those where its object is."""
        extra = []
        for g in gaps:
            if g.affects(f.object.namespace, root):
                mode = None
                if g.fact == "mode":
                    mode = self.index.inferred_namespaces.get(f.object.namespace or "") or (
                        f"{self.index.assume_mode.value} mode assumed (no running pods there to infer it from)")
                extra.append(g.assumption(mode))
        if not extra:
            return f
        return dataclasses.replace(f, assumptions=tuple(dict.fromkeys((*f.assumptions, *extra))))

    # -- building findings ----------------------------------------------------------------

    def _crash(self, r: Rule, obj: K8sObject, e: Exception) -> Finding:
        what = "looked up an undeclared kind" if isinstance(e, UndeclaredKind) else "crashed"
        first = _first_line(e)
        msg = f"rule {r.code} ({r.plugin or 'unknown plugin'}) {what} on this object: {type(e).__name__}: {first}"
        d = Diagnostic("", msg, {"rule": r.code, "plugin": r.plugin, "error": type(e).__name__})
        return Finding(RULE_CRASHED, RULE_CRASHED.severity, obj.ref, obj.location(), d)

    def _unreadable(self, gaps: list[Gap]) -> Finding:
        """One MC003 for the whole run: what could not be read, grouped (the summary has the detail)."""
        rows = group(gaps)
        listed = "; ".join(f"{kind} ({scope}: {reason})" for kind, scope, reason in rows[:6])
        more = f"; and {len(rows) - 6} more" if len(rows) > 6 else ""
        msg = (f"{len(gaps)} part(s) of the input could not be read: {listed}{more}. Objects that could not be "
               "read are not judged; findings whose verdict rests on the rest name that assumption")
        ref = ObjectRef("v1", "Input", None, "*", "")
        args = {"unreadable": [g.to_json() for g in gaps]}
        return Finding(INPUT_UNREADABLE, INPUT_UNREADABLE.severity, ref, ref.origin, Diagnostic("", msg, args))

    def _finding(self, r: Rule, subject: K8sObject | Workload, d: Diagnostic, ctx: Context) -> Finding:
        obj = _obj(subject)
        sev = self.config.severity.get(r.code, r.severity)
        if d.assumptions and sev > Severity.WARNING:  # the verdict rests on an unknown: reading it may clear it
            sev = Severity.WARNING
        owners = self._hook("meshcheck_detect_owner", obj, {"obj": obj, "ctx": ctx}, first=True)
        results = []
        for fix in d.fixes:
            verified, note = self._verify(r, subject, d, fix) if self.verify_fixes else (None, "not verified")
            results.append(FixResult(fix, verified, None, note))
        f = Finding(r, sev, obj.ref, obj.location(d.path), d, tuple(results), owners[0] if owners else None,
                    assumptions=d.assumptions)
        vetted = []
        for res in results:  # a veto sees the finding whole, its fixes included
            vetoes = self._hook("meshcheck_veto_fix", obj, {"fix": res.fix, "finding": f, "ctx": ctx})
            vetted.append(dataclasses.replace(res, withheld="; ".join(str(v) for v in vetoes if v) or None))
        return dataclasses.replace(f, fixes=tuple(vetted))

    def _hook(self, name: str, obj: K8sObject, kwargs: dict[str, Any], first: bool = False) -> list[Any]:
        """A hook's answers, asking each plugin in pluggy's order (the last registered first), so one
        that crashes is one MC001 naming it (once per run) and the others still answer."""
        answers = []
        for impl in reversed(getattr(self.pm.hook, name).get_hookimpls()):
            try:
                value = impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
            except Exception as e:  # isolate a crashing plugin hook like a crashing rule
                key = (name, impl.plugin_name)
                if key not in self._hook_crashes:
                    first_line = _first_line(e)
                    msg = (f"hook {name} of plugin {impl.plugin_name!r} crashed on this object (and is skipped "
                           f"wherever else it fails): {type(e).__name__}: {first_line}")
                    d = Diagnostic("", msg, {"hook": name, "plugin": impl.plugin_name, "error": type(e).__name__})
                    self._hook_crashes[key] = Finding(RULE_CRASHED, RULE_CRASHED.severity, obj.ref, obj.location(), d)
                continue
            if value is not None:
                answers.append(value)
                if first:
                    break
        return answers

    def _verify(self, r: Rule, subject: K8sObject | Workload, d: Diagnostic, fix) -> tuple[bool | None, str]:
        """Apply the fix offline and re-run the rule: verified only if the finding is gone."""
        if fix.applicability is Applicability.DISPLAY_ONLY or not fix.ops:
            return None, ""
        obj = _obj(subject)
        repl = {}
        for part in fix.parts():
            target = obj if part.target == obj.ref else self.index.by_ref(part.target)
            if part.created is not None:
                if target is not None or part.target in repl:
                    return False, f"{part.target.display()} already exists, so the fix cannot create it"
                repl[part.target] = _new_object(part)
                continue
            if target is None:
                return False, f"{part.target.display()} is not in the input, so the fix could not be applied offline"
            try:
                repl[target.ref] = patched(repl.get(target.ref, target), part)
            except FixDoesNotApply as e:
                return False, f"the patch for {part.target.display()} does not apply: {e}"
        new_obj = repl.get(obj.ref, obj)
        new_subject: K8sObject | Workload = (
            Workload(new_obj, subject.template_path) if isinstance(subject, Workload) else new_obj
        )
        try:
            again = list(r.check(new_subject, self.context(r, repl)))
        except Exception as e:
            return False, f"re-checking after the fix failed: {type(e).__name__}: {e}"
        if any(x.path == d.path and x.subject == d.subject for x in again):
            return False, "the finding is still there after the fix"
        return True, ""


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def _new_object(fix) -> K8sObject:
    """The object a creating fix adds, as it will be after ``kubectl create`` (checked like any other)."""
    data = apply_ops({}, fix)
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    ref = ObjectRef(str(data.get("apiVersion", fix.target.api_version)), str(data.get("kind", fix.target.kind)),
                    meta.get("namespace", fix.target.namespace), str(meta.get("name", fix.target.name)),
                    "created by the fix")
    return K8sObject(data, ref)


def fix_availability_ok(r: Rule, diags: list[Diagnostic]) -> bool:
    """The rule's declared fix availability matches what it produced (used by the meta-tests)."""
    if r.fix is FixAvailability.ALWAYS:
        return all(d.fixes for d in diags)
    if r.fix is FixAvailability.NEVER:
        return not any(d.fixes for d in diags)
    return True
