"""The sub-commands as users run them: export (ONNX checked against torch), serve --dry-run, loadtest."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from harflow.models.predictor import Predictor
from harflow.serve.backends import OnnxBackend, TorchBackend, choose_backend, make_backend
from tests.conftest import run_harflow

KEYS = (
    "devices",
    "duration_s",
    "windows",
    "windows_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "errors",
    "busy",
    "dropped",
    "accuracy",
    "change_precision",
    "change_recall",
)


def test_export_onnx_matches_torch_and_auto_backend_picks_one(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    out = json.loads(run_harflow("export", str(run), "--onnx", timeout=600).stdout)
    assert (
        out["max_abs_diff"] < 1e-4 and (run / "model.onnx").is_file() and (run / "transitions.json").is_file()
    )
    assert set(out["ms_per_batch64"]) == {"torch", "onnx"}
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


@pytest.mark.parametrize("classes", [6, 12])
def test_loadtest_dry_run_streaming_accuracy_equals_offline(classes, tiny_run, tiny_run_12):
    run = tiny_run if classes == 6 else tiny_run_12
    res = json.loads(
        run_harflow(
            "loadtest",
            "--serve-model",
            str(run),
            "--dry-run",
            "--json",
            "--subjects",
            "2",
            "--binary",
            *(["--closed-loop"] if classes == 12 else []),
            timeout=600,
        ).stdout
    )
    assert set(KEYS) <= set(res)
    if classes == 12:  # closed loop: a chunk goes out only when every earlier window has been answered
        assert res["mode"] == "closed-loop" and res["max_unanswered_windows"] == 0
    assert res["devices"] == 2 and res["windows"] > 0 and res["errors"] == 0 and res["dropped"] == 0
    assert res["windows"] == res["expected_windows"]
    assert res["accuracy"] == res["offline_accuracy"] and res["offline_agreement"] == 1.0
    assert 0 <= res["p50_ms"] <= res["p99_ms"]


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


def test_loadtest_compare_batching_sweeps_loads_and_reports_each_peak(tiny_run, tmp_path):
    png = tmp_path / "peak.png"
    res = json.loads(
        run_harflow(
            "loadtest",
            "--serve-model",
            str(tiny_run),
            "--dry-run",
            "--json",
            "--subjects",
            "2",
            "--binary",
            "--compare-batching",
            "--speeds",
            "5,10",
            "--plot",
            str(png),
            timeout=600,
        ).stdout
    )
    sweep = res["sweep"]
    assert [(r["speed"], r["max_batch"]) for r in sweep] == [(5, 64), (5, 1), (10, 64), (10, 1)]
    for mb, side in ((64, "batched"), (1, "unbatched")):
        assert res[side]["max_batch"] == mb
        assert res[side]["windows_per_s"] == max(r["windows_per_s"] for r in sweep if r["max_batch"] == mb)
    assert res["speedup_windows_per_s"] == pytest.approx(
        res["batched"]["windows_per_s"] / res["unbatched"]["windows_per_s"]
    )
    for r in sweep:  # two devices are far below either server's peak: everything offered is answered
        assert r["errors"] == r["busy"] == r["dropped"] == 0 and r["offline_agreement"] == 1.0
        assert r["windows_per_s"] == pytest.approx(r["offered_windows_per_s"], rel=0.1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and res["plot"] == str(png)


def test_loadtest_speeds_are_checked():
    args = ("loadtest", "--serve-model", "x", "--compare-batching", "--speeds", "10,-1")
    bad = run_harflow(*args, check=False)
    assert bad.returncode == 2 and "--speeds needs one or more positive numbers" in bad.stderr
