"""What the pages read (current activity, today, daily values against the baseline band), on SQLite and
PostgreSQL, from a simulated person's imported history."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text

from harflow.serve.db.analytics import Analytics
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import Store
from harflow.serve.demo import populate
from harflow.serve.web_data import last_seen, today, trend


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'h.db'}"
        return
    u = request.getfixturevalue("pg_url")
    yield u
    s = Store(u)
    with s.engine.begin() as conn:
        names = [n for n in inspect(s.engine).get_table_names() if n != "alembic_version"]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names)))
    s.close()


def test_current_activity_today_and_the_baseline_band(url):
    now = dt.datetime(2026, 3, 31, 15, 0, tzinfo=dt.UTC).timestamp()
    res = populate(url, persons=1, days=35, user="carol", password="a long password", tz="UTC", now=now)
    pid = res["persons"][0]
    s = Store(url)
    try:
        persons, analytics = Persons(s.engine), Analytics(s.engine)
        person = persons.get(pid)
        seen = last_seen(persons, pid)
        assert seen is not None and now - 3600 < seen["t"] <= now  # the history runs up to "now"
        td = today(persons, person, now)
        assert td["day_start"] == dt.datetime(2026, 3, 31, tzinfo=dt.UTC).timestamp()
        assert td["segments"] and all(td["day_start"] <= x["t_start"] < now for x in td["segments"])
        recorded = sum(x["t_end"] - x["t_start"] for x in td["segments"]) / 60
        assert sum(td["minutes"].values()) == pytest.approx(recorded, abs=0.5)
        assert 8 * 60 < recorded <= 15 * 60  # 00:00-15:00, less the simulated person's unworn time
        tr = trend(analytics, person, 30, now)
        assert len(tr["dates"]) == 30 and tr["dates"][-1] == "2026-03-31"
        m = tr["metrics"]["active_min"]
        assert sum(v is not None for v in m["value"]) >= 20
        banded = [(lo, mid, hi) for lo, mid, hi in zip(m["low"], m["mid"], m["high"], strict=True) if mid]
        assert len(banded) >= 10 and all(lo <= mid <= hi for lo, mid, hi in banded)
    finally:
        s.close()
