"""Plugin loading with real distributions: the product, ``meshcheck-acme`` (tests/example_plugin) and
``meshcheck-broken`` (tests/example_plugin_broken) pip-installed into a temporary venv, whose
``kubectl-meshcheck`` is run as a subprocess, directly and through kubectl's plugin discovery.

The venv is built once for the module. It is created with ``--system-site-packages`` and a ``.pth``
file naming the test interpreter's own site-packages, so the dependencies (typer, pluggy, ...) and
pip/setuptools come from the environment running the tests, whether that is the system Python or a
venv (CI's ``.venv``, a developer's). The three distributions are built from scratch copies of their
sources (nothing is written into the work tree) without build isolation and without an index when
the test environment can build wheels offline (setuptools >= 70.1, or setuptools with wheel < 0.46);
otherwise pip falls back to build isolation, which fetches setuptools from the configured index.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import kubectl_meshcheck

from .conftest import require_kubectl

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
EXAMPLES = REPO / "kubectl_meshcheck" / "examples"
SOURCE_IGNORE = shutil.ignore_patterns(
    ".git", ".ci", "tests", "krew", "dist", "build", "*.egg-info", "__pycache__", "*.pyc",
    ".pytest_cache", ".ruff_cache", ".venv", ".mypy_cache",
)
SECTIONS = ("What it checks:", "What Istio does:", "Example:", "Fixes:", "References:")

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {name: http-api, port: 80, targetPort: 8080}
  - {name: web, port: 8081, appProtocol: http}
  - {name: https-admin, port: 443}
"""
APPROVED_ONLY = """\
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports:
  - {name: http-api, port: 80}
  - {name: grpc, port: 9090}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: shop}
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
      - {name: worker, image: acme/worker:1.0}
"""
LOCAL_PLUGIN = '''\
"""A local plugin (named in the config file): its fix sets sidecar.istio.io/inject, which acme vetoes."""
from kubectl_meshcheck import Applicability, Diagnostic, Fix, FixAvailability, PatchOp, Topic, hookimpl, rule


@rule(code="LOC101", name="inject-label-missing", topic=Topic.STARTUP, targets={"Workload"},
      summary="pod template does not say whether it wants a sidecar", fix=FixAvailability.ALWAYS,
      sidecar_only=False)
def inject_label_missing(wl, ctx):
    """What it checks: x. What Istio does: x. Example: x. Fixes: x. References: x."""
    if "sidecar.istio.io/inject" in wl.pod_labels:
        return
    path = wl.template_path + "/metadata/labels/sidecar.istio.io~1inject"
    yield Diagnostic(
        path=wl.template_path + "/metadata/labels",
        message="no sidecar.istio.io/inject label",
        fixes=(
            Fix("Label the pod template sidecar.istio.io/inject=true", Applicability.SAFE, wl.ref,
                (PatchOp("add", path, "true"),)),
            Fix("Label the namespace istio-injection=enabled", Applicability.DISPLAY_ONLY, wl.ref),
        ),
    )


@hookimpl
def meshcheck_register_rules(register):
    register(inject_label_missing)
'''


def _rule_plugin(code: str) -> str:
    return textwrap.dedent(f'''\
        from kubectl_meshcheck import Topic, hookimpl, rule


        @rule(code="{code}", name="some-rule", topic=Topic.PORTS, targets={{"Service"}}, summary="s")
        def some_rule(svc, ctx):
            """What it checks: x."""
            return ()


        @hookimpl
        def meshcheck_register_rules(register):
            register(some_rule)
        ''')


# -- the venv ------------------------------------------------------------------------------------


def _can_build_offline() -> bool:
    """setuptools can build a wheel with what the test environment already has."""
    def ver(name: str) -> tuple[int, ...]:
        try:
            return tuple(int(x) for x in metadata.version(name).split(".")[:2] if x.isdigit())
        except metadata.PackageNotFoundError:
            return ()

    st, wh = ver("setuptools"), ver("wheel")
    return bool(st) and (st >= (70, 1) or (bool(wh) and wh < (0, 46)))


