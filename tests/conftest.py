import shutil
from pathlib import Path

import pytest

from kubectl_meshcheck.plugins import build_plugin_manager

#: the walkthrough plugin's own tests run inside its venv (tests/test_walkthrough.py), not here
collect_ignore = ["example_plugin_team"]

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def host():
    """The bundled plugins only (no entry points), built once for the session."""
    return build_plugin_manager(autoload=False)


def require_corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"../shared/corpus not found at {CORPUS}: corpus tests need the shared folder beside the repo")
    return CORPUS


def require_kubectl():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")


def corpus_cases(cases: list, id_key: str = "name") -> list:
    """Parameters for a test per corpus case; one clearly skipped parameter when the corpus is absent."""
    if cases:
        return [pytest.param(c, id=str(c[id_key])) for c in cases]
    reason = f"../shared/corpus not found at {CORPUS}: corpus tests need the shared folder beside the repo"
    return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=reason))]
