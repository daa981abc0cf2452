"""The ``kubectl meshcheck`` command line: flags, subcommands and exit codes; no Istio logic here.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage error; 3 input
unreadable (bad file, not YAML, unknown flag value, bad config); 4 cluster unreachable or not
authorised at all; 5 internal error. The exit code does not depend on -o.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

from .access import group
from .model import MeshMode, Severity, Topic

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INPUT, EXIT_CLUSTER, EXIT_INTERNAL = 0, 1, 2, 3, 4, 5
OUTPUTS = ("full", "concise", "wide", "json", "yaml", "patch", "kustomize", "sarif", "github", "junit")
LISTINGS = ("full", "wide", "json", "yaml")  # rules, plugins, version
EPILOG = (
    "Exit codes: 0 clean; 1 findings at or above --fail-on; 2 usage error; 3 input unreadable; "
    "4 cluster unreachable; 5 internal error. Flags go after 'meshcheck' (kubectl rejects flags before "
    "a plugin name)."
)


class CliError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def _warn(msg: str) -> None:
    typer.echo(f"warning: {msg}", err=True)


# -- shared options ------------------------------------------------------------------------------

P = inspect.Parameter
_ANALYSIS_OPTIONS: list[tuple[str, Any, Any, Any]] = [
    ("filename", Optional[list[str]], None,
     typer.Option("-f", "--filename", metavar="FILE|DIR|-",
                  help="File, directory or - (stdin) to analyse; repeatable.")),
    ("recursive", bool, False,
     typer.Option("-R", "--recursive", help="Process directories given with -f recursively.")),
    ("kustomize", Optional[str], None,
     typer.Option("-k", "--kustomize", metavar="DIR",
                  help="Render a kustomization directory with 'kubectl kustomize' and analyse it.")),
    ("namespace", Optional[str], None, typer.Option("-n", "--namespace", metavar="NS",
                                                 help="Only this namespace; also the namespace of file objects "
                                                      "that name none (as kubectl apply: else the kubeconfig's, "
                                                      "else default).")),
    ("all_namespaces", bool, False, typer.Option("-A", "--all-namespaces", help="All namespaces (live cluster).")),
    ("context", Optional[str], None,
     typer.Option("--context", metavar="NAME", help="kubeconfig context (live cluster).")),
    ("kubeconfig", Optional[str], None,
     typer.Option("--kubeconfig", metavar="FILE", help="Path to the kubeconfig file.")),
    ("selector", Optional[str], None,
     typer.Option("-l", "--selector", metavar="SELECTOR",
                  help="Label selector for workloads and Services (live cluster).")),
    ("request_timeout", Optional[str], None,
     typer.Option("--request-timeout", metavar="DURATION", help="Per-request timeout (live cluster), e.g. 10s.")),
    ("output", str, "full",
     typer.Option("-o", "--output", metavar="FORMAT",
                  help=f"One of {', '.join(OUTPUTS)}. full: the tables, then one block per finding; concise: "
                       "one line per finding.")),
    ("color", str, "auto",
     typer.Option("--color", metavar="WHEN",
                  help="auto, always or never. auto colours only a terminal and honours NO_COLOR and "
                       "CLICOLOR_FORCE.")),
    ("select", Optional[list[str]], None,
     typer.Option("--select", metavar="CODE",
                  help="Only rules whose code starts with this (e.g. MC1, MC103); repeatable or comma-separated.")),
    ("ignore", Optional[list[str]], None,
     typer.Option("--ignore", metavar="CODE",
                  help="Skip rules whose code starts with this; repeatable or comma-separated.")),
    ("fail_on", str, "error",
     typer.Option("--fail-on", metavar="SEVERITY",
                  help="Lowest severity that makes the exit code 1: info, warning, error.")),
    ("min_severity", str, "info", typer.Option("--min-severity", metavar="SEVERITY", help="Lowest severity printed.")),
    ("mesh_mode", Optional[str], None,
     typer.Option("--mesh-mode", metavar="MODE",
                  help="sidecar, ambient or none: treat every namespace as if labelled so (what if we meshed "
                       "this?). Without it, namespaces the input does not describe are assumed sidecar.")),
    ("istio_version", Optional[str], None,
     typer.Option("--istio-version", metavar="X.Y",
                  help="Istio version whose injector to predict (offline). Default: the injector ConfigMap's "
                       "global.tag if the input has one, else the newest behaviour.")),
    ("native_sidecars", Optional[str], None,
     typer.Option("--native-sidecars", metavar="true|false|auto",
                  help="istiod's ENABLE_NATIVE_SIDECARS (offline). Default: the version's default (auto since "
                       "1.27, false before); auto with unknown node versions assumes classic sidecars.")),
    ("show_suppressed", bool, False,
     typer.Option("--show-suppressed", help="Also list suppressed findings, with their reasons.")),
    ("unsafe_fixes", bool, False,
     typer.Option("--unsafe-fixes", help="Include unsafe fixes in --fix, --diff, -o patch and -o kustomize.")),
    ("fix", bool, False,
     typer.Option("--fix", help="Write the verified safe fixes into the -f files (comments and layout kept) or, "
                                "with -k, as patches into the kustomization; then analyse again. '--fix -' "
                                "writes the fixed stream to stdout instead.")),
    ("fix_to_stdout", bool, False, typer.Option("--fix-to-stdout", hidden=True)),
    ("diff", bool, False,
     typer.Option("--diff", help="Print the unified diff --fix would write, write nothing; exit 1 if there is one.")),
    ("include_owned", bool, False,
     typer.Option("--include-owned", help="-o patch: also patch objects Helm, Argo CD or Flux manage (their "
                                          "next sync reverts it).")),
    ("preview", bool, False, typer.Option("--preview", help="Also run preview rules.")),
    ("no_annotation_suppressions", bool, False,
     typer.Option("--no-annotation-suppressions",
                  help="Ignore meshcheck.io/ignore-* annotations (config suppressions still apply).")),
    ("config", Optional[str], None,
     typer.Option("--config", metavar="FILE", help="Config file (also $MESHCHECK_CONFIG).")),
    ("disable_plugin", Optional[list[str]], None,
     typer.Option("--disable-plugin", metavar="NAME", help="Do not load this plugin; repeatable.")),
    ("no_plugin_autoload", bool, False,
     typer.Option("--no-plugin-autoload",
                  help="Do not load plugins from the 'meshcheck' entry-point group (also "
                       "$MESHCHECK_DISABLE_PLUGIN_AUTOLOAD).")),
    ("require_full_access", bool, False,
     typer.Option("--require-full-access",
                  help="Exit 4 (after printing everything judged) when any part of the live input could not be "
                       "read: for CI that must not pass on a partial answer.")),
    ("debug", bool, False, typer.Option("--debug", help="Show tracebacks for internal errors.")),
]
_PLUGIN_OPTION_NAMES = ("output", "color", "config", "disable_plugin", "no_plugin_autoload", "debug")


@dataclass
class Options:
    filename: list[str] | None = None
    recursive: bool = False
    kustomize: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    context: str | None = None
    kubeconfig: str | None = None
    selector: str | None = None
    request_timeout: str | None = None
    output: str = "full"
    color: str = "auto"
    select: list[str] | None = None
    ignore: list[str] | None = None
    fail_on: str = "error"
    min_severity: str = "info"
    mesh_mode: str | None = None
    istio_version: str | None = None
    native_sidecars: str | None = None
    show_suppressed: bool = False
    unsafe_fixes: bool = False
    fix: bool = False
    fix_to_stdout: bool = False
    diff: bool = False
    include_owned: bool = False
    preview: bool = False
    no_annotation_suppressions: bool = False
    config: str | None = None
    disable_plugin: list[str] | None = None
    no_plugin_autoload: bool = False
    require_full_access: bool = False
    debug: bool = False


def _with_options(fn: Callable, names: tuple[str, ...] | None = None, extra: list[P] | None = None) -> Callable:
    """Give ``fn(ctx, **options)`` the shared option signature (typer reads signature + annotations)."""
    params = [P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context)] + list(extra or [])
    for name, typ, default, opt in _ANALYSIS_OPTIONS:
        if names is None or name in names:
            params.append(P(name, P.KEYWORD_ONLY, default=default, annotation=Annotated[typ, opt]))
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in params}
    return fn


def _merged(ctx: typer.Context, values: dict[str, Any]) -> Options:
    """Options given to the subcommand win; otherwise those given before it (root) apply."""
    root: dict[str, Any] = (ctx.parent.obj if ctx.parent and isinstance(ctx.parent.obj, dict) else {}) or {}
    merged = dict(root)
    for k, v in values.items():
        source = ctx.get_parameter_source(k)
        if source is not None and source.name != "DEFAULT" or k not in merged:
            merged[k] = v
    return Options(**{k: v for k, v in merged.items() if k in Options.__dataclass_fields__})


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


# -- the app -------------------------------------------------------------------------------------

app = typer.Typer(
    name="kubectl meshcheck",
    help="Find the Istio pitfalls that bite teams new to a service mesh, and get fixes proven to clear them.",
    epilog=EPILOG,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_flag(ctx: typer.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        raise typer.Exit(show_version(Options()))


def _root(ctx: typer.Context, **values: Any) -> None:
    values.pop("version", None)
    ctx.obj = values
    if ctx.invoked_subcommand is None:
        raise typer.Exit(run_analysis(None, Options(**values)))


app.callback(invoke_without_command=True)(_with_options(_root, extra=[
    P("version", P.KEYWORD_ONLY, default=False, annotation=Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version_flag, help="Show the version report and exit.")])]))


def _topic_command(topic: Topic, help_text: str) -> None:
    def command(ctx: typer.Context, **values: Any) -> None:
        raise typer.Exit(run_analysis(topic, _merged(ctx, values)))

    command.__name__ = topic.value
    app.command(topic.value, help=help_text, epilog=EPILOG)(_with_options(command))


_topic_command(
    Topic.PORTS,
    "Per Service port: the protocol Istio will use, why, and how the sidecar handles it; MC1xx findings.",
)
_topic_command(Topic.STARTUP, "Startup order: the app racing the sidecar, init containers, Jobs (MC2xx).")
_topic_command(Topic.EGRESS, "Outbound traffic and ServiceEntries (MC3xx).")
_topic_command(Topic.PROBES, "Health-probe rewriting (MC4xx).")


def _capture_command(ctx: typer.Context, **values: Any) -> None:
    """Without TARGET the per-workload table (MC5xx); with it, the plan for one pod (capture_target.py)."""
    from .capture_target import CaptureRequest, run_capture

    request = CaptureRequest(**{k: values.pop(k) for k in ("target", "port", "host", "container",
                                                          "no_access_review", "image")})
    opts = _merged(ctx, values)
    if request.target is None:
        if request.port or request.host or request.container or request.no_access_review or request.image:
            raise CliError("capture: --port, --host, -c, --no-access-review and --image need a TARGET "
                           "(e.g. pod/NAME or deploy/NAME)", EXIT_USAGE)
        raise typer.Exit(run_analysis(Topic.CAPTURE, opts))
    raise typer.Exit(run_capture(request, opts))


_CAPTURE_PARAMS = [
    P("target", P.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[Optional[str], typer.Argument(
        metavar="[TARGET]", help="pod/NAME, NAME or deploy|sts|ds|rs|job/NAME: a capture plan for that pod.")]),
    P("port", P.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[list[int]], typer.Option(
        "--port", metavar="N", help="Capture this port (repeatable). Default: the pod's app ports.")]),
    P("host", P.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[list[str]], typer.Option(
        "--host", metavar="H", help="Capture traffic to/from this host or IP (repeatable).")]),
    P("container", P.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[str], typer.Option(
        "-c", "--container", metavar="NAME", help="The app container the debug container targets.")]),
    P("no_access_review", P.KEYWORD_ONLY, default=False, annotation=Annotated[bool, typer.Option(
        "--no-access-review", help="Do not ask the API server what you may do (SelfSubjectAccessReview, "
                                   "the one non-GET request meshcheck sends).")]),
    P("image", P.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[str], typer.Option(
        "--image", metavar="IMAGE", help="Debug image with tcpdump (default nicolaka/netshoot).")]),
]
app.command("capture", help="Safer packet capture than tcpdump in istio-proxy (MC5xx); with TARGET, a plan for "
                            "that pod checked against what you may do.", epilog=EPILOG)(
    _with_options(_capture_command, extra=_CAPTURE_PARAMS))


def _rules_command(ctx: typer.Context, **values: Any) -> None:
    code, fmt = values.pop("code", None), values.pop("format", None)
    raise typer.Exit(list_rules(code, _merged(ctx, values), fmt))


app.command("rules", help="List the rules, or show one rule's full documentation.")(
    _with_options(_rules_command, _PLUGIN_OPTION_NAMES,
                  [P("code", P.POSITIONAL_OR_KEYWORD, default=None,
                     annotation=Annotated[str | None, typer.Argument(help="A rule code, e.g. MC103.")]),
                   P("format", P.KEYWORD_ONLY, default=None, annotation=Annotated[str | None, typer.Option(
                       "--format", metavar="markdown", help="markdown: the rule reference (docs/rules.md).")])])
)


def _plugins_command(ctx: typer.Context, **values: Any) -> None:
    raise typer.Exit(list_plugins(_merged(ctx, values)))


app.command("plugins", help="List plugins: name, version, origin, status and rule count.")(
    _with_options(_plugins_command, _PLUGIN_OPTION_NAMES)
)


def _version_command(ctx: typer.Context, **values: Any) -> None:
    raise typer.Exit(show_version(_merged(ctx, values)))


app.command("version", help="Versions: meshcheck, Python, the kubernetes client, the Istio behaviour modelled, "
            "the plugins loaded.")(_with_options(_version_command, _PLUGIN_OPTION_NAMES))


# -- implementations -------------------------------------------------------------------------


def _host(opts: Options):
    from .config import ConfigError, load_config
    from .plugins import PluginError, build_plugin_manager

    try:
        config = load_config(opts.config)
        host = build_plugin_manager(config, _split(opts.disable_plugin), None if not opts.no_plugin_autoload else False,
                                    warn=_warn)
    except (ConfigError, PluginError) as e:
        raise CliError(str(e), EXIT_INPUT) from None
    return config, host


def _check_output(opts: Options, allowed: tuple[str, ...] = OUTPUTS) -> None:
    if opts.output not in allowed:
        raise CliError(f"unknown output format {opts.output!r} for -o (use {', '.join(allowed)})", EXIT_INPUT)


def _severity(value: str, flag: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as e:
        raise CliError(f"{flag}: {e}", EXIT_INPUT) from None


def run_analysis(topic: Topic | None, opts: Options) -> int:
    from . import pipeline
    from .render import github, junit, sarif
    from .render import json as rjson
    from .render.patch import render_patches
    from .sources.cluster import ClusterError
    from .views import PREFACES, PROPOSALS, VIEWS

    _check_output(opts)
    _check_color(opts)
    fail_on = _severity(opts.fail_on, "--fail-on")
    min_sev = _severity(opts.min_severity, "--min-severity")
    settings = _settings(topic, opts)
    if opts.fix or opts.fix_to_stdout or opts.diff:
        from .fix_sources import cli_check

        cli_check(opts)
    try:
        run = pipeline.run(settings)
    except pipeline.InputError as e:
        raise CliError(str(e), EXIT_INPUT) from None
    except ClusterError as e:
        raise CliError(str(e), EXIT_CLUSTER) from None
    finally:
        if settings.progress:
            sys.stderr.write("\r\033[K")
    loaded, live, objects, index, result, rules = run.loaded, run.live, run.objects, run.index, run.result, run.rules
    for e in loaded.errors:
        _err(e)
    for n in loaded.notes[:10]:
        typer.echo(f"note: {n}", err=True)
    if len(loaded.notes) > 10:
        typer.echo(f"note: ... and {len(loaded.notes) - 10} more skipped documents", err=True)
    _RUN_STATE.append((loaded, live, index))
    for problem in index.problems:
        _warn(problem)
    if opts.fix or opts.fix_to_stdout or opts.diff:
        from .fix_sources import cli_fix

        fixed = cli_fix(opts, loaded, result, run.analyse, fail_on)  # prints what it did
        if isinstance(fixed, int):
            return fixed
        loaded, objects, index, result = fixed.loaded, fixed.objects, fixed.index, fixed.result
        run = dataclasses.replace(run, loaded=loaded, objects=objects, index=index, result=result)
    shown = result.visible(min_sev, opts.show_suppressed)
    failing = result.failing(fail_on)
    code = EXIT_INPUT if loaded.errors else (EXIT_FINDINGS if failing else EXIT_OK)
    if opts.require_full_access and result.gaps and code != EXIT_INPUT:
        code = EXIT_CLUSTER

    view = VIEWS.get(topic) if topic else None
    rows = view[0](result) if view else None
    preface = PREFACES.get(topic) if topic else None
    preface_rows = preface[1](result) if preface else None
    summary = pipeline.summary(run, fail_on, code)
    if opts.fix:
        summary["fixed"] = fixed.applied
    unreadable = [{"what": e} for e in loaded.errors] + result.unreadable
    for kind, where, reason in group(result.gaps):
        _warn(f"could not read {kind} ({where}): {reason}")
    if opts.require_full_access and result.gaps:
        _err(f"--require-full-access: {len(result.gaps)} part(s) of the input could not be read (exit 4)")

    if opts.output == "yaml" and topic in PROPOSALS:  # ready to pipe into kubectl apply -f -
        typer.echo(PROPOSALS[topic](result), nl=False)
    elif opts.output == "json":  # streamed: the bytes of dump_json(document(...)), never all in memory
        extra = {preface[0]: preface_rows} if preface else None
        rjson.write_document(shown, summary, unreadable, loaded.notes, rows, extra)
    elif opts.output == "yaml":
        doc = rjson.document(shown, summary, unreadable, loaded.notes, rows)
        if preface:
            doc[preface[0]] = preface_rows
        typer.echo(rjson.dump_yaml(doc), nl=False)
    elif opts.output == "patch":
        typer.echo(render_patches(shown, opts.unsafe_fixes, opts.include_owned), nl=False)
    elif opts.output == "kustomize":
        from .render.kustomize import render_kustomize

        typer.echo(render_kustomize(shown, loaded, opts.unsafe_fixes), nl=False)
    elif opts.output == "sarif":
        typer.echo(sarif.render(shown, rules, summary, unreadable, objects))
    elif opts.output == "github":
        typer.echo(github.render(shown, rules, summary, unreadable, objects), nl=False)
    elif opts.output == "junit":
        typer.echo(junit.render(shown, rules, summary, unreadable, objects), nl=False)
    else:
        from .render.human import print_analysis

        print_analysis(topic, opts.output, opts.color, opts.show_suppressed, result, shown, index, live,
                       len(objects), len(rules), rows, preface_rows)
    return code


def _check_color(opts: Options) -> None:
    from .render.terminal import COLOR_CHOICES

    if opts.color not in COLOR_CHOICES:
        raise CliError(f"--color: unknown value {opts.color!r} (use {', '.join(COLOR_CHOICES)})", EXIT_INPUT)


def _injector_settings(opts: Options, config) -> Any:
    """Injector settings from the flags, over the config file's ``injection:`` block."""
    from .mesh.injection import NATIVE_MODES, InjectorSettings, parse_version

    base = config.injection or InjectorSettings()
    version = base.istio_version
    if opts.istio_version:
        version = parse_version(opts.istio_version)
        if version is None:
            raise CliError(f"--istio-version: {opts.istio_version!r} is not a version like 1.27", EXIT_INPUT)
    native = base.native_sidecars
    if opts.native_sidecars:
        native = opts.native_sidecars.lower()
        if native not in NATIVE_MODES:
            raise CliError(f"--native-sidecars: unknown value {opts.native_sidecars!r} (use true, false or auto)",
                           EXIT_INPUT)
    flags = opts.istio_version or opts.native_sidecars
    source = "flags" if flags else base.source
    return dataclasses.replace(base, istio_version=version, native_sidecars=native, source=source)