class Venv:
    def __init__(self, root: Path):
        self.root = root
        self.bin = root / "bin"
        self.exe = str(self.bin / "kubectl-meshcheck")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MESHCHECK_") and k not in ("PYTHONPATH", "PYTHONHOME")}
        self.env = {**env, "NO_COLOR": "1"}

    def run(self, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([self.exe, *args], capture_output=True, text=True, env={**self.env, **(env or {})},
                              stdin=subprocess.DEVNULL, cwd=cwd, timeout=120, check=False)


def make_venv(root: Path, *sources: Path) -> Venv:
    """A fresh virtualenv at ``root`` with ``sources`` (source trees) pip-installed, offline: their
    dependencies, pip and setuptools come from the environment running the tests."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)],
                   check=True, capture_output=True, timeout=120)
    py = str(root / "bin" / "python")
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_meshcheck_tests_parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    offline = ["--no-build-isolation", "--no-index"] if _can_build_offline() else []
    cmd = [py, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--disable-pip-version-check", "-q",
           *offline, *map(str, sources)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, f"pip install into the test venv failed:\n{p.stdout}\n{p.stderr}"
    v = Venv(root)
    assert Path(v.exe).is_file()
    return v


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    base = tmp_path_factory.mktemp("plugin-venv")
    src = base / "src"
    shutil.copytree(REPO, src / "kubectl-meshcheck", ignore=SOURCE_IGNORE)
    for name in ("example_plugin", "example_plugin_broken"):
        shutil.copytree(TESTS / name, src / name, ignore=SOURCE_IGNORE)
    return make_venv(base / "venv", src / "kubectl-meshcheck", src / "example_plugin", src / "example_plugin_broken")


def plugins(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    assert proc.returncode == 0, proc.stderr
    return {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}


def rule_codes(venv: Venv, *args: str, env: dict | None = None) -> set[str]:
    p = venv.run("rules", "-o", "json", *args, env=env)
    assert p.returncode == 0, p.stderr
    return {r["code"] for r in json.loads(p.stdout)["rules"]}


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- listing -------------------------------------------------------------------------------------


def test_plugins_lists_bundled_entry_point_and_broken_plugins(venv):
    p = venv.run("plugins", "-o", "json")
    got = plugins(p)
    assert list(got)[:2] == ["ports", "ownership"]
    for name in ("ports", "ownership"):
        assert got[name]["origin"] == "bundled" and got[name]["status"] == "loaded"
    assert got["ports"]["rules"] > 0 and got["ownership"]["hooks"] == ["meshcheck_detect_owner"]
    acme = got["acme"]
    assert acme["status"] == "loaded" and acme["rules"] == 1 and acme["version"] == "1.2.0"
    assert acme["origin"].startswith("entry point") and "meshcheck-acme" in acme["origin"]
    assert acme["hooks"] == ["meshcheck_register_rules", "meshcheck_veto_fix"]
    broken = got["broken"]
    assert broken["status"].startswith("failed: ImportError") and "acme_internal_sdk" in broken["status"]
    assert broken["origin"].startswith("entry point") and broken["rules"] == 0


def test_plugins_table_and_wide(venv):
    p = venv.run("plugins", "-o", "wide")
    assert p.returncode == 0
    rows = {ln.split()[0]: ln for ln in lines(p.stdout)[1:]}
    assert {"ports", "ownership", "acme", "broken"} <= set(rows)
    assert "meshcheck_veto_fix" in rows["acme"] and "failed" in rows["broken"]


def test_broken_plugin_is_one_warning_line_and_does_not_change_the_exit_code(venv, tmp_path):
    manifest = write(tmp_path / "svc.yaml", SERVICE)
    clean = write(tmp_path / "clean.yaml", APPROVED_ONLY)
    for args, expected in ((["-f", str(manifest), "--fail-on", "warning"], 1), (["-f", str(clean)], 0),
                           (["plugins"], 0), (["rules"], 0)):
        with_broken = venv.run(*args)
        without = venv.run(*args, "--disable-plugin", "broken")
        assert with_broken.returncode == without.returncode == expected, (args, with_broken.stderr)
        warned = [ln for ln in lines(with_broken.stderr) if "broken" in ln]
        assert len(warned) == 1, with_broken.stderr
        assert warned[0].startswith("warning: plugin 'broken'") and "ImportError" in warned[0]
        assert "Traceback" not in with_broken.stderr
        assert "broken" not in without.stderr
        assert with_broken.stdout == without.stdout or args[0] in ("plugins", "rules")
    assert plugins(venv.run("plugins", "-o", "json", "--disable-plugin", "broken"))["broken"]["status"] == "blocked"


# -- the example rule ------------------------------------------------------------------------------


def test_rules_shows_acme101_documentation(venv):
    p = venv.run("rules", "ACME101")
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert first.startswith("ACME101 port-prefix-not-approved") and "plugin: acme" in first and "ports" in first
    for section in SECTIONS:
        assert section in p.stdout
    assert "approved" in p.stdout
    doc = json.loads(venv.run("rules", "ACME101", "-o", "json").stdout)["rules"]
    assert len(doc) == 1
    r = doc[0]
    assert (r["plugin"], r["topic"], r["targets"], r["params"]) == (
        "acme", "ports", ["Service"], {"approved": ["http", "grpc", "tcp"]})
    assert all(s in r["doc"] for s in SECTIONS)
    assert "ACME101" in rule_codes(venv)


def test_rule_documentation_is_dedented(venv):
    """The docstring's indentation is removed whatever the Python version (3.13 does it at compile time)."""
    doc = json.loads(venv.run("rules", "ACME101", "-o", "json").stdout)["rules"][0]["doc"]
    assert "\n    What Istio does:" not in doc


def test_acme101_fires_on_unapproved_port_names(venv, tmp_path):
    manifest = write(tmp_path / "svc.yaml", SERVICE)
    p = venv.run("-f", str(manifest), "-o", "json")
    assert p.returncode == 0, p.stderr  # warnings only; --fail-on defaults to error
    acme = [f for f in json.loads(p.stdout)["findings"] if f["code"] == "ACME101"]
    assert [f["path"] for f in acme] == ["/spec/ports/1/name", "/spec/ports/2/name"]
    web, admin = acme
    assert web["rule"] == "port-prefix-not-approved" and web["category"] == "ports"
    assert web["severity"] == "warning" and web["object"]["name"] == "web"
    assert web["args"] == {"port": 8081, "name": "web", "approved": ["http", "grpc", "tcp"]}
    rename = web["fixes"][0]
    assert rename["applicability"] == "unsafe" and rename["verified"] is True
    assert rename["patch"][-1] == {"op": "replace", "path": "/spec/ports/1/name", "value": "http-web"}
    assert admin["fixes"][0]["applicability"] == "display-only"
    # the topic subcommand runs it too, and --fail-on warning makes it fail the run
    p = venv.run("ports", "-f", str(manifest), "-o", "json", "--select", "ACME", "--fail-on", "warning")
    assert p.returncode == 1 and {f["code"] for f in json.loads(p.stdout)["findings"]} == {"ACME101"}
    clean = write(tmp_path / "clean.yaml", APPROVED_ONLY)
    assert json.loads(venv.run("-f", str(clean), "-o", "json", "--select", "ACME").stdout)["findings"] == []


def test_acme101_parameters_come_from_the_config_file(venv, tmp_path):
    manifest = write(tmp_path / "svc.yaml", SERVICE)
    config = write(tmp_path / "meshcheck.yaml", "rules:\n  params:\n    ACME101: {approved: [http, https]}\n")
    p = venv.run("-f", str(manifest), "-o", "json", "--select", "ACME101", "--config", str(config))
    found = json.loads(p.stdout)["findings"]
    assert [(f["args"]["name"], f["args"]["approved"]) for f in found] == [("web", ["http", "https"])]


# -- switching plugins off -------------------------------------------------------------------------

OFF = {
    "--disable-plugin acme": (["--disable-plugin", "acme"], {}),
    "--disable-plugin comma list": (["--disable-plugin", "acme,broken"], {}),
    "--no-plugin-autoload": (["--no-plugin-autoload"], {}),
    "MESHCHECK_DISABLE_PLUGIN_AUTOLOAD=1": ([], {"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}),
}


@pytest.mark.parametrize("how", list(OFF))
def test_acme_can_be_switched_off(venv, tmp_path, how):
    args, env = OFF[how]
    got = plugins(venv.run("plugins", "-o", "json", *args, env=env))
    if how.startswith("--disable-plugin"):
        assert got["acme"]["status"] == "blocked" and got["acme"]["rules"] == 0
    else:
        assert "acme" not in got and "broken" not in got
    assert got["ports"]["status"] == "loaded" and got["ownership"]["status"] == "loaded"
    codes = rule_codes(venv, *args, env=env)
    assert "ACME101" not in codes and "MC101" in codes
    manifest = write(tmp_path / "svc.yaml", SERVICE)
    p = venv.run("-f", str(manifest), "-o", "json", *args, env=env)
    assert "ACME101" not in {f["code"] for f in json.loads(p.stdout)["findings"]}
    if how != "--disable-plugin acme":
        assert "broken" not in p.stderr
    p = venv.run("-f", str(manifest), "--select", "ACME101", *args, env=env)
    assert p.returncode == 3 and "ACME101" in p.stderr


def test_config_file_can_disable_a_plugin(venv, tmp_path):
    config = write(tmp_path / "c.yaml", "plugins:\n  disable: [acme, broken]\n")
    p = venv.run("plugins", "-o", "json", "--config", str(config))
    got = plugins(p)
    assert got["acme"]["status"] == got["broken"]["status"] == "blocked" and p.stderr == ""
    # and through $MESHCHECK_CONFIG
    got = plugins(venv.run("plugins", "-o", "json", env={"MESHCHECK_CONFIG": str(config)}))
    assert got["acme"]["status"] == "blocked"


# -- local plugins and the veto hook ---------------------------------------------------------------


def test_config_file_loads_a_local_plugin(venv, tmp_path):
    write(tmp_path / "rules" / "localrules.py", LOCAL_PLUGIN)
    config = write(tmp_path / "conf" / "meshcheck.yaml", "plugins:\n  paths: [../rules/localrules.py]\n")
    got = plugins(venv.run("plugins", "-o", "json", "--config", str(config)))
    local = got["localrules"]
    assert local["status"] == "loaded" and local["rules"] == 1
    assert local["origin"] == f"local path {(tmp_path / 'rules' / 'localrules.py').resolve()}"
    assert "LOC101" in rule_codes(venv, "--config", str(config))
    manifest = write(tmp_path / "deploy.yaml", DEPLOYMENT)
    # relative to the config file's folder, not to the working directory
    p = venv.run("-f", str(manifest), "-o", "json", "--select", "LOC", "--config", str(config), cwd=tmp_path / "rules")
    (finding,) = json.loads(p.stdout)["findings"]
    assert finding["code"] == "LOC101" and finding["path"] == "/spec/template/metadata/labels"


def test_acme_vetoes_fixes_that_set_the_inject_label(venv, tmp_path):
    write(tmp_path / "localrules.py", LOCAL_PLUGIN)
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./localrules.py]\n")
    manifest = write(tmp_path / "deploy.yaml", DEPLOYMENT)
    args = ("-f", str(manifest), "--select", "LOC101", "--config", str(config))
    (finding,) = json.loads(venv.run(*args, "-o", "json").stdout)["findings"]
    label, namespace = finding["fixes"]
    assert "ACME policy forbids setting sidecar.istio.io/inject" in label["withheld"]
    assert label["verified"] is True  # withheld, not wrong
    assert "withheld" not in namespace
    table = " ".join(venv.run(*args).stdout.split())
    assert "Label the namespace" in table and "Label the pod template" not in table  # the next fix is offered
    assert venv.run(*args, "-o", "patch").stdout.count("sidecar.istio.io") == 0
    # without acme the same fix is offered
    (finding,) = json.loads(venv.run(*args, "-o", "json", "--disable-plugin", "acme").stdout)["findings"]
    assert "withheld" not in finding["fixes"][0]


def test_local_plugin_that_fails_to_import_is_one_warning(venv, tmp_path):
    write(tmp_path / "typo.py", "from kubectl_meshcheck import no_such_name\n")
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./typo.py, ./absent.py]\n")
    p = venv.run("plugins", "-o", "json", "--config", str(config), env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    got = plugins(p)
    assert got["typo"]["status"].startswith("failed: ImportError") and got["absent"]["status"].startswith("failed:")
    assert len(lines(p.stderr)) == 2 and all(ln.startswith("warning: plugin ") for ln in lines(p.stderr))


# -- hard errors -----------------------------------------------------------------------------------


def test_missing_required_plugin_exits_3_with_one_error_line(venv, tmp_path):
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  required: [missing]\n")
    for args in (["plugins"], ["rules"], ["-f", str(write(tmp_path / "svc.yaml", SERVICE))]):
        p = venv.run(*args, "--config", str(config), env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
        assert p.returncode == 3, p.stderr
        assert lines(p.stderr) == ["error: required plugin 'missing' is not available (not installed)"]
        assert p.stdout == ""
    # with autoload on, the broken plugin adds its warning but there is still one error line
    p = venv.run("plugins", "--config", str(config))
    assert p.returncode == 3 and len([ln for ln in lines(p.stderr) if ln.startswith("error:")]) == 1


def test_required_plugins_that_are_present_or_broken(venv, tmp_path):
    ok = write(tmp_path / "ok.yaml", "plugins:\n  required: [acme, ports]\n")
    assert venv.run("plugins", "--config", str(ok)).returncode == 0
    bad = write(tmp_path / "bad.yaml", "plugins:\n  required: [broken]\n")
    p = venv.run("plugins", "--config", str(bad))
    assert p.returncode == 3
    (err,) = [ln for ln in lines(p.stderr) if ln.startswith("error:")]
    assert "'broken'" in err and "ImportError" in err
    blocked = venv.run("plugins", "--config", str(write(tmp_path / "acme.yaml", "plugins:\n  required: [acme]\n")),
                       "--disable-plugin", "acme")
    assert blocked.returncode == 3 and "blocked" in blocked.stderr


@pytest.mark.parametrize("command", [["plugins"], ["rules"], ["-f", "-"]])
def test_reserved_mc_prefix_is_a_hard_error_naming_the_plugin(venv, tmp_path, command):
    write(tmp_path / "sneaky.py", _rule_plugin("MC999"))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./sneaky.py]\n")
    p = venv.run(*command, "--config", str(config), env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert p.returncode == 3, p.stderr
    (err,) = lines(p.stderr)
    assert err.startswith("error: ") and "'sneaky'" in err and "MC999" in err and "reserved" in err


def test_duplicate_rule_code_is_a_hard_error_naming_both_plugins(venv, tmp_path):
    write(tmp_path / "copycat.py", _rule_plugin("ACME101"))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./copycat.py]\n")
    p = venv.run("plugins", "--config", str(config), "--disable-plugin", "broken")
    assert p.returncode == 3, p.stderr
    (err,) = lines(p.stderr)
    assert err.startswith("error: ") and "ACME101" in err and "'acme'" in err and "'copycat'" in err
    # without acme there is no clash
    assert venv.run("plugins", "--config", str(config), "--disable-plugin", "acme,broken").returncode == 0


def test_invalid_rule_code_is_a_hard_error(venv, tmp_path):
    write(tmp_path / "lower.py", _rule_plugin("acme102"))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./lower.py]\n")
    p = venv.run("plugins", "--config", str(config), env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert p.returncode == 3 and "'lower'" in p.stderr and "acme102" in p.stderr


def test_misspelt_hook_fails_validation_with_one_warning(venv, tmp_path):
    write(tmp_path / "typo_hook.py", "def meshcheck_register_rule(register):\n    pass\n")
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./typo_hook.py]\n")
    p = venv.run("plugins", "-o", "json", "--config", str(config), env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    status = plugins(p)["typo_hook"]["status"]
    assert status.startswith("failed:") and "meshcheck_register_rule" in status
    assert len(lines(p.stderr)) == 1


def test_misspelt_decorated_hook_is_caught_too(venv, tmp_path):
    """pluggy adds a caller for every @hookimpl name, so the spec list must come from the hookspecs."""
    write(tmp_path / "typo_impl.py", "from kubectl_meshcheck import hookimpl\n\n\n@hookimpl\n"
                                     "def meshcheck_register_rule(register):\n    pass\n")
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./typo_impl.py]\n")
    p = venv.run("plugins", "-o", "json", "--config", str(config), env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    status = plugins(p)["typo_impl"]["status"]
    assert status.startswith("failed:") and "unknown hook 'meshcheck_register_rule'" in status
    assert "typo_impl" in p.stderr


@pytest.mark.parametrize("change, words", [
    ('targets={"Service"}', ["typo_kind", "ORG101", "'Deploymnet'", "did you mean 'Deployment'"]),
    ("topic=Topic.PORTS", ["typo_kind", "ORG101", "'engine'", "Topic.ORG"]),
    ('targets={"Service"}, ', ["typo_kind", "ORG101", "no targets"]),
])
def test_a_rule_that_would_never_run_is_a_hard_error_naming_the_plugin(venv, tmp_path, change, words):
    replacement = {'targets={"Service"}': 'targets={"Deploymnet"}', "topic=Topic.PORTS": "topic=Topic.ENGINE",
                   'targets={"Service"}, ': "targets=(), "}[change]
    write(tmp_path / "typo_kind.py", _rule_plugin("ORG101").replace(change, replacement))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./typo_kind.py]\n")
    p = venv.run("rules", "--config", str(config), env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert p.returncode == 3, p.stderr
    (err,) = lines(p.stderr)
    assert err.startswith("error: ") and all(w in err for w in words), err


def test_registering_a_module_registers_every_rule_it_defines_and_a_ruleless_module_is_an_error(venv, tmp_path):
    """``register(module)``: a rule added to the module is registered with no other edit; the rules it
    only imports are not registered twice; a module without rules is one error naming the plugin."""
    write(tmp_path / "org_rules.py", _rule_plugin("ORG101").split("@hookimpl")[0] + textwrap.dedent('''\
        @rule(code="ORG102", name="other-rule", topic=Topic.ORG, targets={"Service"}, summary="t")
        def other_rule(svc, ctx):
            """What it checks: y."""
            return ()
        '''))
    write(tmp_path / "org_plugin.py", textwrap.dedent("""\
        import sys
        sys.path.insert(0, TMP)
        import org_rules
        from org_rules import some_rule  # imported, defined in org_rules: registered once, from there
        from kubectl_meshcheck import Topic, hookimpl, rule


        @rule(code="ORG103", name="own-rule", topic=Topic.ORG, targets={"Service"}, summary="u")
        def own_rule(svc, ctx):
            '''What it checks: z.'''
            return ()


        @hookimpl
        def meshcheck_register_rules(register):
            register(org_rules)
            register(sys.modules[__name__])
        """).replace("TMP", repr(str(tmp_path))))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./org_plugin.py]\n")
    env = {"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    p = venv.run("rules", "--config", str(config), "-o", "json", env=env)
    assert p.returncode == 0, p.stderr
    codes = [r["code"] for r in json.loads(p.stdout)["rules"] if r["code"].startswith("ORG")]
    assert codes == ["ORG101", "ORG102", "ORG103"]
    write(tmp_path / "org_plugin.py", (tmp_path / "org_plugin.py").read_text().replace(
        "register(org_rules)", "register(sys)"))
    p = venv.run("rules", "--config", str(config), env=env)
    assert p.returncode == 3
    (err,) = lines(p.stderr)
    assert "'org_plugin'" in err and "module 'sys'" in err and "defines no rule" in err, err


def test_an_org_topic_rule_runs_with_every_topic(venv, tmp_path):
    write(tmp_path / "org.py", _rule_plugin("ORG101").replace("topic=Topic.PORTS", "topic=Topic.ORG").replace(
        "return ()", "return [Diagnostic('/metadata/name', 'no team label')]").replace(
        "import Topic,", "import Diagnostic, Topic,"))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./org.py]\n")
    env = {"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    svc = write(tmp_path / "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\n"
                                       "spec: {ports: [{name: http, port: 80}]}\n")
    p = venv.run("-f", str(svc), "--config", str(config), "-o", "json", env=env)
    assert [f["category"] for f in json.loads(p.stdout)["findings"] if f["code"] == "ORG101"] == ["org"], p.stderr
    p = venv.run("-f", str(svc), "--config", str(config), "-o", "json", "--select", "ORG", env=env)
    assert {f["code"] for f in json.loads(p.stdout)["findings"]} == {"ORG101"}


def test_an_org_rule_of_a_topic_shows_in_that_topics_rows(venv, tmp_path):
    """Views pick findings by topic, not by our code prefixes: ORG201 (startup) is in `startup` rows."""
    write(tmp_path / "team.py", textwrap.dedent('''\
        from kubectl_meshcheck import Diagnostic, Topic, hookimpl, rule


        @rule(code="ORG201", name="team-label-missing", topic=Topic.STARTUP, targets={"Workload"},
              summary="meshed workloads carry a team label")
        def team_label_missing(wl, ctx):
            """What it checks: x."""
            if "team" not in wl.pod_labels:
                yield Diagnostic(wl.template_path + "/metadata/labels", "no team label")


        @hookimpl
        def meshcheck_register_rules(register):
            register(team_label_missing)
        '''))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./team.py]\n")
    p = venv.run("startup", "-f", str(EXAMPLES), "--config", str(config), "-o", "json",
                 env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    doc = json.loads(p.stdout)
    org = {f["object"]["name"] for f in doc["findings"] if f["code"] == "ORG201"}
    rows = [r for r in doc["rows"] if "ORG201" in r["findings"]]
    assert org and rows and {r["workload"].split("/", 1)[1] for r in rows} <= org, p.stderr


def test_crashing_owner_and_veto_hooks_are_one_mc001_each_and_vetoes_see_the_fixes(venv, tmp_path):
    write(tmp_path / "hooks.py", textwrap.dedent('''\
        from kubectl_meshcheck import hookimpl

        SEEN = []


        @hookimpl
        def meshcheck_detect_owner(obj, ctx):
            raise RuntimeError("owner lookup broke")


        @hookimpl
        def meshcheck_veto_fix(fix, finding, ctx):
            if not finding.fixes:
                raise AssertionError("the veto saw a finding without its fixes")
            return None
        '''))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./hooks.py]\n")
    p = venv.run("-f", str(EXAMPLES / "ports.yaml"), "--config", str(config), "-o", "json",
                 env={"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    doc = json.loads(p.stdout)
    crashes = [f for f in doc["findings"] if f["code"] == "MC001"]
    assert len(crashes) == 1 and "'hooks'" in crashes[0]["message"] and "meshcheck_detect_owner" in crashes[0][
        "message"]
    assert [f for f in doc["findings"] if f["code"] == "MC103"]  # the rules still ran, with their fixes
    assert all(f["owner"] is None or f["owner"]["kind"] for f in doc["findings"])


# -- regressions: bugs found in plugins.py and model.py by these tests -----------------------------


def test_name_clash_does_not_hide_the_loaded_plugin(venv, tmp_path):
    """A local file named like a loaded entry point is rejected; the loaded one still counts (required)."""
    write(tmp_path / "acme.py", "x = 1\n")
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./acme.py]\n  required: [acme]\n")
    p = venv.run("plugins", "-o", "json", "--config", str(config), "--disable-plugin", "broken")
    assert p.returncode == 0, p.stderr
    rows = [r for r in json.loads(p.stdout)["plugins"] if r["name"] == "acme"]
    assert [(r["status"], r["rules"]) for r in rows] == [
        ("loaded", 1), ("failed: another plugin already uses this name", 0)]
    assert len(lines(p.stderr)) == 1 and "already uses this name" in p.stderr


def test_plugin_may_import_a_meshcheck_module(venv, tmp_path):
    """Only routines named meshcheck_* are hooks: importing a meshcheck_<org> module is fine."""
    write(tmp_path / "reuse.py", "import meshcheck_acme\n\nAPPROVED = meshcheck_acme.DEFAULT_APPROVED\n")
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./reuse.py]\n")
    p = venv.run("plugins", "-o", "json", "--config", str(config), "--disable-plugin", "broken")
    assert plugins(p)["reuse"]["status"] == "loaded"


