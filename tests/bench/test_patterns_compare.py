"""The comparisons of ``harflow bench patterns-e2e`` and its designed cohort, on small hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harflow.bench.patterns_cohort import Plan, design_cohort, stream_span, true_timeline
from harflow.bench.patterns_compare import (
    compare_alerts,
    compare_days,
    confusion,
    in_days,
    majority,
    window_truth,
)


def day(person: str, date: str, active: float, sedentary: float, valid: bool = True) -> dict:
    return {
        "person": person,
        "date": date,
        "valid": valid,
        "recorded_h": 24.0,
        "active_min": active,
        "sedentary_min": sedentary,
        "hours": {"WALKING": active / 60},
    }


def test_relative_errors_and_the_share_within_the_bar_count_valid_days_only():
    truth = [
        day("a", "2026-01-01", 100, 600),
        day("a", "2026-01-02", 100, 600),
        day("a", "2026-01-03", 50, 10, False),
    ]
    got = [
        day("a", "2026-01-01", 105, 500),
        day("a", "2026-01-02", 150, 600),
        day("a", "2026-01-03", 500, 10),
    ]
    res = compare_days(truth, got)
    first = res["days"][0]
    assert first["walking_min"] == {"true": 100.0, "measured": 105.0, "rel_error": 0.05}
    assert first["sedentary_min"]["rel_error"] == pytest.approx(-1 / 6, abs=1e-4)
    s = res["summary"]["walking_min"]
    assert s["person_days"] == 2 and s["within_bar"] == 0.5  # +5 % in, +50 % out; the short day left out
    assert res["summary_all_days"]["walking_min"]["person_days"] == 3
    assert res["summary"]["sedentary_min"]["within_bar"] == 0.5


def test_a_day_the_service_lacks_has_no_error_rather_than_a_perfect_one():
    res = compare_days([day("a", "2026-01-01", 100, 600)], [])
    assert res["days"][0]["walking_min"] == {"true": 100.0, "measured": None, "rel_error": None}
    assert res["summary"]["walking_min"]["person_days"] == 0


def alert(person="a", kind="step_change", metric="active_min", onset="2026-01-10", detected="2026-01-12"):
    return {
        "person": person,
        "kind": kind,
        "metric": metric,
        "direction": "down",
        "onset": onset,
        "detected": detected,
        "magnitude": -0.3,
    }


def test_alerts_pair_within_the_onset_tolerance_each_used_once():
    label = [
        alert(),
        alert(onset="2026-01-20", detected="2026-01-22"),
        alert(
            kind="inactivity", metric="inactive_run", onset="2026-01-11T10:00", detected="2026-01-11T11:00"
        ),
        alert(person="b"),
    ]
    e2e = [
        alert(onset="2026-01-11", detected="2026-01-13"),  # a day later: the same change
        alert(
            kind="inactivity", metric="inactive_run", onset="2026-01-11T10:45", detected="2026-01-11T11:00"
        ),
        alert(metric="sit_to_stand"),
    ]
    res = compare_alerts(label, e2e)
    assert res["matched"] == 1 and res["same_onset"] == 0  # the first e2e alert pairs once only
    assert [a["onset"] for a in res["label_only"]] == ["2026-01-20", "2026-01-11T10:00", "2026-01-10"]
    assert {a["metric"] for a in res["e2e_only"]} == {"inactive_run", "sit_to_stand"}  # 45 min > 30 min
    assert not res["same_set"]
    assert compare_alerts(label, label)["same_set"]
    assert in_days(label, "2026-01-11", "2026-01-12") == [label[0], label[2], label[3]]


def test_majority_takes_the_centred_mode_within_gapless_runs():
    t = np.concatenate([np.arange(7) * 1.28, 100 + np.arange(3) * 1.28])
    lab = np.array(["W", "W", "S", "W", "T", "T", "T", "S", "S", "W"], dtype=object)
    out = majority(t, lab, 3, 1.28)
    # a lone window inside a run goes; a tie (at a run's edge, across the gap: never) keeps its own label
    assert out.tolist() == ["W", "W", "W", "W", "T", "T", "T", "S", "S", "W"]
    assert majority(t[::-1], lab[::-1], 3, 1.28).tolist() == out[::-1].tolist()  # order of input kept


def test_confusion_pools_transitions_and_leaves_no_data_out():
    labels = ["WALKING", "SITTING", "STANDING"]
    truth = np.array(["WALKING", "SITTING", "SITTING", "SIT_TO_STAND", ""], dtype=object)
    pred = np.array(["WALKING", "STANDING", "SITTING", "STANDING", "WALKING"], dtype=object)
    c = confusion(truth, pred, labels)
    assert c["rows"][-1] == "transition" and c["counts"][-1] == [0, 0, 1]
    assert sum(map(sum, c["counts"])) == 4
    assert c["recall"] == {"WALKING": 1.0, "SITTING": 0.5}
    assert c["accuracy_without_transitions"] == pytest.approx(2 / 3)


def test_the_designed_cohort_has_its_roles_and_the_truth_covers_history_and_stream():
    plan = Plan(persons=4, history_days=14, stream_days=3)
    c = design_cohort(plan)
    kinds = [None if ch is None else ch.kind for ch in c.changes]
    assert kinds == [None, "later_wake", "night_wandering", None]
    assert all(ch.onset_day == 15 for ch in c.changes if ch is not None)
    (em,) = c.emergencies[0]
    span = stream_span(plan, c)
    assert span[0] <= em.start < span[1] and not any(c.emergencies[1:])
    history, streamed = true_timeline(c, span[0], span)
    assert history["end"].max() <= streamed["start"].min()
    assert (streamed["end"].map(pd.Timestamp.timestamp) <= span[1]).all()
    assert window_truth(c, "p001", np.array([span[0] + 0.5, c.start[0] - 10.0])).tolist()[1] == ""
