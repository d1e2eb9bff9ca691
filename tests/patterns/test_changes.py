"""Change-event scoring (shared by the offline evaluation and the loadtest), the detector fit, and the
transitions.json format. Synthetic probabilities only: no training, no dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harflow.data.labels import LabelMap
from harflow.models.checkpoint import TRANSITIONS_FILE as FILE
from harflow.patterns import fit as ce
from harflow.patterns import scoring
from harflow.patterns.online import ChangeDetector, DetectorParams, TransitionModel
from harflow.patterns.transitions import TransitionsError, learn_transitions, load, save


def _pairs(truth, pred, tol=scoring.TOLERANCE_S):
    return sorted(scoring.match_changes(np.array(truth, float), np.array(pred, float), tol))


def test_match_is_inclusive_at_exactly_the_tolerance():
    assert _pairs([10.0], [12.0]) == [(0, 0)]
    assert _pairs([10.0], [8.0]) == [(0, 0)]
    assert _pairs([10.0], [12.01]) == []
    assert _pairs([10.0], [7.99]) == []
    # decimal times are not exact in binary: 8.72 - 6.72 > 2.0 by one ulp, yet exactly 2 s apart
    assert abs(8.72 - 6.72) > 2.0
    assert _pairs([6.72], [8.72]) == [(0, 0)]


def test_match_is_one_to_one():
    # two events near one change: one match, the other event is a false positive
    assert _pairs([10.0], [9.5, 10.5]) == [(0, 0)]
    # one event near two changes: it takes one of them only
    assert len(_pairs([10.0, 11.0], [10.5])) == 1
    assert _pairs([], [1.0]) == [] and _pairs([1.0], []) == []


def test_match_finds_the_largest_matching_whatever_the_event_order():
    # matching the event at 10.5 to its nearest change (10.0) would leave the event at 9.0 unmatched
    assert _pairs([10.0, 12.4], [10.5, 9.0]) == [(0, 1), (1, 0)]


def test_truth_changes_skip_unknown_samples_and_the_edges_are_not_scored():
    lm = LabelMap((1, 2, 3), ("A", "B", "C"))
    raw = np.array([1, 1, -1, -1, 1, 1, 2, 2, 9, 3])  # 9: outside the label set, like unlabeled
    cls = scoring.sample_classes(raw, lm, ["B", "A", "C"])  # the model's order differs from the data's
    assert cls.tolist() == [1, 1, -1, -1, 1, 1, 0, 0, -1, 2]
    assert scoring.change_times(cls, 2.0).tolist() == [
        3.0,
        4.5,
    ]  # A→B at sample 6, B→C at sample 9; A·A no change
    assert scoring.scored(np.array([1.0, 2.5, 7.5, 9.0]), 2.0, 10.0).tolist() == [False, True, True, False]


def _synthetic(n_seq: int = 3, seg: int = 50, burst: int = 7, seed: int = 0):
    """Segments of `seg` windows cycling A→B→C with a confident `burst`-window flicker to a wrong class in the
    middle of each: a dwell longer than the burst is the right answer."""
    rng = np.random.default_rng(seed)
    k, hop = 3, 1.0
    seqs, label_seqs = [], []
    for s in range(n_seq):
        lab = np.concatenate([np.full(seg, (s + i) % k) for i in range(6)])
        label_seqs.append(lab.copy())
        shown = lab.copy()
        for i in range(6):
            mid = i * seg + seg // 2
            shown[mid : mid + burst] = (lab[mid] + 1) % k
        probs = np.full((len(lab), k), 0.025) + rng.uniform(0, 0.01, (len(lab), k))
        probs[np.arange(len(lab)), shown] = 0.95
        probs /= probs.sum(axis=1, keepdims=True)
        t_start = np.arange(len(lab)) * hop
        truth = (np.arange(1, 6) * seg) * hop + 1.0  # the change sits in the middle of the first new window
        seqs.append(scoring.Sequence(f"s{s}", probs, t_start, truth, 2.0, t_start[-1] + 2.0))
    tm = learn_transitions(label_seqs, k, ["A", "B", "C"])
    return seqs, tm


def test_fit_beats_the_defaults_where_the_answer_is_known():
    seqs, tm = _synthetic()
    default = scoring.evaluate(seqs, tm, DetectorParams())
    grid = {
        "min_dwell": [2, 4, 10],
        "temperature": [0.5, 1.0],
        "min_prob": [0.0, 0.9],
        "offset_frac": [0, 0.5],
    }
    params, best, n = ce.fit(seqs, tm, grid)
    assert n == 3 * 2 * 2 * 2
    assert default.precision is not None and default.precision < 0.6  # every burst gives two false changes
    assert params.min_dwell == 10
    assert best.f1 == 1.0 and best.true_changes == 15 and best.matched == 15
    assert params.offset_s in (0.0, 1.0)
    assert scoring.evaluate(seqs, tm, params).f1 == best.f1  # the stored offset reproduces the scored one


def test_fit_can_cap_the_decision_delay():
    seqs, tm = _synthetic()
    grid = {"min_dwell": [2, 4, 10], "temperature": [0.5], "min_prob": [0.0], "offset_frac": [0]}
    params, best, _ = ce.fit(seqs, tm, grid, max_delay_s=8.0)
    assert params.min_dwell < 10 and best.median_decision_delay_s <= 8.0
    with pytest.raises(ValueError, match="decision delay"):
        ce.fit(seqs, tm, grid, max_delay_s=0.5)


def test_fit_refuses_the_test_split():
    with pytest.raises(ValueError, match="test split"):
        ce.fit_detector(None, _synthetic(1)[1], split="test")


def test_detector_uses_fitted_params_unless_overridden():
    tm = TransitionModel(["A", "B"], np.full((2, 2), 0.5), np.full(2, 0.5), DetectorParams(7, 0.3, 0.8, 1.28))
    d = ChangeDetector(tm)
    assert (d.min_dwell, d.temperature, d.min_prob, d.offset_s) == (7, 0.3, 0.8, 1.28)
    d = ChangeDetector(tm, 2, None)  # HARFLOW_MIN_DWELL set, temperature not
    assert (d.min_dwell, d.temperature) == (2, 0.3)
    d = ChangeDetector(tm, None, 1.0)
    assert (d.min_dwell, d.temperature) == (7, 1.0)


def test_min_prob_and_offset():
    tm = TransitionModel(["A", "B"], np.array([[0.5, 0.5], [0.5, 0.5]]), np.full(2, 0.5))
    a, b_weak, b = np.array([0.9, 0.1]), np.array([0.4, 0.6]), np.array([0.1, 0.9])

    def run(params, seq):
        det = ChangeDetector(tm, params=params)
        return [(e.t, e.to_activity) for i, p in enumerate(seq) for e in det.update(p, float(i))[1]]

    weak = [a] * 3 + [b_weak] * 4 + [a] * 3
    assert run(DetectorParams(3, 1.0, 0.0, 0.0), weak)[1:] == [(3.0, "B"), (7.0, "A")]
    assert run(DetectorParams(3, 1.0, 0.8, 0.0), weak)[1:] == []  # not convincing enough to count
    assert run(DetectorParams(3, 1.0, 0.8, 0.5), [a] * 3 + [b] * 3)[1:] == [(3.5, "B")]


def test_transition_model_round_trips_with_params(tmp_path):
    fit = {"split": "val", "fitted": {"f1": 0.9}}
    tm = TransitionModel(
        ["A", "B"],
        np.array([[0.9, 0.1], [0.2, 0.8]]),
        np.array([0.3, 0.7]),
        DetectorParams(6, 0.7, 0.9, 0.64),
        fit,
    )
    save(tm, tmp_path)
    on_disk = json.loads((tmp_path / FILE).read_text())
    assert on_disk["detector"] == {"min_dwell": 6, "temperature": 0.7, "min_prob": 0.9, "offset_s": 0.64}
    back = load(tmp_path, ["A", "B"])
    assert back.params == tm.params and back.fit == fit and back.labels == tm.labels
    assert np.array_equal(back.A, tm.A) and np.array_equal(back.prior, tm.prior)


def test_an_old_transitions_file_loads_with_default_params(tmp_path):
    old = {"labels": ["A", "B"], "A": [[0.9, 0.1], [0.2, 0.8]], "prior": [0.5, 0.5]}
    (tmp_path / FILE).write_text(json.dumps(old))
    tm = load(tmp_path / "model.pt", ["A", "B"])  # a model.pt path finds it too
    assert tm.params == DetectorParams() and tm.fit is None
    d = ChangeDetector(tm)
    assert (d.min_dwell, d.temperature, d.min_prob, d.offset_s) == (4, 0.5, 0.0, 0.0)
    # unknown detector keys from a newer writer are ignored rather than fatal
    assert (
        TransitionModel.from_dict({**old, "detector": {"min_dwell": 5, "new_knob": 1}}).params.min_dwell == 5
    )


def test_a_missing_or_foreign_transitions_file_is_a_clear_error(tmp_path):
    with pytest.raises(TransitionsError, match=r"transitions\.json is missing.*harflow export"):
        load(tmp_path, ["A", "B"])
    save(TransitionModel(["A", "B"], np.full((2, 2), 0.5), np.full(2, 0.5)), tmp_path)
    with pytest.raises(TransitionsError, match=r"is for labels \['A', 'B'\]"):
        load(tmp_path, ["A", "B", "C"])
    (tmp_path / FILE).write_text("{not json")
    with pytest.raises(Exception, match="not readable as JSON"):
        load(tmp_path, ["A", "B"])


def test_entry_point_refits_on_validation_and_dry_run_writes_nothing(tiny_run, tmp_path):
    import shutil
    import subprocess
    import sys

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "transitions.json").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "harflow.patterns.fit", str(run), "--refit"]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, timeout=300, check=True)
    res = json.loads(dry.stdout)
    assert res["split"] == "val" and res["recordings"] >= 1
    assert res["params"]["min_dwell"] in (2, 4) and res["params"]["temperature"] in (0.5, 1.0)
    assert not (run / "transitions.json").exists()
    subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    saved = json.loads((run / "transitions.json").read_text())
    assert saved["fit"]["split"] == "val" and saved["fit"]["configurations"] > 100
    test = subprocess.run(
        [*cmd[:-1], "--split", "test"], capture_output=True, text=True, timeout=300, check=True
    )  # evaluating on test is allowed; fitting on it is not (unit test above)
    assert json.loads(test.stdout)["split"] == "test"