def test_failed_registration_leaves_no_rules_behind(venv, tmp_path):
    """A plugin whose registration hook raises half-way leaves none of its rules in the registry."""
    write(tmp_path / "half.py", _rule_plugin("HALF101").replace(
        "register(some_rule)", "register(some_rule)\n    raise RuntimeError('second rule broke')"))
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  paths: [./half.py]\n")
    env = {"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    got = plugins(venv.run("plugins", "-o", "json", "--config", str(config), env=env))
    assert got["half"]["status"].startswith("failed: RuntimeError")
    assert "HALF101" not in rule_codes(venv, "--config", str(config), env=env)


# -- kubectl's plugin discovery --------------------------------------------------------------------


def test_kubectl_finds_the_venv_plugin(venv, tmp_path):
    require_kubectl()
    kubectl = shutil.which("kubectl")
    env = {**venv.env, "PATH": f"{venv.bin}{os.pathsep}{venv.env.get('PATH', '')}", "KUBECONFIG": os.devnull}

    def kubectl_run(*args):
        return subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, timeout=120, check=False)

    p = kubectl_run("meshcheck", "plugins", "-o", "json")
    got = plugins(p)
    assert got["acme"]["status"] == "loaded" and got["broken"]["status"].startswith("failed")
    assert len([ln for ln in lines(p.stderr) if "broken" in ln]) == 1
    p = kubectl_run("meshcheck", "rules", "ACME101")
    assert p.returncode == 0 and p.stdout.startswith("ACME101 port-prefix-not-approved")
    # the plugin's exit code reaches the shell unchanged
    config = write(tmp_path / "meshcheck.yaml", "plugins:\n  required: [missing]\n")
    assert kubectl_run("meshcheck", "plugins", "--config", str(config)).returncode == 3


