"""``kubectl meshcheck startup``: the per-workload view, the example, and the injector settings flags,
run as the installed command."""

from kubectl_meshcheck import Status, Topic
from kubectl_meshcheck.plugins import build_plugin_manager

from .test_cli import EXAMPLES, js, run


def rows_by_name(proc):
    return {r["name"]: r for r in js(proc)["rows"]}


def test_startup_example_has_one_case_per_rule_with_proven_fixes():
    p = run("startup", "-f", str(EXAMPLES), "-o", "json")
    assert p.returncode == 1, p.stderr
    doc = js(p)
    # one case per rule the topic runs by default (preview rules need --preview); MC210 and MC213
    # judge Pods as a live cluster shows them, so the example has such Pods too
    rules = build_plugin_manager(autoload=False).registry.all()
    expected = sorted(r.code for r in rules if r.topic is Topic.STARTUP and r.status is not Status.PREVIEW)
    assert sorted(f["code"] for f in doc["findings"]) == expected
    for f in doc["findings"]:
        assert f["category"] == "startup" and f["object"]["origin"].startswith(str(EXAMPLES / "startup.yaml"))
        assert all(x["verified"] is True for x in f["fixes"] if x["applicability"] != "display-only"), f


def test_startup_view_explains_each_workload():
    rows = rows_by_name(run("startup", "-f", str(EXAMPLES), "-o", "json"))
    job = rows["nightly-export"]
    assert job["workload"] == "CronJob/nightly-export" and job["mesh"] == "sidecar"
    assert job["proxy"] == "last?" and job["assumed"] and job["batchCompletion"] == "never completes (classic sidecar)"
    assert job["findings"] == ["MC201"] and job["containerOrder"] == ["export", "istio-proxy"]
    assert rows["notifications"]["proxy"] == "native" and rows["notifications"]["hold"] == "ignored (native sidecar)"
    assert rows["storefront"]["initNeedsNetwork"] == [{"name": "fetch-assets", "evidence": "runs wget as it starts"}]
    assert rows["storefront"]["initContainerOrder"] == ["fetch-assets", "istio-init"]
    table = run("startup", "-f", str(EXAMPLES)).stdout
    assert table.splitlines()[0].split()[:5] == ["NAMESPACE", "WORKLOAD", "MESH", "PROXY", "HOLD"]


def test_native_sidecars_flag_changes_the_prediction():
    p = run("startup", "-f", str(EXAMPLES), "-o", "json", "--native-sidecars", "true")
    rows = rows_by_name(p)
    assert rows["nightly-export"]["proxy"] == "native"
    assert rows["nightly-export"]["batchCompletion"] == "native sidecar stops with the job"
    codes = {f["code"] for f in js(p)["findings"]}
    assert not codes & {"MC201", "MC202", "MC206"} and "MC205" in codes


def test_old_istio_version_offers_no_native_annotation():
    p = run("startup", "-f", str(EXAMPLES), "-o", "json", "--istio-version", "1.22")
    (job,) = [f for f in js(p)["findings"] if f["code"] == "MC201"]
    assert not job["args"]["assumed"]  # 1.22 defaults to classic sidecars: nothing assumed
    assert [x["applicability"] for x in job["fixes"]] == ["display-only", "unsafe"]
    # the per-pod native annotation needs 1.24, so its hold annotation now does its job
    notifications = rows_by_name(p)["notifications"]
    assert notifications["proxy"] == "first" and notifications["postStartWait"]
    assert notifications["hold"] == "yes (pod annotation proxy.istio.io/config (JSON))"


def test_bad_settings_are_usage_errors(tmp_path):
    p = run("startup", "-f", str(EXAMPLES), "--native-sidecars", "maybe")
    assert p.returncode == 3 and "--native-sidecars" in p.stderr
    p = run("startup", "-f", str(EXAMPLES), "--istio-version", "latest")
    assert p.returncode == 3 and "--istio-version" in p.stderr
    cfg = tmp_path / "meshcheck.yaml"
    cfg.write_text("injection:\n  nativeSidecars: true\n")
    rows = rows_by_name(run("startup", "-f", str(EXAMPLES), "-o", "json", "--config", str(cfg)))
    assert rows["nightly-export"]["proxy"] == "native"
    cfg.write_text("injection:\n  nativeSidecars: sometimes\n")
    p = run("startup", "-f", str(EXAMPLES), "--config", str(cfg))
    assert p.returncode == 3 and "injection.nativeSidecars" in p.stderr