def _settings(topic: Topic | None, opts: Options) -> Any:
    """The run's settings from the flags (one error line for each bad value)."""
    from .pipeline import Settings
    from .sources.cluster import parse_duration

    try:
        force = MeshMode(opts.mesh_mode) if opts.mesh_mode else None
    except ValueError:
        raise CliError(f"--mesh-mode: unknown mode {opts.mesh_mode!r} (use sidecar, ambient or none)",
                       EXIT_INPUT) from None
    try:
        timeout = parse_duration(opts.request_timeout)
    except ValueError as e:
        raise CliError(f"--request-timeout: {e}", EXIT_INPUT) from None
    config, host = _host(opts)
    progress = None
    if sys.stderr.isatty() and not opts.filename and not opts.kustomize:
        def progress(msg: str) -> None:
            sys.stderr.write(f"\r\033[K{msg}")  # one line, rewritten in place; cleared when done
            sys.stderr.flush()
    return Settings(host=host, config=config, topic=topic, select=_split(opts.select), ignore=_split(opts.ignore),
                    preview=opts.preview, files=opts.filename or (), recursive=opts.recursive,
                    kustomize=opts.kustomize, namespace=opts.namespace, all_namespaces=opts.all_namespaces,
                    context=opts.context, kubeconfig=opts.kubeconfig, selector=opts.selector,
                    request_timeout=timeout, force_mode=force, injector=_injector_settings(opts, config),
                    use_annotations=not opts.no_annotation_suppressions, progress=progress)


