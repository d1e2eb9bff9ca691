"""Horovod as a second engine: the same trainer under horovodrun, same metrics band as DDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from tests.train.test_distributed import TINY, torchrun

try:
    import horovod.torch  # noqa: F401

    HAVE_HOROVOD = True
except ImportError:
    HAVE_HOROVOD = False

pytestmark = pytest.mark.skipif(not HAVE_HOROVOD, reason="Horovod is not built: run `make horovod`")
RUN = [*TINY, "--epochs", "3", "--batch-size", "32", "--model-opt", "dropout=0", "--seed", "5"]


def test_horovod_matches_ddp_accuracy_band(tmp_path):
    horovodrun = shutil.which("horovodrun") or os.path.join(os.path.dirname(sys.executable), "horovodrun")
    hvd = subprocess.run(
        [
            horovodrun,
            "-np",
            "2",
            "-H",
            "localhost:2",
            "--gloo",
            sys.executable,
            "-m",
            "harflow.train",
            "--engine",
            "horovod",
            *RUN,
            "--out",
            str(tmp_path / "hvd"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert hvd.returncode == 0, hvd.stdout[-3000:] + hvd.stderr[-3000:]
    ddp = torchrun([*RUN, "--out", str(tmp_path / "ddp")], nproc=2)
    assert ddp.returncode == 0, ddp.stderr
    mh = json.loads((tmp_path / "hvd" / "metrics.json").read_text())
    md = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert mh["engine"] == "horovod" and mh["world_size"] == 2 and md["engine"] == "ddp"
    assert mh["test"]["n"] == md["test"]["n"]
    assert mh["test"]["accuracy"] > 0.4 and md["test"]["accuracy"] > 0.4
    assert abs(mh["test"]["accuracy"] - md["test"]["accuracy"]) <= 0.05, (mh["test"], md["test"])
    snap = (tmp_path / "hvd" / "snapshot.pt").stat().st_size
    assert snap > 0
    if len(os.sched_getaffinity(0)) >= 2:  # Horovod's ranks get DDP's placement (harflow.train.placement)
        places = json.loads((tmp_path / "hvd" / "config.json").read_text())["cpu_placement"]
        assert not set(places[0]["cpus"]) & set(places[1]["cpus"]), places
        assert all(p["compute_thread"] == "idle" and p["comm_threads_batch"] > 0 for p in places), places
