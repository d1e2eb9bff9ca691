"""Data-parallel training for real: torchrun launches, equivalence with 1 process, restarts, bad launches."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from tests.conftest import run_harflow

from harflow.models import checkpoint

TINY = ["--subjects", "1,3,5,2", "--no-progress", "--threads", "1"]
ENV = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1", "OMP_NUM_THREADS": "1"}


def torchrun(args: list[str], nproc: int, timeout: float = 300, launcher: list[str] | None = None):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        *(launcher or []),
        "-m",
        "harflow.train",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **ENV})


def _params(run: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(run / "snapshot.pt")["model_state"]


def test_ddp_two_processes_equal_one_process_same_global_batch(tmp_path):
    common = [
        *TINY,
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--no-augment",
        "--model-opt",
        "dropout=0",
        "--seed",
        "3",
        "--lr",
        "0.01",
    ]
    one = torchrun([*common, "--max-steps-per-epoch", "6", "--out", str(tmp_path / "one")], nproc=1)
    assert one.returncode == 0, one.stderr
    two = torchrun([*common, "--max-steps-per-epoch", "6", "--out", str(tmp_path / "two")], nproc=2)
    assert two.returncode == 0, two.stderr
    cfg = json.loads((tmp_path / "two" / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["per_worker_batch"] == 16 and cfg["backend"] == "gloo"
    if len(os.sched_getaffinity(0)) >= 2:  # each rank pinned to its own share of the CPUs (see placement.py)
        cpus = [p["cpus"] for p in cfg["cpu_placement"]]
        assert all(cpus) and not set(cpus[0]) & set(cpus[1]), cpus
        assert all(p["compute_thread"] == "idle" for p in cfg["cpu_placement"]), cfg["cpu_placement"]
    p1, p2 = _params(tmp_path / "one"), _params(tmp_path / "two")
    for k in p1:
        torch.testing.assert_close(p2[k], p1[k], atol=2e-5, rtol=1e-4, msg=f"parameter {k} diverged")
    # negative control: one optimizer step more moves the parameters far beyond that tolerance
    more = torchrun([*common, "--max-steps-per-epoch", "7", "--out", str(tmp_path / "more")], nproc=1)
    assert more.returncode == 0, more.stderr
    p3 = _params(tmp_path / "more")
    assert max((p3[k] - p1[k]).abs().max().item() for k in p1) > 1e-3
    # and evaluation covers the whole split, not a rank's shard
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert m2["test"]["n"] == m1["test"]["n"]
    assert abs(m2["test"]["accuracy"] - m1["test"]["accuracy"]) <= 2 / m1["test"]["n"]


def _workers(launcher_pid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.Process(launcher_pid).children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "harflow.train" in cmd and "torch.distributed.run" not in cmd:
            out.append(p)
    return out


def test_killed_worker_restarts_and_resumes_from_snapshot(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "harflow.cli",
        "train",
        "--nproc-per-node",
        "2",
        "--max-restarts",
        "2",
        *TINY,
        "--epochs",
        "4",
        "--max-steps-per-epoch",
        "10",
        "--batch-size",
        "32",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.time() + 240
        while not (out / "snapshot.pt").exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "no snapshot written"
            time.sleep(0.05)
        snap_epoch = checkpoint.load(out / "snapshot.pt")["epoch"]
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        workers[-1].kill()  # SIGKILL, no chance to clean up
        log, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, log
    resumed = [int(x) for x in re.findall(r"resumed from snapshot at epoch (\d+)", log)]
    assert resumed and resumed[0] >= snap_epoch >= 1, log
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs"] == 4 and m["world_size"] == 2
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2, 3], epochs


@pytest.mark.parametrize(
    "args,message",
    [
        (["--engine", "mpi"], "unknown engine 'mpi'"),
        (["--backend", "nccl"], "nccl needs CUDA"),
        (["--device", "cuda"], "CUDA is not available"),
    ],
)
def test_bad_launch_fails_clearly(args, message):
    if "cuda" in message.lower() and torch.cuda.is_available():
        pytest.skip("CUDA present")
    proc = run_harflow("train", "--dry-run", *TINY, *args, check=False)
    assert proc.returncode == 2
    assert message in proc.stdout + proc.stderr


def test_world_too_large_for_the_data_fails_clearly(tmp_path):
    proc = torchrun([*TINY, "--dry-run", "--batch-size", "4096", "--out", str(tmp_path / "r")], nproc=2)
    assert proc.returncode != 0
    assert "make no full global batch of 4096" in proc.stderr + proc.stdout
    proc = torchrun([*TINY, "--dry-run", "--batch-size", "33", "--out", str(tmp_path / "r")], nproc=2)
    assert proc.returncode != 0
    assert "not divisible by world size 2" in proc.stderr + proc.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (NCCL path); this machine has none")
def test_cuda_nccl_training(tmp_path):
    n = min(2, torch.cuda.device_count())
    proc = torchrun([*TINY, "--dry-run", "--device", "cuda", "--out", str(tmp_path / "r")], nproc=n)
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["backend"] == "nccl" if n > 1 else True
