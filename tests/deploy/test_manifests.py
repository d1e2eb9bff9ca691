"""Every rendered manifest validates strictly (kubernetes-validate, Kubernetes 1.30) and has the properties
the deployment relies on."""

from __future__ import annotations

import pytest

from harflow.deploy.render import KUBE_VERSION
from harflow.deploy.validate import validate_docs
from tests.deploy.helpers import by_kind, one

SERVICE_KINDS = {
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Job",
}


@pytest.mark.parametrize("overlay", ["cpu", "gpu", "dev", "pytorchjob"])
def test_rendered_manifests_validate_strictly(rendered, overlay):
    docs = rendered[overlay]
    assert docs
    problems = validate_docs(docs, KUBE_VERSION)
    assert problems == [], "\n".join(map(str, problems))


@pytest.mark.parametrize("overlay", ["cpu", "gpu", "dev"])
def test_overlay_has_the_service_stack(rendered, overlay):
    docs = rendered[overlay]
    assert {d["kind"] for d in docs} >= SERVICE_KINDS
    ns = {d["metadata"].get("namespace") for d in docs if d["kind"] not in ("Namespace", "PersistentVolume")}
    assert ns == {"harflow-dev" if overlay == "dev" else "harflow"}
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(
        c["resources"]["limits"]
    )
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/runs"]["readOnly"] is True  # the model volume
    assert "/tmp" in mounts and "/data" in mounts  # writable scratch despite the read-only root
    refs = {next(iter(r.values()))["name"] for r in c["envFrom"]}
    assert refs == {"harflow-settings", "harflow-secrets"}
    secret = next(s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == "harflow-secrets")
    assert {"HARFLOW_ADMIN_KEYS", "HARFLOW_DATABASE_URL"} <= set(secret["stringData"])
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    pdb = one(docs, "PodDisruptionBudget")
    assert (
        pdb["spec"]["selector"]["matchLabels"].items()
        <= dep["spec"]["template"]["metadata"]["labels"].items()
    )
    svc = next(s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "harflow")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_gpu_overlay_requests_gpus_and_cuda_image(rendered):
    docs = rendered["gpu"]
    for kind in ("Deployment", "Job"):
        c = one(docs, kind)["spec"]["template"]["spec"]["containers"][0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert c["image"].endswith(":cuda")


def test_dev_overlay_brings_postgres_and_local_image(rendered):
    docs = rendered["dev"]
    sts = one(docs, "StatefulSet")
    assert sts["spec"]["template"]["spec"]["containers"][0]["name"] == "postgres"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "harflow-dev-local"
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    pvs = {p["metadata"]["name"] for p in by_kind(docs, "PersistentVolume")}
    assert one(docs, "PersistentVolumeClaim")["spec"]["volumeName"] in pvs
    assert (
        "postgresql"
        in next(s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == "harflow-secrets")[
            "stringData"
        ]["HARFLOW_DATABASE_URL"]
    )


def test_training_job_is_indexed_torchrun_with_rendezvous_on_pod_0(rendered):
    docs = rendered["cpu"]
    job = one(docs, "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] >= 2
    assert spec["backoffLimit"] >= 1
    pod = spec["template"]["spec"]
    headless = next(s for s in by_kind(docs, "Service") if s["spec"].get("clusterIP") == "None")
    assert pod["subdomain"] == headless["metadata"]["name"]
    assert headless["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    c = pod["containers"][0]
    script = " ".join(c["command"])
    for needle in (
        "torchrun",
        "--rdzv-backend=c10d",
        "--max-restarts",
        "is_host=",
        "-m harflow.train",
        "--resume",
    ):
        assert needle in script
    env = {e["name"]: e for e in c["env"]}
    assert env["HARFLOW_RDZV_HOST"]["value"] == f"{job['metadata']['name']}-0.{headless['metadata']['name']}"
    assert env["HARFLOW_WORKERS"]["value"] == str(spec["completions"])
    assert "job-completion-index" in env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"]["value"] == "1"
    runs = next(v for v in pod["volumes"] if v["name"] == "runs")
    assert runs["persistentVolumeClaim"]["claimName"] == "harflow-runs"  # snapshots on the shared volume
    pvc = one(docs, "PersistentVolumeClaim")
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]


def test_pytorchjob_is_the_same_run(rendered):
    (pj,) = rendered["pytorchjob"]
    assert pj["apiVersion"] == "kubeflow.org/v1" and pj["kind"] == "PyTorchJob"
    assert pj["metadata"]["namespace"] == "harflow"
    w = pj["spec"]["pytorchReplicaSpecs"]["Worker"]
    c = w["template"]["spec"]["containers"][0]
    assert c["name"] == "pytorch" and c["command"] == ["torchrun"]
    assert c["args"][:2] == ["-m", "harflow.train"] and "--resume" in c["args"]
    assert pj["spec"]["elasticPolicy"]["rdzvBackend"] == "c10d"
    assert pj["spec"]["elasticPolicy"]["maxReplicas"] == w["replicas"]


def test_patterns_cronjob_validates_and_shards_by_its_index():
    from harflow.deploy.render import k8s_dir, kustomize
    from harflow.deploy.validate import validate_docs

    docs = kustomize(k8s_dir() / "patterns")
    assert validate_docs(docs) == []
    (cj,) = docs
    job = cj["spec"]["jobTemplate"]["spec"]
    assert cj["kind"] == "CronJob" and job["completionMode"] == "Indexed"
    cmd = job["template"]["spec"]["containers"][0]["command"][-1]
    assert f"/{job['completions']}" in cmd and "harflow patterns run" in cmd
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    from harflow.cli import build_parser

    a = build_parser().parse_args(["patterns", "run", "--retention", "--json", "--shard", "0/4"])
    assert a.shard == "0/4" and a.retention
