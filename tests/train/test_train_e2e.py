import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import run_harflow

from harflow.data.sources import load_recordings
from harflow.models import checkpoint
from harflow.train.config import TrainConfig
from harflow.train.evaluate import evaluate
from harflow.train.trainer import load_data, train

E2E_SUBJECTS = ["1", "3", "6", "7", "5", "2"]  # train 1,3,6,7 · val 5 · test 2


@pytest.fixture(scope="module")
def e2e_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "run"
    result = train(TrainConfig(subjects=E2E_SUBJECTS, epochs=1, out=str(out), progress=False, threads=1))
    return out, result


def test_one_epoch_on_real_hapt_writes_everything_and_beats_chance(e2e_run):
    out, result = e2e_run
    for name in (
        "model.pt",
        "snapshot.pt",
        "config.json",
        "metrics.json",
        "metrics.jsonl",
        "learning_curves.png",
        "confusion_matrix.png",
        "model_card.md",
    ):
        assert (out / name).stat().st_size > 0, name
    m = json.loads((out / "metrics.json").read_text())
    assert m == json.loads(json.dumps(result))
    for split in ("val", "test"):
        assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(m[split])
    assert m["test"]["accuracy"] > 1 / 6 + 0.1, m["test"]["accuracy"]
    assert m["epochs"] == 1 and m["train_seconds"] > 0
    assert m["subjects"]["test"] == ["2"]
    assert np.asarray(m["test"]["confusion_matrix"]).sum() == m["test"]["n"]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["epoch"] == 0
    assert set(m["test"]["intervals"]["by_subject"]) == {"2"}
    card = (out / "model_card.md").read_text()
    assert "- test: " in card and "subjects 2" in card and f"{100 * m['test']['accuracy']:.2f} %" in card
    assert "## Known confusions (test)" in card and "## Intended use" in card


def test_ema_weights_are_validated_kept_and_resumed(tmp_path, capsys):
    cfg = dict(subjects=["1", "3", "5", "2"], max_steps_per_epoch=3, progress=False, threads=1, ema_decay=0.9)
    train(TrainConfig(epochs=1, out=str(tmp_path), **cfg))
    snap = checkpoint.load(tmp_path / "snapshot.pt")
    kept = checkpoint.load(tmp_path / "model.pt")["model_state"]
    assert int(snap["ema_state"]["n_averaged"]) == 3  # one update per optimizer step
    ema = {k.removeprefix("module."): v for k, v in snap["ema_state"].items() if k.startswith("module.")}
    for k, v in kept.items():  # model.pt holds the average, not the last weights
        assert np.allclose(v.numpy(), ema[k].numpy()), k
    assert any(not np.allclose(v.numpy(), snap["model_state"][k].numpy()) for k, v in kept.items())
    m = train(TrainConfig(epochs=2, resume=True, out=str(tmp_path), **cfg))
    assert "resumed from snapshot at epoch 1" in capsys.readouterr().out and m["epochs"] == 2
    assert int(checkpoint.load(tmp_path / "snapshot.pt")["ema_state"]["n_averaged"]) == 6
    with pytest.raises(ValueError, match="ema-decay"):
        train(TrainConfig(epochs=1, out=str(tmp_path / "bad"), **{**cfg, "ema_decay": 1.0}))


def test_evaluate_reproduces_training_metrics(e2e_run):
    out, result = e2e_run
    m = evaluate(str(out))
    assert m["n"] == result["test"]["n"]
    assert m["accuracy"] == pytest.approx(result["test"]["accuracy"], abs=1e-9)


def test_same_seed_same_metrics(tmp_path):
    cfg = dict(
        subjects=["1", "3", "5", "2"], epochs=1, max_steps_per_epoch=4, progress=False, threads=1, seed=7
    )
    a = train(TrainConfig(out=str(tmp_path / "a"), **cfg))
    b = train(TrainConfig(out=str(tmp_path / "b"), **cfg))
    train(TrainConfig(out=str(tmp_path / "c"), **{**cfg, "seed": 8}))
    assert a["test"] == b["test"] and a["val"] == b["val"]
    sa, sb = checkpoint.load(tmp_path / "a")["model_state"], checkpoint.load(tmp_path / "b")["model_state"]
    assert all((sa[k] == sb[k]).all() for k in sa)
    sc = checkpoint.load(tmp_path / "c")["model_state"]
    assert any((sa[k] != sc[k]).any() for k in sa)


@pytest.mark.parametrize("model", ["deepconvlstm", "cnn1d"])
def test_other_models_train_through_the_same_command(tmp_path, model):
    proc = run_harflow(
        "train", "--model", model, "--dry-run", "--no-progress", "--out", str(tmp_path / model)
    )
    m = json.loads((tmp_path / model / "metrics.json").read_text())
    assert m["model"] == model and "accuracy" in m["test"]
    assert "test accuracy" in proc.stdout


def test_epochs_default_to_the_models_own(tmp_path):
    cfg = dict(subjects=["1", "3", "5", "2"], max_steps_per_epoch=1, progress=False, threads=1)
    m = train(TrainConfig(model="cnn1d", out=str(tmp_path / "c"), patience=1, **cfg))
    written = json.loads((tmp_path / "c" / "config.json").read_text())
    assert written["epochs"] == 40 and m["epochs"] <= 40  # resolved before the run; patience may stop it


