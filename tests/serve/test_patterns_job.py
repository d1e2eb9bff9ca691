"""The patterns job against a real store: simulated timelines in, daily metrics and alerts out, the same as
the pure analytics give, idempotent and incremental."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from harflow.patterns.daily import daily_metrics, to_json_records
from harflow.patterns.detect import detect
from harflow.patterns.injections import ChangeSpec
from harflow.patterns.monitor import replay
from harflow.patterns.simulate import SimulationConfig, simulate_cohort
from harflow.patterns.timeline import Timeline, to_epochs
from harflow.serve.db.alerts import Alerts
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.imports import import_timeline
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import Store
from harflow.serve.db.session import migrate
from harflow.serve.patterns_job import Repos, in_shard, parse_shard, run

TZ = "Europe/London"


@pytest.fixture(scope="module")
def cohort():
    cfg = SimulationConfig(
        persons=4,
        days=70,
        seed=3,
        changed_fraction=0.5,
        changes=(ChangeSpec("walking_step", 0.5, 0.5),),
        emergency_rate=0.0,
    )
    return simulate_cohort(cfg)


def _store(tmp_path) -> tuple[Store, Repos]:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    migrate(url)
    store = Store(url)
    e = store.engine
    return store, Repos(Persons(e), Analytics(e), Alerts(e), targets=["http://127.0.0.1:9/hook"])


def _end(cohort) -> float:
    return float(cohort.end.max()) + 1


def test_job_equals_the_pure_analytics_and_is_idempotent(cohort, tmp_path):
    store, repos = _store(tmp_path)
    seg = cohort.segments()
    import_timeline(store.engine, seg, TZ)
    res = run(repos, now=_end(cohort))
    assert res["persons"] == 4 and not res["failed"]

    # the pure path: the same timeline straight into daily metrics and detection
    tl = Timeline.from_frame(
        seg.assign(
            start=seg["start"].map(pd.Timestamp.timestamp), end=seg["end"].map(pd.Timestamp.timestamp)
        ),
        tz=TZ,
    )
    daily = daily_metrics(tl)
    pure_days = {(r["person"], r["date"]): r for r in to_json_records(daily)}
    stored = {(p, d["date"]): d for p in cohort.persons for d in repos.analytics.days(p)}
    assert set(stored) == set(pure_days)
    for key, d in stored.items():
        assert d["active_min"] == pytest.approx(pure_days[key]["active_min"], abs=1e-6)
        assert d["sit_to_stand"] == pure_days[key]["sit_to_stand"]
    hours = [c for c in daily if c.startswith("hours.")]
    pure_alerts = {(a.person, a.kind, a.metric, a.onset) for a in detect(daily.drop(columns=hours))}
    epochs = to_epochs(tl, "60s")
    for person in tl.persons:  # the online alerts, replayed over the same timeline
        ep = epochs[epochs["person"] == person]
        found = replay(person, ep["time"], ep["activity"].astype(object), TZ)
        pure_alerts |= {(a.person, a.kind, a.metric, a.onset) for a in found}
    got = {(a["person_id"], a["kind"], a["metric"], a["onset"]) for a in repos.alerts.list(None)}
    assert got == pure_alerts

    # every changed person is alerted on walking, no earlier than the change began
    truth = cohort.ground_truth()["persons"]
    for p in truth:
        if p["change"]:
            mine = [a for a in repos.alerts.list([p["person"]]) if a["metric"] == "active_min"]
            assert mine and min(a["detected"] for a in mine) >= p["change"]["onset"]
    # one outbox row per alert and target
    for a in repos.alerts.list(None):
        assert len(repos.alerts.deliveries(a["id"])) == 1

    # a second run over the same data stores nothing new
    again = run(repos, now=_end(cohort))
    assert again["alerts"] == 0
    assert sum(len(repos.analytics.days(p)) for p in cohort.persons) == len(stored)
    store.close()


def test_job_incremental_runs_find_what_one_run_finds(cohort, tmp_path):
    store, repos = _store(tmp_path)
    import_timeline(store.engine, cohort.segments(), TZ)
    start = dt.datetime.combine(cohort.config.start, dt.time(), dt.UTC).timestamp()
    for day in (20, 35, 50, 60):  # daily-ish runs, each ending mid-day
        run(repos, now=start + day * 86400 + 13 * 3600)
    run(repos, now=_end(cohort))
    inc = {(a["person_id"], a["kind"], a["metric"], a["onset"]) for a in repos.alerts.list(None)}
    store.close()

    store2, repos2 = _store(tmp_path / "one")
    import_timeline(store2.engine, cohort.segments(), TZ)
    run(repos2, now=_end(cohort))
    once = {(a["person_id"], a["kind"], a["metric"], a["onset"]) for a in repos2.alerts.list(None)}
    store2.close()
    assert inc == once and once


def test_shards_split_persons_stably():
    ids = [f"p{i:03d}" for i in range(200)]
    parts = [[p for p in ids if in_shard(p, (i, 4))] for i in range(4)]
    assert sorted(p for part in parts for p in part) == ids and all(20 < len(x) < 80 for x in parts)
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x", "1-4"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def _stream_windows(engine, device: str, t0: float, minutes: list[tuple[float, str, str]]) -> float:
    """Stored windows as the service stores them (1.28-s hop, 2.54-s long): per stretch (minutes, top
    class, smoothed label); returns the end."""
    from sqlalchemy import insert

    from harflow.serve.db.tables import predictions

    rows, t, seq = [], t0, 0
    for mins, top, smooth in minutes:
        for _ in range(round(mins * 60 / 1.28)):
            rows.append(
                {
                    "device_id": device,
                    "seq": seq,
                    "t_start": t,
                    "t_end": t + 2.54,
                    "activity": top,
                    "smoothed": smooth,
                    "probability": 0.6,
                    "probabilities": "{}",
                    "model_version": "test",
                    "created_at": 0.0,  # stored long ago: retention may take them
                }
            )
            t, seq = t + 1.28, seq + 1
    with engine.begin() as conn:
        conn.execute(insert(predictions), rows)
    return t


def test_daily_minutes_come_from_the_top_class_and_outlive_retention(tmp_path):
    """The stream's smoothed label holds the walk that led to the chair through a sit the model answers
    ambiguously; the day's minutes count what the model answered per window. A day is computed from its
    windows before retention compacts them (into smoothed segments) and is not recomputed afterwards."""
    from harflow.serve.db.retention import expire

    store, repos = _store(tmp_path)
    repos.persons.create("p1", "P", TZ)
    t0 = dt.datetime(2026, 2, 9, 9, 0, tzinfo=dt.UTC).timestamp()  # London = UTC in February
    repos.persons.assign("p1", "d1", t0 - 86_400)
    end = _stream_windows(
        store.engine,
        "d1",
        t0,
        [(10, "WALKING", "WALKING"), (60, "SITTING", "WALKING"), (20, "STANDING", "STANDING")],
    )
    run(repos, now=end + 3600)
    (day,) = repos.analytics.days("p1")
    assert day["active_min"] == pytest.approx(10, abs=0.1)  # the smoothed label would give 70
    assert day["sedentary_min"] == pytest.approx(60, abs=0.1)
    assert day["upright_min"] == pytest.approx(20, abs=0.1)
    # the smoothed label is still what the inactivity path reads
    smoothed = repos.persons.windows("p1", t0, end)
    assert {a for _, _, a in smoothed} == {"WALKING", "STANDING"}

    # a pass after the day ended completes it; retention then compacts its windows into smoothed segments,
    # and later passes start after the day
    run(repos, now=t0 + 86_400)
    assert expire(store.engine, cutoff=1.0)["windows"] > 0
    run(repos, now=end + 2 * 86_400)
    (kept,) = [d for d in repos.analytics.days("p1") if d["date"] == day["date"]]
    assert kept["active_min"] == day["active_min"] and kept["sedentary_min"] == day["sedentary_min"]
    # recomputing the day now would read the segments: the smoothed label (why the order matters)
    assert {a for _, _, a in repos.persons.windows("p1", t0, end, label="activity")} == {
        "WALKING",
        "STANDING",
    }
    store.close()
    with pytest.raises(ValueError, match="label"):
        repos.persons.windows("p1", t0, end, label="probability")
