"""Applying a fix offline never changes the object it was computed from (the index keeps judging it)."""

import copy

import pytest

from kubectl_meshcheck.fixes import FixDoesNotApply, apply_ops
from kubectl_meshcheck.model import Applicability, Fix, ObjectRef, PatchOp

REF = ObjectRef("v1", "Service", "shop", "web", "web.yaml:1")
SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"ports": [{"name": "web", "port": 80}, {"name": "grpc", "port": 9090}], "selector": {"app": "web"}}}


def fix(*ops):
    return Fix("t", Applicability.SAFE, REF, tuple(PatchOp(*o) for o in ops))


def test_patched_copy_has_the_change_and_the_original_is_untouched():
    before = copy.deepcopy(SVC)
    out = apply_ops(SVC, fix(("test", "/spec/ports/0/name", "web"), ("add", "/spec/ports/0/appProtocol", "http"),
                             ("replace", "/spec/ports/1/name", "grpc-api"), ("remove", "/metadata/labels/app"),
                             ("add", "/metadata/annotations", {"a": "b"})))
    assert before == SVC
    assert out["spec"]["ports"] == [{"name": "web", "port": 80, "appProtocol": "http"},
                                    {"name": "grpc-api", "port": 9090}]
    assert out["metadata"] == {"name": "web", "labels": {}, "annotations": {"a": "b"}}
    assert out["spec"]["selector"] is SVC["spec"]["selector"]  # untouched parts are shared, not copied


def test_a_stale_object_refuses_the_fix_and_stays_untouched():
    before = copy.deepcopy(SVC)
    with pytest.raises(FixDoesNotApply):
        apply_ops(SVC, fix(("add", "/spec/ports/0/appProtocol", "http"), ("test", "/spec/ports/0/name", "http")))
    assert before == SVC
