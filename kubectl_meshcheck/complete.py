"""``kubectl_complete-meshcheck``: tab completion through kubectl (>= 1.26) for ``kubectl meshcheck``.

kubectl runs ``kubectl_complete-meshcheck ARGS... WORD`` from PATH, with every word after the plugin
name and the word being completed last (empty at a new word), and reads Cobra's ``__complete``
answer: one candidate per line (``value<TAB>description``), then ``:<directive>`` (a bitmask: 1
error, 2 no space, 4 no file completion, 8 filter extensions, 16 directories only, 32 keep order).
The same answer comes from ``kubectl-meshcheck __complete ARGS... WORD`` (the shim krew users
install, since krew links one executable only).

Subcommands, flags and their help come from the CLI's own definition (the typer app), so every
flag anyone adds is completed with no change here. Values: ``-o`` the formats the command accepts
(``cli.OUTPUTS``, or ``cli.LISTINGS`` for commands without analysis flags); severities, mesh
modes; a lower-case metavar such as ``true|false|auto`` lists literal values; ``FILE`` metavars
complete paths and ``DIR`` directories (the shell does it: directive 0 or 16); rule codes (and
topic prefixes such as ``MC1``) for ``--select``/``--ignore`` and ``rules``; plugin names; contexts
from the kubeconfig; namespaces from the cluster when ``kubectl get namespaces`` answers within
1 s, else the namespaces the kubeconfig's contexts name. No ``kubernetes`` import: a TAB costs about
0.1 s, 0.3 s where rule codes are needed (the plugins are loaded).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

ERROR, NO_SPACE, NO_FILE, FILTER_EXT, DIRS_ONLY, KEEP_ORDER = 1, 2, 4, 8, 16, 32
DEFAULT = 0  # the shell completes file names
NAMESPACE_TIMEOUT_S = 1.0

Candidates = list[tuple[str, str]]


def _first_sentence(text: str | None) -> str:
    """A flag's help up to its first full stop or semicolon (not the one in "e.g.")."""
    text = " ".join((text or "").split())
    return re.split(r"(?<!\be\.g)(?<!\bi\.e)[.;]\s", text, maxsplit=1)[0].rstrip(".")


class CommandLine:
    """What the words before the cursor say: the command, the options given, the positionals."""

    def __init__(self, root: Any, words: list[str]):
        self.root = root
        self.cmd = root
        self.values: dict[str, list[str]] = {}
        self.positionals: list[str] = []
        self.pending: Any = None  # an option still waiting for its value
        self.flags: set[str] = set()  # boolean options given
        only_args = False
        for tok in words:
            if self.pending is not None:
                self.values.setdefault(self.pending.name, []).append(tok)
                self.pending = None
            elif only_args or tok == "-" or not tok.startswith("-"):
                if self.cmd is root and not self.positionals and tok in self._commands():
                    self.cmd = self._commands()[tok]
                else:
                    self.positionals.append(tok)
            elif tok == "--":
                only_args = True
            else:
                name, eq, value = tok.partition("=")
                opt = self.option(name)
                if opt is None:
                    continue
                if opt.is_flag:
                    self.flags.add(opt.name)
                    continue
                if eq:
                    self.values.setdefault(opt.name, []).append(value)
                else:
                    self.pending = opt

    def _commands(self) -> dict[str, Any]:
        return {n: c for n, c in getattr(self.root, "commands", {}).items() if not getattr(c, "hidden", False)}

    def params(self) -> list[Any]:
        ctx = self.root.context_class(self.root, info_name="meshcheck", **self.root.context_settings)
        if self.cmd is not self.root:
            ctx = self.cmd.context_class(self.cmd, info_name=self.cmd.name, parent=ctx, **self.cmd.context_settings)
        return self.cmd.get_params(ctx)

    def options(self) -> list[Any]:
        return [p for p in self.params() if getattr(p, "param_type_name", "") == "option" and not p.hidden]

    def option(self, flag: str) -> Any:
        return next((p for p in self.options() if flag in p.opts or flag in p.secondary_opts), None)

    def value(self, name: str) -> str | None:
        given = self.values.get(name)
        return given[-1] if given else None


def complete(args: list[str]) -> tuple[Candidates, int]:
    """The candidates and directive for ``args`` (the last one is the word being completed)."""
    import typer.main

    from . import cli

    words, word = (args[:-1], args[-1]) if args else ([], "")
    line = CommandLine(typer.main.get_command(cli.app), words)
    if line.pending is not None:
        return _values(line, line.pending, word, cli)
    if word.startswith("--") and "=" in word:
        name, _, value = word.partition("=")
        opt = line.option(name)
        if opt is None or opt.is_flag:
            return [], NO_FILE
        found, directive = _values(line, opt, value, cli)
        return [(f"{name}={v}", d) for v, d in found], directive
    if word.startswith("-"):
        out = []
        for p in line.options():
            for flag in sorted(p.opts + p.secondary_opts, key=lambda f: (not f.startswith("--"), f)):
                if flag.startswith(word):
                    out.append((flag, _first_sentence(p.help)))
        return out, NO_FILE
    if line.cmd is line.root and not line.positionals:
        return [(n, _first_sentence(c.get_short_help_str(200))) for n, c in sorted(line._commands().items())
                if n.startswith(word)], NO_FILE
    arguments = [p for p in line.params() if getattr(p, "param_type_name", "") == "argument"]
    if len(line.positionals) >= len(arguments):
        return [], NO_FILE
    arg = arguments[len(line.positionals)]
    if line.cmd.name == "rules" and arg.name == "code":
        return _rule_codes(line, word, prefixes=False), NO_FILE
    if "path" in type(arg.type).__name__.lower():
        return [], DEFAULT
    return [], NO_FILE


