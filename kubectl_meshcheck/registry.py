"""The rule registry: every rule by code, with the plugin that contributed it, and selection."""

from __future__ import annotations

import dataclasses
import types
import difflib
from collections.abc import Iterable

from .model import CODE_RE, Rule, Status, Topic

BUNDLED_PREFIX = "MC"


class RegistryError(Exception):
    """A plugin broke the rule contract (bad or duplicate code). Names the plugin(s)."""


def _check_contract(plugin: str, r: Rule) -> None:
    """What would make a rule register and then never run, said at once: an unknown topic, the engine's
    topic, a kind meshcheck never reads (a typo matches nothing, silently)."""
    from .sources.cluster import APIS  # the kinds meshcheck can read, live or from files

    if not isinstance(r.topic, Topic) or r.topic is Topic.ENGINE:
        topics = ", ".join(t.value for t in Topic if t is not Topic.ENGINE)
        raise RegistryError(f"plugin {plugin!r}: rule {r.code} has topic {getattr(r.topic, 'value', r.topic)!r}; "
                            f"use one of {topics} (Topic.ORG for an organisation's own)")
    known = {*APIS, "Workload"}
    for field_name, kinds in (("targets", r.targets), ("reads", r.reads)):
        for kind in sorted(set(kinds) - known):
            close = difflib.get_close_matches(kind, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known kinds: {', '.join(sorted(known))}"
            raise RegistryError(f"plugin {plugin!r}: rule {r.code} {field_name} {kind!r}, a kind meshcheck does "
                                f"not read{hint}")
    if not r.targets:
        raise RegistryError(f"plugin {plugin!r}: rule {r.code} has no targets, so it would never run")


class RuleRegistry:
    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def registrar(self, plugin: str, bundled: bool):
        """A ``register`` callback bound to one plugin, so provenance is recorded per rule."""

        def register(r: Rule | types.ModuleType) -> None:
            if isinstance(r, types.ModuleType):  # every rule the module defines
                found = sorted((v for v in vars(r).values() if isinstance(v, Rule)
                                and getattr(v.check, "__module__", None) == r.__name__), key=lambda v: v.code)
                if not found:
                    raise RegistryError(f"plugin {plugin!r} registered module {r.__name__!r}, which defines no rule")
                for v in found:
                    register(v)
                return
            if not isinstance(r, Rule):
                raise RegistryError(f"plugin {plugin!r} registered {r!r}, which is not a Rule")
            if not CODE_RE.match(r.code):
                raise RegistryError(
                    f"plugin {plugin!r}: rule code {r.code!r} must match {CODE_RE.pattern}"
                )
            if r.code.startswith(BUNDLED_PREFIX) and not bundled:
                raise RegistryError(
                    f"plugin {plugin!r}: rule code {r.code!r} uses the prefix {BUNDLED_PREFIX!r}, "
                    "which is reserved for bundled rules; choose your own prefix"
                )
            _check_contract(plugin, r)
            if r.code in self._rules:
                other = self._rules[r.code].plugin
                raise RegistryError(
                    f"rule code {r.code} is registered by both plugin {other!r} and plugin {plugin!r}"
                )
            self._rules[r.code] = dataclasses.replace(r, plugin=plugin)

        return register

    def drop_plugin(self, plugin: str) -> None:
        """Forget every rule of a plugin that failed half-way through registering."""
        self._rules = {c: r for c, r in self._rules.items() if r.plugin != plugin}

    def add_builtin(self, r: Rule) -> None:
        self._rules[r.code] = r

    def get(self, code: str) -> Rule | None:
        return self._rules.get(code.upper())

    def all(self) -> list[Rule]:
        return [self._rules[c] for c in sorted(self._rules)]

    def count_by_plugin(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._rules.values():
            out[r.plugin] = out.get(r.plugin, 0) + 1
        return out

    def select(
        self,
        topic: Topic | None = None,
        select: Iterable[str] = (),
        ignore: Iterable[str] = (),
        preview: bool = False,
    ) -> list[Rule]:
        """Rules to run, sorted by code: by topic, then ``--select`` / ``--ignore`` code prefixes.

        A prefix selects every code starting with it (``MC1`` = all ports rules); an explicitly
        selected preview rule runs even without ``--preview``.
        """
        sel = [s.strip().upper() for s in select if s.strip()]
        ign = [s.strip().upper() for s in ignore if s.strip()]
        out = []
        for r in self.all():
            if r.topic == Topic.ENGINE:
                continue
            if topic is not None and r.topic != topic:
                continue
            if sel and not any(r.code.startswith(p) for p in sel):
                continue
            if any(r.code.startswith(p) for p in ign):
                continue
            explicitly = any(r.code == p for p in sel)
            if r.status == Status.PREVIEW and not (preview or explicitly):
                continue
            out.append(r)
        return out

    def unknown_selectors(self, selectors: Iterable[str]) -> list[str]:
        """Selectors that match no registered code (a typo should be said, not ignored)."""
        codes = list(self._rules)
        return [s for s in selectors if s.strip() and not any(c.startswith(s.strip().upper()) for c in codes)]
