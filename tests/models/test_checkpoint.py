import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from harflow.data.sources import load_recordings
from harflow.data.windows import slice_windows, window_starts
from harflow.models import checkpoint
from harflow.models.checkpoint import CheckpointError, save_atomic
from harflow.models.predictor import Predictor


def test_roundtrip_identical_predictions(tiny_run):
    ckpt = checkpoint.load(tiny_run / "model.pt")
    for key in ("model_state", "optimizer_state", "epoch", "model", "label_names", "normalization", "window"):
        assert key in ckpt
    rs = load_recordings("hapt", subjects=["2"])
    sig = rs.recordings[0].signals
    p1, p2 = Predictor.load(tiny_run), Predictor.load(tiny_run)
    w = slice_windows(sig, window_starts(len(sig), p1.spec)[:50], p1.spec.length)
    a, b = p1.predict_proba(w), p2.predict_proba(w)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 6)
    # re-saving and loading gives the same predictions again
    save_atomic(ckpt, tiny_run / "copy.pt")
    np.testing.assert_array_equal(Predictor(checkpoint.load(tiny_run / "copy.pt")).predict_proba(w), a)


class Foo:
    pass


def test_load_is_weights_only(tmp_path):
    torch.save({"format": checkpoint.FORMAT, "x": Foo()}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="not a readable harflow checkpoint"):
        checkpoint.load(tmp_path / "m.pt")


def test_missing_and_foreign_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint there"):
        checkpoint.load(tmp_path)
    torch.save({"a": 1}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match=r"not a harflow\.checkpoint/1"):
        checkpoint.load(tmp_path)


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_atomic({"format": checkpoint.FORMAT, "v": 1}, path)

    def boom(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"format": checkpoint.FORMAT, "v": 2}, path)
    monkeypatch.undo()
    assert checkpoint.load(path)["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


WRITER = """
import sys, torch
from harflow.models.checkpoint import save_atomic, FORMAT
i = 0
while True:
    i += 1
    save_atomic({"format": FORMAT, "i": i, "w": torch.full((400_000,), float(i))}, sys.argv[1])
"""


def test_writer_killed_mid_write_never_leaves_corrupt_file(tmp_path):
    path = tmp_path / "model.pt"
    for trial in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        deadline = time.time() + 60
        while not path.exists() and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.15 + 0.1 * trial)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        ckpt = checkpoint.load(path)
        assert float(ckpt["w"][0]) == ckpt["i"] and float(ckpt["w"][-1]) == ckpt["i"]


def test_checkpoint_stores_fully_resolved_model_options(tiny_run):
    from harflow.models.lstm import LSTMConfig

    cfg = checkpoint.load(tiny_run / "model.pt")["model"]["config"]
    assert set(cfg) == {f for f in LSTMConfig.__dataclass_fields__}