def list_rules(code: str | None, opts: Options, fmt: str | None = None) -> int:
    from .render.listings import rules_text

    _check_output(opts, LISTINGS)
    if fmt not in (None, "markdown"):
        raise CliError(f"unknown --format {fmt!r} (use markdown)", EXIT_INPUT)
    _, host = _host(opts)
    rules = host.registry.all()
    if code:
        r = host.registry.get(code)
        if r is None:
            raise CliError(f"no rule {code!r} (see 'kubectl meshcheck rules')", EXIT_INPUT)
        rules = [r]
    typer.echo(rules_text(rules, opts.output, bool(code), fmt), nl=False)
    return EXIT_OK


def list_plugins(opts: Options) -> int:
    from .render.listings import plugins_text

    _check_output(opts, LISTINGS)
    _, host = _host(opts)
    typer.echo(plugins_text(host.infos, opts.output), nl=False)
    return EXIT_OK


def show_version(opts: Options) -> int:
    from .render.listings import version_text
    from .version import report

    _check_output(opts, LISTINGS)
    _, host = _host(opts)
    typer.echo(version_text(report(host), opts.output), nl=False)
    return EXIT_OK


#: what a run read and computed, kept to the end of the process: exiting without freeing millions of
#: dicts one by one saves ~0.7 s at 10,000 workloads (measured); see ``_exit``
_RUN_STATE: list[Any] = []


