"""`harflow deploy render|validate` through the real CLI."""

from __future__ import annotations

import yaml

from tests.conftest import run_harflow


def _docs(out: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(out) if d]


def test_render_workers_image_and_old_server():
    p = run_harflow(
        "deploy",
        "render",
        "--overlay",
        "dev",
        "--workers",
        "3",
        "--image",
        "reg.example/harflow:1.2",
        "--server-version",
        "1.20",
        "--run-id",
        "run-7",
        "--validate",
    )
    docs = _docs(p.stdout)
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["name"] == "run-7"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    c = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HARFLOW_WORKERS"] == "3" and env["HARFLOW_RUN_ID"] == "run-7"
    assert c["image"] == "reg.example/harflow:1.2"
    dep = next(d for d in docs if d["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/harflow:1.2"
    pg = next(d for d in docs if d["kind"] == "StatefulSet")
    assert pg["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:16-bookworm"  # not harflow's
    kinds = {d["kind"]: d["apiVersion"] for d in docs}
    assert kinds["HorizontalPodAutoscaler"] == "autoscaling/v2beta2"
    assert kinds["PodDisruptionBudget"] == "policy/v1beta1"


def test_render_pytorchjob_and_validate_roundtrip(tmp_path):
    p = run_harflow(
        "deploy", "render", "--overlay", "cpu", "--pytorchjob", "--training-only", "--workers", "4"
    )
    (pj,) = _docs(p.stdout)
    assert pj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 4
    f = tmp_path / "pj.yaml"
    f.write_text(p.stdout)
    v = run_harflow("deploy", "validate", str(f))
    assert "1/1 resources valid" in v.stdout


def test_validate_rejects_a_broken_file_naming_resource_and_field(tmp_path):
    p = run_harflow("deploy", "render", "--overlay", "cpu")
    docs = _docs(p.stdout)
    dep = next(d for d in docs if d["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    f = tmp_path / "broken.yaml"
    f.write_text(yaml.safe_dump_all(docs))
    v = run_harflow("deploy", "validate", str(f), check=False)
    assert v.returncode == 1
    assert "Deployment/harflow-serve" in v.stderr and "imagePullPolicyy" in v.stderr
    assert f"{len(docs) - 1}/{len(docs)} resources valid" in v.stdout


def test_bad_options_are_clear_errors(tmp_path):
    p = run_harflow("deploy", "render", "--overlay", "cpu", "--workers", "0", check=False)
    assert p.returncode == 2 and "--workers must be at least 1" in p.stdout + p.stderr
    f = tmp_path / "bad.yaml"
    f.write_text("kind: [unclosed\n")
    p = run_harflow("deploy", "validate", str(f), check=False)
    assert p.returncode == 2 and "not valid YAML" in p.stdout + p.stderr
