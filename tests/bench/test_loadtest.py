"""``harflow loadtest`` as users run it: a real server, devices over real WebSockets, streaming accuracy
against offline prediction, and the batching peak sweep."""

from __future__ import annotations

import json

import pytest

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