def test_cli_dry_run_12_classes(tmp_path):
    run_harflow("train", "--dry-run", "--classes", "12", "--no-progress", "--out", str(tmp_path / "r"))
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert len(m["classes"]) == 12 and "SIT_TO_STAND" in m["classes"]


def test_cli_evaluate_and_predict(tiny_run, tmp_path):
    ev = json.loads(run_harflow("evaluate", str(tiny_run), "--json").stdout)
    assert ev["n"] > 0 and 0 <= ev["accuracy"] <= 1
    rec = load_recordings("hapt", subjects=["2"]).recordings[0]
    n = 1000
    df = pd.DataFrame(rec.signals[:n], columns=["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"])
    df.insert(0, "t", np.arange(n) / 50.0)
    csv = tmp_path / "rec.csv"
    df.to_csv(csv, index=False)
    rows = json.loads(run_harflow("predict", str(tiny_run), str(csv), "--json").stdout)
    assert len(rows) == (n - 128) // 64 + 1
    assert rows[1]["t_start"] == pytest.approx(1.28) and rows[0]["t_end"] == pytest.approx(2.56)
    assert all(0 < r["probability"] <= 1 and r["activity"] for r in rows)
    table = run_harflow("predict", str(tiny_run), str(csv)).stdout
    assert "activity" in table


def test_cli_errors_are_one_clear_line(tmp_path):
    proc = run_harflow("evaluate", str(tmp_path), check=False)
    assert proc.returncode == 2 and "no checkpoint there" in proc.stdout + proc.stderr
    proc = run_harflow("train", "--data", "csv:" + str(tmp_path / "missing"), "--dry-run", check=False)
    assert proc.returncode == 2 and "no such file or folder" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_data_info_json():
    info = json.loads(run_harflow("data", "info", "--json").stdout)
    assert info["subjects"] == 30 and info["recordings"] == 61 and info["rate_hz"] == 50
    assert info["channels"] == {
        "acc_x": "g",
        "acc_y": "g",
        "acc_z": "g",
        "gyro_x": "rad/s",
        "gyro_y": "rad/s",
        "gyro_z": "rad/s",
    }
    labels = {r["label"]: r["samples"] for r in info["labels"]}
    assert set(labels) == {-1, *range(1, 13)} and sum(labels.values()) == info["samples"]


def test_gradient_accumulation_equals_full_batch(tmp_path):
    cfg = dict(
        subjects=["1", "3", "5", "2"],
        epochs=1,
        max_steps_per_epoch=4,
        progress=False,
        threads=1,
        augment=False,
        model_config={"dropout": 0.0},
        batch_size=32,
    )
    train(TrainConfig(out=str(tmp_path / "full"), **cfg))
    train(TrainConfig(out=str(tmp_path / "accum"), accum_steps=4, **cfg))
    a = checkpoint.load(tmp_path / "full" / "snapshot.pt")["model_state"]
    b = checkpoint.load(tmp_path / "accum" / "snapshot.pt")["model_state"]
    for k in a:
        np.testing.assert_allclose(b[k].numpy(), a[k].numpy(), atol=2e-5, rtol=1e-4, err_msg=k)


def test_resume_continues_from_snapshot(tmp_path, capsys):
    cfg = dict(
        subjects=["1", "3", "5", "2"], max_steps_per_epoch=3, progress=False, threads=1, out=str(tmp_path)
    )
    train(TrainConfig(epochs=1, **cfg))
    capsys.readouterr()
    m = train(TrainConfig(epochs=2, resume=True, **cfg))
    assert "resumed from snapshot at epoch 1" in capsys.readouterr().out
    assert m["epochs"] == 2
    epochs = [json.loads(x)["epoch"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1]
    assert checkpoint.load(tmp_path / "snapshot.pt")["sampler_epoch"] == 2


def test_lr_scaling_rules():
    base = TrainConfig(lr=1e-3, base_batch=64, batch_size=256)
    assert base.scaled_lr() == pytest.approx(1e-3)
    assert TrainConfig(
        lr=1e-3, base_batch=64, batch_size=256, lr_scaling="linear"
    ).scaled_lr() == pytest.approx(4e-3)
    assert TrainConfig(
        lr=1e-3, base_batch=64, batch_size=256, lr_scaling="sqrt"
    ).scaled_lr() == pytest.approx(2e-3)


def test_train_hop_adds_shifted_training_windows_only():
    subjects = ["1", "3", "5", "2"]
    base = load_data(TrainConfig(subjects=subjects))
    fine = load_data(TrainConfig(subjects=subjects, train_hop_s=0.32))
    assert fine.spec == base.spec and fine.spec.hop_s == 1.28  # what the checkpoint carries
    assert 3.5 < len(fine.splits["train"]) / len(base.splits["train"]) < 4.1
    for s in ("val", "test"):
        assert np.array_equal(fine.splits[s].X, base.splits[s].X)
    assert fine.normalizer == base.normalizer
    gaps = np.diff(np.unique(fine.splits["train"].start[fine.splits["train"].recording == 0]))
    assert gaps.min() == 16 and not (gaps % 16).any()  # 0.32 s at 50 Hz; unlabeled windows leave gaps
