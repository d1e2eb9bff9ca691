"""``harflow bench patterns-e2e --dry-run`` as users run it: a simulated person's history imported, two hours
of their raw sensor stream through a real ``harflow serve`` over WebSocket, the patterns job, the daily
metrics and alerts read back over REST and compared with the ground truth and the label-level run."""

from __future__ import annotations

import json

from tests.conftest import run_harflow


def test_dry_run_end_to_end_through_the_service(tiny_run, tmp_path):
    proc = run_harflow(
        "bench", "patterns-e2e", "--serve-model", str(tiny_run), "--dry-run", "--out", str(tmp_path)
    )
    res = json.loads((tmp_path / "e2e-dry-run.json").read_text())
    assert (tmp_path / "e2e-dry-run-minutes.png").stat().st_size > 10_000
    assert "windows/s" in proc.stderr  # progress while streaming

    # every window of the two streamed hours was answered: none lost, refused or failed
    rp = res["replay"]
    assert rp["streamed_hours"] == 2.0
    assert rp["windows"] == rp["expected_windows"] > 5000
    assert rp["busy_windows"] == 0 and rp["errors"] == []

    # the service's day covers exactly what was streamed, and the truth covers the same span
    (day,) = res["daily"]["days"]
    assert day["date"] == res["stream"]["first_day"]
    assert day["recorded_min"]["true"] == 120.0
    assert abs(day["recorded_min"]["measured"] - 120.0) <= 0.1
    for name in ("walking_min", "sedentary_min", "upright_min", "lying_min"):
        t, m = day[name]["true"], day[name]["measured"]
        assert t is not None and m is not None and 0 <= t <= 120 and 0 <= m <= 120.1
    assert res["daily"]["summary_all_days"]["recorded_min"]["within_bar"] == 1.0

    # the service's day: the one rule (patterns.windows) over each window's top class, not the smoothed label
    redo = res["daily_recomputed_from_windows"]
    (top,) = redo["top_class"]["days"]
    for name in ("walking_min", "walking_only_min", "sedentary_min", "upright_min", "lying_min"):
        assert abs(top[name]["measured"] - day[name]["measured"]) <= 1e-3, name
    assert set(redo) >= {"smoothed", "top_class"} and "daily_alerts" in redo["top_class"]

    # every answered window is in the confusion matrix against the simulated truth
    conf = res["recognition"]["smoothed"]
    assert sum(map(sum, conf["counts"])) == rp["windows"]
    assert conf["columns"] == [
        "WALKING",
        "WALKING_UPSTAIRS",
        "WALKING_DOWNSTAIRS",
        "SITTING",
        "STANDING",
        "LAYING",
    ]

    # the alert comparison ran on both sides over the same streamed day
    cmp = res["alerts"]["comparison"]
    assert cmp["label_alerts"] == len(res["alerts"]["label_level"])
    assert cmp["e2e_alerts"] == len(res["alerts"]["e2e"])
    assert cmp["matched"] + len(cmp["label_only"]) == cmp["label_alerts"]
    assert res["staging"]["job_history"]["days"] == 14 and res["staging"]["job_stream"]["days"] == 1
