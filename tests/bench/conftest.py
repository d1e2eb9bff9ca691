"""Bench fixtures: synthetic results documents and the checked-in sample results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harflow.bench import schema
from harflow.bench.fingerprint import fingerprint

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "results" / "samples"


def make_run(nproc: int, sps: float, scaling: str = "baseline", batch: int = 64, **kw: Any) -> dict[str, Any]:
    gb = batch * nproc if scaling == "weak" else batch
    step_s = gb / sps
    return {
        "nproc": nproc,
        "nnodes": 1,
        "device": "cpu",
        "engine": "ddp",
        "model": "lstm",
        "model_config": {},
        "scaling": scaling,
        "global_batch": gb,
        "per_worker_batch": gb // nproc,
        "threads_per_process": 1,
        "samples_per_s": sps,
        "speedup": None,
        "strong_scaling_efficiency": None,
        "weak_scaling_efficiency": None,
        "comm_fraction": 0.1,
        "comm_method": "no_sync_difference",
        "peak_mem_mb": 500.0,
        "timed_steps": 10,
        "step_ms": {
            "step": step_s * 1e3,
            "data": 1.0,
            "forward_backward": step_s * 800,
            "comm": step_s * 100,
            "optimizer": 2.0,
        },
        "model_flops_per_sample": 9e6,
        "model_flops_per_s": 9e6 * sps,
        **kw,
    }


@pytest.fixture(scope="session")
def fp() -> dict[str, Any]:
    return fingerprint()


@pytest.fixture
def train_doc(fp: dict[str, Any]) -> dict[str, Any]:
    from harflow.bench.scaling import annotate

    runs = annotate([make_run(1, 1000.0), make_run(2, 1500.0, "strong"), make_run(2, 1800.0, "weak")])
    return schema.new_document("train", fp, runs, tag="host")
