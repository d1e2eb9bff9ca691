"""The store on SQLite (WAL) and on a real PostgreSQL: migrations, group-committed writes, timeline, events,
tokens."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import text

from harflow.serve.db.queries import Batch, Store, prediction_row
from harflow.serve.db.session import migrate
from harflow.serve.db.tables import metadata
from harflow.serve.db.writer import Writer


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sub' / 'h.db'}"
    url = request.getfixturevalue("pg_url")
    s = Store(url)  # each test starts from an empty schema
    with s.engine.begin() as c:
        metadata.drop_all(c)  # the whole schema, whatever the migrations have grown it to
        c.execute(text("DROP TABLE IF EXISTS alembic_version"))
    s.close()
    return url


def test_migrations_are_idempotent_and_create_the_schema(db_url):
    migrate(db_url)
    migrate(db_url)
    s = Store(db_url)
    with s.engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"
        for table in (
            "persons",
            "device_assignments",
            "segments",
            "daily_metrics",
            "alerts",
            "alert_deliveries",
        ):
            assert c.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        if db_url.startswith("sqlite"):
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert s.ping()
    s.close()


def test_group_commit_timeline_events_and_tokens(db_url):
    migrate(db_url)
    s = Store(db_url)
    labels = ["A", "B"]
    commits = []

    async def main():
        w = Writer(s, max_rows=1000, wait_s=0.05, on_commit=lambda n, dt: commits.append(n))
        w.start()
        batches = []
        for dev in ("d1", "d2"):
            for i in range(6):
                smoothed = "A" if i < 3 else "B"
                p = np.array([0.8, 0.2]) if smoothed == "A" else np.array([0.3, 0.7])
                b = Batch([prediction_row(dev, i, i * 1.28, i * 1.28 + 2.54, labels, p, smoothed, "v1")])
                if i == 3:
                    b.events.append(
                        {
                            "device_id": dev,
                            "type": "activity_changed",
                            "t": i * 1.28,
                            "from_activity": "A",
                            "to_activity": "B",
                            "probability": 0.7,
                            "model_version": "v1",
                        }
                    )
                batches.append(b)
        await asyncio.gather(*(w.write(b) for b in batches))
        await w.close()

    asyncio.run(main())
    assert sum(commits) == 14 and len(commits) < 12  # rows from many callers share transactions
    segs = s.timeline("d1")
    assert [(g["activity"], g["windows"]) for g in segs] == [("A", 3), ("B", 3)]
    assert segs[0]["t_start"] == 0.0 and segs[1]["t_end"] == pytest.approx(5 * 1.28 + 2.54)
    assert [g["activity"] for g in s.timeline("d1", 4.0, 5.0)] == ["A", "B"]
    ev = s.events("d2")
    assert len(ev) == 1 and ev[0]["to_activity"] == "B"
    assert s.events("d2", 0, 1) == []
    s.add_token("d1", "ab" * 32)
    assert s.token_device("ab" * 32) == "d1" and s.token_device("cd" * 32) is None
    s.close()


def test_retention_compacts_old_windows_into_segments_and_keeps_the_timeline(tmp_path):
    import time

    from harflow.serve.db.retention import expire, table_rows

    url = f"sqlite:///{tmp_path / 'r.db'}"
    migrate(url)
    store = Store(url)
    labels = ["A", "B"]
    rows = [
        prediction_row(
            "d",
            i,
            100 + 1.28 * i,
            102.54 + 1.28 * i,
            labels,
            np.array([0.9, 0.1]),
            "A" if i < 30 else "B",
            "v",
        )
        for i in range(60)
    ]
    store.write(Batch(rows[:40]))
    before = store.timeline("d")
    assert expire(store.engine, time.time() - 3600) == {
        "devices": 0,
        "windows": 0,
        "segments": 0,
    }  # too young
    res = expire(store.engine, time.time() + 1)  # device times (100 s) are not what ages a window
    assert res == {"devices": 1, "windows": 40, "segments": 2}
    assert store.timeline("d") == before
    assert table_rows(store.engine) == {"predictions": 0, "segments": 2}
    store.write(Batch(rows[40:]))  # newer windows join the kept segment they continue
    tl = store.timeline("d")
    assert [(s["activity"], s["windows"]) for s in tl] == [("A", 30), ("B", 30)]
    store.close()
