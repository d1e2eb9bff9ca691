"""Real launches of `harflow bench …` (tiny) and the report from the checked-in sample results."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from harflow.bench import schema
from harflow.bench.launch import horovod_available
from harflow.bench.report import build_report
from tests.bench.conftest import SAMPLES
from tests.conftest import run_harflow

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_tiny_real_train_bench_1_and_2_workers(tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    run_harflow(
        "bench", "train", "--nproc", "1,2", "--dry-run", "--out", str(out), "--tag", "test", "--repeat", "2",
        "--independent", timeout=900,
    )  # fmt: skip
    doc = schema.load(out)
    runs = {(r["nproc"], r["scaling"]): r for r in doc["runs"]}
    ind = runs.pop((2, "independent"))  # two non-communicating workers, timed side by side
    assert ind["comm_fraction"] == 0 and ind["comm_method"].startswith("none")
    assert ind["per_worker_batch"] == 64 and len(ind["rank_compute_ms"]) == 2
    assert ind["speedup"] == pytest.approx(ind["samples_per_s"] / runs[(1, "baseline")]["samples_per_s"])
    for r in doc["runs"]:  # two interleaved rounds, merged into one record per configuration
        assert r["rounds"] == 2 and len(r["samples_per_s_rounds"]) == 2
        assert r["samples_per_s"] == min(r["samples_per_s_rounds"])  # the lower median of two
        assert all(s > 0 for s in r["speedup_rounds"]) and len(r["rank_compute_ms"]) == r["nproc"]
    assert set(runs) == {(1, "baseline"), (2, "strong"), (2, "weak")}
    base, strong, weak = runs[(1, "baseline")], runs[(2, "strong")], runs[(2, "weak")]
    assert (strong["global_batch"], strong["per_worker_batch"]) == (64, 32)
    assert (weak["global_batch"], weak["per_worker_batch"]) == (128, 64)
    assert strong["speedup"] == pytest.approx(strong["samples_per_s"] / base["samples_per_s"])
    assert strong["strong_scaling_efficiency"] == pytest.approx(strong["speedup"] / 2)
    assert weak["weak_scaling_efficiency"] == pytest.approx(weak["samples_per_s"] / base["samples_per_s"] / 2)
    # the all-reduce's cost was measured (synced − no_sync backward) on 2 workers, and not at all on 1
    assert base["comm_fraction"] == 0 and base["step_ms"]["comm"] == 0
    assert strong["comm_method"] == weak["comm_method"] == "no_sync_difference"
    if len(os.sched_getaffinity(0)) >= 2:  # DDP ranks pinned apart; independent workers not pinned
        cpus = [p["cpus"] for p in weak["cpu_placement"]]
        assert all(cpus) and not set(cpus[0]) & set(cpus[1]), cpus
        for p in weak["cpu_placement"]:  # comm threads ahead of compute (see harflow.train.placement)
            assert p["compute_thread"] == "idle" and p["comm_threads_batch"] > 0, p
        assert ind["cpu_placement"] == [{}, {}]
    assert max(strong["step_ms"]["comm"], weak["step_ms"]["comm"]) > 0
    for r in doc["runs"]:
        parts = sum(r["step_ms"][k] for k in ("data", "forward_backward", "comm", "optimizer"))
        assert parts == pytest.approx(r["step_ms"]["step"], rel=0.5)  # medians of parts ≈ median of steps
        assert r["threads_per_process"] == max(1, (len(os.sched_getaffinity(0))) // r["nproc"])
        assert r["peak_mem_mb"] > 50 and r["roof_fraction"] > 0
    assert doc["fingerprint"]["torch"] == torch.__version__
    assert doc["roof"]["gemm_flops"] > 0
    report = tmp_path / "report"
    run_harflow("bench", "report", str(out), "--out", str(report))
    md = (report / "report.md").read_text()
    assert f"{strong['samples_per_s']:.1f}" in md
    assert ("compute-bound" in md) or ("communication-bound" in md)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_configs_skip_with_a_clear_message(tmp_path: Path) -> None:
    p = run_harflow(
        "bench", "train", "--nproc", "1", "--device", "cuda", "--out", str(tmp_path / "x.json"), check=False
    )
    assert p.returncode == 2
    assert "CUDA is not available" in p.stdout + p.stderr
    assert not (tmp_path / "x.json").exists()
    r = run_harflow("bench", "roof", "--device", "cuda", check=False)
    assert r.returncode == 2 and "CUDA is not available" in r.stdout


@pytest.mark.skipif(horovod_available(), reason="checks the no-Horovod message")
def test_horovod_skips_with_a_clear_message(tmp_path: Path) -> None:
    p = run_harflow(
        "bench",
        "train",
        "--nproc",
        "2",
        "--engine",
        "horovod",
        "--no-roof",
        "--out",
        str(tmp_path / "x.json"),
        check=False,
    )
    assert p.returncode == 2 and "Horovod is not installed" in p.stdout


def test_report_from_checked_in_samples(tmp_path: Path) -> None:
    files = sorted(SAMPLES.glob("*.json"))
    assert {schema.load(f)["kind"] for f in files} >= {"train", "accuracy", "batch_size", "roof"}
    paths = build_report(files, tmp_path)
    names = {p.name for p in paths}
    assert {
        "report.md",
        "report.html",
        "speedup.png",
        "efficiency.png",
        "throughput.png",
        "breakdown.png",
        "time_to_accuracy.png",
        "batch_size.png",
    } <= names
    for p in paths:
        assert p.stat().st_size > 1000 if p.suffix == ".png" else p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG
    md, html = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    # the numbers in the report are the ones in the files
    for f in files:
        doc = json.loads(f.read_text())
        for r in doc["runs"] if doc["kind"] == "train" else []:
            assert f"{r['samples_per_s']:.1f}" in md and f"{r['comm_fraction']:.3f}" in md
        for r in doc["runs"] if doc["kind"] == "batch_size" else []:
            assert r["regime"] in md
    assert "Regime of the default LSTM" in md and "GEMM roof" in md
    assert "<img src='speedup.png'" in html and "<table>" in html


def test_report_rejects_a_bad_results_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    shutil.copy(SAMPLES / "train-cpu-host.json", bad)
    doc = json.loads(bad.read_text())
    del doc["runs"][0]["samples_per_s"]
    bad.write_text(json.dumps(doc))
    p = run_harflow("bench", "report", str(bad), "--out", str(tmp_path / "r"), check=False)
    assert p.returncode == 2
    assert "bad.json" in p.stdout and "runs.0.samples_per_s" in p.stdout


def test_env_command(tmp_path: Path) -> None:
    p = run_harflow("bench", "env", "--json", "--out", str(tmp_path / "env.json"))
    fp = json.loads(p.stdout)
    assert fp["environment"] in ("host", "container", "kubernetes")
    assert schema.load(tmp_path / "env.json")["kind"] == "env"


@pytest.mark.heavy
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2")
def test_two_nodes_in_network_namespaces(tmp_path: Path) -> None:
    out = tmp_path / "nn.json"
    run_harflow(
        "bench", "train", "--nproc", "1", "--nnodes", "2", "--dry-run", "--no-roof", "--out", str(out)
    )
    runs = schema.load(out)["runs"]
    assert {(r["nnodes"], r["nproc"]) for r in runs} == {(1, 1), (2, 1)}
    two = [r for r in runs if r["nnodes"] == 2]
    assert all(r["speedup"] is not None and r["step_ms"]["comm"] > 0 for r in two)


@pytest.mark.heavy
def test_accuracy_bench_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "acc.json"
    run_harflow("bench", "accuracy", "--nproc", "1", "--dry-run", "--target", "0.99", "--out", str(out))
    r = schema.load(out)["runs"][0]
    assert len(r["curve"]) == 1 and r["reached"] is (r["best_val_accuracy"] >= 0.99)


@pytest.mark.heavy
@pytest.mark.skipif(not horovod_available(), reason="Horovod is not built here (`make horovod`)")
def test_horovod_engine(tmp_path: Path) -> None:
    out = tmp_path / "hvd.json"
    run_harflow(
        "bench",
        "train",
        "--nproc",
        "2",
        "--engine",
        "horovod",
        "--scaling",
        "strong",
        "--dry-run",
        "--no-roof",
        "--out",
        str(out),
    )
    runs = {r["nproc"]: r for r in schema.load(out)["runs"]}
    assert runs[2]["engine"] == "horovod" and runs[2]["comm_method"] == "horovod_synchronize"
    assert runs[2]["speedup"] is not None
    if len(os.sched_getaffinity(0)) >= 2:
        assert all(p["compute_thread"] == "idle" for p in runs[2]["cpu_placement"]), runs[2]["cpu_placement"]


@pytest.mark.heavy
def test_study_dry_run_host_only(tmp_path: Path) -> None:
    run_harflow("bench", "study", "--dry-run", "--container", "no", "--out", str(tmp_path), timeout=1200)
    assert (tmp_path / "report-dry" / "report.md").stat().st_size > 0
    assert schema.load(tmp_path / "train-cpu-host-dry.json")["tag"] == "host"


@pytest.mark.heavy
def test_study_in_the_project_image(tmp_path: Path) -> None:
    from harflow.bench.study import podman_image_exists

    ok, why = podman_image_exists("localhost/harflow:latest")
    if not ok:
        pytest.skip(why)
    run_harflow("bench", "study", "--dry-run", "--container", "only", "--out", str(tmp_path), timeout=1200)
    doc = schema.load(tmp_path / "train-cpu-podman-dry.json")
    assert doc["fingerprint"]["environment"] == "container"
    assert doc["fingerprint"]["container_runtime"] == "podman"
    assert "/run/.containerenv" in doc["fingerprint"]["markers"]
