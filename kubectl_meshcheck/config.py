"""The optional config file (``--config FILE`` or ``$MESHCHECK_CONFIG``).

Example::

    plugins:
      disable: [capture]          # block plugins by name
      required: [acme]            # fail the run if these are missing or broken
      paths: [./meshcheck_rules.py]
      modules: [acme_rules]
    rules:
      severity: {MC101: warning}  # per-code severity override
      params: {ACME101: {approved: [http, grpc]}}
    suppress:
      - {code: MC103, kind: Service, namespace: argocd, name: argocd-server,
         reason: "upstream chart; tracked in PLAT-123"}
    injection:                    # how the install injects, for offline runs (flags win)
      istioVersion: "1.26"
      nativeSidecars: "false"     # true | false | auto (istiod's ENABLE_NATIVE_SIDECARS)
      kubeletVersions: [v1.33.2]  # every node's, for auto
      cni: true                   # Istio CNI (istio-validation) instead of istio-init
      holdApplicationUntilProxyStarts: false  # the install value values.global.proxy.*
      rewriteAppHTTPProbe: true   # the install value sidecarInjectorWebhook.rewriteAppHTTPProbe
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .mesh.injection import NATIVE_MODES, InjectorSettings, parse_version
from .model import Severity


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SuppressEntry:
    code: str
    reason: str
    kind: str = "*"
    namespace: str = "*"
    name: str = "*"
    index: int = 0


@dataclass
class Config:
    path: str | None = None
    disable_plugins: list[str] = field(default_factory=list)
    required_plugins: list[str] = field(default_factory=list)
    plugin_paths: list[str] = field(default_factory=list)
    plugin_modules: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppress: list[SuppressEntry] = field(default_factory=list)
    injection: InjectorSettings | None = None


def _list(value: Any, where: str, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {where} must be a list of strings")
    return list(value)


def load_config(path: str | None) -> Config:
    """Read the config file named by ``path`` or ``$MESHCHECK_CONFIG``; empty config if neither."""
    path = path or os.environ.get("MESHCHECK_CONFIG") or None
    if not path:
        return Config()
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: config file is not valid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: config file must be a mapping")
    base = p.parent
    plugins = raw.get("plugins") or {}
    rules = raw.get("rules") or {}
    if not isinstance(plugins, dict) or not isinstance(rules, dict):
        raise ConfigError(f"{path}: 'plugins' and 'rules' must be mappings")
    cfg = Config(path=str(p))
    cfg.disable_plugins = _list(plugins.get("disable"), "plugins.disable", path)
    cfg.required_plugins = _list(plugins.get("required"), "plugins.required", path)
    cfg.plugin_paths = [str((base / x).resolve()) for x in _list(plugins.get("paths"), "plugins.paths", path)]
    cfg.plugin_modules = _list(plugins.get("modules"), "plugins.modules", path)
    for code, sev in (rules.get("severity") or {}).items():
        try:
            cfg.severity[str(code).upper()] = Severity.parse(str(sev))
        except ValueError as e:
            raise ConfigError(f"{path}: rules.severity.{code}: {e}") from None
    for code, params in (rules.get("params") or {}).items():
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: rules.params.{code} must be a mapping")
        cfg.params[str(code).upper()] = params
    if raw.get("injection") is not None:
        cfg.injection = _injection(raw.get("injection"), path)
    for i, entry in enumerate(raw.get("suppress") or [], start=1):
        if not isinstance(entry, dict) or not entry.get("code"):
            raise ConfigError(f"{path}: suppress entry {i} needs at least 'code' and 'reason'")
        reason = str(entry.get("reason") or "").strip()
        cfg.suppress.append(
            SuppressEntry(
                code=str(entry["code"]).upper(),
                reason=reason,
                kind=str(entry.get("kind", "*")),
                namespace=str(entry.get("namespace", "*")),
                name=str(entry.get("name", "*")),
                index=i,
            )
        )
    return cfg


def _injection(raw: Any, path: str) -> InjectorSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: 'injection' must be a mapping")
    version = None
    if raw.get("istioVersion") is not None:
        version = parse_version(str(raw["istioVersion"]))
        if version is None:
            raise ConfigError(f"{path}: injection.istioVersion {raw['istioVersion']!r} is not a version like 1.27")
    native = "" if raw.get("nativeSidecars") is None else str(raw["nativeSidecars"]).lower()
    if native and native not in NATIVE_MODES:
        raise ConfigError(f"{path}: injection.nativeSidecars must be true, false or auto")
    kubelets = _list(raw.get("kubeletVersions"), "injection.kubeletVersions", path)
    rewrite = raw.get("rewriteAppHTTPProbe")
    if rewrite is not None and not isinstance(rewrite, bool):
        raise ConfigError(f"{path}: injection.rewriteAppHTTPProbe must be true or false")
    return InjectorSettings(version, native, tuple(kubelets), raw.get("holdApplicationUntilProxyStarts") is True,
                            raw.get("cni") is True, f"config {path}", rewrite_probes=rewrite)