# -- bundled plugins use only the public API -------------------------------------------------------

PLUGIN_FILES = sorted((REPO / "plugins").rglob("*.py")) + [TESTS / "example_plugin" / "meshcheck_acme" / "__init__.py"]


def _private_imports(path: Path) -> list[str]:
    """Imports of ``kubectl_meshcheck`` submodules, or of names not in its ``__all__``."""
    public = set(kubectl_meshcheck.__all__)
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            bad += [f"{where} import {a.name}" for a in node.names if a.name.startswith("kubectl_meshcheck.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("kubectl_meshcheck."):
                bad.append(f"{where} from {node.module} import ...")
            elif node.module == "kubectl_meshcheck":
                bad += [f"{where} from kubectl_meshcheck import {a.name} (not in __all__)"
                        for a in node.names if a.name not in public]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            arg = node.args[0].value
            if (name in ("import_module", "__import__") and isinstance(arg, str)
                    and arg.startswith("kubectl_meshcheck.")):
                bad.append(f"{where} {name}({arg!r})")
    return bad


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: p.parent.name + "/" + p.name)
def test_plugins_import_only_the_public_api(path):
    assert _private_imports(path) == []


def test_the_public_api_check_catches_private_imports(tmp_path):
    sneaky = write(tmp_path / "sneaky.py", textwrap.dedent("""\
        import importlib
        import kubectl_meshcheck.model
        from kubectl_meshcheck.mesh import protocol
        from kubectl_meshcheck import rule, Engine
        from kubectl_meshcheck import hookimpl
        importlib.import_module("kubectl_meshcheck.engine")
        """))
    assert len(_private_imports(sneaky)) == 4


def test_every_public_name_is_documented_and_resolves():
    """The public API is one map (``_EXPORTS``): each name resolves, and each class or function says
    what it is for (``help(kubectl_meshcheck.X)`` is a plugin author's documentation)."""
    import inspect

    import kubectl_meshcheck

    undocumented = []
    for name in kubectl_meshcheck.__all__:
        value = getattr(kubectl_meshcheck, name)
        if (inspect.isclass(value) or inspect.isfunction(value)) and not (value.__doc__ or "").strip():
            undocumented.append(name)
    assert undocumented == []


def test_the_public_api_is_small_and_its_doors_are_documented():
    """About 25 names; every public member of the facade (``ctx.mesh``) says what it is, and every
    Istio name in ``istio`` has its ``#:`` line: ``help()`` is a plugin author's reference."""
    import inspect

    import kubectl_meshcheck
    from kubectl_meshcheck import MeshFacts, istio

    assert len(kubectl_meshcheck.__all__) <= 30
    members = {n: v for n, v in inspect.getmembers(MeshFacts) if not n.startswith("_")}
    assert {"protocol", "injection", "probes", "mtls", "egress", "capture", "settings", "mode"} <= set(members)
    assert [n for n, v in members.items() if not (getattr(v, "__doc__", None) or "").strip()] == []
    source = Path(istio.__file__).read_text(encoding="utf-8").splitlines()
    documented = {line.split("=")[0].strip() for before, line in zip(source, source[1:])
                  if before.startswith("#:") and "=" in line}
    assert set(istio.__all__) == documented
    assert all(isinstance(getattr(istio, n), (str, int, tuple, frozenset, dict)) for n in istio.__all__)


def _facade_uses(path: Path) -> list[str]:
    """``ctx.mesh.X``, ``MeshFacts.X`` and ``istio.X`` in a plugin that the facade or ``istio`` lack."""
    from kubectl_meshcheck import MeshFacts, istio

    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if isinstance(owner, ast.Attribute) and owner.attr == "mesh" and getattr(owner.value, "id", "") == "ctx" \
                or getattr(owner, "id", "") == "MeshFacts":
            if not hasattr(MeshFacts, node.attr):
                bad.append(f"{path.name}:{node.lineno} ctx.mesh.{node.attr}")
        elif getattr(owner, "id", "") == "istio" and node.attr not in istio.__all__:
            bad.append(f"{path.name}:{node.lineno} istio.{node.attr}")
    return bad


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: p.parent.name + "/" + p.name)
def test_plugins_read_facts_the_facade_has(path):
    assert _facade_uses(path) == []

