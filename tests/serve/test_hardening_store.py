"""Issue 18 rows 1, 5 and 6 at the store, on SQLite and a real PostgreSQL: migration 0003 keeps the first of
duplicated windows and events and makes them unique; writes store a window once and report the stored one;
token expiry, revocation and the cap."""

from __future__ import annotations

import time

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select, text

from harflow.serve.db.queries import Batch, Store, prediction_row
from harflow.serve.db.session import MIGRATIONS, migrate, normalize_url
from harflow.serve.db.tables import events, metadata, predictions
from harflow.serve.db.tokens import TokenLimit, Tokens, token_id


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'h.db'}"
    url = request.getfixturevalue("pg_url")
    s = Store(url)
    with s.engine.begin() as c:
        metadata.drop_all(c)
        c.execute(text("DROP TABLE IF EXISTS alembic_version"))
    s.close()
    return url


def _row(dev: str, t: float, p: float = 0.9) -> dict:
    return prediction_row(dev, 0, t, t + 2.54, ["a", "b"], np.array([p, 1 - p]), "a", "v1")


def test_migration_0003_dedupes_and_makes_windows_unique(db_url):
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(db_url).replace("%", "%%"))
    command.upgrade(cfg, "0002")
    s = Store(db_url)
    now = time.time()
    with s.engine.begin() as c:  # what resends stored before 0003: the same window three times
        c.execute(insert(predictions), [{**_row("d", 1.0, p), "created_at": now} for p in (0.9, 0.8, 0.7)])
        ev = {"device_id": "d", "type": "activity_changed", "t": 1.0, "from_activity": None}
        ev |= {"to_activity": "a", "probability": 0.9, "model_version": "v1", "created_at": now}
        c.execute(insert(events), [ev, ev])
    migrate(db_url)
    rows = s.prediction_rows("d")
    assert [r["probability"] for r in rows] == [0.9]  # the first one stays
    assert len(s.events("d")) == 1
    earlier = s.write(
        Batch([_row("d", 1.0, 0.6), _row("d", 3.0)], [{k: v for k, v in ev.items() if k != "created_at"}])
    )
    assert earlier[("d", 1.0)]["probability"] == 0.9  # the stored answer, not the new one
    assert [r["t_start"] for r in s.prediction_rows("d")] == [1.0, 3.0] and len(s.events("d")) == 1
    s.close()


def test_token_expiry_revocation_and_cap(db_url):
    migrate(db_url)
    s = Store(db_url)
    t = Tokens(s.engine)
    t.issue("dev", "a" * 64, 3600, cap=2)
    t.issue("dev", "b" * 64, 0.2, cap=2)
    with pytest.raises(TokenLimit):
        t.issue("dev", "c" * 64, 3600, cap=2)
    assert t.device_of("a" * 64) == "dev" and t.device_of("b" * 64) == "dev"
    time.sleep(0.3)
    assert t.device_of("b" * 64) is None  # expired: no longer counts against the cap either
    t.issue("dev", "c" * 64, 3600, cap=2)
    assert t.revoke("dev", token_id("a" * 64)) == 1 and t.device_of("a" * 64) is None
    assert t.revoke("dev", token_id("a" * 64)) == 0
    assert [x["active"] for x in t.list("dev")] == [False, False, True]
    with s.engine.connect() as c:
        assert c.execute(select(predictions)).all() == []
    s.close()
