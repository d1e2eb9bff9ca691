"""How configurations are planned and launched (no workers started here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from harflow.bench import launch
from harflow.bench.trainbench import TrainBench


def test_configs_cover_strong_weak_and_add_a_baseline() -> None:
    cfgs = TrainBench(nproc=[2, 4], batch_size=64).configs()
    assert [(c["nproc"], c["scaling"], c["global_batch"]) for c in cfgs] == [
        (1, "baseline", 64),
        (2, "strong", 64),
        (2, "weak", 128),
        (4, "strong", 64),
        (4, "weak", 256),
    ]
    two_nodes = TrainBench(nproc=[1], nnodes=[2], scaling="strong").configs()
    assert [(c["nnodes"], c["nproc"]) for c in two_nodes] == [(1, 1), (2, 1)]


def _wargs(tmp_path: Path) -> list[str]:
    return launch.worker_args(
        per_worker_batch=32,
        steps=5,
        epochs=None,
        warmup=1,
        device="cpu",
        engine="ddp",
        threads=1,
        model="lstm",
        model_opts=["hidden_size=32"],
        subjects=None,
        out_dir=tmp_path,
    )


def test_ddp_plan_is_a_real_torchrun(tmp_path: Path) -> None:
    p = launch.plan(nproc=2, nnodes=1, device="cpu", engine="ddp", wargs=_wargs(tmp_path), threads=1)
    (cmd,) = p.commands
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc-per-node=2" in cmd and "harflow.bench.worker" in cmd
    assert p.env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] == "1" and p.env["OMP_NUM_THREADS"] == "1"
    assert cmd[cmd.index("--model-opt") + 1] == "hidden_size=32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_cuda_without_cuda_is_a_skip(tmp_path: Path) -> None:
    with pytest.raises(launch.Skip, match="CUDA is not available"):
        launch.plan(nproc=1, nnodes=1, device="cuda", engine="ddp", wargs=_wargs(tmp_path), threads=1)


def test_unsupported_launches(tmp_path: Path) -> None:
    with pytest.raises(launch.Skip, match="at most 2 nodes"):
        launch.plan(nproc=1, nnodes=3, device="cpu", engine="ddp", wargs=_wargs(tmp_path), threads=1)
    with pytest.raises(launch.BenchError, match="unknown engine"):
        launch.plan(nproc=1, nnodes=1, device="cpu", engine="mpi", wargs=_wargs(tmp_path), threads=1)


def test_execute_reports_a_failing_launch_with_its_log(tmp_path: Path) -> None:
    bad = launch.Launch([[sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]], {})
    with pytest.raises(launch.BenchError, match="exited 3") as e:
        launch.execute(bad, tmp_path / "x")
    assert "boom" in str(e.value)


def test_execute_streams_progress_and_can_stop_early(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    code = "import time\nfor i in range(3): print(f'BENCH_PROGRESS {i + 1} 3', flush=True)\ntime.sleep(60)"
    flag = tmp_path / "stop"
    launch.execute(
        launch.Launch([[sys.executable, "-c", code]], {}),
        tmp_path / "p",
        on_progress=lambda k, n: (seen.append((k, n)), flag.touch()),
        timeout_s=30,
        stop_when=flag.exists,
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


# shape of a real torchrun log of a worker that aborted at exit (torch 2.13, trimmed)
_ABORT_LOG = """$ python -m torch.distributed.run --standalone --nproc-per-node=2 -m harflow.bench.worker
BENCH_PROGRESS 4 4
terminate called without an active exception
E1124 00:46:19.965000 13061 site-packages/torch/distributed/elastic/multiprocessing/api.py:1002] failed
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
=======================================================
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : -6 (pid: 13067)  (SIGABRT)
=======================================================
"""


def test_failure_excerpt_keeps_the_workers_own_message_and_the_root_cause() -> None:
    got = launch.failure_excerpt(_ABORT_LOG.splitlines())
    assert "terminate called without an active exception" in got
    assert not any("Traceback" in ln for ln in got)  # the agent's own traceback says nothing about the worker
    assert "  exitcode  : -6 (pid: 13067)  (SIGABRT)" in got
    plain = ["a", "b", "c"]
    assert launch.failure_excerpt(plain) == plain  # no torchrun report: the last lines as they are
