"""How fast the patterns job runs over a real store: ``harflow patterns bench``.

Two measurements, each on a simulated cohort loaded into the store first (loading is timed apart):

* **daily**: ``--daily-person-days`` (10,000) person-days of timelines held as segments, the job's daily
  phase over them: read each person's segments, build the timeline, compute and store the days;
* **detect**: ``--detect-persons`` (1,000) persons x ``--days`` (90) of stored daily metrics, one detection
  pass over all of them: read the histories, run the daily detectors, store the alerts.

    harflow patterns bench [--database-url URL] [--json] [--dry-run]

SQLite by default (a temporary file); pass a PostgreSQL URL to measure that. The inactivity replay is not
part of either (the service decides inactivity live); ``--with-inactivity`` adds its timing to the daily run.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import replace

from harflow.patterns.cohort import ACTIVITIES
from harflow.patterns.daily import daily_metrics, to_json_records
from harflow.patterns.simulate import SimulationConfig, simulate_cohort
from harflow.serve.db.alerts import Alerts
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.imports import import_timeline
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import Store
from harflow.serve.db.session import migrate
from harflow.serve.db.tables import metadata
from harflow.serve.patterns_job import JobConfig, Repos, detect_and_store, run


def _fresh(url: str) -> Store:
    store = Store(url)
    metadata.drop_all(store.engine)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    store.close()
    migrate(url)
    return Store(url)


def _repos(store: Store) -> Repos:
    e = store.engine
    return Repos(Persons(e), Analytics(e), Alerts(e), targets=[])


def bench(
    url: str, daily_person_days: int, detect_persons: int, days: int, inactivity: bool, seed: int
) -> dict:
    out: dict = {"database": url.split("://")[0], "days": days}
    # --- daily: person-days of segments through the job's daily phase
    n = max(1, math.ceil(daily_person_days / days))
    cfg = SimulationConfig(persons=n, days=days, seed=seed)
    cohort = simulate_cohort(cfg)
    store = _fresh(url)
    t = time.perf_counter()
    imported = import_timeline(store.engine, cohort.segments(), cfg.tz)
    load_s = time.perf_counter() - t
    end = float(cohort.end.max()) + 1
    res = run(_repos(store), now=end, cfg=JobConfig(inactivity=inactivity))
    out["daily"] = {
        "persons": n,
        "person_days": res["days"],
        "segments": imported["segments"],
        "load_s": round(load_s, 2),
        "daily_s": res["seconds"]["daily"],
        "job_s": res["seconds"],
        "alerts": res["alerts"],
    }
    store.close()
    # --- detect: stored daily metrics of many persons, one detection pass
    cfg2 = replace(cfg, persons=detect_persons, seed=seed + 1)
    cohort2 = simulate_cohort(cfg2)
    from harflow.patterns.timeline import Timeline

    seg = cohort2.segments()
    tl = Timeline.from_frame(
        seg.assign(start=cohort2.start, end=cohort2.end), tz=cfg2.tz, source="simulated cohort"
    )
    t = time.perf_counter()
    records = to_json_records(daily_metrics(tl))
    pure_daily_s = time.perf_counter() - t
    store = _fresh(url)
    repos = _repos(store)
    by_person: dict[str, list[dict]] = {}
    for r in records:
        by_person.setdefault(r.pop("person"), []).append(r)
    t = time.perf_counter()
    for pid in by_person:
        repos.persons.create(pid, pid, cfg2.tz)
    for pid, rows in by_person.items():
        repos.analytics.put_days(pid, rows, processed_until=end)
    load_s = time.perf_counter() - t
    first = min(r["date"] for rows in by_person.values() for r in rows)
    t = time.perf_counter()
    stored, seconds = detect_and_store(
        repos, dict.fromkeys(by_person, first), end, JobConfig(inactivity=False, relearn_s=math.inf)
    )
    out["detect"] = {
        "persons": len(by_person),
        "person_days": len(records),
        "load_s": round(load_s, 2),
        "detect_pass_s": round(time.perf_counter() - t, 3),
        "phases_s": seconds,
        "alerts": stored,
        "daily_metrics_in_memory_s": round(pure_daily_s, 2),
    }
    store.close()
    return out


def storage(url: str, seed: int) -> dict:
    """Bytes per person-day: one simulated day stored as per-window predictions (1.28-s hop, as streamed),
    then compacted by retention into segments, plus its daily-metrics row."""
    import json

    import numpy as np
    from sqlalchemy import text

    from harflow.serve.db.queries import Batch, prediction_row
    from harflow.serve.db.retention import expire

    cfg = SimulationConfig(persons=1, days=2, seed=seed)
    cohort = simulate_cohort(cfg)
    day0 = float(cohort.start.min())
    t = np.arange(day0, day0 + 86_400, 1.28)
    idx = np.searchsorted(cohort.start, t, "right") - 1
    names = list(ACTIVITIES)
    acts = [names[i] for i in cohort.activity[idx]]
    probs = np.full(12, 1 / 12)
    store = _fresh(url)

    def size() -> int:
        # space freed by deletes is only returned by a full vacuum (outside a transaction)
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if url.startswith("sqlite"):
                conn.exec_driver_sql("VACUUM")
                return int(conn.execute(text("PRAGMA page_count")).scalar()) * int(
                    conn.execute(text("PRAGMA page_size")).scalar()
                )
            conn.exec_driver_sql("VACUUM FULL")
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())

    empty = size()
    rows = [
        prediction_row("dev", i, ts, ts + 2.54, names, probs, a, "lstm@1:run#0123456789")
        for i, (ts, a) in enumerate(zip(t.tolist(), acts, strict=True))
    ]
    for k in range(0, len(rows), 5000):
        store.write(Batch(rows[k : k + 5000]))
    raw = size() - empty
    expire(store.engine, time.time() + 1)  # everything stored so far
    kept = size() - empty
    daily = len(json.dumps({"date": "2026-01-05", "metrics": "x" * 900}))  # one stored day is ~1 KB of JSON
    store.close()
    per_day = {"raw_windows_bytes": raw, "compacted_bytes": kept, "windows": len(rows)}
    return {
        **per_day,
        "per_person_year_raw_mb": round(raw * 365 / 2**20, 1),
        "per_person_year_compacted_mb": round((kept + daily) * 365 / 2**20, 2),
    }


def main(a) -> dict:
    tmp = None
    url = a.database_url
    if not url:
        tmp = tempfile.TemporaryDirectory(prefix="harflow-patterns-bench-")
        url = f"sqlite:///{tmp.name}/bench.db"
    try:
        if a.dry_run:
            out = bench(url, 60, 20, 30, a.with_inactivity, a.seed)
        else:
            out = bench(url, a.daily_person_days, a.detect_persons, a.days, a.with_inactivity, a.seed)
        out["storage_per_person_day"] = storage(url, a.seed)
        return out
    finally:
        if tmp:
            tmp.cleanup()
