"""The extension contract: every hook a meshcheck plugin may implement.

A plugin is a module (or object) with functions decorated ``@kubectl_meshcheck.hookimpl`` whose
names match the specs below. Third-party plugins are found through the ``meshcheck`` entry-point
group::

    # pyproject.toml of meshcheck-acme
    [project.entry-points.meshcheck]
    acme = "meshcheck_acme"

or named in the config file (``plugins: {paths: [...], modules: [...]}``). Bundled plugins use
exactly the same hooks and import only the public API (``from kubectl_meshcheck import ...``).

Hook arguments are passed by name; an implementation may accept any subset of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from types import ModuleType

    from .index import Context
    from .model import Finding, Fix, K8sObject, Owner, Rule

PROJECT = "meshcheck"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def meshcheck_register_rules(register: Callable[[Rule | ModuleType], None]) -> None:
    """Contribute rules: call ``register(rule)`` once for each :class:`Rule` the plugin provides, or
    ``register(module)`` for every rule a module defines (so a new rule in that module is registered
    without touching anything else; a module that defines none is an error).

    Rules are data (built with the ``@rule`` decorator), not hook implementations, so they can be
    listed, selected and documented without running, and a rule that crashes is reported as MC001
    while every other rule still runs. Codes must match ``^[A-Z]{2,5}[0-9]{3}$``; the ``MC`` prefix
    is reserved for bundled plugins; a duplicate code is a hard error naming both plugins.

    Example::

        @hookimpl
        def meshcheck_register_rules(register):
            register(port_prefix_not_approved)
    """


@hookspec(firstresult=True)
def meshcheck_detect_owner(obj: K8sObject, ctx: Context) -> Owner | None:
    """Say who manages ``obj`` (Helm release, Argo CD application, Flux, an operator).

    Fixes then point at the source (a values change, a Kustomize or post-renderer patch) and the
    live patch is labelled "will be reverted by <owner>". The first non-None answer wins; the
    bundled ``ownership`` plugin answers last, so an organisation's own GitOps labels take
    precedence.
    """


@hookspec
def meshcheck_veto_fix(fix: Fix, finding: Finding, ctx: Context) -> str | None:
    """Return a reason to withhold ``fix`` (organisation policy), or None to allow it.

    All implementations are asked; any one reason withholds the fix. The finding still prints,
    with "fix withheld: <reason>", and the next fix in its list is offered instead. Example: an
    organisation whose Kyverno policy forbids ``sidecar.istio.io/inject: "false"`` vetoes fixes
    that add it.
    """