def _values(line: CommandLine, opt: Any, word: str, cli: Any) -> tuple[Candidates, int]:
    from .model import MeshMode, Severity

    name, metavar = opt.name, opt.metavar or ""
    if name == "output":
        has_analysis = any(p.name == "filename" for p in line.params())
        formats = cli.OUTPUTS if has_analysis else cli.LISTINGS
        return _starting(((f, "") for f in formats), word), NO_FILE
    if name in ("fail_on", "min_severity"):
        return _starting(((str(s), "") for s in Severity), word), NO_FILE
    if name == "mesh_mode":
        return _starting(((m.value, "") for m in MeshMode), word), NO_FILE
    if name in ("select", "ignore"):
        head, _, last = word.rpartition(",")
        prefix = f"{head}," if head else ""
        return [(prefix + c, d) for c, d in _rule_codes(line, last, prefixes=True)], NO_FILE
    if name == "disable_plugin":
        host = _host(line, with_disabled=False)
        return _starting(((i.name, i.origin) for i in host.infos), word) if host else [], NO_FILE
    if name == "context":
        contexts, _ = _kubeconfig(line.value("kubeconfig"))
        return _starting(((c, f"namespace {ns}" if ns else "") for c, ns in contexts.items()), word), NO_FILE
    if name == "namespace":
        return _starting(((n, "") for n in _namespaces(line)), word), NO_FILE
    if metavar and metavar == metavar.lower() and " " not in metavar:
        return _starting(((v, "") for v in metavar.split("|")), word), NO_FILE
    if metavar == "DIR":
        return [], DIRS_ONLY
    if "FILE" in metavar:
        return [], DEFAULT
    return [], NO_FILE


def _starting(items: Iterable[tuple[str, str]], word: str) -> Candidates:
    seen: dict[str, str] = {}
    for v, d in items:
        if v.lower().startswith(word.lower()):
            seen.setdefault(v, d)
    return list(seen.items())


def _host(line: CommandLine, with_disabled: bool = True):
    """The plugin host the line's own --config/--disable-plugin/--no-plugin-autoload would load; None on error."""
    from .config import load_config
    from .plugins import build_plugin_manager

    disable = [v.strip() for item in line.values.get("disable_plugin", []) for v in item.split(",") if v.strip()]
    no_autoload = "no_plugin_autoload" in line.flags
    try:
        return build_plugin_manager(load_config(line.value("config")), disable if with_disabled else [],
                                    False if no_autoload else None, warn=lambda _msg: None)
    except Exception:  # noqa: BLE001 - a broken config completes nothing rather than printing a traceback
        return None


def _rule_codes(line: CommandLine, word: str, prefixes: bool) -> Candidates:
    host = _host(line)
    if host is None:
        return []
    rules = host.registry.all()
    out: Candidates = []
    if prefixes:
        by_topic: dict[str, list[str]] = {}
        for r in rules:
            by_topic.setdefault(r.topic.value, []).append(r.code)
        for topic, codes in sorted(by_topic.items()):
            common = os.path.commonprefix(codes)
            others = [r.code for r in rules if r.topic.value != topic]
            if len(codes) > 1 and len(common) > 2 and not any(c.startswith(common) for c in others):
                out.append((common, f"every {topic} rule"))
    out += [(r.code, f"{r.name}: {r.summary}") for r in rules]
    return _starting(out, word)


def _kubeconfig(explicit: str | None) -> tuple[dict[str, str], str | None]:
    """Contexts (name -> namespace) of the kubeconfig kubectl would use, merged like kubectl (first wins)."""
    import yaml

    if explicit:
        files = [explicit]
    elif os.environ.get("KUBECONFIG"):
        files = [f for f in os.environ["KUBECONFIG"].split(os.pathsep) if f]
    else:
        files = [os.path.join(os.path.expanduser("~"), ".kube", "config")]
    contexts: dict[str, str] = {}
    current = None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                doc = yaml.load(fh, Loader=loader) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict):
            continue
        current = current or doc.get("current-context")
        for c in doc.get("contexts") or []:
            if isinstance(c, dict) and c.get("name"):
                ns = (c.get("context") or {}).get("namespace") if isinstance(c.get("context"), dict) else None
                contexts.setdefault(str(c["name"]), str(ns or ""))
    return contexts, current


def _namespaces(line: CommandLine) -> list[str]:
    """The cluster's namespaces if kubectl lists them within 1 s; else those the kubeconfig names."""
    kubectl = os.environ.get("KUBECTL_PATH") or shutil.which("kubectl")
    if kubectl:
        cmd = [kubectl, "get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}",
               f"--request-timeout={NAMESPACE_TIMEOUT_S:g}s"]
        for flag, name in (("--kubeconfig", "kubeconfig"), ("--context", "context")):
            if line.value(name):
                cmd += [flag, line.value(name)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=NAMESPACE_TIMEOUT_S)
            if proc.returncode == 0:
                return sorted(proc.stdout.split())
        except (OSError, subprocess.TimeoutExpired):
            pass
    contexts, current = _kubeconfig(line.value("kubeconfig"))
    chosen = line.value("context") or current
    names = [contexts.get(chosen or "", "")] + sorted(contexts.values())
    return [n for n in dict.fromkeys(names) if n] or ["default"]


def main(argv: list[str] | None = None) -> None:
    """Print the answer; never a traceback (a TAB must not spill errors into the user's prompt)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        found, directive = complete(args)
    except Exception:  # noqa: BLE001
        found, directive = [], ERROR
    out = [f"{v}\t{d}" if d else v for v, d in found]
    sys.stdout.write("".join(f"{x}\n" for x in out) + f":{directive}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
