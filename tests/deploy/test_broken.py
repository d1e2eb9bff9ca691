"""Deliberately broken manifests must be rejected, so the validation above can fail."""

from __future__ import annotations

import copy

import pytest

from harflow.deploy.validate import validate_docs
from tests.deploy.helpers import one


def _container(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]["containers"][0]


def _pj_container(doc: dict) -> dict:
    return doc["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]


BREAKAGES = {
    "unknown container field": ("Deployment", lambda d: _container(d).update(readinessProbes={})),
    "misspelt probe field": ("Deployment", lambda d: _container(d)["readinessProbe"].update(periodSecond=5)),
    "replicas as text": ("Deployment", lambda d: d["spec"].update(replicas="two")),
    "container without image name key": ("Deployment", lambda d: _container(d).pop("name")),
    "removed API version": ("Deployment", lambda d: d.update(apiVersion="extensions/v1beta1")),
    "bad job completion mode type": ("Job", lambda d: d["spec"].update(completions=[2])),
    "unknown job field": ("Job", lambda d: d["spec"].update(restartPolicy="Never")),
    "hpa target misspelt": ("HorizontalPodAutoscaler", lambda d: d["spec"].update(maxReplica=3)),
    "networkpolicy port as list": (
        "NetworkPolicy",
        lambda d: d["spec"]["ingress"][0]["ports"][0].update(port=[1]),
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_broken_core_manifest_rejected(rendered, name):
    kind, breaker = BREAKAGES[name]
    doc = copy.deepcopy(one(rendered["cpu"], kind))
    assert validate_docs([doc]) == []
    breaker(doc)
    problems = validate_docs([doc])
    assert problems, f"{name}: broken {kind} was accepted"
    assert problems[0].resource == f"{kind}/{doc['metadata']['name']}"


PJ_BREAKAGES = {
    "unknown spec field": lambda d: d["spec"].update(workers=2),
    "replicas as text": lambda d: d["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas="two"),
    "missing replica specs": lambda d: d["spec"].pop("pytorchReplicaSpecs"),
    "unknown elastic field": lambda d: d["spec"]["elasticPolicy"].update(rendezvous="c10d"),
    "bad container field in template": lambda d: _pj_container(d).update(imagePolicy="Never"),
    "bad restart policy type": lambda d: d["spec"]["runPolicy"].update(backoffLimit="four"),
}


@pytest.mark.parametrize("name", sorted(PJ_BREAKAGES))
def test_broken_pytorchjob_rejected_by_vendored_crd(rendered, name):
    doc = copy.deepcopy(rendered["pytorchjob"][0])
    PJ_BREAKAGES[name](doc)
    problems = validate_docs([doc])
    assert problems, f"{name}: broken PyTorchJob was accepted"
    assert all(p.resource == "PyTorchJob/harflow-train" for p in problems)


def test_not_a_kubernetes_object_rejected():
    assert validate_docs([{"metadata": {"name": "x"}}])
    assert validate_docs([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])
