"""Scoring rules on hand-made alerts and truth, and the report/figures."""

from __future__ import annotations

import json

from harflow.patterns.alerts import Alert
from harflow.patterns.evaluate import report, score_changes, score_inactivity
from harflow.patterns.plots import plot_report


def change(kind="walking_step", metric="active_min", direction="down", onset="2026-02-10", size=0.4):
    return {
        "kind": kind,
        "metric": metric,
        "direction": direction,
        "onset": onset,
        "shape": "step",
        "size": size,
        "unit": "fraction",
        "rate_per_day": None,
    }


def alert(person, detected, metric="active_min", direction="down", kind="step_change", onset=None):
    return Alert(person, kind, metric, direction, onset or detected, detected, -0.4, {})


TRUTH = {
    "tz": "Europe/London",
    "start": "2026-01-05",
    "days": 61,
    "persons": [
        {"person": "a", "change": change(), "emergencies": []},
        {"person": "b", "change": change("fewer_sit_to_stand", "sit_to_stand"), "emergencies": []},
        {"person": "c", "change": None, "emergencies": []},
        {"person": "d", "change": None, "emergencies": []},
    ],
}


def test_change_scoring():
    alerts = [
        alert("a", "2026-02-01"),  # before the onset: false
        alert("a", "2026-02-14", onset="2026-02-11"),  # the detection, 4 days
        alert("a", "2026-03-01"),  # a repeat
        alert("b", "2026-02-12", "sedentary_bout_mean_min", "up"),  # a side effect
        alert("b", "2026-02-25", "sit_to_stand", onset="2026-02-10"),  # detection after 15 days
        alert("c", "2026-02-01", "first_active", "up"),  # false on an unchanged person
    ]
    r = score_changes(alerts, TRUTH)
    assert r["recall"]["within_7d"] == 0.5 and r["recall"]["within_21d"] == 1.0
    assert r["delay_days"]["median"] == 9.5
    assert r["onset_error_days"]["median"] == 0.5
    assert r["repeats"] == 1 and r["side_effects"] == 1 and r["false_alerts"] == 2
    assert r["precision"] == 0.5 and r["precision_strict"] == 0.4
    assert r["false_per_person_month_unchanged"] == 1 / (2 * 61 / 30.44)
    assert r["bars"]["step_fraction_ge_30pct_within_7d"] == 0.5
    json.dumps(r, allow_nan=False)


def test_inactivity_scoring_and_figures(tmp_path):
    truth = {
        "tz": "Europe/London",
        "start": "2026-01-05",
        "days": 10,
        "persons": [
            {
                "person": "a",
                "change": None,
                "emergencies": [
                    {
                        "start": "2026-01-06T10:00:00+00:00",
                        "end": "2026-01-06T13:00:00+00:00",
                        "posture": "LAYING",
                    },
                    {
                        "start": "2026-01-08T10:00:00+00:00",
                        "end": "2026-01-08T11:00:00+00:00",
                        "posture": "SITTING",
                    },
                ],
            },
            {"person": "b", "change": None, "emergencies": []},
        ],
    }
    alerts = [
        Alert("a", "inactivity", "lying_run", "up", "2026-01-06T10:00", "2026-01-06T10:40", 40.0, {}),
        Alert("a", "inactivity", "lying_run", "up", "2026-01-06T10:00", "2026-01-06T12:00", 120.0, {}),
        Alert(
            "b", "routine_deviation", "first_active", "up", "2026-01-07T08:00", "2026-01-07T09:00", 60.0, {}
        ),
    ]
    r = score_inactivity(alerts, truth)
    assert r["emergencies"] == 2 and r["detected"] == 0.5 and r["median"] == 40.0
    assert r["by_posture"]["laying"]["detected"] == 1.0 and r["by_posture"]["sitting"]["detected"] == 0.0
    assert r["false_per_person_day"] == 1 / 20
    rep = report(changes=score_changes([], TRUTH), inactivity=r, meta={"seed": 1})
    files = plot_report(rep, tmp_path)
    assert {f.name for f in files} == {"recall_by_effect.png", "delay_distribution.png", "time_to_alarm.png"}
    assert all(f.stat().st_size > 1000 for f in files)
