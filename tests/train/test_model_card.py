"""Subject-bootstrap intervals and the model card written beside every run."""

from __future__ import annotations

import numpy as np
import pytest

from harflow.train import model_card
from harflow.train.metrics import subject_intervals


def test_intervals_resample_subjects_not_windows() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 200)
    y = rng.integers(0, 3, len(groups))
    pred = y.copy()
    bad = groups == 5  # one subject at chance, five perfect
    pred[bad] = rng.integers(0, 3, bad.sum())
    iv = subject_intervals(y, pred, groups)
    pooled = (y == pred).mean()
    lo, hi = iv["accuracy"]
    assert lo < pooled < hi and iv["subjects"] == 6
    assert iv["by_subject"]["0"] == 1.0 and iv["by_subject"]["5"] < 0.5
    assert hi == pytest.approx(1.0)  # resamples without subject 5 are perfect
    # windows resampled alone would give about ±1 %; the subject-level interval is much wider
    assert hi - lo > 0.08
    same = subject_intervals(y, y, groups)
    assert same["accuracy"] == [1.0, 1.0] and same["macro_f1"] == [1.0, 1.0]


def test_one_subject_has_no_interval() -> None:
    y = np.array([0, 1, 1])
    iv = subject_intervals(y, y, np.array(["2", "2", "2"]))
    assert "accuracy" not in iv and iv["by_subject"] == {"2": 1.0}


def test_top_confusions_are_the_largest_off_diagonal_cells() -> None:
    m = {"confusion_matrix": [[50, 3, 0], [10, 40, 1], [0, 0, 30]]}
    top = model_card.confusions(m, ["A", "B", "C"], top=2)
    assert top == [("B", "A", 10, pytest.approx(10 / 14)), ("A", "B", 3, pytest.approx(3 / 14))]


def test_card_states_the_augmentation_a_run_used() -> None:
    from harflow.train.config import TrainConfig

    now = TrainConfig().to_dict()
    assert model_card._augmentation(now) == "rotations up to 15°, scaling ±10 %, no added noise"
    # a config.json written before these options existed trained with the former defaults
    new_keys = ("rotate_deg", "scale_jitter", "noise_std", "train_hop_s")
    old = {k: v for k, v in now.items() if k not in new_keys}
    assert "noise std 0.02" in model_card._augmentation(old)
    assert model_card._augmentation({**now, "train_hop_s": 0.32}).endswith("training windows every 0.32 s")
    assert model_card._augmentation({**now, "augment": False}) == "none"