def _exit(code: Any) -> None:
    """Flush and leave without tearing the heap down (nothing else runs at exit: no threads remain)."""
    if not isinstance(code, int) and code is not None:
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or EXIT_OK
    os._exit(code or 0)


def _fix_dash(args: list[str]) -> list[str]:
    """``--fix -`` (the fixed stream to stdout): a click flag cannot take an optional value."""
    out: list[str] = []
    for a in args:
        if a == "-" and out and out[-1] == "--fix":
            out[-1] = "--fix-to-stdout"
        else:
            out.append(a)
    return out


def main() -> None:
    """Console-script entry point: one-line errors with distinct exit codes, tracebacks only with --debug."""
    debug = "--debug" in sys.argv
    if sys.argv[1:2] == ["__complete"]:  # Cobra's protocol, for a krew install's kubectl_complete-meshcheck shim
        from .complete import main as complete

        complete(sys.argv[2:])
        return
    sys.argv[1:] = _fix_dash(sys.argv[1:])
    try:
        app(prog_name="kubectl meshcheck", standalone_mode=True)
    except CliError as e:
        _err(str(e))
        sys.exit(e.code)
    except SystemExit as e:
        if _RUN_STATE and sys.getprofile() is None and sys.gettrace() is None:  # profilers write at exit
            _exit(e.code)
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except Exception as e:
        if debug:
            traceback.print_exc()
        _err(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)")
        sys.exit(EXIT_INTERNAL)
