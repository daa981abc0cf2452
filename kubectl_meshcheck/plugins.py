"""Build the plugin manager for one run: bundled plugins, entry points, local plugins.

Load order (pytest's): block names from ``--disable-plugin`` / config; register the bundled
plugins by module name (a krew archive may carry no dist-info, so not through our own entry
points); load the ``meshcheck`` entry-point group unless autoload is off; load local plugins named
in config; validate hook implementations; collect rules. A plugin that fails at any step prints
one warning line and the run goes on without it, unless it is required.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .config import Config
from .registry import RegistryError, RuleRegistry

ENTRY_POINT_GROUP = "meshcheck"
AUTOLOAD_ENV = "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD"
BUNDLED = ("ports", "ownership", "startup", "probes", "egress", "capture")
BUNDLED_PACKAGE = "kubectl_meshcheck_plugins"


class PluginError(Exception):
    """A required plugin is missing or broken, or the rule contract is violated."""


@dataclass
class PluginInfo:
    name: str
    origin: str  # "bundled", "entry point (dist 1.0)", "local path /x.py", "module x"
    version: str = ""
    status: str = "loaded"  # loaded | blocked | failed: <reason>
    rules: int = 0
    hooks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "origin": self.origin,
            "status": self.status,
            "rules": self.rules,
            "hooks": self.hooks,
        }


@dataclass
class PluginHost:
    pm: pluggy.PluginManager
    registry: RuleRegistry
    infos: list[PluginInfo]
    warnings: list[str]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _own_version() -> str:
    try:
        return metadata.version("kubectl-meshcheck")
    except metadata.PackageNotFoundError:
        return ""


def _load_path(path: str) -> Any:
    """Import a plugin file under a unique module name (two files may share a stem)."""
    p = Path(path)
    mod_name = f"meshcheck_local_{abs(hash(str(p))):x}_{p.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def build_plugin_manager(
    config: Config | None = None,
    disable: tuple[str, ...] | list[str] = (),
    autoload: bool | None = None,
    extra_plugins: tuple[tuple[str, Any], ...] = (),
    warn: Callable[[str], None] | None = None,
) -> PluginHost:
    """A fresh manager and rule registry for one run (never built at import time).

    ``extra_plugins`` (name, module-or-object) lets tests and embedders add plugins directly.
    ``warn`` receives one-line warnings as they happen (the CLI prints them to stderr).
    """
    config = config or Config()
    if autoload is None:
        autoload = not os.environ.get(AUTOLOAD_ENV)
    warnings: list[str] = []

    def warning(msg: str) -> None:
        warnings.append(msg)
        if warn:
            warn(msg)

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = {n.strip() for n in [*disable, *config.disable_plugins] if n.strip()}
    for name in blocked:
        pm.set_blocked(name)
    infos: list[PluginInfo] = []
    bundled_names: set[str] = set()
    version = _own_version()

    def add(name: str, origin: str, loader: Callable[[], Any], ver: str = "", bundled: bool = False) -> None:
        info = PluginInfo(name=name, origin=origin, version=ver)
        infos.append(info)
        if name in blocked:
            info.status = "blocked"
            return
        if pm.has_plugin(name) or name in {i.name for i in infos[:-1] if i.status == "loaded"}:
            info.status = "failed: another plugin already uses this name"
            warning(f"plugin {name!r} ({origin}) not loaded: another plugin already uses this name")
            return
        try:
            plugin = loader()
            pm.register(plugin, name=name)
        except Exception as e:  # a broken plugin must not take the CLI down
            info.status = f"failed: {_one_line(e)}"
            warning(f"plugin {name!r} ({origin}) failed to load: {_one_line(e)}")
            return
        if bundled:
            bundled_names.add(name)

    for name in BUNDLED:
        add(name, "bundled", lambda n=name: importlib.import_module(f"{BUNDLED_PACKAGE}.{n}"), version, True)
    if autoload:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            dist_ver = dist.version if dist is not None else ""
            add(ep.name, f"entry point ({dist_name})", ep.load, dist_ver)
    for path in config.plugin_paths:
        add(Path(path).stem, f"local path {path}", lambda p=path: _load_path(p))
    for mod in config.plugin_modules:
        add(mod, f"module {mod}", lambda m=mod: importlib.import_module(m))
    for name, obj in extra_plugins:
        add(name, "embedded", lambda o=obj: o)

    # Validate hook implementations against the specs; drop the offenders.
    by_name: dict[str, PluginInfo] = {}
    for i in infos:  # the loaded one wins over a rejected namesake
        if i.name not in by_name or i.status == "loaded":
            by_name[i.name] = i
    for plugin_name, plugin in list(pm.list_name_plugin()):
        try:
            _check_impls(pm, plugin, plugin_name)
        except pluggy.PluginValidationError as e:
            pm.unregister(plugin)
            by_name[plugin_name].status = f"failed: {_one_line(e)}"
            warning(f"plugin {plugin_name!r} failed validation: {_one_line(e)}")

    from .engine import ENGINE_RULES

    registry = RuleRegistry()
    for r in ENGINE_RULES:
        registry.add_builtin(r)
    for impl in pm.hook.meshcheck_register_rules.get_hookimpls():
        name = impl.plugin_name
        try:
            impl.function(register=registry.registrar(name, bundled=name in bundled_names))
        except RegistryError as e:
            raise PluginError(str(e)) from None
        except Exception as e:
            registry.drop_plugin(name)
            pm.unregister(name=name)
            by_name[name].status = f"failed: {_one_line(e)}"
            warning(f"plugin {name!r} failed while registering rules: {_one_line(e)}")

    counts = registry.count_by_plugin()
    for info in infos:
        if info.status != "loaded":
            continue
        info.rules = counts.get(info.name, 0)
        plugin = pm.get_plugin(info.name)
        if plugin is not None:
            info.hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
    for req in config.required_plugins:
        info = by_name.get(req)
        if info is None or info.status != "loaded":
            why = "not installed" if info is None else info.status
            raise PluginError(f"required plugin {req!r} is not available ({why})")
    return PluginHost(pm=pm, registry=registry, infos=infos, warnings=warnings)


def _check_impls(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """Every ``meshcheck_*`` function a plugin defines must match a spec (catches typos). The specs are
    read from the hookspec module, not from ``pm.hook``: pluggy adds a caller there for every name a
    plugin implements, so a misspelt ``@hookimpl`` would count as known."""
    known = {n for n in dir(hookspecs) if n.startswith("meshcheck_")}
    for attr in dir(plugin):
        if attr.startswith("meshcheck_") and attr not in known and inspect.isroutine(getattr(plugin, attr, None)):
            raise pluggy.PluginValidationError(
                plugin, f"unknown hook {attr!r} in plugin {name!r}; known hooks: {', '.join(sorted(known))}"
            )
