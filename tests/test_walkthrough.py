"""The README's "Writing your own rules" walkthrough, executed: its files are the ones in
tests/example_plugin_team/ (the README shows them whole), the plugin is pip-installed into a fresh
virtualenv next to kubectl-meshcheck, and each step the README gives must do what it says."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .test_plugin_loading import REPO, SOURCE_IGNORE, Venv, make_venv

PLUGIN = REPO / "tests" / "example_plugin_team"
README = (REPO / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Writing your own rules"):README.index("## Benchmarks")]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", SECTION, re.S)


def test_the_readme_shows_the_plugins_files_whole():
    files = [PLUGIN / "meshcheck_team" / "__init__.py", PLUGIN / "tests" / "test_team.py"]
    assert blocks("python") == [f.read_text(encoding="utf-8") for f in files]
    assert blocks("toml") == [(PLUGIN / "pyproject.toml").read_text(encoding="utf-8")]
    for name in re.findall(r"`((?:fail|pass|expected|fixed)[\w.-]*\.yaml)`", SECTION):
        assert (PLUGIN / "tests" / "rules" / "TEAM101" / name).is_file(), name


@pytest.fixture(scope="module")
def team_venv(tmp_path_factory) -> tuple[Venv, Path]:
    """kubectl-meshcheck and meshcheck-team installed, as `pip install ./meshcheck-team` would."""
    base = tmp_path_factory.mktemp("walkthrough")
    shutil.copytree(REPO, base / "kubectl-meshcheck", ignore=SOURCE_IGNORE)
    work = base / "work"
    shutil.copytree(PLUGIN, work / "meshcheck-team", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info",
                                                                                  "build"))
    return make_venv(base / "venv", base / "kubectl-meshcheck", work / "meshcheck-team"), work


def test_step_4_the_installed_plugin_is_found_fires_and_its_fix_is_verified(team_venv):
    venv, work = team_venv
    env = {"MESHCHECK_DISABLE_PLUGIN_AUTOLOAD": ""}
    plugins = {p["name"]: p for p in json.loads(venv.run("plugins", "-o", "json", env=env).stdout)["plugins"]}
    assert (plugins["team"]["status"], plugins["team"]["rules"], plugins["team"]["version"]) == ("loaded", 1, "0.1.0")
    case = "meshcheck-team/tests/rules/TEAM101/fail.no-team.yaml"
    p = venv.run("-f", case, "--select", "TEAM", "-o", "json", env=env, cwd=work)
    (f,) = json.loads(p.stdout)["findings"]
    assert (f["code"], f["category"], f["object"]["name"]) == ("TEAM101", "org", "cart")
    assert f["fixes"][0]["verified"] is True and f["fixes"][0]["applicability"] == "safe"
    human = venv.run("-f", case, "--select", "TEAM", env=env, cwd=work)
    assert "TEAM101" in human.stdout and "Label the pods team=checkout" in human.stdout
    assert "What it checks:" in venv.run("rules", "TEAM101", env=env).stdout


def test_step_4_the_plugins_own_tests_pass_with_the_harness(team_venv):
    venv, work = team_venv
    p = subprocess.run([str(venv.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "meshcheck-team/tests"], cwd=work, capture_output=True, text=True, timeout=300,
                       env=venv.env)
    assert p.returncode == 0 and "3 passed" in p.stdout, p.stdout + p.stderr
