"""The sub-commands as users run them: export (ONNX checked against torch), serve --dry-run."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from harflow.models.predictor import Predictor
from harflow.serve.backends import OnnxBackend, TorchBackend, choose_backend, make_backend
from tests.conftest import run_harflow


def test_export_onnx_matches_torch_and_auto_backend_picks_one(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    out = json.loads(run_harflow("export", str(run), "--onnx", timeout=600).stdout)
    assert (
        out["max_abs_diff"] < 1e-4 and (run / "model.onnx").is_file() and (run / "transitions.json").is_file()
    )
    assert set(out["ms_per_batch64"]) == {"torch", "onnx"}
    # one self-contained file: no weights side file, no temporary left behind
    assert sorted(set(p.name for p in run.iterdir()) - set(p.name for p in tiny_run.iterdir())) == [
        "model.onnx"
    ]
    pred = Predictor.load(run)
    X = np.random.default_rng(3).normal(size=(5, pred.spec.length, 6)).astype(np.float32)
    assert np.allclose(
        OnnxBackend(pred, run / "model.onnx").predict_proba(X), TorchBackend(pred).predict_proba(X), atol=1e-5
    )
    assert make_backend(pred, run, "auto").name in ("torch", "onnx")
    with pytest.raises(FileNotFoundError, match="harflow export"):
        make_backend(pred, tiny_run, "onnx")


def test_serve_dry_run_and_clear_errors(tiny_run, tmp_path):
    env = {"HARFLOW_DATA_DIR": str(tmp_path), "HARFLOW_ADMIN_KEYS": "k"}
    out = json.loads(run_harflow("serve", "--model", str(tiny_run), "--dry-run", env=env).stdout)
    assert out["model_version"].startswith("lstm@")
    bad = run_harflow("serve", "--model", str(tmp_path / "missing"), env=env, check=False)
    assert bad.returncode == 2 and "does not exist" in bad.stdout
    noauth = run_harflow(
        "serve",
        "--model",
        str(tiny_run),
        "--dry-run",
        check=False,
        env={"HARFLOW_DATA_DIR": str(tmp_path), "HARFLOW_ADMIN_KEYS": ""},
    )
    assert noauth.returncode == 2 and "HARFLOW_ADMIN_KEYS" in noauth.stdout


STARTS_WITHOUT_TRAINING_DATA = """
import json, sys
from harflow.serve.core.config import Settings
from harflow.serve.service import Service
svc = Service(Settings(model=sys.argv[1], data_dir=sys.argv[2], admin_keys="k"))
loaded = sorted(m for m in sys.modules if m.startswith("harflow"))
print(json.dumps({"version": svc.model.version, "loaded": loaded}))
"""


def test_service_starts_from_the_run_dir_alone(tiny_run, tmp_path):
    """Everything the service needs travels in the run dir: starting it loads no training data (the import
    contract forbids the import; this checks the running process too), and a run dir without the change
    detector's file is refused with the command that makes it, not silently completed from the dataset."""
    import subprocess
    import sys

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    proc = subprocess.run(
        [sys.executable, "-c", STARTS_WITHOUT_TRAINING_DATA, str(run), str(tmp_path / "db")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    loaded = json.loads(proc.stdout.splitlines()[-1])["loaded"]
    assert "harflow.serve.service" in loaded
    assert not [
        m for m in loaded if m.startswith(("harflow.data.sources", "harflow.train", "harflow.patterns.fit"))
    ]
    (run / "transitions.json").unlink()
    env = {"HARFLOW_DATA_DIR": str(tmp_path), "HARFLOW_ADMIN_KEYS": "k"}
    bad = run_harflow("serve", "--model", str(run), "--dry-run", env=env, check=False)
    assert (
        bad.returncode == 2 and "transitions.json is missing" in bad.stdout and "harflow export" in bad.stdout
    )
    out = json.loads(run_harflow("export", str(run), env=env).stdout)
    assert out["transitions"].endswith("transitions.json") and (run / "transitions.json").is_file()
    assert json.loads(run_harflow("serve", "--model", str(run), "--dry-run", env=env).stdout)["model_version"]


class _Timed:
    """A backend that takes ``alone`` seconds for one window and ``per_window`` seconds per window otherwise:
    timing without a model, to test the choice."""

    def __init__(self, name: str, alone: float, per_window: float) -> None:
        self.name, self.alone, self.per_window = name, alone, per_window

    def predict_proba(self, X):
        time.sleep(self.alone if len(X) == 1 else self.per_window * len(X))
        return np.zeros((len(X), 2))


def test_auto_backend_weighs_batch_1_and_max_batch():
    # "batched" is 10 % faster per window at 64 but 5x slower alone: judged at 64 alone it would win
    lean = _Timed("lean", 0.0005, 0.00011)
    batched = _Timed("batched", 0.0025, 0.0001)
    assert choose_backend([batched, lean], 4, 2, 64).name == "lean"
    # a backend better at both sizes wins whatever the order
    slow = _Timed("slow", 0.002, 0.0003)
    assert choose_backend([lean, slow], 4, 2, 64).name == "lean"
    assert choose_backend([slow, lean], 4, 2, 64).name == "lean"
    # with batching off only batch 1 counts
    assert choose_backend([batched, lean], 4, 2, 1).name == "lean"
